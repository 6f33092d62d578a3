// Two floats to a pair of bf16 (lo in the low half), rounding to nearest even. NVIDIA has one
// instruction for it (cvt.rn.bf16x2.f32, sm_80+); CDNA3 has none, so HIP takes the exact bit
// arithmetic of bf16.h. Results agree bit for bit except in the payload of NaNs.
#pragma once

#include "../bf16.h"

#if defined(MLA_GPU_CUDA)
#include <cuda_bf16.h>
#endif

namespace mla::gpu {

MLA_DEVICE MLA_FORCEINLINE uint32_t pack_bf16x2(float lo, float hi) {
#if defined(MLA_GPU_CUDA) && defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  uint32_t u;
  __builtin_memcpy(&u, &v, 4);
  return u;
#else
  return uint32_t(float_to_bf16(lo)) | (uint32_t(float_to_bf16(hi)) << 16);
#endif
}

}  // namespace mla::gpu
