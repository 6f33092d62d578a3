// How a decode kernel reads one key of each cache format: the 16-byte chunks of a token's
// bytes, where each lands in the dequantized bf16 row, and the scale of each fp8 chunk.
// Nope chunks hold 16 fp8 codes (32 bytes of bf16 once dequantized); rope chunks hold 8 bf16
// values, copied as they are. Scale chunks are not loaded as data: each nope chunk reads its
// own scale (SPEC 2.1, 2.2).
#pragma once

#include "../kv_format_v32.h"
#include "../kv_format_v40.h"

namespace mla::attn {

// Where a key's bytes are; row == nullptr: a skipped key (nothing is read for it).
struct KeySrc {
  const uint8_t* row;
  const uint8_t* scales;
  int32_t fp8;  // the cache's Fp8 flavour
};

struct V32Keys {
  static constexpr KvFormat kFormat = KvFormat::V32;
  static constexpr int kDim = 576;  // d_qk; V is columns [0, 512)
  static constexpr int kNopeChunks = v32::kNopeDim / 16;  // 32
  static constexpr int kRopeChunks = v32::kRopeDim / 8;   // 8
  static constexpr int kChunks = kNopeChunks + kRopeChunks;

  MLA_HD static constexpr int raw_offset(int part) {
    return part < kNopeChunks ? 16 * part : v32::kRopeOffset + 16 * (part - kNopeChunks);
  }
  MLA_HD static constexpr int column(int part) {
    return part < kNopeChunks ? 16 * part : v32::kNopeDim + 8 * (part - kNopeChunks);
  }
  MLA_HD static KeySrc locate(const KvCacheView& kv, int64_t slot) {
    const uint8_t* row = kv.data + v32::token_offset(kv, slot);
    return {row, row + v32::kScaleOffset, int32_t(kv.fp8)};
  }
  // The fp32 scale of nope chunk `part` (its 128-value tile).
  MLA_DEVICE static float scale(const KeySrc& k, int part) {
    return load_ro(reinterpret_cast<const float*>(k.scales) + part / (v32::kTileDim / 16));
  }
};

struct V40Keys {
  static constexpr KvFormat kFormat = KvFormat::V40;
  static constexpr int kDim = 512;  // d_qk = d_v: V is the whole row, rope included
  static constexpr int kNopeChunks = v40::kNopeDim / 16;  // 28
  static constexpr int kRopeChunks = v40::kRopeDim / 8;   // 8
  static constexpr int kChunks = kNopeChunks + kRopeChunks;

  MLA_HD static constexpr int raw_offset(int part) { return 16 * part; }  // rope follows nope
  MLA_HD static constexpr int column(int part) {
    return part < kNopeChunks ? 16 * part : v40::kNopeDim + 8 * (part - kNopeChunks);
  }
  MLA_HD static KeySrc locate(const KvCacheView& kv, int64_t slot) {
    return {kv.data + v40::row_offset(kv, slot), kv.data + v40::scale_offset(kv, slot),
            int32_t(kv.fp8)};
  }
  // The UE8M0 scale of nope chunk `part` (its 64-value tile), as fp32.
  MLA_DEVICE static float scale(const KeySrc& k, int part) {
    return ue8m0_to_float(load_ro(k.scales + part / (v40::kTileDim / 16)));
  }
};

}  // namespace mla::attn
