// The MMA tile of the shared attention kernels on NVIDIA sm_80 and later: a 16x16x16 bf16
// product as two mma.sync m16n8k16, operands through ldmatrix from padded shared rows. The
// index functions are in mma_layout_sm80.h; the interface in common/attention/mma_tile.h.
#pragma once

#include "../fp8_hw_cuda.h"
#include "attention/mma_tile.h"
#include "mma_layout_sm80.h"

namespace mla::gpu {

struct MmaTileSm80 {
  using Hw = CudaHw;
  static constexpr int kLanes = sm80::kLanes;
  // 8 bf16 of padding: 576- and 512-wide rows are then an odd number of 16-byte units apart,
  // so the 8 row addresses of one ldmatrix phase fall in different bank groups.
  static constexpr int kPad = 8;
  static constexpr int kMaxRows = 64;
  static constexpr int kAccRegs = sm80::kAccRegs;
  static constexpr int kRowSlots = sm80::kRowSlots;
  struct A {
    uint32_t r[4];
  };
  struct B {
    uint32_t r[4];
  };
  struct Acc {
    float v[kAccRegs];
  };

  static MLA_DEVICE MLA_FORCEINLINE int acc_row(int lane, int e) { return sm80::acc_row(lane, e); }
  static MLA_DEVICE MLA_FORCEINLINE int acc_col(int lane, int e) { return sm80::acc_col(lane, e); }
  static MLA_DEVICE MLA_FORCEINLINE int acc_slot(int e) { return sm80::acc_slot(e); }
  static MLA_DEVICE MLA_FORCEINLINE int slot_row(int lane, int s) {
    return sm80::slot_row(lane, s);
  }
  static MLA_DEVICE MLA_FORCEINLINE bool row_leader(int lane) { return sm80::row_leader(lane); }
  static MLA_DEVICE MLA_FORCEINLINE float row_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  }
  static MLA_DEVICE MLA_FORCEINLINE float row_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
  }

  // The warp's lanes meet here (and see each other's shared-memory writes).
  static MLA_DEVICE MLA_FORCEINLINE void sync_lanes() { __syncwarp(); }
  // The lanes for which v holds, one bit each.
  static MLA_DEVICE MLA_FORCEINLINE uint32_t ballot(bool v) {
    return __ballot_sync(0xffffffffu, v);
  }
  // Half kHalf of a and of b as one pair, a's low: a B register from two keys' bf16 columns.
  template <int kHalf>
  static MLA_DEVICE MLA_FORCEINLINE uint32_t halves(uint32_t a, uint32_t b) {
    return __byte_perm(a, b, kHalf == 0 ? 0x5410u : 0x7632u);
  }

  static MLA_DEVICE MLA_FORCEINLINE void load_a(A& a, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    ldmatrix_x4(a.r, s + sm80::ldm_a_row(lane) * pitch + sm80::ldm_a_col(lane), false);
  }
  static MLA_DEVICE MLA_FORCEINLINE void load_b_nk(B& b, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    ldmatrix_x4(b.r, s + sm80::ldm_bt_row(lane) * pitch + sm80::ldm_bt_col(lane), false);
  }
  static MLA_DEVICE MLA_FORCEINLINE void load_b_kn(B& b, const bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
    ldmatrix_x4(b.r, s + sm80::ldm_b_row(lane) * pitch + sm80::ldm_b_col(lane), true);
  }
  // The tile as bf16 into shared memory: pairs of adjacent columns as one 4-byte store.
  static MLA_DEVICE MLA_FORCEINLINE void store_bf16(const Acc& c, bf16_bits* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
#pragma unroll
    for (int e = 0; e < kAccRegs; e += 2)
      *reinterpret_cast<uint32_t*>(s + acc_row(lane, e) * pitch + acc_col(lane, e)) =
          Hw::pack_bf16x2(c.v[e], c.v[e + 1]);
  }
  // The tile as fp32 into shared memory: pairs of adjacent columns as one 8-byte store.
  static MLA_DEVICE MLA_FORCEINLINE void store_f32(const Acc& c, float* s, int pitch) {
    const int lane = threadIdx.x % kLanes;
#pragma unroll
    for (int e = 0; e < kAccRegs; e += 2)
      *reinterpret_cast<float2*>(s + acc_row(lane, e) * pitch + acc_col(lane, e)) =
          make_float2(c.v[e], c.v[e + 1]);
  }
  // A[m][k] = bf16(p[m][k] * f[k]) from fp32 rows (pitch even): the lane's eight elements as
  // four 8-byte reads, times the factors of their four columns.
  static MLA_DEVICE MLA_FORCEINLINE void load_a_scaled(A& a, const float* p, int pitch,
                                                       const float* f) {
    const int lane = threadIdx.x % kLanes;
    const int k = sm80::a_k(lane, 0);
    const float2 f0 = *reinterpret_cast<const float2*>(f + k);
    const float2 f1 = *reinterpret_cast<const float2*>(f + k + 8);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 fk = i < 2 ? f0 : f1;
      const float2 v =
          *reinterpret_cast<const float2*>(p + sm80::a_row(lane, i) * pitch + sm80::a_k(lane, i));
      a.r[i] = Hw::pack_bf16x2(v.x * fk.x, v.y * fk.y);
    }
  }
  // The same product in two parts: hi = bf16(p x f) and lo = bf16(p x f - hi), whose sum holds
  // p x f to about 16 bits (fragment_decode_kernel.h: V3.2's factors are not powers of two).
  static MLA_DEVICE MLA_FORCEINLINE void load_a_scaled_split(A& hi, A& lo, const float* p,
                                                             int pitch, const float* f) {
    const int lane = threadIdx.x % kLanes;
    const int k = sm80::a_k(lane, 0);
    const float2 f0 = *reinterpret_cast<const float2*>(f + k);
    const float2 f1 = *reinterpret_cast<const float2*>(f + k + 8);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 fk = i < 2 ? f0 : f1;
      const float2 v =
          *reinterpret_cast<const float2*>(p + sm80::a_row(lane, i) * pitch + sm80::a_k(lane, i));
      const float x = v.x * fk.x, y = v.y * fk.y;
      hi.r[i] = Hw::pack_bf16x2(x, y);
      lo.r[i] = Hw::pack_bf16x2(x - __uint_as_float(hi.r[i] << 16),
                                y - __uint_as_float(hi.r[i] & 0xFFFF0000u));
    }
  }
  static MLA_DEVICE MLA_FORCEINLINE void mma(Acc& c, const A& a, const B& b) {
    mma_16x8x16(&c.v[0], a, b.r[0], b.r[1]);
    mma_16x8x16(&c.v[4], a, b.r[2], b.r[3]);
  }

 private:
  static MLA_DEVICE MLA_FORCEINLINE void ldmatrix_x4(uint32_t (&r)[4], const bf16_bits* p,
                                                     bool trans) {
    const uint32_t addr = uint32_t(__cvta_generic_to_shared(p));
    if (trans)
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(addr));
    else
      asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                   : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                   : "r"(addr));
  }
  static MLA_DEVICE MLA_FORCEINLINE void mma_16x8x16(float* c, const A& a, uint32_t b0,
                                                     uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    // Not volatile: a pure register operation the compiler may schedule.
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7},"
        " {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a.r[0]), "r"(a.r[1]), "r"(a.r[2]), "r"(a.r[3]), "r"(b0), "r"(b1));
#else
    (void)c, (void)a, (void)b0, (void)b1;
    __trap();  // the library builds for sm_80 and later only
#endif
  }
};

}  // namespace mla::gpu
