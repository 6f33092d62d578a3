// Native sparse decode and prefill on CDNA: the shared kernels over the MFMA tile, in the shape
// of attention_shapes_cdna.h. One translation unit, as on CUDA (sparse_attention_cuda.cu):
// decode and prefill share CTA types, and each kernel should exist once. Compiled and its
// machine code checked in CI; no AMD GPU has run it.
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

// ---- prefill: one query position per row (sparse_prefill_launch.h) ----
bool native_prefill_covers(int64_t s_q, int64_t h_q) {
  return attn::plan_sparse_prefill(s_q, h_q, 1, native_decode_target()).fits;
}

mla_status native_sparse_prefill(const SparsePrefillProblem& p, mla_stream stream) {
  return attn::launch_sparse_prefill<cdna::AttentionShapes>(p, native_decode_target(), stream);
}

mla_status native_sparse_prefill_paged(const SparsePrefillPagedProblem& p, mla_stream stream) {
  return attn::launch_sparse_prefill_paged<cdna::AttentionShapes>(p, native_decode_target(),
                                                                  stream);
}

}  // namespace mla::gpu
