// Hopper (sm_90a) primitives of the warpgroup attention kernel: wgmma with both operands in
// shared memory (the layouts in wgmma_layout_sm90.h), asynchronous 16-byte copies with zero
// fill, the fences between the generic and async proxies, and the warpgroup tile type.
#pragma once

#include <cstdint>

#include "../fp8_hw_cuda.h"
#include "port.h"
#include "wgmma_layout_sm90.h"

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define MLA_WGMMA_ENABLED 1
#endif

namespace mla::gpu::sm90 {

// A shared-memory matrix descriptor: 128-byte swizzle, the given start, LBO and SBO (bytes).
MLA_DEVICE MLA_FORCEINLINE uint64_t smem_desc(uint32_t start, uint32_t lbo, uint32_t sbo) {
  return uint64_t((start & 0x3FFFF) >> 4) | (uint64_t((lbo & 0x3FFFF) >> 4) << 16) |
         (uint64_t((sbo & 0x3FFFF) >> 4) << 32) | (uint64_t(1) << 62);
}

// The descriptor of the byte `bytes` after d's start: the start field holds address / 16 in
// bits 0-13, and shared addresses stay below 2^18, so the field never carries into the next.
// One add where smem_desc() takes five operations (measured: the 36 score MMAs of a block were
// issued with about 12 instructions each).
MLA_DEVICE MLA_FORCEINLINE uint64_t desc_advance(uint64_t d, uint32_t bytes) {
  return d + (bytes >> 4);
}

// desc_advance computed where it stands (volatile: the compiler would otherwise compute every
// descriptor of a loop ahead of it and hold them all in registers, and spill).
MLA_DEVICE MLA_FORCEINLINE uint64_t desc_advance_here(uint64_t d, uint32_t bytes) {
  uint32_t lo = uint32_t(d);
  asm volatile("add.u32 %0, %0, %1;\n" : "+r"(lo) : "r"(bytes >> 4));
  return (d & 0xFFFFFFFF00000000ull) | lo;
}

MLA_DEVICE MLA_FORCEINLINE uint32_t smem_addr(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

MLA_DEVICE MLA_FORCEINLINE void wgmma_fence() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
MLA_DEVICE MLA_FORCEINLINE void wgmma_commit() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
template <int kPending>
MLA_DEVICE MLA_FORCEINLINE void wgmma_wait() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#endif
}
// Generic-proxy writes to shared memory (st.shared, cp.async) made visible to wgmma.
MLA_DEVICE MLA_FORCEINLINE void fence_proxy_async() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// Keeps the compiler from moving accumulator reads or writes across an async MMA.
template <int N>
MLA_DEVICE MLA_FORCEINLINE void fence_regs(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// 16 bytes from global to shared memory, asynchronously; bytes = 0 fills zeros and reads
// nothing (the source must still be a valid-looking address).
MLA_DEVICE MLA_FORCEINLINE void copy16_async(uint32_t dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
               "r"(bytes)
               : "memory");
}
// The same with an L2 policy (createpolicy): rows that other CTAs gather again are kept
// (evict_last), q streams through (evict_first).
MLA_DEVICE MLA_FORCEINLINE void copy16_async(uint32_t dst, const void* src, int bytes,
                                             uint64_t policy) {
  asm volatile(
      "cp.async.cg.shared.global.L2::cache_hint.L2::256B [%0], [%1], 16, %2, %3;\n" ::"r"(dst),
      "l"(src), "r"(bytes), "l"(policy)
      : "memory");
}
MLA_DEVICE MLA_FORCEINLINE uint64_t l2_policy_keep() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_last.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
MLA_DEVICE MLA_FORCEINLINE uint64_t l2_policy_stream() {
  uint64_t policy;
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\n" : "=l"(policy));
  return policy;
}
MLA_DEVICE MLA_FORCEINLINE void copy_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int kPending>
MLA_DEVICE MLA_FORCEINLINE void copy_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// D (64 x 32, fp32) += A (64 x 16, smem) B (16 x 32, smem); scale_d 0: D = A B.
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64n32k16(float (&d)[16], uint64_t a, uint64_t b,
                                                int scale_d) {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
      "}, %16, %17, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15])
      : "l"(a), "l"(b), "r"(scale_d));
#else
  (void)d, (void)a, (void)b, (void)scale_d;
  __trap();
#endif
}

// D (64 x 64, fp32) += A (64 x 16, smem) B (16 x 64, smem); scale_d 0: D = A B.
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64n64k16(float (&d)[32], uint64_t a, uint64_t b,
                                                int scale_d) {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
      "}, %32, %33, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "l"(a), "l"(b), "r"(scale_d));
#else
  (void)d, (void)a, (void)b, (void)scale_d;
  __trap();
#endif
}

// D (64 x N) += A B for the scores: N = 32 or 64 by the accumulator's size.
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64k16(float (&d)[16], uint64_t a, uint64_t b, int scale_d) {
  wgmma_m64n32k16(d, a, b, scale_d);
}
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64k16(float (&d)[32], uint64_t a, uint64_t b, int scale_d) {
  wgmma_m64n64k16(d, a, b, scale_d);
}

// Named CTA barriers (ids 1..15; 0 is __syncthreads): sync waits for `threads` arrivals
// (its own warp's included), arrive adds its warp's and goes on. Both order the shared-memory
// accesses of the threads taking part.
MLA_DEVICE MLA_FORCEINLINE void barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
MLA_DEVICE MLA_FORCEINLINE void barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;\n" ::"r"(id), "r"(threads) : "memory");
}
// Shared-memory arrival barriers (mbarrier): `count` arrivals complete a phase.
MLA_DEVICE MLA_FORCEINLINE void mbar_init(uint32_t addr, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(addr), "r"(count) : "memory");
}
// An arrival that releases this thread's earlier shared-memory writes.
MLA_DEVICE MLA_FORCEINLINE void mbar_arrive(uint32_t addr) {
  asm volatile("{\n.reg .b64 state;\nmbarrier.arrive.shared::cta.b64 state, [%0];\n}\n" ::"r"(addr)
               : "memory");
}
// An arrival made when this thread's earlier cp.async copies have landed (counted in `count`).
MLA_DEVICE MLA_FORCEINLINE void mbar_arrive_on_copies(uint32_t addr) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(addr) : "memory");
}
MLA_DEVICE MLA_FORCEINLINE bool mbar_try_wait(uint32_t addr, int phase) {
#if defined(MLA_WGMMA_ENABLED)  // sm_90 PTX; the warpgroup kernels run on sm_90a only
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
      "selp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(addr), "r"(phase)
      : "memory");
  return done != 0;
#else
  (void)addr, (void)phase;
  __trap();
  return true;
#endif
}
// Returns once the phase of parity `phase` has completed (a loop in C++, not inside the asm).
MLA_DEVICE MLA_FORCEINLINE void mbar_wait(uint32_t addr, int phase) {
  while (!mbar_try_wait(addr, phase)) {
  }
}

// A warpgroup's register budget moved at run time (all its threads together).
template <int kRegs>
MLA_DEVICE MLA_FORCEINLINE void registers_grow() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegs));
#endif
}
template <int kRegs>
MLA_DEVICE MLA_FORCEINLINE void registers_shrink() {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegs));
#endif
}

// The 128 fp32 accumulators of an m64n256k16 wgmma: operands %0..%127 of its asm, as text and
// as read-write constraints on d[0..127].
#define MLA_WGMMA_D128_TEXT                                                                      \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "                       \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "             \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "             \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, "             \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, "             \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, "             \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define MLA_WGMMA_D128_RW(d)                                                                      \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),    \
      "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),  \
      "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),  \
      "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]),  \
      "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]), "+f"(d[42]),  \
      "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]), "+f"(d[49]),  \
      "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]), "+f"(d[56]),  \
      "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63]),  \
      "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]), "+f"(d[70]),  \
      "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]), "+f"(d[77]),  \
      "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]), "+f"(d[84]),  \
      "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]), "+f"(d[91]),  \
      "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]), "+f"(d[98]),  \
      "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]), "+f"(d[104]),          \
      "+f"(d[105]), "+f"(d[106]), "+f"(d[107]), "+f"(d[108]), "+f"(d[109]), "+f"(d[110]),         \
      "+f"(d[111]), "+f"(d[112]), "+f"(d[113]), "+f"(d[114]), "+f"(d[115]), "+f"(d[116]),         \
      "+f"(d[117]), "+f"(d[118]), "+f"(d[119]), "+f"(d[120]), "+f"(d[121]), "+f"(d[122]),         \
      "+f"(d[123]), "+f"(d[124]), "+f"(d[125]), "+f"(d[126]), "+f"(d[127])

// D (64 x 256, fp32) += A (64 x 16, smem) B (16 x 256, smem, MN-major); scale_d 0: D = A B.
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64n256k16(float (&d)[128], uint64_t a, uint64_t b,
                                                 int scale_d) {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" MLA_WGMMA_D128_TEXT
      "}, %128, %129, p, 1, 1, 0, 1;\n}\n"
      : MLA_WGMMA_D128_RW(d)
      : "l"(a), "l"(b), "r"(scale_d));
#else
  (void)d, (void)a, (void)b, (void)scale_d;
  __trap();
#endif
}

// D (64 x 256, fp32) += A (64 x 16, registers: the m16n8k16 A fragment per warp) B (16 x 256,
// smem, MN-major).
MLA_DEVICE MLA_FORCEINLINE void wgmma_m64n256k16_rs(float (&d)[128], const uint32_t (&a)[4],
                                                    uint64_t b) {
#if defined(MLA_WGMMA_ENABLED)
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {" MLA_WGMMA_D128_TEXT
      "}, {%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"
      : MLA_WGMMA_D128_RW(d)
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b), "r"(1));
#else
  (void)d, (void)a, (void)b;
  __trap();
#endif
}

// The warpgroup tile of warpgroup_attention_kernel.h on Hopper.
struct WarpgroupTileSm90 {
  using Hw = CudaHw;
  static constexpr int kThreads = 128;  // one warpgroup
  static constexpr int kRows = 64;      // query heads per warpgroup (the M of wgmma)

  static MLA_HD MLA_FORCEINLINE constexpr uint32_t operand_offset(int rows, int r, int c) {
    return mla::sm90::panel_offset(rows, r, c);
  }
  static MLA_DEVICE MLA_FORCEINLINE uint32_t shared_address(const void* p) { return smem_addr(p); }

  // S (64 x N) = Q (64 x kDim) K^T for N = 32 (s[16]) or 64 (s[32]) keys: q at the Q operand
  // (64 rows), k at the first of the N key rows of an operand of `k_rows` rows. Issued and
  // committed as one group.
  template <int kDim, int N>
  static MLA_DEVICE MLA_FORCEINLINE void scores_issue(float (&s)[N], uint32_t q, uint32_t k,
                                                      int k_rows) {
    scores_issue_panels<kDim / 64>(s, q, k, k_rows, 0, false);
  }
  // The part of S over kPanels column panels (64 columns each) from `first`, added to s when
  // `accumulate`; issued and committed as one group.
  template <int kPanels, int N>
  static MLA_DEVICE MLA_FORCEINLINE void scores_issue_panels(float (&s)[N], uint32_t q, uint32_t k,
                                                             int k_rows, int first,
                                                             bool accumulate) {
    wgmma_fence();
    const uint64_t qd = smem_desc(q, 16, 1024), kd = smem_desc(k, 16, 1024);
#pragma unroll
    for (int p = 0; p < kPanels; ++p)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        wgmma_m64k16(s, desc_advance(qd, (first + p) * 64 * 128 + kk * 32),
                     desc_advance_here(kd, (first + p) * k_rows * 128 + kk * 32),
                     accumulate || (p | kk) != 0);
    wgmma_commit();
  }
  // O (64 x 256) += P V over 16 keys, issued only (values_wait() ends them): P from this
  // thread's registers (the m16n8k16 A fragment of each warp: pack(P[g][2c..]),
  // pack(P[g+8][2c..]), pack(P[g][2c+8..]), pack(P[g+8][2c+8..])), or from a K-major P operand
  // in shared memory (p at the 16 keys' first column); v at the 16 keys' row of the first
  // column panel of an operand of `v_rows` key rows.
  static MLA_DEVICE MLA_FORCEINLINE void values_issue(float (&o)[128], const uint32_t (&p)[4],
                                                      uint32_t v, int v_rows) {
    wgmma_fence();
    wgmma_m64n256k16_rs(o, p, smem_desc(v, v_rows * 128, 1024));
  }
  static MLA_DEVICE MLA_FORCEINLINE void values_issue(float (&o)[128], uint32_t p, uint32_t v,
                                                      int v_rows) {
    wgmma_fence();
    wgmma_m64n256k16(o, smem_desc(p, 16, 1024), smem_desc(v, v_rows * 128, 1024), 1);
  }
  static MLA_DEVICE MLA_FORCEINLINE void commit() {
    wgmma_commit();
  }
  // Waits until at most kPending of this warpgroup's committed MMA groups are in flight; regs:
  // accumulators that the finished groups wrote (read after this only).
  template <int kPending, int N>
  static MLA_DEVICE MLA_FORCEINLINE void wait(float (&regs)[N]) {
    wgmma_wait<kPending>();
    fence_regs(regs);
  }
  template <int kPending>
  static MLA_DEVICE MLA_FORCEINLINE void wait() {
    wgmma_wait<kPending>();
  }
  static MLA_DEVICE MLA_FORCEINLINE void mbar_init(uint32_t addr, int count) {
    sm90::mbar_init(addr, count);
  }
  static MLA_DEVICE MLA_FORCEINLINE void mbar_arrive(uint32_t addr) {
    sm90::mbar_arrive(addr);
  }
  static MLA_DEVICE MLA_FORCEINLINE void mbar_arrive_on_copies(uint32_t addr) {
    sm90::mbar_arrive_on_copies(addr);
  }
  static MLA_DEVICE MLA_FORCEINLINE void mbar_wait(uint32_t addr, int phase) {
    sm90::mbar_wait(addr, phase);
  }
  static MLA_DEVICE MLA_FORCEINLINE void barrier_sync(int id, int threads) {
    sm90::barrier_sync(id, threads);
  }
  static MLA_DEVICE MLA_FORCEINLINE void barrier_arrive(int id, int threads) {
    sm90::barrier_arrive(id, threads);
  }
  template <int kRegs>
  static MLA_DEVICE MLA_FORCEINLINE void registers_grow() {
    sm90::registers_grow<kRegs>();
  }
  template <int kRegs>
  static MLA_DEVICE MLA_FORCEINLINE void registers_shrink() {
    sm90::registers_shrink<kRegs>();
  }
  static MLA_DEVICE MLA_FORCEINLINE void copy16(uint32_t dst, const void* src, bool valid) {
    copy16_async(dst, src, valid ? 16 : 0);
  }
  static MLA_DEVICE MLA_FORCEINLINE void copy16(uint32_t dst, const void* src, bool valid,
                                                uint64_t policy) {
    copy16_async(dst, src, valid ? 16 : 0, policy);
  }
  static MLA_DEVICE MLA_FORCEINLINE uint64_t l2_keep() {
    return l2_policy_keep();
  }
  static MLA_DEVICE MLA_FORCEINLINE uint64_t l2_stream() {
    return l2_policy_stream();
  }
  static MLA_DEVICE MLA_FORCEINLINE void copy_commit() {
    sm90::copy_commit();
  }
  template <int kPending>
  static MLA_DEVICE MLA_FORCEINLINE void copy_wait() {
    sm90::copy_wait<kPending>();
  }
  // Clusters of CTAs (sm_90): this CTA's rank, the address in the cluster's shared window of the
  // same shared-memory byte of CTA `rank` (32 bits, as this CTA's own: distributed shared
  // memory), and a barrier of every thread of the cluster that publishes each one's
  // shared-memory writes to the others and to their MMAs.
  static MLA_DEVICE MLA_FORCEINLINE int cluster_rank() {
    uint32_t r = 0;
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
#else
    __trap();  // clusters need sm_90a code: never launched without it
#endif
    return int(r);
  }
  static MLA_DEVICE MLA_FORCEINLINE uint32_t peer_shared_address(uint32_t addr, int rank) {
    uint32_t out = addr;
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(out) : "r"(addr), "r"(rank));
#else
    __trap();
#endif
    return out;
  }
  // Signalling between the CTAs of a cluster through arrival barriers (the pair producers of
  // warpgroup_pair_keys.h). copy_to_peer: `bytes` (a multiple of 16) of this CTA's shared memory
  // at `src` to `dst` in another CTA of the cluster (peer_shared_address), by the bulk copy
  // engine; their landing completes as many bytes of a transaction on `bar`, a barrier of that
  // CTA. It reads the source through the async proxy (publish() the writes to it first).
  static MLA_DEVICE MLA_FORCEINLINE void copy_to_peer(uint32_t dst, uint32_t src, uint32_t bytes,
                                                      uint32_t bar) {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile(
        "cp.async.bulk.shared::cluster.shared::cta.mbarrier::complete_tx::bytes [%0], [%1], %2, "
        "[%3];\n" ::"r"(dst),
        "r"(src), "r"(bytes), "r"(bar)
        : "memory");
#else
    (void)dst, (void)src, (void)bytes, (void)bar;
    __trap();
#endif
  }
  // `bytes` (a multiple of 16) from global memory at `src` (16-byte aligned) into this CTA's
  // shared memory at `dst` by the bulk copy engine; the landing completes as many bytes of a
  // transaction on `bar`, a barrier of this CTA (fragment_decode_kernel.h: one key row a copy).
  static MLA_DEVICE MLA_FORCEINLINE void copy_row_async(uint32_t dst, const void* src,
                                                        uint32_t bytes, uint32_t bar) {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile(
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, "
        "[%3];\n" ::"r"(dst),
        "l"(src), "r"(bytes), "r"(bar)
        : "memory");
#else
    (void)dst, (void)src, (void)bytes, (void)bar;
    __trap();
#endif
  }
  // `bytes` more of transactions expected in the current phase of this CTA's barrier, without
  // an arrival: made before the copies that complete them are issued.
  static MLA_DEVICE MLA_FORCEINLINE void mbar_expect(uint32_t addr, uint32_t bytes) {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(addr),
                 "r"(bytes)
                 : "memory");
#else
    (void)addr, (void)bytes;
    __trap();
#endif
  }
  // An arrival on this CTA's barrier that also expects `bytes` of transactions in its phase.
  static MLA_DEVICE MLA_FORCEINLINE void mbar_arrive_expect(uint32_t addr, uint32_t bytes) {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(addr), "r"(bytes)
                 : "memory");
#else
    (void)addr, (void)bytes;
    __trap();
#endif
  }
  // An arrival on a barrier of another CTA of the cluster (peer_shared_address), releasing this
  // thread's earlier memory accesses at cluster scope.
  static MLA_DEVICE MLA_FORCEINLINE void mbar_arrive_peer(uint32_t addr) {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("mbarrier.arrive.release.cluster.shared::cluster.b64 _, [%0];\n" ::"r"(addr)
                 : "memory");
#else
    (void)addr;
    __trap();
#endif
  }
  // Barrier initializations made visible to the other CTAs of the cluster (a cluster_sync
  // follows before any of them uses one).
  static MLA_DEVICE MLA_FORCEINLINE void mbar_init_publish() {
#if defined(MLA_WGMMA_ENABLED)
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#else
    __trap();
#endif
  }
  static MLA_DEVICE MLA_FORCEINLINE void cluster_sync() {
#if defined(MLA_WGMMA_ENABLED)
    // The writers' proxy fence (their local and remote writes) before the release, as publish()
    // before a CTA barrier: the MMAs after the acquire see them, no fence on the reading side.
    asm volatile("fence.proxy.async.shared::cluster;\n" ::: "memory");
    asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
    asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#else
    __trap();
#endif
  }
  // This thread's shared-memory writes (stores and finished copies) made visible to the MMAs;
  // a CTA barrier must follow before another thread's MMA reads them.
  static MLA_DEVICE MLA_FORCEINLINE void publish() {
    fence_proxy_async();
  }

  // Accumulator layout of m64nNk16 (wgmma_layout_sm90.h), for thread t of the warpgroup.
  static MLA_HD MLA_FORCEINLINE constexpr int acc_row(int t, int e) {
    return mla::sm90::acc_row(t, e);
  }
  static MLA_HD MLA_FORCEINLINE constexpr int acc_col(int t, int e) {
    return mla::sm90::acc_col(t, e);
  }
  static MLA_DEVICE MLA_FORCEINLINE float quad_max(float v) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
    return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
  }
  static MLA_DEVICE MLA_FORCEINLINE bool warp_any(bool v) {
    return __any_sync(0xffffffffu, v);
  }
  static MLA_DEVICE MLA_FORCEINLINE float quad_sum(float v) {
    v += __shfl_xor_sync(0xffffffffu, v, 1);
    return v + __shfl_xor_sync(0xffffffffu, v, 2);
  }
};

}  // namespace mla::gpu::sm90
