// Native sparse decode on CDNA: the shared kernel over the MFMA tile, in the shape of
// attention_shapes_cdna.h. Compiled and its machine code checked in CI; no AMD GPU has run it.
#include "attention_shapes_cdna.h"
#include "device/kernels.h"

namespace mla::gpu {

attn::DecodeTarget native_decode_target() {
  return {cdna::AttentionShapes::kMaxRows, cdna::AttentionShapes::kMaxCtas};
}

mla_status native_sparse_decode(const SparseDecodeProblem& p, void* workspace, mla_stream stream) {
  return attn::launch_sparse_decode<cdna::AttentionShapes>(p, native_decode_target(), workspace,
                                                           stream);
}

}  // namespace mla::gpu
