// Sparse decode for up to 16 query heads of a row (the TP8 head counts, bound by the key bytes)
// on the m16n8k16 MMA tile, with the fp8 key codes turned straight into MMA fragments: no
// dequantized copy of the keys is ever written. Prefill's bf16 rows (Bf16Keys, one query
// position per row: sparse_prefill_launch.h) take the same kernel, their B operands read from
// the rows as the rope's are below (kBf16Rows: no scales, no code tests; one CTA per SM).
//
// A CTA takes the (up to) 16 heads of one query row and one key range (decode_plan.h, 16 rows
// per CTA), in blocks of 64 keys:
//   - two producer warps bring each block's key rows, as the cache holds them, into a ring of
//     kStages buffers: one bulk copy per valid key (Async::copy_row_async; invalid keys are
//     never read), their valid flags beside them; arrival barriers full[stage] (the rows landed:
//     the copies' bytes and the producers' 64 lanes) and empty[stage] (the consumers' 128
//     threads are done with them) keep up to kStages blocks in flight while the consumers work;
//   - consumer warp w scores keys [16 w, 16 w + 16) against the heads (S = Q K^T, 16 x 16). Its
//     lane (g, c) (g = lane / 4, c = lane % 4) supplies the B operand of key g of each 8-key
//     half from the 16 codes at columns [16 c, 16 c + 16) of a 64-column chunk, as the code
//     values (key_codes.h) of four k-steps: step s takes columns 16 c + 4 s + {0, 1, 2, 3} as
//     its k = 2c, 2c + 1, 2c + 8, 2c + 9. q's A operand is read the same way, so each k-step
//     sums q and k over the same 16 columns, in another order than the natural one;
//   - the block maxima of the rows are exchanged through shared memory (a barrier of the four
//     warps), each warp exponentiates its 16 keys and writes P (fp32), a second barrier;
//   - warp w accumulates output columns [128 w, 128 w + 128) over all 64 keys (O += P V). V's B
//     operand pairs two keys' codes of one column (Hw::code_value_pair, one byte permute a
//     pair): lane (g, c) reads four bytes (columns 4 g .. 4 g + 3 of a 32-column group) of each
//     of the keys 2c, 2c + 1, 2c + 8, 2c + 9 of a k-step, and they make the B registers of the
//     group's four n-tiles, whose column g is then value column 32 G + 4 g + i of n-tile i.
//     Each lane so ends with 8 adjacent output columns per row and group.
// The key values (key_formats.h, sparse_decode_kernel.h):
//   - P V takes code values for both formats: the A operand of a scale tile's columns is
//     bf16(P x factor), factor = scale x 2^kScaleShift (fnuz: / 2), and the accumulated columns
//     are 2^-56 x their value. For V4.0 (powers of two) that is exact. For V3.2 it sums the
//     unrounded products code x scale instead of the SPEC's bf16(code x scale), and P x factor
//     goes in as two bf16 parts (hi + lo, two MMAs over the same B): with P rounded once more
//     (one part) the cosine error of small rows went past SPEC 8's (measured: 5.3e-6 > 5e-6);
//   - the scores of V4.0 likewise: a scale tile's partial score times its keys' factors x 2^-8;
//     NaN codes of a valid key make its scores NaN (the lanes test the codes they read);
//   - the scores of V3.2 from the SPEC's values bf16(code x scale) (the 16 codes of a lane at
//     once, with the conversion instruction): the lse tolerance of SPEC 8 is tighter than the
//     rounding of the keys moves it (measured: code values there failed it at small top-k).
// The order of every sum is fixed by the shapes: deterministic, and batch-invariant.
#pragma once

#include "../device/launch.h"
#include "fragment_decode_layout.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"

namespace mla::attn {

// Stages of 64 bf16 rows in the fragment kernel (the macro is for variant runs). Two (146 KiB,
// one CTA per SM) measured 5-10% faster than one (two CTAs per SM, each refilling its stage
// while the other computes): bench/RESULTS.md.
#ifndef MLA_FRAGMENT_BF16_STAGES
#define MLA_FRAGMENT_BF16_STAGES 2
#endif

// Independent partial sums of the scores (by k-step) in the V3.2 and bf16-row paths, which
// otherwise chain 36 dependent MMAs per key half. Measured (bench/RESULTS.md): four leave bf16
// rows as fast as one; two made V3.2 decode 3% faster (with 28 bytes of spills), not yet taken
// (its tests did not run). The macros are for variant runs: 1, 2 or 4.
#ifndef MLA_FRAGMENT_BF16_CHAINS
#define MLA_FRAGMENT_BF16_CHAINS 1
#endif
#ifndef MLA_FRAGMENT_V32_CHAINS
#define MLA_FRAGMENT_V32_CHAINS 1
#endif

// Tile: the m16n8k16 tile (mma_tile_sm80.cuh); Async: the bulk copy and arrival barriers
// (wgmma_sm90.cuh's tile); Fmt: V32Keys, V40Keys or Bf16Keys (aligned rows).
template <class Tile_, class Async_, class Fmt_>
struct FragmentDecodeCta {
  using Tile = Tile_;
  using Async = Async_;
  using Fmt = Fmt_;
  static constexpr int kRows = 16;
  static constexpr int kWarps = 4;  // consumers; the producers follow
  // Producer warps (kWarps, kWarps + 1): each issues the bulk copies of half of a block's keys,
  // one per lane. One warp issued them too slowly for V4.0 (its copies go out lane after lane):
  // 82.0 -> 68.8 us with two at V4.0 h8 b128 (bench/RESULTS.md). 2 x 6 warps x 168 registers
  // still fit two CTAs on an SM.
  static constexpr int kProducers = 2;
  static constexpr int kThreads = (kWarps + kProducers) * 32;
  static constexpr int kBlockKeys = 64;
  // Bf16Keys (prefill's bf16 rows): B operands straight from the rows, no scales, no codes.
  static constexpr bool kBf16Rows = Fmt::kNopeDim == 0;
  static constexpr int kStages = kBf16Rows ? MLA_FRAGMENT_BF16_STAGES : 2;
  static constexpr int kKeysPerLane = kBlockKeys / (32 * kProducers);
  static constexpr int kDim = Fmt::kDim;
  static constexpr int kNopeDim = Fmt::kNopeDim;
  static constexpr int kNopeChunks = kNopeDim / 64;        // 64-column chunks of fp8 codes
  static constexpr int kTileChunks = Fmt::kTileCols / 64;  // chunks per scale tile
  static constexpr int kTiles = Fmt::kScaleTiles;
  // V3.2: bf16(code x scale) in S; P x factor as hi + lo.
  static constexpr bool kExactScores = !Fmt::kCodeValues && !kBf16Rows;
  static constexpr bool kSplitP = !Fmt::kCodeValues && !kBf16Rows;
  static constexpr int kScoreChains = kBf16Rows      ? MLA_FRAGMENT_BF16_CHAINS
                                      : kExactScores ? MLA_FRAGMENT_V32_CHAINS
                                                     : 1;
  static_assert(4 % kScoreChains == 0, "chains by k-step of a chunk");
  // Two CTAs per SM where two stages fit (fp8 rows); bf16 rows take the SM alone.
  static constexpr int kMinCtas = kBf16Rows && kStages > 1 ? 1 : 2;
  static constexpr uint32_t kRowBytes = uint32_t(Fmt::kRawChunks) * 16u;
  // The rope's 64 bf16 follow the codes (V3.2: after the 16 bytes of scales).
  static constexpr int kRopeByte = kNopeDim + (Fmt::kScaleChunk >= 0 ? 16 : 0);
  // Rows of a stage kPitch bytes apart: an odd number of 16-byte units modulo 8 keeps the
  // lanes' 16-byte reads (S) and the 4-byte reads of four keys (P V) free of bank conflicts.
  static constexpr int kPitch = (kRowBytes / 16) % 2 == 1 ? int(kRowBytes) : int(kRowBytes) + 16;
  static constexpr int kPPitch = kBlockKeys + 8;  // fp32
  static_assert(kNopeDim % 64 == 0 && Fmt::kTileCols % 64 == 0, "whole chunks per scale tile");
  static_assert(kBf16Rows || kDim - kNopeDim == 64, "one rope chunk of 64 bf16");
  static constexpr int kBf16Chunks = (kDim - kNopeDim) / 64;  // the rope, or a bf16 row
  static_assert(Fmt::kTileCols == 64 || Fmt::kTileCols == 128, "whole scale tiles per group pair");
  static_assert(kDv == kWarps * 128, "each consumer warp accumulates 128 value columns");

  static constexpr size_t kQOff = 0;
  static constexpr size_t kRingOff = kQOff + size_t(kRows) * kDim * 2;  // load_query_fragments
  static constexpr size_t kPOff = kRingOff + size_t(kStages) * kBlockKeys * kPitch;
  static constexpr size_t kFsOff = kPOff + size_t(kRows) * kPPitch * 4;
  static constexpr size_t kOnesOff = kFsOff + 2 * size_t(kTiles) * kBlockKeys * 4;
  static constexpr size_t kRedOff = kOnesOff + size_t(kBlockKeys) * 4;
  static constexpr size_t kScaleWordOff = kRedOff + size_t(kWarps) * kRows * 4;
  static constexpr size_t kFlagOff =
      kScaleWordOff + (Fmt::kScaleWord ? size_t(kStages) * kBlockKeys * 8 : 0);
  static constexpr size_t kBarOff = round_up(kFlagOff + size_t(kStages) * kBlockKeys, 8);
  static constexpr size_t kSmemBytes = kBarOff + 2 * size_t(kStages) * 8;
};

// Key flags in shared memory: the key takes part; it comes from an e4m3fnuz cache.
constexpr uint8_t kKeyValid = 1, kKeyFnuz = 2;

// Any byte of w a NaN code: 0x7F / 0xFF for e4m3fn, 0x80 for e4m3fnuz (as a byte equal to
// `nan`: the lanes test (w | ignore) against it, ignore = 0x80 per byte for e4m3fn).
MLA_DEVICE MLA_FORCEINLINE uint32_t nan_code_bytes(uint32_t w, uint32_t ignore, uint32_t nan) {
  const uint32_t z = (w | ignore) ^ nan;  // a zero byte where a code is NaN
  return (z - 0x01010101u) & ~z & 0x80808080u;
}

// The rare flavour's path (e4m3fnuz has no conversion instruction) is a function of its own,
// called, not inlined into every unrolled step (the kernel was several times larger than the
// instruction caches, and 2.5x slower, with it inlined).
struct Bf16x16 {
  uint4 lo, hi;
};
template <class Hw>
__device__ __noinline__ Bf16x16 decode16_called(uint4 codes, float scale, Fp8 f) {
  uint4 v[2];
  gpu::decode16<Hw>(codes, scale, f, v);
  return {v[0], v[1]};
}

// The factor tile of value column `col` (kTiles for the rope's columns: factor 1).
template <class Cta>
MLA_DEVICE MLA_FORCEINLINE int factor_tile(int col) {
  return col < Cta::kNopeDim ? col / Cta::Fmt::kTileCols : Cta::kTiles;
}

// Sixteen codes times a scale as sixteen bf16 (SPEC 2.1; a NaN code gives a NaN).
template <class Hw>
MLA_DEVICE MLA_FORCEINLINE void codes_times16(uint4 codes, float scale, Fp8 f, uint4 (&out)[2]) {
  if (f == Fp8::E4M3FN) {
    gpu::decode16_any_nan<Hw>(codes, scale, f, out);
    return;
  }
  const Bf16x16 v = decode16_called<Hw>(codes, scale, f);
  out[0] = v.lo, out[1] = v.hi;
}

// q as the A operand of the score MMAs, stored in the order the lanes read it
// (fragment_decode_layout.h): the 16-byte word (4 ch + st) * 32 + lane holds lane (g, c)'s four
// registers of k-step st of the 64-column chunk ch: rows g and g + 8 at columns
// 64 ch + 16 c + 4 st + {0, 1} (registers 0, 1) and + {2, 3} (registers 2, 3). One
// conflict-free 16-byte read per step, in the registers the MMA takes them in (read from rows,
// they were four moves per step).
template <class Cta, class Hw>
MLA_DEVICE void load_query_fragments(const DecodeLaunch& L, const CtaWork& w, uint32_t* q_f) {
  using Fmt = typename Cta::Fmt;
  for_each_query_vector<Cta::kDim, Fmt::kNopeDim, Fmt::kCodeValues, Cta::kWarps * 32, Hw>(
      L.p, w.bi, w.si, w.h0, w.nh, Cta::kRows, [&](int r, int v, const uint32_t(&u)[4]) {
#pragma unroll
        for (int t = 0; t < 4; ++t) q_f[fragment::q_word(r, v, t)] = u[t];
      });
}

template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, Cta::kMinCtas)
    fragment_decode_kernel(const DecodeLaunch L) {
  using Tile = typename Cta::Tile;
  using Async = typename Cta::Async;
  using Fmt = typename Cta::Fmt;
  using Acc = typename Tile::Acc;
  using Hw = typename Tile::Hw;
  constexpr int kSlots = Tile::kRowSlots;
  constexpr int kBlockKeys = Cta::kBlockKeys, kStages = Cta::kStages, kPitch = Cta::kPitch;

  extern __shared__ __align__(16) uint8_t smem[];
  uint32_t* const q_f = reinterpret_cast<uint32_t*>(smem + Cta::kQOff);  // load_query_fragments
  uint8_t* const ring = smem + Cta::kRingOff;
  float* const p_s = reinterpret_cast<float*>(smem + Cta::kPOff);
  float* const fs_s = reinterpret_cast<float*>(smem + Cta::kFsOff);  // [block & 1][tile][key]
  float* const ones_s = reinterpret_cast<float*>(smem + Cta::kOnesOff);
  float* const red_s = reinterpret_cast<float*>(smem + Cta::kRedOff);          // [warp][row]
  uint2* const words_s = reinterpret_cast<uint2*>(smem + Cta::kScaleWordOff);  // V4.0 scales
  uint8_t* const flags_s = smem + Cta::kFlagOff;                               // [stage][key]
  const uint32_t full0 = Async::shared_address(smem + Cta::kBarOff);
  const uint32_t empty0 = full0 + 8u * kStages;

  const int tid = int(threadIdx.x);
  const int warp = tid / 32, lane = tid % 32;
  const CtaWork w(L, Cta::kRows);
  const int n_blocks = int((w.k_end - w.k_begin + kBlockKeys - 1) / kBlockKeys);

  if (tid == 0) {
    for (int s = 0; s < kStages; ++s) {
      Async::mbar_init(full0 + 8u * s, 32 * Cta::kProducers);  // producer lanes (and bytes)
      Async::mbar_init(empty0 + 8u * s, Cta::kWarps * 32);     // every consumer thread
    }
    Async::mbar_init_publish();
  }
  __syncthreads();

  if (warp >= Cta::kWarps) {  // ---- the producers: keys 32 (kKeysPerLane p + i) + lane ----
    constexpr int kKeys = Cta::kKeysPerLane;
    const int key0 = 32 * kKeys * (warp - Cta::kWarps) + lane;
    const RowKeys keys(L.p, w.bi, w.si);
    int32_t index[kKeys];
#pragma unroll
    for (int i = 0; i < kKeys; ++i) {
      const int64_t j = w.k_begin + key0 + 32 * i;
      index[i] = j < w.k_end ? keys.index(j) : -1;
    }
    for (int blk = 0; blk < n_blocks; ++blk) {
      const int stage = blk % kStages;
      if (blk >= kStages) Async::mbar_wait(empty0 + 8u * stage, (blk / kStages - 1) & 1);
      uint8_t* const rows = ring + size_t(stage) * kBlockKeys * kPitch;
      const uint32_t full = full0 + 8u * stage;
      bool valid[kKeys];
      uint32_t bytes = 0;
#pragma unroll
      for (int i = 0; i < kKeys; ++i) {
        const int64_t j = w.k_begin + int64_t(blk) * kBlockKeys + key0 + 32 * i;
        valid[i] = j < w.k_end && (j < L.p.topk ? L.p.kv : L.p.extra_kv).valid_slot(index[i]);
        bytes += valid[i] ? Cta::kRowBytes : 0u;
      }
      // The bytes are expected before any copy can land (the warps' expectations add up); the
      // arrival comes after the flags.
      Async::mbar_expect(full, bytes);
      uint2 word[kKeys];
#pragma unroll
      for (int i = 0; i < kKeys; ++i) {
        const int key = key0 + 32 * i;
        const int64_t j = w.k_begin + int64_t(blk) * kBlockKeys + key;
        const KvCacheView kv = j < L.p.topk ? L.p.kv : L.p.extra_kv;
        word[i] = make_uint2(0u, 0u);
        if (valid[i]) {
          Async::copy_row_async(Async::shared_address(rows + size_t(key) * kPitch),
                                kv.data + Fmt::row_offset(kv, index[i]), Cta::kRowBytes, full);
          if constexpr (Fmt::kScaleWord)
            word[i] =
                load_ro(reinterpret_cast<const uint2*>(kv.data + Fmt::scale_offset(kv, index[i])));
        }
        flags_s[stage * kBlockKeys + key] =
            uint8_t((valid[i] ? kKeyValid : 0) | (kv.fp8 == Fp8::E4M3FNUZ ? kKeyFnuz : 0));
        const int64_t jn = j + kBlockKeys;  // the next block's index, in flight meanwhile
        index[i] = jn < w.k_end ? keys.index(jn) : -1;
      }
      if constexpr (Fmt::kScaleWord) {
#pragma unroll
        for (int i = 0; i < kKeys; ++i) words_s[stage * kBlockKeys + key0 + 32 * i] = word[i];
      }
      Async::mbar_arrive(full);  // releases the flags and scale words
    }
    return;
  }

  // ---- the consumers: warp w = warp, lane (g, c) ----
  const int g = lane / 4, c = lane % 4;
  load_query_fragments<Cta, Hw>(L, w, q_f);
  for (int k = tid; k < kBlockKeys; k += Cta::kWarps * 32) ones_s[k] = 1.0f;
  Async::barrier_sync(1, Cta::kWarps * 32);

  Acc o[8];  // columns [128 warp, 128 warp + 128): group G in o[2 G], o[2 G + 1]
#pragma unroll
  for (int t = 0; t < 8; ++t) zero<Tile>(o[t]);
  RowSoftmax<Tile> sm;
  const float score_scale = L.p.scale * kLog2e;
  // The scale segments of this warp's value columns: groups 0-1 and 2-3 (64 columns each).
  const int seg_lo = factor_tile<Cta>(128 * warp);
  const int seg_hi = factor_tile<Cta>(128 * warp + 64);
  const bool rope_hi = 128 * warp + 64 >= Fmt::kNopeDim;  // V4.0: the rope is value columns

  for (int blk = 0; blk < n_blocks; ++blk) {
    const int stage = blk % kStages;
    Async::mbar_wait(full0 + 8u * stage, (blk / kStages) & 1);
    const uint8_t* const rows = ring + size_t(stage) * kBlockKeys * kPitch;
    const uint8_t* const flags = flags_s + stage * kBlockKeys;
    float* const fs = fs_s + (blk & 1) * Cta::kTiles * kBlockKeys;

    // The factors of this warp's keys (0 for a skipped key: its row holds stale bytes).
    if (lane < 16) {
      const int key = 16 * warp + lane;
      const uint8_t f = flags[key];
      const float unit = float_of(uint32_t(127 + kScaleShift - ((f & kKeyFnuz) ? 1 : 0)) << 23);
#pragma unroll
      for (int t = 0; t < Cta::kTiles; ++t) {
        float scale;
        if constexpr (Fmt::kScaleWord) {
          const uint2 sw = words_s[stage * kBlockKeys + key];
          scale = ue8m0_to_float(uint8_t((t < 4 ? sw.x : sw.y) >> (8 * (t % 4))));
        } else {
          scale = *reinterpret_cast<const float*>(rows + size_t(key) * kPitch +
                                                  16 * Fmt::kScaleChunk + 4 * t);
        }
        fs[t * kBlockKeys + key] = (f & kKeyValid) ? scale * unit : 0.0f;
      }
    }
    Tile::sync_lanes();

    // S = Q K^T for keys [16 warp, 16 warp + 16): lane (g, c) reads key 16 warp + 8 h + g for
    // the half h of the 16 columns.
    Acc s;
    zero<Tile>(s);
    Acc chain[Cta::kScoreChains];  // the exact and bf16 paths' partial sums (k-step st's)
#pragma unroll
    for (int k = 0; k < Cta::kScoreChains; ++k) zero<Tile>(chain[k]);
    Acc* const sums = Cta::kScoreChains == 1 ? &s : chain;  // k-step st: sums[st % chains]
    uint32_t nan_bits[2] = {0u, 0u};
    {
      const uint8_t* k0 = rows + size_t(16 * warp + g) * kPitch + 16 * c;
      const uint8_t* k1 = k0 + 8 * size_t(kPitch);
      const uint4* q4 = reinterpret_cast<const uint4*>(q_f);  // fragment::q_read_word
      // The four k-steps of chunk ch from 16 bf16 values of key g (x) and key g + 8 (y) of the
      // half, in the order of q's fragments.
      const auto bf16_steps = [&](int ch, const uint32_t(&x)[8], const uint32_t(&y)[8]) {
#pragma unroll
        for (int st = 0; st < 4; ++st) {
          const uint4 q = q4[fragment::q_read_word(ch, st, lane)];
          typename Tile::A a;
          a.r[0] = q.x, a.r[1] = q.y, a.r[2] = q.z, a.r[3] = q.w;
          typename Tile::B b;
          b.r[0] = x[2 * st], b.r[1] = x[2 * st + 1], b.r[2] = y[2 * st], b.r[3] = y[2 * st + 1];
          Tile::mma(sums[st % Cta::kScoreChains], a, b);
        }
      };
      if constexpr (!Cta::kExactScores) {
        uint32_t ignore[2], nan[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const bool fnuz = (flags[16 * warp + 8 * h + g] & kKeyFnuz) != 0;
          ignore[h] = fnuz ? 0u : 0x80808080u;
          nan[h] = fnuz ? 0x80808080u : 0xFFFFFFFFu;
        }
#pragma unroll
        for (int t = 0; t < Cta::kTiles; ++t) {
          Acc part;
          zero<Tile>(part);
#pragma unroll
          for (int cc = 0; cc < Cta::kTileChunks; ++cc) {
            const int ch = t * Cta::kTileChunks + cc;
            const uint4 c0 = *reinterpret_cast<const uint4*>(k0 + 64 * ch);
            const uint4 c1 = *reinterpret_cast<const uint4*>(k1 + 64 * ch);
            const uint32_t w0[4] = {c0.x, c0.y, c0.z, c0.w};
            const uint32_t w1[4] = {c1.x, c1.y, c1.z, c1.w};
#pragma unroll
            for (int st = 0; st < 4; ++st) {
              nan_bits[0] |= nan_code_bytes(w0[st], ignore[0], nan[0]);
              nan_bits[1] |= nan_code_bytes(w1[st], ignore[1], nan[1]);
              const uint4 q = q4[fragment::q_read_word(ch, st, lane)];
              typename Tile::A a;
              a.r[0] = q.x, a.r[1] = q.y, a.r[2] = q.z, a.r[3] = q.w;
              typename Tile::B b;
              Hw::code_values4(w0[st], &b.r[0], &b.r[1]);
              Hw::code_values4(w1[st], &b.r[2], &b.r[3]);
              Tile::mma(part, a, b);
            }
          }
          // The tile's partial scores times their keys' factors (the columns this lane holds).
#pragma unroll
          for (int e = 0; e < Tile::kAccRegs; ++e)
            s.v[e] += part.v[e] * fs[t * kBlockKeys + 16 * warp + Tile::acc_col(lane, e)];
        }
        // Once per key rather than per tile: a power of two, so the same bits.
#pragma unroll
        for (int e = 0; e < Tile::kAccRegs; ++e) s.v[e] *= kScoreUnshift;
      } else if constexpr (Cta::kExactScores) {  // bf16(code x scale), 16 codes at once
        Fp8 f[2];
        const float* sc[2];
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int key = 16 * warp + 8 * h + g;
          f[h] = (flags[key] & kKeyFnuz) ? Fp8::E4M3FNUZ : Fp8::E4M3FN;
          sc[h] =
              reinterpret_cast<const float*>(rows + size_t(key) * kPitch + 16 * Fmt::kScaleChunk);
        }
#pragma unroll  // whole: 2-3% faster than by twos (V3.2 h8/h16 b128, bench/RESULTS.md)
        for (int ch = 0; ch < Cta::kNopeChunks; ++ch) {
          uint4 v0[2], v1[2];
          codes_times16<Hw>(*reinterpret_cast<const uint4*>(k0 + 64 * ch),
                            sc[0][ch / Cta::kTileChunks], f[0], v0);
          codes_times16<Hw>(*reinterpret_cast<const uint4*>(k1 + 64 * ch),
                            sc[1][ch / Cta::kTileChunks], f[1], v1);
          const uint32_t x0[8] = {v0[0].x, v0[0].y, v0[0].z, v0[0].w,
                                  v0[1].x, v0[1].y, v0[1].z, v0[1].w};
          const uint32_t x1[8] = {v1[0].x, v1[0].y, v1[0].z, v1[0].w,
                                  v1[1].x, v1[1].y, v1[1].z, v1[1].w};
          bf16_steps(ch, x0, x1);
        }
      }
      // The rope (of a bf16 row: every chunk): 16 bf16 per lane and key, as they are.
#pragma unroll
      for (int rc = 0; rc < Cta::kBf16Chunks; ++rc) {
        const uint4* kr0 =
            reinterpret_cast<const uint4*>(k0 - 16 * c + Cta::kRopeByte + 128 * rc + 32 * c);
        const uint4* kr1 =
            reinterpret_cast<const uint4*>(k1 - 16 * c + Cta::kRopeByte + 128 * rc + 32 * c);
        const uint4 x0 = kr0[0], x1 = kr0[1], y0 = kr1[0], y1 = kr1[1];
        const uint32_t kx[8] = {x0.x, x0.y, x0.z, x0.w, x1.x, x1.y, x1.z, x1.w};
        const uint32_t ky[8] = {y0.x, y0.y, y0.z, y0.w, y1.x, y1.y, y1.z, y1.w};
        bf16_steps(Cta::kNopeChunks + rc, kx, ky);
      }
      if constexpr (Cta::kScoreChains > 1) {  // in a fixed order
#pragma unroll
        for (int e = 0; e < Tile::kAccRegs; ++e) {
          float v = chain[0].v[e] + chain[1].v[e];
          if constexpr (Cta::kScoreChains == 4) v += chain[2].v[e] + chain[3].v[e];
          s.v[e] = v;
        }
      }
    }
    // NaN codes by key (lanes 4 g' .. 4 g' + 3 read key g' of a half), then: base-2 units,
    // skipped keys -inf, keys with a NaN code NaN.
    const uint32_t nan_lanes[2] = {Tile::ballot(nan_bits[0] != 0u),
                                   Tile::ballot(nan_bits[1] != 0u)};
#pragma unroll
    for (int e = 0; e < Tile::kAccRegs; ++e) {
      const int col = Tile::acc_col(lane, e);  // key 16 warp + col
      const bool valid = (flags[16 * warp + col] & kKeyValid) != 0;
      const bool has_nan = ((nan_lanes[col / 8] >> (4 * (col % 8))) & 0xFu) != 0u;
      s.v[e] = !valid ? neg_inf() : has_nan ? float_of(0x7FC00000u) : s.v[e] * score_scale;
    }
    Acc sv[1] = {s};
    float mx[kSlots];
    RowSoftmax<Tile>::block_max(sv, mx);
    if (Tile::row_leader(lane))
#pragma unroll
      for (int r = 0; r < kSlots; ++r) red_s[warp * 16 + Tile::slot_row(lane, r)] = mx[r];
    Async::barrier_sync(1, Cta::kWarps * 32);  // every warp's block maxima

    float block[kSlots], alpha[kSlots], sub[kSlots];
#pragma unroll
    for (int r = 0; r < kSlots; ++r) {
      const int hr = Tile::slot_row(lane, r);
      block[r] = red_s[hr];
#pragma unroll
      for (int v = 1; v < Cta::kWarps; ++v) block[r] = fmaxf(block[r], red_s[v * 16 + hr]);
    }
    sm.advance(block, alpha, sub);
    sm.exponentiate(sv, sub);
    Tile::store_f32(sv[0], p_s + 16 * warp, Cta::kPPitch);
    // Once the maxima settle, alpha is exactly 1 for every row of the warp: nothing to scale.
    bool moved = false;
#pragma unroll
    for (int r = 0; r < kSlots; ++r) moved |= alpha[r] != 1.0f;
    if (Tile::ballot(moved) != 0u) scale_rows<Tile>(o, alpha);
    Async::barrier_sync(1, Cta::kWarps * 32);  // P of the whole block

    // O += P V over the block's 64 keys, for this warp's value columns.
#pragma unroll
    for (int st = 0; st < 4; ++st) {
      typename Tile::A a_lo, a_hi, rest;  // rest: kSplitP's low part (one segment per warp)
      const float* f_lo = seg_lo < Cta::kTiles ? fs + seg_lo * kBlockKeys : ones_s;
      const float* f_hi = seg_hi < Cta::kTiles ? fs + seg_hi * kBlockKeys : ones_s;
      if constexpr (Cta::kSplitP) {
        static_assert(Fmt::kTileCols == 128, "one scale tile per warp");
        Tile::load_a_scaled_split(a_lo, rest, p_s + 16 * st, Cta::kPPitch, f_lo + 16 * st);
      } else {
        Tile::load_a_scaled(a_lo, p_s + 16 * st, Cta::kPPitch, f_lo + 16 * st);
      }
      if (seg_hi != seg_lo) {
        Tile::load_a_scaled(a_hi, p_s + 16 * st, Cta::kPPitch, f_hi + 16 * st);
      } else {
        a_hi = a_lo;
      }
      const int key0 = 16 * st + 2 * c;  // this lane's keys: key0 + {0, 1, 8, 9}
      const uint8_t* ra = rows + size_t(key0) * kPitch;
      const uint8_t* rb = ra + kPitch;
      const uint8_t* rc = ra + 8 * size_t(kPitch);
      const uint8_t* rd = rc + kPitch;
#pragma unroll
      for (int G = 0; G < 4; ++G) {
        const typename Tile::A& a = G < 2 ? a_lo : a_hi;
        uint32_t b0[4], b1[4];  // n-tile i: B registers (keys 2c, 2c + 1) and (2c + 8, 2c + 9)
        if (Cta::kBf16Rows || (G >= 2 && rope_hi)) {  // bf16 columns (V4.0's rope), 2 a word
          const int byte = Cta::kBf16Rows ? 2 * (128 * warp + 32 * G + 4 * g)
                                          : Cta::kRopeByte + 2 * (32 * (G - 2) + 4 * g);
          const uint2 zero2 = make_uint2(0u, 0u);
          // Skipped keys' rows hold stale bytes: zeros, so that P = 0 never meets a NaN.
          const uint2 va =
              (flags[key0] & kKeyValid) ? *reinterpret_cast<const uint2*>(ra + byte) : zero2;
          const uint2 vb =
              (flags[key0 + 1] & kKeyValid) ? *reinterpret_cast<const uint2*>(rb + byte) : zero2;
          const uint2 vc =
              (flags[key0 + 8] & kKeyValid) ? *reinterpret_cast<const uint2*>(rc + byte) : zero2;
          const uint2 vd =
              (flags[key0 + 9] & kKeyValid) ? *reinterpret_cast<const uint2*>(rd + byte) : zero2;
          b0[0] = Tile::template halves<0>(va.x, vb.x),
          b0[1] = Tile::template halves<1>(va.x, vb.x);
          b0[2] = Tile::template halves<0>(va.y, vb.y),
          b0[3] = Tile::template halves<1>(va.y, vb.y);
          b1[0] = Tile::template halves<0>(vc.x, vd.x),
          b1[1] = Tile::template halves<1>(vc.x, vd.x);
          b1[2] = Tile::template halves<0>(vc.y, vd.y),
          b1[3] = Tile::template halves<1>(vc.y, vd.y);
        } else {  // fp8 codes; a stale row's codes are finite code values, times P = 0
          const int byte = fragment::value_column(warp, G, 0, g);  // + i: n-tile i
          const uint32_t wa = *reinterpret_cast<const uint32_t*>(ra + byte);
          const uint32_t wb = *reinterpret_cast<const uint32_t*>(rb + byte);
          const uint32_t wc = *reinterpret_cast<const uint32_t*>(rc + byte);
          const uint32_t wd = *reinterpret_cast<const uint32_t*>(rd + byte);
          b0[0] = Hw::template code_value_pair<0>(wa, wb),
          b1[0] = Hw::template code_value_pair<0>(wc, wd);
          b0[1] = Hw::template code_value_pair<1>(wa, wb),
          b1[1] = Hw::template code_value_pair<1>(wc, wd);
          b0[2] = Hw::template code_value_pair<2>(wa, wb),
          b1[2] = Hw::template code_value_pair<2>(wc, wd);
          b0[3] = Hw::template code_value_pair<3>(wa, wb),
          b1[3] = Hw::template code_value_pair<3>(wc, wd);
        }
        typename Tile::B lo, hi;  // n-tiles 0, 1 and 2, 3 of the group
        lo.r[0] = b0[0], lo.r[1] = b1[0], lo.r[2] = b0[1], lo.r[3] = b1[1];
        hi.r[0] = b0[2], hi.r[1] = b1[2], hi.r[2] = b0[3], hi.r[3] = b1[3];
        Tile::mma(o[2 * G], a, lo);
        Tile::mma(o[2 * G + 1], a, hi);
        if constexpr (Cta::kSplitP) {
          Tile::mma(o[2 * G], rest, lo);
          Tile::mma(o[2 * G + 1], rest, hi);
        }
      }
    }
    Async::mbar_arrive(empty0 + 8u * stage);  // this thread is done with the stage
  }

  // The sums of the rows: lane parts across lanes, then warp parts in warp order.
  float part[kSlots];
#pragma unroll
  for (int r = 0; r < kSlots; ++r) part[r] = Tile::row_sum(sm.l[r]);
  Async::barrier_sync(1, Cta::kWarps * 32);  // the last block's maxima are read
  if (Tile::row_leader(lane))
#pragma unroll
    for (int r = 0; r < kSlots; ++r) red_s[warp * 16 + Tile::slot_row(lane, r)] = part[r];
  Async::barrier_sync(1, Cta::kWarps * 32);

  const bool partial = L.splits > 1;
  const int64_t h0 = w.h0;
  const int nh = w.nh;
  float factor[kSlots];
#pragma unroll
  for (int r = 0; r < kSlots; ++r) {
    const int hr = Tile::slot_row(lane, r);
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < Cta::kWarps; ++v) sum += red_s[v * 16 + hr];
    const bool empty = sum == 0.0f;  // a NaN sum (a NaN key) gives NaN lse and out
    const float lse = empty ? 0.0f : (sm.m[r] + log2f(sum)) * kLn2;
    const bool writer = warp == 0 && Tile::row_leader(lane) && hr < nh;
    if (partial) {
      factor[r] = empty ? 0.0f : 1.0f / sum;
      if (writer) L.lse_part[int64_t(blockIdx.x) * Cta::kRows + hr] = empty ? neg_inf() : lse;
    } else {
      factor[r] =
          (empty || hr >= nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, h0 + hr, lse) / sum;
      if (writer) {
        L.p.lse[w.bi * L.p.lse_sb + (h0 + hr) * L.p.lse_sh + w.si * L.p.lse_ss] =
            empty ? -neg_inf() : lse;
        if (L.max_logits != nullptr)
          L.max_logits[w.bi * L.ml_sb + (h0 + hr) * L.ml_sh] = empty ? neg_inf() : sm.m[r] * kLn2;
      }
    }
  }
  scale_rows<Tile>(o, factor);
  const float out_unshift = float_of(uint32_t(127 + kOutShift) << 23);

  // Lane (g, c) holds, per group G and row g + 8 r, value columns 128 warp + 32 G + 8 c + j:
  // j = fragment::out_j(h, e) for o[2 G + h].v[e], e = 4 n + 2 r + {0, 1}.
#pragma unroll
  for (int G = 0; G < 4; ++G) {
    const int col = 128 * warp + 32 * G + 8 * c;
    const float unshift = col < Fmt::kNopeDim ? out_unshift : 1.0f;
#pragma unroll
    for (int r = 0; r < kSlots; ++r) {
      const int hr = Tile::slot_row(lane, r);
      if (hr >= nh) continue;
      float v[8];
#pragma unroll
      for (int h = 0; h < 2; ++h)
#pragma unroll
        for (int n = 0; n < 2; ++n) {
          v[fragment::out_j(h, 4 * n + 2 * r)] = o[2 * G + h].v[4 * n + 2 * r] * unshift;
          v[fragment::out_j(h, 4 * n + 2 * r + 1)] = o[2 * G + h].v[4 * n + 2 * r + 1] * unshift;
        }
      if (partial) {
        float4* dst = reinterpret_cast<float4*>(
            L.o_part + (int64_t(blockIdx.x) * Cta::kRows + hr) * kDv + col);
        dst[0] = make_float4(v[0], v[1], v[2], v[3]);
        dst[1] = make_float4(v[4], v[5], v[6], v[7]);
      } else {
        bf16_bits* dst =
            L.p.out + w.bi * L.p.out_sb + w.si * L.p.out_ss + (h0 + hr) * L.p.out_sh + col;
        const uint4 packed = make_uint4(Hw::pack_bf16x2(v[0], v[1]), Hw::pack_bf16x2(v[2], v[3]),
                                        Hw::pack_bf16x2(v[4], v[5]), Hw::pack_bf16x2(v[6], v[7]));
        if (reinterpret_cast<uintptr_t>(dst) % 16 == 0) {
          *reinterpret_cast<uint4*>(dst) = packed;
        } else {
          const bf16_bits* src = reinterpret_cast<const bf16_bits*>(&packed);
          for (int k = 0; k < 8; ++k) dst[k] = src[k];
        }
      }
    }
  }
}

}  // namespace mla::attn
