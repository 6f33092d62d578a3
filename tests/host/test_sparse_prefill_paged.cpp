// Host backend sparse prefill from a paged FP8 cache (SPEC 4.1) against the float64 reference
// over the plainly dequantized cache (tolerances of SPEC 8), the edge cases of SPEC 0 and 8,
// and the contract of mla_attention.h: the same bits as mla_kv_gather of every slot followed
// by mla_sparse_prefill.
#include <climits>
#include <cmath>

#include "attention_cases.h"
#include "case_lists.h"
#include "host_context.h"

using namespace mlatest;

class PagedPrefillSweep : public ::testing::TestWithParam<PagedPrefillSpec> {};

TEST_P(PagedPrefillSweep, MatchesFloat64Reference) {
  Rng rng(fresh_seed());
  auto c = make_paged_prefill_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(), "host");
  EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
}

INSTANTIATE_TEST_SUITE_P(Spec, PagedPrefillSweep, ::testing::ValuesIn(paged_prefill_sweep()),
                         [](const auto& info) { return info.param.name(); });

namespace {

PagedPrefillSpec small(int format, bool fnuz = false, int64_t page_size = 5) {
  PagedPrefillSpec s;
  s.format = format;
  s.fnuz = fnuz;
  s.s_q = 3;
  s.h_q = 4;
  s.topk = 40;
  s.page_size = page_size;
  return s;
}

struct Outputs {
  Tensor out, max_logits, lse;
};

// Fresh poisoned outputs of the case's layout.
Outputs fresh_outputs(const PagedPrefillCase& c) {
  Outputs o{c.out, c.max_logits, c.lse};
  poison(o.out);
  poison(o.max_logits);
  poison(o.lse);
  return o;
}

::testing::AssertionResult same_bits(const Outputs& a, const PagedPrefillCase& c) {
  if (!unchanged(a.out.bytes, c.out.bytes)) return ::testing::AssertionFailure() << "out differs";
  if (!unchanged(a.max_logits.bytes, c.max_logits.bytes))
    return ::testing::AssertionFailure() << "max_logits differs";
  if (!unchanged(a.lse.bytes, c.lse.bytes)) return ::testing::AssertionFailure() << "lse differs";
  return ::testing::AssertionSuccess();
}

// mla_kv_gather of every slot of the case's cache into bf16 [num_slots, 1, d_qk], then
// mla_sparse_prefill with the case's indices, lengths, sink and scale.
Outputs gather_then_prefill(HostContext& ctx, PagedPrefillCase& c) {
  const int64_t n = c.kv->slots(), d = c.kv->row_dim();
  Tensor slots(dt_i32(), {n}), rows(dt_bf16(), {n, d});
  for (int64_t i = 0; i < n; ++i) slots.at<int32_t>({i}) = int32_t(i);
  mla_kv_gather_args g{&c.kv->desc, slots.ptr(), rows.ptr()};
  EXPECT_EQ(mla_kv_gather(ctx.get(), &g, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  mla_tensor kv = rows.desc;
  kv.ndim = 3;
  kv.shape[2] = d, kv.strides[2] = 1;
  kv.shape[1] = 1, kv.strides[1] = d;
  const mla_tensor idx = c.indices_3d();
  Outputs o = fresh_outputs(c);
  const mla_sparse_prefill_paged_args p = c.args();
  const mla_sparse_prefill_args a{p.q,         &kv,
                                  &idx,        p.topk_length,
                                  p.attn_sink, p.softmax_scale,
                                  o.out.ptr(), o.max_logits.ptr(),
                                  o.lse.ptr()};
  EXPECT_EQ(ctx.prefill(a), MLA_STATUS_SUCCESS) << mla_last_error();
  return o;
}

// Row t of a tensor whose dimension 0 is the query token, as a tensor of one token.
mla_tensor row_view(const mla_tensor& t, int64_t r) {
  mla_tensor v = t;
  v.data = static_cast<uint8_t*>(t.data) + r * t.strides[0] * (t.dtype.bits / 8);
  v.shape[0] = 1;
  return v;
}

}  // namespace

// The contract of mla_attention.h: gather every slot, then prefill over the rows, gives the
// same bits (the host backend reads the same bf16 key values through the same code).
TEST(SparsePrefillPaged, EqualsGatherOfEverySlotThenSparsePrefillBitForBit) {
  Rng rng(fresh_seed());
  HostContext ctx;
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40})
    for (bool fnuz : {false, true})
      for (int64_t page : {1, 53, 64}) {
        PagedPrefillSpec s = small(format, fnuz, page);
        s.h_q = 19, s.topk = 150, s.sink = true, s.lengths = page != 53;
        s.strided = page == 1, s.flat_indices = page == 64;
        auto c = make_paged_prefill_case(s, rng);
        ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
        EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse)) << s.name();
        EXPECT_TRUE(same_bits(gather_then_prefill(ctx, *c), *c)) << s.name();
      }
}

// SPEC 0: every int32 value is a legal index; only [0, num_slots) is read. The slots next to
// the bounds hold written rows, every other slot NaN.
TEST(SparsePrefillPaged, IndicesOfAnyInt32Value) {
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    PagedPrefillSpec s = small(format, false, 7);
    s.topk = 12;
    auto c = make_paged_prefill_case(s, rng, [](PagedPrefillCase& c) {
      const int32_t n = int32_t(c.kv->slots());
      const int32_t values[12] = {INT_MIN, -1,    0,           INT_MAX,     n,     n - 1,
                                  -2,      n + 1, INT_MAX - 1, INT_MIN + 1, n / 2, -n};
      for (int64_t t = 0; t < c.spec.s_q; ++t)
        for (int64_t j = 0; j < c.spec.topk; ++j) c.index(t, j) = values[(j + t) % 12];
    });
    HostContext ctx;
    ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
    for (int64_t t = 0; t < s.s_q; ++t)  // three valid keys per row: finite results
      EXPECT_TRUE(std::isfinite(c->lse.at<float>({t, 0})));
  }
}

// Rows 0-2 have no valid key: every index invalid, or a length of 0 over the indices of row 3,
// whose keys are written (so that a read past a length would show).
TEST(SparsePrefillPaged, RowsWithoutValidKeysGiveZeroInfAndMinusInf) {
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    for (bool zero_lengths : {false, true}) {
      PagedPrefillSpec s = small(format, true, 2);
      s.s_q = 4;
      s.sink = true;
      s.lengths = zero_lengths;
      s.invalid_rate = zero_lengths ? 0.0 : 1.0;  // -1, other negatives, out of range
      s.fixed_len = {0, 0, 0, int32_t(s.topk)};
      auto c = make_paged_prefill_case(s, rng, [](PagedPrefillCase& c) {
        for (int64_t t = 0; t < 3; ++t)
          for (int64_t j = 0; j < c.spec.topk; ++j)
            if (c.spec.lengths) c.index(t, j) = c.index(3, j);
      });
      HostContext ctx;
      ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
      for (int64_t t = 0; t < 3; ++t)
        for (int64_t h = 0; h < s.h_q; ++h) {
          EXPECT_EQ(c->lse.at<float>({t, h}), INFINITY);
          EXPECT_EQ(c->max_logits.at<float>({t, h}), -INFINITY);
          for (int64_t x = 0; x < 512; ++x) ASSERT_EQ(c->out.at<uint16_t>({t, h, x}), 0);
        }
      EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
    }
  }
}

// Lengths clamp to [0, topk]; positions past a length are never read (they reach NaN slots).
TEST(SparsePrefillPaged, ZeroNegativeAndOversizedLengths) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V32, false, 53);
  s.s_q = 5;
  s.lengths = true;
  s.invalid_rate = 0.0;
  s.fixed_len = {0, -5, 1000, 1, 39};
  auto c = make_paged_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
  for (int64_t h = 0; h < s.h_q; ++h) {
    EXPECT_EQ(c->lse.at<float>({0, h}), INFINITY);
    EXPECT_EQ(c->lse.at<float>({1, h}), INFINITY);
    EXPECT_TRUE(std::isfinite(c->lse.at<float>({2, h})));
    EXPECT_EQ(c->max_logits.at<float>({3, h}), c->lse.at<float>({3, h}));  // one key
  }
}

TEST(SparsePrefillPaged, SinkOfPlusInfinityZeroesAndMinusInfinityChangesNothing) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V40, false, 64);
  s.invalid_rate = 0.0;
  s.sink = true;
  auto c = make_paged_prefill_case(s, rng, [](PagedPrefillCase& c) {
    for (int64_t h = 0; h < c.spec.h_q; ++h) c.sink.at<float>({h}) = h % 2 ? INFINITY : -INFINITY;
  });
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
  Outputs none = fresh_outputs(*c);
  auto a = c->args();
  a.attn_sink = nullptr;
  a.out = none.out.ptr(), a.max_logits = none.max_logits.ptr(), a.lse = none.lse.ptr();
  ASSERT_EQ(ctx.prefill_paged(a), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(unchanged(none.lse.bytes, c->lse.bytes)) << "lse is returned without the sink";
  EXPECT_TRUE(unchanged(none.max_logits.bytes, c->max_logits.bytes));
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h)
      for (int64_t x = 0; x < 512; ++x) {
        const uint16_t with = c->out.at<uint16_t>({t, h, x});
        if (h % 2)
          ASSERT_EQ(bf16_value(with), 0.0) << "+inf sink must zero the output";
        else
          ASSERT_EQ(with, none.out.at<uint16_t>({t, h, x})) << "-inf sink must change nothing";
      }
}

// Every page size of SPEC 8 with both formats and both flavours (NaN in every unused slot).
TEST(SparsePrefillPaged, PageSizesFormatsAndFlavours) {
  Rng rng(fresh_seed());
  HostContext ctx;
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40})
    for (bool fnuz : {false, true})
      for (int64_t page : {1, 2, 53, 61, 64, 69, 256}) {
        PagedPrefillSpec s = small(format, fnuz, page);
        s.lengths = page % 2 == 1;
        s.sink = page > 60;
        auto c = make_paged_prefill_case(s, rng);
        ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
        EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse)) << s.name();
      }
}

// Strided q, indices, lengths, sink and outputs, a padded page stride, and both index layouts
// give the bits of the contiguous call.
TEST(SparsePrefillPaged, StridesAndIndexLayoutsGiveTheSameBits) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V32, false, 53);
  s.s_q = 6, s.h_q = 17, s.topk = 90, s.sink = true, s.lengths = true, s.strided = true;
  auto strided = make_paged_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(strided->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_paged_prefill(*strided, strided->out, strided->max_logits, strided->lse));
  for (bool flat : {false, true}) {
    PagedPrefillSpec d = s;
    d.strided = false, d.flat_indices = flat;
    auto dense = make_paged_prefill_case(d, rng, [&](PagedPrefillCase& c) {
      for (int64_t t = 0; t < s.s_q; ++t) {
        for (int64_t h = 0; h < s.h_q; ++h)
          for (int64_t x = 0; x < 576; ++x)
            c.q.at<uint16_t>({t, h, x}) = strided->q.at<uint16_t>({t, h, x});
        for (int64_t j = 0; j < s.topk; ++j) c.index(t, j) = strided->index(t, j);
        c.len.at<int32_t>({t}) = strided->len.at<int32_t>({t});
      }
      for (int64_t h = 0; h < s.h_q; ++h) c.sink.at<float>({h}) = strided->sink.at<float>({h});
    });
    // The same cache rows: copy the strided cache's pages into the packed one.
    for (int64_t slot = 0; slot < dense->kv->slots(); ++slot) {
      const int64_t n = 656;
      std::memcpy(dense->kv->bytes.data() + dense->kv->nope_offset(slot),
                  strided->kv->bytes.data() + strided->kv->nope_offset(slot), size_t(n));
    }
    ASSERT_EQ(ctx.prefill_paged(dense->args()), MLA_STATUS_SUCCESS) << mla_last_error();
    for (int64_t t = 0; t < s.s_q; ++t)
      for (int64_t h = 0; h < s.h_q; ++h) {
        ASSERT_EQ(dense->lse.at<uint32_t>({t, h}), strided->lse.at<uint32_t>({t, h}));
        ASSERT_EQ(dense->max_logits.at<uint32_t>({t, h}), strided->max_logits.at<uint32_t>({t, h}));
        for (int64_t x = 0; x < 512; ++x)
          ASSERT_EQ(dense->out.at<uint16_t>({t, h, x}), strided->out.at<uint16_t>({t, h, x}))
              << "flat " << flat << " [" << t << "," << h << "," << x << "]";
      }
  }
}

// Run to run the same bits, and a query token alone gives the bits it gets among 64.
TEST(SparsePrefillPaged, DeterministicAndRowIndependent) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V40, true, 64);
  s.s_q = 64, s.h_q = 20, s.topk = 200, s.sink = true, s.lengths = true, s.flat_indices = true;
  auto c = make_paged_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
  Outputs again = fresh_outputs(*c);
  auto a = c->args();
  a.out = again.out.ptr(), a.max_logits = again.max_logits.ptr(), a.lse = again.lse.ptr();
  ASSERT_EQ(ctx.prefill_paged(a), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(same_bits(again, *c)) << "run to run";

  for (int64_t t : {0, 17, 63}) {
    Outputs one = fresh_outputs(*c);
    const mla_tensor q = row_view(c->q.desc, t), idx = row_view(c->idx.desc, t);
    const mla_tensor len = row_view(c->len.desc, t), out = row_view(one.out.desc, t);
    const mla_tensor ml = row_view(one.max_logits.desc, t), lse = row_view(one.lse.desc, t);
    auto r = c->args();
    r.q = &q, r.indices = &idx, r.topk_length = &len, r.out = &out, r.max_logits = &ml;
    r.lse = &lse;
    ASSERT_EQ(ctx.prefill_paged(r), MLA_STATUS_SUCCESS) << mla_last_error();
    for (int64_t h = 0; h < s.h_q; ++h) {
      ASSERT_EQ(one.lse.at<uint32_t>({t, h}), c->lse.at<uint32_t>({t, h})) << t << " " << h;
      ASSERT_EQ(one.max_logits.at<uint32_t>({t, h}), c->max_logits.at<uint32_t>({t, h}));
      for (int64_t x = 0; x < 512; ++x)
        ASSERT_EQ(one.out.at<uint16_t>({t, h, x}), c->out.at<uint16_t>({t, h, x}))
            << t << " " << h << " " << x;
    }
  }
}

TEST(SparsePrefillPaged, NoQueryTokensWritesNothing) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V32);
  s.s_q = 0;
  s.lengths = true;
  auto c = make_paged_prefill_case(s, rng);
  const Bytes out0 = c->out.bytes, ml0 = c->max_logits.bytes, lse0 = c->lse.bytes;
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(unchanged(out0, c->out.bytes) && unchanged(ml0, c->max_logits.bytes) &&
              unchanged(lse0, c->lse.bytes));
}

TEST(SparsePrefillPaged, ManyQueryRows) {
  // s_q beyond 65535 rows (grid limits on GPUs; plain loops here).
  Rng rng(fresh_seed());
  PagedPrefillSpec s = small(MLA_KV_FORMAT_V40, false, 3);
  s.s_q = 70000;
  s.h_q = 1;
  s.topk = 2;
  auto c = make_paged_prefill_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_paged_prefill(*c, c->out, c->max_logits, c->lse));
}
