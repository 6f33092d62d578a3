// Division by a run-time constant through a multiply and a shift (the divisor's magic number is
// computed once on the host): slot -> (page, offset) and row -> (token, head) in every lane of
// every kernel would otherwise each cost a ~20-instruction integer division on GPUs.
// Exact for dividends in [0, 2^31) and divisors in [1, 2^31); others take a plain division.
#pragma once

#include "port.h"

namespace mla {

struct FastDiv {
  int64_t d = 1;
  uint64_t magic = 0;  // ceil(2^shift / d), shift = 31 + ceil(log2 d): exact for n < 2^31
  int shift = 0;

  FastDiv() = default;
  explicit FastDiv(int64_t divisor) : d(divisor) {
    if (d < 1 || d >= (int64_t(1) << 31)) return;  // magic 0: plain division
    int l = 0;
    while ((int64_t(1) << l) < d) ++l;
    shift = 31 + l;
    magic = ((uint64_t(1) << shift) + uint64_t(d) - 1) / uint64_t(d);
  }

  MLA_HD MLA_FORCEINLINE int64_t div(int64_t n) const {
    if (magic != 0 && (n >> 31) == 0) return int64_t((uint64_t(n) * magic) >> shift);
    return n / d;
  }
  MLA_HD MLA_FORCEINLINE int64_t mod(int64_t n) const { return n - div(n) * d; }
};

}  // namespace mla
