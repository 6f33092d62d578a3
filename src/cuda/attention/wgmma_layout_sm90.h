// Where the operands and accumulators of Hopper's warpgroup MMA (wgmma, m64nNk16, bf16) live,
// as index functions. Plain constexpr C++: the host suite checks them (test_mma_layouts.cpp).
//
// Shared-memory operands ("panels"): a [rows][cols] bf16 operand is stored as cols / 64 panels of
// rows x 128 bytes; in a panel, row r's 16-byte chunk c (columns 8c..8c+7) sits at chunk
// c ^ (r % 8) of the row: the hardware's 128-byte swizzle, whose pattern repeats every 8 rows
// (1024 bytes, so panels start 1024-byte aligned). A wgmma descriptor then names:
//   - K-major operands (Q and K for Q K^T, P for P V): the start of a 16-column k step, 32 bytes
//     further per step inside a panel; SBO = 1024 (the next 8 rows), LBO unused;
//   - MN-major operands (V for P V, B[k = key][n = column]): LBO = rows x 128 (the next 64
//     columns, one panel on), SBO = 1024 (the next 8 keys); a k step of 16 keys is 2048 bytes.
// Accumulators of m64nNk16 (N / 2 fp32 per thread of the 128): thread t holds rows
// 16 (t / 32) + (t % 32) / 4 and that + 8; element 4i + {0, 1} is the first row at columns
// 8i + 2 (t % 4) + {0, 1}, element 4i + {2, 3} the second row at the same columns (the m16n8
// layout of mma.sync, per warp, repeated over N / 8).
#pragma once

#include <cstdint>

namespace mla::sm90 {

constexpr int kWarpgroupThreads = 128;
constexpr int kPanelCols = 64;   // bf16 columns per 128-byte panel row
constexpr int kSwizzleRows = 8;  // rows of one 1024-byte swizzle atom

// Byte offset of bf16 element (r, c) of a panel-stored operand of `rows` rows.
constexpr uint32_t panel_offset(int rows, int r, int c) {
  return uint32_t((c / kPanelCols) * rows * 128 + r * 128 +
                  ((((c % kPanelCols) / 8) ^ (r % kSwizzleRows)) * 16) + (c % 8) * 2);
}

constexpr int acc_row(int t, int e) {
  return 16 * (t / 32) + (t % 32) / 4 + 8 * ((e / 2) % 2);
}
constexpr int acc_col(int t, int e) {
  return 8 * (e / 4) + 2 * (t % 4) + e % 2;
}

}  // namespace mla::sm90
