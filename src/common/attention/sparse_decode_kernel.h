// Native sparse decode (SPEC 3), written once over the MMA tile of mma_tile.h.
//
// A CTA takes kRows = 16 kRowTiles query heads of one query row and one key range of that row
// (decode_plan.h). Each row tile has kKeyGroups x kDimGroups MMA units (warps, waves); unit
// (kg, dg) of row tile rt
//   - computes the scores of its 16 heads with keys [kg, kg + 1) x kUnitKeys of each block over
//     dimensions [dg, dg + 1) x kDimPart of d_qk; with kDimGroups > 1 the units add their
//     partial scores through shared memory, in dg order, so all of them hold the same sums;
//   - accumulates output columns [u, u + 1) x kUnitCols (u = kg kDimGroups + dg), P V over all
//     the block's keys.
// Per block of kBlockKeys keys:
//   dequantize the block's keys into shared memory (their loads were issued one block earlier,
//   key_stream.h) | locate the next block's keys | barrier | issue the next block's loads |
//   Q K^T [| partial scores | barrier | sums] | mask, block maxima of the rows exchanged
//   between key groups | barrier | online softmax, P (bf16) to shared memory | barrier | P V |
//   barrier.
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
};

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
  static constexpr int kDimPart = kDim / kDimGroups;
  static constexpr int kPitch = kDim + Tile::kPad;         // bf16 per q / key row in shared memory
  static constexpr int kPPitch = kBlockKeys + Tile::kPad;  // bf16 per P row
  static constexpr int kUnitKeys = kBlockKeys / kKeyGroups;
  static constexpr int kKeyTiles = kUnitKeys / 16;
  static constexpr int kUnitCols = kDv / kTileUnits;
  static constexpr int kColTiles = kUnitCols / 16;
  static_assert(kUnitKeys % 16 == 0 && kUnitCols % 16 == 0 && kDimPart % 16 == 0,
                "whole 16x16 tiles per unit");
  static_assert(kSplitQuantum % kBlockKeys == 0, "key ranges are whole blocks");
  static_assert(kBlockKeys <= kThreads, "one thread locates each key of a block");
  static_assert((kPitch * 2) % 16 == 0 && (kPPitch * 2) % 16 == 0, "16-byte aligned rows");

  using Chunks = KeyChunks<Fmt, kBlockKeys, kThreads>;

  // Shared memory, in bytes: q, the key block, P, the key sources of two blocks, the row
  // statistics exchanged between units, the partial scores of the dimension groups.
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + size_t(kRows) * kPitch * 2;
  static constexpr size_t kPOff = kKOff + size_t(kBlockKeys) * kPitch * 2;
  static constexpr size_t kSrcOff = kPOff + size_t(kRows) * kPPitch * 2;
  static constexpr size_t kRedOff = kSrcOff + 2 * kBlockKeys * sizeof(KeySrc);
  static constexpr size_t kPartOff = kRedOff + size_t(kRowTiles) * kKeyGroups * 16 * 4;
  static constexpr size_t kSmemBytes =
      kPartOff + (kDimGroups > 1 ? size_t(kRowTiles) * kDimGroups * 16 * kBlockKeys * 4 : 0);
};

template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, Cta::kMinBlocks)
    sparse_decode_kernel(const DecodeLaunch L) {
  using Tile = typename Cta::Tile;
  using Fmt = typename Cta::Fmt;
  using Acc = typename Tile::Acc;
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
  bf16_bits* const p_s = reinterpret_cast<bf16_bits*>(smem + Cta::kPOff);
  KeySrc* const src_s = reinterpret_cast<KeySrc*>(smem + Cta::kSrcOff);
  float* const red_s = reinterpret_cast<float*>(smem + Cta::kRedOff);   // [rt][kg][16]
  float* const part_s = reinterpret_cast<float*>(smem + Cta::kPartOff);  // [rt][dg][16][keys]

  const int tid = int(threadIdx.x);
  const int unit = tid / Tile::kLanes, lane = tid % Tile::kLanes;
  const int rt = unit / Cta::kTileUnits, u = unit % Cta::kTileUnits;
  const int kg = u / Cta::kDimGroups, dg = u % Cta::kDimGroups;

  // Which row, heads and key range (decode_plan.h: cta = (row * head_tiles + ht) * splits + split).
  int64_t c = blockIdx.x;
  const int64_t split = c % L.splits;
  c /= L.splits;
  const int64_t ht = c % L.head_tiles;
  const int64_t row = c / L.head_tiles;
  const int64_t bi = row / L.p.s_q, si = row % L.p.s_q;
  const int64_t h0 = ht * Cta::kRows;
  const int nh = int(L.p.h_q - h0 < Cta::kRows ? L.p.h_q - h0 : Cta::kRows);
  const int64_t n_keys = L.p.topk + L.p.extra_topk;
  const int64_t k_begin = split * L.keys_per_split;
  const int64_t k_end = n_keys - k_begin < L.keys_per_split ? n_keys : k_begin + L.keys_per_split;
  const int n_blocks = int((k_end - k_begin + kBlockKeys - 1) / kBlockKeys);
  const RowKeys keys(L.p, bi, si);

  // Block 0's key sources; the indices of block 1 in flight.
  int32_t next_index = -1;
  if (tid < kBlockKeys) {
    const int64_t j = k_begin + tid;
    src_s[tid] = j < k_end ? locate<Fmt>(L.p, j, keys.index(j)) : KeySrc{nullptr, nullptr, 0};
    const int64_t j1 = j + kBlockKeys;
    next_index = j1 < k_end ? keys.index(j1) : -1;
  }
  load_queries<Cta::kDim, Cta::kThreads>(L.p, bi, si, h0, nh, Cta::kRows, q_s, Cta::kPitch);
  __syncthreads();

  typename Cta::Chunks chunks;
  chunks.issue(src_s);

  Acc o[Cta::kColTiles];
#pragma unroll
  for (int t = 0; t < Cta::kColTiles; ++t) zero<Tile>(o[t]);
  RowSoftmax<Tile> sm;
  const float score_scale = L.p.scale * kLog2e;

  for (int blk = 0; blk < n_blocks; ++blk) {
    const KeySrc* const src_cur = src_s + (blk & 1) * kBlockKeys;
    KeySrc* const src_next = src_s + ((blk + 1) & 1) * kBlockKeys;
    chunks.template dequantize<typename Tile::Hw>(k_s, Cta::kPitch);
    if (tid < kBlockKeys) {
      const int64_t j = k_begin + int64_t(blk + 1) * kBlockKeys + tid;
      src_next[tid] = j < k_end ? locate<Fmt>(L.p, j, next_index) : KeySrc{nullptr, nullptr, 0};
      const int64_t j2 = j + kBlockKeys;
      next_index = j2 < k_end ? keys.index(j2) : -1;
    }
    __syncthreads();  // the key block and the next block's sources are in shared memory
    if (blk + 1 < n_blocks) chunks.issue(src_next);

    // S = Q K^T for this unit's 16 heads, kUnitKeys keys and kDimPart dimensions.
    Acc s[Cta::kKeyTiles];
#pragma unroll
    for (int t = 0; t < Cta::kKeyTiles; ++t) zero<Tile>(s[t]);
    {
      const bf16_bits* qa = q_s + rt * 16 * Cta::kPitch + dg * Cta::kDimPart;
      const bf16_bits* kb = k_s + kg * Cta::kUnitKeys * Cta::kPitch + dg * Cta::kDimPart;
#pragma unroll 2
      for (int ks = 0; ks < Cta::kDimPart / 16; ++ks) {
        typename Tile::A a;
        Tile::load_a(a, qa + 16 * ks, Cta::kPitch);
#pragma unroll
        for (int t = 0; t < Cta::kKeyTiles; ++t) {
          typename Tile::B b;
          Tile::load_b_nk(b, kb + 16 * t * Cta::kPitch + 16 * ks, Cta::kPitch);
          Tile::mma(s[t], a, b);
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
        s[t].v[e] = src_cur[key].row != nullptr ? s[t].v[e] * score_scale : neg_inf();
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
        Tile::store_bf16(s[t], p_s + rt * 16 * Cta::kPPitch + kg * Cta::kUnitKeys + 16 * t,
                         Cta::kPPitch);
    scale_rows<Tile>(o, alpha);
    __syncthreads();  // P of the whole block

    // O += P V over the block's keys, for this unit's value columns.
    {
      const bf16_bits* pa = p_s + rt * 16 * Cta::kPPitch;
      const bf16_bits* vb = k_s + u * Cta::kUnitCols;
#pragma unroll 1
      for (int kk = 0; kk < kBlockKeys / 16; ++kk) {
        typename Tile::A a;
        Tile::load_a(a, pa + 16 * kk, Cta::kPPitch);
#pragma unroll
        for (int t = 0; t < Cta::kColTiles; ++t) {
          typename Tile::B b;
          Tile::load_b_kn(b, vb + 16 * kk * Cta::kPitch + 16 * t, Cta::kPitch);
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
    const int hl = rt * 16 + hr;  // head within the CTA
    const bool empty = !(sum > 0.0f);
    const float lse = empty ? 0.0f : (sm.m[r] + log2f(sum)) * kLn2;
    if (partial) {
      factor[r] = empty ? 0.0f : 1.0f / sum;
      if (u == 0 && Tile::row_leader(lane) && hl < nh)
        L.lse_part[int64_t(blockIdx.x) * Cta::kRows + hl] = empty ? neg_inf() : lse;
    } else {
      // Padded heads (hl >= nh) are never written: their sink, past h_q, is not read.
      factor[r] = (empty || hl >= nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, h0 + hl, lse) / sum;
      if (u == 0 && Tile::row_leader(lane) && hl < nh)
        L.p.lse[bi * L.p.lse_sb + (h0 + hl) * L.p.lse_sh + si * L.p.lse_ss] = empty ? -neg_inf() : lse;
    }
  }
  scale_rows<Tile>(o, factor);

#pragma unroll
  for (int t = 0; t < Cta::kColTiles; ++t)
#pragma unroll
    for (int e = 0; e < Tile::kAccRegs; ++e) {
      const int hl = rt * 16 + Tile::acc_row(lane, e);
      if (hl >= nh) continue;
      const int col = u * Cta::kUnitCols + 16 * t + Tile::acc_col(lane, e);
      if (partial) {
        L.o_part[(int64_t(blockIdx.x) * Cta::kRows + hl) * kDv + col] = o[t].v[e];
      } else {
        L.p.out[bi * L.p.out_sb + si * L.p.out_ss + (h0 + hl) * L.p.out_sh + col] =
            float_to_bf16(o[t].v[e]);
      }
    }
}

}  // namespace mla::attn
