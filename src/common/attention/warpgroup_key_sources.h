// How the warpgroup kernel (warpgroup_attention_kernel.h) brings a row's key blocks into its two
// key buffers, in the warpgroup tile's operand layout. Two sources:
//   - AsyncBf16Rows<kDim>: bf16 rows (sparse prefill's kv), copied asynchronously into shared
//     memory (Wg::copy16, zero fill for skipped keys: nothing is read for them);
//   - RegisterKeys<Fmt>: a paged FP8 cache, loaded into registers and dequantized on the way to
//     shared memory (key_stream.h's KeyLoader), as bf16(code x scale) (V32Keys, V40ValueKeys).
// Both give, per block of 64 keys, the keys in buffer (block & 1) and valid_s[buffer][key].
//
// The kernel copies q (one copy group) and calls start(), then wait_first() (q and block 0 are
// then in shared memory), then per block j:
//   during_scores(j)  with block j's scores in flight on the matrix cores: block j + 1 goes on
//                     its way into buffer (j + 1) & 1, free since block j - 1 ended (the async
//                     copies of block j + 1 are issued here, block 1's by start(); the register
//                     loads of block j + 1, issued one block earlier, are dequantized and stored
//                     here, and those of block j + 2 issued);
//   end_block()       this thread's part of block j + 1 is in shared memory (a publish and a
//                     barrier follow).
#pragma once

#include "key_stream.h"

namespace mla::attn {

constexpr int kWgBlockKeys = 64;  // keys per block of the warpgroup kernel
constexpr int kWgThreads = 256;   // two warpgroups

template <class Wg>
struct PanelKeys {  // KeyLoader's destination: a 64-row operand of the warpgroup tile
  uint8_t* buf;
  MLA_DEVICE MLA_FORCEINLINE uint4* operator()(int key, int col) const {
    return reinterpret_cast<uint4*>(buf + Wg::operand_offset(kWgBlockKeys, key, col));
  }
};

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

// Rows of one slot per page (sparse prefill's kv view, sparse_prefill_launch.h): the row of
// index i is at i x page_stride bytes; no extra cache.
template <int kDim_>
struct AsyncBf16Rows {
  static constexpr int kDim = kDim_;
  static constexpr bool kCodeValues = false;
  static constexpr int kLanes = kWgThreads / kWgBlockKeys;  // 4 threads per key
  static constexpr int kPieces = kDim / 8 / kLanes;         // 16-byte pieces per thread
  static_assert(kDim % (8 * 2 * kLanes) == 0, "pieces pair up across the 128-byte rows");

  int key, lane;
  int32_t next_index = -1;

  MLA_DEVICE AsyncBf16Rows() : key(int(threadIdx.x) / kLanes), lane(int(threadIdx.x) % kLanes) {}

  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, const KeyRange& r, int blk,
                                        int32_t index, uint8_t* kbufs, uint8_t* valid_s) const {
    const int64_t j = r.k_begin + int64_t(blk) * kWgBlockKeys + key;
    const bool valid = j < r.k_end && p.kv.valid_slot(index);
    // A skipped key reads nothing, but cp.async still wants a 16-byte-aligned global source:
    // q's address rounded down to 16 bytes (inside q's allocation, whose start is aligned; kv
    // may be NULL when it has no rows).
    const uint8_t* src =
        valid ? p.kv.data + int64_t(index) * p.kv.page_stride + 16 * lane
              : reinterpret_cast<const uint8_t*>(reinterpret_cast<uintptr_t>(p.q) & ~uintptr_t(15));
    // Piece lane + 4 i of the key: 64-column panel i / 2, 16-byte chunk lane + 4 (i % 2) of the
    // 128-byte row, swizzled by the key (Wg::operand_offset, computed for the two chunk phases).
    uint8_t* buf = kbufs + size_t(blk & 1) * kWgBlockKeys * kDim * 2;
    const uint32_t even = Wg::operand_offset(kWgBlockKeys, key, 8 * lane);
    const uint32_t odd = Wg::operand_offset(kWgBlockKeys, key, 8 * (lane + kLanes));
    const uint32_t dst = Wg::shared_address(buf);
#pragma unroll
    for (int i = 0; i < kPieces; ++i) {
      const uint32_t at = dst + (i / 2) * (kWgBlockKeys * 128) + (i % 2 ? odd : even);
      Wg::copy16(at, src + (valid ? 16 * kLanes * i : 0), valid);
    }
    if (lane == 0) valid_s[(blk & 1) * kWgBlockKeys + key] = valid ? 1 : 0;
    Wg::copy_commit();
  }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void start(const SparseDecodeProblem& p, const KeyRange& r,
                                        uint8_t* kbufs, uint8_t* valid_s) {
    issue<Wg>(p, r, 0, r.index(0, key), kbufs, valid_s);
    // Past the last block, block 1's copies are all skipped keys: zeros and valid_s 0.
    issue<Wg>(p, r, 1, r.index(1, key), kbufs, valid_s);
    next_index = r.index(2, key);
  }
  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void wait_first() const {
    Wg::template copy_wait<1>();
  }
  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void during_scores(const SparseDecodeProblem& p, const KeyRange& r,
                                                int blk, uint8_t* kbufs, uint8_t* valid_s) {
    // Block 1 was issued by start().
    if (blk >= 1 && blk + 1 < r.n_blocks) {
      issue<Wg>(p, r, blk + 1, next_index, kbufs, valid_s);
      next_index = r.index(blk + 2, key);
    }
  }
  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void end_block() const {
    Wg::template copy_wait<0>();
  }
};

template <class Fmt>
struct RegisterKeys {
  static constexpr int kDim = Fmt::kDim;
  static constexpr bool kCodeValues = Fmt::kCodeValues;
  using Loader = KeyLoader<Fmt, kWgBlockKeys, kWgThreads>;

  Loader loader;
  int32_t next_index = -1;

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void store(int blk, uint8_t* kbufs, uint8_t* valid_s) const {
    uint8_t* buf = kbufs + size_t(blk & 1) * kWgBlockKeys * kDim * 2;
    loader.template store<Hw>(PanelKeys<Wg>{buf}, nullptr, valid_s + (blk & 1) * kWgBlockKeys);
  }
  MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, const KeyRange& r, int blk,
                                        int32_t index) {
    loader.issue(p, r.k_begin + int64_t(blk) * kWgBlockKeys + loader.key, r.k_end, index);
  }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void start(const SparseDecodeProblem& p, const KeyRange& r,
                                        uint8_t* kbufs, uint8_t* valid_s) {
    issue(p, r, 0, r.index(0, loader.key));
    next_index = r.index(1, loader.key);
    store<Wg, Hw>(0, kbufs, valid_s);
    if (r.n_blocks > 1) {
      issue(p, r, 1, next_index);
      next_index = r.index(2, loader.key);
    }
  }
  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void wait_first() const {
    Wg::template copy_wait<0>();  // the kernel's own copies (q)
  }
  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void during_scores(const SparseDecodeProblem& p, const KeyRange& r,
                                                int blk, uint8_t* kbufs, uint8_t* valid_s) {
    if (blk + 1 < r.n_blocks) {
      store<Wg, Hw>(blk + 1, kbufs, valid_s);
      if (blk + 2 < r.n_blocks) {
        issue(p, r, blk + 2, next_index);
        next_index = r.index(blk + 3, loader.key);
      }
    }
  }
  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void end_block() const {}
};

}  // namespace mla::attn
