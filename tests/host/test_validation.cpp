// Every validation error of the issue-2 operations: the right status, a message naming the
// argument, and outputs (poisoned before the call) left untouched.
#include <cmath>
#include <functional>

#include "attention_cases.h"
#include "host_context.h"
#include "kv_cases.h"

using namespace mlatest;

namespace {

// One way to break a valid call, the status it must give and a word the message must name.
template <class Args>
struct Breakage {
  const char* what;
  mla_status status;
  const char* names;
  std::function<void(Args&)> breaker;
};

// Copies of every descriptor the args point at, so a breakage edits only the copies.
struct DecodeArgs {
  explicit DecodeArgs(DecodeCase& c)
      : q(c.q.desc), idx(c.idx.desc), len(c.len.desc), eidx(c.eidx.desc), elen(c.elen.desc),
        sink(c.sink.desc), out(c.out.desc), lse(c.lse.desc), kv(c.kv->desc),
        ekv(c.extra_kv->desc), a(c.args()) {
    a.q = &q, a.indices = &idx, a.topk_length = &len, a.extra_indices = &eidx;
    a.extra_topk_length = &elen, a.attn_sink = &sink, a.out = &out, a.lse = &lse;
    a.kv = &kv, a.extra_kv = &ekv;
  }
  mla_tensor q, idx, len, eidx, elen, sink, out, lse;
  mla_kv_cache kv, ekv;
  mla_sparse_decode_args a;
  size_t ws_delta = 0;        // workspace bytes below the query's answer
  bool null_ws = false;
  bool null_args = false;
};

std::vector<Breakage<DecodeArgs>> decode_breakages() {
  using B = Breakage<DecodeArgs>;
  const auto I = MLA_STATUS_INVALID_ARGUMENT;
  const auto M = MLA_STATUS_MISALIGNED;
  return {
      B{"null args", I, "args", [](DecodeArgs& d) { d.null_args = true; }},
      B{"null q", I, "q", [](DecodeArgs& d) { d.a.q = nullptr; }},
      B{"null kv", I, "kv", [](DecodeArgs& d) { d.a.kv = nullptr; }},
      B{"null indices", I, "indices", [](DecodeArgs& d) { d.a.indices = nullptr; }},
      B{"null out", I, "out", [](DecodeArgs& d) { d.a.out = nullptr; }},
      B{"null lse", I, "lse", [](DecodeArgs& d) { d.a.lse = nullptr; }},
      B{"q data null", I, "q", [](DecodeArgs& d) { d.q.data = nullptr; }},
      B{"q fp32", I, "q", [](DecodeArgs& d) { d.q.dtype = dt_f32(); }},
      B{"q 3 dims", I, "q", [](DecodeArgs& d) { d.q.ndim = 3; }},
      B{"q 0 dims", I, "q", [](DecodeArgs& d) { d.q.ndim = 0; }},
      B{"q 7 dims", I, "q", [](DecodeArgs& d) { d.q.ndim = 7; }},
      B{"d_qk 512 on V32", I, "d_qk", [](DecodeArgs& d) { d.q.shape[3] = 512; }},
      B{"q last stride", I, "q", [](DecodeArgs& d) { d.q.strides[3] = 2; }},
      B{"q negative stride", I, "q", [](DecodeArgs& d) { d.q.strides[1] = -1; }},
      B{"q negative size", I, "q", [](DecodeArgs& d) { d.q.shape[2] = -1; }},
      B{"h_q 0", I, "h_q", [](DecodeArgs& d) { d.q.shape[2] = 0; }},
      B{"indices int64", I, "indices", [](DecodeArgs& d) { d.idx.dtype = dt_i64(); }},
      B{"indices batch", I, "indices", [](DecodeArgs& d) { d.idx.shape[0] += 1; }},
      B{"topk 0", I, "topk", [](DecodeArgs& d) { d.idx.shape[2] = 0; }},
      B{"lengths fp32", I, "topk_length", [](DecodeArgs& d) { d.len.dtype = dt_f32(); }},
      B{"lengths size", I, "topk_length", [](DecodeArgs& d) { d.len.shape[0] += 1; }},
      B{"extra indices without cache", I, "extra_indices",
        [](DecodeArgs& d) { d.a.extra_kv = nullptr, d.a.extra_topk_length = nullptr; }},
      B{"extra cache without indices", I, "extra_indices",
        [](DecodeArgs& d) { d.a.extra_indices = nullptr; }},
      B{"extra cache format", I, "extra_kv", [](DecodeArgs& d) { d.ekv.format = MLA_KV_FORMAT_V40; }},
      B{"extra page size", I, "extra_kv.page_size", [](DecodeArgs& d) { d.ekv.page_size = 0; }},
      B{"sink size", I, "attn_sink", [](DecodeArgs& d) { d.sink.shape[0] += 1; }},
      B{"sink bf16", I, "attn_sink", [](DecodeArgs& d) { d.sink.dtype = dt_bf16(); }},
      B{"out d_v", I, "out", [](DecodeArgs& d) { d.out.shape[3] = 576; }},
      B{"out fp32", I, "out", [](DecodeArgs& d) { d.out.dtype = dt_f32(); }},
      B{"lse shape", I, "lse", [](DecodeArgs& d) { d.lse.shape[1] += 1; }},
      B{"unknown format", I, "kv.format", [](DecodeArgs& d) { d.kv.format = 7; }},
      B{"unknown fp8", I, "kv.fp8", [](DecodeArgs& d) { d.kv.fp8 = 9; }},
      B{"page size 0", I, "kv.page_size", [](DecodeArgs& d) { d.kv.page_size = 0; }},
      B{"no pages", I, "kv.num_pages", [](DecodeArgs& d) { d.kv.num_pages = 0; }},
      B{"cache data null", I, "kv.data", [](DecodeArgs& d) { d.kv.data = nullptr; }},
      B{"cache base misaligned", M, "kv.data",
        [](DecodeArgs& d) { d.kv.data = static_cast<uint8_t*>(d.kv.data) + 8; }},
      B{"page stride misaligned", M, "kv.page_stride_bytes",
        [](DecodeArgs& d) { d.kv.page_stride_bytes = mla_kv_page_bytes(d.kv.format, d.kv.page_size) + 8; }},
      B{"page stride short", I, "kv.page_stride_bytes",
        [](DecodeArgs& d) { d.kv.page_stride_bytes = mla_kv_page_bytes(d.kv.format, d.kv.page_size) - 16; }},
      B{"scale NaN", I, "softmax_scale", [](DecodeArgs& d) { d.a.softmax_scale = NAN; }},
      B{"scale inf", I, "softmax_scale", [](DecodeArgs& d) { d.a.softmax_scale = INFINITY; }},
      B{"workspace short", MLA_STATUS_WORKSPACE_TOO_SMALL, "workspace",
        [](DecodeArgs& d) { d.ws_delta = 1; }},
      B{"workspace null", I, "workspace", [](DecodeArgs& d) { d.null_ws = true; }},
  };
}

DecodeSpec validation_decode_spec() {
  DecodeSpec s;
  s.h_q = 4;
  s.topk = 16;
  s.page_size = 8;
  s.extra = true;
  s.extra_topk = 8;
  s.sink = true;
  s.lengths = true;
  return s;
}

}  // namespace

TEST(Validation, SparseDecodeRejectsEveryBadArgumentAndWritesNothing) {
  Rng rng(fresh_seed());
  auto c = make_decode_case(validation_decode_spec(), rng);
  HostContext ctx;
  const Bytes out0 = c->out.bytes, lse0 = c->lse.bytes;
  for (const auto& b : decode_breakages()) {
    DecodeArgs d(*c);
    size_t need = 0;
    ASSERT_EQ(mla_sparse_decode_workspace_size(ctx.get(), &d.a, &need), MLA_STATUS_SUCCESS);
    ASSERT_GT(need, 0u) << "the host backend's scratch comes from the workspace";
    b.breaker(d);
    Bytes ws(need);
    const mla_status s =
        mla_sparse_decode(ctx.get(), d.null_args ? nullptr : &d.a, d.null_ws ? nullptr : ws.data(),
                          need - d.ws_delta, nullptr);
    EXPECT_EQ(s, b.status) << b.what << ": " << mla_last_error();
    EXPECT_NE(std::string(mla_last_error()).find(b.names), std::string::npos)
        << b.what << ": message '" << mla_last_error() << "' should name " << b.names;
    EXPECT_TRUE(unchanged(out0, c->out.bytes)) << b.what << ": out was written";
    EXPECT_TRUE(unchanged(lse0, c->lse.bytes)) << b.what << ": lse was written";
  }
  // The unbroken call succeeds, so every failure above came from its breakage.
  DecodeArgs d(*c);
  EXPECT_EQ(ctx.decode(d.a), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_error(), "");
}

TEST(Validation, NullContextAndNullSizeOutput) {
  Rng rng(fresh_seed());
  auto c = make_decode_case(validation_decode_spec(), rng);
  auto a = c->args();
  size_t bytes = 0;
  EXPECT_EQ(mla_sparse_decode_workspace_size(nullptr, &a, &bytes), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("ctx"), std::string::npos);
  HostContext ctx;
  EXPECT_EQ(mla_sparse_decode_workspace_size(ctx.get(), &a, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(mla_sparse_decode(nullptr, &a, nullptr, 0, nullptr), MLA_STATUS_INVALID_ARGUMENT);
}

TEST(Validation, SparsePrefillRejectsBadArguments) {
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.sink = true;
  s.lengths = true;
  auto c = make_prefill_case(s, rng);
  HostContext ctx;
  const Bytes out0 = c->out.bytes, ml0 = c->max_logits.bytes, lse0 = c->lse.bytes;
  struct Case {
    const char* what;
    const char* names;
    std::function<void(mla_sparse_prefill_args&, mla_tensor&)> breaker;
  };
  const Case cases[] = {
      {"d_qk 600", "d_qk", [](auto&, mla_tensor& q) { q.shape[2] = 600; }},
      {"q int32", "q", [](auto&, mla_tensor& q) { q.dtype = dt_i32(); }},
      {"kv heads", "kv", [](auto& a, mla_tensor&) {
         static mla_tensor kv;
         kv = *a.kv;
         kv.shape[1] = 2;
         a.kv = &kv;
       }},
      {"kv width", "kv", [](auto& a, mla_tensor&) {
         static mla_tensor kv;
         kv = *a.kv;
         kv.shape[2] = 512;
         a.kv = &kv;
       }},
      {"indices heads", "indices", [](auto& a, mla_tensor&) {
         static mla_tensor t;
         t = *a.indices;
         t.shape[1] = 2;
         a.indices = &t;
       }},
      {"lengths size", "topk_length", [](auto& a, mla_tensor&) {
         static mla_tensor t;
         t = *a.topk_length;
         t.shape[0] += 1;
         a.topk_length = &t;
       }},
      {"max_logits missing", "max_logits", [](auto& a, mla_tensor&) { a.max_logits = nullptr; }},
      {"lse shape", "lse", [](auto& a, mla_tensor&) {
         static mla_tensor t;
         t = *a.lse;
         t.shape[1] += 1;
         a.lse = &t;
       }},
      {"scale inf", "softmax_scale", [](auto& a, mla_tensor&) { a.softmax_scale = -INFINITY; }},
  };
  for (const Case& k : cases) {
    mla_sparse_prefill_args a = c->args();
    mla_tensor q = c->q.desc;
    a.q = &q;
    k.breaker(a, q);
    Bytes ws(1 << 24);
    EXPECT_EQ(mla_sparse_prefill(ctx.get(), &a, ws.data(), ws.size(), nullptr),
              MLA_STATUS_INVALID_ARGUMENT)
        << k.what;
    EXPECT_NE(std::string(mla_last_error()).find(k.names), std::string::npos)
        << k.what << ": " << mla_last_error();
    EXPECT_TRUE(unchanged(out0, c->out.bytes) && unchanged(ml0, c->max_logits.bytes) &&
                unchanged(lse0, c->lse.bytes))
        << k.what;
  }
  mla_sparse_prefill_args a = c->args();
  size_t need = 0;
  ASSERT_EQ(mla_sparse_prefill_workspace_size(ctx.get(), &a, &need), MLA_STATUS_SUCCESS);
  Bytes ws(need);
  EXPECT_EQ(mla_sparse_prefill(ctx.get(), &a, ws.data(), need - 1, nullptr),
            MLA_STATUS_WORKSPACE_TOO_SMALL);
  EXPECT_TRUE(unchanged(out0, c->out.bytes));
}

TEST(Validation, StoreAndGatherRejectBadArgumentsAndWriteNothing) {
  Rng rng(fresh_seed());
  KvSpec s;
  s.format = MLA_KV_FORMAT_V40;
  auto c = make_kv_case(s, rng);
  HostContext ctx;
  const Bytes cache0 = c->cache->bytes;
  struct Case {
    const char* what;
    mla_status status;
    const char* names;
    std::function<void(mla_tensor& k, mla_tensor& slots, mla_kv_cache& kv)> breaker;
  };
  const Case cases[] = {
      {"k width", MLA_STATUS_INVALID_ARGUMENT, "k", [](auto& k, auto&, auto&) { k.shape[1] = 576; }},
      {"k fp32", MLA_STATUS_INVALID_ARGUMENT, "k", [](auto& k, auto&, auto&) { k.dtype = dt_f32(); }},
      {"slots fp32", MLA_STATUS_INVALID_ARGUMENT, "slots",
       [](auto&, auto& sl, auto&) { sl.dtype = dt_f32(); }},
      {"slots count", MLA_STATUS_INVALID_ARGUMENT, "slots",
       [](auto&, auto& sl, auto&) { sl.shape[0] -= 1; }},
      {"format", MLA_STATUS_INVALID_ARGUMENT, "kv.format", [](auto&, auto&, auto& kv) { kv.format = 0; }},
      {"page 0", MLA_STATUS_INVALID_ARGUMENT, "kv.page_size",
       [](auto&, auto&, auto& kv) { kv.page_size = 0; }},
      {"misaligned", MLA_STATUS_MISALIGNED, "kv.data",
       [](auto&, auto&, auto& kv) { kv.data = static_cast<uint8_t*>(kv.data) + 4; }},
  };
  for (const Case& k : cases) {
    mla_tensor kt = c->k.desc, st = c->slots.desc;
    mla_kv_cache kv = c->cache->desc;
    k.breaker(kt, st, kv);
    mla_kv_store_args a{&kt, &st, &kv};
    EXPECT_EQ(mla_kv_store(ctx.get(), &a, nullptr), k.status) << k.what;
    EXPECT_NE(std::string(mla_last_error()).find(k.names), std::string::npos)
        << k.what << ": " << mla_last_error();
    EXPECT_TRUE(unchanged(cache0, c->cache->bytes)) << k.what << ": the cache was written";
  }
  EXPECT_EQ(mla_kv_store(ctx.get(), nullptr, nullptr), MLA_STATUS_INVALID_ARGUMENT);

  Tensor out(dt_bf16(), {s.rows, 512});
  poison(out);
  const Bytes out0 = out.bytes;
  mla_tensor bad = out.desc;
  bad.shape[1] = 576;
  mla_kv_gather_args g{&c->cache->desc, c->slots.ptr(), &bad};
  EXPECT_EQ(mla_kv_gather(ctx.get(), &g, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("out"), std::string::npos);
  bad = out.desc;
  bad.strides[1] = 3;
  EXPECT_EQ(mla_kv_gather(ctx.get(), &g, nullptr), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_TRUE(unchanged(out0, out.bytes));
}

namespace {

// Copies of every descriptor a paged prefill call points at, so a breakage edits only those.
struct PagedPrefillArgs {
  explicit PagedPrefillArgs(PagedPrefillCase& c)
      : q(c.q.desc),
        idx(c.idx.desc),
        len(c.len.desc),
        sink(c.sink.desc),
        out(c.out.desc),
        ml(c.max_logits.desc),
        lse(c.lse.desc),
        kv(c.kv->desc),
        a(c.args()) {
    a.q = &q, a.indices = &idx, a.topk_length = &len, a.attn_sink = &sink, a.out = &out;
    a.max_logits = &ml, a.lse = &lse, a.kv = &kv;
  }
  mla_tensor q, idx, len, sink, out, ml, lse;
  mla_kv_cache kv;
  mla_sparse_prefill_paged_args a;
  size_t ws_delta = 0;  // workspace bytes below the query's answer
  bool null_ws = false;
  bool null_args = false;
};

std::vector<Breakage<PagedPrefillArgs>> paged_prefill_breakages() {
  using B = Breakage<PagedPrefillArgs>;
  using P = PagedPrefillArgs;
  const auto I = MLA_STATUS_INVALID_ARGUMENT;
  const auto M = MLA_STATUS_MISALIGNED;
  auto page = [](const P& d) { return mla_kv_page_bytes(d.kv.format, d.kv.page_size); };
  return {
      B{"null args", I, "args", [](P& d) { d.null_args = true; }},
      B{"null q", I, "q", [](P& d) { d.a.q = nullptr; }},
      B{"null kv", I, "kv", [](P& d) { d.a.kv = nullptr; }},
      B{"null indices", I, "indices", [](P& d) { d.a.indices = nullptr; }},
      B{"null out", I, "out", [](P& d) { d.a.out = nullptr; }},
      B{"null max_logits", I, "max_logits", [](P& d) { d.a.max_logits = nullptr; }},
      B{"null lse", I, "lse", [](P& d) { d.a.lse = nullptr; }},
      B{"q data null", I, "q", [](P& d) { d.q.data = nullptr; }},
      B{"q fp32", I, "q", [](P& d) { d.q.dtype = dt_f32(); }},
      B{"q 4 dims", I, "q", [](P& d) { d.q.ndim = 4; }},
      B{"q 2 dims", I, "q", [](P& d) { d.q.ndim = 2; }},
      B{"d_qk 576 on V40", I, "d_qk", [](P& d) { d.q.shape[2] = 576; }},
      B{"q last stride", I, "q", [](P& d) { d.q.strides[2] = 2; }},
      B{"q negative stride", I, "q", [](P& d) { d.q.strides[0] = -1; }},
      B{"q negative size", I, "q", [](P& d) { d.q.shape[0] = -1; }},
      B{"h_q 0", I, "h_q", [](P& d) { d.q.shape[1] = 0; }},
      B{"indices int64", I, "indices", [](P& d) { d.idx.dtype = dt_i64(); }},
      B{"indices fp32", I, "indices", [](P& d) { d.idx.dtype = dt_f32(); }},
      B{"indices 1 dim", I, "indices", [](P& d) { d.idx.ndim = 1; }},
      B{"indices 4 dims", I, "indices", [](P& d) { d.idx.ndim = 4, d.idx.shape[3] = 1; }},
      B{"indices two heads", I, "h_kv", [](P& d) { d.idx.shape[1] = 2; }},
      B{"indices s_q", I, "indices", [](P& d) { d.idx.shape[0] += 1; }},
      B{"topk 0", I, "topk", [](P& d) { d.idx.shape[2] = 0; }},
      B{"indices last stride", I, "indices", [](P& d) { d.idx.strides[2] = 2; }},
      B{"indices data null", I, "indices", [](P& d) { d.idx.data = nullptr; }},
      B{"lengths fp32", I, "topk_length", [](P& d) { d.len.dtype = dt_f32(); }},
      B{"lengths size", I, "topk_length", [](P& d) { d.len.shape[0] += 1; }},
      B{"lengths 2 dims", I, "topk_length", [](P& d) { d.len.ndim = 2, d.len.shape[1] = 1; }},
      B{"sink size", I, "attn_sink", [](P& d) { d.sink.shape[0] += 1; }},
      B{"sink bf16", I, "attn_sink", [](P& d) { d.sink.dtype = dt_bf16(); }},
      B{"out d_v", I, "out", [](P& d) { d.out.shape[2] = 576; }},
      B{"out fp32", I, "out", [](P& d) { d.out.dtype = dt_f32(); }},
      B{"out heads", I, "out", [](P& d) { d.out.shape[1] += 1; }},
      B{"out last stride", I, "out", [](P& d) { d.out.strides[2] = 2; }},
      B{"max_logits shape", I, "max_logits", [](P& d) { d.ml.shape[1] += 1; }},
      B{"max_logits bf16", I, "max_logits", [](P& d) { d.ml.dtype = dt_bf16(); }},
      B{"lse rows", I, "lse", [](P& d) { d.lse.shape[0] += 1; }},
      B{"lse misaligned", M, "lse",
        [](P& d) { d.lse.data = static_cast<uint8_t*>(d.lse.data) + 2; }},
      B{"unknown format", I, "kv.format", [](P& d) { d.kv.format = 7; }},
      B{"format V32 for 512-wide q", I, "d_qk", [](P& d) { d.kv.format = MLA_KV_FORMAT_V32; }},
      B{"unknown fp8", I, "kv.fp8", [](P& d) { d.kv.fp8 = 9; }},
      B{"page size 0", I, "kv.page_size", [](P& d) { d.kv.page_size = 0; }},
      B{"no pages", I, "kv.num_pages", [](P& d) { d.kv.num_pages = 0; }},
      B{"pages past 2^57 bytes", I, "kv.num_pages",
        [](P& d) { d.kv.num_pages = (int64_t(1) << 57) / 37440 + 1; }},
      B{"cache data null", I, "kv.data", [](P& d) { d.kv.data = nullptr; }},
      B{"cache base misaligned", M, "kv.data",
        [](P& d) { d.kv.data = static_cast<uint8_t*>(d.kv.data) + 8; }},
      B{"page stride misaligned", M, "kv.page_stride_bytes",
        [page](P& d) { d.kv.page_stride_bytes = page(d) + 8; }},
      B{"page stride short", I, "kv.page_stride_bytes",
        [page](P& d) { d.kv.page_stride_bytes = page(d) - 16; }},
      B{"scale NaN", I, "softmax_scale", [](P& d) { d.a.softmax_scale = NAN; }},
      B{"scale -inf", I, "softmax_scale", [](P& d) { d.a.softmax_scale = -INFINITY; }},
      B{"workspace short", MLA_STATUS_WORKSPACE_TOO_SMALL, "workspace",
        [](P& d) { d.ws_delta = 1; }},
      B{"workspace null", I, "workspace", [](P& d) { d.null_ws = true; }},
  };
}

}  // namespace

TEST(Validation, SparsePrefillPagedRejectsEveryBadArgumentAndWritesNothing) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s;
  s.format = MLA_KV_FORMAT_V40;
  s.s_q = 3, s.h_q = 4, s.topk = 16, s.page_size = 64, s.sink = true, s.lengths = true;
  auto c = make_paged_prefill_case(s, rng);
  HostContext ctx;
  const Bytes out0 = c->out.bytes, ml0 = c->max_logits.bytes, lse0 = c->lse.bytes;
  const Bytes cache0 = c->kv->bytes;
  for (const auto& b : paged_prefill_breakages()) {
    PagedPrefillArgs d(*c);
    size_t need = 0;
    ASSERT_EQ(mla_sparse_prefill_paged_workspace_size(ctx.get(), &d.a, &need), MLA_STATUS_SUCCESS);
    ASSERT_GT(need, 0u) << "the host backend's scratch comes from the workspace";
    b.breaker(d);
    Bytes ws(need);
    const mla_status st =
        mla_sparse_prefill_paged(ctx.get(), d.null_args ? nullptr : &d.a,
                                 d.null_ws ? nullptr : ws.data(), need - d.ws_delta, nullptr);
    EXPECT_EQ(st, b.status) << b.what << ": " << mla_last_error();
    EXPECT_NE(std::string(mla_last_error()).find(b.names), std::string::npos)
        << b.what << ": message '" << mla_last_error() << "' should name " << b.names;
    EXPECT_TRUE(unchanged(out0, c->out.bytes)) << b.what << ": out was written";
    EXPECT_TRUE(unchanged(ml0, c->max_logits.bytes)) << b.what << ": max_logits was written";
    EXPECT_TRUE(unchanged(lse0, c->lse.bytes)) << b.what << ": lse was written";
    if (b.status != MLA_STATUS_WORKSPACE_TOO_SMALL && !d.null_ws) {  // the query agrees
      size_t bytes = 0;
      EXPECT_EQ(
          mla_sparse_prefill_paged_workspace_size(ctx.get(), d.null_args ? nullptr : &d.a, &bytes),
          b.status)
          << b.what;
    }
  }
  EXPECT_TRUE(unchanged(cache0, c->kv->bytes));
  // The unbroken call succeeds, so every failure above came from its breakage.
  PagedPrefillArgs d(*c);
  EXPECT_EQ(ctx.prefill_paged(d.a), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_error(), "");
  // The [s_q, topk] layout of indices, and its own checks.
  Tensor flat(dt_i32(), {s.s_q, s.topk});
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t j = 0; j < s.topk; ++j) flat.at<int32_t>({t, j}) = c->index(t, j);
  PagedPrefillArgs f(*c);
  f.idx = flat.desc;
  EXPECT_EQ(ctx.prefill_paged(f.a), MLA_STATUS_SUCCESS) << mla_last_error();
  f.idx.shape[1] = 0;
  EXPECT_EQ(ctx.prefill_paged(f.a), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("topk"), std::string::npos) << mla_last_error();
  f.idx = flat.desc;
  f.idx.shape[0] = 2;
  EXPECT_EQ(ctx.prefill_paged(f.a), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("s_q"), std::string::npos) << mla_last_error();
}

TEST(Validation, SparsePrefillPagedNullContextAndNullSizeOutput) {
  Rng rng(fresh_seed());
  PagedPrefillSpec s;
  s.s_q = 2, s.h_q = 2, s.topk = 8;
  auto c = make_paged_prefill_case(s, rng);
  auto a = c->args();
  size_t bytes = 0;
  EXPECT_EQ(mla_sparse_prefill_paged_workspace_size(nullptr, &a, &bytes),
            MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(mla_last_error()).find("ctx"), std::string::npos);
  HostContext ctx;
  EXPECT_EQ(mla_sparse_prefill_paged_workspace_size(ctx.get(), &a, nullptr),
            MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(mla_sparse_prefill_paged(nullptr, &a, nullptr, 0, nullptr),
            MLA_STATUS_INVALID_ARGUMENT);
}
