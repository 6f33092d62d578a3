// Native sparse decode on CDNA (gfx90a, gfx942): the shared kernel over the MFMA tile. One
// CTA shape: 16 heads, 2 waves, each scoring 16 of a block's 32 keys and accumulating 256
// value columns (q of 16 heads, a block of 32 keys and P take 59 KiB of the 64 KiB of LDS).
// Compiled and its machine code checked in CI; no AMD GPU has run it.
#include "attention/sparse_decode_launch.h"
#include "device/kernels.h"
#include "mfma_tile_cdna.h"

namespace mla::gpu {
namespace {

struct CdnaDecodeShapes {
  static constexpr int kMaxRows = 16;
  template <class Fmt>
  using Narrow = attn::DecodeCta<MfmaTileCdna, Fmt, 1, 2, 1, 32, 1>;
  // HIP bounds gridDim.x * blockDim.x by 2^32 - 1.
  static constexpr int64_t kMaxCtas = 4294967295 / Narrow<attn::V32Keys>::kThreads;
};

}  // namespace

attn::DecodeTarget native_decode_target() {
  return {CdnaDecodeShapes::kMaxRows, CdnaDecodeShapes::kMaxCtas};
}

mla_status native_sparse_decode(const SparseDecodeProblem& p, void* workspace, mla_stream stream) {
  return attn::launch_sparse_decode<CdnaDecodeShapes>(p, native_decode_target(), workspace,
                                                       stream);
}

}  // namespace mla::gpu
