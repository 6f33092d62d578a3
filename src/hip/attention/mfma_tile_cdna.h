// The MMA tile of the shared attention kernels on CDNA (gfx90a, gfx942): a 16x16x16 bf16
// product as one v_mfma_f32_16x16x16_bf16 per wave64. MFMA takes its operands from registers
// only, so each lane reads its four bf16 of A and B from LDS itself: 8 contiguous bytes where
// the operand is stored along k, four 2-byte reads where it is stored along n (V in P V).
// The index functions are in mfma_layout_cdna.h; the interface in common/attention/mma_tile.h.
#pragma once

#include "../fp8_hw_hip.h"
#include "attention/mma_tile.h"
#include "mfma_layout_cdna.h"

namespace mla::gpu {

struct MfmaTileCdna {
  using Hw = HipHw;
  static constexpr int kLanes = cdna::kLanes;
  static constexpr int kPad = 8;
  // q of 64 heads (64 x 584 bf16) would take more than the 64 KiB of LDS a workgroup has.
  static constexpr int kMaxRows = 16;
  static constexpr int kAccRegs = cdna::kAccRegs;
  static constexpr int kRowSlots = cdna::kRowSlots;
  typedef short Bf16x4 __attribute__((ext_vector_type(4)));
  typedef float F32x4 __attribute__((ext_vector_type(4)));
  struct A {
    Bf16x4 v;
  };
  struct B {
    Bf16x4 v;
  };
  struct Acc {
    float v[kAccRegs];
  };

  static MLA_DEVICE MLA_FORCEINLINE int acc_row(int lane, int e) { return cdna::acc_row(lane, e); }
  static MLA_DEVICE MLA_FORCEINLINE int acc_col(int lane, int e) { return cdna::acc_col(lane, e); }
  static MLA_DEVICE MLA_FORCEINLINE int acc_slot(int e) { return cdna::acc_slot(e); }
  static MLA_DEVICE MLA_FORCEINLINE int slot_row(int lane, int s) {
    return cdna::slot_row(lane, s);
  }
  static MLA_DEVICE MLA_FORCEINLINE bool row_leader(int lane) { return cdna::row_leader(lane); }
  static MLA_DEVICE MLA_FORCEINLINE float row_max(float v) {
#pragma unroll
    for (int m : cdna::kRowLaneMasks) v = fmaxf(v, __shfl_xor(v, m));
    return v;
  }
  static MLA_DEVICE MLA_FORCEINLINE float row_sum(float v) {
#pragma unroll
    for (int m : cdna::kRowLaneMasks) v += __shfl_xor(v, m);
    return v;
  }

  static MLA_DEVICE MLA_FORCEINLINE void load_a(A& a, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    a.v = *reinterpret_cast<const Bf16x4*>(s + cdna::a_row(lane) * pitch + cdna::a_k(lane));
  }
  static MLA_DEVICE MLA_FORCEINLINE void load_b_nk(B& b, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    b.v = *reinterpret_cast<const Bf16x4*>(s + cdna::b_n(lane) * pitch + cdna::b_k(lane));
  }
  static MLA_DEVICE MLA_FORCEINLINE void load_b_kn(B& b, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    const bf16_bits* p = s + cdna::b_k(lane) * pitch + cdna::b_n(lane);
#pragma unroll
    for (int t = 0; t < 4; ++t) b.v[t] = short(p[t * pitch]);
  }
  static MLA_DEVICE MLA_FORCEINLINE void store_bf16(const Acc& c, bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
#pragma unroll
    for (int e = 0; e < kAccRegs; ++e)
      s[acc_row(lane, e) * pitch + acc_col(lane, e)] = float_to_bf16(c.v[e]);
  }
  static MLA_DEVICE MLA_FORCEINLINE void store_f32(const Acc& c, float* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
#pragma unroll
    for (int e = 0; e < kAccRegs; ++e) s[acc_row(lane, e) * pitch + acc_col(lane, e)] = c.v[e];
  }
  // A[m][k] = bf16(p[m][k] * f[k]) from fp32 rows: the lane's four consecutive elements.
  static MLA_DEVICE MLA_FORCEINLINE void load_a_scaled(A& a, const float* p, int pitch,
                                                       const float* f) {
    const int lane = threadIdx.x % kLanes;
    const int k = cdna::a_k(lane);
    const float4 v = *reinterpret_cast<const float4*>(p + cdna::a_row(lane) * pitch + k);
    const float4 fk = *reinterpret_cast<const float4*>(f + k);
    a.v[0] = short(float_to_bf16(v.x * fk.x));
    a.v[1] = short(float_to_bf16(v.y * fk.y));
    a.v[2] = short(float_to_bf16(v.z * fk.z));
    a.v[3] = short(float_to_bf16(v.w * fk.w));
  }
  static MLA_DEVICE MLA_FORCEINLINE void mma(Acc& c, const A& a, const B& b) {
    F32x4 acc = {c.v[0], c.v[1], c.v[2], c.v[3]};
    acc = __builtin_amdgcn_mfma_f32_16x16x16bf16_1k(a.v, b.v, acc, 0, 0, 0);
#pragma unroll
    for (int e = 0; e < 4; ++e) c.v[e] = acc[e];
  }
};

}  // namespace mla::gpu
