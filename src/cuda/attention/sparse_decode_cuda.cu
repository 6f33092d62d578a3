// Native sparse decode on NVIDIA: the shared kernel over the mma.sync tile (sm_80 and later).
//   16 heads (TP8 head counts, memory-bound): 8 warps; V3.2: 2 key groups x 4 dimension groups
//             over blocks of 32 keys, 128 registers, two CTAs per SM; V4.0: 4 x 2 over 64 keys.
//   64 heads: 4 row tiles of 16 heads; V3.2: 2 key groups (8 warps, each accumulating 256
//             value columns); V4.0: 2 key groups x 2 dimension groups (16 warps, 128 columns).
#include <atomic>

#include "attention/sparse_decode_launch.h"
#include "device/kernels.h"
#include "mma_tile_sm80.cuh"

namespace mla::gpu {
namespace {

// CTA shapes as (row tiles, key groups, dimension groups, keys per block, CTAs per SM), per
// cache format: measured on the H200 (bench/RESULTS.md, decode variants). V4.0 keys cost less
// to store (code values), so its CTAs take more keys or more warps. The macros let the
// variants be rebuilt without editing this file (bench/decode_variants.sh).
#ifndef MLA_SM80_DECODE_NARROW_V32
#define MLA_SM80_DECODE_NARROW_V32 1, 2, 4, 32, 2
#endif
#ifndef MLA_SM80_DECODE_NARROW_V40
#define MLA_SM80_DECODE_NARROW_V40 1, 4, 2, 64, 1
#endif
#ifndef MLA_SM80_DECODE_WIDE_V32
#define MLA_SM80_DECODE_WIDE_V32 4, 2, 1, 32, 1
#endif
#ifndef MLA_SM80_DECODE_WIDE_V40
#define MLA_SM80_DECODE_WIDE_V40 4, 2, 2, 32, 1
#endif

template <class Fmt>
struct Sm80Shapes;
template <>
struct Sm80Shapes<attn::V32Keys> {
  using Narrow = attn::DecodeCta<MmaTileSm80, attn::V32Keys, MLA_SM80_DECODE_NARROW_V32>;
  using Wide = attn::DecodeCta<MmaTileSm80, attn::V32Keys, MLA_SM80_DECODE_WIDE_V32>;
};
template <>
struct Sm80Shapes<attn::V40Keys> {
  using Narrow = attn::DecodeCta<MmaTileSm80, attn::V40Keys, MLA_SM80_DECODE_NARROW_V40>;
  using Wide = attn::DecodeCta<MmaTileSm80, attn::V40Keys, MLA_SM80_DECODE_WIDE_V40>;
};

struct Sm80DecodeShapes {
  static constexpr int kMaxRows = 64;
  static constexpr int64_t kMaxCtas = 2147483647;  // gridDim.x
  template <class Fmt>
  using Narrow = typename Sm80Shapes<Fmt>::Narrow;
  template <class Fmt>
  using Wide = typename Sm80Shapes<Fmt>::Wide;
};

}  // namespace

// The widest CTA whose shared memory the current device grants (sm_86 and sm_89 grant less
// than the H100/H200 and A100); 0 rows: none, the dispatcher then takes the reference.
attn::DecodeTarget native_decode_target() {
  using S = Sm80DecodeShapes;
  static std::atomic<int> rows_of[64];  // per device ordinal: rows + 1, 0 = not asked yet
  int dev = 0, rows = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return {0, S::kMaxCtas};
  if (dev < 64 && rows_of[dev].load(std::memory_order_relaxed) > 0)
    return {rows_of[dev].load(std::memory_order_relaxed) - 1, S::kMaxCtas};
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return {0, S::kMaxCtas};
  }
  auto fits = [&](size_t a, size_t b) { return a <= size_t(optin) && b <= size_t(optin); };
  if (fits(S::Wide<attn::V32Keys>::kSmemBytes, S::Wide<attn::V40Keys>::kSmemBytes))
    rows = 64;
  else if (fits(S::Narrow<attn::V32Keys>::kSmemBytes, S::Narrow<attn::V40Keys>::kSmemBytes))
    rows = 16;
  if (dev < 64) rows_of[dev].store(rows + 1, std::memory_order_relaxed);
  return {rows, S::kMaxCtas};
}

mla_status native_sparse_decode(const SparseDecodeProblem& p, void* workspace, mla_stream stream) {
  return attn::launch_sparse_decode<Sm80DecodeShapes>(p, native_decode_target(), workspace, stream);
}

}  // namespace mla::gpu
