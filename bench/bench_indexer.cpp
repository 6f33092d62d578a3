// The lightning indexer at the V3.2 decode shape (B 128, next_n 1 and 2, H 64, D 128,
// context 32768) and the per-row top-k at B 128 x 65536, K 2048.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <sstream>

#include "bench_case.h"

namespace bench {
namespace {

// fp8 e4m3fn codes of moderate magnitude, never NaN.
std::vector<uint8_t> random_fp8(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 gen(seed);
  for (auto& b : v) b = uint8_t((gen() % 0x58) + 0x10) | uint8_t(gen() & 0x80);
  return v;
}

class PagedLogitsCase : public Case {
 public:
  PagedLogitsCase(int64_t b, int64_t next_n) : b_(b), next_n_(next_n) {}
  std::string op() const override { return "indexer_paged"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "B" << b_ << " next_n" << next_n_ << " H" << kH << " D" << kD << " ctx" << kCtx;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const int64_t pages_per_req = kCtx / 64, pages = b_ * pages_per_req;
    const int64_t page_bytes = 64 * (kD + 4);
    cache_ = DevBuf(ctx, size_t(pages * page_bytes));
    // A pool of random pages, repeated over the cache; scales are valid fp32.
    const int64_t pool_pages = std::min<int64_t>(pages, 256);
    std::vector<uint8_t> pool = random_fp8(size_t(pool_pages * page_bytes), 31);
    for (int64_t p = 0; p < pool_pages; ++p)
      for (int t = 0; t < 64; ++t) {
        const float s = 0.01f + 0.001f * float(t);
        std::memcpy(&pool[size_t(p * page_bytes + 64 * kD + 4 * t)], &s, 4);
      }
    for (int64_t p = 0; p < pages; p += pool_pages)
      cache_.upload(pool.data(), size_t(std::min(pool_pages, pages - p) * page_bytes),
                    size_t(p * page_bytes));
    std::vector<int32_t> table(static_cast<size_t>(pages));
    std::iota(table.begin(), table.end(), 0);
    std::shuffle(table.begin(), table.end(), std::mt19937_64(32));
    table_ = DevBuf(ctx, table.size() * 4);
    table_.upload(table.data(), table.size() * 4);
    const std::vector<uint8_t> q = random_fp8(size_t(b_ * next_n_ * kH * kD), 33);
    q_ = DevBuf(ctx, q.size());
    q_.upload(q.data(), q.size());
    std::vector<float> w(static_cast<size_t>(b_ * next_n_ * kH));
    std::mt19937 gen(34);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& x : w) x = nd(gen);
    w_ = DevBuf(ctx, w.size() * 4);
    w_.upload(w.data(), w.size() * 4);
    std::vector<int32_t> lens(static_cast<size_t>(b_), int32_t(kCtx));
    lens_ = DevBuf(ctx, lens.size() * 4);
    lens_.upload(lens.data(), lens.size() * 4);
    logits_ = DevBuf(ctx, size_t(b_ * next_n_ * kCtx * 4));
    tq_ = tensor(q_.get(), MLA_DTYPE_FLOAT8_E4M3FN, 8, {b_, next_n_, kH, kD});
    tc_ = tensor(cache_.get(), MLA_DTYPE_UINT, 8, {pages, page_bytes});
    tw_ = f32_tensor(w_, {b_ * next_n_, kH});
    tl_ = i32_tensor(lens_, {b_});
    tt_ = i32_tensor(table_, {b_, pages_per_req});
    to_ = f32_tensor(logits_, {b_ * next_n_, kCtx});
    args_ = mla_indexer_paged_logits_args{&tq_, &tc_, MLA_FP8_E4M3FN, &tw_, &tl_, &tt_, &to_};
    size_t ws = 0;
    check(mla_indexer_paged_logits_workspace_size(ctx, &args_, &ws), "paged logits workspace");
    ws_ = DevBuf(ctx, ws == 0 ? 16 : ws);
    Work wk;
    wk.flops = 2.0 * double(b_ * next_n_) * kH * kD * double(kCtx);
    wk.bytes = double(cache_.size() + q_.size() + w_.size() + logits_.size() + table_.size());
    return wk;
  }
  void run() override {
    check(mla_indexer_paged_logits(ctx_, &args_, ws_.get(), ws_.size(), nullptr),
          "mla_indexer_paged_logits");
  }

 private:
  static constexpr int64_t kH = 64, kD = 128, kCtx = 32768;
  int64_t b_, next_n_;
  mla_context ctx_ = nullptr;
  DevBuf cache_, table_, q_, w_, lens_, logits_, ws_;
  mla_tensor tq_{}, tc_{}, tw_{}, tl_{}, tt_{}, to_{};
  mla_indexer_paged_logits_args args_{};
};

class TopkCase : public Case {
 public:
  TopkCase(int64_t rows, int64_t len, int64_t k) : rows_(rows), len_(len), k_(k) {}
  std::string op() const override { return "indexer_topk"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "rows" << rows_ << " L" << len_ << " K" << k_;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    std::vector<float> l(static_cast<size_t>(rows_ * len_));
    std::mt19937 gen(35);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (auto& x : l) x = nd(gen);
    logits_ = DevBuf(ctx, l.size() * 4);
    logits_.upload(l.data(), l.size() * 4);
    out_ = DevBuf(ctx, size_t(rows_ * k_ * 4));
    tl_ = f32_tensor(logits_, {rows_, len_});
    to_ = i32_tensor(out_, {rows_, k_});
    args_ = mla_indexer_topk_args{&tl_, nullptr, nullptr, 0, nullptr, 1, &to_, nullptr};
    size_t ws = 0;
    check(mla_indexer_topk_workspace_size(ctx, &args_, &ws), "topk workspace");
    ws_ = DevBuf(ctx, ws == 0 ? 16 : ws);
    Work w;
    w.bytes = double(logits_.size() + out_.size());
    return w;
  }
  void run() override {
    check(mla_indexer_topk(ctx_, &args_, ws_.get(), ws_.size(), nullptr), "mla_indexer_topk");
  }

 private:
  int64_t rows_, len_, k_;
  mla_context ctx_ = nullptr;
  DevBuf logits_, out_, ws_;
  mla_tensor tl_{}, to_{};
  mla_indexer_topk_args args_{};
};

CaseList indexer_cases() {
  CaseList out;
  out.push_back(std::make_unique<PagedLogitsCase>(128, 1));
  out.push_back(std::make_unique<PagedLogitsCase>(128, 2));
  out.push_back(std::make_unique<TopkCase>(128, 65536, 2048));
  out.push_back(std::make_unique<TopkCase>(128, 65536, 512));
  out.push_back(std::make_unique<TopkCase>(128, 32768, 1024));
  return out;
}
MLA_BENCH_CASES(indexer_cases);

}  // namespace
}  // namespace bench
