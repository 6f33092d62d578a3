// Sparse attention for 64 query heads of a row, written over a warpgroup tile (an MMA unit of
// kThreads lanes and 64 rows whose B operands live in shared memory and whose A operands live
// in shared memory or registers, as Hopper's wgmma):
//
//   struct Wg {
//     using Hw; static constexpr int kThreads, kRows (= 64);
//     static uint32_t operand_offset(int rows, int r, int c);  // byte of bf16 (r, c) of an operand
//     static uint32_t shared_address(const void*);
//     template <int kDim>  // S (64 x 64) = Q K^T, issued and committed as one group
//     static void scores_issue(float (&s)[32], uint32_t q, uint32_t k, int k_rows);
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
// A CTA of three warpgroups takes the 64 heads of one prefill row (rows are never split; decode
// takes warpgroup_dequant_kernel.h), in blocks of 64 keys. The producer warpgroup (a key
// source, warpgroup_key_sources.h) fills buffer j & 1 with block j, in two halves, each as soon
// as block j - 2 is done with it, and never waits for its own copies (they land on arrival
// barriers). The two consumer warpgroups own alternate blocks: group j & 1 leads block j
// (S = Q K_j^T, N = 64; the online softmax; P_j into shared memory) and the other group
// follows it. Each group accumulates 256 of the 512 output columns over every block:
// O_g += P_j V_j[:, 256 g ..], P from shared memory. The running maximum is one chain: the
// leader of block j starts from the maximum after block j - 1, published with P_{j-1}.
//
// Per group and block j that it leads (j = g, g + 2, ...):
//   wait for block j, S_j | wait for P_{j-1}, follow block j - 1: rescale O to its maximum,
//   O += P_{j-1} V_{j-1}, release this group's half of block j - 1 | softmax of block j: the
//   maxima and P_j, published | rescale O, O += P_j V_j, release this group's half of block j.
// Half h of a buffer holds the value panels of group h (and, for h = 1, the rope panel), so
// each half has one releasing group. P_j lives where its follower releases it: the rope panel
// of buffer 0 for even blocks (d_qk 576), else a P buffer.
// While one group runs its softmax, the other's MMAs keep the matrix cores busy; every MMA
// group is waited for right after its issue (see the loop).
// Keys are bf16 values (bf16 rows, or bf16(code x scale)), summed in fp32 over all d_qk in one
// accumulation. The order of every sum is fixed by the shapes: deterministic, and a row's result
// does not depend on the other rows.
#pragma once

#include "../device/launch.h"
#include "warpgroup_key_sources.h"
#include "online_softmax.h"
#include "sparse_decode_kernel.h"

namespace mla::attn {

template <class Wg_, class Source_>
struct WarpgroupCta {  // Source: warpgroup_key_sources.h
  using Wg = Wg_;
  using Source = Source_;
  static constexpr int kDim = Source::kDim;
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
  // P of block j (64 heads x 64 keys) must live in memory that the follower (group 1 - j & 1)
  // releases: for even blocks, where d_qk has one, the rope panel of buffer 0 (half 1, which
  // group 1 releases; P V does not read it); else a P buffer per parity (one, for odd blocks
  // only, with a rope panel).
  static constexpr bool kPInRope = kDim > kDv;
  static constexpr int kPBuffers = kPInRope ? 1 : 2;
  static constexpr size_t kQOff = 0;
  static constexpr size_t kKOff = kQOff + kOperand;  // two key buffers
  static constexpr size_t kPOff = kKOff + 2 * kOperand;
  static constexpr size_t kMaxOff = kPOff + kPBuffers * kPanel;   // float [parity][row]
  static constexpr size_t kSumOff = kMaxOff + 2 * 64 * 4;         // float [group][row]
  static constexpr size_t kFullOff = kSumOff + kGroups * 64 * 4;  // [buffer][half] barriers
  static constexpr size_t kValidOff = kFullOff + 4 * 8;           // uint8 [buffer][key]
  static constexpr size_t kUsed = kValidOff + 2 * kBlockKeys;
  static constexpr size_t kAlign = 1024;  // the operands' swizzle repeats every 1024 bytes
  static constexpr size_t kSmemBytes = kUsed + kAlign;
  static constexpr int kOutPitch = kDv + 8;  // bf16 staging of the outputs, in the key buffers
  static_assert(size_t(64) * kOutPitch * 2 <= 2 * kOperand, "outputs fit the key buffers");

  // A buffer is filled and released in halves: half h holds the value panels of group h (and,
  // for h = 1, the rope panel), and group h alone releases it, after its P V of the block
  // (the leader's half right after its softmax, the follower's one block later). Half h of
  // block j in buffer j & 1 (producer -> leader): an arrival barrier per buffer and half at
  // kFullOff, kArrivals per producer thread (the producer never waits for its copies). Named
  // barriers: half h of buffer j & 1 free again (group h -> producer), P_j and the maxima after
  // block j (leader -> follower), the consumers among themselves, and each group by itself.
  static constexpr int kFullArrivals = kWgProducers * Source::kArrivals;
  static constexpr int kFreeBar = 1, kPBar = 5, kConsumerBar = 7, kGroupBar = 8;
  static constexpr int kHalfPair = Wg::kThreads + kWgProducers;  // a group and the producer
};

// The producer's side of the block barriers (warpgroup_key_sources.h's `bar`).
template <class Cta>
struct ProducerBarriers {
  using Wg = typename Cta::Wg;
  uint32_t full;  // the arrival barriers, [buffer][half]
  MLA_DEVICE MLA_FORCEINLINE void wait_free(int j, int h) const {
    Wg::barrier_sync(Cta::kFreeBar + 2 * (j & 1) + h, Cta::kHalfPair);
  }
  MLA_DEVICE MLA_FORCEINLINE void ready(int j, int h) const {  // this thread's stores into it
    Wg::publish();
    Wg::mbar_arrive(full + 8 * (2 * (j & 1) + h));
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

  const CtaWork w(L, Cta::kRows);
  const int64_t bi = w.bi, si = w.si, h0 = w.h0;
  const int nh = w.nh;
  const KeyRange range{RowKeys(L.p, bi, si), w.k_begin, w.k_end,
                       int((w.k_end - w.k_begin + Cta::kBlockKeys - 1) / Cta::kBlockKeys)};
  const int n = range.n_blocks;
  const uint32_t full = base + uint32_t(Cta::kFullOff);
  if (tid == 0) {
#pragma unroll
    for (int b = 0; b < 4; ++b) Wg::mbar_init(full + 8 * b, Cta::kFullArrivals);
  }
  __syncthreads();  // the arrival barriers are initialized

  if (g == Cta::kGroups) {  // the producer: q, then the key blocks
    Wg::template registers_shrink<Cta::kProducerRegs>();
    // q is read once: it streams through L2 (evict_first).
    copy_queries<Wg, kDim, kWgProducers, true>(L.p, w, smem + Cta::kQOff, q_addr, t);
    typename Cta::Source().template produce<Wg>(L.p, range, kbufs, valid_s, t,
                                                ProducerBarriers<Cta>{full});
    return;
  }
  Wg::template registers_grow<Cta::kConsumerRegs>();

  const auto kbuf = [&](int j) { return base + uint32_t(Cta::kKOff + (j & 1) * Cta::kOperand); };
  const auto p_off = [&](int j) {
    if (Cta::kPInRope) return (j & 1) ? Cta::kPOff : Cta::kKOff + 8 * Cta::kPanel;
    return Cta::kPOff + (j & 1) * Cta::kPanel;
  };
  const uint32_t my_cols = uint32_t(g * 4 * Cta::kPanel);  // this group's value columns

  float o[128];
#pragma unroll
  for (int e = 0; e < 128; ++e) o[e] = 0.0f;
  // This group's frame: O and l are relative to m (rows acc_row(t, 0) and + 8), which after
  // following or leading block j is the maximum of the chain after block j.
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};
  const float score_scale = L.p.scale * kLog2e;

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

  // O += P_j V_j over this group's columns, P from shared memory; one MMA group.
  const auto issue_values = [&](int j) {
    const uint32_t p_addr = base + uint32_t(p_off(j)), v = kbuf(j) + my_cols;
#pragma unroll
    for (int kk = 0; kk < 4; ++kk)
      Wg::values_issue(o, p_addr + uint32_t(kk * 32), v + uint32_t(kk * 2048), 64);
    Wg::commit();
  };

  // O += P_k V_k for block k, led by the other group (whose P_k and maxima are published).
  const auto follow = [&](int k) {
    float to[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) to[r] = max_s[(k & 1) * 64 + Wg::acc_row(t, 2 * r)];
    rescale(to);
    issue_values(k);
    Wg::template wait<0>(o);
    if (k + 2 < n) Wg::barrier_arrive(Cta::kFreeBar + 2 * (k & 1) + g, Cta::kHalfPair);
  };

  // Every MMA group is waited for right after its issue. No group may stay in flight across
  // the loop's back-edge (ptxas then serializes every wgmma of the kernel, without a message;
  // ci/check-wgmma-pipelines.sh); within an iteration it may, which is the next step. The
  // matrix cores still run one group's MMAs under the other's softmax, which is what the
  // schedule is for: from block to block the chain is one P V and one softmax.
  for (int j = g; j < n; j += 2) {  // lead block j, follow block j - 1
    // Block j is the (j / 2)-th fill of its buffer.
    Wg::mbar_wait(full + 8 * (2 * (j & 1)), (j >> 1) & 1);
    Wg::mbar_wait(full + 8 * (2 * (j & 1) + 1), (j >> 1) & 1);
    Wg::publish();  // the copies that landed, to this thread's MMAs
    float s[32];
    Wg::template scores_issue<kDim>(s, q_addr, kbuf(j), 64);
    Wg::template wait<0>(s);
    if (j >= 1) {  // block j - 1 first: its buffer is released as early as it can be
      Wg::barrier_sync(Cta::kPBar + ((j - 1) & 1), Cta::kConsumers);
      follow(j - 1);
    }
    float to[2] = {m[0], m[1]};  // the chain's maxima after block j - 1 (-inf before block 0)
    const uint8_t* valid = valid_s + (j & 1) * Cta::kBlockKeys;
    float mx[2] = {neg_inf(), neg_inf()};
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      s[e] = valid[Wg::acc_col(t, e)] ? s[e] * score_scale : neg_inf();
      mx[(e / 2) % 2] = fmaxf(mx[(e / 2) % 2], s[e]);
    }
    float sub[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      to[r] = fmaxf(to[r], Wg::quad_max(mx[r]));
      sub[r] = to[r] == neg_inf() ? 0.0f : to[r];
      if (t % 4 == 0) max_s[(j & 1) * 64 + Wg::acc_row(t, 2 * r)] = to[r];
    }
    uint8_t* const p_s = smem + p_off(j);
    float rowsum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int e = 0; e < 32; e += 2) {
      const int r = (e / 2) % 2;
      const float p0 = exp2f(s[e] - sub[r]), p1 = exp2f(s[e + 1] - sub[r]);
      rowsum[r] += p0 + p1;
      *reinterpret_cast<uint32_t*>(p_s +
                                   Wg::operand_offset(64, Wg::acc_row(t, e), Wg::acc_col(t, e))) =
          Hw::pack_bf16x2(p0, p1);
    }
    Wg::publish();
    Wg::barrier_arrive(Cta::kPBar + (j & 1), Cta::kConsumers);
    rescale(to);
    l[0] += rowsum[0], l[1] += rowsum[1];
    // P V from the shared P as well (P in registers would need its registers held until the MMA
    // ends, which the compiler does not see): this group's P writes first.
    Wg::barrier_sync(Cta::kGroupBar + g, Wg::kThreads);
    issue_values(j);
    Wg::template wait<0>(o);
    if (j + 2 < n) Wg::barrier_arrive(Cta::kFreeBar + 2 * (j & 1) + g, Cta::kHalfPair);
  }
  if (n >= 1 && ((n - 1) & 1) != g) {  // the last block, led by the other group
    Wg::barrier_sync(Cta::kPBar + ((n - 1) & 1), Cta::kConsumers);
    follow(n - 1);
  }

  // Row sums: lanes of a row, then the two groups in order (both groups end in the same frame:
  // each led or followed the last block).
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float part = Wg::quad_sum(l[r]);
    if (t % 4 == 0) sum_s[g * 64 + Wg::acc_row(t, 2 * r)] = part;
  }
  Wg::barrier_sync(Cta::kConsumerBar, Cta::kConsumers);  // also: every MMA of the CTA is done
  float factor[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int hr = Wg::acc_row(t, 2 * r);
    const float sum = sum_s[hr] + sum_s[64 + hr];
    const bool empty = !(sum > 0.0f);
    const float lse = empty ? 0.0f : (m[r] + log2f(sum)) * kLn2;
    const bool writer = g == 0 && t % 4 == 0 && hr < nh;
    factor[r] = (empty || hr >= nh) ? 0.0f : sink_factor(L.p.sink, L.p.sink_s, h0 + hr, lse) / sum;
    if (writer) {
      L.p.lse[bi * L.p.lse_sb + (h0 + hr) * L.p.lse_sh + si * L.p.lse_ss] =
          empty ? -neg_inf() : lse;
      if (L.max_logits != nullptr)  // prefill: s_q is 1 here
        L.max_logits[bi * L.ml_sb + (h0 + hr) * L.ml_sh] = empty ? neg_inf() : m[r] * kLn2;
    }
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
