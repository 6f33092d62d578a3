// White-box tests of the shared codecs (src/common) against the plain references of the tests.
#include <cmath>

#include "bf16.h"
#include "fp8_e4m3.h"
#include "mla_test.h"
#include "ue8m0.h"

using namespace mlatest;

namespace {

struct Flavour {
  mla::Fp8 lib;
  bool fnuz;
};
const Flavour kFlavours[] = {{mla::Fp8::E4M3FN, false}, {mla::Fp8::E4M3FNUZ, true}};

bool same_double(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST(Fp8Codec, EveryCodeDecodesExactly) {
  for (const Flavour& f : kFlavours) {
    for (int c = 0; c < 256; ++c) {
      const double want = fp8_value(uint8_t(c), f.fnuz);
      const double got = mla::fp8_to_float(uint8_t(c), f.lib);
      EXPECT_TRUE(same_double(got, want)) << "code 0x" << std::hex << c << " fnuz " << f.fnuz;
    }
  }
}

TEST(Fp8Codec, EveryFiniteCodeReencodesToItself) {
  for (const Flavour& f : kFlavours) {
    for (int c = 0; c < 256; ++c) {
      const float v = mla::fp8_to_float(uint8_t(c), f.lib);
      if (std::isnan(v)) continue;
      EXPECT_EQ(int(mla::float_to_fp8(v, f.lib)), c) << "code 0x" << std::hex << c;
    }
  }
}

TEST(Fp8Codec, SpecialValues) {
  // SPEC 1: fn NaN 0x7F/0xFF, max 448 (0x7E), -0 = 0x80; fnuz NaN 0x80 only, max 240 (0x7F).
  EXPECT_EQ(mla::fp8_to_float(0x7E, mla::Fp8::E4M3FN), 448.0f);
  EXPECT_EQ(mla::fp8_to_float(0x7F, mla::Fp8::E4M3FNUZ), 240.0f);
  EXPECT_TRUE(std::isnan(mla::fp8_to_float(0xFF, mla::Fp8::E4M3FN)));
  EXPECT_TRUE(std::isnan(mla::fp8_to_float(0x80, mla::Fp8::E4M3FNUZ)));
  EXPECT_TRUE(std::signbit(mla::fp8_to_float(0x80, mla::Fp8::E4M3FN)));
  EXPECT_EQ(mla::fp8_to_float(0x01, mla::Fp8::E4M3FN), std::ldexp(1.0f, -9));
  EXPECT_EQ(mla::fp8_to_float(0x01, mla::Fp8::E4M3FNUZ), std::ldexp(1.0f, -10));
  EXPECT_EQ(mla::fp8_to_float(0x08, mla::Fp8::E4M3FN), std::ldexp(1.0f, -6));
  EXPECT_EQ(mla::fp8_to_float(0x08, mla::Fp8::E4M3FNUZ), std::ldexp(1.0f, -7));
  EXPECT_EQ(mla::float_to_fp8(-0.0f, mla::Fp8::E4M3FN), 0x80);
  EXPECT_EQ(mla::float_to_fp8(-0.0f, mla::Fp8::E4M3FNUZ), 0x00);
  EXPECT_EQ(mla::float_to_fp8(NAN, mla::Fp8::E4M3FNUZ), 0x80);
  EXPECT_EQ(mla::float_to_fp8(NAN, mla::Fp8::E4M3FN) & 0x7F, 0x7F);
}

TEST(Fp8Codec, SameByteIsHalfInFnuz) {
  for (int c = 0; c < 256; ++c) {
    if (c == 0x80 || (c & 0x7F) == 0x7F) continue;
    EXPECT_EQ(mla::fp8_to_float(uint8_t(c), mla::Fp8::E4M3FNUZ),
              0.5f * mla::fp8_to_float(uint8_t(c), mla::Fp8::E4M3FN));
  }
}

TEST(Fp8Codec, TiesRoundToEvenAndSaturate) {
  for (const Flavour& f : kFlavours) {
    const int top = f.fnuz ? 0x7F : 0x7E;
    for (int c = 0; c < top; ++c) {
      // The midpoint of two neighbouring codes goes to the even one, on both signs.
      const double mid = 0.5 * (fp8_value(uint8_t(c), f.fnuz) + fp8_value(uint8_t(c + 1), f.fnuz));
      const int even = (c % 2 == 0) ? c : c + 1;
      EXPECT_EQ(int(mla::float_to_fp8(float(mid), f.lib)), even) << "mid of " << c;
      const int neg = mla::float_to_fp8(float(-mid), f.lib);
      EXPECT_EQ(neg, (f.fnuz && even == 0) ? 0 : (even | 0x80)) << "negative mid of " << c;
      // Just above and below the midpoint go to the nearer code.
      EXPECT_EQ(int(mla::float_to_fp8(std::nextafter(float(mid), 1e9f), f.lib)), c + 1);
      EXPECT_EQ(int(mla::float_to_fp8(std::nextafter(float(mid), 0.0f), f.lib)), c);
    }
    const float maxv = mla::fp8_max_value(f.lib);
    for (float big : {maxv * 1.01f, maxv * 1.0625f, 1e6f, 3e38f, INFINITY}) {
      EXPECT_EQ(int(mla::float_to_fp8(big, f.lib)), top) << big;
      EXPECT_EQ(int(mla::float_to_fp8(-big, f.lib)), top | 0x80) << -big;
    }
  }
}

TEST(Fp8Codec, RandomFloatsMatchNearestEvenReference) {
  Rng rng(fresh_seed());
  for (const Flavour& f : kFlavours) {
    for (int i = 0; i < 200000; ++i) {
      // Magnitudes from far below the subnormals to beyond the maximum, incl. float subnormals.
      const double mag = std::ldexp(rng.uniform(1.0, 2.0), int(rng.integer(-140, 10)));
      const float x = float(rng.chance(0.5) ? -mag : mag);
      ASSERT_EQ(int(mla::float_to_fp8(x, f.lib)), int(fp8_encode(double(x), f.fnuz)))
          << "x = " << x << " fnuz " << f.fnuz;
    }
  }
}

TEST(Bf16, RoundsToNearestEven) {
  Rng rng(fresh_seed());
  for (int i = 0; i < 200000; ++i) {
    const float x = float(std::ldexp(rng.uniform(-2.0, 2.0), int(rng.integer(-130, 120))));
    ASSERT_EQ(mla::float_to_bf16(x), bf16_round_float(x)) << x;
  }
  uint32_t tie = 0x3F808000u;  // exactly between two bf16 values: goes to the even 0x3F80
  float f;
  std::memcpy(&f, &tie, 4);
  EXPECT_EQ(mla::float_to_bf16(f), 0x3F80);
  tie = 0x3F818000u;  // goes up to the even 0x3F82
  std::memcpy(&f, &tie, 4);
  EXPECT_EQ(mla::float_to_bf16(f), 0x3F82);
  EXPECT_EQ(mla::float_to_bf16(3.4e38f), 0x7F80);  // beyond the largest bf16: +inf
  EXPECT_TRUE(std::isnan(mla::bf16_to_float(mla::float_to_bf16(NAN))));
}

TEST(Ue8m0, PowersOfTwoIncludingEnds) {
  for (int b = 0; b < 256; ++b) EXPECT_EQ(double(mla::ue8m0_to_float(uint8_t(b))), ue8m0_value(uint8_t(b))) << b;
  EXPECT_EQ(mla::ue8m0_to_float(0), std::ldexp(1.0f, -127));  // subnormal, not zero
  EXPECT_TRUE(std::isinf(mla::ue8m0_to_float(255)));
}

TEST(Ue8m0, CeilLog2FromBits) {
  Rng rng(fresh_seed());
  for (int i = 0; i < 100000; ++i) {
    const float t = float(std::ldexp(rng.uniform(1.0, 2.0), int(rng.integer(-100, 100))));
    int ex;
    const double frac = std::frexp(double(t), &ex);
    EXPECT_EQ(mla::ceil_log2(t), frac == 0.5 ? ex - 1 : ex) << t;
  }
  EXPECT_EQ(mla::ceil_log2(1.0f), 0);
  EXPECT_EQ(mla::ceil_log2(0.25f), -2);
  EXPECT_EQ(mla::ceil_log2(std::nextafter(0.25f, 1.0f)), -1);
}
