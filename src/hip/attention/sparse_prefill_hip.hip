// Native sparse prefill on CDNA, bf16 rows and the paged FP8 cache: the shared decode kernel
// with one query position per row (sparse_prefill_launch.h), in the shape of
// attention_shapes_cdna.h. Compiled and its machine code checked in CI; no AMD GPU has run it.
#include "attention_shapes_cdna.h"
#include "device/kernels.h"

namespace mla::gpu {

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
