// Host backend indexer logits, ragged and paged, against the float64 reference (SPEC 6), plus
// determinism, batch invariance and every validation error.

#include "arg_mutation.h"
#include "host_context.h"
#include "indexer_case_lists.h"

using namespace mlatest;

namespace {

mla_status host_logits(mla_context ctx, const mla_indexer_logits_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_indexer_logits_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  Bytes ws(bytes);
  return mla_indexer_logits(ctx, &a, ws.data(), bytes, nullptr);
}

mla_status host_paged(mla_context ctx, const mla_indexer_paged_logits_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_indexer_paged_logits_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  Bytes ws(bytes);
  return mla_indexer_paged_logits(ctx, &a, ws.data(), bytes, nullptr);
}

}  // namespace

class RaggedLogitsSweep : public ::testing::TestWithParam<RaggedSpec> {};

TEST_P(RaggedLogitsSweep, MatchesFloat64Reference) {
  Rng rng(fresh_seed());
  auto c = make_ragged_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(host_logits(ctx.get(), c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_logits(c->ref, c->logits, kHostLogitsTol));
  EXPECT_STREQ(mla_last_backend(), "host");
}

INSTANTIATE_TEST_SUITE_P(Spec, RaggedLogitsSweep, ::testing::ValuesIn(ragged_sweep()),
                         [](const auto& info) { return info.param.name(); });

class PagedLogitsSweep : public ::testing::TestWithParam<PagedSpec> {};

TEST_P(PagedLogitsSweep, MatchesFloat64Reference) {
  Rng rng(fresh_seed());
  auto c = make_paged_case(GetParam(), rng);
  HostContext ctx;
  ASSERT_EQ(host_paged(ctx.get(), c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(check_logits(c->ref, c->logits, kHostLogitsTol));
}

INSTANTIATE_TEST_SUITE_P(Spec, PagedLogitsSweep, ::testing::ValuesIn(paged_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(IndexerLogits, PagedDeterministicAndBatchInvariant) {
  Rng rng(fresh_seed());
  PagedSpec s;
  s.b = 3, s.next_n = 2, s.max_context = 140;
  auto c = make_paged_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(host_paged(ctx.get(), c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  Tensor first = c->logits;
  ASSERT_EQ(host_paged(ctx.get(), c->args()), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(unchanged(first.bytes, c->logits.bytes)) << "run to run";
  // Request 2 alone gives the bits it gets inside the batch.
  auto a = c->args();
  mla_tensor q = c->q.desc, w = c->weights.desc, len = c->context_lens.desc,
             bt = c->block_table.desc, out = c->logits.desc;
  auto skip = [](mla_tensor& t, int64_t rows) {
    t.data = static_cast<uint8_t*>(t.data) + rows * t.strides[0] * (t.dtype.bits / 8);
    t.shape[0] -= rows;
  };
  skip(q, 2), skip(len, 2), skip(bt, 2), skip(w, 4), skip(out, 4);
  a.q = &q, a.weights = &w, a.context_lens = &len, a.block_table = &bt, a.logits = &out;
  poison(c->logits);
  ASSERT_EQ(host_paged(ctx.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
  for (int64_t r = 4; r < 6; ++r)
    for (int64_t p = 0; p < c->ref.cols; ++p)
      ASSERT_EQ(c->logits.at<uint32_t>({r, p}), first.at<uint32_t>({r, p}));
}

TEST(IndexerLogits, ZeroRowsAndZeroWidthWriteNothing) {
  Rng rng(fresh_seed());
  RaggedSpec s;
  auto c = make_ragged_case(s, rng);
  HostContext ctx;
  auto a = c->args();
  mla_tensor q = c->q.desc, w = c->weights.desc, ks = c->k_start.desc, ke = c->k_end.desc,
             out = c->logits.desc;
  for (mla_tensor* t : {&q, &w, &ks, &ke, &out}) t->shape[0] = 0;
  a.q = &q, a.weights = &w, a.k_start = &ks, a.k_end = &ke, a.logits = &out;
  const Tensor before = c->logits;
  EXPECT_EQ(host_logits(ctx.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(unchanged(before.bytes, c->logits.bytes));
}

TEST(IndexerLogits, RaggedValidationErrors) {
  using A = mla_indexer_logits_args;
  const mla_status bad = MLA_STATUS_INVALID_ARGUMENT;
  const std::vector<ArgMutation<A>> cases = {
      {"q NULL", bad, "q", [](A& a, mla_tensor&) { a.q = nullptr; }},
      {"q bf16", bad, "q", on(&A::q, [](mla_tensor& x) { x.dtype = dt_bf16(); })},
      {"q 2-D", bad, "q", on(&A::q, [](mla_tensor& x) { x.ndim = 2; })},
      {"q 0 heads", bad, "heads", on(&A::q, [](mla_tensor& x) { x.shape[1] = 0; })},
      {"q 129 heads", bad, "heads", on(&A::q, [](mla_tensor& x) { x.shape[1] = 129; })},
      {"q head dim 96", bad, "head dim", on(&A::q, [](mla_tensor& x) { x.shape[2] = 96; })},
      {"q strided last", bad, "q", on(&A::q, [](mla_tensor& x) { x.strides[2] = 2; })},
      {"k other flavour", bad, "k",
       on(&A::k, [](mla_tensor& x) { x.dtype.code = MLA_DTYPE_FLOAT8_E4M3FNUZ; })},
      {"k head dim", bad, "k", on(&A::k, [](mla_tensor& x) { x.shape[1] = 64; })},
      {"k_scale length", bad, "k_scale", on(&A::k_scale, [](mla_tensor& x) { x.shape[0] -= 1; })},
      {"k_scale int32", bad, "k_scale", on(&A::k_scale, [](mla_tensor& x) { x.dtype = dt_i32(); })},
      {"weights heads", bad, "weights", on(&A::weights, [](mla_tensor& x) { x.shape[1] = 3; })},
      {"k_start int64", bad, "k_start", on(&A::k_start, [](mla_tensor& x) { x.dtype = dt_i64(); })},
      {"k_end NULL", bad, "k_end", [](A& a, mla_tensor&) { a.k_end = nullptr; }},
      {"k_end length", bad, "k_end", on(&A::k_end, [](mla_tensor& x) { x.shape[0] += 1; })},
      {"logits width", bad, "logits", on(&A::logits, [](mla_tensor& x) { x.shape[1] -= 1; })},
      {"logits bf16", bad, "logits", on(&A::logits, [](mla_tensor& x) { x.dtype = dt_bf16(); })},
      {"logits strided last", bad, "logits",
       on(&A::logits, [](mla_tensor& x) { x.strides[1] = 2; })},
  };
  Rng rng(fresh_seed());
  RaggedSpec s;
  s.m = 3, s.n = 40;
  auto c = make_ragged_case(s, rng);
  HostContext ctx;
  const Tensor before = c->logits;
  for (const auto& m : cases) {
    A a = c->args();
    mla_tensor tmp;
    m.apply(a, tmp);
    EXPECT_EQ(host_logits(ctx.get(), a), m.want) << m.what;
    EXPECT_NE(std::string(mla_last_error()).find(m.names), std::string::npos)
        << m.what << ": " << mla_last_error();
    size_t bytes = 0;
    EXPECT_EQ(mla_indexer_logits_workspace_size(ctx.get(), &a, &bytes), m.want) << m.what;
    EXPECT_TRUE(unchanged(before.bytes, c->logits.bytes)) << m.what;
  }
  EXPECT_EQ(mla_indexer_logits(ctx.get(), nullptr, nullptr, 0, nullptr), bad);
  EXPECT_EQ(mla_indexer_logits(nullptr, nullptr, nullptr, 0, nullptr), bad);
  auto a = c->args();
  size_t bytes = 0;
  ASSERT_EQ(mla_indexer_logits_workspace_size(ctx.get(), &a, &bytes), MLA_STATUS_SUCCESS);
  ASSERT_GT(bytes, 0u);
  Bytes ws(bytes);
  EXPECT_EQ(mla_indexer_logits(ctx.get(), &a, ws.data(), bytes - 1, nullptr),
            MLA_STATUS_WORKSPACE_TOO_SMALL);
  EXPECT_TRUE(unchanged(before.bytes, c->logits.bytes));
}

TEST(IndexerLogits, PagedValidationErrors) {
  using A = mla_indexer_paged_logits_args;
  const mla_status bad = MLA_STATUS_INVALID_ARGUMENT;
  const mla_status misaligned = MLA_STATUS_MISALIGNED;
  auto cache = [](std::function<void(mla_tensor&)> f) { return on(&A::kv_cache, f); };
  const std::vector<ArgMutation<A>> cases = {
      {"q 3-D", bad, "q", on(&A::q, [](mla_tensor& x) { x.ndim = 3; })},
      {"q next_n 0", bad, "next_n", on(&A::q, [](mla_tensor& x) { x.shape[1] = 0; })},
      {"q head dim 32", bad, "head dim", on(&A::q, [](mla_tensor& x) { x.shape[3] = 32; })},
      {"kv_fp8 0", bad, "kv_fp8", [](A& a, mla_tensor&) { a.kv_fp8 = 0; }},
      {"kv_fp8 other flavour", bad, "kv_fp8",
       [](A& a, mla_tensor&) { a.kv_fp8 = MLA_FP8_E4M3FNUZ; }},
      {"kv_cache NULL", bad, "kv_cache", [](A& a, mla_tensor&) { a.kv_cache = nullptr; }},
      {"kv_cache fp8", bad, "kv_cache", cache([](mla_tensor& x) { x.dtype = dt_fp8(false); })},
      {"kv_cache page bytes", bad, "kv_cache", cache([](mla_tensor& x) { x.shape[1] += 1; })},
      {"kv_cache 5-D", bad, "kv_cache", cache([](mla_tensor& x) { x.ndim = 5; })},
      {"kv_cache page stride small", bad, "page stride",
       cache([](mla_tensor& x) { x.strides[0] -= 16; })},
      {"kv_cache page stride odd", misaligned, "page stride",
       cache([](mla_tensor& x) { x.strides[0] += 4; })},
      {"kv_cache base", misaligned, "kv_cache",
       cache([](mla_tensor& x) { x.data = static_cast<uint8_t*>(x.data) + 4; })},
      {"kv_cache inner stride", bad, "contiguous", cache([](mla_tensor& x) { x.strides[1] = 2; })},
      {"weights rows", bad, "weights", on(&A::weights, [](mla_tensor& x) { x.shape[0] -= 1; })},
      {"context_lens 2-D next_n", bad, "context_lens",
       on(&A::context_lens, [](mla_tensor& x) { x.ndim = 2, x.shape[1] = 5, x.strides[1] = 1; })},
      {"context_lens 3-D", bad, "context_lens",
       on(&A::context_lens, [](mla_tensor& x) { x.ndim = 3, x.shape[1] = 1, x.shape[2] = 1; })},
      {"context_lens float", bad, "context_lens",
       on(&A::context_lens, [](mla_tensor& x) { x.dtype = dt_f32(); })},
      {"block_table 1-D", bad, "block_table",
       on(&A::block_table, [](mla_tensor& x) { x.ndim = 1; })},
      {"block_table b", bad, "block_table",
       on(&A::block_table, [](mla_tensor& x) { x.shape[0] += 1; })},
      {"logits rows", bad, "logits", on(&A::logits, [](mla_tensor& x) { x.shape[0] -= 1; })},
  };
  Rng rng(fresh_seed());
  PagedSpec s;
  s.b = 2, s.next_n = 2, s.max_context = 100;
  auto c = make_paged_case(s, rng);
  HostContext ctx;
  const Tensor before = c->logits;
  for (const auto& m : cases) {
    A a = c->args();
    mla_tensor tmp;
    m.apply(a, tmp);
    EXPECT_EQ(host_paged(ctx.get(), a), m.want) << m.what;
    EXPECT_NE(std::string(mla_last_error()).find(m.names), std::string::npos)
        << m.what << ": " << mla_last_error();
    EXPECT_TRUE(unchanged(before.bytes, c->logits.bytes)) << m.what;
  }
}
