// Sparse attention for 64 query heads of a row over a paged FP8 cache on the warpgroup tile
// (warpgroup_attention_kernel.h describes the tile's interface), for decode: keys are loaded
// and dequantized through the registers of every thread of the CTA, which is what keeps enough
// key bytes in flight (a producer warpgroup alone holds a quarter of them; measured: decode
// 19% slower there, bench/RESULTS.md).
//
// A CTA of two warpgroups takes the 64 heads of one query row and one range of its keys
// (decode_plan.h), in blocks of 64 keys that CtaRegisterKeys brings into two alternating
// buffers: block j + 1's loads fly while block j is worked on, and are dequantized under block
// j's score MMAs. Per block, warpgroup g
//   scores keys [32 g, 32 g + 32) against all heads (S, 64 x 32), masks skipped keys, exchanges
//   the block's row maxima with the other group | online softmax, P (bf16) into shared memory
//   for the other group | accumulates output columns [256 g, 256 g + 256) over its own 32 keys
//   with P from its registers (under the barrier that waits for the other group's P), then over
//   the other 32 keys (O += P V).
// Keys are bf16(code x scale), summed in fp32 over all d_qk in one accumulation. The order of
// every sum is fixed by the shapes: deterministic, and a row's result does not depend on the
// other rows.
//
// Cluster pairs (Cta::kPair, h_q 65..128): the two head tiles of a row and key range read the
// same keys, so they run as a cluster of two CTAs; each loads and dequantizes half of every
// block (keys [32 rank, 32 rank + 32)) and stores it into both CTAs' buffers (distributed shared
// memory), and a cluster barrier takes the place of the CTA barrier at the end of each block.
// Per CTA that halves the loads, the dequantization and the registers holding the next block
// (the limits measured in bench/RESULTS.md); the values and the order of every sum are those of
// one CTA per head tile, so the results are the same bits.
#pragma once

#include "../device/launch.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"
#include "warpgroup_key_sources.h"

namespace mla::attn {

constexpr int kDequantThreads = 256;  // two warpgroups

// Where a pair CTA's stores go: its own buffer and its partner's (distributed shared memory,
// addressed in 32 bits through the cluster's shared window).
template <class Wg>
struct PairPanelKeys {
  uint8_t* buf;   // this CTA's buffer
  uint32_t peer;  // the same buffer of the other CTA of the cluster (Wg::peer_shared_address)
  int first;      // KeyLoader's key k is row first + k of the block's operand
  struct Both {
    uint4* a;
    uint32_t b;
    MLA_DEVICE MLA_FORCEINLINE void operator=(uint4 v) const { *a = v, Wg::store_peer16(b, v); }
  };
  struct At {
    Both both;
    MLA_DEVICE MLA_FORCEINLINE Both operator*() const { return both; }
  };
  MLA_DEVICE MLA_FORCEINLINE At operator()(int key, int col) const {
    const uint32_t off = Wg::operand_offset(kWgBlockKeys, first + key, col);
    return At{Both{reinterpret_cast<uint4*>(buf + off), peer + off}};
  }
};

// The keys of a block, loaded into registers by all threads (KeyLoader) and stored dequantized
// into the block's buffer: start() brings block 0 in and issues block 1; during_scores(j)
// stores block j + 1 and issues block j + 2; the kernel publishes and synchronizes after.
// kPair: the CTA is one of a cluster of two (the two 64-head tiles of a row and key range,
// which read the same keys): it loads keys [32 rank, 32 rank + 32) of each block only and
// stores them into both CTAs' buffers, so that each CTA loads and dequantizes half of them.
template <class Fmt, bool kPair = false>
struct CtaRegisterKeys {  // loaded by all kDequantThreads threads of the CTA
  static constexpr int kDim = Fmt::kDim;
  static constexpr bool kCodeValues = Fmt::kCodeValues;
  static constexpr int kKeys = kPair ? kWgBlockKeys / 2 : kWgBlockKeys;  // this CTA's per block
  using Loader = KeyLoader<Fmt, kKeys, kDequantThreads, false, true>;

  Loader loader;
  int32_t next_index = -1;
  int first = 0;           // this CTA's first key of a block
  uint32_t peer_bufs = 0;  // kPair: the partner's key buffers (Wg::peer_shared_address)
  MLA_DEVICE MLA_FORCEINLINE int key() const { return first + loader.key; }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void store(int blk, uint8_t* kbufs, uint8_t* valid_s) const {
    uint8_t* buf = kbufs + size_t(blk & 1) * kWgBlockKeys * kDim * 2;
    uint8_t* valid = valid_s + (blk & 1) * kWgBlockKeys;
    if constexpr (kPair) {
      const uint32_t peer = peer_bufs + uint32_t(buf - kbufs);
      loader.template store<Hw>(PairPanelKeys<Wg>{buf, peer, first}, nullptr, nullptr);
      if (loader.seg == 0) {
        const uint8_t v = loader.valid ? 1 : 0;
        valid[key()] = v;
        Wg::store_peer1(peer_bufs + uint32_t(valid + key() - kbufs), v);
      }
    } else {
      loader.template store<Hw>(PanelKeys<Wg>{buf}, nullptr, valid);
    }
  }
  MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, const KeyRange& r, int blk,
                                        int32_t index) {
    loader.issue(p, r.k_begin + int64_t(blk) * kWgBlockKeys + key(), r.k_end, index);
  }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void start(const SparseDecodeProblem& p, const KeyRange& r,
                                        uint8_t* kbufs, uint8_t* valid_s) {
    if constexpr (kPair) {
      const int rank = Wg::cluster_rank();
      first = rank * kKeys;
      peer_bufs = Wg::peer_shared_address(Wg::shared_address(kbufs), rank ^ 1);
    }
    issue(p, r, 0, r.index(0, key()));
    next_index = r.index(1, key());
    store<Wg, Hw>(0, kbufs, valid_s);
    if (r.n_blocks > 1) {
      issue(p, r, 1, next_index);
      next_index = r.index(2, key());
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
        next_index = r.index(blk + 3, key());
      }
    }
  }
  template <class Wg>
  MLA_DEVICE MLA_FORCEINLINE void end_block() const {}
};

template <class Wg_, class Fmt, bool kPair_ = false>
struct DequantWarpgroupCta {
  using Wg = Wg_;
  static constexpr bool kPair = kPair_;  // a cluster of the two head tiles (CtaRegisterKeys)
  using Source = CtaRegisterKeys<Fmt, kPair>;
  static constexpr int kDim = Source::kDim;
  static constexpr int kRows = 64, kBlockKeys = kWgBlockKeys, kGroups = 2;
  static constexpr int kThreads = kGroups * Wg::kThreads;
  static_assert(kThreads == kDequantThreads && Wg::kRows == kRows, "two warpgroups of 64 rows");
  static_assert(!Source::kCodeValues, "keys are bf16 values here");
  static_assert(kDv == kGroups * 256, "each group accumulates 256 value columns");

  static constexpr size_t kOperand = size_t(64) * kDim * 2;  // Q or a key block
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + kOperand;                // two key buffers
  static constexpr size_t kPOff = kKOff + 2 * kOperand;            // P: 64 x 64 bf16
  static constexpr size_t kRedOff = kPOff + 64 * 64 * 2;           // float [group][row]
  static constexpr size_t kValidOff = kRedOff + kGroups * 64 * 4;  // uint8 [buffer][key]
  static constexpr size_t kUsed = kValidOff + 2 * kBlockKeys;
  static constexpr size_t kAlign = 1024;  // the operands' swizzle repeats every 1024 bytes
  static constexpr size_t kSmemBytes = kUsed + kAlign;
  static constexpr int kOutPitch = kDv + 8;  // bf16 staging of the outputs, in the key buffers
  static_assert(size_t(64) * kOutPitch * 2 <= 2 * kOperand, "outputs fit the key buffers");
};

// One CTA per head tile; or, with Cta::kPair, clusters of two (the launch sets the cluster
// dimension: sparse_decode_launch.h), blockIdx.x in CtaWork's head-tiles-first order.
template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, 1) warpgroup_dequant_kernel(const DecodeLaunch L) {
  using Wg = typename Cta::Wg;
  using Hw = typename Wg::Hw;
  constexpr int kDim = Cta::kDim, kBlockKeys = Cta::kBlockKeys;
  extern __shared__ __align__(16) uint8_t smem_raw[];
  // The operands need 1024-byte alignment; the dynamic window's start may not have it.
  const uint32_t raw_addr = Wg::shared_address(smem_raw);
  uint8_t* const smem = smem_raw + ((Cta::kAlign - raw_addr % Cta::kAlign) % Cta::kAlign);
  const uint32_t base = Wg::shared_address(smem);
  const uint32_t q_addr = base + Cta::kQOff;
  const uint32_t p_addr = base + Cta::kPOff;
  uint8_t* const p_s = smem + Cta::kPOff;
  float* const red_s = reinterpret_cast<float*>(smem + Cta::kRedOff);
  uint8_t* const valid_s = smem + Cta::kValidOff;

  const int tid = int(threadIdx.x);
  const int g = tid / Wg::kThreads, t = tid % Wg::kThreads;

  const CtaWork w(L, Cta::kRows, Cta::kPair);
  const int64_t bi = w.bi, si = w.si, h0 = w.h0, k_begin = w.k_begin, k_end = w.k_end;
  const int nh = w.nh;
  const KeyRange range{RowKeys(L.p, bi, si), k_begin, k_end,
                       int((k_end - k_begin + kBlockKeys - 1) / kBlockKeys)};
  // q ahead of the key source's loads (one copy group).
  copy_queries<Wg, kDim, Cta::kThreads>(L.p, w, smem + Cta::kQOff, q_addr, tid);
  uint8_t* const kbufs = smem + Cta::kKOff;
  // Both CTAs of a pair have started before either writes into the other's shared memory.
  if constexpr (Cta::kPair) Wg::cluster_sync();
  typename Cta::Source source;
  source.template start<Wg, Hw>(L.p, range, kbufs, valid_s);

  float o[128];
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};  // rows acc_row(t, 0) and + 8
  const float score_scale = L.p.scale * kLog2e;

  // The stores of the keys in (of both CTAs of a pair) published, and the CTA (the pair)
  // synchronized.
  const auto sync_keys = [] {
    if constexpr (Cta::kPair) {
      Wg::cluster_sync();
    } else {
      Wg::publish();
      __syncthreads();
    }
  };
  source.template wait_first<Wg>();  // q and block 0
  sync_keys();

  for (int blk = 0; blk < range.n_blocks; ++blk) {
    const uint32_t kbuf = base + uint32_t(Cta::kKOff + (blk & 1) * Cta::kOperand);
    const uint8_t* valid = valid_s + (blk & 1) * kBlockKeys;

    float s[16];
    Wg::template scores_issue<kDim>(s, q_addr, kbuf + g * 32 * 128, 64);  // 32 keys
    source.template during_scores<Wg, Hw>(L.p, range, blk, kbufs, valid_s);
    Wg::template wait<0>(s);
    float mx[2] = {neg_inf(), neg_inf()};
    // This thread's first key column: its others are constant steps on (acc_col(t, 0) +
    // acc_col(0, e)). Opaque, so that the P offsets below are computed here, not held (and
    // spilled: measured, spill reloads were the largest stalls) across the loop.
    const int kc0 = opaque(g * 32 + Wg::acc_col(t, 0));
#pragma unroll
    for (int e = 0; e < 16; ++e) {
      s[e] = valid[kc0 + Wg::acc_col(0, e)] ? s[e] * score_scale : neg_inf();
      mx[(e / 2) % 2] = fmaxf(mx[(e / 2) % 2], s[e]);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = Wg::quad_max(mx[r]);
      if (t % 4 == 0) red_s[g * 64 + Wg::acc_row(t, 2 * r)] = mx[r];
    }
    __syncthreads();  // both groups' block maxima

    float alpha[2], sub[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int hr = Wg::acc_row(t, 2 * r);
      const float blockmax = fmaxf(red_s[hr], red_s[64 + hr]);
      const float m_new = fmaxf(m[r], blockmax);
      sub[r] = m_new == neg_inf() ? 0.0f : m_new;
      alpha[r] = exp2f(m[r] - sub[r]);
      m[r] = m_new;
      l[r] *= alpha[r];
    }
    uint32_t pk[8];  // P (bf16 pairs) of this group's 32 keys: two 16-key A fragments
#pragma unroll
    for (int e = 0; e < 16; e += 2) {
      const int r = (e / 2) % 2;
      const float p0 = exp2f(s[e] - sub[r]), p1 = exp2f(s[e + 1] - sub[r]);
      l[r] += p0 + p1;
      const int hr = Wg::acc_row(t, e), k = kc0 + Wg::acc_col(0, e);
      pk[e / 2] = Hw::pack_bf16x2(p0, p1);
      *reinterpret_cast<uint32_t*>(p_s + Wg::operand_offset(64, hr, k)) = pk[e / 2];
    }
    // Rescale only where a row's maximum moved (x 1 is exact: skipping it changes no bit).
    if (Wg::warp_any(alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
      for (int e = 0; e < 128; ++e) o[e] *= alpha[(e / 2) % 2];
    }
    Wg::publish();
    // O += P V: this group's own 32 keys from its registers while the other group's P lands,
    // then the other 32 keys from shared memory. Group g's columns start at panel 4 g.
    const uint32_t v_cols = kbuf + uint32_t(g * 4 * 64 * 128);
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const uint32_t a[4] = {pk[4 * j], pk[4 * j + 1], pk[4 * j + 2], pk[4 * j + 3]};
      Wg::values_issue(o, a, v_cols + uint32_t((g * 32 + 16 * j) * 128), 64);
    }
    __syncthreads();  // P of all 64 keys; the maxima may be overwritten after the next barrier
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      const int k0 = (1 - g) * 32 + 16 * j;  // the other group's keys
      Wg::values_issue(o, p_addr + uint32_t(k0 * 2), v_cols + uint32_t(k0 * 128), 64);
    }
    Wg::commit();
    Wg::template wait<0>(o);

    source.template end_block<Wg>();  // block blk + 1, this thread's part
    sync_keys();  // every group is done with this block's buffer, P, the maxima; blk + 1 is in
  }

  // Row sums: lanes of a row, then the two groups in order.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float part = Wg::quad_sum(l[r]);
    if (t % 4 == 0) red_s[g * 64 + Wg::acc_row(t, 2 * r)] = part;
  }
  __syncthreads();
  const bool partial = L.splits > 1;
  float factor[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int hr = Wg::acc_row(t, 2 * r);
    const float sum = red_s[hr] + red_s[64 + hr];
    const bool empty = !(sum > 0.0f);
    const float lse = empty ? 0.0f : (m[r] + log2f(sum)) * kLn2;
    const bool writer = g == 0 && t % 4 == 0 && hr < nh;
    if (partial) {  // normalized by this range's sum; the combine adds the ranges and the sink
      factor[r] = empty ? 0.0f : 1.0f / sum;
      if (writer) L.lse_part[w.cta * Cta::kRows + hr] = empty ? neg_inf() : lse;
      continue;
    }
    factor[r] = (empty || hr >= nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, h0 + hr, lse) / sum;
    if (writer) {
      L.p.lse[bi * L.p.lse_sb + (h0 + hr) * L.p.lse_sh + si * L.p.lse_ss] =
          empty ? -neg_inf() : lse;
      if (L.max_logits != nullptr)  // prefill: s_q is 1 here
        L.max_logits[bi * L.ml_sb + (h0 + hr) * L.ml_sh] = empty ? neg_inf() : m[r] * kLn2;
    }
  }
  if (partial) {  // fp32 partials of this thread's rows, straight from the registers
#pragma unroll
    for (int e = 0; e < 128; e += 2) {
      const int hr = Wg::acc_row(t, e), col = g * 256 + Wg::acc_col(t, e);
      const float f = factor[(e / 2) % 2];
      if (hr < nh)
        *reinterpret_cast<float2*>(L.o_part + (w.cta * Cta::kRows + hr) * kDv + col) =
            make_float2(o[e] * f, o[e + 1] * f);
    }
    return;
  }
  // bf16 outputs staged in the key buffers (free now), then whole 16-byte pieces per row.
  bf16_bits* const stage = reinterpret_cast<bf16_bits*>(smem + Cta::kKOff);
#pragma unroll
  for (int e = 0; e < 128; e += 2) {
    const float f = factor[(e / 2) % 2];
    const int hr = Wg::acc_row(t, e), col = g * 256 + Wg::acc_col(t, e);
    *reinterpret_cast<uint32_t*>(stage + hr * Cta::kOutPitch + col) =
        Hw::pack_bf16x2(o[e] * f, o[e + 1] * f);
  }
  __syncthreads();
  store_output_rows<Cta::kThreads>(L, w, stage, Cta::kOutPitch);
}

}  // namespace mla::attn
