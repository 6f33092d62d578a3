// Decoding four fp8 codes held in one 32-bit word with a few integer operations per code.
// Each code's bits are moved into a bf16/fp32 bit pattern whose value is the code's value
// times 2^(bias - 127); one fp32 multiply by (scale * 2^(127 - bias)) then yields exactly
// fp32(code value * scale), subnormal codes included. NaN codes are not decoded as NaN, so
// callers test for them first (has_nan_code) and take the exact per-element path.
#pragma once

#include "../bits.h"
#include "../fp8_e4m3.h"

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

// True if any of the four codes in w is a NaN code of flavour f.
MLA_DEVICE MLA_FORCEINLINE bool has_nan_code(uint32_t w, Fp8 f) {
  if (f == Fp8::E4M3FN) return (((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u) != 0;
  const uint32_t t = w ^ 0x80808080u;  // a 0x80 byte becomes zero
  return ((t - 0x01010101u) & ~t & 0x80808080u) != 0;
}

}  // namespace mla::gpu
