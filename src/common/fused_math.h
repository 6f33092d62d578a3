// The per-element math of merge_state and norm_rope (SPEC 7), written once for the host loops
// and the device kernels. fp32 throughout; finiteness is tested on the bits so that every
// compiler and fast-math setting agrees.
#pragma once

#include "bits.h"
#include "fused_problem.h"

namespace mla {

MLA_HD MLA_FORCEINLINE bool finite_f32(float x) {
  return (bits_of(x) & 0x7f800000u) != 0x7f800000u;
}

// Weights of the two states and the merged lse. A non-finite lse (+inf empty-row marker,
// -inf, NaN) means no keys: weight 0, and that side's values are never read.
struct MergeWeights {
  float w_a = 0.0f, w_b = 0.0f;
  float lse = 0.0f;  // both sides empty: +inf, with both weights 0 (v = 0)
};

MLA_HD MLA_FORCEINLINE MergeWeights merge_weights(float lse_a, float lse_b) {
  MergeWeights w;
  const bool has_a = finite_f32(lse_a), has_b = finite_f32(lse_b);
  if (!has_a && !has_b) {
    w.lse = float_of(0x7f800000u);
    return w;
  }
  const float m = !has_b ? lse_a : (!has_a ? lse_b : fmaxf(lse_a, lse_b));
  const float e_a = has_a ? expf(lse_a - m) : 0.0f;
  const float e_b = has_b ? expf(lse_b - m) : 0.0f;
  const float sum = e_a + e_b;  // in [1, 2]
  const float inv = 1.0f / sum;
  w.w_a = e_a * inv;
  w.w_b = e_b * inv;
  w.lse = logf(sum) + m;
  return w;
}

// A side of weight 0 contributes nothing, even a NaN.
MLA_HD MLA_FORCEINLINE float merge_value(const MergeWeights& w, float v_a, float v_b) {
  float acc = 0.0f;
  if (w.w_a > 0.0f) acc += v_a * w.w_a;
  if (w.w_b > 0.0f) acc += v_b * w.w_b;
  return acc;
}

// ---- norm_rope ----

// rsqrt(mean(x^2) + eps) as 1 / sqrt (correctly rounded on every backend). A zero mean with
// eps = 0 is an all-zero row: scale 0 keeps it zero instead of 0 * inf = NaN.
MLA_HD MLA_FORCEINLINE float rms_scale(float sum_sq, int64_t d, float eps) {
  const float ms = sum_sq / float(d) + eps;
  return ms > 0.0f ? 1.0f / sqrtf(ms) : 0.0f;
}

MLA_HD MLA_FORCEINLINE float norm_weight(const NormRopeProblem& p, int64_t i) {
  if (p.weight == nullptr) return 1.0f;
  if (p.weight_f32) return static_cast<const float*>(p.weight)[i * p.weight_s];
  return bf16_to_float(static_cast<const bf16_bits*>(p.weight)[i * p.weight_s]);
}

// The table row of a token, or null where the position is outside the table (no rotation).
MLA_HD MLA_FORCEINLINE const float* rope_row(const NormRopeProblem& p, int64_t n) {
  const int64_t pos = p.positions[n];
  if (pos < 0 || pos >= p.max_pos) return nullptr;
  return p.table + pos * p.table_s;
}

// Rotates the pair (a, b) = (y[2i], y[2i+1]) of the rope part by pair i of a table row.
MLA_HD MLA_FORCEINLINE void rotate_pair(const NormRopeProblem& p, const float* row, int i, float& a,
                                        float& b) {
  const bool halves = p.layout == RopeTable::Halves;
  const float c = row[halves ? i : 2 * i];
  const float s = row[halves ? kRopeDim / 2 + i : 2 * i + 1];
  const float x = a, y = b;
  if (p.inverse) {
    a = x * c + y * s;
    b = y * c - x * s;
  } else {
    a = x * c - y * s;
    b = x * s + y * c;
  }
}

}  // namespace mla
