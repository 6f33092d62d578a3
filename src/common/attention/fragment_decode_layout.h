// Where the operands of the fragment decode kernel (fragment_decode_kernel.h) come from and
// where its outputs go, as index functions of the m16n8k16 tile's lanes and registers. Plain
// constexpr C++: the host suite checks them against the tile's layouts (mma_layout_sm80.h,
// test_mma_layouts.cpp), so that q's order, the codes' order and the output columns agree.
#pragma once

namespace mla::attn::fragment {

// Scores (S = Q K^T) over a 64-column chunk in four k-steps. Step st takes, as the tile's k
// index kk, chunk column 16 (kk % 8 / 2) + 4 st + 2 (kk / 8) + kk % 2: lane (g, c) holds
// k = 2c, 2c + 1 (A register 0, B register 0) and 2c + 8, 2c + 9 (A register 2, B register 1),
// i.e. columns 16 c + 4 st + {0, 1} and {2, 3}: the 4 bytes st of its 16 codes at 16 c.
constexpr int score_column(int st, int kk) {
  return 16 * ((kk % 8) / 2) + 4 * st + 2 * (kk / 8) + kk % 2;
}

// q's store (load_query_fragments): the 32-bit word that holds q's bf16 pair at row r (0..15),
// columns 8 v + 2 t and + 1 (t = 0..3), in an array whose 16-byte word 32 (4 ch + st) + lane is
// lane's A operand of step st of chunk ch.
constexpr int q_word(int r, int v, int t) {
  const int ch = v / 8, c = (v % 8) / 2, half = v % 2;
  const int lane = 4 * (r % 8) + c;
  const int j = 4 * half + t;  // the bf16 pair 16 c + 2 j of the chunk
  const int st = j / 2, reg = 2 * (j % 2) + (r >= 8 ? 1 : 0);
  return ((4 * ch + st) * 32 + lane) * 4 + reg;
}
constexpr int q_read_word(int ch, int st, int lane) {
  return (4 * ch + st) * 32 + lane;
}

// P V: warp w accumulates value columns [128 w, 128 w + 128) in four groups G of 32. The B
// operand's column n (the lane's g) of n-tile i (0..3) of group G is value column
// 128 w + 32 G + 4 n + i: byte i of the 4 bytes a lane reads at 128 w + 32 G + 4 g of a key.
constexpr int value_column(int w, int G, int i, int n) {
  return 128 * w + 32 * G + 4 * n + i;
}
// The output: lane (g, c) holds, per group G and row, the 8 value columns
// 128 w + 32 G + 8 c + j; register e (0..7) of o[2 G + h] (n-tiles 2 h and 2 h + 1) is j below.
constexpr int out_j(int h, int e) {
  return (e % 2 == 1 ? 4 : 0) + 2 * h + e / 4;
}

}  // namespace mla::attn::fragment
