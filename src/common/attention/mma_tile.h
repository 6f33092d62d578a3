// The one interface between the shared attention kernels and a vendor's matrix cores: a
// 16x16x16 bf16 product with fp32 accumulation, issued by one MMA unit (a warp of 32 lanes on
// CUDA, a wave of 64 on CDNA). The kernels are written once against it; src/cuda/attention
// and src/hip/attention each hold one type that implements it:
//
//   struct Tile {
//     using Hw;                        // the vendor's fp8/bf16 conversions (fp8_hw_*.h)
//     static constexpr int kLanes;     // lanes of one MMA unit
//     static constexpr int kPad;       // bf16 of padding per shared-memory row (bank spread)
//     static constexpr int kMaxRows;   // most query heads one CTA may hold (shared memory)
//     static constexpr int kAccRegs;   // fp32 accumulators per lane for a 16x16 tile
//     static constexpr int kRowSlots;  // distinct accumulator rows per lane
//     struct A; struct B;              // operand fragments
//     struct Acc { float v[kAccRegs]; };
//
//     // Fragment layout of Acc, as index functions (vendor folder, mma_layout_*.h).
//     static int acc_row(int lane, int e), acc_col(int lane, int e);
//     static int acc_slot(int e), slot_row(int lane, int slot);
//     static bool row_leader(int lane);           // one lane per row writes row results
//     static float row_max(float), row_sum(float);  // over the lanes that share a row
//
//     // Operands from shared memory; `s` points at the tile's (0, 0), `pitch` in elements.
//     static void load_a(A&, const bf16_bits* s, int pitch);     // A[m][k] = s[m][k]
//     static void load_b_nk(B&, const bf16_bits* s, int pitch);  // B[k][n] = s[n][k]
//     static void load_b_kn(B&, const bf16_bits* s, int pitch);  // B[k][n] = s[k][n]
//     static void mma(Acc&, const A&, const B&);                 // Acc += A B
//     static void store_f32(const Acc&, float* s, int pitch);       // the tile, as is
//     static void store_bf16(const Acc&, bf16_bits* s, int pitch);  // the tile, rounded
//     // A[m][k] = bf16(p[m][k] * f[k]) from fp32 rows: probabilities times per-key factors.
//     static void load_a_scaled(A&, const float* p, int pitch, const float* f);
//   };
//
// Shared memory rows are 16-byte aligned; pitches are multiples of 8 elements.
#pragma once

#include "../bf16.h"

namespace mla::attn {

template <class Tile>
MLA_DEVICE MLA_FORCEINLINE void zero(typename Tile::Acc& a) {
#pragma unroll
  for (int e = 0; e < Tile::kAccRegs; ++e) a.v[e] = 0.0f;
}

}  // namespace mla::attn
