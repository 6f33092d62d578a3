// Native sparse decode on NVIDIA: the shared kernel over the mma.sync tile (sm_80 and later).
//   16 heads: 4 warps, each scoring 16 of a block's 64 keys and accumulating 128 value
//             columns; small enough for two CTAs per SM (TP8 head counts are memory-bound).
//   64 heads: 8 warps, 4 row tiles x 2: each warp scores 16 of 32 keys for its 16 heads and
//             accumulates 256 value columns.
#include <atomic>

#include "attention/sparse_decode_launch.h"
#include "device/kernels.h"
#include "mma_tile_sm80.cuh"

namespace mla::gpu {
namespace {

struct Sm80DecodeShapes {
  static constexpr int kMaxRows = 64;
  static constexpr int64_t kMaxCtas = 2147483647;  // gridDim.x
  template <class Fmt>
  using Narrow = attn::DecodeCta<MmaTileSm80, Fmt, 1, 4, 2, 64, 1>;
  template <class Fmt>
  using Wide = attn::DecodeCta<MmaTileSm80, Fmt, 4, 2, 1, 32, 1>;
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
  return attn::launch_sparse_decode<Sm80DecodeShapes>(p, native_decode_target(), workspace,
                                                      stream);
}

}  // namespace mla::gpu
