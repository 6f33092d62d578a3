// FP8 e4m3fn (OCP) and e4m3fnuz (AMD gfx942) codecs by exact bit arithmetic (SPEC 1).
// Decoding is exact; encoding rounds to nearest even and saturates to the largest finite value.
// These are the reference codecs: vendor folders may decode their native flavour in hardware.
#pragma once

#include "bits.h"

namespace mla {

enum class Fp8 : int32_t { E4M3FN = 1, E4M3FNUZ = 2 };  // values of mla_fp8_flavor

MLA_HD constexpr int fp8_bias(Fp8 f) { return f == Fp8::E4M3FN ? 7 : 8; }
MLA_HD constexpr uint32_t fp8_max_code(Fp8 f) { return f == Fp8::E4M3FN ? 0x7Eu : 0x7Fu; }
MLA_HD constexpr float fp8_max_value(Fp8 f) { return f == Fp8::E4M3FN ? 448.0f : 240.0f; }
// The range the cache stores use: 448 for fn, 224 for fnuz, so that both flavours give the
// same code bytes and only the scale differs (by one exponent step).
MLA_HD constexpr float fp8_store_max(Fp8 f) { return f == Fp8::E4M3FN ? 448.0f : 224.0f; }
MLA_HD constexpr uint8_t fp8_nan_code(Fp8 f) { return f == Fp8::E4M3FN ? 0x7F : 0x80; }
MLA_HD constexpr bool fp8_is_nan(uint8_t b, Fp8 f) {
  return f == Fp8::E4M3FN ? (b & 0x7F) == 0x7F : b == 0x80;
}

MLA_HD MLA_FORCEINLINE float fp8_to_float(uint8_t b, Fp8 f) {
  if (fp8_is_nan(b, f)) return float_of(0x7fc00000u);
  const int bias = fp8_bias(f);
  const int e = (b >> 3) & 0xF;
  const uint32_t m = b & 0x7u;
  // Subnormals are m * 2^(1 - bias - 3); normals are built from their bits.
  const float mag = e == 0 ? float(m) * float_of(uint32_t(127 + 1 - bias - 3) << 23)
                           : float_of((uint32_t(e - bias + 127) << 23) | (m << 20));
  return (b & 0x80) ? -mag : mag;
}

MLA_HD MLA_FORCEINLINE uint8_t float_to_fp8(float x, Fp8 f) {
  const uint32_t u = bits_of(x);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return fp8_nan_code(f);
  const int bias = fp8_bias(f);
  uint32_t code = fp8_max_code(f);  // infinities saturate
  if (a < 0x7f800000u) {
    int fe = int(a >> 23);
    uint32_t sig = a & 0x7fffffu;
    if (fe == 0) {
      fe = 1;  // float subnormal: same scale as the smallest normal, no hidden bit
    } else {
      sig |= 0x800000u;
    }
    // x = sig * 2^(fe - 150). Quantum of the target: 2^(max(E, 1 - bias) - 3).
    const int e_unb = fe - 127;
    const int e_eff = e_unb > 1 - bias ? e_unb : 1 - bias;
    const int shift = e_eff - 3 + 150 - fe;  // >= 20
    uint32_t q = 0;
    if (shift <= 24) {
      q = sig >> shift;
      const uint32_t rem = sig & ((1u << shift) - 1u);
      const uint32_t half = 1u << (shift - 1);
      if (rem > half || (rem == half && (q & 1u))) ++q;
    }
    // q counts quanta; q = 16 (or 8 out of subnormals) carries into the exponent by itself.
    const int c = ((e_eff + bias - 1) << 3) + int(q);
    if (c < int(code)) code = uint32_t(c);
  }
  if (u >> 31) {
    // e4m3fn keeps -0 (0x80); e4m3fnuz has no negative zero (0x80 is its NaN).
    if (f == Fp8::E4M3FN || code != 0) code |= 0x80u;
  }
  return uint8_t(code);
}

}  // namespace mla
