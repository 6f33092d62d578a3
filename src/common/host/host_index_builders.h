// The host backend of the V4 prefill index builders (SPEC 5): exact integers over host memory.
#pragma once

#include "../index_builders_problem.h"
#include "mla/mla_core.h"

namespace mla::host {

mla_status build_swa_token_ids(const SwaTokenIdsProblem& p, int threads);
mla_status combine_topk_swa_indices(const CombineIndicesProblem& p, int threads);

}  // namespace mla::host
