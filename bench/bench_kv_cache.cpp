// Cache store (quantize + scatter) and gather-dequant: pure data movement, judged against
// the copy ceiling (bytes read + bytes written).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "bench_case.h"

namespace bench {
namespace {

struct KvShape {
  int format;
  int64_t tokens, page;
  bool gather;
};

class KvCase : public Case {
 public:
  explicit KvCase(KvShape s) : s_(s) {}
  std::string op() const override { return s_.gather ? "kv_gather" : "kv_store"; }
  std::string shape() const override {
    std::ostringstream o;
    o << (s_.format == MLA_KV_FORMAT_V32 ? "V3.2" : "V4.0") << " tokens" << s_.tokens << " P"
      << s_.page << " pages shuffled";
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const int64_t d = mla_kv_row_dim(s_.format);
    // Enough buffer sets that consecutive calls never find their data in L2 (<= 60 MB on
    // Hopper): calls rotate through them.
    const double set_bytes = double(s_.tokens) * (1200.0 + 1152.0);
    const int sets = std::max(1, int(std::ceil(480e6 / set_bytes)));
    kv_.resize(size_t(sets));
    caches_.resize(size_t(sets));
    rows_.resize(size_t(sets));
    rows_t_.resize(size_t(sets));
    for (int i = 0; i < sets; ++i) {
      mla_kv_cache& kv = kv_[size_t(i)];
      kv = mla_kv_cache{};
      kv.format = s_.format;
      kv.fp8 = MLA_FP8_E4M3FN;
      kv.page_size = s_.page;
      kv.num_pages = (s_.tokens + s_.page - 1) / s_.page;
      caches_[size_t(i)] =
          DevBuf(ctx, size_t(kv.num_pages * mla_kv_page_bytes(s_.format, s_.page)));
      kv.data = caches_[size_t(i)].get();
      fill_cache(ctx, kv, s_.tokens, 11 + uint64_t(i));
      rows_[size_t(i)] = DevBuf(ctx, size_t(s_.tokens * d * 2));
      fill_bf16(rows_[size_t(i)], size_t(s_.tokens * d), 0.1, 1e9, 13 + uint64_t(i));
      rows_t_[size_t(i)] = bf16_tensor(rows_[size_t(i)], {s_.tokens, d});
    }
    // Slots as an engine's paged allocator leaves them: tokens in order within a page, the
    // pages themselves in a random order.
    std::vector<int64_t> pages(static_cast<size_t>(kv_[0].num_pages));
    std::iota(pages.begin(), pages.end(), 0);
    std::shuffle(pages.begin(), pages.end(), std::mt19937_64(12));
    std::vector<int64_t> slots(static_cast<size_t>(s_.tokens));
    for (int64_t t = 0; t < s_.tokens; ++t)
      slots[size_t(t)] = pages[size_t(t / s_.page)] * s_.page + t % s_.page;
    slots_buf_ = DevBuf(ctx, slots.size() * 8);
    slots_buf_.upload(slots.data(), slots.size() * 8);
    slots_ = i64_tensor(slots_buf_, {s_.tokens});
    Work w;
    const double token_bytes = s_.format == MLA_KV_FORMAT_V32 ? 656 : 584;
    w.bytes = double(s_.tokens) * (token_bytes + double(d * 2) + 8);  // + the slot
    return w;
  }
  void run() override {
    const size_t i = next_++ % kv_.size();
    if (s_.gather) {
      mla_kv_gather_args a{&kv_[i], &slots_, &rows_t_[i]};
      check(mla_kv_gather(ctx_, &a, nullptr), "mla_kv_gather");
    } else {
      mla_kv_store_args a{&rows_t_[i], &slots_, &kv_[i]};
      check(mla_kv_store(ctx_, &a, nullptr), "mla_kv_store");
    }
  }

 private:
  KvShape s_;
  mla_context ctx_ = nullptr;
  DevBuf slots_buf_;
  std::vector<DevBuf> caches_, rows_;
  std::vector<mla_kv_cache> kv_;
  std::vector<mla_tensor> rows_t_;
  mla_tensor slots_{};
  size_t next_ = 0;
};

CaseList kv_cases() {
  CaseList out;
  for (bool gather : {false, true})
    for (int f : {MLA_KV_FORMAT_V40, MLA_KV_FORMAT_V32})
      for (int64_t tokens : {int64_t(65536), int64_t(1) << 20})
        out.push_back(std::make_unique<KvCase>(KvShape{f, tokens, f == MLA_KV_FORMAT_V40 ? 256 : 64, gather}));
  return out;
}
MLA_BENCH_CASES(kv_cases);

}  // namespace
}  // namespace bench
