// Host store and gather-dequant (SPEC 2.4, 2.5) against the tests' own quantizer and
// dequantizer, plus the round-trip and flavour properties of the formats.
#include <cmath>

#include "host_context.h"
#include "kv_cases.h"

using namespace mlatest;

namespace {

std::vector<KvSpec> kv_sweep() {
  std::vector<KvSpec> out;
  int k = 0;
  for (int f : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40})
    for (bool fnuz : {false, true})
      for (int64_t page : {1, 2, 53, 64, 256}) {
        KvSpec s;
        s.format = f;
        s.fnuz = fnuz;
        s.page_size = page;
        s.num_pages = page >= 53 ? 2 : 40;
        s.wide_slots = k % 2 == 1;
        s.strided = k % 3 == 2;
        ++k;
        out.push_back(s);
      }
  return out;
}

// Gathers every slot of `slots` (valid or not) from `cache` on a CPU context.
Tensor gather(HostContext& ctx, Cache& cache, const Tensor& slots, int64_t d) {
  Tensor out(dt_bf16(), {slots.desc.shape[0], d}, {0, 8});
  poison(out);
  mla_kv_gather_args a{&cache.desc, slots.ptr(), out.ptr()};
  EXPECT_EQ(mla_kv_gather(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(gaps_poisoned(out));
  return out;
}

}  // namespace

class KvSweep : public ::testing::TestWithParam<KvSpec> {};

TEST_P(KvSweep, StoreWritesExactlyTheSpecBytes) {
  Rng rng(fresh_seed());
  auto c = make_kv_case(GetParam(), rng);
  const Cache want = expected_store(*c);
  HostContext ctx;
  const auto a = c->store_args();
  ASSERT_EQ(mla_kv_store(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  ASSERT_EQ(want.bytes.size(), c->cache->bytes.size());
  for (size_t i = 0; i < want.bytes.size(); ++i)
    ASSERT_EQ(int(c->cache->bytes.data()[i]), int(want.bytes.data()[i])) << "byte " << i;
}

TEST_P(KvSweep, GatherIsExactAndRoundTripsWithinOneFp8Rounding) {
  Rng rng(fresh_seed());
  auto c = make_kv_case(GetParam(), rng);
  HostContext ctx;
  const auto a = c->store_args();
  ASSERT_EQ(mla_kv_store(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  const Tensor out = gather(ctx, *c->cache, c->slots, c->d);
  const bool v32 = c->spec.format == MLA_KV_FORMAT_V32;
  const int nope = v32 ? 512 : 448, tile = v32 ? 128 : 64;
  const double sub = c->spec.fnuz ? std::ldexp(1.0, -10) : std::ldexp(1.0, -9);
  for (int64_t n = 0; n < c->spec.rows; ++n) {
    const int64_t s = c->slot(n);
    if (s < 0 || s >= c->cache->slots()) {
      for (int64_t x = 0; x < c->d; ++x) ASSERT_EQ(out.at<uint16_t>({n, x}), 0) << "invalid slot";
      continue;
    }
    const std::vector<double> want = c->cache->get(s);  // the tests' own dequantizer
    for (int64_t x = 0; x < c->d; ++x) {
      const double g = bf16_value(out.at<uint16_t>({n, x}));
      ASSERT_EQ(g, want[size_t(x)]) << "row " << n << " elem " << x << ": gather is bit-exact";
      const double v = bf16_value(c->k.at<uint16_t>({n, x}));
      if (x >= nope) {
        ASSERT_EQ(out.at<uint16_t>({n, x}), c->k.at<uint16_t>({n, x})) << "rope is copied";
        continue;
      }
      // One fp8 rounding: half a code step at |v| / scale (or the subnormal step), times the
      // tile's scale, plus the final bf16 rounding.
      const uint8_t* base = c->cache->bytes.data();
      double scale;
      if (v32) {
        float f;
        std::memcpy(&f, base + c->cache->scale_offset(s) + 4 * (x / tile), 4);
        scale = f;
      } else {
        scale = ue8m0_value(base[c->cache->scale_offset(s) + x / tile]);
      }
      const double bound = scale * std::max(sub, std::fabs(v) / scale / 16.0) + std::fabs(g) / 256;
      ASSERT_LE(std::fabs(g - v), bound) << "row " << n << " elem " << x;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, KvSweep, ::testing::ValuesIn(kv_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(KvStore, FnuzBytesEqualFnBytes) {
  for (int f : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    Rng rng(fresh_seed());
    KvSpec s;
    s.format = f;
    auto fn = make_kv_case(s, rng);
    Cache fnuz_cache(f, true, s.page_size, s.num_pages);
    HostContext ctx;
    auto a = fn->store_args();
    ASSERT_EQ(mla_kv_store(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS);
    a.kv = &fnuz_cache.desc;
    ASSERT_EQ(mla_kv_store(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS);
    const Cache& c = *fn->cache;
    const int nope = f == MLA_KV_FORMAT_V32 ? 512 : 448;
    for (int64_t n = 0; n < s.rows; ++n) {
      const int64_t slot = fn->slot(n);
      if (slot < 0 || slot >= c.slots()) continue;
      const uint8_t* a8 = c.bytes.data() + c.nope_offset(slot);
      const uint8_t* b8 = fnuz_cache.bytes.data() + fnuz_cache.nope_offset(slot);
      for (int i = 0; i < nope; ++i) {
        const int want = a8[i] == 0x80 ? 0x00 : a8[i];  // fn's -0 is fnuz's 0
        ASSERT_EQ(int(b8[i]), want) << "slot " << slot << " code " << i;
      }
      const uint8_t* sa = c.bytes.data() + c.scale_offset(slot);
      const uint8_t* sb = fnuz_cache.bytes.data() + fnuz_cache.scale_offset(slot);
      if (f == MLA_KV_FORMAT_V40) {
        for (int t = 0; t < 7; ++t) ASSERT_EQ(int(sb[t]), int(sa[t]) + 1);
      } else {
        for (int t = 0; t < 4; ++t) {
          float x, y;
          std::memcpy(&x, sa + 4 * t, 4);
          std::memcpy(&y, sb + 4 * t, 4);
          ASSERT_EQ(y, 2.0f * x);
        }
      }
      ASSERT_EQ(std::memcmp(c.bytes.data() + c.rope_offset(slot),
                            fnuz_cache.bytes.data() + fnuz_cache.rope_offset(slot), 128),
                0);
    }
  }
}

TEST(KvStore, AllZeroTileGivesZeroCodesNeverNaN) {
  Cache cache(MLA_KV_FORMAT_V32, false, 4, 1);
  Tensor k(dt_bf16(), {1, 576});
  Tensor slots(dt_i32(), {1});
  slots.at<int32_t>({0}) = 2;
  HostContext ctx;
  mla_kv_store_args a{k.ptr(), slots.ptr(), &cache.desc};
  ASSERT_EQ(mla_kv_store(ctx.get(), &a, nullptr), MLA_STATUS_SUCCESS);
  for (int i = 0; i < 512; ++i) ASSERT_EQ(cache.bytes.data()[cache.nope_offset(2) + i], 0);
  float scale;
  std::memcpy(&scale, cache.bytes.data() + cache.scale_offset(2), 4);
  EXPECT_EQ(scale, float(1e-4f / 448.0f));
}
