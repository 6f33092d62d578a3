// Where the elements of a 16x16x16 bf16 tile product live on CDNA's matrix cores
// (v_mfma_f32_16x16x16_bf16, one wave64), as index functions of (lane, register), from AMD's
// matrix instruction calculator for gfx90a and gfx942:
//   A[i][k]: lane 16 (k / 4) + i, element k % 4 of the lane's four bf16;
//   B[k][j]: lane 16 (k / 4) + j, element k % 4;
//   C[i][j]: lane 16 (i / 4) + j, register i % 4.
// Plain constexpr C++: the host suite checks them against those formulas.
#pragma once

namespace mla::cdna {

constexpr int kLanes = 64;
constexpr int kAccRegs = 4;
constexpr int kRowSlots = 4;  // each accumulator register of a lane is its own row

constexpr int acc_row(int lane, int e) {
  return 4 * (lane / 16) + e;
}
constexpr int acc_col(int lane, int /*e*/) {
  return lane % 16;
}
constexpr int acc_slot(int e) {
  return e;
}
constexpr int slot_row(int lane, int slot) {
  return 4 * (lane / 16) + slot;
}
// The sixteen lanes that hold a row differ in bits 0..3.
constexpr int kRowLaneMasks[] = {1, 2, 4, 8};
constexpr bool row_leader(int lane) {
  return lane % 16 == 0;
}

// Operand elements: lane l holds A[a_row][a_k + t] (t = 0..3), B[b_k + t][b_n].
constexpr int a_row(int lane) {
  return lane % 16;
}
constexpr int a_k(int lane) {
  return 4 * (lane / 16);
}
constexpr int b_n(int lane) {
  return lane % 16;
}
constexpr int b_k(int lane) {
  return 4 * (lane / 16);
}

}  // namespace mla::cdna
