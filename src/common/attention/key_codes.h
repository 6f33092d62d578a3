// fp8 codes as bf16 "code values" with a few integer operations: a code's sign, exponent and
// mantissa bits are moved into a bf16's, so that the bf16's value is exactly the code's value
// times 2^(bias - 127) (2^-120 for e4m3fn, 2^-119 for e4m3fnuz), subnormal codes included
// (they land on bf16 subnormals). The kernels multiply these exact values on the matrix cores
// and apply the scale and the power of two to the products, in fp32.
//
// NaN codes have no such value: a chunk holding one takes the exact path, which gives the bf16
// NaN there (the value the SPEC's dequantization gives, a NaN).
#pragma once

#include "../bf16.h"
#include "../fp8_e4m3.h"
#include "../port.h"

namespace mla::attn {

// Bytes 0 and 1 of w into the low and high bf16 of *lo, bytes 2 and 3 into *hi: bf16 bits
// (b & 0x80) << 8 | (b & 0x7F) << 4 for each byte b. The portable form; a vendor's Hw may
// provide a shorter one (its code_values4).
MLA_HD MLA_FORCEINLINE void code_values4_portable(uint32_t w, uint32_t* lo, uint32_t* hi) {
  const uint32_t a = (w & 0xFFu) | ((w & 0xFF00u) << 8);          // [b0, 0, b1, 0]
  const uint32_t b = ((w >> 16) & 0xFFu) | ((w >> 8) & 0xFF0000u);  // [b2, 0, b3, 0]
  *lo = ((a & 0x007F007Fu) << 4) | ((a & 0x00800080u) << 8);
  *hi = ((b & 0x007F007Fu) << 4) | ((b & 0x00800080u) << 8);
}

// log2 of the factor that turns a code value back into the code's value: 120 or 119.
MLA_HD constexpr int code_value_shift(Fp8 f) { return 127 - fp8_bias(f); }

// True if any byte of w is a NaN code of flavour f.
MLA_HD MLA_FORCEINLINE bool nan_code_in(uint32_t w, Fp8 f) {
  if (f == Fp8::E4M3FN) return (((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u) != 0;
  const uint32_t t = w ^ 0x80808080u;  // a 0x80 byte becomes zero
  return ((t - 0x01010101u) & ~t & 0x80808080u) != 0;
}

#if defined(MLA_GPU_COMPILER)
// The rare paths are functions of their own, called, not inlined: inlined into every chunk of
// every unrolled loop they made the kernels several times larger than the instruction caches.

// Patches the NaN codes of 16 codes into their bf16 code values (NaN codes -> the bf16 NaN).
__device__ __noinline__ inline uint4 patch_nan_codes(uint4 codes, uint4 values, Fp8 f, bool high) {
  const uint32_t w[2] = {high ? codes.z : codes.x, high ? codes.w : codes.y};
  uint32_t o[4] = {values.x, values.y, values.z, values.w};
  for (int i = 0; i < 8; ++i) {
    if (fp8_is_nan(uint8_t(w[i / 4] >> (8 * (i % 4))), f)) {
      const int shift = 16 * (i % 2);
      o[i / 2] = (o[i / 2] & ~(0xFFFFu << shift)) | (0x7FC0u << shift);
    }
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

// 16 codes as 16 bf16 code values (two 16-byte words); NaN codes as the bf16 NaN.
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void code_values16(uint4 codes, Fp8 f, uint4 (&out)[2]) {
  const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
  uint32_t o[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) Hw::code_values4(w[i], &o[2 * i], &o[2 * i + 1]);
  out[0] = make_uint4(o[0], o[1], o[2], o[3]);
  out[1] = make_uint4(o[4], o[5], o[6], o[7]);
  if (nan_code_in(w[0], f) || nan_code_in(w[1], f) ||
      nan_code_in(w[2], f) || nan_code_in(w[3], f)) {
    out[0] = patch_nan_codes(codes, out[0], f, false);
    out[1] = patch_nan_codes(codes, out[1], f, true);
  }
}
#endif

// 8 codes (two words) times a scale by the reference codec, one code at a time.
__device__ __noinline__ inline uint4 scaled_values8_exact(uint32_t w0, uint32_t w1, float scale,
                                                          Fp8 f) {
  const uint32_t w[2] = {w0, w1};
  uint32_t o[4];
  for (int i = 0; i < 4; ++i) {
    const uint32_t wi = w[i / 2] >> (16 * (i % 2));
    o[i] = uint32_t(float_to_bf16(fp8_to_float(uint8_t(wi), f) * scale)) |
           (uint32_t(float_to_bf16(fp8_to_float(uint8_t(wi >> 8), f) * scale)) << 16);
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

// 16 codes times an fp32 scale as 16 bf16, bf16(value x scale) rounded once, bit for bit the
// SPEC's dequantization: each code's bits are moved into an fp32 (value x 2^(bias - 127),
// Hw::code_float, exact) and one multiply by scale x 2^(127 - bias) (exact) gives the product
// rounded to fp32, as value x scale is. NaN codes, and scales too large for that factor, take
// the element-by-element path of the reference codec.
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void scaled_values16(uint4 codes, float scale, Fp8 f, uint4 (&out)[2]) {
  const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
  const float s = scale * float_of(uint32_t(127 + code_value_shift(f)) << 23);
  const bool fast = fabsf(s) < float_of(0x7f800000u) && !nan_code_in(w[0], f) &&
                    !nan_code_in(w[1], f) && !nan_code_in(w[2], f) && !nan_code_in(w[3], f);
  if (!fast) {
    out[0] = scaled_values8_exact(codes.x, codes.y, scale, f);
    out[1] = scaled_values8_exact(codes.z, codes.w, scale, f);
    return;
  }
  uint32_t o[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    o[2 * i] = Hw::pack_bf16x2(Hw::code_float(w[i], 0) * s, Hw::code_float(w[i], 1) * s);
    o[2 * i + 1] = Hw::pack_bf16x2(Hw::code_float(w[i], 2) * s, Hw::code_float(w[i], 3) * s);
  }
  out[0] = make_uint4(o[0], o[1], o[2], o[3]);
  out[1] = make_uint4(o[4], o[5], o[6], o[7]);
}


}  // namespace mla::attn
