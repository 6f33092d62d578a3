// Validated problems of the small fused ops (SPEC 7): plain structs of pointers and element
// strides, passed by value to host code and kernels alike.
#pragma once

#include "fast_div.h"

#include "bf16.h"
#include "kv_cache_problem.h"
#include "strided.h"

namespace mla {

// out[n, h] = [a[n, h] | b[n, h]] over rows of d_a and d_b elements. concat_mla_k broadcasts
// b over heads with b_sh = 0.
struct ConcatProblem {
  int64_t n = 0, h = 0, d_a = 0, d_b = 0;
  const bf16_bits* a = nullptr;
  int64_t a_sn = 0, a_sh = 0;
  const bf16_bits* b = nullptr;
  int64_t b_sn = 0, b_sh = 0;
  bf16_bits* out = nullptr;
  int64_t out_sn = 0, out_sh = 0;

  MLA_HD int64_t rows() const { return n * h; }
  MLA_HD int64_t d_out() const { return d_a + d_b; }
  FastDiv heads;  // division by h, set with h

  // The token of a row (token, head) = (row / h, row % h).
  MLA_HD int64_t token_of(int64_t row) const {
    return heads.d == h ? heads.div(row) : row / h;
  }
};

struct MergeStateProblem {
  int64_t n = 0, h = 0, d = 0;
  const bf16_bits* v_a = nullptr;
  int64_t va_sn = 0, va_sh = 0;
  const bf16_bits* v_b = nullptr;
  int64_t vb_sn = 0, vb_sh = 0;
  const float* lse_a = nullptr;
  int64_t la_sn = 0, la_sh = 0;
  const float* lse_b = nullptr;
  int64_t lb_sn = 0, lb_sh = 0;
  bf16_bits* v_out = nullptr;
  int64_t vo_sn = 0, vo_sh = 0;
  float* lse_out = nullptr;  // optional
  int64_t lo_sn = 0, lo_sh = 0;

  MLA_HD int64_t rows() const { return n * h; }
  FastDiv heads;  // division by h, set with h

  // The token of a row (token, head) = (row / h, row % h).
  MLA_HD int64_t token_of(int64_t row) const {
    return heads.d == h ? heads.div(row) : row / h;
  }
};

enum class RopeTable : int32_t { Halves = 0, Interleaved = 1 };  // values of mla_rope_table

constexpr int kRopeDim = 64;  // the rotated tail of every norm_rope row

struct NormRopeProblem {
  int64_t n = 0, h = 0, d = 0;
  int64_t max_pos = 0;  // rows of the cos/sin table
  const bf16_bits* x = nullptr;
  int64_t x_sn = 0, x_sh = 0;
  // In place (out is x): out stays null and results go to x, so that the dispatcher's
  // staging and compare copies, which follow x, stay consistent.
  bf16_bits* out = nullptr;
  int64_t out_sn = 0, out_sh = 0;
  bool in_place = false;
  const void* weight = nullptr;  // optional, bf16 or fp32
  bool weight_f32 = false;
  int64_t weight_s = 0;
  SlotList positions;  // int32 or int64
  const float* table = nullptr;
  int64_t table_s = 0;
  RopeTable layout = RopeTable::Halves;
  bool normalize = false, inverse = false;
  float eps = 0.0f;

  MLA_HD int64_t rows() const { return n * h; }
  MLA_HD bf16_bits* dst() const { return in_place ? const_cast<bf16_bits*>(x) : out; }
  MLA_HD int64_t dst_sn() const { return in_place ? x_sn : out_sn; }
  MLA_HD int64_t dst_sh() const { return in_place ? x_sh : out_sh; }
  FastDiv heads;  // division by h, set with h

  // The token of a row (token, head) = (row / h, row % h).
  MLA_HD int64_t token_of(int64_t row) const {
    return heads.d == h ? heads.div(row) : row / h;
  }
};

}  // namespace mla
