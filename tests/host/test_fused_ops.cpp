// Host backend of the small fused ops against plainly written SPEC 7 references: bit-exact
// concatenations, merge_state and norm_rope against float64, the empty-state rules, the
// inverse rotation, every layout, and every validation error.
#include <cmath>
#include <functional>

#include "fused_cases.h"
#include "host_context.h"

using namespace mlatest;

class ConcatSweep : public ::testing::TestWithParam<ConcatSpec> {};

TEST_P(ConcatSweep, BitExactCopy) {
  Rng rng(fresh_seed());
  auto c = make_concat_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(c->run(ctx.get()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(c->check(c->out));
}

INSTANTIATE_TEST_SUITE_P(Spec, ConcatSweep, ::testing::ValuesIn(concat_sweep()),
                         [](const auto& info) { return info.param.name(); });

class MergeSweep : public ::testing::TestWithParam<MergeSpec> {};

TEST_P(MergeSweep, MatchesFloat64) {
  Rng rng(fresh_seed());
  auto c = make_merge_case(GetParam(), rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_merge_state(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(c->check());
}

INSTANTIATE_TEST_SUITE_P(Spec, MergeSweep, ::testing::ValuesIn(merge_sweep()),
                         [](const auto& info) { return info.param.name(); });

class NormRopeSweep : public ::testing::TestWithParam<NormRopeSpec> {};

TEST_P(NormRopeSweep, MatchesFloat64) {
  Rng rng(fresh_seed());
  auto c = make_norm_rope_case(GetParam(), rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_norm_rope(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(c->check());
}

INSTANTIATE_TEST_SUITE_P(Spec, NormRopeSweep, ::testing::ValuesIn(norm_rope_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(MergeState, EmptySidesAreExactAndNaNFree) {
  // One row per rule: +inf / -inf / NaN lse on either side, both, and neither.
  const float inf = INFINITY, nan = NAN;
  const float la[] = {inf, 2.0f, inf, -inf, nan, -inf, 1.0f};
  const float lb[] = {2.0f, inf, inf, 0.5f, inf, -inf, 1.0f};
  const int rows = 7;
  View va(dt_bf16(), {rows, 1, 8}), vb(dt_bf16(), {rows, 1, 8}), vo(dt_bf16(), {rows, 1, 8});
  View a(dt_f32(), {rows, 1}), b(dt_f32(), {rows, 1}), lo(dt_f32(), {rows, 1});
  vo.poison();
  lo.poison();
  for (int64_t r = 0; r < rows; ++r) {
    a.at<float>({r, 0}) = la[r];
    b.at<float>({r, 0}) = lb[r];
    for (int64_t i = 0; i < 8; ++i) {
      va.at<uint16_t>({r, 0, i}) = std::isfinite(la[r]) ? bf16_round(1.0 + i) : 0x7FC0;
      vb.at<uint16_t>({r, 0, i}) = std::isfinite(lb[r]) ? bf16_round(-2.0 - i) : 0x7FC0;
    }
  }
  const mla_merge_state_args args{va.ptr(), a.ptr(), vb.ptr(), b.ptr(), vo.ptr(), lo.ptr()};
  HostContext ctx;
  ASSERT_EQ(mla_merge_state(ctx.get(), &args, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  const float want_lse[] = {2.0f, 2.0f, inf, 0.5f, inf, inf, 1.0f + std::log(2.0f)};
  for (int64_t r = 0; r < rows; ++r) {
    if (std::isinf(want_lse[r])) {
      EXPECT_EQ(lo.at<float>({r, 0}), want_lse[r]) << "row " << r;
    } else {
      EXPECT_NEAR(lo.at<float>({r, 0}), want_lse[r], 1e-6) << "row " << r;
    }
    for (int64_t i = 0; i < 8; ++i) {
      const double v = bf16_value(vo.at<uint16_t>({r, 0, i}));
      const double want = r == 0 || r == 3 ? -2.0 - i
                          : r == 1         ? 1.0 + i
                          : r == 6         ? (1.0 + i - 2.0 - i) / 2
                                           : 0.0;
      EXPECT_EQ(v, want) << "row " << r << " col " << i;
    }
  }
}

TEST(NormRope, InverseUndoesTheForwardRotation) {
  for (int layout : {MLA_ROPE_TABLE_HALVES, MLA_ROPE_TABLE_INTERLEAVED}) {
    Rng rng(fresh_seed());
    NormRopeSpec s;
    s.table_layout = layout;
    s.weight = 1;
    auto fwd = make_norm_rope_case(s, rng);
    NormRopeCase ref = *fwd;  // the same inputs, for the norm alone
    HostContext ctx;
    auto a = fwd->args();
    ASSERT_EQ(mla_norm_rope(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    // Undo the rope in place on the output, without the norm.
    a.x = a.out;
    a.normalize = 0;
    a.weight = nullptr;
    a.inverse = 1;
    ASSERT_EQ(mla_norm_rope(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    // The same norm without any rotation: every position outside the table.
    for (int64_t n = 0; n < s.n; ++n) ref.positions.at<int32_t>({n}) = -1;
    auto b = ref.args();
    ASSERT_EQ(mla_norm_rope(ctx.get(), &b, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    // The rotated pair is rounded twice (forward, then the inverse): an element moves by up to
    // 2^-9 sqrt(2) r + 2^-7 |y| <= 0.011 r, r the magnitude of its pair, not of the element
    // (a small element of a large pair can be off by more than its own 1.5%: seen once in CI).
    // The nope columns pass through both calls unchanged.
    int bad = 0;
    for (int64_t e = 0; e < fwd->out.numel(); ++e) {
      const double got = bf16_value(fwd->out.flat<uint16_t>(e));
      const double want = bf16_value(ref.out.flat<uint16_t>(e));
      const bool rope = e % s.d >= s.d - 64;  // pairs (2i, 2i + 1) of the last 64: e and e ^ 1
      const double r = rope ? std::hypot(want, bf16_value(ref.out.flat<uint16_t>(e ^ 1))) : 0.0;
      if (!(std::fabs(got - want) <= r / 64) && bad++ < 5)
        ADD_FAILURE() << "element " << e << (rope ? " (rope)" : " (nope)") << ": got " << got
                      << ", norm only " << want << ", pair magnitude " << r;
    }
    EXPECT_EQ(bad, 0) << "elements beyond 2^-6 of their pair's magnitude (layout " << layout << ")";
  }
}

TEST(NormRope, RopeOnlyLeavesTheNopePartBitExact) {
  Rng rng(fresh_seed());
  NormRopeSpec s;
  s.normalize = false;
  auto c = make_norm_rope_case(s, rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_norm_rope(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h)
      for (int64_t i = 0; i < s.d - 64; ++i)
        ASSERT_EQ(c->out.at<uint16_t>({n, h, i}), c->x.at<uint16_t>({n, h, i}));
}

// ---- validation ----

namespace {

struct Broken {
  const char* what;
  const char* named;  // expected in mla_last_error(); every case is INVALID_ARGUMENT
};

auto edit = [](const mla_tensor*& field, mla_tensor& scratch,
               const std::function<void(mla_tensor&)>& f) {
  scratch = *field;
  f(scratch);
  field = &scratch;
};

template <class Args, class Call>
void check_rejections(
    const std::vector<std::pair<Broken, std::function<void(Args&, mla_tensor&)>>>& cases,
    const Args& valid, const std::vector<const View*>& outputs, Call call) {
  HostContext ctx;
  for (const auto& [b, mutate] : cases) {
    std::vector<View> before;
    for (const View* v : outputs) before.push_back(*v);
    Args args = valid;
    mla_tensor scratch;
    mutate(args, scratch);
    EXPECT_EQ(call(ctx.get(), &args), MLA_STATUS_INVALID_ARGUMENT) << b.what;
    EXPECT_NE(std::string(mla_last_error()).find(b.named), std::string::npos)
        << b.what << ": error '" << mla_last_error() << "' does not name " << b.named;
    for (size_t i = 0; i < outputs.size(); ++i)
      EXPECT_TRUE(bytes_unchanged(before[i], *outputs[i])) << b.what << ": an output was written";
  }
  EXPECT_EQ(call(ctx.get(), nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(call(nullptr, &valid), MLA_STATUS_INVALID_ARGUMENT);
}

}  // namespace

TEST(FusedOps, ConcatRejectsEveryBadArgument) {
  Rng rng(fresh_seed());
  ConcatSpec ks;
  auto k = make_concat_case(ks, rng);
  using K = mla_concat_mla_k_args;
  check_rejections<K>(
      {{{"nope dim 127", "k_nope"},
        [](K& a, mla_tensor& s) { edit(a.k_nope, s, [](mla_tensor& t) { t.shape[2] = 127; }); }},
       {{"float k_nope", "k_nope"},
        [](K& a, mla_tensor& s) { edit(a.k_nope, s, [](mla_tensor& t) { t.dtype = dt_f32(); }); }},
       {{"k_rope per head", "k_rope"},
        [](K& a, mla_tensor& s) { edit(a.k_rope, s, [](mla_tensor& t) { t.shape[1] = 3; }); }},
       {{"k_rope strided last dim", "k_rope"},
        [](K& a, mla_tensor& s) { edit(a.k_rope, s, [](mla_tensor& t) { t.strides[2] = 2; }); }},
       {{"k of other tokens", "k"},
        [](K& a, mla_tensor& s) { edit(a.k, s, [](mla_tensor& t) { t.shape[0] = 4; }); }},
       {{"k is k_nope", "k"}, [](K& a, mla_tensor&) { a.k = a.k_nope; }},
       {{"null k_rope", "k_rope"}, [](K& a, mla_tensor&) { a.k_rope = nullptr; }}},
      K{k->a.ptr(), k->b.ptr(), k->out.ptr()}, {&k->out},
      [](mla_context c, const K* a) { return mla_concat_mla_k(c, a, nullptr); });

  ConcatSpec qs;
  qs.absorb_q = true;
  auto q = make_concat_case(qs, rng);
  using Q = mla_concat_mla_absorb_q_args;
  check_rejections<Q>(
      {{{"4-D a", "a"},
        [](Q& a, mla_tensor& s) {
          edit(a.a, s, [](mla_tensor& t) {
            t.ndim = 4;
            t.shape[3] = 512;
            t.strides[3] = 1;
            t.shape[2] = 1;
          });
        }},
       {{"latent 576", "a"},
        [](Q& a, mla_tensor& s) { edit(a.a, s, [](mla_tensor& t) { t.shape[2] = 576; }); }},
       {{"b rope 63", "b"},
        [](Q& a, mla_tensor& s) { edit(a.b, s, [](mla_tensor& t) { t.shape[2] = 63; }); }},
       {{"b of 2 dims", "b"},
        [](Q& a, mla_tensor& s) {
          edit(a.b, s, [](mla_tensor& t) {
            t.ndim = 2;
            t.shape[1] = 64;
            t.strides[1] = 1;
          });
        }},
       {{"out of other heads", "out"},
        [](Q& a, mla_tensor& s) { edit(a.out, s, [](mla_tensor& t) { t.shape[1] = 2; }); }},
       {{"out is b", "out"}, [](Q& a, mla_tensor&) { a.out = a.b; }}},
      Q{q->a.ptr(), q->b.ptr(), q->out.ptr()}, {&q->out},
      [](mla_context c, const Q* a) { return mla_concat_mla_absorb_q(c, a, nullptr); });
}

TEST(FusedOps, MergeStateRejectsEveryBadArgument) {
  Rng rng(fresh_seed());
  auto m = make_merge_case(MergeSpec{}, rng);
  using A = mla_merge_state_args;
  check_rejections<A>(
      {{{"v_b of other dim", "v_b"},
        [](A& a, mla_tensor& s) { edit(a.v_b, s, [](mla_tensor& t) { t.shape[2] = 256; }); }},
       {{"v_a strided last dim", "v_a"},
        [](A& a, mla_tensor& s) { edit(a.v_a, s, [](mla_tensor& t) { t.strides[2] = 2; }); }},
       {{"bf16 lse_a", "lse_a"},
        [](A& a, mla_tensor& s) { edit(a.lse_a, s, [](mla_tensor& t) { t.dtype = dt_bf16(); }); }},
       {{"lse_b of 3 dims", "lse_b"},
        [](A& a, mla_tensor& s) {
          edit(a.lse_b, s, [](mla_tensor& t) {
            t.ndim = 3;
            t.shape[2] = 1;
          });
        }},
       {{"lse_out of other heads", "lse_out"},
        [](A& a, mla_tensor& s) { edit(a.lse_out, s, [](mla_tensor& t) { t.shape[1] = 5; }); }},
       {{"v_out is v_a", "v_out"}, [](A& a, mla_tensor&) { a.v_out = a.v_a; }},
       {{"null v_out", "v_out"}, [](A& a, mla_tensor&) { a.v_out = nullptr; }}},
      m->args(), {&m->v_out, &m->lse_out},
      [](mla_context c, const A* a) { return mla_merge_state(c, a, nullptr); });
}

TEST(FusedOps, NormRopeRejectsEveryBadArgument) {
  Rng rng(fresh_seed());
  NormRopeSpec spec;
  spec.weight = 2;
  auto c = make_norm_rope_case(spec, rng);
  using A = mla_norm_rope_args;
  check_rejections<A>(
      {{{"odd head dim", "x"},
        [](A& a, mla_tensor& s) { edit(a.x, s, [](mla_tensor& t) { t.shape[2] = 511; }); }},
       {{"head dim below the rope", "x"},
        [](A& a, mla_tensor& s) { edit(a.x, s, [](mla_tensor& t) { t.shape[2] = 62; }); }},
       {{"out of other shape", "out"},
        [](A& a, mla_tensor& s) { edit(a.out, s, [](mla_tensor& t) { t.shape[1] = 2; }); }},
       {{"short weight", "weight"},
        [](A& a, mla_tensor& s) { edit(a.weight, s, [](mla_tensor& t) { t.shape[0] = 448; }); }},
       {{"weight without the norm", "weight"}, [](A& a, mla_tensor&) { a.normalize = 0; }},
       {{"float positions", "positions"},
        [](A& a, mla_tensor& s) {
          edit(a.positions, s, [](mla_tensor& t) { t.dtype = dt_f32(); });
        }},
       {{"half table", "cos_sin"},
        [](A& a, mla_tensor& s) { edit(a.cos_sin, s, [](mla_tensor& t) { t.shape[1] = 32; }); }},
       {{"table layout 2", "table_layout"}, [](A& a, mla_tensor&) { a.table_layout = 2; }},
       {{"normalize 2", "normalize"}, [](A& a, mla_tensor&) { a.normalize = 2; }},
       {{"inverse -1", "inverse"}, [](A& a, mla_tensor&) { a.inverse = -1; }},
       {{"NaN eps", "eps"}, [](A& a, mla_tensor&) { a.eps = NAN; }},
       {{"negative eps", "eps"}, [](A& a, mla_tensor&) { a.eps = -1e-6f; }},
       {{"out on x with other strides", "out"},
        [](A& a, mla_tensor& s) {
          edit(a.out, s, [&a](mla_tensor& t) {
            t.data = a.x->data;
            t.strides[0] += 8;
          });
        }}},
      c->args(), {&c->out, &c->x},
      [](mla_context ctx, const A* a) { return mla_norm_rope(ctx, a, nullptr); });
}
