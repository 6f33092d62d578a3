// The online softmax of one MMA unit's query rows over blocks of keys, in base 2 (scores
// arrive multiplied by scale * log2(e)), over the accumulator layout of a Tile.
//
// Each lane keeps, per row it holds (a "slot"), the running maximum m (shared by all units of
// the row: the caller combines the block maxima of the units before advance()) and its own part
// of the running sum l over the columns it holds; the parts are added in a fixed order once,
// at the end. A row that has seen no valid key has m = -inf, l = 0; its subtrahend is then 0,
// so masked scores (-inf) give p = 0 and never NaN.
#pragma once

#include "../bits.h"
#include "mma_tile.h"

namespace mla::attn {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

MLA_DEVICE MLA_FORCEINLINE float neg_inf() {
  return -float_of(0x7f800000u);
}

template <class Tile>
struct RowSoftmax {
  static constexpr int kSlots = Tile::kRowSlots;
  using Acc = typename Tile::Acc;

  float m[kSlots];
  float l[kSlots];

  MLA_DEVICE MLA_FORCEINLINE RowSoftmax() {
#pragma unroll
    for (int r = 0; r < kSlots; ++r) m[r] = neg_inf(), l[r] = 0.0f;
  }

  // The maximum of each held row over the tiles, across the lanes that share the row.
  template <int N>
  MLA_DEVICE MLA_FORCEINLINE static void block_max(const Acc (&s)[N], float (&mx)[kSlots]) {
#pragma unroll
    for (int r = 0; r < kSlots; ++r) mx[r] = neg_inf();
#pragma unroll
    for (int t = 0; t < N; ++t)
#pragma unroll
      for (int e = 0; e < Tile::kAccRegs; ++e)
        mx[Tile::acc_slot(e)] = fmaxf(mx[Tile::acc_slot(e)], s[t].v[e]);
#pragma unroll
    for (int r = 0; r < kSlots; ++r) mx[r] = Tile::row_max(mx[r]);
  }

  // Takes the block maxima of the rows (over all their keys of the block); returns the factor
  // alpha that rescales what was accumulated so far and the subtrahend of this block's scores.
  MLA_DEVICE MLA_FORCEINLINE void advance(const float (&block)[kSlots], float (&alpha)[kSlots],
                                          float (&sub)[kSlots]) {
#pragma unroll
    for (int r = 0; r < kSlots; ++r) {
      const float m_new = fmaxf(m[r], block[r]);
      sub[r] = m_new == neg_inf() ? 0.0f : m_new;
      alpha[r] = exp2f(m[r] - sub[r]);  // 0 while nothing was seen, 1 if the max stays
      m[r] = m_new;
      l[r] *= alpha[r];
    }
  }

  // Scores to probabilities in place; adds them to this lane's part of the sums.
  template <int N>
  MLA_DEVICE MLA_FORCEINLINE void exponentiate(Acc (&s)[N], const float (&sub)[kSlots]) {
#pragma unroll
    for (int t = 0; t < N; ++t)
#pragma unroll
      for (int e = 0; e < Tile::kAccRegs; ++e) {
        const float p = exp2f(s[t].v[e] - sub[Tile::acc_slot(e)]);
        s[t].v[e] = p;
        l[Tile::acc_slot(e)] += p;
      }
  }
};

// Multiplies each row of accumulator tiles by its slot's factor.
template <class Tile, int N>
MLA_DEVICE MLA_FORCEINLINE void scale_rows(typename Tile::Acc (&o)[N],
                                           const float (&f)[Tile::kRowSlots]) {
#pragma unroll
  for (int t = 0; t < N; ++t)
#pragma unroll
    for (int e = 0; e < Tile::kAccRegs; ++e) o[t].v[e] *= f[Tile::acc_slot(e)];
}

}  // namespace mla::attn
