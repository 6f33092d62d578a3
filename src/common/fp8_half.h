// FP8 e4m3fn / e4m3fnuz codes as IEEE half bits, for kernels that multiply decoded codes in half
// precision. Every finite code of both flavours is a half value, so nothing is rounded.
//
// The fast form is "rebiased": the code's exponent and mantissa bits moved into the half's, so
// the half's value is the code's value times 2^(bias - 15), subnormal codes included; a product
// of two rebiased halves is the true product times 2^(2 * (bias - 15)), which one exact fp32
// multiply by rebias_product_factor() undoes. NaN codes have no rebiased form: they become the
// half NaN.
#pragma once

#include "fp8_e4m3.h"

namespace mla {

// The rebiased half of one code (NaN codes: the half NaN).
MLA_HD MLA_FORCEINLINE uint16_t fp8_to_rebiased_half(uint8_t b, Fp8 f) {
  if (fp8_is_nan(b, f)) return 0x7e00u;
  return uint16_t(((b & 0x7Fu) << 7) | ((b & 0x80u) << 8));
}

// True if any of the four codes packed in w is a NaN code of flavour f.
MLA_HD MLA_FORCEINLINE bool fp8x4_has_nan(uint32_t w, Fp8 f) {
  if (f == Fp8::E4M3FN) return (((w & 0x7F7F7F7Fu) + 0x01010101u) & 0x80808080u) != 0;
  const uint32_t t = w ^ 0x80808080u;  // a 0x80 byte becomes zero
  return ((t - 0x01010101u) & ~t & 0x80808080u) != 0;
}

// Codes 0, 1 of w into the low and high half of *lo, codes 2, 3 into *hi: rebiased halves.
MLA_HD MLA_FORCEINLINE void fp8x4_to_rebiased_halves(uint32_t w, Fp8 f, uint32_t* lo,
                                                     uint32_t* hi) {
  if (fp8x4_has_nan(w, f)) {
    *lo = fp8_to_rebiased_half(uint8_t(w), f) |
          (uint32_t(fp8_to_rebiased_half(uint8_t(w >> 8), f)) << 16);
    *hi = fp8_to_rebiased_half(uint8_t(w >> 16), f) |
          (uint32_t(fp8_to_rebiased_half(uint8_t(w >> 24), f)) << 16);
    return;
  }
  // Spread bytes 0, 1 (and 2, 3) to 16-bit lanes, then move magnitude and sign into place.
  const uint32_t a = (w & 0xFFu) | ((w & 0xFF00u) << 8);
  const uint32_t b = ((w >> 16) & 0xFFu) | ((w >> 8) & 0xFF0000u);
  *lo = ((a & 0x007F007Fu) << 7) | ((a & 0x00800080u) << 8);
  *hi = ((b & 0x007F007Fu) << 7) | ((b & 0x00800080u) << 8);
}

// 2^(2 * (15 - bias)): turns a sum of products of rebiased halves into the true sum, exactly.
MLA_HD constexpr float rebias_product_factor(Fp8 f) {
  return f == Fp8::E4M3FN ? 65536.0f : 16384.0f;
}

}  // namespace mla
