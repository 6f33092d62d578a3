// Host backend sparse decode against the float64 reference (SPEC 3, tolerances of SPEC 8).
#include <cmath>

#include "attention_cases.h"
#include "case_lists.h"
#include "host_context.h"

using namespace mlatest;

class DecodeSweep : public ::testing::TestWithParam<DecodeSpec> {};

TEST_P(DecodeSweep, MatchesFloat64Reference) {
  Rng rng(fresh_seed());
  auto c = make_decode_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_decode(*c, c->out, c->lse));
  EXPECT_STREQ(mla_last_backend(), "host");
}

INSTANTIATE_TEST_SUITE_P(Spec, DecodeSweep, ::testing::ValuesIn(decode_sweep()),
                         [](const auto& info) { return info.param.name(); });

namespace {

DecodeSpec small(int format) {
  DecodeSpec s;
  s.format = format;
  s.h_q = 4;
  s.topk = 32;
  s.page_size = 5;
  return s;
}

}  // namespace

TEST(SparseDecode, AllInvalidRowGivesZeroAndInfiniteLse) {
  for (int f : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    Rng rng(fresh_seed());
    DecodeSpec s = small(f);
    s.invalid_rate = 1.0;  // every index invalid: -1, other negatives, out of range
    s.sink = true;
    auto c = make_decode_case(s, rng);
    HostContext ctx;
    ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
    for (int64_t i = 0; i < s.b; ++i)
      for (int64_t h = 0; h < s.h_q; ++h) {
        EXPECT_EQ(c->lse.at<float>({i, h, 0}), INFINITY);
        for (int64_t x = 0; x < 512; ++x) ASSERT_EQ(c->out.at<uint16_t>({i, 0, h, x}), 0);
      }
  }
}

TEST(SparseDecode, SinkOfPlusInfinityZeroesAndMinusInfinityChangesNothing) {
  Rng rng(fresh_seed());
  DecodeSpec s = small(MLA_KV_FORMAT_V40);
  s.invalid_rate = 0.0;
  s.sink = true;
  auto c = make_decode_case(s, rng);
  for (int64_t h = 0; h < s.h_q; ++h) c->sink.at<float>({h}) = (h % 2) ? INFINITY : -INFINITY;
  HostContext ctx;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  DecodeSpec ns = s;
  ns.sink = false;
  c->spec.sink = false;
  auto no_sink_args = c->args();
  Tensor out2 = c->out, lse2 = c->lse;
  no_sink_args.out = out2.ptr();
  no_sink_args.lse = lse2.ptr();
  ASSERT_EQ(ctx.decode(no_sink_args), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t i = 0; i < s.b; ++i)
    for (int64_t h = 0; h < s.h_q; ++h) {
      EXPECT_EQ(c->lse.at<float>({i, h, 0}), lse2.at<float>({i, h, 0}));  // lse without sink
      for (int64_t x = 0; x < 512; ++x) {
        const uint16_t a = c->out.at<uint16_t>({i, 0, h, x}), b = out2.at<uint16_t>({i, 0, h, x});
        if (h % 2)
          ASSERT_EQ(bf16_value(a), 0.0) << "+inf sink must zero the output";
        else
          ASSERT_EQ(a, b) << "-inf sink must change nothing";
      }
    }
}

TEST(SparseDecode, ZeroNegativeAndOversizedLengthsAndExtraOnly) {
  Rng rng(fresh_seed());
  DecodeSpec s = small(MLA_KV_FORMAT_V32);
  s.b = 4;
  s.extra = true;
  s.extra_topk = 16;
  s.extra_page_size = 3;
  s.lengths = true;
  s.invalid_rate = 0.0;
  // Batch 0: no keys at all; 1: extra keys only; 2: negative and oversized lengths clamp.
  s.fixed_len = {0, 0, -5, 1000};
  s.fixed_extra_len = {0, 16, 1000, -1};
  auto c = make_decode_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_decode(*c, c->out, c->lse));
  for (int64_t h = 0; h < s.h_q; ++h) EXPECT_EQ(c->lse.at<float>({0, h, 0}), INFINITY);
  for (int64_t h = 0; h < s.h_q; ++h) EXPECT_TRUE(std::isfinite(c->lse.at<float>({1, h, 0})));
}

TEST(SparseDecode, DeterministicAndBatchInvariant) {
  Rng rng(fresh_seed());
  DecodeSpec s = small(MLA_KV_FORMAT_V32);
  s.b = 3;
  s.extra = true;
  s.sink = true;
  auto c = make_decode_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS);
  Tensor out1 = c->out;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(unchanged(out1.bytes, c->out.bytes)) << "run to run";
  // The last request alone gives the same bits as inside the batch.
  auto a = c->args();
  mla_tensor q = c->q.desc, idx = c->idx.desc, eidx = c->eidx.desc, out = c->out.desc,
             lse = c->lse.desc;
  for (mla_tensor* t : {&q, &idx, &eidx, &out}) {
    t->data = static_cast<uint8_t*>(t->data) + 2 * t->strides[0] * (t->dtype.bits / 8);
    t->shape[0] = 1;
  }
  lse.data = static_cast<uint8_t*>(lse.data) + 2 * lse.strides[0] * 4;
  lse.shape[0] = 1;
  Tensor before = c->out;
  a.q = &q, a.indices = &idx, a.extra_indices = &eidx, a.out = &out, a.lse = &lse;
  poison(c->out);
  ASSERT_EQ(ctx.decode(a), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t h = 0; h < s.h_q; ++h)
    for (int64_t x = 0; x < 512; ++x)
      ASSERT_EQ(c->out.at<uint16_t>({2, 0, h, x}), before.at<uint16_t>({2, 0, h, x}));
}
