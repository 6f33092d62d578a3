// Host backend of the V4 prefill index builders against plainly written SPEC 5 integers
// (exact), the engine batches, and every validation error.
#include <functional>

#include "host_context.h"
#include "index_builder_cases.h"

using namespace mlatest;

class SwaIdsSweep : public ::testing::TestWithParam<SwaIdsSpec> {};

TEST_P(SwaIdsSweep, MatchesSpec) {
  Rng rng(fresh_seed());
  auto c = make_swa_ids_case(GetParam(), rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_build_swa_token_ids(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS)
      << mla_last_error();
  EXPECT_TRUE(c->check());
  EXPECT_STREQ(mla_last_backend(), "host");
}

INSTANTIATE_TEST_SUITE_P(Spec, SwaIdsSweep, ::testing::ValuesIn(swa_ids_sweep()),
                         [](const auto& info) { return info.param.name(); });

class CombineSweep : public ::testing::TestWithParam<CombineSpec> {};

TEST_P(CombineSweep, MatchesSpec) {
  Rng rng(fresh_seed());
  auto c = make_combine_case(GetParam(), rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_combine_topk_swa_indices(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS)
      << mla_last_error();
  EXPECT_TRUE(c->check());
}

INSTANTIATE_TEST_SUITE_P(Spec, CombineSweep, ::testing::ValuesIn(combine_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(IndexBuilders, CombinedWidthRoundsTopkPlusWindowUpTo128) {
  EXPECT_EQ(mla_combined_topk_width(512, 128), 640);
  EXPECT_EQ(mla_combined_topk_width(1024, 128), 1152);
  EXPECT_EQ(mla_combined_topk_width(0, 128), 128);
  EXPECT_EQ(mla_combined_topk_width(64, 128), 256);
  EXPECT_EQ(mla_combined_topk_width(1, 1), 128);
  EXPECT_EQ(mla_combined_topk_width(0, 129), 256);
  EXPECT_EQ(mla_combined_topk_width(-1, 128), -1);
  EXPECT_EQ(mla_combined_topk_width(512, 0), -1);
}

// Hand-computed anchors for seq [96, 144], extend [3, 2], W 128, ratio 4, topk 512, so that
// the generated expectations are not only checked against themselves.
TEST(IndexBuilders, HandComputedRowsOfTheFirstEngineBatch) {
  Rng rng(fresh_seed());
  SwaIdsSpec ss;
  ss.seq = {96, 144};
  ss.extend = {3, 2};
  auto ids = make_swa_ids_case(ss, rng);
  EXPECT_EQ(ids->want_gather, (std::vector<int32_t>{96, 129}));
  EXPECT_EQ(ids->want_first, (std::vector<int32_t>{0, 15}));
  EXPECT_EQ(ids->want_offsets, (std::vector<int32_t>{0, 96, 225}));

  CombineSpec cs;
  cs.seq = {96, 144};
  cs.extend = {3, 2};
  cs.pad_rows = 1;
  auto c = make_combine_case(cs, rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_combine_topk_swa_indices(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS)
      << mla_last_error();
  // Positions 93, 94, 95 and 142, 143: top-k lengths (pos + 1) / 4, windows min(pos + 1, 128).
  const int32_t lens[] = {23 + 94, 23 + 95, 24 + 96, 35 + 128, 36 + 128, 0};
  const int32_t topk_len[] = {23, 23, 24, 35, 36};
  const int32_t swa_base[] = {c->swa_base.at<int32_t>({0}), c->swa_base.at<int32_t>({1})};
  // The first window entry: request 0 gathers from position 0, request 1 from 15.
  const int32_t first_swa[] = {swa_base[0] + 0, swa_base[0] + 0, swa_base[0] + 0,
                               swa_base[1] + (142 - 128 + 1 - 15), swa_base[1] + 1};
  for (int64_t t = 0; t < 6; ++t) {
    EXPECT_EQ(c->lens.at<int32_t>({t}), lens[t]) << "row " << t;
    if (t == 5) {
      for (int64_t j = 0; j < 640; ++j) ASSERT_EQ(c->out.at<int32_t>({t, j}), -1);
      continue;
    }
    EXPECT_EQ(c->out.at<int32_t>({t, topk_len[t]}), first_swa[t]) << "row " << t;
    EXPECT_EQ(c->out.at<int32_t>({t, lens[t] - 1}), first_swa[t] + lens[t] - topk_len[t] - 1);
    EXPECT_EQ(c->out.at<int32_t>({t, lens[t]}), -1);
  }
}

TEST(IndexBuilders, DeterministicRunToRun) {
  Rng rng(fresh_seed());
  CombineSpec cs = combine_sweep()[2];
  auto c = make_combine_case(cs, rng);
  HostContext ctx;
  const auto a = c->args();
  ASSERT_EQ(mla_combine_topk_swa_indices(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS);
  const View first = c->out;
  ASSERT_EQ(mla_combine_topk_swa_indices(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(bytes_unchanged(first, c->out));
}

// ---- validation: each broken argument gets its status, is named, and nothing is written ----

namespace {

struct Broken {
  const char* what;
  mla_status status;
  const char* named;  // expected in mla_last_error()
};

template <class Args, class Call>
void expect_rejected(const Broken& b, Args args, mla_tensor& scratch,
                     const std::function<void(Args&, mla_tensor&)>& mutate,
                     const std::vector<const View*>& outputs, Call call) {
  std::vector<View> before;
  for (const View* v : outputs) before.push_back(*v);
  mutate(args, scratch);
  HostContext ctx;
  EXPECT_EQ(call(ctx.get(), &args), b.status) << b.what;
  EXPECT_NE(std::string(mla_last_error()).find(b.named), std::string::npos)
      << b.what << ": error '" << mla_last_error() << "' does not name " << b.named;
  for (size_t i = 0; i < outputs.size(); ++i)
    EXPECT_TRUE(bytes_unchanged(before[i], *outputs[i])) << b.what << ": an output was written";
}

// Copies *field into scratch, applies f to the copy and points the field at it.
auto edit = [](const mla_tensor*& field, mla_tensor& scratch,
               const std::function<void(mla_tensor&)>& f) {
  scratch = *field;
  f(scratch);
  field = &scratch;
};

}  // namespace

TEST(IndexBuilders, SwaTokenIdsRejectsEveryBadArgument) {
  using A = mla_build_swa_token_ids_args;
  using M = std::function<void(A&, mla_tensor&)>;
  const std::vector<std::pair<Broken, M>> cases = {
      {{"null seq_lens", MLA_STATUS_INVALID_ARGUMENT, "seq_lens"},
       [](A& a, mla_tensor&) { a.seq_lens = nullptr; }},
      {{"int64 seq_lens", MLA_STATUS_INVALID_ARGUMENT, "seq_lens"},
       [](A& a, mla_tensor& s) { edit(a.seq_lens, s, [](mla_tensor& t) { t.dtype = dt_i64(); }); }},
      {{"short extend", MLA_STATUS_INVALID_ARGUMENT, "extend_seq_lens"},
       [](A& a, mla_tensor& s) {
         edit(a.extend_seq_lens, s, [](mla_tensor& t) { t.shape[0] -= 1; });
       }},
      {{"2-D req_pool_indices", MLA_STATUS_INVALID_ARGUMENT, "req_pool_indices"},
       [](A& a, mla_tensor& s) {
         edit(a.req_pool_indices, s, [](mla_tensor& t) {
           t.ndim = 2;
           t.shape[1] = 1;
           t.strides[1] = 1;
         });
       }},
      {{"strided req_to_token rows", MLA_STATUS_INVALID_ARGUMENT, "req_to_token"},
       [](A& a, mla_tensor& s) {
         edit(a.req_to_token, s, [](mla_tensor& t) { t.strides[1] = 2; });
       }},
      {{"float full_to_swa", MLA_STATUS_INVALID_ARGUMENT, "full_to_swa"},
       [](A& a, mla_tensor& s) {
         edit(a.full_to_swa, s, [](mla_tensor& t) { t.dtype = dt_f32(); });
       }},
      {{"int64 ids", MLA_STATUS_INVALID_ARGUMENT, "swa_token_ids"},
       [](A& a, mla_tensor& s) {
         edit(a.swa_token_ids, s, [](mla_tensor& t) { t.dtype = dt_i64(); });
       }},
      {{"offsets of R entries", MLA_STATUS_INVALID_ARGUMENT, "swa_offsets"},
       [](A& a, mla_tensor& s) { edit(a.swa_offsets, s, [](mla_tensor& t) { t.shape[0] -= 1; }); }},
      {{"null offsets", MLA_STATUS_INVALID_ARGUMENT, "swa_offsets"},
       [](A& a, mla_tensor&) { a.swa_offsets = nullptr; }},
      {{"long first_pos", MLA_STATUS_INVALID_ARGUMENT, "swa_first_pos"},
       [](A& a, mla_tensor& s) {
         edit(a.swa_first_pos, s, [](mla_tensor& t) { t.shape[0] += 1; });
       }},
      {{"negative stride", MLA_STATUS_INVALID_ARGUMENT, "swa_gather_lens"},
       [](A& a, mla_tensor& s) {
         edit(a.swa_gather_lens, s, [](mla_tensor& t) { t.strides[0] = -1; });
       }},
      {{"null data", MLA_STATUS_INVALID_ARGUMENT, "req_to_token"},
       [](A& a, mla_tensor& s) {
         edit(a.req_to_token, s, [](mla_tensor& t) { t.data = nullptr; });
       }},
      {{"window 0", MLA_STATUS_INVALID_ARGUMENT, "window"},
       [](A& a, mla_tensor&) { a.window = 0; }},
      {{"window 2^31", MLA_STATUS_INVALID_ARGUMENT, "window"},
       [](A& a, mla_tensor&) { a.window = int64_t(1) << 31; }},
  };
  Rng rng(fresh_seed());
  SwaIdsSpec spec;
  spec.seq = {7, 300, 1000};
  spec.extend = {7, 130, 5};
  auto c = make_swa_ids_case(spec, rng);
  for (const auto& [broken, mutate] : cases) {
    mla_tensor scratch;
    expect_rejected<A>(
        broken, c->args(), scratch, mutate, {&c->ids, &c->offsets, &c->first_pos, &c->gather_lens},
        [](mla_context ctx, const A* a) { return mla_build_swa_token_ids(ctx, a, nullptr); });
  }
  HostContext ctx;
  EXPECT_EQ(mla_build_swa_token_ids(ctx.get(), nullptr, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  const auto a = c->args();
  EXPECT_EQ(mla_build_swa_token_ids(nullptr, &a, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("ctx"), std::string::npos);
}

TEST(IndexBuilders, CombineRejectsEveryBadArgument) {
  using A = mla_combine_topk_swa_indices_args;
  using M = std::function<void(A&, mla_tensor&)>;
  const std::vector<std::pair<Broken, M>> cases = {
      {{"width 639", MLA_STATUS_INVALID_ARGUMENT, "combined_indices"},
       [](A& a, mla_tensor& s) {
         edit(a.combined_indices, s, [](mla_tensor& t) { t.shape[1] -= 1; });
       }},
      {{"strided index columns", MLA_STATUS_INVALID_ARGUMENT, "combined_indices"},
       [](A& a, mla_tensor& s) {
         edit(a.combined_indices, s, [](mla_tensor& t) { t.strides[1] = 2; });
       }},
      {{"int64 lens", MLA_STATUS_INVALID_ARGUMENT, "combined_lens"},
       [](A& a, mla_tensor& s) {
         edit(a.combined_lens, s, [](mla_tensor& t) { t.dtype = dt_i64(); });
       }},
      {{"lens of other rows", MLA_STATUS_INVALID_ARGUMENT, "combined_lens"},
       [](A& a, mla_tensor& s) {
         edit(a.combined_lens, s, [](mla_tensor& t) { t.shape[0] += 1; });
       }},
      {{"empty query_start_loc", MLA_STATUS_INVALID_ARGUMENT, "query_start_loc"},
       [](A& a, mla_tensor& s) {
         edit(a.query_start_loc, s, [](mla_tensor& t) { t.shape[0] = 0; });
       }},
      {{"topk without indices", MLA_STATUS_INVALID_ARGUMENT, "topk_indices"},
       [](A& a, mla_tensor&) { a.topk_indices = nullptr; }},
      {{"narrow topk_indices", MLA_STATUS_INVALID_ARGUMENT, "topk_indices"},
       [](A& a, mla_tensor& s) {
         edit(a.topk_indices, s, [](mla_tensor& t) { t.shape[1] = 511; });
       }},
      {{"topk_indices of other rows", MLA_STATUS_INVALID_ARGUMENT, "topk_indices"},
       [](A& a, mla_tensor& s) {
         edit(a.topk_indices, s, [](mla_tensor& t) { t.shape[0] -= 1; });
       }},
      {{"short seq_lens", MLA_STATUS_INVALID_ARGUMENT, "seq_lens"},
       [](A& a, mla_tensor& s) { edit(a.seq_lens, s, [](mla_tensor& t) { t.shape[0] -= 1; }); }},
      {{"float gather_lens", MLA_STATUS_INVALID_ARGUMENT, "gather_lens"},
       [](A& a, mla_tensor& s) {
         edit(a.gather_lens, s, [](mla_tensor& t) { t.dtype = dt_f32(); });
       }},
      {{"long compressed_base", MLA_STATUS_INVALID_ARGUMENT, "compressed_base"},
       [](A& a, mla_tensor& s) {
         edit(a.compressed_base, s, [](mla_tensor& t) { t.shape[0] += 1; });
       }},
      {{"null swa_base", MLA_STATUS_INVALID_ARGUMENT, "swa_base"},
       [](A& a, mla_tensor&) { a.swa_base = nullptr; }},
      {{"negative topk", MLA_STATUS_INVALID_ARGUMENT, "topk"},
       [](A& a, mla_tensor&) { a.topk = -1; }},
      {{"window 0", MLA_STATUS_INVALID_ARGUMENT, "window"},
       [](A& a, mla_tensor&) { a.window = 0; }},
      {{"ratio 0", MLA_STATUS_INVALID_ARGUMENT, "compress_ratio"},
       [](A& a, mla_tensor&) { a.compress_ratio = 0; }},
  };
  Rng rng(fresh_seed());
  CombineSpec spec;
  spec.seq = {96, 144};
  spec.extend = {3, 2};
  auto c = make_combine_case(spec, rng);
  for (const auto& [broken, mutate] : cases) {
    mla_tensor scratch;
    expect_rejected<A>(
        broken, c->args(), scratch, mutate, {&c->out, &c->lens},
        [](mla_context ctx, const A* a) { return mla_combine_topk_swa_indices(ctx, a, nullptr); });
  }
  HostContext ctx;
  EXPECT_EQ(mla_combine_topk_swa_indices(ctx.get(), nullptr, nullptr), MLA_STATUS_INVALID_ARGUMENT);
}
