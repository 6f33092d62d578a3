// Random sparse decode and prefill (bf16 rows or a paged cache) problems built the way SPEC 8 asks
// (q clamped to [-1, 1], keys ~ randn/10, NaN in every unused cache slot or kv row, sinks with some
// +-inf, invalid and out-of-range indices, zero lengths, optional non-contiguous tensors), with
// their float64 references. Host and GPU suites share them.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "mla_test.h"

namespace mlatest {

struct DecodeSpec {
  int format = MLA_KV_FORMAT_V32;
  bool fnuz = false;
  int64_t b = 2, s_q = 1, h_q = 16, topk = 64, page_size = 64;
  bool extra = false;
  int64_t extra_topk = 64, extra_page_size = 64;
  bool sink = false, lengths = false, strided = false;
  bool default_scale = false;   // pass softmax_scale = 0
  double invalid_rate = 0.15;   // share of -1, other negative and out-of-range indices
  bool empty_row = false;       // make every index of row (0, 0) invalid
  std::vector<int32_t> fixed_len, fixed_extra_len;  // with lengths: these instead of random
  std::string name() const;
};

struct DecodeCase {
  DecodeSpec spec;
  std::unique_ptr<Cache> kv, extra_kv;
  Tensor q, idx, len, eidx, elen, sink, out, lse;
  float scale = 0;
  std::vector<AttnRowResult> ref;  // [b][s_q][h_q]
  const AttnRowResult& expect(int64_t i, int64_t s, int64_t h) const {
    return ref[size_t((i * spec.s_q + s) * spec.h_q + h)];
  }
  // Arguments over the host tensors.
  mla_sparse_decode_args args();
};

std::unique_ptr<DecodeCase> make_decode_case(const DecodeSpec& spec, Rng& rng);
// out and lse against the float64 reference at SPEC 8 tolerances, plus untouched gaps.
::testing::AssertionResult check_decode(const DecodeCase& c, const Tensor& out, const Tensor& lse);

struct PrefillSpec {
  int64_t s_q = 4, h_q = 16, d_qk = 576, s_kv = 300, topk = 64;
  bool sink = false, lengths = false, strided = false, default_scale = false;
  double invalid_rate = 0.15;
  bool empty_row = false;
  std::string name() const;
};

struct PrefillCase {
  PrefillSpec spec;
  Tensor q, kv, idx, len, sink, out, max_logits, lse;
  float scale = 0;
  std::vector<AttnRowResult> ref;  // [s_q][h_q]
  const AttnRowResult& expect(int64_t t, int64_t h) const {
    return ref[size_t(t * spec.h_q + h)];
  }
  mla_sparse_prefill_args args();
};

std::unique_ptr<PrefillCase> make_prefill_case(const PrefillSpec& spec, Rng& rng);
::testing::AssertionResult check_prefill(const PrefillCase& c, const Tensor& out,
                                         const Tensor& max_logits, const Tensor& lse);

struct PagedPrefillSpec {
  int format = MLA_KV_FORMAT_V40;
  bool fnuz = false;
  int64_t s_q = 4, h_q = 16, topk = 64, page_size = 64;
  bool sink = false, lengths = false, strided = false, default_scale = false;
  bool flat_indices = false;       // indices [s_q, topk] rather than [s_q, 1, topk]
  double invalid_rate = 0.15;      // share of -1, other negative and out-of-range indices
  bool empty_row = false;          // make every index of row 0 invalid
  std::vector<int32_t> fixed_len;  // with lengths: these instead of random
  std::string name() const;
};

// A paged prefill problem: the cache holds NaN in every slot no counted index reaches; the
// float64 reference reads the keys dequantized plainly from the cache bytes (SPEC 2.1, 2.2).
struct PagedPrefillCase {
  PagedPrefillSpec spec;
  std::unique_ptr<Cache> kv;
  Tensor q, idx, len, sink, out, max_logits, lse;
  float scale = 0;
  std::vector<AttnRowResult> ref;  // [s_q][h_q]
  const AttnRowResult& expect(int64_t t, int64_t h) const { return ref[size_t(t * spec.h_q + h)]; }
  int32_t& index(int64_t t, int64_t j) {
    return spec.flat_indices ? idx.at<int32_t>({t, j}) : idx.at<int32_t>({t, 0, j});
  }
  // indices as [s_q, 1, topk] (the layout mla_sparse_prefill takes), whatever the case's
  mla_tensor indices_3d() const;
  mla_sparse_prefill_paged_args args();
};

// `edit`, when given, changes the indices, lengths or sink after they are drawn and before the
// cache rows are written and the reference computed.
std::unique_ptr<PagedPrefillCase> make_paged_prefill_case(
    const PagedPrefillSpec& spec, Rng& rng,
    const std::function<void(PagedPrefillCase&)>& edit = nullptr);
::testing::AssertionResult check_paged_prefill(const PagedPrefillCase& c, const Tensor& out,
                                               const Tensor& max_logits, const Tensor& lse);

}  // namespace mlatest
