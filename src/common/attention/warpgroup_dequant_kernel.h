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
// block (keys [32 rank, 32 rank + 32)) into its own buffer, and after the block's CTA barrier
// one thread sends those rows to the other CTA by the bulk copy engine (distributed shared
// memory; CtaRegisterKeys::send). Arrival barriers couple the two: full[b] (the other's half of
// the block in buffer b landed: waited before the block's S) and pair_free[b] (the other CTA is
// done with the block in buffer b: waited before this CTA writes it again, and so also before
// its copy out of it is overwritten). A cluster barrier at the end keeps each CTA until its
// copies have landed. Per CTA that halves the loads, the dequantization and the registers
// holding the next block (the limits measured in bench/RESULTS.md); the values and the order of
// every sum are those of one CTA per head tile, so the results are the same bits.
#pragma once

#include "../device/launch.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"
#include "warpgroup_partials.h"
#include "warpgroup_key_sources.h"

namespace mla::attn {

constexpr int kDequantThreads = 256;  // two warpgroups

// The keys of a block, loaded into registers by all threads (KeyLoader) and stored dequantized
// into the block's buffer: start() brings block 0 in and issues block 1; during_scores(j)
// stores block j + 1 (and, for one CTA, issues block j + 2); the kernel publishes and
// synchronizes after.
// kPair: the CTA is one of a cluster of two (the two 64-head tiles of a row and key range,
// which read the same keys): it loads keys [32 rank, 32 rank + 32) of each block only, stores
// them into its own buffer, and the kernel sends those rows to the other CTA (send(): the bulk
// copy engine, whose landing completes the bytes that the other CTA's arrival barrier full[b]
// expects), so that each CTA loads and dequantizes half of them. Block j + 2's loads are issued
// after the block's P is published (after_softmax(j)): the proxy fence that publishes it waits
// for the thread's loads in flight (MEMBAR), which would otherwise take their whole latency.
template <class Fmt, bool kPair = false>
struct CtaRegisterKeys {  // loaded by all kDequantThreads threads of the CTA
  static constexpr int kDim = Fmt::kDim;
  static constexpr bool kCodeValues = Fmt::kCodeValues;
  static constexpr int kKeys = kPair ? kWgBlockKeys / 2 : kWgBlockKeys;  // this CTA's per block
  // Bytes that the other CTA's copies land in a buffer per block: its rows and valid flags.
  static constexpr uint32_t kPeerBytes = uint32_t(kKeys) * (uint32_t(kDim) * 2u + 1u);
  using Loader = KeyLoader<Fmt, kKeys, kDequantThreads, false, true>;

  Loader loader;
  int32_t next_index = -1;
  int first = 0;  // this CTA's first key of a block
  MLA_DEVICE MLA_FORCEINLINE int key() const { return first + loader.key; }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void store(int blk, uint8_t* kbufs, uint8_t* valid_s) const {
    uint8_t* buf = kbufs + size_t(blk & 1) * kWgBlockKeys * kDim * 2;
    uint8_t* valid = valid_s + (blk & 1) * kWgBlockKeys;
    loader.template store<Hw>(PanelKeys<Wg>{buf, first}, nullptr, valid + first);
  }
  MLA_DEVICE MLA_FORCEINLINE void issue(const SparseDecodeProblem& p, const KeyRange& r, int blk,
                                        int32_t index) {
    loader.issue(p, r.k_begin + int64_t(blk) * kWgBlockKeys + key(), r.k_end, index);
  }

  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void start(const SparseDecodeProblem& p, const KeyRange& r,
                                        uint8_t* kbufs, uint8_t* valid_s) {
    if constexpr (kPair) first = Wg::cluster_rank() * kKeys;
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
  // kPair: pair_free, this CTA's barriers [buffer] on which the other CTA's kernel says that it
  // is done with a block there (kernel: block m's arrival is made when m + 2 < n_blocks).
  template <class Wg, class Hw>
  MLA_DEVICE MLA_FORCEINLINE void during_scores(const SparseDecodeProblem& p, const KeyRange& r,
                                                int blk, uint8_t* kbufs, uint8_t* valid_s,
                                                uint32_t pair_free) {
    if (blk + 1 < r.n_blocks) {
      if constexpr (kPair) {
        // Buffer (blk + 1) & 1 held block blk - 1: the other CTA is done with it, so this CTA's
        // copy of it has been read (it landed there) and the buffer may be written again.
        if (blk >= 1) Wg::mbar_wait(pair_free + 8u * uint32_t((blk + 1) & 1), ((blk - 1) >> 1) & 1);
        store<Wg, Hw>(blk + 1, kbufs, valid_s);
        Wg::publish();  // to the MMAs and to send(): here, before any load is in flight
        return;
      }
      store<Wg, Hw>(blk + 1, kbufs, valid_s);
      if (blk + 2 < r.n_blocks) {
        issue(p, r, blk + 2, next_index);
        next_index = r.index(blk + 3, key());
      }
    }
  }
  MLA_DEVICE MLA_FORCEINLINE void after_softmax(const SparseDecodeProblem& p, const KeyRange& r,
                                                int blk) {
    if constexpr (kPair) {
      if (blk + 2 < r.n_blocks) {
        issue(p, r, blk + 2, next_index);
        next_index = r.index(blk + 3, key());
      }
    }
  }
  // kPair, one thread, after a CTA barrier that follows every thread's stores of block blk and
  // their publish(): this CTA's rows of block blk (32 rows of each 64-column panel: 4 KB in one
  // piece, the swizzle staying within a row) and its valid flags, into the other CTA's buffer;
  // and this CTA's barrier full[blk & 1] told to expect the other's. base, peer_base: this
  // CTA's and the other's operand memory (the kernel's `smem`); full, peer_full: the barriers.
  template <class Wg, class Cta>
  MLA_DEVICE MLA_FORCEINLINE void send(int blk, uint32_t base, uint32_t peer_base, uint32_t full,
                                       uint32_t peer_full) const {
    const uint32_t b = uint32_t(blk & 1);
    const uint32_t rows =
        uint32_t(Cta::kKOff) + b * uint32_t(Cta::kOperand) + uint32_t(first) * 128u;
    send_pair_rows<Wg, kDim>(base, peer_base, rows, peer_full + 8u * b, peer_full + 8u * b);
    const uint32_t flags = uint32_t(Cta::kValidOff) + b * kWgBlockKeys + uint32_t(first);
    Wg::copy_to_peer(peer_base + flags, base + flags, uint32_t(kKeys), peer_full + 8u * b);
    Wg::mbar_arrive_expect(full + 8u * b, kPeerBytes);
  }
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
  // kPair: arrival barriers [buffer]: full (the other CTA's half of a block landed) and
  // pair_free (the other CTA is done with a block there).
  static constexpr size_t kFullOff = kValidOff + 2 * kBlockKeys;
  static constexpr size_t kPairFreeOff = kFullOff + 2 * 8;
  static constexpr size_t kUsed = kPair ? kPairFreeOff + 2 * 8 : kFullOff;
  static_assert(kValidOff % 16 == 0 && kFullOff % 8 == 0, "copied flags; barriers");
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
  const int n = range.n_blocks;
  // q ahead of the key source's loads (one copy group).
  copy_queries<Wg, kDim, Cta::kThreads>(L.p, w, smem + Cta::kQOff, q_addr, tid);
  uint8_t* const kbufs = smem + Cta::kKOff;
  // Pairs: the barriers (kFullOff, kPairFreeOff) and the other CTA's memory; both CTAs have
  // started, with their barriers initialized, before either signals or copies into the other.
  const uint32_t full = base + uint32_t(Cta::kFullOff);
  const uint32_t pair_free = base + uint32_t(Cta::kPairFreeOff);
  uint32_t peer_base = 0, peer_free = 0, peer_full = 0;
  if constexpr (Cta::kPair) {
    if (tid == 0) {
#pragma unroll
      for (int b = 0; b < 2; ++b) {
        Wg::mbar_init(full + 8 * b, 1);
        Wg::mbar_init(pair_free + 8 * b, 1);
      }
      Wg::mbar_init_publish();
    }
    Wg::cluster_sync();
    peer_base = Wg::peer_shared_address(base, Wg::cluster_rank() ^ 1);
    peer_full = peer_base + uint32_t(Cta::kFullOff);
    peer_free = peer_base + uint32_t(Cta::kPairFreeOff);
  }
  typename Cta::Source source;
  source.template start<Wg, Hw>(L.p, range, kbufs, valid_s);
  if constexpr (Cta::kPair) Wg::publish();  // block 0, to the MMAs and to send()

  float o[128];
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};  // rows acc_row(t, 0) and + 8
  const float score_scale = L.p.scale * kLog2e;

  // The stores of the keys in published (pairs: each thread publishes its own) and the CTA
  // synchronized; pairs: then one thread sends block `blk` to the other CTA.
  const auto sync_keys = [&](int blk) {
    if constexpr (Cta::kPair) {
      __syncthreads();
      if (tid == 0 && blk < n) source.template send<Wg, Cta>(blk, base, peer_base, full, peer_full);
    } else {
      Wg::publish();
      __syncthreads();
    }
  };
  source.template wait_first<Wg>();  // q and block 0
  if constexpr (!Cta::kPair) sync_keys(0);
  if constexpr (Cta::kPair) {
    Wg::publish();  // q
    sync_keys(0);
  }

  for (int blk = 0; blk < n; ++blk) {
    const uint32_t kbuf = base + uint32_t(Cta::kKOff + (blk & 1) * Cta::kOperand);
    const uint8_t* valid = valid_s + (blk & 1) * kBlockKeys;

    // Pairs: the other CTA's half of the block (its rows and flags) landed.
    if constexpr (Cta::kPair) Wg::mbar_wait(full + 8 * (blk & 1), (blk >> 1) & 1);
    float s[16];
    Wg::template scores_issue<kDim>(s, q_addr, kbuf + g * 32 * 128, 64);  // 32 keys
    source.template during_scores<Wg, Hw>(L.p, range, blk, kbufs, valid_s, pair_free);
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
    source.after_softmax(L.p, range, blk);  // pairs: block blk + 2's loads, after the fence
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

    // Every group is done with this block's buffer, P, the maxima; blk + 1 is in (this CTA's
    // part: pairs send it to the other CTA here).
    sync_keys(blk + 1);
    // Pairs: the other CTA may write this block's buffer again (it waits for this when it
    // stores block blk + 2 and copies its half here).
    if constexpr (Cta::kPair)
      if (tid == 0 && blk + 2 < n) Wg::mbar_arrive_peer(peer_free + 8 * (blk & 1));
  }
  // Pairs: neither CTA ends while its copies into the other may still read its memory (each
  // CTA waited for the other's, so after this barrier every copy has landed).
  if constexpr (Cta::kPair) Wg::cluster_sync();

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
    const bool empty = sum == 0.0f;  // a NaN sum (a NaN key) gives NaN lse and out
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
    store_partial_rows<Wg>(L, w, Cta::kRows, o, factor, g, t);
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
