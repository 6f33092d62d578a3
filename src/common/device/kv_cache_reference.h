// Device reference of the cache store and gather (SPEC 2.4, 2.5): one thread per tile (store)
// or per element (gather), over the shared layout and codec helpers. Simple on purpose.
#pragma once

#include "../kv_cache_problem.h"
#include "../kv_format_v32.h"
#include "../kv_format_v40.h"
#include "launch.h"

namespace mla::gpu {

constexpr int kRefThreads = 256;

// Item (n, t): t < tiles quantizes tile t of row n; t == tiles copies the rope (and the V40
// pad byte).
__global__ void __launch_bounds__(kRefThreads) kv_store_reference_kernel(KvStoreProblem p) {
  const bool v32 = p.kv.format == KvFormat::V32;
  const int tiles = v32 ? v32::kTiles : v40::kTiles;
  const int tile_dim = v32 ? v32::kTileDim : v40::kTileDim;
  const int nope = tiles * tile_dim;
  for (int64_t it = global_thread(); it < p.n * (tiles + 1); it += global_threads()) {
    const int64_t n = it / (tiles + 1);
    const int t = int(it % (tiles + 1));
    const int64_t slot = p.slots[n];
    if (!p.kv.valid_slot(slot)) continue;
    const bf16_bits* k = p.k + n * p.k_s;
    uint8_t* row = p.kv.data + (v32 ? v32::token_offset(p.kv, slot) : v40::row_offset(p.kv, slot));
    uint8_t* scales = v32 ? row + v32::kScaleOffset : p.kv.data + v40::scale_offset(p.kv, slot);
    if (t == tiles) {
      uint8_t* rope = v32 ? row + v32::kRopeOffset : row + v40::kNopeDim;
      for (int i = 0; i < 64; ++i) store_as<bf16_bits>(rope + 2 * i, k[nope + i]);
      if (!v32) scales[v40::kTiles] = 0;
      continue;
    }
    const bf16_bits* x = k + t * tile_dim;
    float amax = 0.0f;
    for (int i = 0; i < tile_dim; ++i) amax = fmaxf(amax, fabsf(bf16_to_float(x[i])));
    uint8_t* codes = row + t * tile_dim;
    if (v32) {
      const float scale = v32::tile_scale(amax, p.kv.fp8);
      for (int i = 0; i < tile_dim; ++i)
        codes[i] = v32::quantize(bf16_to_float(x[i]), scale, p.kv.fp8);
      store_as<float>(scales + 4 * t, scale);
    } else {
      const int e = v40::tile_exponent(amax, p.kv.fp8);
      for (int i = 0; i < tile_dim; ++i) codes[i] = v40::quantize(bf16_to_float(x[i]), e, p.kv.fp8);
      scales[t] = uint8_t(e + 127);
    }
  }
}

__global__ void __launch_bounds__(kRefThreads) kv_gather_reference_kernel(KvGatherProblem p) {
  const bool v32 = p.kv.format == KvFormat::V32;
  const int d = kv_row_dim(p.kv.format);
  for (int64_t it = global_thread(); it < p.t * d; it += global_threads()) {
    const int64_t t = it / d;
    const int i = int(it % d);
    const int64_t slot = p.slots[t];
    bf16_bits v = 0;
    if (p.kv.valid_slot(slot)) {
      if (v32) {
        v = v32::dequant_element(p.kv.data + v32::token_offset(p.kv, slot), i, p.kv.fp8);
      } else {
        v = v40::dequant_element(p.kv.data + v40::row_offset(p.kv, slot),
                                 p.kv.data + v40::scale_offset(p.kv, slot), i, p.kv.fp8);
      }
    }
    p.out[t * p.out_s + i] = v;
  }
}

mla_status reference_kv_store(const KvStoreProblem& p, mla_stream stream) {
  const int tiles = p.kv.format == KvFormat::V32 ? v32::kTiles : v40::kTiles;
  kv_store_reference_kernel<<<grid_for(p.n * (tiles + 1), kRefThreads), kRefThreads, 0,
                              as_stream(stream)>>>(p);
  return check_launch("kv_store_reference_kernel");
}

mla_status reference_kv_gather(const KvGatherProblem& p, mla_stream stream) {
  kv_gather_reference_kernel<<<grid_for(p.t * kv_row_dim(p.kv.format), kRefThreads), kRefThreads,
                               0, as_stream(stream)>>>(p);
  return check_launch("kv_gather_reference_kernel");
}

}  // namespace mla::gpu
