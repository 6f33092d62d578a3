// Native cache store and gather: one group of 32 lanes per token row, 16-byte accesses, fp8
// conversions from the vendor's Hw struct (hardware where the chip has it). Bit-exact with the
// reference (SPEC 2.4, 2.5). Instantiated by src/cuda/kv_cache_native_cuda.cu and
// src/hip/kv_cache_native_hip.hip with their Hw.
//
// Hw provides:
//   static uint16_t encode_fp8x2(float lo, float hi, Fp8 f);  inputs within +-fp8_store_max
//   static uint32_t pack_bf16x2(float lo, float hi);          round to nearest even
#pragma once

#include "../kv_cache_problem.h"
#include "../kv_format_v32.h"
#include "../kv_format_v40.h"
#include "fp8_swar.h"
#include "launch.h"

namespace mla::gpu {

namespace kv_native {
constexpr int kLanes = 32;  // lanes per token row (half a wave on CDNA)
constexpr int kThreads = 256;
constexpr int kV40NopeLanes = 28;  // 448 / 16
}  // namespace kv_native

// Sixteen bf16 values from two 16-byte words.
MLA_DEVICE MLA_FORCEINLINE void unpack_bf16x16(const uint4 (&w)[2], float (&x)[16]) {
  const uint32_t* u = reinterpret_cast<const uint32_t*>(w);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    x[2 * i] = float_of(u[i] << 16);
    x[2 * i + 1] = float_of(u[i] & 0xFFFF0000u);
  }
}

MLA_DEVICE MLA_FORCEINLINE float amax16(const float (&x)[16]) {
  float a = 0.0f;
#pragma unroll
  for (int i = 0; i < 16; ++i) a = fmaxf(a, fabsf(x[i]));
  return a;
}

// Max over aligned groups of `width` lanes (a power of two <= 32).
MLA_DEVICE MLA_FORCEINLINE float group_max(float v, int width) {
  for (int m = 1; m < width; m <<= 1) v = fmaxf(v, shfl_xor(v, m));
  return v;
}

template <class Hw>
MLA_DEVICE MLA_FORCEINLINE uint4 encode16(const float (&y)[16], Fp8 f) {
  uint4 out;
  uint32_t* o = reinterpret_cast<uint32_t*>(&out);
#pragma unroll
  for (int i = 0; i < 4; ++i)
    o[i] = uint32_t(Hw::encode_fp8x2(y[4 * i], y[4 * i + 1], f)) |
           (uint32_t(Hw::encode_fp8x2(y[4 * i + 2], y[4 * i + 3], f)) << 16);
  return out;
}

// What one lane loads for one row before any of it is used. Lane roles (32 lanes per row):
//   V32 store:  w0,w1 = nope values [16l, 16l+16); lanes 0..7: w2 = rope bytes [16l, 16l+16).
//   V40 store:  lanes 0..27: w0,w1 = nope values; lanes 28..31: w0,w1 = 32 rope bytes.
//   gathers:    w0 = 16 codes (V32 all lanes, V40 lanes 0..27), scale; V32 lanes 0..7:
//               w1 = 16 rope bytes; V40 lanes 28..31: w0,w1 = 32 rope bytes.
struct LaneRow {
  int64_t slot;
  uint4 w0, w1, w2;
  float scale;
};

MLA_DEVICE MLA_FORCEINLINE LaneRow load_store_row(const KvStoreProblem& p, int64_t n, int lane) {
  LaneRow r{};
  r.slot = -1;
  if (n >= p.n) return r;
  r.slot = p.slots[n];
  const uint4* k = reinterpret_cast<const uint4*>(p.k + n * p.k_s);
  if (p.kv.format == KvFormat::V32) {
    r.w0 = k[2 * lane];
    r.w1 = k[2 * lane + 1];
    if (lane < 8) r.w2 = k[2 * v32::kNopeDim / 16 + lane];
  } else if (lane < kv_native::kV40NopeLanes) {
    r.w0 = k[2 * lane];
    r.w1 = k[2 * lane + 1];
  } else {
    const int q = lane - kv_native::kV40NopeLanes;
    r.w0 = k[2 * v40::kNopeDim / 16 + 2 * q];
    r.w1 = k[2 * v40::kNopeDim / 16 + 2 * q + 1];
  }
  return r;
}

template <class Hw>
MLA_DEVICE void store_row(const KvStoreProblem& p, const LaneRow& r, int lane) {
  const Fp8 f = p.kv.fp8;
  const float m = fp8_store_max(f);
  const bool v32 = p.kv.format == KvFormat::V32;
  const bool nope = v32 || lane < kv_native::kV40NopeLanes;
  float x[16];
  const uint4 w[2] = {r.w0, r.w1};
  if (nope) {
    unpack_bf16x16(w, x);
  } else {
#pragma unroll
    for (int i = 0; i < 16; ++i) x[i] = 0.0f;
  }
  // Tile maxima: 8 lanes per V32 tile of 128, 4 per V40 tile of 64; every lane takes part.
  const float amax = group_max(amax16(x), v32 ? v32::kTileDim / 16 : v40::kTileDim / 16);
  float y[16];
  if (v32) {
    uint8_t* token = p.kv.data + v32::token_offset(p.kv, r.slot);
    const float scale = v32::tile_scale(amax, f);
#pragma unroll
    for (int i = 0; i < 16; ++i) y[i] = fminf(fmaxf(x[i] / scale, -m), m);
    reinterpret_cast<uint4*>(token)[lane] = encode16<Hw>(y, f);
    // The scale is 4-byte aligned (16-byte aligned token + 512 + 4 t): one word, not 4 bytes.
    if (lane % 8 == 0) reinterpret_cast<float*>(token + v32::kScaleOffset)[lane / 8] = scale;
    if (lane < 8) reinterpret_cast<uint4*>(token + v32::kRopeOffset)[lane] = r.w2;
    return;
  }
  uint8_t* row = p.kv.data + v40::row_offset(p.kv, r.slot);
  uint8_t* scales = p.kv.data + v40::scale_offset(p.kv, r.slot);
  if (nope) {
    const int e = v40::tile_exponent(amax, f);
    // x / 2^e is exact as a product with 2^-e while 2^-e is a normal float.
    const float inv = e <= 126 ? exp2_int(-e) : 0.0f;
#pragma unroll
    for (int i = 0; i < 16; ++i)
      y[i] = fminf(fmaxf(e <= 126 ? x[i] * inv : x[i] / exp2_int(e), -m), m);
    reinterpret_cast<uint4*>(row)[lane] = encode16<Hw>(y, f);
    if (lane % 4 == 0) scales[lane / 4] = uint8_t(e + 127);
  } else {
    const int q = lane - kv_native::kV40NopeLanes;  // 0..3, 32 bytes each
    uint4* dst = reinterpret_cast<uint4*>(row + v40::kNopeDim) + 2 * q;
    dst[0] = r.w0;
    dst[1] = r.w1;
    if (q == 0) scales[v40::kTiles] = 0;  // pad byte
  }
}

MLA_DEVICE MLA_FORCEINLINE LaneRow load_gather_row(const KvGatherProblem& p, int64_t t, int lane) {
  LaneRow r{};
  r.slot = t < p.t ? p.slots[t] : -1;
  if (!p.kv.valid_slot(r.slot)) {
    r.slot = -1;
    return r;
  }
  if (p.kv.format == KvFormat::V32) {
    const uint8_t* token = p.kv.data + v32::token_offset(p.kv, r.slot);
    r.w0 = reinterpret_cast<const uint4*>(token)[lane];
    r.scale = reinterpret_cast<const float*>(token + v32::kScaleOffset)[lane / 8];
    if (lane < 8) r.w1 = reinterpret_cast<const uint4*>(token + v32::kRopeOffset)[lane];
  } else {
    const uint8_t* row = p.kv.data + v40::row_offset(p.kv, r.slot);
    if (lane < kv_native::kV40NopeLanes) {
      r.w0 = reinterpret_cast<const uint4*>(row)[lane];
      r.scale = ue8m0_to_float(p.kv.data[v40::scale_offset(p.kv, r.slot) + lane / 4]);
    } else {
      const uint4* src = reinterpret_cast<const uint4*>(row + v40::kNopeDim) +
                         2 * (lane - kv_native::kV40NopeLanes);
      r.w0 = src[0];
      r.w1 = src[1];
    }
  }
  return r;
}

template <class Hw>
MLA_DEVICE void gather_row(const KvGatherProblem& p, int64_t t, const LaneRow& r, int lane) {
  uint4* out = reinterpret_cast<uint4*>(p.out + t * p.out_s);
  const uint4 zero = {0, 0, 0, 0};
  const bool valid = r.slot >= 0;
  if (p.kv.format == KvFormat::V32 || lane < kv_native::kV40NopeLanes) {
    uint4 o[2] = {zero, zero};
    if (valid) decode16<Hw>(r.w0, r.scale, p.kv.fp8, o);
    out[2 * lane] = o[0];
    out[2 * lane + 1] = o[1];
    if (p.kv.format == KvFormat::V32 && lane < 8)
      out[2 * v32::kNopeDim / 16 + lane] = valid ? r.w1 : zero;
  } else {
    const int q = lane - kv_native::kV40NopeLanes;
    out[2 * v40::kNopeDim / 16 + 2 * q] = valid ? r.w0 : zero;
    out[2 * v40::kNopeDim / 16 + 2 * q + 1] = valid ? r.w1 : zero;
  }
}

// One row per group of 32 lanes at a time, its loads issued before any use. (Measured on an
// H200: taking 2, 4 or 8 rows per step, consecutive or strided, was 5-30% slower: the extra
// registers cost more occupancy than the overlapped loads gained.)
template <class Hw, int kMinBlocks = 1>
__global__ void __launch_bounds__(kv_native::kThreads, kMinBlocks)
    kv_store_native_kernel(KvStoreProblem p) {
  using namespace kv_native;
  const int lane = threadIdx.x % kLanes;
  const int64_t groups = global_threads() / kLanes;
  for (int64_t n = global_thread() / kLanes; n < p.n; n += groups) {
    const LaneRow r = load_store_row(p, n, lane);
    if (p.kv.valid_slot(r.slot)) store_row<Hw>(p, r, lane);  // uniform per row
  }
}

template <class Hw, int kMinBlocks = 1>
__global__ void __launch_bounds__(kv_native::kThreads, kMinBlocks)
    kv_gather_native_kernel(KvGatherProblem p) {
  using namespace kv_native;
  const int lane = threadIdx.x % kLanes;
  const int64_t groups = global_threads() / kLanes;
  for (int64_t t = global_thread() / kLanes; t < p.t; t += groups)
    gather_row<Hw>(p, t, load_gather_row(p, t, lane), lane);
}

// Blocks per SM the register budget must allow, from an H200 sweep (1M tokens, both formats):
// the store is fastest at 6 (+8-13%; 8 spills), the gather at 8 (+10-15%).
constexpr int kStoreMinBlocks = 6;
constexpr int kGatherMinBlocks = 8;

template <class Hw, int kMinBlocks = kStoreMinBlocks>
mla_status launch_kv_store_native(const KvStoreProblem& p, mla_stream stream) {
  using namespace kv_native;
  kv_store_native_kernel<Hw, kMinBlocks><<<grid_for(p.n * kLanes, kThreads), kThreads, 0,
                               as_stream(stream)>>>(p);
  return check_launch("kv_store_native_kernel");
}

template <class Hw, int kMinBlocks = kGatherMinBlocks>
mla_status launch_kv_gather_native(const KvGatherProblem& p, mla_stream stream) {
  using namespace kv_native;
  kv_gather_native_kernel<Hw, kMinBlocks><<<grid_for(p.t * kLanes, kThreads), kThreads, 0,
                                as_stream(stream)>>>(p);
  return check_launch("kv_gather_native_kernel");
}

}  // namespace mla::gpu
