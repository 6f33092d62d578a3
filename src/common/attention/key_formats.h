// How a decode kernel reads one key of each cache format.
//
// A token's bytes are read as 16-byte chunks ("raw chunks") and each chunk is one of:
//   nope:  16 fp8 codes, stored to shared memory as 16 bf16, in one of two ways:
//          - kCodeValues (V4.0): the *code values* (key_codes.h: the code's bits moved into
//            bf16, value = code value x 2^(bias - 127), exact). The scales, powers of two, are
//            not applied to the codes: they multiply the partial scores of their scale tile
//            (Q K^T) and the probabilities (P V) instead (sparse_decode_kernel.h). Exact, as the
//            SPEC's bf16(code x 2^e) is;
//          - otherwise (V3.2): bf16(code x scale), rounded once as SPEC 2.1 says (its fp32
//            scales are arbitrary, and the attention's tolerances are those of that rounding);
//   rope:  8 bf16 values, copied (every chunk of a bf16 row, Bf16Keys, is of this kind);
//   scale: V3.2's four fp32 scales (one chunk); V4.0's seven UE8M0 bytes live outside the row
//          and are read as one 8-byte word.
// Columns [0, kNopeDim) form kScaleTiles tiles of kTileCols columns, each with its scale; the
// rope columns follow (SPEC 2.1, 2.2).
#pragma once

#include "../kv_format_v32.h"
#include "../kv_format_v40.h"

namespace mla::attn {

enum class ChunkKind { Nope, Rope, Scale };

struct V32Keys {
  static constexpr KvFormat kFormat = KvFormat::V32;
  static constexpr int kDim = 576;  // d_qk; V is columns [0, 512)
  static constexpr int kNopeDim = v32::kNopeDim;
  static constexpr int kTileCols = v32::kTileDim;                // 128
  static constexpr int kScaleTiles = kNopeDim / kTileCols;       // 4
  static constexpr int kRawChunks = int(v32::kTokenBytes / 16);  // 41
  static constexpr int kNopeChunks = kNopeDim / 16;              // 32
  static constexpr int kScaleChunk = v32::kScaleOffset / 16;     // 32
  static constexpr bool kScaleWord = false;
  static constexpr bool kRowsAligned16 = true;  // cache pages: 16-byte aligned (mla_core.h)
  static constexpr bool kCodeValues = false;

  MLA_HD static constexpr ChunkKind kind(int c) {
    return c < kNopeChunks    ? ChunkKind::Nope
           : c == kScaleChunk ? ChunkKind::Scale
                              : ChunkKind::Rope;
  }
  // The first dequantized column of chunk c (nope: 16 columns; rope: 8).
  MLA_HD static constexpr int column(int c) {
    return c < kNopeChunks ? 16 * c : kNopeDim + 8 * (c - kScaleChunk - 1);
  }
  MLA_HD static int64_t row_offset(const KvCacheView& kv, int64_t slot) {
    return v32::token_offset(kv, slot);
  }
  MLA_HD static int64_t scale_offset(const KvCacheView&, int64_t) { return -1; }  // in the row
};

// kCode: the nope columns as code values (decode, the fast form), or as bf16(code x scale)
// (prefill over the cache: the very values of mla_kv_gather, so that the result equals
// gather-then-prefill bit for bit).
template <bool kCode>
struct V40KeysOf {
  static constexpr KvFormat kFormat = KvFormat::V40;
  static constexpr int kDim = 512;  // d_qk = d_v: V is the whole row, rope included
  static constexpr int kNopeDim = v40::kNopeDim;
  static constexpr int kTileCols = v40::kTileDim;              // 64
  static constexpr int kScaleTiles = kNopeDim / kTileCols;     // 7
  static constexpr int kRawChunks = int(v40::kRowBytes / 16);  // 36
  static constexpr int kNopeChunks = kNopeDim / 16;            // 28
  static constexpr int kScaleChunk = -1;                       // the scales are outside the row
  static constexpr bool kScaleWord = true;                     // ... in one 8-byte word
  static constexpr bool kRowsAligned16 = true;
  static constexpr bool kCodeValues = kCode;

  MLA_HD static constexpr ChunkKind kind(int c) {
    return c < kNopeChunks ? ChunkKind::Nope : ChunkKind::Rope;
  }
  MLA_HD static constexpr int column(int c) {
    return c < kNopeChunks ? 16 * c : kNopeDim + 8 * (c - kNopeChunks);
  }
  MLA_HD static int64_t row_offset(const KvCacheView& kv, int64_t slot) {
    return v40::row_offset(kv, slot);
  }
  MLA_HD static int64_t scale_offset(const KvCacheView& kv, int64_t slot) {
    return v40::scale_offset(kv, slot);
  }
};

using V40Keys = V40KeysOf<true>;
using V40ValueKeys = V40KeysOf<false>;

// Rows of kD bf16 values (sparse prefill's kv tensor): every chunk copied. The row of slot s is
// at s x page_stride bytes of a view with one slot per page (sparse_prefill_launch.h).
// kAligned16: rows start 16-byte aligned (read in 16-byte pieces); else each piece is read as
// eight 2-byte values (any view the API admits).
template <int kD, bool kAligned16 = true>
struct Bf16Keys {
  static constexpr int kDim = kD;  // 576 or 512; V is columns [0, 512)
  static constexpr int kNopeDim = 0;
  static constexpr int kTileCols = 64;
  static constexpr int kScaleTiles = 0;
  static constexpr int kRawChunks = kD / 8;
  static constexpr int kNopeChunks = 0;
  static constexpr int kScaleChunk = -1;
  static constexpr bool kScaleWord = false;
  static constexpr bool kCodeValues = false;
  static constexpr bool kRowsAligned16 = kAligned16;

  MLA_HD static constexpr ChunkKind kind(int) { return ChunkKind::Rope; }
  MLA_HD static constexpr int column(int c) { return 8 * c; }
  MLA_HD static int64_t row_offset(const KvCacheView& kv, int64_t slot) {
    return slot * kv.page_stride;
  }
  MLA_HD static int64_t scale_offset(const KvCacheView&, int64_t) { return -1; }
};

// The segments of a key row for the kernels' loops (a dimension group of units takes whole
// segments). With code values: scale tiles 0..kScaleTiles-1, then the rope (64 columns, no
// scale). With scaled values: 64-column pieces, none scaled.
template <class Fmt>
MLA_HD constexpr int scaled_segments() {
  return Fmt::kCodeValues ? Fmt::kScaleTiles : 0;
}
template <class Fmt>
MLA_HD constexpr int segment_count() {
  return Fmt::kCodeValues ? Fmt::kScaleTiles + 1 : Fmt::kDim / 64;
}
template <class Fmt>
MLA_HD constexpr int segment_begin(int s) {
  return !Fmt::kCodeValues ? 64 * s : s < Fmt::kScaleTiles ? s * Fmt::kTileCols : Fmt::kNopeDim;
}
template <class Fmt>
MLA_HD constexpr int segment_end(int s) {
  return !Fmt::kCodeValues      ? 64 * (s + 1)
         : s < Fmt::kScaleTiles ? (s + 1) * Fmt::kTileCols
                                : Fmt::kDim;
}
// The segment of a value column, as far as its scale goes: a scale tile, or scaled_segments()
// for an unscaled column.
template <class Fmt>
MLA_HD constexpr int segment_of_column(int col) {
  return Fmt::kCodeValues && col < Fmt::kNopeDim ? col / Fmt::kTileCols : scaled_segments<Fmt>();
}

}  // namespace mla::attn
