// fp8 and bf16 conversions on AMD: gfx942 converts float pairs to e4m3fnuz in hardware
// (v_cvt_pk_fp8_f32, round to nearest even); e4m3fn codes are the fnuz codes of half the
// value, with fnuz's +0 and NaN mapped to fn's -0 (for negative inputs) and 0x7F. gfx90a has
// no fp8 unit and CDNA3 no bf16 convert: the exact software codecs of src/common serve there.
#pragma once

#include "attention/key_codes.h"
#include "device/bf16_pack.h"
#include "device/fp8_swar.h"
#include "fp8_e4m3.h"

namespace mla::gpu {

struct HipHw {
  static __device__ __forceinline__ uint16_t encode_fp8x2(float lo, float hi, Fp8 f) {
#if defined(__gfx942__)
    if (f == Fp8::E4M3FNUZ) return uint16_t(__builtin_amdgcn_cvt_pk_fp8_f32(lo, hi, 0, false));
    const uint32_t c = uint32_t(__builtin_amdgcn_cvt_pk_fp8_f32(0.5f * lo, 0.5f * hi, 0, false));
    return uint16_t(fn_from_fnuz(uint8_t(c), lo) | (fn_from_fnuz(uint8_t(c >> 8), hi) << 8));
#else
    return uint16_t(float_to_fp8(lo, f) | (float_to_fp8(hi, f) << 8));
#endif
  }

  static __device__ __forceinline__ uint32_t pack_bf16x2(float lo, float hi) {
    return gpu::pack_bf16x2(lo, hi);
  }

  // No e4m3fn pair conversion here (fp8_hw_cuda.h's e4m3fn_scaled4): the integer path decodes.
  static constexpr bool kE4m3fnPairs = false;

  // attention/key_codes.h: code k of w as an fp32 of value x 2^(bias - 127).
  static __device__ __forceinline__ float code_float(uint32_t w, int k) {
    return fp8_code_rebiased(w, k);
  }

  // attention/key_codes.h: four fp8 codes as bf16 code values (HIP's __byte_perm has no sign
  // replication, so the portable bit moves).
  static __device__ __forceinline__ void code_values4(uint32_t w, uint32_t* lo, uint32_t* hi) {
    attn::code_values4_portable(w, lo, hi);
  }

 private:
  static __device__ __forceinline__ uint32_t fn_from_fnuz(uint8_t c, float x) {
    if (c == 0x80) return 0x7F;                // NaN
    if (c == 0x00 && signbit(x)) return 0x80;  // fn keeps the sign of zero
    return c;
  }
};

}  // namespace mla::gpu
