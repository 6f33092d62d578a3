// From C argument structs to validated problems. Each returns a status naming the bad argument.
#pragma once

#include "attention_problem.h"
#include "kv_cache_problem.h"
#include "mla/mla.h"

namespace mla {

mla_status validate(const mla_sparse_decode_args* a, SparseDecodeProblem* p);
mla_status validate(const mla_sparse_prefill_args* a, SparsePrefillProblem* p);
mla_status validate(const mla_sparse_prefill_paged_args* a, SparsePrefillPagedProblem* p);
mla_status validate(const mla_kv_store_args* a, KvStoreProblem* p);
mla_status validate(const mla_kv_gather_args* a, KvGatherProblem* p);

}  // namespace mla
