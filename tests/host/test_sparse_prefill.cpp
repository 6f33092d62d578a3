// Host backend sparse prefill against the float64 reference (SPEC 4, tolerances of SPEC 8).
#include <cmath>
#include <limits>

#include "attention_cases.h"
#include "case_lists.h"
#include "host_context.h"

using namespace mlatest;

class PrefillSweep : public ::testing::TestWithParam<PrefillSpec> {};

TEST_P(PrefillSweep, MatchesFloat64Reference) {
  Rng rng(fresh_seed());
  auto c = make_prefill_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_prefill(*c, c->out, c->max_logits, c->lse));
}

INSTANTIATE_TEST_SUITE_P(Spec, PrefillSweep, ::testing::ValuesIn(prefill_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(SparsePrefill, EmptyRowsGiveZeroInfAndMinusInf) {
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.s_q = 3;
  s.h_q = 5;
  s.invalid_rate = 1.0;
  s.sink = true;
  auto c = make_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h) {
      EXPECT_EQ(c->lse.at<float>({t, h}), INFINITY);
      EXPECT_EQ(c->max_logits.at<float>({t, h}), -INFINITY);
      for (int64_t x = 0; x < 512; ++x) ASSERT_EQ(c->out.at<uint16_t>({t, h, x}), 0);
    }
}

TEST(SparsePrefill, ManyQueryRows) {
  // s_q beyond 65535 rows must work (grid limits on GPUs; plain loops here).
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.s_q = 70000;
  s.h_q = 1;
  s.topk = 2;
  s.s_kv = 7;
  s.d_qk = 512;
  auto c = make_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_prefill(*c, c->out, c->max_logits, c->lse));
}

// An extreme softmax_scale, as mla_attention.h documents it: logits that overflow to -inf
// weigh 0 (also when a whole first chunk of keys overflows), and a row that holds only such
// keys is a row with no valid key; logits of +inf make out and lse NaN and max_logits +inf.
TEST(SparsePrefill, LogitsThatOverflowFollowTheDocumentedRule) {
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.s_q = 2, s.h_q = 3, s.s_kv = 200, s.topk = 200, s.invalid_rate = 0, s.strided = true;
  auto c = make_prefill_case(s, rng);
  const uint16_t one = 0x3F80, minus_one = 0xBF80;
  for (int64_t t = 0; t < s.s_q; ++t) {
    for (int64_t h = 0; h < s.h_q; ++h)
      for (int64_t x = 0; x < s.d_qk; ++x) c->q.at<uint16_t>({t, h, x}) = one;
    for (int64_t j = 0; j < s.topk; ++j) c->idx.at<int32_t>({t, 0, j}) = int32_t(j);
  }
  // Keys 0..99 are all ones (q.k = 576); keys 100..199 alternate +1 and -1 (q.k = 0 exactly).
  for (int64_t j = 0; j < s.s_kv; ++j)
    for (int64_t x = 0; x < s.d_qk; ++x)
      c->kv.at<uint16_t>({j, 0, x}) = j < 100 || x % 2 == 0 ? one : minus_one;
  HostContext ctx;

  auto a = c->args();
  a.softmax_scale = -std::numeric_limits<float>::max();
  ASSERT_EQ(ctx.prefill(a), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h) {  // the 100 keys of logit 0 share the softmax
      EXPECT_FLOAT_EQ(c->lse.at<float>({t, h}), std::log(100.0f));
      EXPECT_EQ(c->max_logits.at<float>({t, h}), 0.0f);
      for (int64_t x = 0; x < 512; ++x)
        ASSERT_EQ(c->out.at<uint16_t>({t, h, x}), x % 2 == 0 ? one : minus_one) << t << h << x;
    }

  for (int64_t t = 0; t < s.s_q; ++t)  // only the keys of logit -inf
    for (int64_t j = 0; j < s.topk; ++j) c->idx.at<int32_t>({t, 0, j}) = int32_t(j % 100);
  ASSERT_EQ(ctx.prefill(a), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h) {
      EXPECT_EQ(c->lse.at<float>({t, h}), INFINITY);
      EXPECT_EQ(c->max_logits.at<float>({t, h}), -INFINITY);
      for (int64_t x = 0; x < 512; ++x) ASSERT_EQ(c->out.at<uint16_t>({t, h, x}), 0);
    }

  a.softmax_scale = std::numeric_limits<float>::max();
  ASSERT_EQ(ctx.prefill(a), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h) {
      EXPECT_TRUE(std::isnan(c->lse.at<float>({t, h})));
      EXPECT_EQ(c->max_logits.at<float>({t, h}), INFINITY);
      for (int64_t x = 0; x < 512; ++x)
        ASSERT_TRUE(std::isnan(bf16_value(c->out.at<uint16_t>({t, h, x})))) << t << h << x;
    }
  EXPECT_TRUE(gaps_poisoned(c->out) && gaps_poisoned(c->lse) && gaps_poisoned(c->max_logits));
}
