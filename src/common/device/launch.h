// Launch helpers shared by the kernel sources of both vendors.
#pragma once

#include "../error.h"
#include "../gpu_runtime.h"
#include "gpu_vendor.h"

namespace mla::gpu {

// Blocks for a grid-stride loop over n items: enough to fill any current GPU, never more than
// the items need.
inline unsigned grid_for(int64_t n, int threads) {
  const int64_t blocks = ceil_div(n, threads);
  return unsigned(blocks < 65536 ? (blocks < 1 ? 1 : blocks) : 65536);
}

MLA_DEVICE MLA_FORCEINLINE int64_t global_thread() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
MLA_DEVICE MLA_FORCEINLINE int64_t global_threads() { return int64_t(gridDim.x) * blockDim.x; }

}  // namespace mla::gpu
