// Sparse decode and prefill at the shapes of ANCHORS.md; decode anchors are FlashMLA on the H200.
// The paged prefill (V4 shapes) is timed beside the pipeline it replaces: mla_kv_gather of the
// context's slots into bf16 rows, then mla_sparse_prefill over them.
#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <sstream>

#include "bench_case.h"

namespace bench {
namespace {

// ---- decode (ANCHORS: s_q = 2, FLOP = 2 h_q keys (d_qk + d_v), bytes = q + out + unique KV
// rows at 656 B (V3.2) or 576 B (V4.0) per token, scales ignored) ----

struct DecodeShape {
  int format;
  int64_t h_q, topk, extra_topk, b;
  double anchor_us;
};

class DecodeCase : public Case {
 public:
  explicit DecodeCase(DecodeShape s) : s_(s) {}
  std::string op() const override { return "sparse_decode"; }
  std::string shape() const override {
    std::ostringstream o;
    o << (s_.format == MLA_KV_FORMAT_V32 ? "V3.2" : "V4.0") << " h" << s_.h_q << " topk"
      << s_.topk;
    if (s_.extra_topk > 0) o << "+" << s_.extra_topk;
    o << " b" << s_.b << " sq" << kSq;
    return o.str();
  }

  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const bool v32 = s_.format == MLA_KV_FORMAT_V32;
    const int64_t d = v32 ? 576 : 512;
    // V3.2: each request owns a 32768-token context in 64-token pages and picks topk of it.
    // V4.0: a 128-token sliding window in 256-token pages (main) and a c4-compressed context
    // of 8192 tokens in 64-token pages (extra).
    const int64_t main_page = v32 ? 64 : 256, main_ctx = v32 ? 32768 : 256;
    kv_ = make_cache(s_.format, main_page, s_.b * main_ctx, &kv_buf_);
    fill_cache(ctx, kv_, s_.b * main_ctx, 1);
    std::mt19937_64 gen(2);
    std::set<int64_t> unique;
    auto pick = [&](int64_t i, int64_t n, int64_t ctx_len, bool window, std::vector<int32_t>& out) {
      for (int64_t s = 0; s < kSq; ++s) {
        std::uniform_int_distribution<int64_t> u(0, ctx_len - 1);
        for (int64_t j = 0; j < n; ++j) {
          const int64_t slot = i * ctx_len + (window ? ctx_len - n + j : u(gen));
          out.push_back(int32_t(slot));
        }
      }
    };
    std::vector<int32_t> idx, eidx;
    std::set<int64_t> main_rows, extra_rows;
    for (int64_t i = 0; i < s_.b; ++i) pick(i, s_.topk, main_ctx, !v32, idx);
    main_rows.insert(idx.begin(), idx.end());
    idx_buf_ = DevBuf(ctx, idx.size() * 4);
    idx_buf_.upload(idx.data(), idx.size() * 4);
    idx_ = i32_tensor(idx_buf_, {s_.b, kSq, s_.topk});
    if (s_.extra_topk > 0) {
      const int64_t ectx = 8192;
      ekv_ = make_cache(s_.format, 64, s_.b * ectx, &ekv_buf_);
      fill_cache(ctx, ekv_, s_.b * ectx, 3);
      for (int64_t i = 0; i < s_.b; ++i) pick(i, s_.extra_topk, ectx, false, eidx);
      extra_rows.insert(eidx.begin(), eidx.end());
      eidx_buf_ = DevBuf(ctx, eidx.size() * 4);
      eidx_buf_.upload(eidx.data(), eidx.size() * 4);
      eidx_ = i32_tensor(eidx_buf_, {s_.b, kSq, s_.extra_topk});
    }
    q_buf_ = DevBuf(ctx, size_t(s_.b * kSq * s_.h_q * d * 2));
    fill_bf16(q_buf_, size_t(s_.b * kSq * s_.h_q * d), 1.0, 1.0, 4);
    q_ = bf16_tensor(q_buf_, {s_.b, kSq, s_.h_q, d});
    out_buf_ = DevBuf(ctx, size_t(s_.b * kSq * s_.h_q * 512 * 2));
    out_ = bf16_tensor(out_buf_, {s_.b, kSq, s_.h_q, 512});
    lse_buf_ = DevBuf(ctx, size_t(s_.b * s_.h_q * kSq * 4));
    lse_ = f32_tensor(lse_buf_, {s_.b, s_.h_q, kSq});
    std::vector<float> sink(size_t(s_.h_q), 0.5f);
    sink_buf_ = DevBuf(ctx, sink.size() * 4);
    sink_buf_.upload(sink.data(), sink.size() * 4);
    sink_ = f32_tensor(sink_buf_, {s_.h_q});

    args_ = mla_sparse_decode_args{};
    args_.q = &q_, args_.kv = &kv_, args_.indices = &idx_;
    if (s_.extra_topk > 0) args_.extra_kv = &ekv_, args_.extra_indices = &eidx_;
    args_.attn_sink = v32 ? nullptr : &sink_;
    args_.softmax_scale = v32 ? 0.13523f : float(1.0 / std::sqrt(512.0));
    args_.out = &out_, args_.lse = &lse_;
    size_t ws = 0;
    check(mla_sparse_decode_workspace_size(ctx, &args_, &ws), "decode workspace size");
    ws_buf_ = DevBuf(ctx, ws == 0 ? 16 : ws);

    Work w;
    const double keys = double(s_.b * kSq * (s_.topk + s_.extra_topk));
    w.flops = 2.0 * double(s_.h_q) * keys * double(d + 512);
    const double row_bytes = v32 ? 656 : 576;
    w.bytes = double(q_buf_.size() + out_buf_.size()) +
              row_bytes * double(main_rows.size() + extra_rows.size());
    w.anchor_us = s_.anchor_us;
    return w;
  }

  void run() override {
    check(mla_sparse_decode(ctx_, &args_, ws_buf_.get(), ws_buf_.size(), nullptr),
          "mla_sparse_decode");
  }

 private:
  static constexpr int64_t kSq = 2;
  mla_kv_cache make_cache(int format, int64_t page, int64_t slots, DevBuf* buf) {
    mla_kv_cache c{};
    c.format = format;
    c.fp8 = MLA_FP8_E4M3FN;
    c.page_size = page;
    c.num_pages = (slots + page - 1) / page;
    *buf = DevBuf(ctx_, size_t(c.num_pages * mla_kv_page_bytes(format, page)));
    c.data = buf->get();
    return c;
  }
  DecodeShape s_;
  mla_context ctx_ = nullptr;
  DevBuf kv_buf_, ekv_buf_, idx_buf_, eidx_buf_, q_buf_, out_buf_, lse_buf_, sink_buf_, ws_buf_;
  mla_kv_cache kv_{}, ekv_{};
  mla_tensor idx_{}, eidx_{}, q_{}, out_{}, lse_{}, sink_{};
  mla_sparse_decode_args args_{};
};

CaseList decode_cases() {
  // Reference times: FlashMLA on the project's H200 (kernel time, L2 flushed, 2026-11-30);
  // the TP8 rows (h16, h8) are FlashMLA at the 64 heads engines pad to. -1: no H200 figure.
  const DecodeShape shapes[] = {
      {MLA_KV_FORMAT_V32, 128, 2048, 0, 2, -1},      {MLA_KV_FORMAT_V32, 128, 2048, 0, 64, 186},
      {MLA_KV_FORMAT_V32, 128, 2048, 0, 128, 364},   {MLA_KV_FORMAT_V32, 16, 2048, 0, 128, 224},
      {MLA_KV_FORMAT_V40, 64, 128, 512, 64, -1},     {MLA_KV_FORMAT_V40, 64, 128, 512, 128, 91},
      {MLA_KV_FORMAT_V40, 64, 128, 512, 256, -1},    {MLA_KV_FORMAT_V40, 128, 128, 1024, 64, -1},
      {MLA_KV_FORMAT_V40, 128, 128, 1024, 128, 206}, {MLA_KV_FORMAT_V40, 128, 128, 1024, 256, -1},
      {MLA_KV_FORMAT_V40, 8, 128, 512, 128, 91},     {MLA_KV_FORMAT_V40, 16, 128, 512, 128, -1},
      {MLA_KV_FORMAT_V32, 8, 2048, 0, 128, -1},      {MLA_KV_FORMAT_V32, 32, 2048, 0, 128, -1},
      {MLA_KV_FORMAT_V32, 64, 64, 0, 1, -1},  // one small request: latency, not throughput
  };
  CaseList out;
  for (const auto& s : shapes) out.push_back(std::make_unique<DecodeCase>(s));
  return out;
}
MLA_BENCH_CASES(decode_cases);

// ---- prefill (ANCHORS: s_q = 4096, with sink; TFLOP/s only) ----

struct PrefillShape {
  int64_t d_qk, h_q, topk, s_kv;
  double anchor_us;
};

class PrefillCase : public Case {
 public:
  explicit PrefillCase(PrefillShape s) : s_(s) {}
  std::string op() const override { return "sparse_prefill"; }
  std::string shape() const override {
    std::ostringstream o;
    o << (s_.d_qk == 576 ? "V3.2" : "V4.0") << " h" << s_.h_q << " topk" << s_.topk << " skv"
      << s_.s_kv << " sq" << kSq;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const int64_t d = s_.d_qk;
    q_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * d * 2));
    fill_bf16(q_buf_, size_t(kSq * s_.h_q * d), 1.0, 1.0, 5);
    kv_buf_ = DevBuf(ctx, size_t(s_.s_kv * d * 2));
    fill_bf16(kv_buf_, size_t(s_.s_kv * d), 0.1, 1e9, 6);
    std::vector<int32_t> idx(static_cast<size_t>(kSq * s_.topk));
    std::mt19937_64 gen(7);
    std::uniform_int_distribution<int32_t> u(0, int32_t(s_.s_kv - 1));
    for (auto& v : idx) v = u(gen);
    idx_buf_ = DevBuf(ctx, idx.size() * 4);
    idx_buf_.upload(idx.data(), idx.size() * 4);
    std::vector<float> sink(size_t(s_.h_q), 0.5f);
    sink_buf_ = DevBuf(ctx, sink.size() * 4);
    sink_buf_.upload(sink.data(), sink.size() * 4);
    out_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 512 * 2));
    ml_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 4));
    lse_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 4));
    q_ = bf16_tensor(q_buf_, {kSq, s_.h_q, d});
    kv_ = bf16_tensor(kv_buf_, {s_.s_kv, 1, d});
    idx_ = i32_tensor(idx_buf_, {kSq, 1, s_.topk});
    sink_ = f32_tensor(sink_buf_, {s_.h_q});
    out_ = bf16_tensor(out_buf_, {kSq, s_.h_q, 512});
    ml_ = f32_tensor(ml_buf_, {kSq, s_.h_q});
    lse_ = f32_tensor(lse_buf_, {kSq, s_.h_q});
    args_ = mla_sparse_prefill_args{&q_, &kv_, &idx_, nullptr, &sink_,
                                    float(1.0 / std::sqrt(double(d))), &out_, &ml_, &lse_};
    size_t ws = 0;
    check(mla_sparse_prefill_workspace_size(ctx, &args_, &ws), "prefill workspace size");
    ws_buf_ = DevBuf(ctx, ws == 0 ? 16 : ws);
    Work w;
    w.flops = 2.0 * double(s_.h_q) * double(kSq * s_.topk) * double(d + 512);
    w.bytes = double(q_buf_.size() + out_buf_.size() + idx_buf_.size());
    w.anchor_us = s_.anchor_us;
    return w;
  }
  void run() override {
    check(mla_sparse_prefill(ctx_, &args_, ws_buf_.get(), ws_buf_.size(), nullptr),
          "mla_sparse_prefill");
  }

 private:
  static constexpr int64_t kSq = 4096;
  PrefillShape s_;
  mla_context ctx_ = nullptr;
  DevBuf q_buf_, kv_buf_, idx_buf_, sink_buf_, out_buf_, ml_buf_, lse_buf_, ws_buf_;
  mla_tensor q_{}, kv_{}, idx_{}, sink_{}, out_{}, ml_{}, lse_{};
  mla_sparse_prefill_args args_{};
};

CaseList prefill_cases() {
  const PrefillShape shapes[] = {
      {576, 128, 2048, 32768, 3765}, {576, 128, 2048, 131072, 4286},
      {512, 64, 512, 32768, 600},    {512, 128, 1024, 32768, 1915},
      // TP8: FlashMLA padded to 64 heads (issue 8's H200 figure for V4.0; none for V3.2).
      {512, 16, 1024, 32768, 932},   {576, 16, 2048, 32768, -1},
  };
  CaseList out;
  for (const auto& s : shapes) out.push_back(std::make_unique<PrefillCase>(s));
  return out;
}
MLA_BENCH_CASES(prefill_cases);

// ---- prefill from the paged cache (V4.0 compressed c4 cache, pages of 64 tokens) ----
// A request's compressed context of kCtx tokens lies on kCtx / 64 pages scattered over a pool
// twice that size; each of kSq query tokens picks topk context positions. The paged call reads
// the slots directly; the old pipeline gathers the context's slots into bf16 rows (the engines'
// dequantize step) and runs mla_sparse_prefill over the rows with context positions as indices.
// FLOPs as for prefill; bytes q + out + indices, as for prefill (TFLOP/s is the figure).

struct PagedPrefillShape {
  int64_t h_q, topk;
  bool old_pipeline;
  double anchor_us;  // FlashMLA's sparse prefill over bf16 rows at the same shape; -1: none
};

class PagedPrefillCase : public Case {
 public:
  explicit PagedPrefillCase(PagedPrefillShape s) : s_(s) {}
  std::string op() const override {
    return s_.old_pipeline ? "gather+sparse_prefill" : "sparse_prefill_paged";
  }
  std::string shape() const override {
    std::ostringstream o;
    o << "V4.0 h" << s_.h_q << " topk" << s_.topk << " P" << kPage << " ctx" << kCtx << " sq"
      << kSq;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    constexpr int64_t d = 512;
    const int64_t ctx_pages = kCtx / kPage, pool_pages = 2 * ctx_pages;
    kv_ = mla_kv_cache{};
    kv_.format = MLA_KV_FORMAT_V40;
    kv_.fp8 = MLA_FP8_E4M3FN;
    kv_.page_size = kPage;
    kv_.num_pages = pool_pages;
    kv_buf_ = DevBuf(ctx, size_t(pool_pages * mla_kv_page_bytes(MLA_KV_FORMAT_V40, kPage)));
    kv_.data = kv_buf_.get();
    fill_cache(ctx, kv_, pool_pages * kPage, 8);
    // The context's pages: a random choice of the pool's, in random order.
    std::mt19937_64 gen(9);
    std::vector<int32_t> pages(static_cast<size_t>(pool_pages));
    for (size_t i = 0; i < pages.size(); ++i) pages[i] = int32_t(i);
    std::shuffle(pages.begin(), pages.end(), gen);
    std::vector<int32_t> slot_of(static_cast<size_t>(kCtx));
    for (int64_t i = 0; i < kCtx; ++i)
      slot_of[size_t(i)] = int32_t(pages[size_t(i / kPage)] * kPage + i % kPage);
    std::vector<int32_t> idx(static_cast<size_t>(kSq * s_.topk));
    std::uniform_int_distribution<int32_t> u(0, int32_t(kCtx - 1));
    for (auto& v : idx) {
      const int32_t pos = u(gen);
      v = s_.old_pipeline ? pos : slot_of[size_t(pos)];
    }
    idx_buf_ = DevBuf(ctx, idx.size() * 4);
    idx_buf_.upload(idx.data(), idx.size() * 4);
    q_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * d * 2));
    fill_bf16(q_buf_, size_t(kSq * s_.h_q * d), 1.0, 1.0, 10);
    std::vector<float> sink(size_t(s_.h_q), 0.5f);
    sink_buf_ = DevBuf(ctx, sink.size() * 4);
    sink_buf_.upload(sink.data(), sink.size() * 4);
    out_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 512 * 2));
    ml_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 4));
    lse_buf_ = DevBuf(ctx, size_t(kSq * s_.h_q * 4));
    q_ = bf16_tensor(q_buf_, {kSq, s_.h_q, d});
    sink_ = f32_tensor(sink_buf_, {s_.h_q});
    out_ = bf16_tensor(out_buf_, {kSq, s_.h_q, 512});
    ml_ = f32_tensor(ml_buf_, {kSq, s_.h_q});
    lse_ = f32_tensor(lse_buf_, {kSq, s_.h_q});
    const float scale = float(1.0 / std::sqrt(double(d)));
    size_t ws = 0;
    if (s_.old_pipeline) {
      slots_buf_ = DevBuf(ctx, slot_of.size() * 4);
      slots_buf_.upload(slot_of.data(), slot_of.size() * 4);
      slots_ = i32_tensor(slots_buf_, {kCtx});
      rows_buf_ = DevBuf(ctx, size_t(kCtx * d * 2));
      rows_ = bf16_tensor(rows_buf_, {kCtx, d});
      rows3_ = bf16_tensor(rows_buf_, {kCtx, 1, d});
      idx_ = i32_tensor(idx_buf_, {kSq, 1, s_.topk});
      gather_ = mla_kv_gather_args{&kv_, &slots_, &rows_};
      prefill_ =
          mla_sparse_prefill_args{&q_, &rows3_, &idx_, nullptr, &sink_, scale, &out_, &ml_, &lse_};
      check(mla_sparse_prefill_workspace_size(ctx, &prefill_, &ws), "prefill workspace size");
    } else {
      idx_ = i32_tensor(idx_buf_, {kSq, s_.topk});
      paged_ = mla_sparse_prefill_paged_args{&q_,   &kv_,  &idx_, nullptr, &sink_,
                                             scale, &out_, &ml_,  &lse_};
      check(mla_sparse_prefill_paged_workspace_size(ctx, &paged_, &ws),
            "paged prefill workspace size");
    }
    ws_buf_ = DevBuf(ctx, ws == 0 ? 16 : ws);
    Work w;
    w.flops = 2.0 * double(s_.h_q) * double(kSq * s_.topk) * double(d + 512);
    w.bytes = double(q_buf_.size() + out_buf_.size() + idx_buf_.size());
    w.anchor_us = s_.anchor_us;
    return w;
  }
  void run() override {
    if (s_.old_pipeline) {
      check(mla_kv_gather(ctx_, &gather_, nullptr), "mla_kv_gather");
      check(mla_sparse_prefill(ctx_, &prefill_, ws_buf_.get(), ws_buf_.size(), nullptr),
            "mla_sparse_prefill");
    } else {
      check(mla_sparse_prefill_paged(ctx_, &paged_, ws_buf_.get(), ws_buf_.size(), nullptr),
            "mla_sparse_prefill_paged");
    }
  }

 private:
  static constexpr int64_t kSq = 4096, kPage = 64, kCtx = 32768;
  PagedPrefillShape s_;
  mla_context ctx_ = nullptr;
  DevBuf kv_buf_, idx_buf_, slots_buf_, rows_buf_, q_buf_, sink_buf_, out_buf_, ml_buf_, lse_buf_,
      ws_buf_;
  mla_kv_cache kv_{};
  mla_tensor idx_{}, slots_{}, rows_{}, rows3_{}, q_{}, sink_{}, out_{}, ml_{}, lse_{};
  mla_kv_gather_args gather_{};
  mla_sparse_prefill_args prefill_{};
  mla_sparse_prefill_paged_args paged_{};
};

CaseList paged_prefill_cases() {
  // V4 Flash (h64, c4 topk 512) and Pro (h128, topk 1024), each as one paged call and as the
  // gather + prefill pipeline it replaces.
  const PagedPrefillShape shapes[] = {
      {64, 512, false, 600},
      {64, 512, true, 600},
      {128, 1024, false, 1915},
      {128, 1024, true, 1915},
      {16, 1024, false, 932},  // TP8 (FlashMLA padded to 64 heads)
      {16, 1024, true, 932},
  };
  CaseList out;
  for (const auto& s : shapes) out.push_back(std::make_unique<PagedPrefillCase>(s));
  return out;
}
MLA_BENCH_CASES(paged_prefill_cases);

}  // namespace
}  // namespace bench
