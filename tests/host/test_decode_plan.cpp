// The native decode's launch plan (src/common/attention/decode_plan.h), checked on the host:
// it covers every key exactly once, splits by the key count and head count only (never by the
// batch), and sizes the workspace to what the kernels write.
#include <gtest/gtest.h>

#include <vector>

#include "attention/decode_plan.h"

using mla::attn::DecodePlan;
using mla::attn::DecodeTarget;
using mla::attn::plan_sparse_decode;

namespace {

void expect_covers_keys(const DecodePlan& p, int64_t keys) {
  ASSERT_TRUE(p.fits);
  EXPECT_EQ(p.keys_per_split % mla::attn::kSplitQuantum, 0);
  EXPECT_GE(p.splits * p.keys_per_split, keys);                       // every key in some range
  EXPECT_LT((p.splits - 1) * p.keys_per_split, keys > 0 ? keys : 1);  // no empty range
}

}  // namespace

TEST(DecodePlan, RowsPerCtaFollowHeadsAndTarget) {
  const DecodeTarget cuda{64, 2147483647}, cdna{16, 33554431};
  for (int64_t h : {1, 3, 8, 16}) EXPECT_EQ(plan_sparse_decode(4, h, 64, cuda).rows_per_cta, 16);
  for (int64_t h : {17, 32, 64, 96, 128}) {
    const DecodePlan p = plan_sparse_decode(4, h, 64, cuda);
    EXPECT_EQ(p.rows_per_cta, 64);
    EXPECT_EQ(p.head_tiles, (h + 63) / 64);
  }
  for (int64_t h : {1, 16, 17, 64, 128}) {
    const DecodePlan p = plan_sparse_decode(4, h, 64, cdna);
    EXPECT_EQ(p.rows_per_cta, 16);
    EXPECT_EQ(p.head_tiles, (h + 15) / 16);
  }
}

TEST(DecodePlan, SplitsCoverTheKeysAndIgnoreTheBatch) {
  for (int max_rows : {16, 64})
    for (int64_t h : {1, 16, 64, 128})
      for (int64_t keys :
           {1, 7, 63, 64, 65, 100, 512, 513, 640, 1024, 1025, 1152, 2048, 2560, 16384, 100000}) {
        const DecodePlan one = plan_sparse_decode(1, h, keys, DecodeTarget{max_rows, 2147483647});
        expect_covers_keys(one, keys);
        EXPECT_EQ(one.splits, (keys + mla::attn::split_keys(one.rows_per_cta) - 1) /
                                  mla::attn::split_keys(one.rows_per_cta));
        for (int64_t rows : {2, 7, 64, 256, 4096}) {
          const DecodePlan many =
              plan_sparse_decode(rows, h, keys, DecodeTarget{max_rows, 2147483647});
          EXPECT_EQ(many.splits, one.splits) << "the split must not depend on the batch";
          EXPECT_EQ(many.keys_per_split, one.keys_per_split);
          EXPECT_EQ(many.rows_per_cta, one.rows_per_cta);
          EXPECT_EQ(many.ctas, rows * one.head_tiles * one.splits);
        }
      }
}

TEST(DecodePlan, WorkspaceHoldsThePartialsOnlyWhenSplit) {
  const DecodePlan whole = plan_sparse_decode(8, 64, 1024, DecodeTarget{64, 2147483647});
  EXPECT_EQ(whole.splits, 1);
  EXPECT_EQ(whole.workspace_bytes, 0u);
  const DecodePlan split = plan_sparse_decode(8, 128, 2048 + 512, DecodeTarget{64, 2147483647});
  ASSERT_EQ(split.splits, 3);
  EXPECT_EQ(split.ctas, 8 * 2 * 3);
  // fp32 o[ctas][64][512] then fp32 lse[ctas][64].
  EXPECT_EQ(split.lse_offset(), size_t(split.ctas) * 64 * 512 * 4);
  EXPECT_EQ(split.workspace_bytes, split.lse_offset() + size_t(split.ctas) * 64 * 4);
  EXPECT_EQ(split.lse_offset() % 16, 0u);
}

TEST(DecodePlan, GridsBeyondTheLaunchLimitDoNotFit) {
  EXPECT_FALSE(plan_sparse_decode(int64_t(1) << 31, 128, 2048, DecodeTarget{64, 2147483647}).fits);
  EXPECT_FALSE(plan_sparse_decode(int64_t(1) << 40, 1, 1, DecodeTarget{64, 2147483647}).fits);
  EXPECT_TRUE(plan_sparse_decode((int64_t(1) << 31) - 1, 1, 1, DecodeTarget{64, 2147483647}).fits);
}

// Prefill rows are never split: one CTA per row and head tile, no workspace, whatever the
// number of keys or rows (a row's result never depends on the other rows).
TEST(PrefillPlan, OneRangePerRowAndNoWorkspace) {
  using mla::attn::plan_sparse_prefill;
  for (int max_rows : {16, 64})
    for (int64_t h : {1, 3, 16, 17, 64, 65, 128})
      for (int64_t keys : {1, 100, 2048, 8192, 100000})
        for (int64_t rows : {1, 62, 70000}) {
          const DecodePlan p =
              plan_sparse_prefill(rows, h, keys, DecodeTarget{max_rows, 2147483647});
          ASSERT_TRUE(p.fits);
          const int expect_rows = (h <= 16 || max_rows < 64) ? 16 : 64;
          EXPECT_EQ(p.rows_per_cta, expect_rows);
          EXPECT_EQ(p.head_tiles, (h + expect_rows - 1) / expect_rows);
          EXPECT_EQ(p.splits, 1);
          EXPECT_GE(p.keys_per_split, keys);
          EXPECT_EQ(p.ctas, rows * p.head_tiles);
          EXPECT_EQ(p.workspace_bytes, 0u);
        }
  EXPECT_FALSE(plan_sparse_prefill(1, 64, 2048, DecodeTarget{0, 2147483647}).fits);
  EXPECT_FALSE(plan_sparse_prefill(int64_t(1) << 31, 128, 2048, DecodeTarget{64, 2147483647}).fits);
  EXPECT_TRUE(plan_sparse_prefill(70000, 128, 2048, DecodeTarget{16, 4294967295 / 64}).fits);
}

// The cluster-pair decode's grid order: every plan CTA exactly once, and grid neighbours 2k and
// 2k + 1 (a cluster) on the two head tiles of one row and key range.
TEST(DecodePlan, HeadTilesFirstOrderPairsTheHeadTilesOfARange) {
  for (int64_t splits : {1, 2, 3, 5})
    for (int64_t rows : {1, 2, 7}) {
      const int64_t head_tiles = 2, ctas = rows * head_tiles * splits;
      std::vector<int> seen(size_t(ctas), 0);
      for (int64_t block = 0; block < ctas; ++block) {
        const int64_t c = mla::attn::plan_cta_of_head_tiles_first(block, head_tiles, splits);
        ASSERT_GE(c, 0);
        ASSERT_LT(c, ctas);
        ++seen[size_t(c)];
        // The plan's order: c = (row * head_tiles + ht) * splits + split.
        const int64_t split = c % splits, ht = (c / splits) % head_tiles,
                      row = c / splits / head_tiles;
        EXPECT_EQ(ht, block % 2) << "block " << block;
        const int64_t partner =
            mla::attn::plan_cta_of_head_tiles_first(block ^ 1, head_tiles, splits);
        EXPECT_EQ(partner % splits, split) << "block " << block;
        EXPECT_EQ(partner / splits / head_tiles, row) << "block " << block;
      }
      for (int64_t c = 0; c < ctas; ++c) EXPECT_EQ(seen[size_t(c)], 1) << "cta " << c;
    }
}
