// The key source of the warpgroup kernel (warpgroup_attention_kernel.h) for decode's cluster
// pairs: the two CTAs of a cluster take the two 64-head tiles of one query row and key range,
// so they read the same keys. Each CTA's producer warpgroup loads half of every block of 64
// keys (keys [32 rank, 32 rank + 32)), dequantizes it to bf16(code x scale) into its own
// buffer, and sends those rows to the other CTA's buffer with the bulk copy engine
// (Wg::copy_to_peer: each 64-row panel's half is 4 KB in one piece, the swizzle staying within
// a row), whose landing completes the transaction bytes of the buffer's arrival barriers there.
// Per CTA that halves the loads and the dequantization (the limits measured in
// bench/RESULTS.md). Measured: storing into the other CTA from the registers (st.async or
// st.shared::cluster) holds each store's registers for a round trip between SMs, and the
// producer, short of registers, waited on them (bench/RESULTS.md).
//
// Signals, per block j in buffer b = j & 1 and half h (value panels 0-3; 4.. with the rope):
//   full[b][h]  (this CTA's) kWgProducers arrivals of this CTA's producer, made after its
//               stores (and its valid flags for all 64 keys, read with plain loads), the first
//               of which expects the half's bytes from the other CTA's copies;
//   free        (as for one CTA) this CTA's consumers release each half of buffer b to this
//               CTA's producer (a named barrier); the producer then tells the other CTA's
//               producer with one arrival on its pair_free[b], and waits for the other's on its
//               own: only then may either write buffer b (its own rows by stores, the other's
//               by copies, which also read the buffer's own rows: the other CTA's consumers,
//               whose release this waits for, have had them land).
// Every arrival and copy into the other CTA is waited for there (its consumers wait for every
// block's bytes, its producer for every pair_free arrival); a cluster barrier of every thread
// at the end (the kernel) keeps each CTA until the copies out of its memory have landed.
#pragma once

#include "warpgroup_key_sources.h"

// The producer's registers and the blocks whose loads it holds in flight: macros, so that the
// variants of bench/RESULTS.md can be rebuilt (120 and 1 measured best; at 2, with 136-152
// registers, the consumers spill 1.8 KB).
#ifndef MLA_PAIR_PRODUCER_REGS
#define MLA_PAIR_PRODUCER_REGS 120
#endif
#ifndef MLA_PAIR_PREFETCH
#define MLA_PAIR_PREFETCH 1
#endif

namespace mla::attn {

template <class Fmt>
struct PairRegisterKeys {
  static constexpr int kDim = Fmt::kDim;
  static constexpr bool kCodeValues = Fmt::kCodeValues;
  static constexpr bool kPair = true;
  static constexpr int kProducerRegs = MLA_PAIR_PRODUCER_REGS;  // half a block's raw bytes
  static constexpr int kArrivals = 1;                           // per block, half and thread
  static constexpr int kKeys = kWgBlockKeys / 2;
  using Loader = KeyLoader<Fmt, kKeys, kWgProducers, false, true>;
  // The bytes that the other CTA's copies land in one CTA's half h of a buffer per block.
  static constexpr uint32_t half_bytes(int h) {
    return uint32_t(kKeys) * uint32_t(h == 0 ? 256 : kDim - 256) * 2u;
  }

  // kDepth blocks' loads in flight (registers: kDepth x KeyLoader::raw): block j + kDepth's
  // are issued once block j is stored.
  static constexpr int kDepth = MLA_PAIR_PREFETCH;

  template <class Wg, class Bar>
  MLA_DEVICE MLA_FORCEINLINE void produce(const SparseDecodeProblem& p, const KeyRange& r,
                                          uint8_t* kbufs, uint8_t* valid_s, int pt,
                                          const Bar& bar) const {
    const int rank = Wg::cluster_rank();
    const int first = rank * kKeys;
    Loader loaders[kDepth];
#pragma unroll
    for (int d = 0; d < kDepth; ++d) loaders[d] = Loader(pt);
    const int mine = first + loaders[0].key;
    const uint32_t own_bufs = Wg::shared_address(kbufs);
    const uint32_t peer_bufs = Wg::peer_shared_address(own_bufs, rank ^ 1);
    const uint32_t peer_full = Wg::peer_shared_address(bar.full, rank ^ 1);
    const uint32_t peer_free = Wg::peer_shared_address(bar.pair_free, rank ^ 1);
    const int n = r.n_blocks;
#pragma unroll
    for (int d = 0; d < kDepth; ++d)
      if (d < n)
        loaders[d].issue(p, r.k_begin + int64_t(d) * kWgBlockKeys + mine, r.k_end,
                         r.index(d, mine));
    int32_t next = r.index(kDepth, mine);
    // Thread pt < 64 writes the valid flag of key pt of each block (a skipped key reads nothing).
    int32_t flag_index = pt < kWgBlockKeys ? r.index(0, pt) : -1;

    // Block j from `loader`, which then takes block j + kDepth.
    const auto step = [&](int j, Loader& loader) {
      const int b = j & 1;
      if (j >= 2) {  // buffer b free in this CTA, then in both
        bar.wait_free(j, 0);
        bar.wait_free(j, 1);
        if (pt == 0) Wg::mbar_arrive_peer(peer_free + 8 * b);
        // This thread reads nothing that the other CTA wrote: the wait orders this CTA's writes
        // after the other's reads, which its release covers. (An acquire at cluster scope
        // invalidates L1 at every poll.)
        Wg::mbar_wait(bar.pair_free + 8 * b, ((j - 2) >> 1) & 1);
      }
      if (pt < kWgBlockKeys) {
        const int64_t pos = r.k_begin + int64_t(j) * kWgBlockKeys + pt;
        const KvCacheView& kv = pos < p.topk ? p.kv : p.extra_kv;
        valid_s[b * kWgBlockKeys + pt] = kv.valid_slot(flag_index) ? 1 : 0;
      }
      const uint32_t off = uint32_t(b) * uint32_t(kWgBlockKeys * kDim * 2);
      const uint32_t full = bar.full + 16u * uint32_t(b);
      loader.template store<typename Wg::Hw>(PanelKeys<Wg>{kbufs + off, first}, nullptr, nullptr);
      if (j == 0) Wg::template copy_wait<0>();  // q's copies landed
      Wg::publish();                            // the stores (and q), to the MMAs and to the copies
      bar.producers_sync();                     // ... of every producer thread
      if (pt == 0) {
        const uint32_t bar = peer_full + 16u * uint32_t(b);
        send_pair_rows<Wg, kDim>(own_bufs, peer_bufs, off + uint32_t(first) * 128u, bar, bar + 8u);
      }
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        if (pt == 0) {
          Wg::mbar_arrive_expect(full + 8u * uint32_t(h), half_bytes(h));
        } else {
          Wg::mbar_arrive(full + 8u * uint32_t(h));
        }
      }
      if (j + kDepth < n) {
        loader.issue(p, r.k_begin + int64_t(j + kDepth) * kWgBlockKeys + mine, r.k_end, next);
        next = r.index(j + kDepth + 1, mine);
      }
      flag_index = pt < kWgBlockKeys ? r.index(j + 1, pt) : -1;
    };
    for (int j = 0; j < n; j += kDepth) {
#pragma unroll
      for (int d = 0; d < kDepth; ++d)
        if (j + d < n) step(j + d, loaders[d]);
    }
    Wg::template copy_wait<0>();
  }
};

}  // namespace mla::attn
