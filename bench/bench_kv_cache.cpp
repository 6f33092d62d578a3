// Cache store (quantize + scatter) and gather-dequant: pure data movement, judged against
// the copy ceiling (bytes read + bytes written).
#include <algorithm>
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
      << s_.page;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const int64_t d = mla_kv_row_dim(s_.format);
    kv_ = mla_kv_cache{};
    kv_.format = s_.format;
    kv_.fp8 = MLA_FP8_E4M3FN;
    kv_.page_size = s_.page;
    kv_.num_pages = (s_.tokens + s_.page - 1) / s_.page;
    cache_ = DevBuf(ctx, size_t(kv_.num_pages * mla_kv_page_bytes(s_.format, s_.page)));
    kv_.data = cache_.get();
    fill_cache(ctx, kv_, s_.tokens, 11);
    // Slots in a random order, as an engine's page table leaves them.
    std::vector<int64_t> slots(size_t(s_.tokens));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), std::mt19937_64(12));
    slots_buf_ = DevBuf(ctx, slots.size() * 8);
    slots_buf_.upload(slots.data(), slots.size() * 8);
    slots_ = i64_tensor(slots_buf_, {s_.tokens});
    rows_ = DevBuf(ctx, size_t(s_.tokens * d * 2));
    fill_bf16(rows_, size_t(s_.tokens * d), 0.1, 1e9, 13);
    rows_t_ = bf16_tensor(rows_, {s_.tokens, d});
    Work w;
    const double token_bytes = s_.format == MLA_KV_FORMAT_V32 ? 656 : 584;
    w.bytes = double(s_.tokens) * (token_bytes + double(d * 2) + 8);  // + the slot
    return w;
  }
  void run() override {
    if (s_.gather) {
      mla_kv_gather_args a{&kv_, &slots_, &rows_t_};
      check(mla_kv_gather(ctx_, &a, nullptr), "mla_kv_gather");
    } else {
      mla_kv_store_args a{&rows_t_, &slots_, &kv_};
      check(mla_kv_store(ctx_, &a, nullptr), "mla_kv_store");
    }
  }

 private:
  KvShape s_;
  mla_context ctx_ = nullptr;
  DevBuf cache_, slots_buf_, rows_;
  mla_kv_cache kv_{};
  mla_tensor slots_{}, rows_t_{};
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
