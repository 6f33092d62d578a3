// The fragment layouts of the attention kernels' MMA tiles, checked on the host against the
// vendors' documented layouts, written here independently:
//   NVIDIA (PTX ISA, mma.m16n8k16 with .bf16, and ldmatrix): a thread t = 4 g + c of a warp
//     holds A[g][2c..2c+1], A[g+8][2c..], A[g][2c+8..], A[g+8][2c+8..] (a0..a3);
//     B[2c..2c+1][g], B[2c+8..2c+9][g] (b0, b1); C[g][2c..2c+1], C[g+8][2c..2c+1] (c0..c3).
//     ldmatrix .x4: lanes 8i..8i+7 give the row addresses of matrix i; thread t receives
//     row t/4, columns 2(t%4), 2(t%4)+1 of each matrix (with .trans: rows 2(t%4), 2(t%4)+1 of
//     column t/4).
//   AMD (matrix instruction calculator, v_mfma_f32_16x16x16_bf16 on gfx90a / gfx942):
//     A[i][k] in lane 16 (k / 4) + i, element k % 4; B[k][j] in lane 16 (k / 4) + j, element
//     k % 4; C[i][j] in lane 16 (i / 4) + j, register i % 4.
//   NVIDIA Hopper (PTX ISA, wgmma): the 128-byte swizzle XORs address bits [4, 7) with bits
//     [7, 10) of the final shared-memory address; a descriptor's operand is the canonical
//     layout before that XOR: K-major rows of 128 bytes with 8-row groups SBO apart (k steps
//     move the start address), MN-major atoms of 64 elements x 8 k-rows with the next 64
//     elements LBO apart and the next 8 k-rows SBO apart. m64nNk16 accumulators: warp w of the
//     warpgroup holds rows 16w..16w+15 in the m16n8 C layout, repeated over N / 8.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "attention/fragment_decode_layout.h"
#include "cuda/attention/mma_layout_sm80.h"
#include "cuda/attention/wgmma_layout_sm90.h"
#include "hip/attention/mfma_layout_cdna.h"

namespace {

// ---- NVIDIA: the tile's accumulator of 8 registers, two m16n8 halves. -------------------
TEST(MmaLayoutSm80, AccumulatorIsTheDocumentedLayoutOfTwoHalves) {
  for (int t = 0; t < 32; ++t)
    for (int e = 0; e < 8; ++e) {
      const int half = e / 4, c = e % 4, g = t / 4;
      const int row = g + (c >= 2 ? 8 : 0);
      const int col = 8 * half + 2 * (t % 4) + (c % 2);
      EXPECT_EQ(mla::sm80::acc_row(t, e), row) << t << " " << e;
      EXPECT_EQ(mla::sm80::acc_col(t, e), col) << t << " " << e;
    }
}

template <class Row, class Col>
void expect_bijection(int lanes, int regs, Row row, Col col) {
  std::set<std::pair<int, int>> seen;
  for (int t = 0; t < lanes; ++t)
    for (int e = 0; e < regs; ++e) {
      const int r = row(t, e), c = col(t, e);
      EXPECT_TRUE(r >= 0 && r < 16 && c >= 0 && c < 16);
      EXPECT_TRUE(seen.insert({r, c}).second) << "(" << r << "," << c << ") twice";
    }
  EXPECT_EQ(seen.size(), 256u);
}

TEST(MmaLayoutSm80, AccumulatorCoversTheTileOnce) {
  expect_bijection(32, 8, mla::sm80::acc_row, mla::sm80::acc_col);
}

// Row statistics: a lane's slots name its rows; the lanes sharing a row are exactly those the
// row reductions combine, and one of them leads.
template <int kLanes, int kRegs, int kSlots, class L>
void expect_row_groups(L layout_row, int (*acc_slot)(int), int (*slot_row)(int, int),
                       bool (*leader)(int), const int* masks, int n_masks) {
  for (int t = 0; t < kLanes; ++t)
    for (int e = 0; e < kRegs; ++e) EXPECT_EQ(layout_row(t, e), slot_row(t, acc_slot(e)));
  for (int row = 0; row < 16; ++row) {
    std::set<int> holders, leaders;
    for (int t = 0; t < kLanes; ++t)
      for (int s = 0; s < kSlots; ++s)
        if (slot_row(t, s) == row) {
          holders.insert(t);
          if (leader(t)) leaders.insert(t);
        }
    EXPECT_EQ(leaders.size(), 1u) << "row " << row;
    // The xor closure of one holder under the masks is the set of holders.
    const int first = *holders.begin();
    std::set<int> reach{first};
    for (int i = 0; i < n_masks; ++i) {
      std::set<int> next = reach;
      for (int t : reach) next.insert(t ^ masks[i]);
      reach = next;
    }
    EXPECT_EQ(reach, holders) << "row " << row;
  }
}

TEST(MmaLayoutSm80, RowReductionsCombineTheLanesOfARow) {
  expect_row_groups<32, 8, 2>(mla::sm80::acc_row, mla::sm80::acc_slot, mla::sm80::slot_row,
                              mla::sm80::row_leader, mla::sm80::kRowLaneMasks, 2);
}

// ldmatrix simulated: the registers each lane receives from the row addresses the tile gives.
struct Matrix16 {
  int v[16][16];  // element id = 16 r + c
  Matrix16() {
    for (int r = 0; r < 16; ++r)
      for (int c = 0; c < 16; ++c) v[r][c] = 16 * r + c;
  }
};

// Register `reg` (0..3) of lane t after ldmatrix.x4 over a 16x16 stored matrix whose lane
// row addresses are (row(l), col(l)): two elements (low, high).
template <class RowF, class ColF>
std::pair<int, int> ldmatrix_x4(const Matrix16& m, RowF row, ColF col, int t, int reg, bool trans) {
  const int base = 8 * reg;  // lanes base..base+7 addressed matrix `reg`
  if (!trans) {
    const int l = base + t / 4;
    return {m.v[row(l)][col(l) + 2 * (t % 4)], m.v[row(l)][col(l) + 2 * (t % 4) + 1]};
  }
  const int l0 = base + 2 * (t % 4), l1 = l0 + 1;
  return {m.v[row(l0)][col(l0) + t / 4], m.v[row(l1)][col(l1) + t / 4]};
}

TEST(MmaLayoutSm80, LdmatrixAddressesGiveTheMmaOperandLayouts) {
  const Matrix16 s;  // shared memory tile, element (r, c) = 16 r + c
  for (int t = 0; t < 32; ++t) {
    const int g = t / 4, c = t % 4;
    // A = s (row-major): a0 = A[g][2c..], a1 = A[g+8][2c..], a2 = A[g][2c+8..], a3 =
    // A[g+8][2c+8..].
    const int a_rows[4] = {g, g + 8, g, g + 8}, a_cols[4] = {2 * c, 2 * c, 2 * c + 8, 2 * c + 8};
    for (int r = 0; r < 4; ++r) {
      const auto got = ldmatrix_x4(s, mla::sm80::ldm_a_row, mla::sm80::ldm_a_col, t, r, false);
      EXPECT_EQ(got.first, s.v[a_rows[r]][a_cols[r]]);
      EXPECT_EQ(got.second, s.v[a_rows[r]][a_cols[r] + 1]);
      EXPECT_EQ(mla::sm80::a_row(t, r), a_rows[r]);
      EXPECT_EQ(mla::sm80::a_k(t, r), a_cols[r]);
    }
    // B[k][n] with n-half h: b0 = B[2c..2c+1][g + 8h], b1 = B[2c+8..][g + 8h]; registers 2h, 2h+1.
    for (int r = 0; r < 4; ++r) {
      const int n = g + 8 * (r / 2), k = 2 * c + 8 * (r % 2);
      EXPECT_EQ(mla::sm80::b_k(t, r), k);
      EXPECT_EQ(mla::sm80::b_n(t, r), n);
      // Stored as B^T (s[n][k]): non-transposed ldmatrix.
      const auto nk = ldmatrix_x4(s, mla::sm80::ldm_bt_row, mla::sm80::ldm_bt_col, t, r, false);
      EXPECT_EQ(nk.first, s.v[n][k]);
      EXPECT_EQ(nk.second, s.v[n][k + 1]);
      // Stored as B (s[k][n]): transposed ldmatrix.
      const auto kn = ldmatrix_x4(s, mla::sm80::ldm_b_row, mla::sm80::ldm_b_col, t, r, true);
      EXPECT_EQ(kn.first, s.v[k][n]);
      EXPECT_EQ(kn.second, s.v[k + 1][n]);
    }
  }
}

// ---- AMD CDNA: v_mfma_f32_16x16x16_bf16. ------------------------------------------------
TEST(MfmaLayoutCdna, AccumulatorIsTheDocumentedLayout) {
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      const int lane = 16 * (i / 4) + j, reg = i % 4;
      EXPECT_EQ(mla::cdna::acc_row(lane, reg), i);
      EXPECT_EQ(mla::cdna::acc_col(lane, reg), j);
    }
  expect_bijection(64, 4, mla::cdna::acc_row, mla::cdna::acc_col);
}

TEST(MfmaLayoutCdna, OperandsAreTheDocumentedLayout) {
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) {
      const int lane = 16 * (k / 4) + i;  // A[i][k], element k % 4; B[k][j = i] likewise
      EXPECT_EQ(mla::cdna::a_row(lane), i);
      EXPECT_EQ(mla::cdna::a_k(lane) + k % 4, k);
      EXPECT_EQ(mla::cdna::b_n(lane), i);
      EXPECT_EQ(mla::cdna::b_k(lane) + k % 4, k);
    }
}

TEST(MfmaLayoutCdna, RowReductionsCombineTheLanesOfARow) {
  expect_row_groups<64, 4, 4>(mla::cdna::acc_row, mla::cdna::acc_slot, mla::cdna::slot_row,
                              mla::cdna::row_leader, mla::cdna::kRowLaneMasks, 4);
}

// The tile product through the layouts: lanes hold A and B as documented, each output
// element is the dot product the instruction defines, read back through acc_row/acc_col.
TEST(MfmaLayoutCdna, EmulatedProductMatchesThePlainProduct) {
  double a[16][16], b[16][16];
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) a[i][k] = (i * 7 + k * 3) % 11 - 5, b[k][i] = (k * 5 + i) % 9 - 4;
  double lane_a[64][4], lane_b[64][4];
  for (int lane = 0; lane < 64; ++lane)
    for (int t = 0; t < 4; ++t) {
      lane_a[lane][t] = a[mla::cdna::a_row(lane)][mla::cdna::a_k(lane) + t];
      lane_b[lane][t] = b[mla::cdna::b_k(lane) + t][mla::cdna::b_n(lane)];
    }
  for (int lane = 0; lane < 64; ++lane)
    for (int e = 0; e < 4; ++e) {
      const int i = mla::cdna::acc_row(lane, e), j = mla::cdna::acc_col(lane, e);
      double hw = 0;  // D[i][j] = sum_k A[i][k] B[k][j], each operand fetched from its lane
      for (int k = 0; k < 16; ++k)
        hw += lane_a[16 * (k / 4) + i][k % 4] * lane_b[16 * (k / 4) + j][k % 4];
      double plain = 0;
      for (int k = 0; k < 16; ++k) plain += a[i][k] * b[k][j];
      EXPECT_EQ(hw, plain);
    }
}

// ---- NVIDIA Hopper: the warpgroup tile's operand panels and accumulators. ---------------
uint32_t swizzle128(uint32_t a) {  // the hardware's view of a 1024-byte-aligned operand
  return a ^ (((a >> 7) & 7u) << 4);
}

// Every element of a 64 x 576 operand has its own 2 bytes inside the operand, 8 columns of a
// row share one 16-byte chunk, and the layout is the swizzle of the K-major canonical one:
// panel p of rows x 128 bytes, row r at 128 r, column c at 2 (c % 64).
TEST(MmaLayoutSm90, PanelsAreTheSwizzledKMajorLayout) {
  constexpr int kRows = 64, kCols = 576;
  std::set<uint32_t> seen;
  for (int r = 0; r < kRows; ++r)
    for (int c = 0; c < kCols; ++c) {
      const uint32_t at = mla::sm90::panel_offset(kRows, r, c);
      ASSERT_LT(at, uint32_t(kRows * kCols * 2));
      ASSERT_TRUE(seen.insert(at).second) << r << " " << c;
      const uint32_t canonical = uint32_t((c / 64) * kRows * 128 + r * 128 + (c % 64) * 2);
      EXPECT_EQ(at, swizzle128(canonical)) << r << " " << c;
      if (c % 8 != 0) {
        EXPECT_EQ(at, mla::sm90::panel_offset(kRows, r, c - 1) + 2);
      }
    }
}

// The descriptors of the kernel address the elements the kernel stored there:
//   Q K^T: A[m][k] = Q[m][k], B[k][n] = K[n][k], K-major, a k step 32 bytes on, SBO 1024;
//   P V:   B[k][n] = V[k][n] (key k, column n), MN-major, LBO = rows x 128, SBO = 1024, a k step
//          of 16 keys 2048 bytes on.
TEST(MmaLayoutSm90, DescriptorsNameTheStoredElements) {
  constexpr int kRows = 64;
  for (int kstep = 0; kstep < 36; ++kstep)  // 576 columns = 9 panels x 4 k steps
    for (int m = 0; m < kRows; ++m)
      for (int k = 0; k < 16; ++k) {
        const int col = 16 * kstep + k;
        const uint32_t start = uint32_t((kstep / 4) * kRows * 128 + (kstep % 4) * 32);
        const uint32_t canonical = start + uint32_t((m / 8) * 1024 + (m % 8) * 128 + k * 2);
        EXPECT_EQ(swizzle128(canonical), mla::sm90::panel_offset(kRows, m, col));
      }
  for (int kstep = 0; kstep < 4; ++kstep)  // 64 keys
    for (int k = 0; k < 16; ++k)
      for (int n = 0; n < 256; ++n)
        for (int first_panel : {0, 4}) {  // the two warpgroups' column halves
          const int key = 16 * kstep + k, col = 64 * first_panel + n;
          const uint32_t start = uint32_t(first_panel * kRows * 128 + kstep * 2048);
          const uint32_t lbo = kRows * 128, sbo = 1024;
          const uint32_t canonical =
              start + uint32_t((n / 64) * lbo + (k / 8) * sbo + (k % 8) * 128 + (n % 64) * 2);
          EXPECT_EQ(swizzle128(canonical), mla::sm90::panel_offset(kRows, key, col));
        }
}

// Cluster pairs (warpgroup_dequant_kernel.h, warpgroup_pair_keys.h): the CTA of rank q stores
// key rows [32 q, 32 q + 32) of a block and copies, per 64-column panel p, the 4096 bytes from
// p x 64 x 128 + 32 q x 128 to the other CTA. Those pieces hold exactly its rows' elements, and
// the two ranks' pieces tile the operand (so each CTA receives every byte it does not store).
TEST(MmaLayoutSm90, PairCopyPiecesAreTheRowsOfOneRank) {
  constexpr int kRows = 64, kKeys = 32;
  for (int d : {512, 576}) {
    std::set<uint32_t> pieces[2];
    for (int q = 0; q < 2; ++q)
      for (int p = 0; p < d / 64; ++p)
        for (uint32_t b = 0; b < kKeys * 128; b += 2)
          pieces[q].insert(uint32_t(p * kRows * 128 + q * kKeys * 128) + b);
    EXPECT_EQ(pieces[0].size() + pieces[1].size(), size_t(kRows * d));
    for (int key = 0; key < kRows; ++key)
      for (int c = 0; c < d; ++c) {
        const uint32_t at = mla::sm90::panel_offset(kRows, key, c);
        EXPECT_EQ(pieces[key / kKeys].count(at), 1u) << d << " " << key << " " << c;
        EXPECT_EQ(pieces[1 - key / kKeys].count(at), 0u) << d << " " << key << " " << c;
      }
  }
}

// The producer of the warpgroup prefill kernel (warpgroup_key_sources.h, AsyncBf16Rows) copies
// 16-byte piece c = lane + kLanes i of a key's row (kLanes threads per key) to the offset of
// chunk lane + kLanes (i % kPhases) of the key's row in panel 0, plus i / kPhases panels: the
// chunk offsets of one panel row serve every panel. Pieces i < 4 kPhases are the first half
// (panels 0-3, which the kernel fills and releases apart from panels 4-8).
TEST(MmaLayoutSm90, ProducerPiecesReuseOnePanelRowsChunkOffsets) {
  constexpr int kRows = 64;
  for (int lanes : {1, 2, 4, 8}) {
    const int phases = 8 / lanes;
    for (int d : {512, 576}) {
      std::set<uint32_t> seen;
      for (int key = 0; key < kRows; ++key)
        for (int lane = 0; lane < lanes; ++lane)
          for (int i = 0; i < d / 8 / lanes; ++i) {
            const int c = lane + lanes * i;
            const uint32_t at = mla::sm90::panel_offset(kRows, key, 8 * c);
            EXPECT_EQ(at, mla::sm90::panel_offset(kRows, key, 8 * (lane + lanes * (i % phases))) +
                              uint32_t((i / phases) * kRows * 128));
            EXPECT_EQ(c / 8 < 4, i < 4 * phases);
            ASSERT_TRUE(seen.insert(at).second);
          }
      EXPECT_EQ(seen.size(), size_t(kRows * d / 8));
    }
  }
}

TEST(MmaLayoutSm90, AccumulatorsCoverTheTileOnceInTheM16n8LayoutPerWarp) {
  for (int n : {32, 64, 256}) {
    std::set<std::pair<int, int>> seen;
    for (int t = 0; t < mla::sm90::kWarpgroupThreads; ++t)
      for (int e = 0; e < n / 2; ++e) {
        const int r = mla::sm90::acc_row(t, e), c = mla::sm90::acc_col(t, e);
        ASSERT_TRUE(r >= 0 && r < 64 && c >= 0 && c < n);
        ASSERT_TRUE(seen.insert({r, c}).second) << t << " " << e;
        // Warp t / 32 holds rows 16 (t / 32) + [0, 16) as mma.sync's m16n8 C fragment.
        EXPECT_EQ(r, 16 * (t / 32) + mla::sm80::acc_row(t % 32, e % 4));
        EXPECT_EQ(c, 8 * (e / 4) + mla::sm80::acc_col(t % 32, e % 4));
        // A thread's columns are its first one plus a step of e alone (kernels index from a
        // per-thread base with constant offsets).
        EXPECT_EQ(c, mla::sm90::acc_col(t, 0) + mla::sm90::acc_col(0, e));
      }
    EXPECT_EQ(seen.size(), size_t(64 * n));
  }
}

// ---- The fragment decode kernel's operand orders (fragment_decode_layout.h) --------------
// The m16n8k16 positions of the PTX ISA (header of this file), written once more: lane
// t = 4 g + c; A register a holds A[g + 8 (a % 2)][2c + 8 (a / 2)] and the next k; B register
// b holds B[2c + 8 b][g] and the next k; accumulator register e of one n8 half holds column
// 2c + e % 2.
int doc_a_row(int lane, int a) {
  return lane / 4 + 8 * (a % 2);
}
int doc_a_k(int lane, int a) {
  return 2 * (lane % 4) + 8 * (a / 2);
}
int doc_b_k(int lane, int b) {
  return 2 * (lane % 4) + 8 * b;
}
int doc_c_col(int lane, int e) {
  return 2 * (lane % 4) + e % 2;
}

TEST(FragmentDecodeLayout, ScoreStepsTakeEachChunkColumnOnce) {
  std::set<int> seen;
  for (int st = 0; st < 4; ++st)
    for (int kk = 0; kk < 16; ++kk) {
      const int col = mla::attn::fragment::score_column(st, kk);
      EXPECT_GE(col, 0);
      EXPECT_LT(col, 64);
      seen.insert(col);
      if (kk % 2 == 0) {
        EXPECT_EQ(mla::attn::fragment::score_column(st, kk + 1), col + 1);
      }
    }
  EXPECT_EQ(seen.size(), 64u);
}

// Every bf16 pair of q lands in one word, and the word a lane reads for a step is its A
// operand there: the right row, and the columns that step gives the register's k.
TEST(FragmentDecodeLayout, StoredQIsEachLanesAOperand) {
  using namespace mla::attn::fragment;
  for (int dim : {512, 576}) {
    std::vector<std::pair<int, int>> held(size_t(16 * dim / 2), {-1, -1});  // (row, column)
    for (int r = 0; r < 16; ++r)
      for (int v = 0; v < dim / 8; ++v)
        for (int t = 0; t < 4; ++t) {
          const int w = q_word(r, v, t);
          ASSERT_GE(w, 0);
          ASSERT_LT(w, 16 * dim / 2);
          EXPECT_EQ(held[size_t(w)].first, -1) << "word " << w << " written twice";
          held[size_t(w)] = {r, 8 * v + 2 * t};
        }
    for (int ch = 0; ch < dim / 64; ++ch)
      for (int st = 0; st < 4; ++st)
        for (int lane = 0; lane < 32; ++lane)
          for (int a = 0; a < 4; ++a) {
            const auto [row, col] = held[size_t(4 * q_read_word(ch, st, lane) + a)];
            EXPECT_EQ(row, doc_a_row(lane, a));
            EXPECT_EQ(col, 64 * ch + score_column(st, doc_a_k(lane, a)));
          }
  }
}

// Lane (g, c) gives B register b of step st from bytes 2b, 2b + 1 of the 4-byte word st of its
// 16 codes at column 16 c (key g): the columns of q that the same k meets.
TEST(FragmentDecodeLayout, KeyCodesMeetTheirColumnsOfQ) {
  for (int lane = 0; lane < 32; ++lane)
    for (int st = 0; st < 4; ++st)
      for (int b = 0; b < 2; ++b)
        EXPECT_EQ(16 * (lane % 4) + 4 * st + 2 * b,
                  mla::attn::fragment::score_column(st, doc_b_k(lane, b)));
}

// P V: the B operand's column n of n-tile i is value column value_column(w, G, i, n) (byte i of
// the word the lane reads at value_column(w, G, 0, g)); the accumulators then hold those
// columns, and the output writes them where out_j says, each of a lane's 8 columns once.
TEST(FragmentDecodeLayout, OutputColumnsAreTheAccumulatorsValueColumns) {
  using namespace mla::attn::fragment;
  for (int w = 0; w < 4; ++w)
    for (int G = 0; G < 4; ++G)
      for (int lane = 0; lane < 32; ++lane) {
        std::set<int> js;
        for (int i = 0; i < 4; ++i)
          EXPECT_EQ(value_column(w, G, i, lane / 4), value_column(w, G, 0, lane / 4) + i);
        for (int h = 0; h < 2; ++h)
          for (int e = 0; e < 8; ++e) {
            const int tile = 2 * h + e / 4;  // o[2 G + h] holds n-tiles 2 h and 2 h + 1
            EXPECT_EQ(128 * w + 32 * G + 8 * (lane % 4) + out_j(h, e),
                      value_column(w, G, tile, doc_c_col(lane, e % 4)));
            if ((e / 2) % 2 == 0) js.insert(out_j(h, e));  // one row's registers
          }
        EXPECT_EQ(js, (std::set<int>{0, 1, 2, 3, 4, 5, 6, 7}));
      }
}

}  // namespace
