// From the indexer's C argument structs to validated problems (SPEC 6). Each returns a status
// naming the bad argument.
#pragma once

#include "indexer_problem.h"
#include "mla/mla.h"

namespace mla {

mla_status validate(const mla_indexer_logits_args* a, IndexerLogitsProblem* p);
mla_status validate(const mla_indexer_paged_logits_args* a, IndexerPagedLogitsProblem* p);
mla_status validate(const mla_indexer_topk_args* a, IndexerTopkProblem* p);

}  // namespace mla
