// The host (CPU) backend: exactly SPEC.md with fp32 accumulation, over host memory.
#pragma once

#include <cstddef>

#include "../attention_problem.h"
#include "../kv_cache_problem.h"
#include "mla/mla_core.h"

namespace mla::host {

size_t sparse_attention_workspace(int threads);
mla_status sparse_decode(const SparseDecodeProblem& p, void* ws, int threads);
mla_status sparse_prefill(const SparsePrefillProblem& p, void* ws, int threads);
// Scratch: sparse_attention_workspace(threads), as the other two.
mla_status sparse_prefill_paged(const SparsePrefillPagedProblem& p, void* ws, int threads);
mla_status kv_store(const KvStoreProblem& p, int threads);
mla_status kv_gather(const KvGatherProblem& p, int threads);

}  // namespace mla::host
