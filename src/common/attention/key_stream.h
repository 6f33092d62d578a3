// The key side of a decode CTA: which keys a query row attends (indices, lengths, validity),
// and the block pipeline that brings them into shared memory.
//
// A block of kBlockKeys keys is loaded by all kThreads threads: kLanes = kThreads / kBlockKeys
// lanes of one warp per key, lane `seg` holding the key's 16-byte chunks seg, seg + kLanes,
// ... so that the lanes of a key read consecutive pieces of its row together. Each lane finds
// its key itself (one index, one address); a skipped key (invalid, out of range, beyond its
// length, past the CTA's range) is never read and stores zeros.
//
// issue() starts the loads of a block into registers and returns at once; store() waits for
// them and writes, for the block:
//   k_s[key][col]    bf16: nope columns as code values (key_codes.h), rope columns as they are;
//   fs_s[tile][key]  fp32, with code values only (key_formats.h): the key's scale of each
//                    scale tile times 2^kScaleShift (and 1/2 for e4m3fnuz, whose code values
//                    are twice e4m3fn's), 0 for a skipped key;
//   valid_s[key]     1 for a key that takes part, else 0.
// A kernel issues block j + 1 before it works on block j, so each block's loads fly under the
// previous block's arithmetic.
#pragma once

#include "../attention_problem.h"
#include "../device/fp8_swar.h"
#include "../ue8m0.h"
#include "key_codes.h"
#include "key_formats.h"

namespace mla::attn {

// fs_s holds scales times 2^kScaleShift: the products of P (<= 1) and such factors stay well
// inside bf16's range and the products on the matrix cores well inside fp32's normal range
// for any scale in [2^-60, 2^60] (sparse_decode_kernel.h).
constexpr int kScaleShift = 64;

// The keys of one query row (i, s): main-cache positions [0, topk), then extra-cache positions.
struct RowKeys {
  const int32_t* main = nullptr;
  const int32_t* extra = nullptr;
  int64_t topk = 0, main_len = 0, extra_len = 0;

  MLA_DEVICE RowKeys(const SparseDecodeProblem& p, int64_t i, int64_t s) {
    topk = p.topk;
    main = p.idx + i * p.idx_sb + s * p.idx_ss;
    main_len = clamp_length(p.topk_len, p.topk_len_s, i, p.topk);
    if (p.extra_topk > 0) {
      extra = p.extra_idx + i * p.extra_idx_sb + s * p.extra_idx_ss;
      extra_len = clamp_length(p.extra_topk_len, p.extra_topk_len_s, i, p.extra_topk);
    }
  }
  // The index value of key j; -1 beyond its list's length (the index itself is not read then).
  MLA_DEVICE MLA_FORCEINLINE int32_t index(int64_t j) const {
    if (j < topk) return j < main_len ? load_ro(main + j) : -1;
    const int64_t e = j - topk;
    return e < extra_len ? load_ro(extra + e) : -1;
  }
};

// Rows of `pitch` bf16, one per key: the layout of the mma.sync and MFMA kernels.
struct RowMajorKeys {
  bf16_bits* k_s;
  int pitch;
  MLA_DEVICE MLA_FORCEINLINE uint4* operator()(int key, int col) const {
    return reinterpret_cast<uint4*>(k_s + key * pitch + col);
  }
};

// kNoL1: the key bytes bypass L1 (load_once16). Measured on the H200: 2-4% faster for the
// 16-head decode CTAs, which stream many distinct rows; 8-16% slower for the 64-head ones, whose
// lanes read half a 128-byte line per load and find the other half in L1 at the next.
// kOpaqueDst: store() computes each chunk's destination where it stores it (opaque(seg)), for
// callers short of registers (the 64-head kernels: their spills went from 36-1022 bytes to 0-386,
// and the decode 10-13% faster); the 16-head CTAs, which were 4-5% slower so, keep them hoisted.
template <class Fmt, int kBlockKeys, int kThreads, bool kNoL1 = false, bool kOpaqueDst = false>
struct KeyLoader {
  static constexpr int kLanes = kThreads / kBlockKeys;  // lanes per key
  static constexpr int kPer = (Fmt::kRawChunks + kLanes - 1) / kLanes;
  static_assert(kLanes * kBlockKeys == kThreads, "whole keys per thread group");
  static_assert(kLanes >= 1 && kLanes <= 32 && (kLanes & (kLanes - 1)) == 0,
                "a key's lanes are a power-of-two group inside one warp");

  int key, seg;        // this lane's key within a block, and its place among the key's lanes
  bool valid = false;  // the key of the block in flight takes part
  bool fnuz = false;   // ... and comes from an e4m3fnuz cache
  uint4 raw[kPer];
  uint2 scale_word;  // V4.0: the key's 8 scale bytes

  MLA_DEVICE KeyLoader() : KeyLoader(int(threadIdx.x)) {}
  // thread: this thread's place among the kThreads that load (a warp's lanes stay together).
  MLA_DEVICE explicit KeyLoader(int thread) : key(thread / kLanes), seg(thread % kLanes) {}

  // Starts the loads of key j of the row (j >= k_end: none) whose index value is `index`.
  MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, int64_t j, int64_t k_end,
                                        int32_t index) {
    const KvCacheView kv = j < p.topk ? p.kv : p.extra_kv;
    valid = j < k_end && kv.valid_slot(index);
    fnuz = kv.fp8 == Fp8::E4M3FNUZ;
    const uint8_t* row = valid ? kv.data + Fmt::row_offset(kv, index) : nullptr;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int c = seg + kLanes * i;
      raw[i] = make_uint4(0u, 0u, 0u, 0u);
      if (valid && c < Fmt::kRawChunks) {
        if constexpr (Fmt::kRowsAligned16) {
          if constexpr (kNoL1) {
            raw[i] = load_once16(reinterpret_cast<const uint4*>(row) + c);
          } else {
            raw[i] = load_ro(reinterpret_cast<const uint4*>(row) + c);
          }
        } else {  // bf16 rows of a view without 16-byte alignment
          const bf16_bits* h = reinterpret_cast<const bf16_bits*>(row) + 8 * c;
          uint32_t u[4];
#pragma unroll
          for (int k = 0; k < 4; ++k)
            u[k] = uint32_t(load_ro(h + 2 * k)) | (uint32_t(load_ro(h + 2 * k + 1)) << 16);
          raw[i] = make_uint4(u[0], u[1], u[2], u[3]);
        }
      }
    }
    scale_word = make_uint2(0u, 0u);
    if constexpr (Fmt::kScaleWord) {
      if (valid)
        scale_word =
            load_ro(reinterpret_cast<const uint2*>(kv.data + Fmt::scale_offset(kv, index)));
    }
  }

  // Waits for the loads and writes the block's shared arrays (see the top of this file).
  // Every thread of the CTA calls it (V3.2 shares the scale chunk through warp shuffles).
  template <class Hw>
  MLA_DEVICE MLA_FORCEINLINE void store(bf16_bits* k_s, int pitch, float* fs_s,
                                        uint8_t* valid_s) const {
    store<Hw>(RowMajorKeys{k_s, pitch}, fs_s, valid_s);
  }
  // The same into any layout: dst(key, col) is where the 8 bf16 of columns col..col+7 of the
  // block's key go (16-byte aligned).
  template <class Hw, class Dst>
  MLA_DEVICE MLA_FORCEINLINE void store(const Dst& dst_of, float* fs_s, uint8_t* valid_s) const {
    const Fp8 f = fnuz ? Fp8::E4M3FNUZ : Fp8::E4M3FN;
    float scale[Fmt::kScaleTiles > 0 ? Fmt::kScaleTiles : 1] = {};
    if constexpr (Fmt::kScaleChunk >= 0) {  // V3.2: fp32 scales in chunk kScaleChunk
      constexpr int kSeg = Fmt::kScaleChunk % kLanes, kIdx = Fmt::kScaleChunk / kLanes;
      const int lane = int(threadIdx.x) % kWaveSize;
      const int src = (lane & ~(kLanes - 1)) | kSeg;
      const uint4 mine = raw[kIdx];
      const uint32_t w[4] = {shfl_idx(mine.x, src), shfl_idx(mine.y, src), shfl_idx(mine.z, src),
                             shfl_idx(mine.w, src)};
#pragma unroll
      for (int t = 0; t < Fmt::kScaleTiles; ++t) scale[t] = float_of(w[t]);
    } else if constexpr (Fmt::kScaleWord) {  // V4.0: UE8M0 bytes
#pragma unroll
      for (int t = 0; t < Fmt::kScaleTiles; ++t) {
        const uint32_t word = t < 4 ? scale_word.x : scale_word.y;
        scale[t] = valid ? ue8m0_to_float(uint8_t(word >> (8 * (t % 4)))) : 0.0f;
      }
    }
    if (seg == 0) {
      if constexpr (Fmt::kCodeValues) {
        // Scales times 2^kScaleShift, and 1/2 for fnuz: code values of fnuz are 2^-119 x value.
        const float unit = float_of(uint32_t(127 + kScaleShift - (fnuz ? 1 : 0)) << 23);
#pragma unroll
        for (int t = 0; t < Fmt::kScaleTiles; ++t)
          fs_s[t * kBlockKeys + key] = valid ? scale[t] * unit : 0.0f;
      }
      if (valid_s != nullptr) valid_s[key] = valid ? 1 : 0;  // null: the caller keeps them
    }
    const int sg = kOpaqueDst ? opaque(seg) : seg;
#pragma unroll
    for (int i = 0; i < kPer; ++i) {
      const int c = sg + kLanes * i;
      if (c >= Fmt::kRawChunks) continue;
      const int col = Fmt::column(c);
      const ChunkKind kind = Fmt::kind(c);
      if (kind == ChunkKind::Nope) {
        if constexpr (Fmt::kNopeChunks > 0) {  // bf16 rows (Bf16Keys) have no fp8 columns
          uint4 w[2];
          if constexpr (Fmt::kCodeValues) {
            code_values16<Hw>(raw[i], f, w);
          } else {
            const int tile = c / (Fmt::kTileCols / 16);
            float sc = scale[0];
#pragma unroll
            for (int t = 1; t < Fmt::kScaleTiles; ++t) sc = tile == t ? scale[t] : sc;
            gpu::decode16_any_nan<Hw>(raw[i], sc, f, w);
          }
          *dst_of(key, col) = w[0];
          *dst_of(key, col + 8) = w[1];
        }
      } else if (kind == ChunkKind::Rope) {
        *dst_of(key, col) = raw[i];
      }
    }
  }
};

// The query heads [h0, h0 + nh) of row (i, s) into `rows` shared rows of `pitch` bf16. With code
// values (kShift), the nope columns times 2^kQShift (exact: a power of two), so that their
// products with code values (2^-120 x value) stay well inside fp32's normal range; the rope
// columns as they are. Rows past nh are zero (their results are never written).
constexpr int kQShift = 64;

// Visits each 8-column vector of those rows once per CTA: put(r, v, u) with u the vector's
// four bf16 pairs (columns 8 v .. 8 v + 7 of row r), zero for rows past nh.
template <int kDim, int kNopeDim, bool kShift, int kThreads, class Hw, class Put>
MLA_DEVICE void for_each_query_vector(const SparseDecodeProblem& p, int64_t i, int64_t s,
                                      int64_t h0, int nh, int rows, Put put) {
  const bf16_bits* q0 = p.q + i * p.q_sb + s * p.q_ss + h0 * p.q_sh;
  const bool vec = reinterpret_cast<uintptr_t>(q0) % 16 == 0 && p.q_sh % 8 == 0;
  const float up = float_of(uint32_t(127 + kQShift) << 23);
  constexpr int kVecs = kDim / 8;
  for (int e = int(threadIdx.x); e < rows * kVecs; e += kThreads) {
    const int r = e / kVecs, v = e % kVecs;
    uint32_t u[4] = {0u, 0u, 0u, 0u};
    if (r < nh) {
      const bf16_bits* src = q0 + r * p.q_sh + 8 * v;
      if (vec) {
        const uint4 w = load_ro(reinterpret_cast<const uint4*>(src));
        u[0] = w.x, u[1] = w.y, u[2] = w.z, u[3] = w.w;
      } else {
#pragma unroll
        for (int t = 0; t < 4; ++t) u[t] = uint32_t(src[2 * t]) | (uint32_t(src[2 * t + 1]) << 16);
      }
      if (kShift && 8 * v < kNopeDim) {
#pragma unroll
        for (int t = 0; t < 4; ++t)
          u[t] = Hw::pack_bf16x2(float_of(u[t] << 16) * up, float_of(u[t] & 0xFFFF0000u) * up);
      }
    }
    put(r, v, u);
  }
}

template <int kDim, int kNopeDim, bool kShift, int kThreads, class Hw>
MLA_DEVICE void load_queries(const SparseDecodeProblem& p, int64_t i, int64_t s, int64_t h0, int nh,
                             int rows, bf16_bits* q_s, int pitch) {
  for_each_query_vector<kDim, kNopeDim, kShift, kThreads, Hw>(
      p, i, s, h0, nh, rows, [&](int r, int v, const uint32_t(&u)[4]) {
        *reinterpret_cast<uint4*>(q_s + r * pitch + 8 * v) = make_uint4(u[0], u[1], u[2], u[3]);
      });
}

}  // namespace mla::attn
