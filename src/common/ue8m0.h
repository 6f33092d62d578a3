// UE8M0 power-of-two scale bytes (SPEC 1): byte b means 2^(b - 127) in fp32.
#pragma once

#include "bits.h"

namespace mla {

MLA_HD MLA_FORCEINLINE float ue8m0_to_float(uint8_t b) {
  // b = 0 is the subnormal 2^-127; b = 255 is +inf, as the engines read it.
  return b == 0 ? float_of(0x00400000u) : float_of(uint32_t(b) << 23);
}

// 2^e as fp32 for e in [-126, 127].
MLA_HD MLA_FORCEINLINE float exp2_int(int e) { return float_of(uint32_t(e + 127) << 23); }

// ceil(log2(t)) for a positive, finite, normal t, read exactly from its bits.
MLA_HD MLA_FORCEINLINE int ceil_log2(float t) {
  const uint32_t u = bits_of(t);
  return int(u >> 23) - 127 + ((u & 0x7fffffu) != 0 ? 1 : 0);
}

}  // namespace mla
