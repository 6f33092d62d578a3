// Entry points of the device kernels of the small fused ops, defined once per vendor by the
// translation units concat_*, merge_state_* and norm_rope_* of src/cuda and src/hip. GPU
// builds only.
#pragma once

#include "../fused_problem.h"
#include "mla/mla_core.h"

namespace mla::gpu {

mla_status reference_concat(const ConcatProblem& p, mla_stream stream);
mla_status reference_merge_state(const MergeStateProblem& p, mla_stream stream);
mla_status reference_norm_rope(const NormRopeProblem& p, mla_stream stream);

}  // namespace mla::gpu
