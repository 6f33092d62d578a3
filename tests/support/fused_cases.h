// Inputs of the small fused ops with their expectations written plainly from SPEC 7 (float64
// for merge_state and norm_rope, exact copies for the concatenations): random bit patterns for
// the copies, empty and NaN-carrying states for merge_state, rows of very different scales and
// positions outside the table for norm_rope, over every layout of layout_view.h. Host and GPU
// suites share them.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "layout_view.h"

namespace mlatest {

// fp32 math rounded once to bf16: within one bf16 step of the float64 value.
constexpr Tol kFusedBf16{1e-5, 2.01 / 256, -1.0};
constexpr Tol kFusedLse{1e-6, 2.01 / 65536, -1.0};

// ---- concat_mla_k / concat_mla_absorb_q ----

struct ConcatSpec {
  bool absorb_q = false;
  int64_t n = 5, h = 3;
  bool two_d = false;  // absorb_q over [N, D] tensors
  Layout layout = Layout::Contiguous;
  std::string name() const;
};

struct ConcatCase {
  ConcatSpec spec;
  View a, b, out;  // k_nope, k_rope, k for concat_mla_k
  mla_status run(mla_context ctx, const mla_tensor* a, const mla_tensor* b,
                 const mla_tensor* out) const;
  mla_status run(mla_context ctx) { return run(ctx, a.ptr(), b.ptr(), out.ptr()); }
  ::testing::AssertionResult check(const View& out) const;  // bit-exact, gaps untouched
};

std::unique_ptr<ConcatCase> make_concat_case(const ConcatSpec& spec, Rng& rng);
std::vector<ConcatSpec> concat_sweep();

// ---- merge_state ----

struct MergeSpec {
  int64_t n = 40, h = 4, d = 512;
  Layout layout = Layout::Contiguous;
  bool lse_out = true;
  bool transposed_lse = false;  // vLLM's [H, N] lse, passed as a transposed view
  std::string name() const;
};

struct MergeCase {
  MergeSpec spec;
  View v_a, v_b, lse_a, lse_b, v_out, lse_out;
  std::vector<double> want_v, want_lse;  // [n][h][d], [n][h]
  mla_merge_state_args args();
  ::testing::AssertionResult check(const View& v_out, const View& lse_out) const;
  ::testing::AssertionResult check() const { return check(v_out, lse_out); }
};

std::unique_ptr<MergeCase> make_merge_case(const MergeSpec& spec, Rng& rng);
std::vector<MergeSpec> merge_sweep();

// ---- norm_rope ----

struct NormRopeSpec {
  int64_t n = 24, h = 3;  // h = 0: [N, D] tensors
  int64_t d = 512;
  Layout layout = Layout::Contiguous;
  int weight = 0;  // 0 none, 1 bf16, 2 fp32
  bool normalize = true, inverse = false, in_place = false, pos64 = false;
  int table_layout = MLA_ROPE_TABLE_HALVES;
  float eps = 1e-6f;
  int64_t max_pos = 300;
  std::string name() const;
};

struct NormRopeCase {
  NormRopeSpec spec;
  View x, weight, positions, table, out;  // in place: the result lands in x
  std::vector<double> want;               // [n][h][d]
  mla_norm_rope_args args();
  const View& result() const { return spec.in_place ? x : out; }
  ::testing::AssertionResult check(const View& result) const;
  ::testing::AssertionResult check() const { return check(result()); }
};

std::unique_ptr<NormRopeCase> make_norm_rope_case(const NormRopeSpec& spec, Rng& rng);
std::vector<NormRopeSpec> norm_rope_sweep();

// gtest prints parameters by name.
inline void PrintTo(const ConcatSpec& s, std::ostream* os) {
  *os << s.name();
}
inline void PrintTo(const MergeSpec& s, std::ostream* os) {
  *os << s.name();
}
inline void PrintTo(const NormRopeSpec& s, std::ostream* os) {
  *os << s.name();
}

}  // namespace mlatest
