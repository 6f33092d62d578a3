// fp8 and bf16 conversions in NVIDIA hardware: sm_89+ converts float pairs to e4m3fn with
// round-to-nearest-even and saturation (cvt.rn.satfinite.e4m3x2.f32); every CUDA target has
// cvt.rn.bf16x2.f32. e4m3fnuz has no hardware path: its codes are the e4m3fn codes of twice
// the value, with e4m3fn's -0 and NaN codes mapped to fnuz's 0 and 0x80.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
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

  // attention/key_codes.h: code k (0..3) of w as an fp32 of value x 2^(bias - 127): the byte
  // above a byte of copies of its sign, shifted so that the sign lands at bit 31 and exponent
  // and mantissa at bits 20..26.
  static __device__ __forceinline__ float code_float(uint32_t w, int k) {
    const uint32_t sel = 0x0044u | (uint32_t(k) << 8) | (uint32_t(8 + k) << 12);
    return __uint_as_float((sign_permute(w, sel) << 4) & 0x87F00000u);
  }

  // Four e4m3fn codes of w times a scale, as two bf16 pairs (codes 0, 1 into *lo, 2, 3 into
  // *hi): bf16(fp32(code value) x scale), the SPEC's rounding, bit for bit for every code that is
  // not NaN (NaN codes give a NaN). sm_89+ converts code pairs to f16 pairs exactly (cvt.rn.
  // f16x2.e4m3x2: 3 instructions a code with the f32 product and the bf16 pack, against 5 and a
  // NaN test for the integer path); kE4m3fnPairs says whether this target has it.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
  static constexpr bool kE4m3fnPairs = true;
#else
  static constexpr bool kE4m3fnPairs = false;
#endif
  static __device__ __forceinline__ void e4m3fn_scaled4(uint32_t w, float s, uint32_t* lo,
                                                        uint32_t* hi) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    uint32_t h01, h23;  // f16 pairs: the low half from the lower byte
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(h01) : "h"(uint16_t(w)));
    asm("cvt.rn.f16x2.e4m3x2 %0, %1;" : "=r"(h23) : "h"(uint16_t(w >> 16)));
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&h01));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&h23));
    *lo = pack_bf16x2(a.x * s, a.y * s);
    *hi = pack_bf16x2(b.x * s, b.y * s);
#else
    (void)w, (void)s, (void)lo, (void)hi;
    __trap();  // callers test kE4m3fnPairs
#endif
  }

  // attention/key_codes.h: four fp8 codes as bf16 code values. One byte permute per pair puts
  // each code in a 16-bit lane above a byte of copies of its sign bit; a shift and a mask then
  // leave the sign at bit 15 and exponent and mantissa at bits 4..10.
  static __device__ __forceinline__ void code_values4(uint32_t w, uint32_t* lo, uint32_t* hi) {
    *lo = (sign_permute(w, 0x9180u) << 4) & 0x87F087F0u;  // [b0, sign b0, b1, sign b1]
    *hi = (sign_permute(w, 0xB3A2u) << 4) & 0x87F087F0u;  // [b2, sign b2, b3, sign b3]
  }

  // Byte i of a and byte i of b as the bf16 code values of one pair (a's in the low half): the
  // B operand of P V pairs two keys' codes of one value column (fragment_decode_kernel.h).
  // One permute reads both words and replicates each byte's sign bit above it.
  template <int i>
  static __device__ __forceinline__ uint32_t code_value_pair(uint32_t a, uint32_t b) {
    constexpr uint32_t kSel =
        uint32_t(i) | uint32_t(8 | i) << 4 | uint32_t(4 + i) << 8 | uint32_t(8 | (4 + i)) << 12;
    uint32_t r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(a), "r"(b), "r"(kSel));
    return (r << 4) & 0x87F087F0u;
  }

 private:
  // prmt in its generic form: a selector nibble with its msb set replicates the sign bit of the
  // byte it selects (PTX ISA, prmt). Written in PTX because __byte_perm documents 3-bit nibbles.
  static __device__ __forceinline__ uint32_t sign_permute(uint32_t w, uint32_t selector) {
    uint32_t r;
    asm("prmt.b32 %0, %1, %2, %3;" : "=r"(r) : "r"(w), "r"(0u), "r"(selector));
    return r;
  }
  static __device__ __forceinline__ uint32_t fnuz_from_fn(uint8_t c) {
    if (c == 0x80) return 0x00;           // no negative zero in fnuz
    if ((c & 0x7F) == 0x7F) return 0x80;  // NaN
    return c;
  }
};

}  // namespace mla::gpu
