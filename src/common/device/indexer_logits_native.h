// Native indexer logits (SPEC 6), ragged and paged, as one tiled kernel. A block takes a group
// of query rows (paged: rows of one request; ragged: consecutive rows) and a chunk of key tiles
// of 64 keys (paged: one page). The group's queries are decoded once into shared memory as
// rebiased halves (fp8_half.h), heads padded to a power of two >= 16 ("slots", at most 128 per
// block), and each key tile is read from global memory once per block (the next tile's loads in
// flight while the current one is multiplied), decoded to rebiased halves and multiplied against
// every slot. The tile product and its per-head reduction are a policy:
//
//   struct Product {
//     static constexpr int kPartialRows;   // slots summed into one partial: 8
//     template <int D> static void compute(LogitsSmem<D>&, int m_tiles);
//   };
//
// compute() fills partial[slot / kPartialRows][key] = sum over those slots of
// relu(<q_slot, k_key> * unbias * scale[key]) * w[slot] (unbias: the exact power of two that
// undoes the rebiasing of both operands); the driver adds the partials of a row in order
// and writes the row's 64 logits, -inf where the key is outside the row's range. Tiles outside
// every row's range are written -inf without being read; so are absent pages. Products are
// exact (fp8 values are halves) and accumulate in fp32; the order is fixed, so results are
// deterministic and a row never depends on the others.
#pragma once

#if defined(MLA_GPU_HIP)
#include <hip/hip_fp16.h>
#else
#include <cuda_fp16.h>
#endif

#include "../fp8_half.h"
#include "../indexer_problem.h"
#include "launch.h"

namespace mla::gpu {

namespace logits_native {
constexpr int kThreads = 256;
constexpr int kTileKeys = 64;
constexpr int kMaxSlots = 128;  // query slots (row x padded head) per block
constexpr int kMaxGroup = 8;    // rows per block: kMaxSlots / 16
constexpr int kPad = 8;         // halves of padding per shared row, to spread banks
constexpr int kMaxTilesPerChunk = 16;

// Heads padded to 16, 32, 64 or 128: 8-slot partials and 16-slot matrix tiles never straddle
// two rows, and a block holds a power-of-two number of 16-slot tiles.
MLA_HD constexpr int64_t padded_heads(int64_t h) {
  return h <= 16 ? 16 : h <= 32 ? 32 : h <= 64 ? 64 : 128;
}
}  // namespace logits_native

template <int D>
struct LogitsSmem {
  static constexpr int kStride = D + logits_native::kPad;  // halves per row
  uint16_t q[logits_native::kMaxSlots * kStride];
  uint16_t k[logits_native::kTileKeys * kStride];
  float partial[(logits_native::kMaxSlots / 8) * logits_native::kTileKeys];
  float w[logits_native::kMaxSlots];
  float scale[logits_native::kTileKeys];
  int64_t out_row[logits_native::kMaxGroup], lo[logits_native::kMaxGroup],
      hi[logits_native::kMaxGroup];
  float unbias;
};

// Two halves (low = first) as floats.
MLA_DEVICE MLA_FORCEINLINE float2 halves_to_float2(uint32_t bits) {
  __half2 h;
  __builtin_memcpy(&h, &bits, sizeof(h));
  return __half22float2(h);
}

// A row of a block's group: where its output and weights go, its key range, its query heads.
struct LogitsRow {
  int64_t out_row, lo, hi;
  const uint8_t* q;
  int64_t q_sh;
};

// A key tile: `count` keys from `keys` (rows `key_stride` bytes apart) with fp32 scales.
struct KeyTile {
  const uint8_t* keys;
  int64_t key_stride;
  const float* scales;
  int64_t scale_stride;
  int count;  // 0: no keys behind this tile (an absent page)
};

struct PagedLogitsSource {
  IndexerPagedLogitsProblem p;
  int64_t group_rows, groups_per_request;

  MLA_DEVICE int64_t cols() const { return p.max_ctx; }
  MLA_DEVICE const float* weights(int64_t out_row) const { return p.w + out_row * p.w_s; }
  MLA_DEVICE float* logits(int64_t out_row) const { return p.logits + out_row * p.logits_s; }
  MLA_DEVICE int rows_in(int64_t group) const {
    const int64_t j0 = (group % groups_per_request) * group_rows;
    return int(p.next_n - j0 < group_rows ? p.next_n - j0 : group_rows);
  }
  MLA_DEVICE LogitsRow row(int64_t group, int g) const {
    const int64_t b = group / groups_per_request;
    const int64_t j = (group % groups_per_request) * group_rows + g;
    return {b * p.next_n + j, 0, p.valid_end(b, j), p.q + b * p.q_sb + j * p.q_sn, p.q_sh};
  }
  // Called only for tiles inside some row's range, hence inside the block table.
  MLA_DEVICE KeyTile tile(int64_t group, int64_t t) const {
    const uint8_t* page = p.page(group / groups_per_request, t * kIndexerPageTokens);
    if (page == nullptr) return {nullptr, 0, nullptr, 0, 0};
    return {page, p.d, reinterpret_cast<const float*>(page + kIndexerPageTokens * p.d), 1,
            int(kIndexerPageTokens)};
  }
};

struct RaggedLogitsSource {
  IndexerLogitsProblem p;
  int64_t group_rows;

  MLA_DEVICE int64_t cols() const { return p.n; }
  MLA_DEVICE const float* weights(int64_t out_row) const { return p.w + out_row * p.w_s; }
  MLA_DEVICE float* logits(int64_t out_row) const { return p.logits + out_row * p.logits_s; }
  MLA_DEVICE int rows_in(int64_t group) const {
    const int64_t i0 = group * group_rows;
    return int(p.m - i0 < group_rows ? p.m - i0 : group_rows);
  }
  MLA_DEVICE LogitsRow row(int64_t group, int g) const {
    const int64_t i = group * group_rows + g;
    return {i, p.key_lo(i), p.key_hi(i), p.q + i * p.q_sm, p.q_sh};
  }
  MLA_DEVICE KeyTile tile(int64_t, int64_t t) const {
    const int64_t j0 = t * logits_native::kTileKeys;
    const int64_t left = p.n - j0;
    return {p.k + j0 * p.k_s, p.k_s, p.k_scale + j0 * p.k_scale_s, p.k_scale_s,
            int(left < logits_native::kTileKeys ? left : logits_native::kTileKeys)};
  }
};

// 16 fp8 bytes, with a 16-byte load where the address allows it.
MLA_DEVICE MLA_FORCEINLINE uint4 load16(const uint8_t* src) {
  if ((reinterpret_cast<uintptr_t>(src) & 15u) == 0) return *reinterpret_cast<const uint4*>(src);
  uint4 v;
  uint8_t* b = reinterpret_cast<uint8_t*>(&v);
  for (int i = 0; i < 16; ++i) b[i] = src[i];
  return v;
}

// 16 codes as 16 rebiased halves at dst (32 bytes, 16-byte aligned).
MLA_DEVICE MLA_FORCEINLINE void store_rebiased16(uint4 raw, Fp8 f, uint16_t* dst) {
  uint32_t h[8];
  fp8x4_to_rebiased_halves(raw.x, f, &h[0], &h[1]);
  fp8x4_to_rebiased_halves(raw.y, f, &h[2], &h[3]);
  fp8x4_to_rebiased_halves(raw.z, f, &h[4], &h[5]);
  fp8x4_to_rebiased_halves(raw.w, f, &h[6], &h[7]);
  uint4* d = reinterpret_cast<uint4*>(dst);
  d[0] = make_uint4(h[0], h[1], h[2], h[3]);
  d[1] = make_uint4(h[4], h[5], h[6], h[7]);
}

// A key tile held in registers: each thread's 16-byte chunks and one scale, loaded while the
// previous tile is multiplied and stored to shared memory afterwards.
template <int D>
struct TileRegs {
  static constexpr int kChunksPerKey = D / 16;
  static constexpr int kChunks = logits_native::kTileKeys * kChunksPerKey / logits_native::kThreads;
  uint4 raw[kChunks];
  float scale;

  MLA_DEVICE void load(const KeyTile& t) {
    const int tid = int(threadIdx.x);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int chunk = tid + c * logits_native::kThreads;
      const int key = chunk / kChunksPerKey, off = (chunk % kChunksPerKey) * 16;
      raw[c] = key < t.count ? load16(t.keys + key * t.key_stride + off) : make_uint4(0, 0, 0, 0);
    }
    scale = tid < t.count ? t.scales[tid * t.scale_stride] : 0.0f;
  }
  MLA_DEVICE void store(LogitsSmem<D>& s, Fp8 f) const {
    const int tid = int(threadIdx.x);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
      const int chunk = tid + c * logits_native::kThreads;
      const int key = chunk / kChunksPerKey, off = (chunk % kChunksPerKey) * 16;
      store_rebiased16(raw[c], f, s.k + key * LogitsSmem<D>::kStride + off);
    }
    if (tid < logits_native::kTileKeys) s.scale[tid] = scale;
  }
};

// Zeroes shared rows [from, to) of a half matrix.
template <int D>
MLA_DEVICE void zero_rows(uint16_t* dst, int from, int to) {
  constexpr int kStride = LogitsSmem<D>::kStride, kChunks = D / 8;
  for (int c = threadIdx.x; c < (to - from) * kChunks; c += logits_native::kThreads)
    reinterpret_cast<uint4*>(dst + (from + c / kChunks) * kStride)[c % kChunks] =
        make_uint4(0, 0, 0, 0);
}

// The portable tile product: each thread scores 8 slots x 4 keys in fp32 from shared halves.
struct SimtProduct {
  static constexpr int kPartialRows = 8;
  template <int D>
  MLA_DEVICE static void compute(LogitsSmem<D>& s, int m_tiles) {
    constexpr int kStride = LogitsSmem<D>::kStride;
    const int tr = threadIdx.x / 16, tk = threadIdx.x % 16;
    if (tr * 8 >= m_tiles * 16) return;
    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) acc[i][kk] = 0.0f;
    const uint16_t* q = s.q + tr * 8 * kStride;
    const uint16_t* k = s.k + tk * 4 * kStride;
    for (int d = 0; d < D; d += 2) {
      float2 kv[4];
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        kv[kk] = halves_to_float2(*reinterpret_cast<const uint32_t*>(k + kk * kStride + d));
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float2 qv = halves_to_float2(*reinterpret_cast<const uint32_t*>(q + i * kStride + d));
#pragma unroll
        for (int kk = 0; kk < 4; ++kk)
          acc[i][kk] = fmaf(qv.y, kv[kk].y, fmaf(qv.x, kv[kk].x, acc[i][kk]));
      }
    }
#pragma unroll
    for (int kk = 0; kk < 4; ++kk) {
      const int key = tk * 4 + kk;
      const float sc = s.scale[key];
      float v = 0.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float x = acc[i][kk] * s.unbias * sc;
        v += (x > 0.0f ? x : 0.0f) * s.w[tr * 8 + i];
      }
      s.partial[tr * logits_native::kTileKeys + key] = v;
    }
  }
};

template <class Product, class Source, int D>
__global__ void __launch_bounds__(logits_native::kThreads)
    indexer_logits_native_kernel(Source src, Fp8 fp8, int64_t heads, int64_t tiles_per_chunk) {
  using namespace logits_native;
  constexpr int kStride = LogitsSmem<D>::kStride;
  extern __shared__ __align__(16) uint8_t smem_bytes[];
  LogitsSmem<D>& s = *reinterpret_cast<LogitsSmem<D>*>(smem_bytes);
  const float neg_inf = -float_of(0x7f800000u);
  const int64_t group = blockIdx.x;
  const int64_t hp = padded_heads(heads);
  const int rows = src.rows_in(group);
  const int64_t cols = src.cols();
  const int64_t t0 = int64_t(blockIdx.y) * tiles_per_chunk;
  const int64_t t_end = ceil_div(cols, kTileKeys);
  const int64_t t1 = t0 + tiles_per_chunk < t_end ? t0 + tiles_per_chunk : t_end;

  const int tid = int(threadIdx.x);
  if (tid < rows) {
    const LogitsRow row = src.row(group, tid);
    s.out_row[tid] = row.out_row;
    s.lo[tid] = row.lo;
    s.hi[tid] = row.hi > row.lo ? row.hi : row.lo;
  }
  __syncthreads();
  int64_t lo = cols, hi = 0;  // the keys some row of the group may score
  for (int g = 0; g < rows; ++g)
    if (s.hi[g] > s.lo[g]) lo = s.lo[g] < lo ? s.lo[g] : lo, hi = s.hi[g] > hi ? s.hi[g] : hi;

  auto write_neg_inf = [&](int64_t c0, int64_t c1) {
    const int64_t n = c1 - c0;
    for (int64_t e = tid; e < rows * n; e += kThreads)
      src.logits(s.out_row[e / n])[c0 + e % n] = neg_inf;
  };
  if (t0 * kTileKeys >= hi || t1 * kTileKeys <= lo) {  // nothing to score in this chunk
    write_neg_inf(t0 * kTileKeys, t1 * kTileKeys < cols ? t1 * kTileKeys : cols);
    return;
  }

  // The group's queries and weights, once.
  const int slots = int(rows * hp);
  const int m_tiles = slots <= 16 ? 1 : slots <= 32 ? 2 : slots <= 64 ? 4 : 8;
  zero_rows<D>(s.q, 0, m_tiles * 16);
  __syncthreads();
  for (int64_t c = tid; c < rows * heads * (D / 16); c += kThreads) {
    const int g = int(c / (heads * (D / 16)));
    const int64_t h = c / (D / 16) % heads, off = (c % (D / 16)) * 16;
    const LogitsRow row = src.row(group, g);
    store_rebiased16(load16(row.q + h * row.q_sh + off), fp8, s.q + (g * hp + h) * kStride + off);
  }
  for (int slot = tid; slot < kMaxSlots; slot += kThreads) {
    const int64_t g = slot / hp, h = slot % hp;
    s.w[slot] = (g < rows && h < heads) ? src.weights(s.out_row[g])[h] : 0.0f;
  }
  if (tid == 0) s.unbias = rebias_product_factor(fp8);

  // The first tile at or after t with keys to score; the tiles skipped are written -inf.
  auto next_tile = [&](int64_t t, KeyTile* tile) {
    for (; t < t1; ++t) {
      const int64_t c0 = t * kTileKeys, c1 = c0 + kTileKeys < cols ? c0 + kTileKeys : cols;
      if (c0 < hi && c1 > lo) {
        *tile = src.tile(group, t);
        if (tile->count > 0) return t;
      }
      write_neg_inf(c0, c1);
    }
    return t1;
  };
  KeyTile tile;
  TileRegs<D> regs;
  int64_t t = next_tile(t0, &tile);
  if (t < t1) regs.load(tile);
  const int parts = int(hp / Product::kPartialRows);
  while (t < t1) {
    __syncthreads();  // the previous tile's keys and partials are no longer read
    regs.store(s, fp8);
    __syncthreads();
    const int64_t next = next_tile(t + 1, &tile);
    if (next < t1) regs.load(tile);  // in flight while this tile is multiplied
    Product::template compute<D>(s, m_tiles);
    __syncthreads();
    const int64_t c0 = t * kTileKeys, c1 = c0 + kTileKeys < cols ? c0 + kTileKeys : cols;
    for (int e = tid; e < rows * kTileKeys; e += kThreads) {
      const int g = e / kTileKeys, key = e % kTileKeys;
      const int64_t col = c0 + key;
      if (col >= c1) continue;
      float v = 0.0f;
      for (int part = 0; part < parts; ++part) v += s.partial[(g * parts + part) * kTileKeys + key];
      src.logits(s.out_row[g])[col] = (col >= s.lo[g] && col < s.hi[g]) ? v : neg_inf;
    }
    t = next;
  }
}

// Launch shape: one block per (group of rows, chunk of tiles); chunks shrink until there are
// enough blocks to fill a GPU, and grow where the grid's y limit requires.
template <class Product, class Source, int D>
mla_status launch_indexer_logits(const Source& src, int64_t groups, int64_t cols, Fp8 fp8,
                                 int64_t heads, mla_stream stream) {
  using namespace logits_native;
  const int64_t tiles = ceil_div(cols, kTileKeys);
  int64_t per_chunk = kMaxTilesPerChunk;
  while (per_chunk > 1 && groups * ceil_div(tiles, per_chunk) < 4096) per_chunk /= 2;
  if (ceil_div(tiles, per_chunk) > 65535) per_chunk = ceil_div(tiles, 65535);
  const dim3 grid(unsigned(groups), unsigned(ceil_div(tiles, per_chunk)));
  const size_t smem = sizeof(LogitsSmem<D>);
  auto kernel = indexer_logits_native_kernel<Product, Source, D>;
#if defined(MLA_GPU_CUDA)
  // More than the 48 KiB a CUDA kernel gets without asking.
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)) !=
      cudaSuccess)
    return check_launch("indexer_logits_native_kernel (shared memory opt-in)");
#endif
  kernel<<<grid, kThreads, smem, as_stream(stream)>>>(src, fp8, heads, per_chunk);
  return check_launch("indexer_logits_native_kernel");
}

// The two problems on the shared driver, with a given tile product.
template <class Product>
mla_status launch_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream) {
  const int64_t rows = logits_native::kMaxSlots / logits_native::padded_heads(p.h);
  const RaggedLogitsSource src{p, rows};
  const int64_t groups = ceil_div(p.m, rows);
  return p.d == 64 ? launch_indexer_logits<Product, RaggedLogitsSource, 64>(src, groups, p.n, p.fp8,
                                                                            p.h, stream)
                   : launch_indexer_logits<Product, RaggedLogitsSource, 128>(src, groups, p.n,
                                                                             p.fp8, p.h, stream);
}

template <class Product>
mla_status launch_indexer_logits(const IndexerPagedLogitsProblem& p, mla_stream stream) {
  const int64_t fit = logits_native::kMaxSlots / logits_native::padded_heads(p.h);
  const int64_t rows = p.next_n < fit ? p.next_n : fit;
  const PagedLogitsSource src{p, rows, ceil_div(p.next_n, rows)};
  const int64_t groups = p.b * src.groups_per_request;
  return p.d == 64 ? launch_indexer_logits<Product, PagedLogitsSource, 64>(src, groups, p.max_ctx,
                                                                           p.fp8, p.h, stream)
                   : launch_indexer_logits<Product, PagedLogitsSource, 128>(src, groups, p.max_ctx,
                                                                            p.fp8, p.h, stream);
}

}  // namespace mla::gpu
