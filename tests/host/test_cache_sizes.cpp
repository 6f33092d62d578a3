// Cache descriptors whose byte sizes do not fit: page bytes that overflow int64, a cache of more
// than 2^57 bytes (num_pages x page stride), and one that runs past the end of the address
// space. Every operation that takes a cache refuses them, names the field, and writes nothing;
// mla_kv_page_bytes says -1 instead of a wrapped size.
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "attention_cases.h"
#include "host_context.h"
#include "kv_cases.h"

using namespace mlatest;

namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t pow2(int n) {
  return int64_t(1) << n;
}

// Page bytes written from SPEC 2.1 and 2.2 in 128-bit integers: 656 per token (V32); 584 per
// token padded to a multiple of 576 (V40).
__int128 page_bytes_128(int format, int64_t page_size) {
  if (format == MLA_KV_FORMAT_V32) return __int128(page_size) * 656;
  const __int128 used = __int128(page_size) * 584;
  return (used + 575) / 576 * 576;
}

struct CacheBreak {
  const char* what;
  const char* field;  // after "kv." or "extra_kv."
  std::function<void(mla_kv_cache&)> apply;
};

std::vector<CacheBreak> cache_breaks() {
  return {
      {"page_size 2^60", "page_size", [](mla_kv_cache& c) { c.page_size = pow2(60); }},
      {"page_size 2^58 + 1", "page_size", [](mla_kv_cache& c) { c.page_size = pow2(58) + 1; }},
      {"page_size INT64_MAX", "page_size", [](mla_kv_cache& c) { c.page_size = kMax; }},
      {"num_pages INT64_MAX", "num_pages", [](mla_kv_cache& c) { c.num_pages = kMax; }},
      {"num_pages 2^57", "num_pages", [](mla_kv_cache& c) { c.num_pages = pow2(57); }},
      {"page_stride_bytes 2^62", "page_stride_bytes",
       [](mla_kv_cache& c) { c.page_stride_bytes = pow2(62); }},
      {"page_stride_bytes 2^56 over 3 pages", "num_pages",
       [](mla_kv_cache& c) {
         c.page_stride_bytes = pow2(56);
         c.num_pages = 3;
       }},
      {"data 4 KiB before the end of the address space", "data",
       [](mla_kv_cache& c) { c.data = reinterpret_cast<void*>(uintptr_t(0) - 4096); }},
  };
}

// Applies every break to one cache of valid arguments (through `edit`, which returns the
// descriptor the call will read) and checks status, message and untouched outputs.
void expect_cache_breaks(const char* name, const std::function<mla_kv_cache&()>& edit,
                         const std::function<void()>& reset,
                         const std::function<mla_status()>& call,
                         const std::vector<const Bytes*>& outputs) {
  std::vector<Bytes> before;
  for (const Bytes* b : outputs) before.push_back(*b);
  for (const CacheBreak& b : cache_breaks()) {
    reset();
    b.apply(edit());
    EXPECT_EQ(call(), MLA_STATUS_INVALID_ARGUMENT) << name << ", " << b.what;
    const std::string prefix = std::string(name) + "." + b.field;
    EXPECT_EQ(std::string(mla_last_error()).rfind(prefix, 0), 0u)
        << name << ", " << b.what << ": '" << mla_last_error() << "' should start with " << prefix;
    for (size_t i = 0; i < outputs.size(); ++i)
      EXPECT_TRUE(unchanged(before[i], *outputs[i])) << name << ", " << b.what << ": written";
  }
  reset();
  EXPECT_EQ(call(), MLA_STATUS_SUCCESS) << name << ": " << mla_last_error();
}

}  // namespace

TEST(CacheSizes, PageBytesAreExactOrMinusOne) {
  const int64_t sizes[] = {
      1,        64,  pow2(40), kMax / 656, kMax / 656 + 1, kMax / 584, kMax / 584 + 1, pow2(58) + 1,
      pow2(60), kMax};
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    for (int64_t p : sizes) {
      const __int128 want = page_bytes_128(format, p);
      const int64_t got = mla_kv_page_bytes(format, p);
      if (want <= kMax)
        EXPECT_EQ(got, int64_t(want)) << "format " << format << ", page_size " << p;
      else
        EXPECT_EQ(got, -1) << "format " << format << ", page_size " << p << ": overflows";
    }
    EXPECT_EQ(mla_kv_page_bytes(format, 0), -1);
    EXPECT_EQ(mla_kv_page_bytes(format, -5), -1);
  }
}

TEST(CacheSizes, StoreAndGatherRefuseCachesThatDoNotFit) {
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    KvSpec s;
    s.format = format;
    auto c = make_kv_case(s, rng);
    HostContext ctx;
    mla_kv_cache kv = c->cache->desc;
    mla_kv_store_args store = c->store_args();
    store.kv = &kv;
    expect_cache_breaks(
        "kv", [&]() -> mla_kv_cache& { return kv; }, [&] { kv = c->cache->desc; },
        [&] { return mla_kv_store(ctx.get(), &store, nullptr); }, {&c->cache->bytes});

    Tensor out(dt_bf16(), {s.rows, c->d});
    poison(out);
    mla_kv_gather_args gather{&kv, c->slots.ptr(), out.ptr()};
    expect_cache_breaks(
        "kv", [&]() -> mla_kv_cache& { return kv; }, [&] { kv = c->cache->desc; },
        [&] { return mla_kv_gather(ctx.get(), &gather, nullptr); }, {&out.bytes});
  }
}

TEST(CacheSizes, DecodeRefusesMainAndExtraCachesThatDoNotFit) {
  Rng rng(fresh_seed());
  DecodeSpec s;
  s.format = MLA_KV_FORMAT_V40;
  s.h_q = 4, s.topk = 16, s.page_size = 8, s.extra = true, s.extra_topk = 8;
  auto c = make_decode_case(s, rng);
  HostContext ctx;
  mla_kv_cache kv = c->kv->desc, ekv = c->extra_kv->desc;
  mla_sparse_decode_args a = c->args();
  a.kv = &kv, a.extra_kv = &ekv;
  auto reset = [&] { kv = c->kv->desc, ekv = c->extra_kv->desc; };
  auto call = [&] { return ctx.decode(a); };
  const std::vector<const Bytes*> outputs = {&c->out.bytes, &c->lse.bytes};
  expect_cache_breaks(
      "kv", [&]() -> mla_kv_cache& { return kv; }, reset, call, outputs);
  expect_cache_breaks(
      "extra_kv", [&]() -> mla_kv_cache& { return ekv; }, reset, call, outputs);
}
