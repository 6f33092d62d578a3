// fp8 codes as bf16 "code values" with a few integer operations: a code's sign, exponent and
// mantissa bits are moved into a bf16's, so that the bf16's value is exactly the code's value
// times 2^(bias - 127) (2^-120 for e4m3fn, 2^-119 for e4m3fnuz), subnormal codes included
// (they land on bf16 subnormals). The kernels multiply these exact values on the matrix cores
// and apply the scale and the power of two to the products, in fp32.
//
// NaN codes have no such value: a chunk holding one takes the exact path, which gives the bf16
// NaN there (the value the SPEC's dequantization gives, a NaN).
#pragma once

#include "../bf16.h"
#include "../fp8_e4m3.h"
#include "../fp8_half.h"
#include "../port.h"

namespace mla::attn {

// Bytes 0 and 1 of w into the low and high bf16 of *lo, bytes 2 and 3 into *hi: bf16 bits
// (b & 0x80) << 8 | (b & 0x7F) << 4 for each byte b. The portable form; a vendor's Hw may
// provide a shorter one (its code_values4).
MLA_HD MLA_FORCEINLINE void code_values4_portable(uint32_t w, uint32_t* lo, uint32_t* hi) {
  const uint32_t a = (w & 0xFFu) | ((w & 0xFF00u) << 8);            // [b0, 0, b1, 0]
  const uint32_t b = ((w >> 16) & 0xFFu) | ((w >> 8) & 0xFF0000u);  // [b2, 0, b3, 0]
  *lo = ((a & 0x007F007Fu) << 4) | ((a & 0x00800080u) << 8);
  *hi = ((b & 0x007F007Fu) << 4) | ((b & 0x00800080u) << 8);
}

#if defined(MLA_GPU_COMPILER)
// The rare paths are functions of their own, called, not inlined: inlined into every chunk of
// every unrolled loop they made the kernels several times larger than the instruction caches.

// Patches the NaN codes of 16 codes into their bf16 code values (NaN codes -> the bf16 NaN).
__device__ __noinline__ inline uint4 patch_nan_codes(uint4 codes, uint4 values, Fp8 f, bool high) {
  const uint32_t w[2] = {high ? codes.z : codes.x, high ? codes.w : codes.y};
  uint32_t o[4] = {values.x, values.y, values.z, values.w};
  for (int i = 0; i < 8; ++i) {
    if (fp8_is_nan(uint8_t(w[i / 4] >> (8 * (i % 4))), f)) {
      const int shift = 16 * (i % 2);
      o[i / 2] = (o[i / 2] & ~(0xFFFFu << shift)) | (0x7FC0u << shift);
    }
  }
  return make_uint4(o[0], o[1], o[2], o[3]);
}

// 16 codes as 16 bf16 code values (two 16-byte words); NaN codes as the bf16 NaN.
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void code_values16(uint4 codes, Fp8 f, uint4 (&out)[2]) {
  const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
  uint32_t o[8];
#pragma unroll
  for (int i = 0; i < 4; ++i) Hw::code_values4(w[i], &o[2 * i], &o[2 * i + 1]);
  out[0] = make_uint4(o[0], o[1], o[2], o[3]);
  out[1] = make_uint4(o[4], o[5], o[6], o[7]);
  if (fp8x4_has_nan(w[0], f) || fp8x4_has_nan(w[1], f) || fp8x4_has_nan(w[2], f) ||
      fp8x4_has_nan(w[3], f)) {
    out[0] = patch_nan_codes(codes, out[0], f, false);
    out[1] = patch_nan_codes(codes, out[1], f, true);
  }
}

#endif

}  // namespace mla::attn
