// Sparse decode for decode's cluster pairs (65-128 heads: the two 64-head tiles of a row and
// key range as a cluster of two CTAs) on the warpgroup tile (warpgroup_attention_kernel.h
// describes its interface), with the work of a block split between the warpgroups as FlashMLA
// splits it (bench/RESULTS.md, "FlashMLA's 64/128-head decode, as read"): opt-in with
// MLA_PAIR_KERNEL=split; NOT YET RUN on a GPU (written without device time; the next session
// measures it, tests/gpu SplitConsumerPairs checks it against the default kernel).
//
// A CTA of three warpgroups, in blocks of 64 keys in two alternating buffers b = j & 1:
//   - the producer (g = 2): the pair key source (warpgroup_pair_keys.h): it loads and
//     dequantizes keys [32 rank, 32 rank + 32) of every block and sends them to the other
//     CTA, which sends it the other half;
//   - the leader (g = 0) computes S = Q K^T over all 64 keys of block j, keeps the whole
//     online softmax (the running maximum m and sum l of its rows), writes P (bf16) and the
//     rows' rescale factors alpha of block j into shared memory for the follower, and
//     accumulates value columns [0, 256) with P from its registers;
//   - the follower (g = 1) rescales its accumulator of value columns [256, 512) by alpha and
//     adds P V with P from shared memory: its block j runs beside the leader's block j + 1.
// Only the leader holds the softmax (S 32 registers, P 16), so the follower and the producer
// take fewer registers than in warpgroup_attention_kernel.h, where both consumers hold both.
// P has one buffer (shared memory holds q, two key blocks and 8 KB more): not the rope panel
// of the key buffer, which the CTA's copy of its half to the other CTA may still be reading.
// Signals per block j (buffer b):
//   full[b][h]  the producer's arrival barriers (warpgroup_pair_keys.h): the leader waits for
//               both halves before S, the follower for half 1 (its value panels) before P V;
//   p_ready[b]  named barrier: the leader arrives once P and alpha of block j are stored, the
//               follower waits;
//   p_free      named barrier: the follower arrives once its P V of block j is done (j + 1 <
//               n), the leader waits before it stores P of block j + 1;
//   free[b]     named barrier: the leader (after its P V) and the follower (after its P V)
//               arrive, the producer waits before it writes buffer b again (j + 2 < n: the
//               producer waits once per refill, and no phase is left open at the end).
// The order of every sum is fixed by the shapes: deterministic, and a row's result does not
// depend on the other rows. Keys are bf16(code x scale), as in warpgroup_dequant_kernel.h; S
// sums all of d_qk in one accumulation, as there, and P V each 16-key step in turn, so the
// results match it within SPEC 8 (P is rounded to bf16 at another point: there each group
// rescales by the maxima of its own half of the keys).
#pragma once

#include "../device/launch.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"
#include "warpgroup_pair_keys.h"
#include "warpgroup_partials.h"

// Registers of the producer, the follower and (the rest of 3 x 168) the leader; macros for
// variant runs.
#ifndef MLA_SPLIT_PRODUCER_REGS
#define MLA_SPLIT_PRODUCER_REGS 120
#endif
#ifndef MLA_SPLIT_FOLLOWER_REGS
#define MLA_SPLIT_FOLLOWER_REGS 160
#endif

namespace mla::attn {

template <class Wg_, class Source_>
struct SplitConsumerCta {
  using Wg = Wg_;
  using Source = Source_;
  static constexpr int kDim = Source::kDim;
  static constexpr bool kPair = Source::kPair;
  static constexpr int kRows = 64, kBlockKeys = kWgBlockKeys, kGroups = 2;
  static constexpr int kConsumers = kGroups * Wg::kThreads;
  static constexpr int kThreads = kConsumers + kWgProducers;
  static_assert(kPair, "the pair key source: each CTA dequantizes half of every block");
  static_assert(kWgProducers == Wg::kThreads && Wg::kRows == kRows, "warpgroups of 64 rows");
  static_assert(!Source::kCodeValues, "keys are bf16 values here");
  static_assert(kDv == kGroups * 256, "each consumer accumulates 256 value columns");
  static constexpr int kProducerRegs = MLA_SPLIT_PRODUCER_REGS;
  static constexpr int kFollowerRegs = MLA_SPLIT_FOLLOWER_REGS;
  static constexpr int kLeaderRegs = (3 * 168 - kProducerRegs - kFollowerRegs) / 8 * 8;
  static_assert(kLeaderRegs <= 256 && kProducerRegs >= Source::kProducerRegs, "register split");

  static constexpr size_t kOperand = size_t(64) * kDim * 2;  // Q or a key block
  static constexpr size_t kPanel = size_t(64) * 128;         // 64 rows x 64 columns
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + kOperand;                   // two key buffers
  static constexpr size_t kPOff = kKOff + 2 * kOperand;               // P: 64 x 64 bf16
  static constexpr size_t kAlphaOff = kPOff + kPanel;                 // float [buffer][row]
  static constexpr size_t kFactorOff = kAlphaOff + 2 * 64 * 4;        // float [row]
  static constexpr size_t kFullOff = kFactorOff + 64 * 4;             // [buffer][half] barriers
  static constexpr size_t kValidOff = kFullOff + 4 * 8;               // uint8 [buffer][key]
  static constexpr size_t kPairFreeOff = kValidOff + 2 * kBlockKeys;  // [buffer]
  static constexpr size_t kUsed = kPairFreeOff + 2 * 8;
  static constexpr size_t kAlign = 1024;  // the operands' swizzle repeats every 1024 bytes
  static constexpr size_t kSmemBytes = kUsed + kAlign;
  static constexpr int kOutPitch = kDv + 8;  // bf16 staging of the outputs, in the key buffers
  static_assert(size_t(64) * kOutPitch * 2 <= 2 * kOperand, "outputs fit the key buffers");
  static_assert(kPairFreeOff % 8 == 0, "arrival barriers are 8-byte aligned");

  static constexpr int kFullArrivals = kWgProducers * Source::kArrivals;
  // Named barriers: free[b] (both consumers and the producer), p_ready[b] (leader ->
  // follower), p_free (follower -> leader), the consumers among themselves, the producer by
  // itself.
  static constexpr int kFreeBar = 1, kPReadyBar = 3, kPFreeBar = 5, kConsumerBar = 6;
  static constexpr int kProducerBar = 7;
};

// The producer's side of the block barriers, for warpgroup_pair_keys.h's produce(): a buffer
// is free once both consumers are done with it (one barrier for both halves).
template <class Cta>
struct SplitProducerBarriers {
  using Wg = typename Cta::Wg;
  uint32_t full;       // the arrival barriers, [buffer][half]
  uint32_t pair_free;  // the other CTA's producer's word that a buffer is free
  MLA_DEVICE MLA_FORCEINLINE void wait_free(int j, int h) const {
    if (h == 0) Wg::barrier_sync(Cta::kFreeBar + (j & 1), Cta::kThreads);
  }
  MLA_DEVICE MLA_FORCEINLINE void producers_sync() const {
    Wg::barrier_sync(Cta::kProducerBar, kWgProducers);
  }
};

// Clusters of two CTAs (sparse_decode_launch.h), blockIdx.x in CtaWork's head-tiles-first order.
template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, 1) warpgroup_split_kernel(const DecodeLaunch L) {
  using Wg = typename Cta::Wg;
  using Hw = typename Wg::Hw;
  constexpr int kDim = Cta::kDim;
  extern __shared__ __align__(16) uint8_t smem_raw[];
  // The operands need 1024-byte alignment; the dynamic window's start may not have it.
  const uint32_t raw_addr = Wg::shared_address(smem_raw);
  uint8_t* const smem = smem_raw + ((Cta::kAlign - raw_addr % Cta::kAlign) % Cta::kAlign);
  const uint32_t base = Wg::shared_address(smem);
  const uint32_t q_addr = base + Cta::kQOff;
  float* const alpha_s = reinterpret_cast<float*>(smem + Cta::kAlphaOff);
  float* const factor_s = reinterpret_cast<float*>(smem + Cta::kFactorOff);
  uint8_t* const valid_s = smem + Cta::kValidOff;
  uint8_t* const kbufs = smem + Cta::kKOff;

  const int tid = int(threadIdx.x);
  // The warpgroup, through a shuffle so that the compiler knows it is uniform in the warp
  // (ptxas allocates each side's registers to its setmaxnreg budget only then).
  const int g = shfl_idx(tid / Wg::kThreads, 0), t = tid % Wg::kThreads;

  const CtaWork w(L, Cta::kRows, true);
  const KeyRange range{RowKeys(L.p, w.bi, w.si), w.k_begin, w.k_end,
                       int((w.k_end - w.k_begin + Cta::kBlockKeys - 1) / Cta::kBlockKeys)};
  const int n = range.n_blocks;
  const uint32_t full = base + uint32_t(Cta::kFullOff);
  const uint32_t pair_free = base + uint32_t(Cta::kPairFreeOff);
  if (tid == 0) {
#pragma unroll
    for (int b = 0; b < 4; ++b) Wg::mbar_init(full + 8 * b, Cta::kFullArrivals);
    Wg::mbar_init(pair_free, 1);
    Wg::mbar_init(pair_free + 8, 1);
    Wg::mbar_init_publish();
  }
  Wg::cluster_sync();  // both CTAs' barriers initialized before either signals the other

  if (g == Cta::kGroups) {  // the producer: q, then the key blocks
    Wg::template registers_shrink<Cta::kProducerRegs>();
    copy_queries<Wg, kDim, kWgProducers, true>(L.p, w, smem + Cta::kQOff, q_addr, t);
    Wg::publish();  // q's stores where it was not copied (any arrival below releases them)
    typename Cta::Source().template produce<Wg>(L.p, range, kbufs, valid_s, t,
                                                SplitProducerBarriers<Cta>{full, pair_free});
    Wg::cluster_sync();  // with the consumers: the copies out of this CTA's memory landed
    return;
  }

  const auto kbuf = [&](int b) { return base + uint32_t(Cta::kKOff + b * Cta::kOperand); };
  const auto full_bar = [&](int b, int h) { return full + uint32_t(8 * (2 * b + h)); };
  float o[128];
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  // The leader's running maximum and sum of its rows acc_row(t, 0) and + 8.
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};

  if (g == 0) {  // ---- the leader ----
    Wg::template registers_grow<Cta::kLeaderRegs>();
    const float score_scale = L.p.scale * kLog2e;
    for (int j = 0; j < n; ++j) {
      const int b = j & 1;
      Wg::mbar_wait(full_bar(b, 0), (j >> 1) & 1);  // block j is the (j / 2)-th fill of buffer b
      Wg::mbar_wait(full_bar(b, 1), (j >> 1) & 1);
      Wg::publish();  // the copies that landed, to the MMAs
      float s[32];
      Wg::template scores_issue_panels<kDim / 64>(s, q_addr, kbuf(b), 64, 0, false);
      Wg::template wait<0>(s);
      // Base 2, skipped keys -inf; the rows' new maxima.
      const uint8_t* valid = valid_s + b * Cta::kBlockKeys;
      float mx[2] = {neg_inf(), neg_inf()};
#pragma unroll
      for (int e = 0; e < 32; ++e) {
        s[e] = valid[Wg::acc_col(t, e)] ? s[e] * score_scale : neg_inf();
        mx[(e / 2) % 2] = fmaxf(mx[(e / 2) % 2], s[e]);
      }
      float alpha[2], sub[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float m_new = fmaxf(m[r], Wg::quad_max(mx[r]));
        sub[r] = m_new == neg_inf() ? 0.0f : m_new;
        alpha[r] = exp2f(m[r] - sub[r]);
        m[r] = m_new;
        l[r] *= alpha[r];
      }
      uint32_t pk[16];  // P (bf16 pairs) as the A fragments of the four 16-key steps
#pragma unroll
      for (int e = 0; e < 32; e += 2) {
        const int r = (e / 2) % 2;
        const float p0 = exp2f(s[e] - sub[r]), p1 = exp2f(s[e + 1] - sub[r]);
        l[r] += p0 + p1;
        pk[e / 2] = Hw::pack_bf16x2(p0, p1);
      }
      if (j >= 1) Wg::barrier_sync(Cta::kPFreeBar, Cta::kConsumers);  // P of block j - 1 read
      uint8_t* const p_s = smem + Cta::kPOff;
#pragma unroll
      for (int e = 0; e < 32; e += 2)
        *reinterpret_cast<uint32_t*>(
            p_s + Wg::operand_offset(64, Wg::acc_row(t, e), Wg::acc_col(t, e))) = pk[e / 2];
      if (t % 4 == 0)
#pragma unroll
        for (int r = 0; r < 2; ++r) alpha_s[b * 64 + Wg::acc_row(t, 2 * r)] = alpha[r];
      Wg::publish();  // P to the follower's MMAs
      Wg::barrier_arrive(Cta::kPReadyBar + b, Cta::kConsumers);
      // Rescale only where a row's maximum moved (x 1 is exact: skipping it changes no bit).
      if (Wg::warp_any(alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
        for (int e = 0; e < 128; ++e) o[e] *= alpha[(e / 2) % 2];
      }
      // O[:, 0:256) += P V, P from the registers.
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const uint32_t a[4] = {pk[4 * kk], pk[4 * kk + 1], pk[4 * kk + 2], pk[4 * kk + 3]};
        Wg::values_issue(o, a, kbuf(b) + uint32_t(kk * 2048), 64);
      }
      Wg::commit();
      Wg::template wait<0>(o);
      if (j + 2 < n) Wg::barrier_arrive(Cta::kFreeBar + b, Cta::kThreads);  // block j + 2 next
    }
  } else {  // ---- the follower ----
    Wg::template registers_grow<Cta::kFollowerRegs>();
    const uint32_t my_cols = uint32_t(4 * Cta::kPanel);  // value columns [256, 512)
    for (int j = 0; j < n; ++j) {
      const int b = j & 1;
      Wg::barrier_sync(Cta::kPReadyBar + b, Cta::kConsumers);
      Wg::mbar_wait(full_bar(b, 1), (j >> 1) & 1);  // landed already (the leader waited)
      float alpha[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) alpha[r] = alpha_s[b * 64 + Wg::acc_row(t, 2 * r)];
      if (Wg::warp_any(alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
        for (int e = 0; e < 128; ++e) o[e] *= alpha[(e / 2) % 2];
      }
      const uint32_t p_addr = base + uint32_t(Cta::kPOff);
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wg::values_issue(o, p_addr + uint32_t(kk * 32), kbuf(b) + my_cols + uint32_t(kk * 2048),
                         64);
      Wg::commit();
      Wg::template wait<0>(o);
      if (j + 1 < n) Wg::barrier_arrive(Cta::kPFreeBar, Cta::kConsumers);
      if (j + 2 < n) Wg::barrier_arrive(Cta::kFreeBar + b, Cta::kThreads);  // block j + 2 next
    }
  }
  Wg::cluster_sync();  // with the producers: see there

  // The leader ends the rows (the sums across a row's lanes), the follower takes its factors.
  float factor[2];
  if (g == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int hr = Wg::acc_row(t, 2 * r);
      const float sum = Wg::quad_sum(l[r]);
      factor[r] = finish_row(L, w, w.cta * Cta::kRows + hr, hr, sum, m[r], t % 4 == 0 && hr < w.nh);
      if (t % 4 == 0) factor_s[hr] = factor[r];
    }
  }
  Wg::barrier_sync(Cta::kConsumerBar, Cta::kConsumers);  // also: every MMA of the CTA is done
  if (g == 1)
#pragma unroll
    for (int r = 0; r < 2; ++r) factor[r] = factor_s[Wg::acc_row(t, 2 * r)];
  if (L.splits > 1) {  // fp32 partials of this thread's rows, straight from the registers
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
  Wg::barrier_sync(Cta::kConsumerBar, Cta::kConsumers);
  store_output_rows<Cta::kConsumers>(L, w, stage, Cta::kOutPitch);
}

}  // namespace mla::attn
