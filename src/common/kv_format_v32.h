// DeepSeek V3.2 token layout (SPEC 2.1): 656 bytes per token, token-contiguous pages:
// [512 fp8 nope][4 fp32 scales, one per 128 nope values][64 bf16 rope].
#pragma once

#include "bf16.h"
#include "kv_format.h"

namespace mla::v32 {

constexpr int64_t kTokenBytes = 656;
constexpr int kNopeDim = 512;
constexpr int kRopeDim = 64;
constexpr int kTileDim = 128;
constexpr int kTiles = kNopeDim / kTileDim;
constexpr int kScaleOffset = kNopeDim;                    // 4 x fp32
constexpr int kRopeOffset = kNopeDim + 4 * kTiles;        // 528
constexpr float kMinAmax = 1e-4f;

MLA_HD MLA_FORCEINLINE int64_t token_offset(const KvCacheView& kv, int64_t slot) {
  return kv.page_of(slot) * kv.page_stride + kv.offset_in_page(slot) * kTokenBytes;
}

// Element i of the dequantized row (i < 576), as bf16 bits: bf16(fp8 * scale), one rounding.
MLA_HD MLA_FORCEINLINE bf16_bits dequant_element(const uint8_t* token, int i, Fp8 fp8) {
  if (i >= kNopeDim) return load_as<bf16_bits>(token + kRopeOffset + 2 * (i - kNopeDim));
  const float scale = load_as<float>(token + kScaleOffset + 4 * (i / kTileDim));
  return float_to_bf16(fp8_to_float(token[i], fp8) * scale);
}

// The fp32 scale of a tile whose largest magnitude is amax (never rounded to a power of two).
MLA_HD MLA_FORCEINLINE float tile_scale(float amax, Fp8 fp8) {
  const float m = fp8_store_max(fp8);
  return fmaxf(amax / m, kMinAmax / m);
}

MLA_HD MLA_FORCEINLINE uint8_t quantize(float x, float scale, Fp8 fp8) {
  const float m = fp8_store_max(fp8);
  return float_to_fp8(fminf(fmaxf(x / scale, -m), m), fp8);
}

}  // namespace mla::v32
