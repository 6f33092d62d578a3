// The host backend of the small fused ops (SPEC 7): fp32 math over host memory.
#pragma once

#include "../fused_problem.h"
#include "mla/mla_core.h"

namespace mla::host {

mla_status concat(const ConcatProblem& p, int threads);
mla_status merge_state(const MergeStateProblem& p, int threads);
mla_status norm_rope(const NormRopeProblem& p, int threads);

}  // namespace mla::host
