// The portability layer every shared source includes: host/device qualifiers, wave size,
// shuffles and the vendor runtime, for CUDA (nvcc), HIP (clang -x hip) and plain host C++.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__HIP__) || defined(__HIPCC__)
#include <hip/hip_runtime.h>
#define MLA_GPU_HIP 1
#elif defined(__CUDACC__)
#include <cuda_runtime.h>
#define MLA_GPU_CUDA 1
#endif

// A GPU compiler, not just host code that names its vendor (the benchmark does).
#if defined(__HIP__) || defined(__HIPCC__) || defined(__CUDACC__)
#define MLA_GPU_COMPILER 1
#define MLA_HD __host__ __device__
#define MLA_DEVICE __device__
#define MLA_FORCEINLINE __forceinline__
#else
#define MLA_HD
#define MLA_DEVICE
#define MLA_FORCEINLINE inline __attribute__((always_inline))
#endif

// True while compiling code for the GPU itself (not the host pass of a GPU compiler).
#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
#define MLA_DEVICE_PASS 1
#endif

namespace mla {

#if defined(MLA_GPU_HIP)
// CDNA (gfx9) runs wave64 only; RDNA is not a target of this library.
constexpr int kWaveSize = 64;
#else
constexpr int kWaveSize = 32;
#endif

#if defined(MLA_GPU_COMPILER)
template <typename T>
MLA_DEVICE MLA_FORCEINLINE T shfl_xor(T v, int mask) {
#if defined(MLA_GPU_HIP)
  return __shfl_xor(v, mask);
#else
  return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

// v, as a value the compiler cannot see through: what is derived from it inside a loop is
// computed there, not ahead of the loop and held in registers (or spilled) across it.
MLA_DEVICE MLA_FORCEINLINE int opaque(int v) {
  asm volatile("" : "+r"(v));
  return v;
}

// A load through the read-only data path (CUDA's non-coherent cache; a plain load on HIP, whose
// compiler picks the cache policy itself). For data no kernel of the launch writes.
template <typename T>
MLA_DEVICE MLA_FORCEINLINE T load_ro(const T* p) {
#if defined(MLA_GPU_HIP)
  return *p;
#else
  return __ldg(p);
#endif
}

// 16 bytes read once (gathered key rows): like load_ro, but on CUDA without allocating in L1
// (ld.global.nc.L1::no_allocate), so that a stream of rows does not evict what L1 holds.
MLA_DEVICE MLA_FORCEINLINE uint4 load_once16(const uint4* p) {
#if defined(MLA_GPU_HIP)
  return *p;
#else
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
#endif
}

// The value of lane `src` of the warp (wave).
template <typename T>
MLA_DEVICE MLA_FORCEINLINE T shfl_idx(T v, int src) {
#if defined(MLA_GPU_HIP)
  return __shfl(v, src);
#else
  return __shfl_sync(0xffffffffu, v, src);
#endif
}

// Sum and max over one warp (CUDA) or wavefront (HIP); every lane gets the result.
MLA_DEVICE MLA_FORCEINLINE float wave_sum(float v) {
  for (int m = kWaveSize / 2; m > 0; m >>= 1) v += shfl_xor(v, m);
  return v;
}
MLA_DEVICE MLA_FORCEINLINE float wave_max(float v) {
  for (int m = kWaveSize / 2; m > 0; m >>= 1) v = fmaxf(v, shfl_xor(v, m));
  return v;
}
#endif

// 64-bit ceiling division and rounding up, shared by the layout math and launch planning.
MLA_HD constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
MLA_HD constexpr int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

}  // namespace mla
