// Host backend sparse prefill against the float64 reference (SPEC 4, tolerances of SPEC 8).
#include <cmath>

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
