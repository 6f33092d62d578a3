// DeepSeek V4.0 page layout (SPEC 2.2), 584 bytes per token split across the page:
// [P x (448 fp8 nope, 64 bf16 rope) = 576 B][P x (7 UE8M0 scales, 1 pad) = 8 B][zero pad to
// a multiple of 576]. K and V are the same 512-wide row, rope included.
#pragma once

#include "bf16.h"
#include "kv_format.h"
#include "ue8m0.h"

namespace mla::v40 {

constexpr int64_t kRowBytes = 576;
constexpr int64_t kScaleBytes = 8;
constexpr int kNopeDim = 448;
constexpr int kRopeDim = 64;
constexpr int kTileDim = 64;
constexpr int kTiles = kNopeDim / kTileDim;  // 7
constexpr float kMinAmax = 1e-4f;

MLA_HD MLA_FORCEINLINE int64_t row_offset(const KvCacheView& kv, int64_t slot) {
  return kv.page_of(slot) * kv.page_stride + kv.offset_in_page(slot) * kRowBytes;
}
MLA_HD MLA_FORCEINLINE int64_t scale_offset(const KvCacheView& kv, int64_t slot) {
  return kv.page_of(slot) * kv.page_stride + kv.page_size * kRowBytes +
         kv.offset_in_page(slot) * kScaleBytes;
}

// Element i of the dequantized row (i < 512): nope is bf16(fp8 * 2^(b - 127)), rope copied.
MLA_HD MLA_FORCEINLINE bf16_bits dequant_element(const uint8_t* row, const uint8_t* scales, int i,
                                                 Fp8 fp8) {
  if (i >= kNopeDim) return load_as<bf16_bits>(row + kNopeDim + 2 * (i - kNopeDim));
  return float_to_bf16(fp8_to_float(row[i], fp8) * ue8m0_to_float(scales[i / kTileDim]));
}

// Exponent e of a tile's power-of-two scale: ceil(log2(max(amax, 1e-4) / FP8_MAX)), with
// FP8_MAX 448 (fn) or 224 (fnuz), so that fnuz codes equal fn codes and e is one higher.
MLA_HD MLA_FORCEINLINE int tile_exponent(float amax, Fp8 fp8) {
  const float m = fp8_store_max(fp8);
  const int e = ceil_log2(fmaxf(amax, kMinAmax) / m);
  return e > 127 ? 127 : e;  // an infinite input never yields the +inf byte 255
}

MLA_HD MLA_FORCEINLINE uint8_t quantize(float x, int e, Fp8 fp8) {
  const float m = fp8_store_max(fp8);
  return float_to_fp8(fminf(fmaxf(x / exp2_int(e), -m), m), fp8);
}

}  // namespace mla::v40
