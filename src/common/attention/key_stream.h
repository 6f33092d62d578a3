// The key side of a decode CTA: which keys a query row attends (indices, lengths, validity),
// where their bytes are, and the block pipeline that brings them into shared memory as bf16.
//
// A block of kBlockKeys keys is cut into 16-byte chunks (key_formats.h); thread t owns chunks
// t, t + kThreads, ... of every block. issue() starts the global loads of a block into
// registers and returns at once; dequantize() later waits for them, decodes the fp8 codes
// exactly (SPEC 2: bf16(code * scale), one rounding) and stores the bf16 row chunks. A kernel
// issues block j + 1 before it multiplies block j, so each block's loads fly under the previous
// block's arithmetic without shared-memory staging. Skipped keys are never read: their rows are
// zero in shared memory (and masked out of the softmax by the caller).
#pragma once

#include "../attention_problem.h"
#include "../device/kv_cache_native.h"
#include "key_formats.h"

namespace mla::attn {

// The keys of one query row (i, s): main-cache positions [0, topk), then extra-cache positions.
struct RowKeys {
  const int32_t* main = nullptr;
  const int32_t* extra = nullptr;
  int64_t topk = 0, main_len = 0, extra_len = 0;

  MLA_DEVICE RowKeys(const SparseDecodeProblem& p, int64_t i, int64_t s) {
    topk = p.topk;
    main = p.idx + i * p.idx_sb + s * p.idx_ss;
    main_len = clamp_length(p.topk_len, p.topk_len_s, i, p.topk);
    if (p.extra_topk > 0) {
      extra = p.extra_idx + i * p.extra_idx_sb + s * p.extra_idx_ss;
      extra_len = clamp_length(p.extra_topk_len, p.extra_topk_len_s, i, p.extra_topk);
    }
  }
  // The index value of key j; -1 beyond its list's length (the index itself is not read then).
  MLA_DEVICE MLA_FORCEINLINE int32_t index(int64_t j) const {
    if (j < topk) return j < main_len ? load_ro(main + j) : -1;
    const int64_t e = j - topk;
    return e < extra_len ? load_ro(extra + e) : -1;
  }
};

// Where key j's bytes are, given its index value; a skipped key for an invalid slot.
template <class Fmt>
MLA_DEVICE MLA_FORCEINLINE KeySrc locate(const SparseDecodeProblem& p, int64_t j, int32_t index) {
  const KvCacheView kv = j < p.topk ? p.kv : p.extra_kv;
  if (!kv.valid_slot(index)) return KeySrc{nullptr, nullptr, 0};
  return Fmt::locate(kv, index);
}

// The chunks of one block that one thread holds between issue() and dequantize().
template <class Fmt, int kBlockKeys, int kThreads>
struct KeyChunks {
  static constexpr int kChunks = kBlockKeys * Fmt::kChunks;
  static constexpr int kPerThread = (kChunks + kThreads - 1) / kThreads;
  static_assert(kPerThread <= 32, "one bit of `fnuz` per chunk");

  uint4 raw[kPerThread];
  float scale[kPerThread];
  uint32_t fnuz = 0;  // bit i: chunk i comes from an e4m3fnuz cache

  MLA_DEVICE MLA_FORCEINLINE void issue(const KeySrc* src) {
    fnuz = 0;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int c = int(threadIdx.x) + i * kThreads;
      raw[i] = make_uint4(0u, 0u, 0u, 0u);
      scale[i] = 0.0f;
      if (c < kChunks) {
        const int key = c / Fmt::kChunks, part = c % Fmt::kChunks;
        const KeySrc k = src[key];
        if (k.row != nullptr) {
          raw[i] = load_ro(reinterpret_cast<const uint4*>(k.row + Fmt::raw_offset(part)));
          if (part < Fmt::kNopeChunks) scale[i] = Fmt::scale(k, part);
          if (k.fp8 == int32_t(Fp8::E4M3FNUZ)) fnuz |= 1u << i;
        }
      }
    }
  }

  // Decodes into rows of `pitch` bf16 (16-byte aligned) at k_s.
  template <class Hw>
  MLA_DEVICE MLA_FORCEINLINE void dequantize(bf16_bits* k_s, int pitch) const {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      const int c = int(threadIdx.x) + i * kThreads;
      if (c >= kChunks) continue;
      const int key = c / Fmt::kChunks, part = c % Fmt::kChunks;
      uint4* dst = reinterpret_cast<uint4*>(k_s + key * pitch + Fmt::column(part));
      if (part < Fmt::kNopeChunks) {
        uint4 w[2];
        gpu::decode16<Hw>(raw[i], scale[i], (fnuz >> i) & 1u ? Fp8::E4M3FNUZ : Fp8::E4M3FN, w);
        dst[0] = w[0];
        dst[1] = w[1];
      } else {
        dst[0] = raw[i];
      }
    }
  }
};

// The query heads [h0, h0 + nh) of row (i, s) into `rows` shared rows of `pitch` bf16; the
// rows past nh are zero (their results are never written).
template <int kDim, int kThreads>
MLA_DEVICE void load_queries(const SparseDecodeProblem& p, int64_t i, int64_t s, int64_t h0,
                             int nh, int rows, bf16_bits* q_s, int pitch) {
  const bf16_bits* q0 = p.q + i * p.q_sb + s * p.q_ss + h0 * p.q_sh;
  const bool vec = reinterpret_cast<uintptr_t>(q0) % 16 == 0 && p.q_sh % 8 == 0;
  constexpr int kVecs = kDim / 8;
  for (int e = int(threadIdx.x); e < rows * kVecs; e += kThreads) {
    const int r = e / kVecs, v = e % kVecs;
    uint4 w = make_uint4(0u, 0u, 0u, 0u);
    if (r < nh) {
      const bf16_bits* src = q0 + r * p.q_sh + 8 * v;
      if (vec) {
        w = load_ro(reinterpret_cast<const uint4*>(src));
      } else {
        uint32_t u[4];
#pragma unroll
        for (int t = 0; t < 4; ++t) u[t] = uint32_t(src[2 * t]) | (uint32_t(src[2 * t + 1]) << 16);
        w = make_uint4(u[0], u[1], u[2], u[3]);
      }
    }
    *reinterpret_cast<uint4*>(q_s + r * pitch + 8 * v) = w;
  }
}

}  // namespace mla::attn
