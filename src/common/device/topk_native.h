// Native top-k per row (SPEC 6): one block of Scan::kThreads threads per row, a radix selection
// of the K-th best key (topk_order.h) in three passes of 11, 11 and 10 bits, then one ordered
// pass that writes the chosen indices in ascending order. The block-wide prefix sums come from
// the vendor's library through `Scan` (CUB in src/cuda, rocPRIM in src/hip):
//
//   struct Scan {
//     static constexpr int kThreads;
//     using TempStorage = ...;
//     template <int N>   // blocked arrangement: thread t holds items t*N .. t*N+N-1
//     static void exclusive_sum(TempStorage&, int (&in)[N], int (&out)[N], int& total);
//   };
//
// Pass 1 counts the top 11 bits over the row. Pass 2 counts the next 11 bits of the keys in the
// chosen bin and, when the bin holds at most kCandidates keys, copies them to shared memory,
// so pass 3 never reads the row again; a bin beyond that (heavy ties) is read
// from the row once more. The ordered pass scans the row in tiles of kThreads * kItems with the
// block scan, and stops once K indices are written. Every count is order-independent and the
// output order is the index order, so results are deterministic.
#pragma once

#include "../indexer_problem.h"
#include "../topk_order.h"
#include "launch.h"

namespace mla::gpu {

namespace topk_native {
constexpr int kBins = 2048;        // 11-bit digits (the last pass uses 1024 of them)
constexpr int kCandidates = 8192;  // keys of the threshold bin kept in shared memory
constexpr int kItems = 4;          // consecutive logits per thread in the ordered pass
}  // namespace topk_native

template <class Scan>
struct TopkShared {
  static constexpr int kBinsPerThread = topk_native::kBins / Scan::kThreads;
  int hist[topk_native::kBins];
  uint32_t cand_key[topk_native::kCandidates];
  typename Scan::TempStorage scan;
  int cand_count;
  int bin, remaining;
};

// The bin holding the `remaining`-th best key: bins are ranked from the top, thread t owning
// ranks t*N .. t*N+N-1 (bin = kBins - 1 - rank). Sets s.bin and s.remaining (how many keys of
// that bin are still wanted). Ends with a barrier.
template <class Scan>
MLA_DEVICE void find_threshold_bin(TopkShared<Scan>& s, int remaining) {
  constexpr int N = TopkShared<Scan>::kBinsPerThread;
  int count[N], above[N], total;
#pragma unroll
  for (int k = 0; k < N; ++k) count[k] = s.hist[topk_native::kBins - 1 - (threadIdx.x * N + k)];
  Scan::exclusive_sum(s.scan, count, above, total);
#pragma unroll
  for (int k = 0; k < N; ++k)
    if (above[k] < remaining && above[k] + count[k] >= remaining) {
      s.bin = topk_native::kBins - 1 - int(threadIdx.x * N + k);
      s.remaining = remaining - above[k];
    }
  __syncthreads();
}

template <class Scan>
MLA_DEVICE void clear_hist(TopkShared<Scan>& s) {
  for (int b = threadIdx.x; b < topk_native::kBins; b += Scan::kThreads) s.hist[b] = 0;
  __syncthreads();
}

// The K-th best key of x[0, len) (len > k) and how many keys equal to it are taken.
template <class Scan>
MLA_DEVICE void select_kth(TopkShared<Scan>& s, const float* x, int len, int k, uint32_t* kth,
                           int* need) {
  constexpr int T = Scan::kThreads;
  clear_hist(s);
  for (int64_t i = threadIdx.x; i < len; i += T) atomicAdd(&s.hist[topk_key(x[i]) >> 21], 1);
  __syncthreads();
  find_threshold_bin(s, k);
  uint32_t prefix = uint32_t(s.bin) << 21, mask = 0xffe00000u;
  const bool keep = s.hist[s.bin] <= topk_native::kCandidates;
  int remaining = s.remaining;
  __syncthreads();

  clear_hist(s);
  if (threadIdx.x == 0) s.cand_count = 0;
  __syncthreads();
  for (int64_t i = threadIdx.x; i < len; i += T) {
    const uint32_t key = topk_key(x[i]);
    if ((key & mask) != prefix) continue;
    atomicAdd(&s.hist[(key >> 10) & 0x7ffu], 1);
    if (keep) s.cand_key[atomicAdd(&s.cand_count, 1)] = key;
  }
  __syncthreads();
  find_threshold_bin(s, remaining);
  prefix |= uint32_t(s.bin) << 10;
  mask |= 0x001ffc00u;
  remaining = s.remaining;
  __syncthreads();

  clear_hist(s);
  if (keep) {
    for (int c = threadIdx.x; c < s.cand_count; c += T) {
      const uint32_t key = s.cand_key[c];
      if ((key & mask) == prefix) atomicAdd(&s.hist[key & 0x3ffu], 1);
    }
  } else {
    for (int64_t i = threadIdx.x; i < len; i += T) {
      const uint32_t key = topk_key(x[i]);
      if ((key & mask) == prefix) atomicAdd(&s.hist[key & 0x3ffu], 1);
    }
  }
  __syncthreads();
  find_threshold_bin(s, remaining);
  *kth = prefix | uint32_t(s.bin);
  *need = s.remaining;
  __syncthreads();
}

// Writes, in ascending index order, every key better than kth and the first `need` equal to it.
template <class Scan>
MLA_DEVICE void write_selected(TopkShared<Scan>& s, const IndexerTopkProblem& p, int64_t r,
                               const float* x, int len, uint32_t kth, int need) {
  constexpr int T = Scan::kThreads, I = topk_native::kItems;
  int gt_before = 0, eq_before = 0;  // over the tiles already scanned
  for (int64_t base = 0; base < len && gt_before + (eq_before < need ? eq_before : need) < p.k;
       base += T * I) {
    const int64_t first = base + int64_t(threadIdx.x) * I;
    uint32_t key[I];
    int packed[1] = {0}, offset[1], total;
#pragma unroll
    for (int k = 0; k < I; ++k) {
      key[k] = first + k < len ? topk_key(x[first + k]) : 0;
      const bool valid = first + k < len;
      packed[0] += (valid && key[k] > kth) ? 1 : (valid && key[k] == kth) ? (1 << 16) : 0;
    }
    // Tile counts stay below 2^16, so better and equal keys share one scan: low and high half.
    Scan::exclusive_sum(s.scan, packed, offset, total);
    int gt = gt_before + (offset[0] & 0xffff), eq = eq_before + (offset[0] >> 16);
#pragma unroll
    for (int k = 0; k < I; ++k) {
      if (first + k >= len) break;
      if (key[k] > kth) {
        p.write(r, gt + (eq < need ? eq : need), first + k);
        ++gt;
      } else if (key[k] == kth) {
        if (eq < need) p.write(r, gt + eq, first + k);
        ++eq;
      }
    }
    gt_before += total & 0xffff;
    eq_before += total >> 16;
    __syncthreads();  // the scan storage is reused by the next tile
  }
}

template <class Scan>
__global__ void __launch_bounds__(Scan::kThreads) indexer_topk_native_kernel(IndexerTopkProblem p) {
  __shared__ TopkShared<Scan> s;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const int len = int(p.length(r));
    const float* x = p.logits + r * p.logits_s + p.start(r);
    if (len <= p.k) {
      for (int64_t pos = threadIdx.x; pos < p.k; pos += Scan::kThreads)
        p.write(r, pos, pos < len ? pos : -1);
      continue;
    }
    uint32_t kth;
    int need;
    select_kth(s, x, len, int(p.k), &kth, &need);
    write_selected(s, p, r, x, len, kth, need);
  }
}

template <class Scan>
mla_status launch_indexer_topk_native(const IndexerTopkProblem& p, mla_stream stream) {
  static_assert(topk_native::kBins % Scan::kThreads == 0, "whole bins per thread");
  static_assert(Scan::kThreads * topk_native::kItems < (1 << 16), "tile counts fit 16 bits");
  const unsigned blocks = unsigned(p.rows < 65536 ? p.rows : 65536);
  indexer_topk_native_kernel<Scan><<<blocks, Scan::kThreads, 0, as_stream(stream)>>>(p);
  return check_launch("indexer_topk_native_kernel");
}

}  // namespace mla::gpu
