// Host side of the native sparse decode: plan the call (decode_plan.h), pick the CTA shape
// for the cache format and head count, launch the kernel and, for split rows, the combine.
// The CTA launchers here serve prefill too (sparse_prefill_launch.h: a prefill is a decode of
// one query position per row, so DecodeLaunch and SparseDecodeProblem carry both).
// A vendor's instantiation file calls launch_sparse_decode<Shapes>() with its shapes:
//
//   struct Shapes {
//     static constexpr int kMaxRows;                  // 16 or 64
//     static constexpr int64_t kMaxCtas;              // the vendor's grid limit for these CTAs
//     template <class Fmt> using Narrow = DecodeCta<...>;         // decode, 16 heads
//     template <class Fmt> using Wide = DecodeCta<...>;           // 64 heads (kMaxRows == 64)
//     template <class Fmt> using PrefillNarrow = DecodeCta<...>;  // prefill, any key format
//     template <class Fmt> using PrefillWide = DecodeCta<...>;    // (kMaxRows == 64)
//     static constexpr bool kWarpgroup;  // a warpgroup tile: 64-head CTAs of decode and
//     template <class Source> using Warpgroup = WarpgroupCta<...>;  // prefill, where
//     template <class Fmt, bool kPair> using DequantWarpgroup = DequantWarpgroupCta<...>;
//     template <class Source> using SplitWarpgroup = SplitConsumerCta<...>;  // the pairs'
//                                                                 // MLA_PAIR_KERNEL=split
//     template <class Fmt> using FragmentNarrow = FragmentDecodeCta<...>;  // decode, 16 heads,
//                                                                 // where warpgroup_runs()
//     static void launch_cluster_pair(kernel, ctas, threads, smem, stream, L);  // decode, in
//                                                                 // clusters of 2
//     template <class Cta> static bool cluster_pair_fits(kernel, threads, smem);  // the
//                                                     // device places such a pair
//     static bool warpgroup_runs();                                 // the device runs it
//   };
#pragma once

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "../error.h"
#include "fragment_decode_kernel.h"
#include "split_combine.h"
#include "warpgroup_attention_kernel.h"
#include "warpgroup_dequant_kernel.h"
#include "warpgroup_pair_keys.h"
#include "warpgroup_split_kernel.h"

namespace mla::attn {

// A CTA shape with more than 48 KiB of dynamic shared memory must say so once per device, per
// kernel (every instantiation has its own flag: they share one function type).
template <class Cta>
mla_status allow_shared_bytes(const void* kernel) {
  constexpr size_t kBytes = Cta::kSmemBytes;
  if (kBytes <= 48 * 1024) return MLA_STATUS_SUCCESS;
  static std::atomic<uint64_t> done{0};  // one bit per device ordinal < 64
  int dev = 0;
  if (gpuGetDevice(&dev) != gpuSuccess)
    return fail(MLA_STATUS_DEVICE_ERROR, "attention: no current device");
  const uint64_t bit = dev < 64 ? (uint64_t(1) << dev) : 0;
  if (bit != 0 && (done.load(std::memory_order_relaxed) & bit)) return MLA_STATUS_SUCCESS;
  const gpuError_t e =
      gpuFuncSetAttribute(kernel, gpuFuncAttributeMaxDynamicSharedMemorySize, int(kBytes));
  if (e != gpuSuccess)
    return fail(MLA_STATUS_DEVICE_ERROR, "attention kernel: %zu bytes of shared memory: %s", kBytes,
                gpuGetErrorString(e));
  done.fetch_or(bit, std::memory_order_relaxed);
  return MLA_STATUS_SUCCESS;
}

template <class Cta>
mla_status launch_decode_cta(const DecodeLaunch& L, int64_t ctas, mla_stream stream) {
  auto kernel = sparse_decode_kernel<Cta>;
#if defined(MLA_GPU_HIP)
  constexpr size_t kDynamic = 0;  // static LDS (sparse_decode_kernel.h)
#else
  constexpr size_t kDynamic = Cta::kSmemBytes;
  MLA_TRY(allow_shared_bytes<Cta>(reinterpret_cast<const void*>(kernel)));
#endif
  kernel<<<unsigned(ctas), Cta::kThreads, kDynamic, gpu::as_stream(stream)>>>(L);
  return gpu::check_launch("sparse_decode_kernel");
}

template <class Cta>
mla_status launch_warpgroup_cta(const DecodeLaunch& L, int64_t ctas, mla_stream stream) {
  if (L.splits != 1)  // prefill's rows, never split: the kernel writes final outputs only
    return fail(MLA_STATUS_INTERNAL, "warpgroup_attention_kernel: split rows");
  auto kernel = warpgroup_attention_kernel<Cta>;
  MLA_TRY(allow_shared_bytes<Cta>(reinterpret_cast<const void*>(kernel)));
  kernel<<<unsigned(ctas), Cta::kThreads, Cta::kSmemBytes, gpu::as_stream(stream)>>>(L);
  return gpu::check_launch("warpgroup_attention_kernel");
}

template <class Cta>
mla_status launch_dequant_warpgroup_cta(const DecodeLaunch& L, int64_t ctas, mla_stream stream) {
  auto kernel = warpgroup_dequant_kernel<Cta>;
  MLA_TRY(allow_shared_bytes<Cta>(reinterpret_cast<const void*>(kernel)));
  kernel<<<unsigned(ctas), Cta::kThreads, Cta::kSmemBytes, gpu::as_stream(stream)>>>(L);
  return gpu::check_launch("warpgroup_dequant_kernel");
}

template <class Cta>
mla_status launch_fragment_cta(const DecodeLaunch& L, int64_t ctas, mla_stream stream) {
  auto kernel = fragment_decode_kernel<Cta>;
  MLA_TRY(allow_shared_bytes<Cta>(reinterpret_cast<const void*>(kernel)));
  kernel<<<unsigned(ctas), Cta::kThreads, Cta::kSmemBytes, gpu::as_stream(stream)>>>(L);
  return gpu::check_launch("fragment_decode_kernel");
}

// MLA_CLUSTER_PAIR: unset or empty, the cluster pairs where the device places them (the
// default: measured faster, bench/RESULTS.md); 0, never; anything else, always (a refused
// launch is then an error, so that a test of the pairs cannot pass on the other path). Read at
// every call.
enum class PairMode { Auto, Off, Forced };
inline PairMode cluster_pair_mode() {
  const char* v = std::getenv("MLA_CLUSTER_PAIR");
  if (v == nullptr || v[0] == '\0') return PairMode::Auto;
  return std::strcmp(v, "0") == 0 ? PairMode::Off : PairMode::Forced;
}

// MLA_PAIR_KERNEL: the kernel of the cluster pairs. Unset (or anything else):
// warpgroup_dequant_kernel.h; `producer`: the three-warpgroup kernel with a producer warpgroup
// per CTA (warpgroup_pair_keys.h: measured slower, bench/RESULTS.md); `split`: the producer
// with consumers split as FlashMLA splits them (warpgroup_split_kernel.h: not yet run). Read at
// every call.
enum class PairKernel { Dequant, Producer, Split };
inline PairKernel pair_kernel() {
  const char* v = std::getenv("MLA_PAIR_KERNEL");
  if (v == nullptr) return PairKernel::Dequant;
  if (std::strcmp(v, "producer") == 0) return PairKernel::Producer;
  return std::strcmp(v, "split") == 0 ? PairKernel::Split : PairKernel::Dequant;
}

// Launches `kernel` (CTA shape Cta) in clusters of two where the device places them, or
// always (PairMode::Forced: a refused launch is an error); false: not launched.
template <class Shapes, class Cta, class Kernel>
bool launch_pairs(Kernel kernel, PairMode mode, const DecodeLaunch& L, const DecodePlan& plan,
                  mla_stream stream, mla_status& status) {
  status = allow_shared_bytes<Cta>(reinterpret_cast<const void*>(kernel));
  if (status != MLA_STATUS_SUCCESS) return true;
  if (mode != PairMode::Forced &&
      !Shapes::template cluster_pair_fits<Cta>(kernel, Cta::kThreads, Cta::kSmemBytes))
    return false;
  Shapes::launch_cluster_pair(kernel, plan.ctas, Cta::kThreads, Cta::kSmemBytes, stream, L);
  status = gpu::check_launch("attention kernel (cluster pairs)");
  return true;
}

// Decode's 64-head CTAs. With two head tiles per row: clusters of two CTAs that share the loads
// and the dequantization of the keys: warpgroup_dequant_kernel.h, with the same values and the
// same order of every sum as one CTA per head tile, so the same bits; or
// (MLA_PAIR_KERNEL=producer) the three-warpgroup kernel with one producer per CTA.
template <class Shapes, class Fmt>
mla_status launch_dequant_warpgroup(const DecodeLaunch& L, const DecodePlan& plan,
                                    mla_stream stream) {
  using Single = typename Shapes::template DequantWarpgroup<Fmt, false>;
  const PairMode mode = cluster_pair_mode();
  if (plan.head_tiles == 2 && mode != PairMode::Off) {
    mla_status status = MLA_STATUS_SUCCESS;
    const PairKernel kernel = pair_kernel();
    if (kernel == PairKernel::Producer) {
      using Pair = typename Shapes::template Warpgroup<PairRegisterKeys<Fmt>>;
      if (launch_pairs<Shapes, Pair>(warpgroup_attention_kernel<Pair>, mode, L, plan, stream,
                                     status))
        return status;
    } else if (kernel == PairKernel::Split) {
      using Pair = typename Shapes::template SplitWarpgroup<PairRegisterKeys<Fmt>>;
      if (launch_pairs<Shapes, Pair>(warpgroup_split_kernel<Pair>, mode, L, plan, stream, status))
        return status;
    } else {
      using Pair = typename Shapes::template DequantWarpgroup<Fmt, true>;
      if (launch_pairs<Shapes, Pair>(warpgroup_dequant_kernel<Pair>, mode, L, plan, stream, status))
        return status;
    }
  }
  return launch_dequant_warpgroup_cta<Single>(L, plan.ctas, stream);
}

// 64 heads per CTA where the vendor has a warpgroup tile and the device runs it: prefill takes
// warpgroup_attention_kernel.h (Source: warpgroup_key_sources.h), decode
// warpgroup_dequant_kernel.h.
template <class Shapes>
bool warpgroup_runs(const DecodePlan& plan) {
  if constexpr (Shapes::kWarpgroup) {
    return plan.rows_per_cta == 64 && Shapes::warpgroup_runs();
  } else {
    return false;
  }
}

template <class Shapes, class Fmt>
mla_status launch_decode_format(const DecodeLaunch& L, const DecodePlan& plan, mla_stream stream) {
  if constexpr (Shapes::kMaxRows >= 64) {
    if (plan.rows_per_cta == 64)
      return launch_decode_cta<typename Shapes::template Wide<Fmt>>(L, plan.ctas, stream);
  }
  return launch_decode_cta<typename Shapes::template Narrow<Fmt>>(L, plan.ctas, stream);
}

inline mla_status launch_combine(const DecodeLaunch& L, const DecodePlan& plan, mla_stream stream) {
  const int64_t pairs = L.p.rows() * L.p.h_q;
  const unsigned grid = unsigned(pairs < 1048576 ? pairs : 1048576);
  decode_combine_kernel<kCombineThreads>
      <<<grid, kCombineThreads, 0, gpu::as_stream(stream)>>>(L, plan.rows_per_cta);
  return gpu::check_launch("decode_combine_kernel");
}

// `target` is the one the workspace query planned with (the vendor's native_decode_target()).
template <class Shapes>
mla_status launch_sparse_decode(const SparseDecodeProblem& p, const DecodeTarget& target,
                                void* workspace, mla_stream stream) {
  const DecodePlan plan = plan_sparse_decode(p.rows(), p.h_q, p.keys(), target);
  if (!plan.fits) return fail(MLA_STATUS_INTERNAL, "sparse_decode: no native plan fits");
  DecodeLaunch L{p, plan.head_tiles, plan.splits, plan.keys_per_split, nullptr, nullptr};
  if (plan.splits > 1) {
    L.o_part = static_cast<float*>(workspace);
    L.lse_part = reinterpret_cast<float*>(static_cast<uint8_t*>(workspace) + plan.lse_offset());
  }
  if constexpr (Shapes::kWarpgroup) {
    // 16-head CTAs on Hopper: fragment_decode_kernel.h (bulk-copied rows, codes dequantized
    // into the MMA's fragments).
    if (plan.rows_per_cta == 16 && Shapes::warpgroup_runs()) {
      if (p.kv.format == KvFormat::V32) {
        MLA_TRY((launch_fragment_cta<typename Shapes::template FragmentNarrow<V32Keys>>(
            L, plan.ctas, stream)));
      } else {
        MLA_TRY((launch_fragment_cta<typename Shapes::template FragmentNarrow<V40Keys>>(
            L, plan.ctas, stream)));
      }
      return plan.splits == 1 ? MLA_STATUS_SUCCESS : launch_combine(L, plan, stream);
    }
    if (warpgroup_runs<Shapes>(plan)) {  // V4.0 keys as bf16(code x scale), SPEC 2.2
      if (p.kv.format == KvFormat::V32) {
        MLA_TRY((launch_dequant_warpgroup<Shapes, V32Keys>(L, plan, stream)));
      } else {
        MLA_TRY((launch_dequant_warpgroup<Shapes, V40ValueKeys>(L, plan, stream)));
      }
      return plan.splits == 1 ? MLA_STATUS_SUCCESS : launch_combine(L, plan, stream);
    }
  }
  if (p.kv.format == KvFormat::V32) {
    MLA_TRY((launch_decode_format<Shapes, V32Keys>(L, plan, stream)));
  } else {
    MLA_TRY((launch_decode_format<Shapes, V40Keys>(L, plan, stream)));
  }
  return plan.splits == 1 ? MLA_STATUS_SUCCESS : launch_combine(L, plan, stream);
}

}  // namespace mla::attn
