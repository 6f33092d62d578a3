// From the C argument structs of the small fused ops to validated problems. Each returns a
// status naming the bad argument.
#pragma once

#include "fused_problem.h"
#include "mla/mla.h"

namespace mla {

mla_status validate(const mla_concat_mla_k_args* a, ConcatProblem* p);
mla_status validate(const mla_concat_mla_absorb_q_args* a, ConcatProblem* p);
mla_status validate(const mla_merge_state_args* a, MergeStateProblem* p);
mla_status validate(const mla_norm_rope_args* a, NormRopeProblem* p);

}  // namespace mla
