// Entry points of the device kernels, defined once per vendor by the translation units in
// src/cuda and src/hip that instantiate the shared templates of src/common/device.
// Only GPU builds (MLA_WITH_GPU) define them.
#pragma once

#include "../attention/decode_plan.h"
#include "../attention_problem.h"
#include "../kv_cache_problem.h"
#include "mla/mla_core.h"

namespace mla::gpu {

// Device reference: simple kernels for any shape.
mla_status reference_sparse_decode(const SparseDecodeProblem& p, mla_stream stream);
mla_status reference_sparse_prefill(const SparsePrefillProblem& p, mla_stream stream);
mla_status reference_sparse_prefill_paged(const SparsePrefillPagedProblem& p, mla_stream stream);
mla_status reference_kv_store(const KvStoreProblem& p, mla_stream stream);
mla_status reference_kv_gather(const KvGatherProblem& p, mla_stream stream);

// Native: vendor-tuned kernels; the dispatcher calls them where native_covers() holds.
// The decode's plan (attention/decode_plan.h) takes the vendor's CTA limits.
attn::DecodeTarget native_decode_target();
mla_status native_sparse_decode(const SparseDecodeProblem& p, void* workspace, mla_stream stream);
// Native sparse prefill, bf16 rows and paged FP8 cache alike: one CTA per query token and 16
// or 64 heads, never split (a row's result never depends on other rows); false where the
// device takes no native CTA or the grid would not fit.
bool native_prefill_covers(int64_t s_q, int64_t h_q);
mla_status native_sparse_prefill(const SparsePrefillProblem& p, mla_stream stream);
mla_status native_sparse_prefill_paged(const SparsePrefillPagedProblem& p, mla_stream stream);
mla_status native_kv_store(const KvStoreProblem& p, mla_stream stream);
mla_status native_kv_gather(const KvGatherProblem& p, mla_stream stream);

}  // namespace mla::gpu
