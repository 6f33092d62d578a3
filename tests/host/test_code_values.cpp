// White-box test of the fp8 -> bf16 "code values" of the native decode's V4.0 keys
// (src/common/attention/key_codes.h, the portable form; the CUDA byte-permute form is checked
// end to end by the GPU decode suites): every non-NaN code of both flavours, as bf16, is the
// code's value times 2^(bias - 127) exactly, subnormal codes included.
#include <cmath>

#include "attention/key_codes.h"
#include "mla_test.h"

using namespace mlatest;

TEST(CodeValues, EveryCodeIsItsValueTimesThePowerOfTwo) {
  for (bool fnuz : {false, true}) {
    const int bias = fnuz ? 8 : 7;
    for (uint32_t b = 0; b < 256; b += 2) {
      const uint32_t w = b | ((b + 1) << 8) | ((255 - b) << 16) | ((254 - b) << 24);
      uint32_t lo = 0, hi = 0;
      mla::attn::code_values4_portable(w, &lo, &hi);
      const uint32_t codes[4] = {b, b + 1, 255 - b, 254 - b};
      const uint16_t bf[4] = {uint16_t(lo), uint16_t(lo >> 16), uint16_t(hi), uint16_t(hi >> 16)};
      for (int k = 0; k < 4; ++k) {
        const double v = fp8_value(uint8_t(codes[k]), fnuz);
        if (std::isnan(v)) continue;  // NaN codes take the patch path of code_values16
        EXPECT_EQ(bf16_value(bf[k]), std::ldexp(v, bias - 127))
            << (fnuz ? "fnuz" : "fn") << " code " << codes[k];
      }
    }
  }
}
