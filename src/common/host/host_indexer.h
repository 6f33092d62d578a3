// The host backend of the lightning indexer (SPEC 6): fp32 logits, exact top-k.
#pragma once

#include <cstddef>

#include "../indexer_problem.h"
#include "mla/mla_core.h"

namespace mla::host {

size_t indexer_logits_workspace(int threads);
mla_status indexer_logits(const IndexerLogitsProblem& p, void* ws, int threads);
mla_status indexer_paged_logits(const IndexerPagedLogitsProblem& p, void* ws, int threads);
mla_status indexer_topk(const IndexerTopkProblem& p, int threads);

}  // namespace mla::host
