// Native sparse decode (SPEC 3), written once over the MMA tile of mma_tile.h.
//
// A CTA takes kRows = 16 kRowTiles query heads of one query row and one key range of that row
// (decode_plan.h). Each row tile has kKeyGroups x kDimGroups MMA units (warps, waves); unit
// (kg, dg) of row tile rt
//   - scores its 16 heads against keys [kg, kg + 1) x kUnitKeys of each block, over the row
//     segments of dimension group dg (key_formats.h: the scale tiles, then the rope); with
//     kDimGroups > 1 the units add their parts through shared memory in dg order, so all hold
//     the same sums;
//   - accumulates output columns [u, u + 1) x kUnitCols (u = kg kDimGroups + dg), P V over all
//     the block's keys.
//
// With code values (V4.0, key_formats.h), scales never touch the key elements (key_stream.h
// stores fp8 codes as exact bf16 "code values", c = value x 2^(bias-127)). Per scale tile t of
// a key j with factor f = scale x 2^64 (fs_s):
//   Q K^T:  the tile's partial score, over q x 2^64 and code values, times f x 2^-8;
//   P V:    the A operand is bf16(P x f) for tile t's columns (bf16(P) for the rope columns),
//           so the accumulated columns are 2^-56 x their value, undone at the end.
// Every power of two here is exact, the matrix products of code values are exact, and all
// magnitudes stay far from fp32's limits for scales in [2^-60, 2^60] and |q| < 2^60. V3.2's
// keys are bf16(code x scale) (SPEC 2.1): one unscaled segment, plain P.
//
// Per block of kBlockKeys keys:
//   store the block's keys (their loads were issued one block earlier) | issue the next
//   block's loads | barrier | Q K^T [| partial scores | barrier | sums] | mask, block maxima
//   of the rows exchanged between key groups | barrier | online softmax, P (fp32) to shared
//   memory | barrier | P V | barrier.
// The order of every sum is fixed by the shapes, so results are deterministic and a row's
// result does not depend on the other rows of the batch.
#pragma once

#include "../device/launch.h"
#include "decode_plan.h"
#include "key_stream.h"
#include "online_softmax.h"

namespace mla::attn {

struct DecodeLaunch {
  SparseDecodeProblem p;
  int64_t head_tiles, splits, keys_per_split;
  float* o_part;    // splits > 1: [ctas][rows_per_cta][512] partial outputs (normalized)
  float* lse_part;  // splits > 1: [ctas][rows_per_cta] their log-sum-exp, -inf if empty
  // Prefill (sparse_prefill_launch.h, never split): the largest scaled logit of each head, in
  // natural units, -inf for a row without valid keys; null for decode.
  float* max_logits = nullptr;
  int64_t ml_sb = 0, ml_sh = 0;
};

// What CTA blockIdx.x works on (decode_plan.h: cta = (row * head_tiles + ht) * splits +
// split): query row (bi, si), heads [h0, h0 + nh) of the CTA's kRows, keys [k_begin, k_end).
// With kHeadTilesFirst (the cluster-pair decode, warpgroup_dequant_kernel.h) blockIdx.x is
// (row * splits + split) * head_tiles + ht instead, so that the head tiles of a row and range
// are neighbours; `cta` is still decode_plan.h's index (the CTA's slot among the partials).
struct CtaWork {
  int64_t bi, si, h0, k_begin, k_end, cta;
  int nh;
  MLA_DEVICE MLA_FORCEINLINE CtaWork(const DecodeLaunch& L, int rows,
                                     bool kHeadTilesFirst = false) {
    int64_t c = blockIdx.x;
    if (kHeadTilesFirst) c = plan_cta_of_head_tiles_first(c, L.head_tiles, L.splits);
    cta = c;
    const int64_t split = c % L.splits;
    c /= L.splits;
    const int64_t ht = c % L.head_tiles;
    const int64_t row = c / L.head_tiles;
    bi = row / L.p.s_q, si = row % L.p.s_q;
    h0 = ht * rows;
    nh = int(L.p.h_q - h0 < rows ? L.p.h_q - h0 : rows);
    const int64_t n_keys = L.p.topk + L.p.extra_topk;
    k_begin = split * L.keys_per_split;
    k_end = n_keys - k_begin < L.keys_per_split ? n_keys : k_begin + L.keys_per_split;
  }
};

// The CTA's bf16 outputs, staged in shared memory as rows of `pitch` elements (hl = 0..nh-1),
// to out: whole 16-byte pieces where the destination allows, else 2-byte ones.
template <int kThreads>
MLA_DEVICE MLA_FORCEINLINE void store_output_rows(const DecodeLaunch& L, const CtaWork& w,
                                                  const bf16_bits* stage, int pitch) {
  for (int e = int(threadIdx.x); e < w.nh * (kDv / 8); e += kThreads) {
    const int hl = e / (kDv / 8), c8 = e % (kDv / 8);
    bf16_bits* dst =
        L.p.out + w.bi * L.p.out_sb + w.si * L.p.out_ss + (w.h0 + hl) * L.p.out_sh + 8 * c8;
    const uint4 v = *reinterpret_cast<const uint4*>(stage + hl * pitch + 8 * c8);
    if (reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
      *reinterpret_cast<uint4*>(dst) = v;
    } else {
      const bf16_bits* src = reinterpret_cast<const bf16_bits*>(&v);
      for (int k = 0; k < 8; ++k) dst[k] = src[k];
    }
  }
}

// The end of head row hr (0-based in the CTA) of a key range: sum and m (base 2) are the
// row's over the range. Writes lse (and max_logits) where `writer`, or with split ranges
// (L.splits > 1) the range's lse into lse_part[part_row]; returns the factor of the row's
// outputs: 1 / sum for a range, the sink's factor / sum for the whole row, 0 where the row has
// no key (sum 0: out 0, lse +inf, max_logits -inf) or no head. A NaN sum (a NaN key) gives NaN.
MLA_DEVICE MLA_FORCEINLINE float finish_row(const DecodeLaunch& L, const CtaWork& w,
                                            int64_t part_row, int hr, float sum, float m,
                                            bool writer) {
  const bool empty = sum == 0.0f;
  const float lse = empty ? 0.0f : (m + log2f(sum)) * kLn2;
  if (L.splits > 1) {  // normalized by this range's sum; the combine adds the ranges and the sink
    if (writer) L.lse_part[part_row] = empty ? neg_inf() : lse;
    return empty ? 0.0f : 1.0f / sum;
  }
  if (writer) {
    L.p.lse[w.bi * L.p.lse_sb + (w.h0 + hr) * L.p.lse_sh + w.si * L.p.lse_ss] =
        empty ? -neg_inf() : lse;
    if (L.max_logits != nullptr)  // prefill: s_q is 1 here
      L.max_logits[w.bi * L.ml_sb + (w.h0 + hr) * L.ml_sh] = empty ? neg_inf() : m * kLn2;
  }
  return (empty || hr >= w.nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, w.h0 + hr, lse) / sum;
}

constexpr float kScoreUnshift = 1.0f / 256.0f;  // 2^(120 - kQShift - kScaleShift)
constexpr int kOutShift = 56;                   // P V columns of scale tiles are 2^-56 x value

template <class Tile_, class Fmt_, int kRowTiles_, int kKeyGroups_, int kDimGroups_,
          int kBlockKeys_, int kMinBlocks_>
struct DecodeCta {
  using Tile = Tile_;
  using Fmt = Fmt_;
  static constexpr int kRowTiles = kRowTiles_, kKeyGroups = kKeyGroups_;
  static constexpr int kDimGroups = kDimGroups_;
  static constexpr int kBlockKeys = kBlockKeys_, kMinBlocks = kMinBlocks_;
  static constexpr int kRows = 16 * kRowTiles;
  static constexpr int kTileUnits = kKeyGroups * kDimGroups;  // units per row tile
  static constexpr int kUnits = kRowTiles * kTileUnits;
  static constexpr int kThreads = kUnits * Tile::kLanes;
  static constexpr int kDim = Fmt::kDim;
  static constexpr int kPitch = kDim + Tile::kPad;  // bf16 per q / key row in shared memory
  static constexpr int kPPitch = kBlockKeys + 8;    // fp32 per P row: 64-bit reads spread banks
  static constexpr int kUnitKeys = kBlockKeys / kKeyGroups;
  static constexpr int kKeyTiles = kUnitKeys / 16;
  static constexpr int kUnitCols = kDv / kTileUnits;
  static constexpr int kColTiles = kUnitCols / 16;
  static constexpr int kSegments = segment_count<Fmt>();
  static_assert(kUnitKeys % 16 == 0 && kUnitCols % 16 == 0, "whole 16x16 tiles per unit");
  static_assert(kSplitQuantum % kBlockKeys == 0, "key ranges are whole blocks");
  static_assert((kPitch * 2) % 16 == 0, "16-byte aligned rows");

  using Loader = KeyLoader<Fmt, kBlockKeys, kThreads, kRowTiles == 1>;  // 16 heads: past L1

  // Shared memory, in bytes: q, the key block, P, the keys' scale factors and validity, ones
  // (the rope's factor), the row statistics exchanged between units, the partial scores of the
  // dimension groups.
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + size_t(kRows) * kPitch * 2;
  static constexpr size_t kPOff = kKOff + size_t(kBlockKeys) * kPitch * 2;
  static constexpr size_t kFsOff = kPOff + size_t(kRows) * kPPitch * 4;
  static constexpr size_t kOnesOff = kFsOff + size_t(scaled_segments<Fmt>()) * kBlockKeys * 4;
  static constexpr size_t kRedOff = kOnesOff + size_t(kBlockKeys) * 4;
  static constexpr size_t kPartOff = kRedOff + size_t(kRowTiles) * kKeyGroups * 16 * 4;
  static constexpr size_t kValidOff =
      kPartOff + (kDimGroups > 1 ? size_t(kRowTiles) * kDimGroups * 16 * kBlockKeys * 4 : 0);
  static constexpr size_t kSmemBytes = round_up(kValidOff + kBlockKeys, 16);
};

// Segments [s0, s1) of dimension group dg: an even share of the row's segments.
template <class Cta>
MLA_DEVICE MLA_FORCEINLINE void dim_group_segments(int dg, int* s0, int* s1) {
  *s0 = dg * Cta::kSegments / Cta::kDimGroups;
  *s1 = (dg + 1) * Cta::kSegments / Cta::kDimGroups;
}

template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, Cta::kMinBlocks)
    sparse_decode_kernel(const DecodeLaunch L) {
  using Tile = typename Cta::Tile;
  using Fmt = typename Cta::Fmt;
  using Acc = typename Tile::Acc;
  using Hw = typename Tile::Hw;
  constexpr int kSlots = Tile::kRowSlots;
  constexpr int kBlockKeys = Cta::kBlockKeys;

#if defined(MLA_GPU_HIP)
  // Static on HIP: the code object then states the LDS size, which CI checks against 64 KiB.
  __shared__ __align__(16) uint8_t smem[Cta::kSmemBytes];
#else
  extern __shared__ __align__(16) uint8_t smem[];  // over 48 KiB: dynamic on CUDA
#endif
  bf16_bits* const q_s = reinterpret_cast<bf16_bits*>(smem + Cta::kQOff);
  bf16_bits* const k_s = reinterpret_cast<bf16_bits*>(smem + Cta::kKOff);
  float* const p_s = reinterpret_cast<float*>(smem + Cta::kPOff);
  float* const fs_s = reinterpret_cast<float*>(smem + Cta::kFsOff);      // [tile][key]
  float* const ones_s = reinterpret_cast<float*>(smem + Cta::kOnesOff);  // [key]
  float* const red_s = reinterpret_cast<float*>(smem + Cta::kRedOff);    // [rt][kg][16]
  float* const part_s = reinterpret_cast<float*>(smem + Cta::kPartOff);  // [rt][dg][16][key]
  uint8_t* const valid_s = smem + Cta::kValidOff;                        // [key]

  const int tid = int(threadIdx.x);
  const int unit = tid / Tile::kLanes, lane = tid % Tile::kLanes;
  const int rt = unit / Cta::kTileUnits, u = unit % Cta::kTileUnits;
  const int kg = u / Cta::kDimGroups, dg = u % Cta::kDimGroups;

  // Which row, heads and key range (decode_plan.h: cta = (row * head_tiles + ht) * splits + split).
  const CtaWork w(L, Cta::kRows);
  const int64_t bi = w.bi, si = w.si, h0 = w.h0, k_begin = w.k_begin, k_end = w.k_end;
  const int nh = w.nh;
  const int n_blocks = int((k_end - k_begin + kBlockKeys - 1) / kBlockKeys);
  const RowKeys keys(L.p, bi, si);

  // Block 0's loads; the index of block 1 in flight.
  typename Cta::Loader loader;
  {
    const int64_t j = k_begin + loader.key;
    loader.issue(L.p, j, k_end, j < k_end ? keys.index(j) : -1);
  }
  int32_t next_index = -1;
  {
    const int64_t j = k_begin + kBlockKeys + loader.key;
    if (j < k_end) next_index = keys.index(j);
  }
  load_queries<Cta::kDim, Fmt::kNopeDim, Fmt::kCodeValues, Cta::kThreads, Hw>(
      L.p, bi, si, h0, nh, Cta::kRows, q_s, Cta::kPitch);
  for (int k = tid; k < kBlockKeys; k += Cta::kThreads) ones_s[k] = 1.0f;

  Acc o[Cta::kColTiles];
#pragma unroll
  for (int t = 0; t < Cta::kColTiles; ++t) zero<Tile>(o[t]);
  RowSoftmax<Tile> sm;
  const float score_scale = L.p.scale * kLog2e;
  const int col0 = u * Cta::kUnitCols;  // this unit's first output column
  int seg0, seg1;
  dim_group_segments<Cta>(dg, &seg0, &seg1);

  for (int blk = 0; blk < n_blocks; ++blk) {
    loader.template store<Hw>(k_s, Cta::kPitch, fs_s, valid_s);
    if (blk + 1 < n_blocks) {
      const int64_t j = k_begin + int64_t(blk + 1) * kBlockKeys + loader.key;
      loader.issue(L.p, j, k_end, next_index);
      const int64_t j2 = j + kBlockKeys;
      next_index = j2 < k_end ? keys.index(j2) : -1;
    }
    __syncthreads();  // the key block, its scale factors and validity are in shared memory

    // S = Q K^T for this unit's 16 heads and kUnitKeys keys, over its segments.
    Acc s[Cta::kKeyTiles];
#pragma unroll
    for (int t = 0; t < Cta::kKeyTiles; ++t) zero<Tile>(s[t]);
    {
      const bf16_bits* qa = q_s + rt * 16 * Cta::kPitch;
      const bf16_bits* kb = k_s + kg * Cta::kUnitKeys * Cta::kPitch;
      for (int sg = seg0; sg < seg1; ++sg) {
        Acc a_sg[Cta::kKeyTiles];
#pragma unroll
        for (int t = 0; t < Cta::kKeyTiles; ++t) zero<Tile>(a_sg[t]);
        const int k0 = segment_begin<Fmt>(sg), k1 = segment_end<Fmt>(sg);
#pragma unroll 2
        for (int ks = k0; ks < k1; ks += 16) {
          typename Tile::A a;
          Tile::load_a(a, qa + ks, Cta::kPitch);
#pragma unroll
          for (int t = 0; t < Cta::kKeyTiles; ++t) {
            typename Tile::B b;
            Tile::load_b_nk(b, kb + 16 * t * Cta::kPitch + ks, Cta::kPitch);
            Tile::mma(a_sg[t], a, b);
          }
        }
        // Fold the segment in: a scale tile times its keys' factors, the rope as it is.
        const float* fs = sg < scaled_segments<Fmt>() ? fs_s + sg * kBlockKeys : nullptr;
#pragma unroll
        for (int t = 0; t < Cta::kKeyTiles; ++t)
#pragma unroll
          for (int e = 0; e < Tile::kAccRegs; ++e) {
            const int key = kg * Cta::kUnitKeys + 16 * t + Tile::acc_col(lane, e);
            s[t].v[e] += fs != nullptr ? a_sg[t].v[e] * (fs[key] * kScoreUnshift) : a_sg[t].v[e];
          }
      }
    }
    if constexpr (Cta::kDimGroups > 1) {  // add the dimension groups' parts, in dg order
      float* mine = part_s + (rt * Cta::kDimGroups + dg) * 16 * kBlockKeys + kg * Cta::kUnitKeys;
#pragma unroll
      for (int t = 0; t < Cta::kKeyTiles; ++t)
#pragma unroll
        for (int e = 0; e < Tile::kAccRegs; ++e)
          mine[Tile::acc_row(lane, e) * kBlockKeys + 16 * t + Tile::acc_col(lane, e)] = s[t].v[e];
      __syncthreads();
      const float* all = part_s + rt * Cta::kDimGroups * 16 * kBlockKeys + kg * Cta::kUnitKeys;
#pragma unroll
      for (int t = 0; t < Cta::kKeyTiles; ++t)
#pragma unroll
        for (int e = 0; e < Tile::kAccRegs; ++e) {
          const int at = Tile::acc_row(lane, e) * kBlockKeys + 16 * t + Tile::acc_col(lane, e);
          float sum = all[at];
#pragma unroll
          for (int d = 1; d < Cta::kDimGroups; ++d) sum += all[d * 16 * kBlockKeys + at];
          s[t].v[e] = sum;
        }
    }
    // Scale into base-2 units; skipped keys to -inf.
#pragma unroll
    for (int t = 0; t < Cta::kKeyTiles; ++t)
#pragma unroll
      for (int e = 0; e < Tile::kAccRegs; ++e) {
        const int key = kg * Cta::kUnitKeys + 16 * t + Tile::acc_col(lane, e);
        s[t].v[e] = valid_s[key] ? s[t].v[e] * score_scale : neg_inf();
      }
    float mx[kSlots];
    RowSoftmax<Tile>::block_max(s, mx);
    if (dg == 0 && Tile::row_leader(lane))
#pragma unroll
      for (int r = 0; r < kSlots; ++r)
        red_s[(rt * Cta::kKeyGroups + kg) * 16 + Tile::slot_row(lane, r)] = mx[r];
    __syncthreads();  // every key group's block maxima

    float block[kSlots], alpha[kSlots], sub[kSlots];
#pragma unroll
    for (int r = 0; r < kSlots; ++r) {
      const int hr = Tile::slot_row(lane, r);
      block[r] = neg_inf();
#pragma unroll
      for (int g = 0; g < Cta::kKeyGroups; ++g)
        block[r] = fmaxf(block[r], red_s[(rt * Cta::kKeyGroups + g) * 16 + hr]);
    }
    sm.advance(block, alpha, sub);
    sm.exponentiate(s, sub);
    if (dg == 0)
#pragma unroll
      for (int t = 0; t < Cta::kKeyTiles; ++t)
        Tile::store_f32(s[t], p_s + rt * 16 * Cta::kPPitch + kg * Cta::kUnitKeys + 16 * t,
                        Cta::kPPitch);
    scale_rows<Tile>(o, alpha);
    __syncthreads();  // P of the whole block

    // O += P V over the block's keys, for this unit's value columns; the A operand of a column
    // tile is P times the factors of its segment.
    {
      const float* pa = p_s + rt * 16 * Cta::kPPitch;
#pragma unroll 1
      for (int kk = 0; kk < kBlockKeys; kk += 16) {
        typename Tile::A a;
        int a_seg = -1;
#pragma unroll
        for (int t = 0; t < Cta::kColTiles; ++t) {
          const int col = col0 + 16 * t;
          const int sg = segment_of_column<Fmt>(col);
          if (sg != a_seg) {
            const float* f = sg < scaled_segments<Fmt>() ? fs_s + sg * kBlockKeys : ones_s;
            Tile::load_a_scaled(a, pa + kk, Cta::kPPitch, f + kk);
            a_seg = sg;
          }
          typename Tile::B b;
          Tile::load_b_kn(b, k_s + kk * Cta::kPitch + col, Cta::kPitch);
          Tile::mma(o[t], a, b);
        }
      }
    }
    __syncthreads();  // the key block, P, the maxima and the partial scores are free again
  }

  // The sums of the rows: lane parts across lanes, then key-group parts in group order.
#pragma unroll
  for (int r = 0; r < kSlots; ++r) {
    const float part = Tile::row_sum(sm.l[r]);
    if (dg == 0 && Tile::row_leader(lane))
      red_s[(rt * Cta::kKeyGroups + kg) * 16 + Tile::slot_row(lane, r)] = part;
  }
  __syncthreads();

  const bool partial = L.splits > 1;
  float factor[kSlots];
#pragma unroll
  for (int r = 0; r < kSlots; ++r) {
    const int hr = Tile::slot_row(lane, r);
    float sum = 0.0f;
#pragma unroll
    for (int g = 0; g < Cta::kKeyGroups; ++g) sum += red_s[(rt * Cta::kKeyGroups + g) * 16 + hr];
    const int hl = rt * 16 + hr;     // head within the CTA
    const bool empty = sum == 0.0f;  // a NaN sum (a NaN key) gives NaN lse and out
    const float lse = empty ? 0.0f : (sm.m[r] + log2f(sum)) * kLn2;
    if (partial) {
      factor[r] = empty ? 0.0f : 1.0f / sum;
      if (u == 0 && Tile::row_leader(lane) && hl < nh)
        L.lse_part[int64_t(blockIdx.x) * Cta::kRows + hl] = empty ? neg_inf() : lse;
    } else {
      // Padded heads (hl >= nh) are never written: their sink, past h_q, is not read.
      factor[r] =
          (empty || hl >= nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, h0 + hl, lse) / sum;
      if (u == 0 && Tile::row_leader(lane) && hl < nh) {
        L.p.lse[bi * L.p.lse_sb + (h0 + hl) * L.p.lse_sh + si * L.p.lse_ss] =
            empty ? -neg_inf() : lse;
        if (L.max_logits != nullptr)
          L.max_logits[bi * L.ml_sb + (h0 + hl) * L.ml_sh] = empty ? neg_inf() : sm.m[r] * kLn2;
      }
    }
  }
  scale_rows<Tile>(o, factor);
  const float out_unshift = float_of(uint32_t(127 + kOutShift) << 23);
#pragma unroll
  for (int t = 0; t < Cta::kColTiles; ++t) {
    const bool scaled = segment_of_column<Fmt>(col0 + 16 * t) < scaled_segments<Fmt>();
#pragma unroll
    for (int e = 0; e < Tile::kAccRegs; ++e) o[t].v[e] *= scaled ? out_unshift : 1.0f;
  }

  if (partial) {  // fp32 partials of the rows this lane holds, straight from the registers
    float* rows[kSlots];
#pragma unroll
    for (int r = 0; r < kSlots; ++r) {
      const int hl = rt * 16 + Tile::slot_row(lane, r);
      rows[r] = hl < nh ? L.o_part + (int64_t(blockIdx.x) * Cta::kRows + hl) * kDv : nullptr;
    }
#pragma unroll
    for (int t = 0; t < Cta::kColTiles; ++t)
#pragma unroll
      for (int e = 0; e < Tile::kAccRegs; ++e) {
        float* dst = rows[Tile::acc_slot(e)];
        if (dst != nullptr) dst[col0 + 16 * t + Tile::acc_col(lane, e)] = o[t].v[e];
      }
    return;
  }
  // bf16 outputs through shared memory (q's rows, free now), then whole 16-byte pieces per row.
  constexpr int kOutPitch = kDv + 8;
  static_assert(size_t(Cta::kRows) * kOutPitch * 2 <= Cta::kKOff - Cta::kQOff, "fits q's rows");
  bf16_bits* const stage = q_s;
#pragma unroll
  for (int t = 0; t < Cta::kColTiles; ++t)
    Tile::store_bf16(o[t], stage + rt * 16 * kOutPitch + col0 + 16 * t, kOutPitch);
  __syncthreads();
  store_output_rows<Cta::kThreads>(L, w, stage, kOutPitch);
}

}  // namespace mla::attn
