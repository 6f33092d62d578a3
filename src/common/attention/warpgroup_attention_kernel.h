// Sparse attention for 64 query heads of a row, written over a warpgroup tile (an MMA unit of
// kThreads lanes and 64 rows whose B operands live in shared memory and whose A operands live
// in shared memory or registers, as Hopper's wgmma):
//
//   struct Wg {
//     using Hw; static constexpr int kThreads, kRows (= 64);
//     static uint32_t operand_offset(int rows, int r, int c);  // byte of bf16 (r, c) of an operand
//     static uint32_t shared_address(const void*);
//     template <int kPanels>  // S (64 x 64) (+)= Q K^T over kPanels 64-column panels from
//     static void scores_issue_panels(float (&s)[32], uint32_t q, uint32_t k, int k_rows,
//                                     int first, bool accumulate);  // `first`: one MMA group
//     // O (64 x 256) += P V over 16 keys, issued; P from registers (the A fragment of a
//     // 16-key step of S, packed bf16 pairs 4 i .. 4 i + 3) or from a shared P operand.
//     static void values_issue(float (&o)[128], const uint32_t (&p)[4], uint32_t v, int v_rows);
//     static void values_issue(float (&o)[128], uint32_t p, uint32_t v, int v_rows);
//     static void commit();                       // the MMAs issued since the last commit: a group
//     template <int N> static void wait(float (&regs)[...]);  // <= N groups still in flight
//     static void barrier_sync(int id, int n), barrier_arrive(int id, int n);  // named barriers
//     static void mbar_init(uint32_t a, int n), mbar_arrive(uint32_t a);  // arrival barriers in
//     static void mbar_arrive_on_copies(uint32_t a);  // shared memory; this one when this
//     static void mbar_wait(uint32_t a, int phase);   // thread's copies have landed
//     template <int R> static void registers_grow(), registers_shrink();  // per warpgroup
//     static void copy16(uint32_t dst, const void* src, bool valid);  // async, zero fill
//     static void copy16(uint32_t dst, const void* src, bool valid, uint64_t l2_policy);
//     static uint64_t l2_keep(), l2_stream();  // L2 policies: rows gathered again, streamed
//     static void copy_commit(); template <int N> static void copy_wait();
//     static void publish();  // own shared writes visible to the MMAs (a barrier follows)
//     static int acc_row(int t, int e), acc_col(int t, int e);
//     static float quad_max(float), quad_sum(float);  // over the 4 lanes that share a row
//     static bool warp_any(bool);                      // over the lanes of a warp
//   };
//
// A CTA of three warpgroups takes the 64 heads of one prefill row (rows are never split there;
// decode takes warpgroup_dequant_kernel.h, or this kernel for its cluster pairs with
// MLA_PAIR_KERNEL=producer: a source with kPair, warpgroup_pair_keys.h, whose ranges may be
// split: fp32 partials for the combine), in blocks of 64 keys, taken in pairs: block 2i in buffer 0
// and block 2i + 1 in buffer 1. The producer warpgroup (a key source,
// warpgroup_key_sources.h) fills a buffer in two halves, each as soon as the block two before
// is done with it, and never waits for its own copies (they land on arrival barriers).
// Consumer group g owns block 2i + g of each pair: S = Q K^T (N = 64) and its softmax. Each
// group accumulates 256 of the 512 output columns over every block, O_g += P V[:, 256 g ..]:
// its own block's with P from its registers (from shared memory where registers are short:
// kOwnPInRegisters), the other group's block's with P from shared memory. Half h of a buffer
// holds the value panels of group h (and, for h = 1, the rope panel), so each half has one
// releasing group, and each group first releases the half that it reads locally: the producer
// refills those first, and each group's next S starts on them.
//
// The running maximum is one chain per pair: group 0 takes block 2i's maximum m_a into its
// chain and publishes it; group 1 takes block 2i + 1's into m_a, giving m_b, and publishes
// that; both end the pair in m_b's frame (group 0 rescales its O, and the P that it hands
// over, when m_b arrives). Per pair:
//   group 0: softmax to m_a, publish m_a | O += P_2i V_2i (registers), release half 0 of
//     buffer 0 | wait m_b, rescale O, P_2i to m_b into shared memory | wait P_2i+1,
//     O += P_2i+1 V_2i+1, under which the next S begins on half 0 of buffer 0 | release half 0
//     of buffer 1, the rest of the next S.
//   group 1: S_2i+1, half 1 first | wait m_a, softmax to m_b, publish m_b | P_2i+1 into shared
//     memory, O += P_2i+1 V_2i+1 (registers) | wait P_2i, O += P_2i V_2i | release half 1 of
//     buffer 1, then of buffer 0.
// P_2i lives in memory that group 1 releases: the rope panel of buffer 0 (d_qk 576; P V does
// not read it), else a P buffer; P_2i+1 in a P buffer. The MMA groups in flight at any time
// belong to one iteration: none crosses the loop's back-edge (ptxas serializes every wgmma of
// a kernel when one does; ci/check-wgmma-pipelines.sh).
// Keys are bf16 values (bf16 rows, or bf16(code x scale)), summed in fp32 over all d_qk in one
// accumulation. The order of every sum is fixed by the shapes: deterministic, and a row's result
// does not depend on the other rows.
#pragma once

#include "../device/launch.h"
#include "warpgroup_key_sources.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"
#include "warpgroup_partials.h"

namespace mla::attn {

template <class Wg_, class Source_>
struct WarpgroupCta {  // Source: warpgroup_key_sources.h
  using Wg = Wg_;
  using Source = Source_;
  static constexpr int kDim = Source::kDim;
  // A cluster of the two head tiles of a row and key range (warpgroup_pair_keys.h).
  static constexpr bool kPair = Source::kPair;
  static constexpr int kRows = 64, kBlockKeys = kWgBlockKeys, kGroups = 2;
  static constexpr int kConsumers = kGroups * Wg::kThreads;
  static constexpr int kThreads = kConsumers + kWgProducers;
  static_assert(kWgProducers == Wg::kThreads && Wg::kRows == kRows, "warpgroups of 64 rows");
  static_assert(!Source::kCodeValues, "keys are bf16 values here");
  static_assert(kDv == kGroups * 256, "each group accumulates 256 value columns");
  // Registers per thread after the split (the pool is 3 x 168 per thread of a warpgroup at
  // launch): the producer needs few unless it holds a block in flight in registers.
  static constexpr int kProducerRegs = Source::kProducerRegs;
  static constexpr int kConsumerRegs = ((3 * 168 - kProducerRegs) / 2) / 8 * 8;

  static constexpr size_t kOperand = size_t(64) * kDim * 2;  // Q or a key block
  static constexpr size_t kPanel = size_t(64) * 128;         // 64 rows x 64 columns
  // P of block 2i (64 heads x 64 keys), read by group 1, lives in memory that group 1
  // releases: where d_qk has one, the rope panel of buffer 0 (half 1; P V does not read it),
  // else a P buffer; P of block 2i + 1 in a P buffer (the last one).
  static constexpr bool kPInRope = kDim > kDv;
  static constexpr int kPBuffers = kPInRope ? 1 : 2;
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + kOperand;  // two key buffers
  static constexpr size_t kPOff = kKOff + 2 * kOperand;
  static constexpr size_t kMaxOff = kPOff + kPBuffers * kPanel;       // float m_a, m_b [row]
  static constexpr size_t kSumOff = kMaxOff + 2 * 64 * 4;             // float [group][row]
  static constexpr size_t kFullOff = kSumOff + kGroups * 64 * 4;      // [buffer][half] barriers
  static constexpr size_t kValidOff = kFullOff + 4 * 8;               // uint8 [buffer][key]
  static constexpr size_t kPairFreeOff = kValidOff + 2 * kBlockKeys;  // kPair: [buffer]
  static constexpr size_t kUsed = kPairFreeOff + (kPair ? 2 * 8 : 0);
  static constexpr size_t kAlign = 1024;  // the operands' swizzle repeats every 1024 bytes
  static constexpr size_t kSmemBytes = kUsed + kAlign;
  static constexpr int kOutPitch = kDv + 8;  // bf16 staging of the outputs, in the key buffers
  static_assert(size_t(64) * kOutPitch * 2 <= 2 * kOperand, "outputs fit the key buffers");
  static_assert(kPairFreeOff % 8 == 0, "arrival barriers are 8-byte aligned");

  // Half h of block j in buffer j & 1 filled (producer -> consumers): an arrival barrier per
  // buffer and half at kFullOff, kArrivals per producer thread (the producer never waits for
  // its copies). Named barriers: half h of a buffer free again (group h -> producer), m_a and
  // m_b published (group 0 -> 1, 1 -> 0), P of block 2i + b in shared memory (group b -> the
  // other), the consumers among themselves, and each group by itself (P from shared memory).
  static constexpr int kFullArrivals = kWgProducers * Source::kArrivals;
  static constexpr int kFreeBar = 1, kMaxBar = 5, kConsumerBar = 7, kPBar = 8, kGroupBar = 10;
  static constexpr int kProducerBar = 12;  // the producer warpgroup by itself
  // P V of a group's own block takes P from its registers where they allow (the A operand
  // stays in flight with O's 128), else from shared memory like the other group's.
  static constexpr bool kOwnPInRegisters = kConsumerRegs >= 216;
  static constexpr int kHalfPair = Wg::kThreads + kWgProducers;  // a group and the producer
};

// The producer's side of the block barriers (warpgroup_key_sources.h's `bar`).
template <class Cta>
struct ProducerBarriers {
  using Wg = typename Cta::Wg;
  uint32_t full;           // the arrival barriers, [buffer][half]
  uint32_t pair_free = 0;  // Cta::kPair: the other CTA's producer's word that a buffer is free
  MLA_DEVICE MLA_FORCEINLINE void wait_free(int j, int h) const {
    Wg::barrier_sync(Cta::kFreeBar + 2 * (j & 1) + h, Cta::kHalfPair);
  }
  MLA_DEVICE MLA_FORCEINLINE void ready(int j, int h) const {  // this thread's stores into it
    Wg::publish();
    Wg::mbar_arrive(full + 8 * (2 * (j & 1) + h));
  }
  // The same for stores that the consumers read with plain loads only (valid_s): no proxy
  // fence, which on Hopper also waits for the thread's copies in flight (MEMBAR.ALL.CTA), and
  // so would let one half of a buffer at a time be on its way.
  MLA_DEVICE MLA_FORCEINLINE void flags_ready(int j, int h) const {
    Wg::mbar_arrive(full + 8 * (2 * (j & 1) + h));
  }
  MLA_DEVICE MLA_FORCEINLINE void producers_sync() const {  // every producer thread here
    Wg::barrier_sync(Cta::kProducerBar, kWgProducers);
  }
  MLA_DEVICE MLA_FORCEINLINE void copies_ready(int j, int h) const {  // its copies, once landed
    Wg::mbar_arrive_on_copies(full + 8 * (2 * (j & 1) + h));
  }
};

template <class Cta>
__global__ void __launch_bounds__(Cta::kThreads, 1)
    warpgroup_attention_kernel(const DecodeLaunch L) {
  using Wg = typename Cta::Wg;
  using Hw = typename Wg::Hw;
  constexpr int kDim = Cta::kDim;
  extern __shared__ __align__(16) uint8_t smem_raw[];
  // The operands need 1024-byte alignment; the dynamic window's start may not have it.
  const uint32_t raw_addr = Wg::shared_address(smem_raw);
  uint8_t* const smem = smem_raw + ((Cta::kAlign - raw_addr % Cta::kAlign) % Cta::kAlign);
  const uint32_t base = Wg::shared_address(smem);
  const uint32_t q_addr = base + Cta::kQOff;
  float* const max_s = reinterpret_cast<float*>(smem + Cta::kMaxOff);
  float* const sum_s = reinterpret_cast<float*>(smem + Cta::kSumOff);
  uint8_t* const valid_s = smem + Cta::kValidOff;
  uint8_t* const kbufs = smem + Cta::kKOff;

  const int tid = int(threadIdx.x);
  // The warpgroup, through a shuffle so that the compiler knows it is uniform in the warp:
  // ptxas allocates each side's registers to its setmaxnreg budget only then.
  const int g = shfl_idx(tid / Wg::kThreads, 0), t = tid % Wg::kThreads;

  // Pairs: blockIdx.x in CtaWork's head-tiles-first order, so that a cluster's two CTAs take
  // the two head tiles of one row and key range.
  const CtaWork w(L, Cta::kRows, Cta::kPair);
  const int64_t bi = w.bi, si = w.si, h0 = w.h0;
  const int nh = w.nh;
  const KeyRange range{RowKeys(L.p, bi, si), w.k_begin, w.k_end,
                       int((w.k_end - w.k_begin + Cta::kBlockKeys - 1) / Cta::kBlockKeys)};
  const int n = range.n_blocks;
  const uint32_t full = base + uint32_t(Cta::kFullOff);
  const uint32_t pair_free = base + uint32_t(Cta::kPairFreeOff);
  if (tid == 0) {
#pragma unroll
    for (int b = 0; b < 4; ++b) Wg::mbar_init(full + 8 * b, Cta::kFullArrivals);
    if constexpr (Cta::kPair) {
      Wg::mbar_init(pair_free, 1);
      Wg::mbar_init(pair_free + 8, 1);
      Wg::mbar_init_publish();
    }
  }
  // The arrival barriers are initialized (in both CTAs of a pair, before either signals or
  // stores into the other).
  if constexpr (Cta::kPair) {
    Wg::cluster_sync();
  } else {
    __syncthreads();
  }

  if (g == Cta::kGroups) {  // the producer: q, then the key blocks
    Wg::template registers_shrink<Cta::kProducerRegs>();
    // q is read once: it streams through L2 (evict_first).
    copy_queries<Wg, kDim, kWgProducers, true>(L.p, w, smem + Cta::kQOff, q_addr, t);
    Wg::publish();  // q's stores where it was not copied (any arrival below releases them)
    typename Cta::Source().template produce<Wg>(L.p, range, kbufs, valid_s, t,
                                                ProducerBarriers<Cta>{full, pair_free});
    // Pairs: every thread of both CTAs here (the consumers once done with every block): the
    // copies out of this CTA's memory have landed before it ends.
    if constexpr (Cta::kPair) Wg::cluster_sync();
    return;
  }
  Wg::template registers_grow<Cta::kConsumerRegs>();

  float o[128];
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  // This group's frame: O and l are relative to m (rows acc_row(t, 0) and + 8).
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};
  const float score_scale = L.p.scale * kLog2e;

  const auto kbuf = [&](int b) { return base + uint32_t(Cta::kKOff + b * Cta::kOperand); };
  const auto full_bar = [&](int b, int h) { return full + uint32_t(8 * (2 * b + h)); };
  const auto free_half = [&](int b) {  // this group's half of buffer b, released
    Wg::barrier_arrive(Cta::kFreeBar + 2 * b + g, Cta::kHalfPair);
  };
  // Where P of block 2i + b is.
  const auto p_off = [&](int b) {
    if (b == 0 && Cta::kPInRope) return Cta::kKOff + 8 * Cta::kPanel;
    return Cta::kPOff + (b == 0 ? 0 : Cta::kPBuffers - 1) * Cta::kPanel;
  };
  const uint32_t my_cols = uint32_t(g * 4 * Cta::kPanel);  // this group's value columns
  constexpr int kLatePanels = kDim / 64 - 4;               // half 1: panels 4.. (with rope)

  // Half h of this group's block j (in buffer g): wait for it, issue its part of S.
  const auto scores_half = [&](float(&s)[32], int j, int h, bool accumulate) {
    Wg::mbar_wait(full_bar(g, h), (j >> 1) & 1);  // block j is the (j / 2)-th fill of buffer g
    Wg::publish();                                // the copies that landed, to the MMAs
    if (h == 0) {
      Wg::template scores_issue_panels<4>(s, q_addr, kbuf(g), 64, 0, accumulate);
    } else {
      Wg::template scores_issue_panels<kLatePanels>(s, q_addr, kbuf(g), 64, 4, accumulate);
    }
  };
  // P (the A fragments) to shared memory at p_off(g).
  const auto store_p = [&](const uint32_t(&pk)[16]) {
    uint8_t* const p_s = smem + p_off(g);
    // Pairs: the offsets computed here, not held (spilled) across the loop (opaque, port.h).
    const int tp = Cta::kPair ? opaque(t) : t;
#pragma unroll
    for (int e = 0; e < 32; e += 2)
      *reinterpret_cast<uint32_t*>(
          p_s + Wg::operand_offset(64, Wg::acc_row(tp, e), Wg::acc_col(tp, e))) = pk[e / 2];
    Wg::publish();
  };
  // O += P V over this group's columns of its own block (P: pk, the A fragments of S's layout,
  // which stay in flight, or their copy at p_off(g)) or of the other group's (P from shared
  // memory); one MMA group.
  const auto values_own = [&](const uint32_t(&pk)[16], bool p_stored) {
    const uint32_t v = kbuf(g) + my_cols;
    if constexpr (Cta::kOwnPInRegisters) {
#pragma unroll
      for (int kk = 0; kk < 4; ++kk) {
        const uint32_t a[4] = {pk[4 * kk], pk[4 * kk + 1], pk[4 * kk + 2], pk[4 * kk + 3]};
        Wg::values_issue(o, a, v + uint32_t(kk * 2048), 64);
      }
    } else {
      if (!p_stored) store_p(pk);
      Wg::barrier_sync(Cta::kGroupBar + g, Wg::kThreads);  // the whole group's P first
      const uint32_t p_addr = base + uint32_t(p_off(g));
#pragma unroll
      for (int kk = 0; kk < 4; ++kk)
        Wg::values_issue(o, p_addr + uint32_t(kk * 32), v + uint32_t(kk * 2048), 64);
    }
    Wg::commit();
  };
  const auto values_other = [&]() {
    const uint32_t p_addr = base + uint32_t(p_off(1 - g)), v = kbuf(1 - g) + my_cols;
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      Wg::values_issue(o, p_addr + uint32_t(kk * 32), v + uint32_t(kk * 2048), 64);
    Wg::commit();
  };
  // O and l from this group's maximum to `to` (never smaller); x 1 is exact, so rows whose
  // maximum did not move are left alone.
  const auto rescale = [&](const float(&to)[2]) {
    float alpha[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float sub = to[r] == neg_inf() ? 0.0f : to[r];
      alpha[r] = exp2f(m[r] - sub);
      m[r] = to[r];
      l[r] *= alpha[r];
    }
    if (Wg::warp_any(alpha[0] != 1.0f || alpha[1] != 1.0f)) {
#pragma unroll
      for (int e = 0; e < 128; ++e) o[e] *= alpha[(e / 2) % 2];
    }
  };
  // The scores of this group's block (s, in buffer g; all -inf when the block is past the
  // row's end), scaled to base 2 with skipped keys at -inf; their row maxima into `to`.
  const auto mask_scores = [&](float(&s)[32], bool present, float(&to)[2]) {
    const uint8_t* valid = valid_s + g * Cta::kBlockKeys;
    float mx[2] = {neg_inf(), neg_inf()};
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      s[e] = present && valid[Wg::acc_col(t, e)] ? s[e] * score_scale : neg_inf();
      mx[(e / 2) % 2] = fmaxf(mx[(e / 2) % 2], s[e]);
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) to[r] = fmaxf(to[r], Wg::quad_max(mx[r]));
  };
  // P = 2^(s - to) as the A fragments (pk); its row sums added to l, which is first moved,
  // with O, to to's frame.
  const auto softmax_to = [&](const float(&s)[32], const float(&to)[2], uint32_t(&pk)[16]) {
    rescale(to);
    float sub[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) sub[r] = to[r] == neg_inf() ? 0.0f : to[r];
#pragma unroll
    for (int e = 0; e < 32; e += 2) {
      const int r = (e / 2) % 2;
      const float p0 = exp2f(s[e] - sub[r]), p1 = exp2f(s[e + 1] - sub[r]);
      l[r] += p0 + p1;
      pk[e / 2] = Hw::pack_bf16x2(p0, p1);
    }
  };
  const auto publish_max = [&](int which, const float(&to)[2]) {
#pragma unroll
    for (int r = 0; r < 2; ++r)
      if (t % 4 == 0) max_s[which * 64 + Wg::acc_row(t, 2 * r)] = to[r];
    Wg::barrier_arrive(Cta::kMaxBar + which, Cta::kConsumers);
  };
  const auto read_max = [&](int which, float(&to)[2]) {
    Wg::barrier_sync(Cta::kMaxBar + which, Cta::kConsumers);
#pragma unroll
    for (int r = 0; r < 2; ++r) to[r] = max_s[which * 64 + Wg::acc_row(t, 2 * r)];
  };

  float s[32];
  uint32_t pk[16];
  if (g == 0) {
    if (n > 0) {  // block 0's S: half 0, then half 1
      scores_half(s, 0, 0, false);
      scores_half(s, 0, 1, true);
      Wg::template wait<0>(s);
    }
    for (int j = 0; j < n; j += 2) {  // pair (j, j + 1): block j is this group's
      float m_a[2] = {m[0], m[1]};
      mask_scores(s, true, m_a);
      publish_max(0, m_a);
      softmax_to(s, m_a, pk);
      values_own(pk, false);
      Wg::template wait<0>(o);
      if (j + 2 < n) free_half(0);
      float m_b[2];
      read_max(1, m_b);
      // P of block j, handed to group 1 in m_b's frame: P x 2^(m_a - m_b), from the bf16 P (the
      // fp32 one would hold 32 more registers across the MMA; x 1, the usual case, is exact).
      float f[2];
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const float sub_a = m_a[r] == neg_inf() ? 0.0f : m_a[r];
        const float sub_b = m_b[r] == neg_inf() ? 0.0f : m_b[r];
        f[r] = exp2f(sub_a - sub_b);
      }
#pragma unroll
      for (int e = 0; e < 32; e += 2) {
        const float fr = f[(e / 2) % 2];
        pk[e / 2] =
            Hw::pack_bf16x2(float_of(pk[e / 2] << 16) * fr, float_of(pk[e / 2] & 0xFFFF0000u) * fr);
      }
      store_p(pk);
      rescale(m_b);
      // P of block j published. A sync, not an arrive: group 1 is there by the time that group 0
      // can go on (P of block j + 1 is published first), and a sync on both sides orders group
      // 0's reads of the maxima before group 1's next writes in racecheck's model too (it does
      // not take a bar.arrive as ordering the arriving thread's reads; bench/RESULTS.md).
      Wg::barrier_sync(Cta::kPBar + 0, Cta::kConsumers);
      Wg::barrier_sync(Cta::kPBar + 1, Cta::kConsumers);  // P of block j + 1
      if (j + 2 < n) {  // O += P_j+1 V_j+1, block j + 2's S under it
        values_other();
        scores_half(s, j + 2, 0, false);
        Wg::template wait<1>(o);
        if (j + 3 < n) free_half(1);
        scores_half(s, j + 2, 1, true);
        Wg::template wait<0>(s);
      } else if (j + 1 < n) {
        values_other();
        Wg::template wait<0>(o);
      }
    }
  } else {
    for (int j = 1; j - 1 < n; j += 2) {  // pair (j - 1, j): block j is this group's
      const bool present = j < n;
      if (present) {  // half 1 first: this group released it first
        scores_half(s, j, 1, false);
        scores_half(s, j, 0, true);
        Wg::template wait<0>(s);
      }
      float m_b[2];
      read_max(0, m_b);  // m_a
      mask_scores(s, present, m_b);
      publish_max(1, m_b);
      softmax_to(s, m_b, pk);
      if (present) {
        store_p(pk);  // for group 0
        values_own(pk, true);
      }
      Wg::barrier_arrive(Cta::kPBar + 1, Cta::kConsumers);
      Wg::barrier_sync(Cta::kPBar + 0, Cta::kConsumers);  // P of block j - 1
      values_other();
      if (present) {
        Wg::template wait<1>(o);
        if (j + 2 < n) free_half(1);
      }
      Wg::template wait<0>(o);
      if (j + 1 < n) free_half(0);
    }
  }

  if constexpr (Cta::kPair) Wg::cluster_sync();  // with the producers: see there
    // Row sums: lanes of a row, then the two groups in order (both groups end in the same frame:
    // each led or followed the last block).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float part = Wg::quad_sum(l[r]);
    if (t % 4 == 0) sum_s[g * 64 + Wg::acc_row(t, 2 * r)] = part;
  }
  Wg::barrier_sync(Cta::kConsumerBar, Cta::kConsumers);  // also: every MMA of the CTA is done
  const bool partial = L.splits > 1;  // decode's split rows (prefill's are never split)
  float factor[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int hr = Wg::acc_row(t, 2 * r);
    const float sum = sum_s[hr] + sum_s[64 + hr];
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
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] *= factor[(e / 2) % 2];
  // bf16 outputs staged in the key buffers (free now), then whole 16-byte pieces per row.
  bf16_bits* const stage = reinterpret_cast<bf16_bits*>(smem + Cta::kKOff);
#pragma unroll
  for (int e = 0; e < 128; e += 2) {
    const int hr = Wg::acc_row(t, e), col = g * 256 + Wg::acc_col(t, e);
    *reinterpret_cast<uint32_t*>(stage + hr * Cta::kOutPitch + col) =
        Hw::pack_bf16x2(o[e], o[e + 1]);
  }
  Wg::barrier_sync(Cta::kConsumerBar, Cta::kConsumers);
  store_output_rows<Cta::kConsumers>(L, w, stage, Cta::kOutPitch);
}

}  // namespace mla::attn
