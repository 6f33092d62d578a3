// 64-bit address math of both cache formats, on caches far larger than 4 GiB (nothing is
// allocated: only the arithmetic is checked against plain formulas of SPEC 2.1 and 2.2).
#include <mla/mla.h>

#include "kv_format_v32.h"
#include "kv_format_v40.h"
#include "mla_test.h"

namespace {

mla::KvCacheView view(mla::KvFormat f, int64_t page_size, int64_t pages) {
  mla::KvCacheView v;
  v.format = f;
  v.set_page_size(page_size);
  v.num_pages = pages;
  v.page_stride = mla_kv_page_bytes(int32_t(f), page_size);
  return v;
}

}  // namespace

TEST(KvLayout, PageBytesMatchSpec) {
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 256), 149760);
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 64), 37440);
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 2), 1728);
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 1), 1152);
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V32, 64), 64 * 656);
  EXPECT_EQ(mla_kv_page_bytes(MLA_KV_FORMAT_V32, 0), -1);
  EXPECT_EQ(mla_kv_page_bytes(7, 64), -1);
  EXPECT_EQ(mla_kv_row_dim(MLA_KV_FORMAT_V32), 576);
  EXPECT_EQ(mla_kv_row_dim(MLA_KV_FORMAT_V40), 512);
  EXPECT_EQ(mla_kv_row_dim(0), -1);
}

TEST(KvLayout, V32AddressesBeyond4GiB) {
  for (int64_t P : {1, 53, 64, 256}) {
    // 10 M tokens = 6.5 GB: slot * 656 overflows 32 bits long before the end.
    const auto v = view(mla::KvFormat::V32, P, 10'000'000 / P + 1);
    for (int64_t slot : {int64_t(0), int64_t(6'547'000), int64_t(9'999'999), v.num_slots() - 1}) {
      const int64_t want = (slot / P) * (P * 656) + (slot % P) * 656;
      EXPECT_EQ(mla::v32::token_offset(v, slot), want) << "P " << P << " slot " << slot;
      EXPECT_GT(mla::v32::token_offset(v, v.num_slots() - 1), int64_t(1) << 32);
    }
  }
}

TEST(KvLayout, V40AddressesBeyond4GiB) {
  for (int64_t P : {2, 64, 256}) {
    const int64_t stride = (P * 584 + 575) / 576 * 576;
    const auto v = view(mla::KvFormat::V40, P, 12'000'000 / P + 1);
    for (int64_t slot : {int64_t(0), int64_t(7'654'321), v.num_slots() - 1}) {
      const int64_t page = slot / P, t = slot % P;
      EXPECT_EQ(mla::v40::row_offset(v, slot), page * stride + t * 576) << slot;
      EXPECT_EQ(mla::v40::scale_offset(v, slot), page * stride + P * 576 + t * 8) << slot;
    }
    EXPECT_GT(mla::v40::scale_offset(v, v.num_slots() - 1), int64_t(1) << 32);
  }
}

TEST(KvLayout, FastDivisionMatchesDivision) {
  mlatest::Rng rng(mlatest::fresh_seed());
  for (int64_t d : {int64_t(1), int64_t(2), int64_t(3), int64_t(53), int64_t(64), int64_t(256),
                    int64_t(1000003), (int64_t(1) << 31) - 1}) {
    const mla::FastDiv f(d);
    for (int64_t n : {int64_t(0), int64_t(1), d - 1, d, d + 1, (int64_t(1) << 31) - 1,
                      int64_t(1) << 31, int64_t(1) << 40})
      ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
    for (int i = 0; i < 20000; ++i) {
      const int64_t n = rng.integer(0, (int64_t(1) << 31) - 1);
      ASSERT_EQ(f.div(n), n / d) << n << " / " << d;
      ASSERT_EQ(f.mod(n), n % d) << n << " % " << d;
    }
  }
}

TEST(KvLayout, SlotValidity) {
  const auto v = view(mla::KvFormat::V40, 64, 3);
  EXPECT_TRUE(v.valid_slot(0));
  EXPECT_TRUE(v.valid_slot(191));
  EXPECT_FALSE(v.valid_slot(192));
  EXPECT_FALSE(v.valid_slot(-1));
  EXPECT_FALSE(v.valid_slot(INT64_MIN));
}
