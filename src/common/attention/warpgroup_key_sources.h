// How the producer warpgroup of the warpgroup kernel (warpgroup_attention_kernel.h) brings a
// row's key blocks into its two key buffers, in the warpgroup tile's operand layout. Two
// sources:
//   - AsyncBf16Rows<kDim>: bf16 rows (sparse prefill's kv), copied asynchronously into shared
//     memory (Wg::copy16, zero fill for skipped keys: nothing is read for them);
//   - RegisterKeys<Fmt>: a paged FP8 cache, loaded into registers and dequantized on the way to
//     shared memory (key_stream.h's KeyLoader), as bf16(code x scale) (V32Keys, V40ValueKeys).
// Both give, per block of 64 keys, the keys in buffer (block & 1) and valid_s[buffer][key].
//
// produce(p, range, kbufs, valid_s, pt, bar) runs on the kWgProducers threads of the producer
// (pt = 0 .. kWgProducers - 1), after they issued the copies of q as one copy group. A buffer
// is written in halves (h = 0: value panels 0-3; h = 1: panels 4-7 and the rope panel), half
// j & 1 of block j first (its owner's). For every block j and each half h it calls
// bar.wait_free(j, h) before writing that half of buffer j & 1 (for j >= 2: block j - 2 is done
// with it), then kArrivals arrivals on its barrier: bar.ready(j, h) once this thread's stores
// into it (and valid_s) are made, which publishes them to the MMAs, or bar.flags_ready(j, h)
// when its only stores are valid_s (read with plain loads); and bar.copies_ready(j, h), which
// arrives when this thread's copies so far have landed. q is published before.
#pragma once

#include "key_stream.h"
#include "sparse_decode_kernel.h"

namespace mla::attn {

constexpr int kWgBlockKeys = 64;   // keys per block of the warpgroup kernel
constexpr int kWgProducers = 128;  // the producer warpgroup

template <class Wg>
struct PanelKeys {  // KeyLoader's destination: a 64-row operand of the warpgroup tile
  uint8_t* buf;
  int first = 0;  // KeyLoader's key k is row first + k
  MLA_DEVICE MLA_FORCEINLINE uint4* operator()(int key, int col) const {
    return reinterpret_cast<uint4*>(buf + Wg::operand_offset(kWgBlockKeys, first + key, col));
  }
};

// Cluster pairs (warpgroup_dequant_kernel.h, warpgroup_pair_keys.h): this CTA's key rows of a
// block (kWgBlockKeys / 2 of them, from byte `rows`: the block's operand + 128 x its first row)
// copied to the same bytes of the other CTA of the cluster by the bulk copy engine. `own` and
// `peer` are the shared addresses of one byte here and there. Per 64-column panel that is one
// 4 KB piece (the swizzle stays within a row), landing as transaction bytes on the other CTA's
// barrier bar_lo (panels 0-3) or bar_hi (panels 4..).
template <class Wg, int kDim>
MLA_DEVICE MLA_FORCEINLINE void send_pair_rows(uint32_t own, uint32_t peer, uint32_t rows,
                                               uint32_t bar_lo, uint32_t bar_hi) {
#pragma unroll
  for (int c = 0; c < kDim / 64; ++c) {
    const uint32_t at = rows + uint32_t(c) * uint32_t(kWgBlockKeys * 128);
    Wg::copy_to_peer(peer + at, own + at, uint32_t(kWgBlockKeys / 2 * 128),
                     c < 4 ? bar_lo : bar_hi);
  }
}

// Where the keys of a row's range [k_begin, k_end) are: block b covers k_begin + 64 b + key.
struct KeyRange {
  RowKeys keys;
  int64_t k_begin, k_end;
  int n_blocks;
  MLA_DEVICE MLA_FORCEINLINE int32_t index(int blk, int key) const {
    const int64_t j = k_begin + int64_t(blk) * kWgBlockKeys + key;
    return j < k_end ? keys.index(j) : -1;
  }
};

// q of the CTA's heads (CtaWork: row (bi, si), heads [h0, h0 + nh)) into the 64-row Q operand
// (q_s, at shared address q_addr), by kThreads threads (this one: `thread`), asynchronously
// where q's rows allow, as one copy group; heads past nh are zero (never written out).
// kStream: the copies carry the L2 policy evict_first.
template <class Wg, int kDim, int kThreads, bool kStream = false>
MLA_DEVICE MLA_FORCEINLINE void copy_queries(const SparseDecodeProblem& p, const CtaWork& w,
                                             uint8_t* q_s, uint32_t q_addr, int thread) {
  const bf16_bits* q0 = p.q + w.bi * p.q_sb + w.si * p.q_ss + w.h0 * p.q_sh;
  const bool vec = reinterpret_cast<uintptr_t>(q0) % 16 == 0 && p.q_sh % 8 == 0;
  const uint64_t stream = kStream ? Wg::l2_stream() : 0;
  constexpr int kChunks = kDim / 8;
  for (int e = thread; e < 64 * kChunks; e += kThreads) {
    const int r = e / kChunks, c = e % kChunks;
    const bf16_bits* src = q0 + (r < w.nh ? r : 0) * p.q_sh + 8 * c;
    const uint32_t at = Wg::operand_offset(64, r, 8 * c);
    if (vec) {
      if constexpr (kStream) {
        Wg::copy16(q_addr + at, src, r < w.nh, stream);
      } else {
        Wg::copy16(q_addr + at, src, r < w.nh);
      }
      continue;
    }
    uint32_t u[4] = {0u, 0u, 0u, 0u};
    if (r < w.nh)
#pragma unroll
      for (int k = 0; k < 4; ++k) u[k] = uint32_t(src[2 * k]) | (uint32_t(src[2 * k + 1]) << 16);
    *reinterpret_cast<uint4*>(q_s + at) = make_uint4(u[0], u[1], u[2], u[3]);
  }
  Wg::copy_commit();
}

// Rows of one slot per page (sparse prefill's kv view, sparse_prefill_launch.h): the row of
// index i is at i x page_stride bytes; no extra cache.
template <int kDim_>
struct AsyncBf16Rows {
  static constexpr int kDim = kDim_;
  static constexpr bool kCodeValues = false;
  static constexpr bool kPair = false;      // one CTA per head tile
  static constexpr int kProducerRegs = 56;  // addresses only: the bytes fly without registers
  static constexpr int kArrivals = 2;       // per block and thread: stores, then copies
  // kLanes threads per key row, one 16-byte piece of each 64-column panel each: a warp's copy
  // instruction moves whole 128-byte panel rows of 4 keys (4 L2 lines, not 16 pieces of 16).
  static constexpr int kLanes = 8;
  static constexpr int kKeysPerPass = kWgProducers / kLanes;   // 16
  static constexpr int kPasses = kWgBlockKeys / kKeysPerPass;  // keys per thread and block
  static_assert(kDim % 64 == 0 && kWgBlockKeys % kKeysPerPass == 0, "whole panels and passes");

  // Half `half` of block blk: panels 0-3 (h = 0) or 4.. (h = 1) of this thread's keys
  // key0 + kKeysPerPass x pass, whose indices are index[pass]; one copy group.
  template <class Wg>
  static MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, const KeyRange& r,
                                               int blk, int half, const int32_t (&index)[kPasses],
                                               int key0, int lane, uint8_t* kbufs, uint8_t* valid_s,
                                               uint64_t keep) {
    const uint32_t dst = Wg::shared_address(kbufs + size_t(blk & 1) * kWgBlockKeys * kDim * 2);
    // A skipped key reads nothing, but cp.async still wants a 16-byte-aligned global source:
    // q's address rounded down to 16 bytes (inside q's allocation, whose start is aligned; kv
    // may be NULL when it has no rows).
    const uint8_t* const nowhere =
        reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(p.q) & ~uintptr_t(15));
    constexpr int kPanels = kDim / 64;
#pragma unroll
    for (int pass = 0; pass < kPasses; ++pass) {
      const int key = key0 + kKeysPerPass * pass;
      const int64_t j = r.k_begin + int64_t(blk) * kWgBlockKeys + key;
      const bool valid = j < r.k_end && p.kv.valid_slot(index[pass]);
      const uint8_t* src =
          valid ? p.kv.data + int64_t(index[pass]) * p.kv.page_stride + 16 * lane : nowhere;
      // Column piece `lane` of panel c: its swizzled place in the key's row of panel c.
      const uint32_t at = dst + Wg::operand_offset(kWgBlockKeys, key, 8 * lane);
#pragma unroll
      for (int c = 0; c < kPanels; ++c) {
        if ((c < 4) != (half == 0)) continue;
        Wg::copy16(at + uint32_t(c * kWgBlockKeys * 128), src + (valid ? 128 * c : 0), valid, keep);
      }
      if (lane == 0 && half == (blk & 1)) valid_s[(blk & 1) * kWgBlockKeys + key] = valid ? 1 : 0;
    }
    Wg::copy_commit();
  }

  // Never waits for its copies: a block's copies land on the buffer's arrival barrier, so that
  // both buffers' copies may be in flight at once. A pair of blocks (j, j + 1) is written in
  // the order in which the consumers release the halves: each block's early half (half
  // j & 1 of block j: its owner's own values, and its valid flags), then the late ones.
  template <class Wg, class Bar>
  MLA_DEVICE MLA_FORCEINLINE void produce(const SparseDecodeProblem& p, const KeyRange& r,
                                          uint8_t* kbufs, uint8_t* valid_s, int pt,
                                          const Bar& bar) const {
    const int key0 = pt / kLanes, lane = pt % kLanes;
    const uint64_t keep = Wg::l2_keep();  // the rows are gathered again by other rows' CTAs
    for (int j0 = 0; j0 < r.n_blocks; j0 += 2) {
      // The pair's indices; they arrive while the producer waits for the first free half.
      int32_t index[2][kPasses];
#pragma unroll
      for (int b = 0; b < 2; ++b)
#pragma unroll
        for (int pass = 0; pass < kPasses; ++pass)
          index[b][pass] = r.index(j0 + b, key0 + kKeysPerPass * pass);
#pragma unroll
      for (int step = 0; step < 4; ++step) {
        const int b = step & 1, j = j0 + b, h = step < 2 ? b : 1 - b;
        if (j >= r.n_blocks) continue;
        if (j >= 2) bar.wait_free(j, h);
        issue<Wg>(p, r, j, h, index[b], key0, lane, kbufs, valid_s, keep);
        bar.copies_ready(j, h);
        bar.flags_ready(j, h);  // valid_s: read with plain loads
      }
    }
    Wg::template copy_wait<0>();  // none left in flight when the thread ends
  }
};

template <class Fmt>
struct RegisterKeys {
  static constexpr int kDim = Fmt::kDim;
  static constexpr bool kCodeValues = Fmt::kCodeValues;
  static constexpr bool kPair = false;
  static constexpr int kProducerRegs = 120;  // a block's raw bytes in flight (KeyLoader::raw)
  static constexpr int kArrivals = 1;        // per block and thread: its stores
  using Loader = KeyLoader<Fmt, kWgBlockKeys, kWgProducers, false, true>;

  // Block j + 1's loads fly while block j waits for its buffer and is stored.
  template <class Wg, class Bar>
  MLA_DEVICE MLA_FORCEINLINE void produce(const SparseDecodeProblem& p, const KeyRange& r,
                                          uint8_t* kbufs, uint8_t* valid_s, int pt,
                                          const Bar& bar) const {
    Loader loader(pt);
    const int n = r.n_blocks;
    if (n > 0) loader.issue(p, r.k_begin + loader.key, r.k_end, r.index(0, loader.key));
    int32_t next = r.index(1, loader.key);
    for (int j = 0; j < n; ++j) {
      if (j >= 2) {
        bar.wait_free(j, j & 1);
        bar.wait_free(j, (j & 1) ^ 1);
      }
      uint8_t* buf = kbufs + size_t(j & 1) * kWgBlockKeys * kDim * 2;
      loader.template store<typename Wg::Hw>(PanelKeys<Wg>{buf}, nullptr,
                                             valid_s + (j & 1) * kWgBlockKeys);
      if (j == 0) Wg::template copy_wait<0>();  // q
      bar.ready(j, 0);
      bar.ready(j, 1);
      if (j + 1 < n) {
        loader.issue(p, r.k_begin + int64_t(j + 1) * kWgBlockKeys + loader.key, r.k_end, next);
        next = r.index(j + 2, loader.key);
      }
    }
    Wg::template copy_wait<0>();
  }
};

}  // namespace mla::attn
