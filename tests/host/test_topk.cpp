// Host backend top-k (SPEC 6): the exact contract over ties, NaN and infinities, short rows,
// K = 1 to 4096, the page-table transform, and every validation error.
#include <cmath>

#include "arg_mutation.h"
#include "host_context.h"
#include "indexer_case_lists.h"
#include "topk_order.h"

using namespace mlatest;

namespace {

mla_status host_topk(mla_context ctx, const mla_indexer_topk_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_indexer_topk_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  Bytes ws(bytes);
  return mla_indexer_topk(ctx, &a, ws.data(), bytes, nullptr);
}

}  // namespace

class TopkSweep : public ::testing::TestWithParam<TopkSpec> {};

TEST_P(TopkSweep, ExactContract) {
  Rng rng(fresh_seed());
  auto c = make_topk_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(host_topk(ctx.get(), c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_topk(*c, c->indices, c->raw));
}

INSTANTIATE_TEST_SUITE_P(Spec, TopkSweep, ::testing::ValuesIn(topk_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(IndexerTopk, KeyOrderFollowsTheValues) {
  const float v[] = {-INFINITY, -3e38f, -1.0f, -1e-45f, 0.0f, 1e-45f, 1.0f, 3e38f, INFINITY};
  for (size_t i = 0; i + 1 < sizeof(v) / sizeof(v[0]); ++i)
    EXPECT_LT(mla::topk_key(v[i]), mla::topk_key(v[i + 1])) << v[i];
  EXPECT_EQ(mla::topk_key(-0.0f), mla::topk_key(0.0f));
  EXPECT_LT(mla::topk_key(NAN), mla::topk_key(-INFINITY));
  EXPECT_EQ(mla::topk_key(NAN), mla::topk_key(-NAN));
}

TEST(IndexerTopk, AllEqualRowTakesTheLowestIndices) {
  TopkSpec s;
  s.rows = 2, s.cols = 5000, s.k = 2048, s.lengths = TopkLengths::None;
  Rng rng(fresh_seed());
  auto c = make_topk_case(s, rng);
  for (int64_t x = 0; x < s.cols; ++x) {
    c->logits.at<float>({0, x}) = 1.5f;
    c->logits.at<float>({1, x}) = x % 2 ? NAN : -INFINITY;  // -inf before NaN
  }
  HostContext ctx;
  ASSERT_EQ(host_topk(ctx.get(), c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t x = 0; x < s.k; ++x) {
    ASSERT_EQ(c->indices.at<int32_t>({0, x}), x);
    ASSERT_EQ(c->indices.at<int32_t>({1, x}), 2 * x);
  }
  EXPECT_TRUE(check_topk(*c, c->indices, c->raw));
}

TEST(IndexerTopk, ValidationErrors) {
  using A = mla_indexer_topk_args;
  const mla_status bad = MLA_STATUS_INVALID_ARGUMENT;
  const std::vector<ArgMutation<A>> cases = {
      {"logits NULL", bad, "logits", [](A& a, mla_tensor&) { a.logits = nullptr; }},
      {"logits 1-D", bad, "logits", on(&A::logits, [](mla_tensor& x) { x.ndim = 1; })},
      {"logits bf16", bad, "logits", on(&A::logits, [](mla_tensor& x) { x.dtype = dt_bf16(); })},
      {"logits too wide", bad, "int32",
       on(&A::logits, [](mla_tensor& x) { x.shape[1] = int64_t(1) << 31; })},
      {"next_n negative", bad, "next_n", [](A& a, mla_tensor&) { a.next_n = -1; }},
      {"next_n not dividing", bad, "next_n", [](A& a, mla_tensor&) { a.next_n = 5; }},
      {"starts length", bad, "starts", on(&A::starts, [](mla_tensor& x) { x.shape[0] -= 1; })},
      {"lengths int64", bad, "lengths", on(&A::lengths, [](mla_tensor& x) { x.dtype = dt_i64(); })},
      {"lengths rows", bad, "lengths", on(&A::lengths, [](mla_tensor& x) { x.shape[0] += 1; })},
      {"lengths next_n", bad, "lengths", on(&A::lengths, [](mla_tensor& x) { x.shape[1] = 3; })},
      {"page_table 1-D", bad, "page_table", on(&A::page_table, [](mla_tensor& x) { x.ndim = 1; })},
      {"page_table rows", bad, "page_table",
       on(&A::page_table, [](mla_tensor& x) { x.shape[0] = 5; })},
      {"page_size 0", bad, "page_size", [](A& a, mla_tensor&) { a.page_size = 0; }},
      {"page_size huge", bad, "page_size",
       [](A& a, mla_tensor&) { a.page_size = int64_t(1) << 31; }},
      {"indices K 0", bad, "indices", on(&A::indices, [](mla_tensor& x) { x.shape[1] = 0; })},
      {"indices rows", bad, "indices", on(&A::indices, [](mla_tensor& x) { x.shape[0] -= 2; })},
      {"indices int64", bad, "indices", on(&A::indices, [](mla_tensor& x) { x.dtype = dt_i64(); })},
      {"raw K", bad, "raw_indices", on(&A::raw_indices, [](mla_tensor& x) { x.shape[1] -= 1; })},
      {"raw strided last", bad, "raw_indices",
       on(&A::raw_indices, [](mla_tensor& x) { x.strides[1] = 2; })},
  };
  TopkSpec s;
  s.rows = 8, s.cols = 200, s.k = 16, s.next_n = 2, s.starts = true, s.page_table = true;
  s.table_per_request = true, s.raw = true, s.page_size = 16;
  Rng rng(fresh_seed());
  auto c = make_topk_case(s, rng);
  HostContext ctx;
  const Tensor before = c->indices, raw_before = c->raw;
  for (const auto& m : cases) {
    A a = c->args();
    mla_tensor tmp;
    m.apply(a, tmp);
    EXPECT_EQ(host_topk(ctx.get(), a), m.want) << m.what;
    EXPECT_NE(std::string(mla_last_error()).find(m.names), std::string::npos)
        << m.what << ": " << mla_last_error();
    EXPECT_TRUE(unchanged(before.bytes, c->indices.bytes)) << m.what;
    EXPECT_TRUE(unchanged(raw_before.bytes, c->raw.bytes)) << m.what;
  }
  // Without a table, page_size is not looked at.
  A a = c->args();
  a.page_table = nullptr;
  a.page_size = 0;
  EXPECT_EQ(host_topk(ctx.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
}
