// The CTA shapes of the shared attention kernels on NVIDIA (mma.sync tile, sm_80 and later),
// and which of them a device's shared memory admits. Decode and prefill instantiate them in
// one translation unit (sparse_attention_cuda.cu).
//   decode, 16 heads (TP8 head counts, memory-bound): 8 warps; V3.2: 2 key groups x 4
//             dimension groups over blocks of 32 keys, 128 registers, two CTAs per SM; V4.0:
//             4 x 2 over 64 keys.
//   decode, 64 heads: 4 row tiles of 16 heads; V3.2: 2 key groups (8 warps, each accumulating
//             256 value columns); V4.0: 2 key groups x 2 dimension groups (16 warps, 128
//             columns).
//   prefill: one shape per head count for all its key formats (sparse_prefill_launch.h).
// On Hopper (sm_90a code, an sm_90 device) the 64-head CTAs of both take the warpgroup kernel
// instead (WarpgroupTileSm90, wgmma_sm90.cuh), and the 16-head CTAs of both the fragment
// kernel (FragmentNarrow), unless MLA_DISABLE_WGMMA is set.
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "attention/sparse_prefill_launch.h"
#include "mma_tile_sm80.cuh"
#include "wgmma_sm90.cuh"

namespace mla::gpu::nv {

// ask(dev) for the current device, asked once per device ordinal below 64 and kept in `cache`
// (1 + answer; 0 = not asked yet); false without a current device.
template <class Ask>
bool once_per_device(std::atomic<int> (&cache)[64], Ask ask) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return false;
  if (dev < 64 && cache[dev].load(std::memory_order_relaxed) > 0)
    return cache[dev].load(std::memory_order_relaxed) == 2;
  const bool yes = ask(dev);
  if (dev < 64) cache[dev].store(yes ? 2 : 1, std::memory_order_relaxed);
  return yes;
}

// CTA shapes as (row tiles, key groups, dimension groups, keys per block, CTAs per SM), per
// cache format: measured on the H200 (bench/RESULTS.md, decode variants). V4.0 keys cost less
// to store (code values), so its CTAs take more keys or more warps. The macros let the
// variants be rebuilt without editing this file (bench/decode_variants.sh).
#ifndef MLA_SM80_DECODE_NARROW_V32
#define MLA_SM80_DECODE_NARROW_V32 1, 2, 4, 32, 2
#endif
#ifndef MLA_SM80_DECODE_NARROW_V40
#define MLA_SM80_DECODE_NARROW_V40 1, 4, 2, 64, 1
#endif
#ifndef MLA_SM80_DECODE_WIDE_V32
#define MLA_SM80_DECODE_WIDE_V32 4, 2, 1, 32, 1
#endif
#ifndef MLA_SM80_DECODE_WIDE_V40
#define MLA_SM80_DECODE_WIDE_V40 4, 2, 2, 32, 1
#endif
// Prefill: one shape per head count for every key format of a d_qk (bf16 rows and the paged
// cache alike: sparse_prefill_launch.h).
#ifndef MLA_SM80_PREFILL_NARROW
#define MLA_SM80_PREFILL_NARROW 1, 2, 4, 32, 2
#endif
#ifndef MLA_SM80_PREFILL_WIDE
#define MLA_SM80_PREFILL_WIDE 4, 2, 2, 32, 1
#endif

template <class Fmt>
struct Sm80Shapes;
template <>
struct Sm80Shapes<attn::V32Keys> {
  using Narrow = attn::DecodeCta<MmaTileSm80, attn::V32Keys, MLA_SM80_DECODE_NARROW_V32>;
  using Wide = attn::DecodeCta<MmaTileSm80, attn::V32Keys, MLA_SM80_DECODE_WIDE_V32>;
};
template <>
struct Sm80Shapes<attn::V40Keys> {
  using Narrow = attn::DecodeCta<MmaTileSm80, attn::V40Keys, MLA_SM80_DECODE_NARROW_V40>;
  using Wide = attn::DecodeCta<MmaTileSm80, attn::V40Keys, MLA_SM80_DECODE_WIDE_V40>;
};

struct AttentionShapes {
  static constexpr int kMaxRows = 64;
  static constexpr int64_t kMaxCtas = 2147483647;  // gridDim.x
  template <class Fmt>
  using Narrow = typename Sm80Shapes<Fmt>::Narrow;
  template <class Fmt>
  using Wide = typename Sm80Shapes<Fmt>::Wide;
  template <class Fmt>
  using PrefillNarrow = attn::DecodeCta<MmaTileSm80, Fmt, MLA_SM80_PREFILL_NARROW>;
  template <class Fmt>
  using PrefillWide = attn::DecodeCta<MmaTileSm80, Fmt, MLA_SM80_PREFILL_WIDE>;

  // 64 heads on Hopper, decode and prefill: the warpgroup kernels (wgmma).
  static constexpr bool kWarpgroup = true;
  template <class Source>
  using Warpgroup = attn::WarpgroupCta<sm90::WarpgroupTileSm90, Source>;
  template <class Fmt, bool kPair = false>  // decode's 64-head CTAs: keys dequantized by all
  using DequantWarpgroup = attn::DequantWarpgroupCta<sm90::WarpgroupTileSm90, Fmt, kPair>;
  template <class Source>  // decode's cluster pairs, MLA_PAIR_KERNEL=split
  using SplitWarpgroup = attn::SplitConsumerCta<sm90::WarpgroupTileSm90, Source>;
  // decode's 16-head CTAs on Hopper: keys by the bulk copy engine, fp8 codes into the
  // fragments of mma.sync (fragment_decode_kernel.h).
  template <class Fmt>
  using FragmentNarrow = attn::FragmentDecodeCta<MmaTileSm80, sm90::WarpgroupTileSm90, Fmt>;
  static bool warpgroup_runs();
  // A launch of `ctas` CTAs in clusters of two; `attr` holds the cluster dimension it names.
  static cudaLaunchConfig_t cluster_pair_config(int64_t ctas, int threads, size_t smem,
                                                mla_stream stream, cudaLaunchAttribute& attr) {
    attr = {};
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = 2;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(unsigned(ctas));
    cfg.blockDim = dim3(unsigned(threads));
    cfg.dynamicSmemBytes = smem;
    cfg.stream = as_stream(stream);
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    return cfg;
  }
  // Launches `kernel` in clusters of two CTAs (check_launch reports a refused launch).
  template <class Kernel>
  static void launch_cluster_pair(Kernel kernel, int64_t ctas, int threads, size_t smem,
                                  mla_stream stream, const attn::DecodeLaunch& L) {
    cudaLaunchAttribute attr;
    const cudaLaunchConfig_t cfg = cluster_pair_config(ctas, threads, smem, stream, attr);
    (void)cudaLaunchKernelEx(&cfg, kernel, L);  // its error stays for check_launch
  }
  // The device places at least one cluster of two such CTAs (not so on a partition too small
  // for two of them, MIG or MPS). Asked once per device and CTA shape (Cta: the kernels share
  // one function type).
  template <class Cta, class Kernel>
  static bool cluster_pair_fits(Kernel kernel, int threads, size_t smem) {
    static std::atomic<int> answer[64];
    return once_per_device(answer, [&](int) {
      cudaLaunchAttribute attr;
      const cudaLaunchConfig_t cfg = cluster_pair_config(2, threads, smem, nullptr, attr);
      int clusters = 0;
      const bool ok = cudaOccupancyMaxActiveClusters(&clusters, kernel, &cfg) == cudaSuccess;
      if (!ok) (void)cudaGetLastError();
      return ok && clusters >= 1;
    });
  }
};

// MLA_DISABLE_WGMMA is not set, the current device is an sm_90 part, the library holds sm_90a code
// (CMake: "90a" among the CUDA architectures) and the device grants the warpgroup CTA's shared
// memory. Asked once per device (once_per_device).
inline bool AttentionShapes::warpgroup_runs() {
#if defined(MLA_CUDA_SM90A)
  // MLA_DISABLE_WGMMA=1: the mma.sync kernels instead (the sm_80-89 path, testable on Hopper).
  // Read at every call, so that a process may switch it.
  const char* off = std::getenv("MLA_DISABLE_WGMMA");
  if (off != nullptr && off[0] != '\0' && std::strcmp(off, "0") != 0) return false;
  static std::atomic<int> answer[64];
  return once_per_device(answer, [](int dev) {
    int major = 0, minor = 0, optin = 0;
    const bool ok =
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev) == cudaSuccess &&
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) == cudaSuccess;
    if (!ok) (void)cudaGetLastError();
    return ok && major == 9 && minor == 0 &&
           size_t(optin) >= Warpgroup<attn::AsyncBf16Rows<576>>::kSmemBytes;
  });
#else
  return false;
#endif
}

// The widest CTA (64 or 16 rows, else 0) whose shared memory the current device grants, for
// the shapes of `Wide` and `Narrow` (sizes in bytes, largest of their formats); cached per
// device ordinal in `rows_of` (rows + 1, 0 = not asked yet).
inline int rows_that_fit(std::atomic<int> (&rows_of)[64], size_t wide, size_t narrow) {
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess) return 0;
  if (dev < 64 && rows_of[dev].load(std::memory_order_relaxed) > 0)
    return rows_of[dev].load(std::memory_order_relaxed) - 1;
  int optin = 0;
  if (cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  const int rows = wide <= size_t(optin) ? 64 : narrow <= size_t(optin) ? 16 : 0;
  if (dev < 64) rows_of[dev].store(rows + 1, std::memory_order_relaxed);
  return rows;
}

constexpr size_t max_bytes(size_t a, size_t b) {
  return a > b ? a : b;
}

}  // namespace mla::gpu::nv
