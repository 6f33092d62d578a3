// The order in which top-k ranks logits, the same on every backend: a larger value is better,
// every NaN is worse than every number (-inf included), -0 equals +0, and of equal keys the
// lower index is better. The key is an unsigned integer that sorts like the value, so radix
// selection can work on its bits.
#pragma once

#include "bits.h"

namespace mla {

MLA_HD MLA_FORCEINLINE uint32_t topk_key(float x) {
  const uint32_t u = bits_of(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0;      // NaN: below -inf
  if ((u & 0x7fffffffu) == 0) return 0x80000000u;     // -0 and +0 alike
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);  // -inf -> 0x007fffff
}

// Key and index in one word: the larger word is the better candidate.
MLA_HD MLA_FORCEINLINE uint64_t topk_rank_word(uint32_t key, int64_t index) {
  return (uint64_t(key) << 32) | (0xffffffffu - uint32_t(index));
}

}  // namespace mla
