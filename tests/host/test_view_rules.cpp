// The rules of mla_core.h for tensor views, applied to every tensor argument of every
// operation: an element count or extent that does not fit (a stride of 2^62, 2^62 rows with
// NULL data), a view that runs past the end of the address space, and data not aligned to its
// element size. Each is refused with its status, the message names the tensor, and the outputs
// (poisoned by the cases) keep their bytes.
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "attention_cases.h"
#include "fused_cases.h"
#include "host_context.h"
#include "index_builder_cases.h"
#include "indexer_cases.h"
#include "kv_cases.h"

using namespace mlatest;

namespace {

constexpr int64_t k2Pow62 = int64_t(1) << 62;

int elem_bytes(const mla_tensor& t) {
  return t.dtype.bits / 8;
}

// The first dimension with two or more elements, preferring one before the last; -1 if none.
int strided_dim(const mla_tensor& t) {
  for (int i = 0; i < t.ndim - 1; ++i)
    if (t.shape[i] >= 2) return i;
  return t.shape[t.ndim - 1] >= 2 ? t.ndim - 1 : -1;
}

// One way to break a valid view; apply() returns false where the rule cannot apply (a 1-byte
// element cannot be misaligned).
struct Rule {
  const char* what;
  mla_status status;
  std::function<bool(mla_tensor&)> apply;
};

std::vector<Rule> view_rules() {
  const auto I = MLA_STATUS_INVALID_ARGUMENT;
  return {
      {"a stride of 2^62", I,
       [](mla_tensor& t) {
         const int i = strided_dim(t);
         if (i < 0) return false;
         t.strides[i] = k2Pow62;
         return true;
       }},
      {"2^62 rows and NULL data", I,
       [](mla_tensor& t) {
         t.shape[0] = k2Pow62;
         t.data = nullptr;
         return true;
       }},
      {"data one element before the end of the address space", I,
       [](mla_tensor& t) {
         t.data = reinterpret_cast<void*>(uintptr_t(0) - uintptr_t(elem_bytes(t)));
         return true;
       }},
      {"data half an element off its alignment", MLA_STATUS_MISALIGNED,
       [](mla_tensor& t) {
         if (elem_bytes(t) < 2) return false;
         t.data = static_cast<uint8_t*>(t.data) + elem_bytes(t) / 2;
         return true;
       }},
  };
}

template <class Args>
using Field = std::pair<const mla_tensor * Args::*, const char*>;

// Applies every rule to every named tensor of valid arguments; then checks that the valid
// arguments succeed, so that each refusal came from its rule.
template <class Args>
void expect_view_rules(const Args& valid, const std::vector<Field<Args>>& fields,
                       const std::vector<const Bytes*>& outputs,
                       const std::function<mla_status(mla_context, const Args&)>& call) {
  HostContext ctx;
  std::vector<Bytes> before;
  for (const Bytes* b : outputs) before.push_back(*b);
  for (const auto& [field, name] : fields) {
    ASSERT_NE(valid.*field, nullptr) << name << ": the case must pass every tensor";
    for (const Rule& r : view_rules()) {
      Args a = valid;
      mla_tensor t = *(valid.*field);
      if (!r.apply(t)) continue;
      a.*field = &t;
      EXPECT_EQ(call(ctx.get(), a), r.status) << name << ", " << r.what << ": " << mla_last_error();
      const std::string prefix = std::string(name) + ": ";
      EXPECT_EQ(std::string(mla_last_error()).rfind(prefix, 0), 0u)
          << name << ", " << r.what << ": '" << mla_last_error() << "' should start with it";
      for (size_t i = 0; i < outputs.size(); ++i)
        EXPECT_TRUE(unchanged(before[i], *outputs[i])) << name << ", " << r.what << ": written";
    }
  }
  EXPECT_EQ(call(ctx.get(), valid), MLA_STATUS_SUCCESS) << mla_last_error();
}

// Calls with the workspace the size query asks for (the query validates first).
template <class Args>
std::function<mla_status(mla_context, const Args&)> with_workspace(
    mla_status (*size)(mla_context, const Args*, size_t*),
    mla_status (*op)(mla_context, const Args*, void*, size_t, mla_stream)) {
  return [size, op](mla_context ctx, const Args& a) {
    size_t bytes = 0;
    const mla_status s = size(ctx, &a, &bytes);
    if (s != MLA_STATUS_SUCCESS) return s;
    Bytes ws(bytes);
    return op(ctx, &a, ws.data(), bytes, nullptr);
  };
}

template <class Args>
std::function<mla_status(mla_context, const Args&)> without_workspace(
    mla_status (*op)(mla_context, const Args*, mla_stream)) {
  return [op](mla_context ctx, const Args& a) { return op(ctx, &a, nullptr); };
}

}  // namespace

TEST(ViewRules, SparseDecode) {
  Rng rng(fresh_seed());
  DecodeSpec s;
  s.h_q = 4, s.topk = 16, s.page_size = 8, s.extra = true, s.extra_topk = 8;
  s.sink = true, s.lengths = true;
  auto c = make_decode_case(s, rng);
  using A = mla_sparse_decode_args;
  expect_view_rules<A>(c->args(),
                       {{&A::q, "q"},
                        {&A::indices, "indices"},
                        {&A::topk_length, "topk_length"},
                        {&A::extra_indices, "extra_indices"},
                        {&A::extra_topk_length, "extra_topk_length"},
                        {&A::attn_sink, "attn_sink"},
                        {&A::out, "out"},
                        {&A::lse, "lse"}},
                       {&c->out.bytes, &c->lse.bytes},
                       with_workspace<A>(mla_sparse_decode_workspace_size, mla_sparse_decode));
}

TEST(ViewRules, SparsePrefill) {
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.sink = true, s.lengths = true;
  auto c = make_prefill_case(s, rng);
  using A = mla_sparse_prefill_args;
  expect_view_rules<A>(c->args(),
                       {{&A::q, "q"},
                        {&A::kv, "kv"},
                        {&A::indices, "indices"},
                        {&A::topk_length, "topk_length"},
                        {&A::attn_sink, "attn_sink"},
                        {&A::out, "out"},
                        {&A::max_logits, "max_logits"},
                        {&A::lse, "lse"}},
                       {&c->out.bytes, &c->max_logits.bytes, &c->lse.bytes},
                       with_workspace<A>(mla_sparse_prefill_workspace_size, mla_sparse_prefill));
}

TEST(ViewRules, SparsePrefillPaged) {
  Rng rng(fresh_seed());
  for (bool flat : {false, true}) {
    PagedPrefillSpec s;
    s.s_q = 3, s.h_q = 4, s.topk = 16, s.page_size = 8, s.sink = true, s.lengths = true;
    s.flat_indices = flat;
    auto c = make_paged_prefill_case(s, rng);
    using A = mla_sparse_prefill_paged_args;
    expect_view_rules<A>(
        c->args(),
        {{&A::q, "q"},
         {&A::indices, "indices"},
         {&A::topk_length, "topk_length"},
         {&A::attn_sink, "attn_sink"},
         {&A::out, "out"},
         {&A::max_logits, "max_logits"},
         {&A::lse, "lse"}},
        {&c->out.bytes, &c->max_logits.bytes, &c->lse.bytes},
        with_workspace<A>(mla_sparse_prefill_paged_workspace_size, mla_sparse_prefill_paged));
  }
}

TEST(ViewRules, KvStoreAndGather) {
  Rng rng(fresh_seed());
  for (bool wide : {false, true}) {
    KvSpec s;
    s.format = MLA_KV_FORMAT_V40;
    s.wide_slots = wide;
    auto c = make_kv_case(s, rng);
    using S = mla_kv_store_args;
    expect_view_rules<S>(c->store_args(), {{&S::k, "k"}, {&S::slots, "slots"}}, {&c->cache->bytes},
                         without_workspace<S>(mla_kv_store));
    Tensor out(dt_bf16(), {s.rows, 512});
    poison(out);
    using G = mla_kv_gather_args;
    expect_view_rules<G>(G{&c->cache->desc, c->slots.ptr(), out.ptr()},
                         {{&G::slots, "slots"}, {&G::out, "out"}}, {&out.bytes},
                         without_workspace<G>(mla_kv_gather));
  }
}

TEST(ViewRules, IndexerLogits) {
  Rng rng(fresh_seed());
  auto r = make_ragged_case(RaggedSpec{}, rng);
  using R = mla_indexer_logits_args;
  expect_view_rules<R>(r->args(),
                       {{&R::q, "q"},
                        {&R::k, "k"},
                        {&R::k_scale, "k_scale"},
                        {&R::weights, "weights"},
                        {&R::k_start, "k_start"},
                        {&R::k_end, "k_end"},
                        {&R::logits, "logits"}},
                       {&r->logits.bytes},
                       with_workspace<R>(mla_indexer_logits_workspace_size, mla_indexer_logits));

  PagedSpec ps;
  ps.next_n = 2, ps.per_row_context = true;
  auto p = make_paged_case(ps, rng);
  using P = mla_indexer_paged_logits_args;
  expect_view_rules<P>(
      p->args(),
      {{&P::q, "q"},
       {&P::kv_cache, "kv_cache"},
       {&P::weights, "weights"},
       {&P::context_lens, "context_lens"},
       {&P::block_table, "block_table"},
       {&P::logits, "logits"}},
      {&p->logits.bytes},
      with_workspace<P>(mla_indexer_paged_logits_workspace_size, mla_indexer_paged_logits));
}

TEST(ViewRules, IndexerTopk) {
  Rng rng(fresh_seed());
  TopkSpec s;
  s.rows = 8, s.cols = 200, s.k = 16, s.next_n = 2, s.starts = true, s.page_table = true;
  s.raw = true, s.page_size = 16;
  auto c = make_topk_case(s, rng);
  using A = mla_indexer_topk_args;
  expect_view_rules<A>(c->args(),
                       {{&A::logits, "logits"},
                        {&A::starts, "starts"},
                        {&A::lengths, "lengths"},
                        {&A::page_table, "page_table"},
                        {&A::indices, "indices"},
                        {&A::raw_indices, "raw_indices"}},
                       {&c->indices.bytes, &c->raw.bytes},
                       with_workspace<A>(mla_indexer_topk_workspace_size, mla_indexer_topk));
}

TEST(ViewRules, IndexBuilders) {
  Rng rng(fresh_seed());
  SwaIdsSpec ss;
  ss.seq = {7, 300, 1000};
  ss.extend = {7, 130, 5};
  auto w = make_swa_ids_case(ss, rng);
  using W = mla_build_swa_token_ids_args;
  expect_view_rules<W>(
      w->args(),
      {{&W::seq_lens, "seq_lens"},
       {&W::extend_seq_lens, "extend_seq_lens"},
       {&W::req_pool_indices, "req_pool_indices"},
       {&W::req_to_token, "req_to_token"},
       {&W::full_to_swa, "full_to_swa"},
       {&W::swa_token_ids, "swa_token_ids"},
       {&W::swa_offsets, "swa_offsets"},
       {&W::swa_first_pos, "swa_first_pos"},
       {&W::swa_gather_lens, "swa_gather_lens"}},
      {&w->ids.bytes, &w->offsets.bytes, &w->first_pos.bytes, &w->gather_lens.bytes},
      without_workspace<W>(mla_build_swa_token_ids));

  CombineSpec cs;
  cs.seq = {96, 144};
  cs.extend = {3, 2};
  auto c = make_combine_case(cs, rng);
  using C = mla_combine_topk_swa_indices_args;
  expect_view_rules<C>(c->args(),
                       {{&C::topk_indices, "topk_indices"},
                        {&C::query_start_loc, "query_start_loc"},
                        {&C::seq_lens, "seq_lens"},
                        {&C::gather_lens, "gather_lens"},
                        {&C::compressed_base, "compressed_base"},
                        {&C::swa_base, "swa_base"},
                        {&C::combined_indices, "combined_indices"},
                        {&C::combined_lens, "combined_lens"}},
                       {&c->out.bytes, &c->lens.bytes},
                       without_workspace<C>(mla_combine_topk_swa_indices));
}

TEST(ViewRules, FusedOps) {
  Rng rng(fresh_seed());
  auto k = make_concat_case(ConcatSpec{}, rng);
  using K = mla_concat_mla_k_args;
  expect_view_rules<K>(K{k->a.ptr(), k->b.ptr(), k->out.ptr()},
                       {{&K::k_nope, "k_nope"}, {&K::k_rope, "k_rope"}, {&K::k, "k"}},
                       {&k->out.bytes}, without_workspace<K>(mla_concat_mla_k));

  ConcatSpec qs;
  qs.absorb_q = true;
  auto q = make_concat_case(qs, rng);
  using Q = mla_concat_mla_absorb_q_args;
  expect_view_rules<Q>(Q{q->a.ptr(), q->b.ptr(), q->out.ptr()},
                       {{&Q::a, "a"}, {&Q::b, "b"}, {&Q::out, "out"}}, {&q->out.bytes},
                       without_workspace<Q>(mla_concat_mla_absorb_q));

  auto m = make_merge_case(MergeSpec{}, rng);
  using M = mla_merge_state_args;
  expect_view_rules<M>(m->args(),
                       {{&M::v_a, "v_a"},
                        {&M::lse_a, "lse_a"},
                        {&M::v_b, "v_b"},
                        {&M::lse_b, "lse_b"},
                        {&M::v_out, "v_out"},
                        {&M::lse_out, "lse_out"}},
                       {&m->v_out.bytes, &m->lse_out.bytes}, without_workspace<M>(mla_merge_state));

  NormRopeSpec ns;
  ns.weight = 2;
  auto n = make_norm_rope_case(ns, rng);
  using N = mla_norm_rope_args;
  expect_view_rules<N>(n->args(),
                       {{&N::x, "x"},
                        {&N::weight, "weight"},
                        {&N::positions, "positions"},
                        {&N::cos_sin, "cos_sin"},
                        {&N::out, "out"}},
                       {&n->out.bytes, &n->x.bytes}, without_workspace<N>(mla_norm_rope));
}

// A count that fits but leaves no room for a size derived from it: INT64_MAX requests of one
// broadcast seq_lens entry would need INT64_MAX + 1 swa_offsets.
TEST(ViewRules, RequestCountWithoutRoomForOffsets) {
  Rng rng(fresh_seed());
  SwaIdsSpec s;
  s.seq = {7, 300};
  s.extend = {7, 130};
  auto c = make_swa_ids_case(s, rng);
  HostContext ctx;
  const Bytes offsets = c->offsets.bytes;
  mla_build_swa_token_ids_args a = c->args();
  mla_tensor seq = *a.seq_lens;
  seq.shape[0] = std::numeric_limits<int64_t>::max();
  seq.strides[0] = 0;
  a.seq_lens = &seq;
  EXPECT_EQ(mla_build_swa_token_ids(ctx.get(), &a, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(std::string(mla_last_error()).rfind("seq_lens: ", 0), 0u) << mla_last_error();
  EXPECT_TRUE(unchanged(offsets, c->offsets.bytes));
}
