// bfloat16 as raw 16-bit storage with exact conversions (round to nearest even), so host,
// CUDA and HIP produce the same bits without the vendors' bf16 headers.
#pragma once

#include "bits.h"

namespace mla {

using bf16_bits = uint16_t;

MLA_HD MLA_FORCEINLINE float bf16_to_float(bf16_bits b) { return float_of(uint32_t(b) << 16); }

MLA_HD MLA_FORCEINLINE bf16_bits float_to_bf16(float f) {
  const uint32_t u = bits_of(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16_bits((u >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
  return bf16_bits((u + rounding) >> 16);
}

}  // namespace mla
