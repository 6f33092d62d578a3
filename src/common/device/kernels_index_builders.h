// Entry points of the device kernels of the V4 prefill index builders, defined once per vendor
// by src/cuda/index_builders_cuda.cu and src/hip/index_builders_hip.hip. GPU builds only.
#pragma once

#include "../index_builders_problem.h"
#include "mla/mla_core.h"

namespace mla::gpu {

mla_status reference_build_swa_token_ids(const SwaTokenIdsProblem& p, mla_stream stream);
mla_status reference_combine_topk_swa_indices(const CombineIndicesProblem& p, mla_stream stream);

}  // namespace mla::gpu
