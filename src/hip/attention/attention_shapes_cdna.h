// The CTA shape of the shared attention kernels on CDNA (gfx90a, gfx942): 16 heads, 2 waves,
// each scoring 16 of a block's 32 keys and accumulating 256 value columns (q of 16 heads, a
// block of 32 keys and P take 59 KiB of the 64 KiB of LDS). Decode and prefill (any key
// format) take it alike. Compiled and its machine code checked in CI; no AMD GPU has run it.
#pragma once

#include "attention/sparse_prefill_launch.h"
#include "mfma_tile_cdna.h"

namespace mla::gpu::cdna {

struct AttentionShapes {
  static constexpr int kMaxRows = 16;
  template <class Fmt>
  using Narrow = attn::DecodeCta<MfmaTileCdna, Fmt, 1, 2, 1, 32, 1>;
  template <class Fmt>
  using PrefillNarrow = Narrow<Fmt>;
  static constexpr bool kWarpgroup = false;  // no warpgroup tile on CDNA (yet)
  template <class Source>
  using Warpgroup = void;
  template <class Fmt, bool kPair = false>
  using DequantWarpgroup = void;
  template <class Source>
  using SplitWarpgroup = void;
  static bool warpgroup_runs() { return false; }
  // HIP bounds gridDim.x * blockDim.x by 2^32 - 1.
  static constexpr int64_t kMaxCtas = 4294967295 / Narrow<attn::V32Keys>::kThreads;
};

}  // namespace mla::gpu::cdna
