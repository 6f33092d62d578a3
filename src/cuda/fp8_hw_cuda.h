// fp8 and bf16 conversions in NVIDIA hardware: sm_89+ converts float pairs to e4m3fn with
// round-to-nearest-even and saturation (cvt.rn.satfinite.e4m3x2.f32); every CUDA target has
// cvt.rn.bf16x2.f32. e4m3fnuz has no hardware path: its codes are the e4m3fn codes of twice
// the value, with e4m3fn's -0 and NaN codes mapped to fnuz's 0 and 0x80.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "device/bf16_pack.h"
#include "fp8_e4m3.h"

namespace mla::gpu {

struct CudaHw {
  static __device__ __forceinline__ uint16_t encode_fp8x2(float lo, float hi, Fp8 f) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    if (f == Fp8::E4M3FN)
      return __nv_cvt_float2_to_fp8x2(make_float2(lo, hi), __NV_SATFINITE, __NV_E4M3);
    const uint16_t c =
        __nv_cvt_float2_to_fp8x2(make_float2(2.0f * lo, 2.0f * hi), __NV_SATFINITE, __NV_E4M3);
    return uint16_t(fnuz_from_fn(uint8_t(c)) | (fnuz_from_fn(uint8_t(c >> 8)) << 8));
#else
    return uint16_t(float_to_fp8(lo, f) | (float_to_fp8(hi, f) << 8));
#endif
  }

  static __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return gpu::pack_bf16x2(lo, hi);
  }

 private:
  static __device__ __forceinline__ uint32_t fnuz_from_fn(uint8_t c) {
    if (c == 0x80) return 0x00;                // no negative zero in fnuz
    if ((c & 0x7F) == 0x7F) return 0x80;       // NaN
    return c;
  }
};

}  // namespace mla::gpu
