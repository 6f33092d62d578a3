// Native cache store and gather for HIP: the shared kernels with AMD's fp8 conversions.
#include "device/kernels.h"
#include "device/kv_cache_native.h"
#include "fp8_hw_hip.h"

namespace mla::gpu {

mla_status native_kv_store(const KvStoreProblem& p, mla_stream stream) {
  return launch_kv_store_native<HipHw>(p, stream);
}

mla_status native_kv_gather(const KvGatherProblem& p, mla_stream stream) {
  return launch_kv_gather_native<HipHw>(p, stream);
}

}  // namespace mla::gpu
