// Where the elements of a 16x16x16 bf16 tile product live on NVIDIA's warp-level tensor cores
// (mma.sync m16n8k16, issued twice for the two 8-column halves of the 16x16 output), as index
// functions of (lane, register). Plain constexpr C++: the host suite checks them.
//
// Accumulator: 8 fp32 per lane. Register e belongs to column half e / 4; within a half, the
// PTX ISA's m16n8 C layout: rows lane / 4 and lane / 4 + 8, columns 2 (lane % 4) + {0, 1}.
#pragma once

namespace mla::sm80 {

constexpr int kLanes = 32;
constexpr int kAccRegs = 8;
constexpr int kRowSlots = 2;  // distinct rows held by one lane

constexpr int acc_row(int lane, int e) {
  return lane / 4 + 8 * ((e / 2) % 2);
}
constexpr int acc_col(int lane, int e) {
  return 8 * (e / 4) + 2 * (lane % 4) + e % 2;
}
constexpr int acc_slot(int e) {
  return (e / 2) % 2;
}
constexpr int slot_row(int lane, int slot) {
  return lane / 4 + 8 * slot;
}
// The four lanes that hold a row differ in bits 0 and 1: reduce over xor 1 and 2.
constexpr int kRowLaneMasks[] = {1, 2};
constexpr bool row_leader(int lane) {
  return lane % 4 == 0;
}

// The 16x16 A operand (row-major in shared memory) as ldmatrix.x4 reads it: the row address
// lane l provides, and the (row, k) of the low element of register r of lane l.
constexpr int ldm_a_row(int lane) {
  return lane % 16;
}
constexpr int ldm_a_col(int lane) {
  return 8 * (lane / 16);
}
constexpr int a_row(int lane, int r) {
  return lane / 4 + 8 * (r % 2);
}
constexpr int a_k(int lane, int r) {
  return 2 * (lane % 4) + 8 * (r / 2);
}

// The 16x16 B operand stored as B^T ([n][k], keys x dims: the K tile for Q K^T), non-transposed
// ldmatrix.x4; registers 0, 1 feed the column half n < 8, registers 2, 3 the half n >= 8.
constexpr int ldm_bt_row(int lane) {
  return lane % 8 + 8 * (lane / 16);
}  // n
constexpr int ldm_bt_col(int lane) {
  return 8 * ((lane / 8) % 2);
}  // k
// B stored as is ([k][n], keys x value columns: V for P V), ldmatrix.x4.trans.
constexpr int ldm_b_row(int lane) {
  return lane % 8 + 8 * ((lane / 8) % 2);
}  // k
constexpr int ldm_b_col(int lane) {
  return 8 * (lane / 16);
}  // n
// Either way, register r of lane l holds B[k][n] and B[k + 1][n] with
constexpr int b_k(int lane, int r) {
  return 2 * (lane % 4) + 8 * (r % 2);
}
constexpr int b_n(int lane, int r) {
  return lane / 4 + 8 * (r / 2);
}

}  // namespace mla::sm80
