// Decoding fp8 codes held in 32-bit words with a few integer operations per code. Each code's
// bits are moved into an fp32 bit pattern whose value is the code's value times
// 2^(bias - 127); one fp32 multiply by (scale * 2^(127 - bias)) then yields exactly
// fp32(code value * scale), subnormal codes included. NaN codes are not decoded as NaN, so
// callers test for them first (fp8x4_has_nan) and take the exact per-element path.
#pragma once

#include "../bf16.h"
#include "../bits.h"
#include "../fp8_e4m3.h"
#include "../fp8_half.h"

namespace mla::gpu {

// Code k (0..3) of w, as code value * 2^(bias - 127).
MLA_DEVICE MLA_FORCEINLINE float fp8_code_rebiased(uint32_t w, int k) {
  const uint32_t b = (w >> (8 * k)) & 0xFFu;
  return float_of(((b & 0x7Fu) << 20) | ((b & 0x80u) << 24));
}

// The multiplier that turns fp8_code_rebiased() into code value * scale: scale * 2^(127 -
// bias). Finite unless scale >= 2^8 (fn) or 2^9 (fnuz); callers then use the exact path.
MLA_DEVICE MLA_FORCEINLINE float fp8_rebias_scale(float scale, Fp8 f) {
  return scale * float_of(uint32_t(127 + 127 - fp8_bias(f)) << 23);
}

// 8 codes (two words) times a scale by the reference codec, one code at a time: the rare path
// of decode16, a function of its own so that it is not inlined into every unrolled caller.
__device__ __noinline__ inline uint4 decode8_exact(uint32_t w0, uint32_t w1, float scale, Fp8 f) {
  const uint32_t w[2] = {w0, w1};
  uint32_t o[4];
  for (int i = 0; i < 4; ++i) {
    const uint32_t wi = w[i / 2] >> (16 * (i % 2));
    o[i] = uint32_t(float_to_bf16(fp8_to_float(uint8_t(wi), f) * scale)) |
           (uint32_t(float_to_bf16(fp8_to_float(uint8_t(wi >> 8), f) * scale)) << 16);
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

// Sixteen codes times a scale into sixteen bf16 values (two 16-byte words), bit for bit the
// SPEC's bf16(value * scale): Hw::code_float(w, k) is code k of w as fp32(value x 2^(bias -
// 127)) (fp8_code_rebiased, or a vendor's shorter form). NaN codes, and scales too large to
// rebias, take the exact path.
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void decode16(uint4 codes, float scale, Fp8 f, uint4 (&out)[2]) {
  const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
  const float s = fp8_rebias_scale(scale, f);
  if (!(fabsf(s) < float_of(0x7f800000u)) || fp8x4_has_nan(w[0], f) || fp8x4_has_nan(w[1], f) ||
      fp8x4_has_nan(w[2], f) || fp8x4_has_nan(w[3], f)) {
    out[0] = decode8_exact(codes.x, codes.y, scale, f);
    out[1] = decode8_exact(codes.z, codes.w, scale, f);
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

// decode16 where a NaN code may give a NaN of any payload (the attention kernels: a NaN key
// makes NaN scores whatever its bits), so that e4m3fn codes take the vendor's conversion where
// it has one (Hw::kE4m3fnPairs): the same bits as decode16 for every other code.
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void decode16_any_nan(uint4 codes, float scale, Fp8 f, uint4 (&out)[2]) {
  if constexpr (Hw::kE4m3fnPairs) {
    if (f == Fp8::E4M3FN) {
      const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
      uint32_t o[8];
#pragma unroll
      for (int i = 0; i < 4; ++i) Hw::e4m3fn_scaled4(w[i], scale, &o[2 * i], &o[2 * i + 1]);
      out[0] = make_uint4(o[0], o[1], o[2], o[3]);
      out[1] = make_uint4(o[4], o[5], o[6], o[7]);
      return;
    }
  }
  decode16<Hw>(codes, scale, f, out);
}

}  // namespace mla::gpu
