// White-box tests of the fp8 -> rebiased half decoding the native indexer kernels use
// (src/common/fp8_half.h), against the plain references of the tests.
#include <cmath>

#include "fp8_half.h"
#include "mla_test.h"

using namespace mlatest;

namespace {

// IEEE half bits as a double, written plainly.
double half_value(uint16_t h) {
  const int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  const double mag = e == 0    ? std::ldexp(m, -24)
                     : e == 31 ? (m ? kNaN : kInf)
                               : std::ldexp(1024 + m, e - 25);
  return (h & 0x8000) ? -mag : mag;
}

bool same(double a, double b) {
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

}  // namespace

TEST(Fp8Half, RebiasedHalfTimesItsFactorIsTheCodeValue) {
  for (bool fnuz : {false, true}) {
    const mla::Fp8 f = fnuz ? mla::Fp8::E4M3FNUZ : mla::Fp8::E4M3FN;
    const double unbias = std::sqrt(double(mla::rebias_product_factor(f)));  // per operand
    for (int c = 0; c < 256; ++c) {
      const double want = fp8_value(uint8_t(c), fnuz);
      const double got = half_value(mla::fp8_to_rebiased_half(uint8_t(c), f)) * unbias;
      EXPECT_TRUE(same(got, want)) << "code 0x" << std::hex << c << " fnuz " << fnuz;
      if (want == 0) {
        EXPECT_EQ(std::signbit(got), std::signbit(want)) << "code " << c;
      }
    }
  }
}

TEST(Fp8Half, FourCodesAtOnceMatchOneAtATime) {
  Rng rng(fresh_seed());
  for (bool fnuz : {false, true}) {
    const mla::Fp8 f = fnuz ? mla::Fp8::E4M3FNUZ : mla::Fp8::E4M3FN;
    for (int trial = 0; trial < 20000; ++trial) {
      uint32_t w = uint32_t(rng.integer(0, 0xFFFFFFFFll));
      if (trial % 3 == 0) w = (w & 0x7F7F7F7Fu) | 0x00800000u;  // often no NaN code at all
      uint32_t lo = 0, hi = 0;
      mla::fp8x4_to_rebiased_halves(w, f, &lo, &hi);
      const uint32_t got[4] = {lo & 0xFFFF, lo >> 16, hi & 0xFFFF, hi >> 16};
      for (int k = 0; k < 4; ++k) {
        const uint16_t want = mla::fp8_to_rebiased_half(uint8_t(w >> (8 * k)), f);
        ASSERT_TRUE(same(half_value(uint16_t(got[k])), half_value(want)))
            << std::hex << "word 0x" << w << " code " << k << " fnuz " << fnuz;
      }
    }
  }
}
