// Host store (SPEC 2.4) and gather-dequant (SPEC 2.5).
#include <cmath>

#include "../kv_format_v32.h"
#include "../kv_format_v40.h"
#include "host_ops.h"
#include "parallel.h"

namespace mla::host {
namespace {

float tile_amax(const bf16_bits* x, int n) {
  float amax = 0.0f;
  for (int i = 0; i < n; ++i) amax = fmaxf(amax, fabsf(bf16_to_float(x[i])));
  return amax;
}

void store_v32(const KvCacheView& kv, int64_t slot, const bf16_bits* k) {
  uint8_t* token = kv.data + v32::token_offset(kv, slot);
  for (int t = 0; t < v32::kTiles; ++t) {
    const bf16_bits* x = k + t * v32::kTileDim;
    const float scale = v32::tile_scale(tile_amax(x, v32::kTileDim), kv.fp8);
    for (int i = 0; i < v32::kTileDim; ++i)
      token[t * v32::kTileDim + i] = v32::quantize(bf16_to_float(x[i]), scale, kv.fp8);
    store_as<float>(token + v32::kScaleOffset + 4 * t, scale);
  }
  for (int i = 0; i < v32::kRopeDim; ++i)
    store_as<bf16_bits>(token + v32::kRopeOffset + 2 * i, k[v32::kNopeDim + i]);
}

void store_v40(const KvCacheView& kv, int64_t slot, const bf16_bits* k) {
  uint8_t* row = kv.data + v40::row_offset(kv, slot);
  uint8_t* scales = kv.data + v40::scale_offset(kv, slot);
  for (int t = 0; t < v40::kTiles; ++t) {
    const bf16_bits* x = k + t * v40::kTileDim;
    const int e = v40::tile_exponent(tile_amax(x, v40::kTileDim), kv.fp8);
    for (int i = 0; i < v40::kTileDim; ++i)
      row[t * v40::kTileDim + i] = v40::quantize(bf16_to_float(x[i]), e, kv.fp8);
    scales[t] = uint8_t(e + 127);
  }
  scales[v40::kTiles] = 0;  // pad byte
  for (int i = 0; i < v40::kRopeDim; ++i)
    store_as<bf16_bits>(row + v40::kNopeDim + 2 * i, k[v40::kNopeDim + i]);
}

}  // namespace

mla_status kv_store(const KvStoreProblem& p, int threads) {
  parallel_for(p.n, threads, [&](int64_t n, int) {
    const int64_t slot = p.slots[n];
    if (!p.kv.valid_slot(slot)) return;
    const bf16_bits* k = p.k + n * p.k_s;
    if (p.kv.format == KvFormat::V32)
      store_v32(p.kv, slot, k);
    else
      store_v40(p.kv, slot, k);
  });
  return MLA_STATUS_SUCCESS;
}

mla_status kv_gather(const KvGatherProblem& p, int threads) {
  const int d = kv_row_dim(p.kv.format);
  parallel_for(p.t, threads, [&](int64_t t, int) {
    bf16_bits* out = p.out + t * p.out_s;
    const int64_t slot = p.slots[t];
    if (!p.kv.valid_slot(slot)) {
      for (int i = 0; i < d; ++i) out[i] = 0;
      return;
    }
    if (p.kv.format == KvFormat::V32) {
      const uint8_t* token = p.kv.data + v32::token_offset(p.kv, slot);
      for (int i = 0; i < d; ++i) out[i] = v32::dequant_element(token, i, p.kv.fp8);
    } else {
      const uint8_t* row = p.kv.data + v40::row_offset(p.kv, slot);
      const uint8_t* scales = p.kv.data + v40::scale_offset(p.kv, slot);
      for (int i = 0; i < d; ++i) out[i] = v40::dequant_element(row, scales, i, p.kv.fp8);
    }
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
