// Native cache store and gather for CUDA: the shared kernels with NVIDIA's fp8 conversions.
#include "device/kernels.h"
#include "device/kv_cache_native.h"
#include "fp8_hw_cuda.h"

namespace mla::gpu {

mla_status native_kv_store(const KvStoreProblem& p, mla_stream stream) {
  return launch_kv_store_native<CudaHw>(p, stream);
}

mla_status native_kv_gather(const KvGatherProblem& p, mla_stream stream) {
  return launch_kv_gather_native<CudaHw>(p, stream);
}

}  // namespace mla::gpu
