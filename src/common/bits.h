// Bit-exact reinterpretation between float and its IEEE-754 bits, on host and device.
#pragma once

#include "port.h"

namespace mla {

MLA_HD MLA_FORCEINLINE uint32_t bits_of(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof(u));
  return u;
}

MLA_HD MLA_FORCEINLINE float float_of(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, sizeof(f));
  return f;
}

// Unaligned-safe loads and stores of small scalars from byte pointers.
template <typename T>
MLA_HD MLA_FORCEINLINE T load_as(const uint8_t* p) {
  T v;
  __builtin_memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T>
MLA_HD MLA_FORCEINLINE void store_as(uint8_t* p, T v) {
  __builtin_memcpy(p, &v, sizeof(T));
}

}  // namespace mla
