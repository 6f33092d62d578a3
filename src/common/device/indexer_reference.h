// Device reference of the lightning indexer (SPEC 6). Logits: one thread per output element,
// decoding q and k with the exact codecs and summing in the host backend's order. Top-k: one
// block per row, the host backend's radix selection with 8-bit passes and a plain
// shared-memory scan for the ordered pass. Simple on purpose: the baseline and the checker of
// the native kernels.
#pragma once

#include "../indexer_problem.h"
#include "../topk_order.h"
#include "launch.h"

namespace mla::gpu {

namespace indexer_ref {
constexpr int kThreads = 256;
}

// sum_h relu(<q_h, k> * scale) * w_h, heads in order, each dot in order of d.
MLA_DEVICE MLA_FORCEINLINE float reference_score(const uint8_t* q, int64_t q_sh, const float* w,
                                                 int64_t h, int64_t d, const uint8_t* k,
                                                 float scale, Fp8 fp8) {
  float sum = 0.0f;
  for (int64_t hh = 0; hh < h; ++hh) {
    float dot = 0.0f;
    for (int64_t c = 0; c < d; ++c)
      dot += fp8_to_float(q[hh * q_sh + c], fp8) * fp8_to_float(k[c], fp8);
    const float s = dot * scale;
    sum += (s > 0.0f ? s : 0.0f) * w[hh];
  }
  return sum;
}

__global__ void __launch_bounds__(indexer_ref::kThreads)
    indexer_logits_reference_kernel(IndexerLogitsProblem p) {
  const float neg_inf = -float_of(0x7f800000u);
  for (int64_t e = global_thread(); e < p.m * p.n; e += global_threads()) {
    const int64_t i = e / p.n, j = e % p.n;
    float v = neg_inf;
    if (j >= p.key_lo(i) && j < p.key_hi(i))
      v = reference_score(p.q + i * p.q_sm, p.q_sh, p.w + i * p.w_s, p.h, p.d, p.k + j * p.k_s,
                          p.k_scale[j * p.k_scale_s], p.fp8);
    p.logits[i * p.logits_s + j] = v;
  }
}

__global__ void __launch_bounds__(indexer_ref::kThreads)
    indexer_paged_logits_reference_kernel(IndexerPagedLogitsProblem p) {
  const float neg_inf = -float_of(0x7f800000u);
  for (int64_t e = global_thread(); e < p.rows() * p.max_ctx; e += global_threads()) {
    const int64_t r = e / p.max_ctx, pos = e % p.max_ctx;
    const int64_t b = r / p.next_n, j = r % p.next_n;
    const uint8_t* page = pos < p.valid_end(b, j) ? p.page(b, pos) : nullptr;
    float v = neg_inf;
    if (page != nullptr) {
      const int64_t t = pos % kIndexerPageTokens;
      const float scale = load_as<float>(page + kIndexerPageTokens * p.d + 4 * t);
      v = reference_score(p.q + b * p.q_sb + j * p.q_sn, p.q_sh, p.w + r * p.w_s, p.h, p.d,
                          page + t * p.d, scale, p.fp8);
    }
    p.logits[r * p.logits_s + pos] = v;
  }
}

__global__ void __launch_bounds__(indexer_ref::kThreads)
    indexer_topk_reference_kernel(IndexerTopkProblem p) {
  using indexer_ref::kThreads;
  __shared__ int hist[256];
  __shared__ int gt_scan[kThreads], eq_scan[kThreads];
  __shared__ uint32_t s_prefix;
  __shared__ int s_remaining;
  const int tid = threadIdx.x;
  for (int64_t r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const int64_t len = p.length(r);
    const float* x = p.logits + r * p.logits_s + p.start(r);
    if (len <= p.k) {
      for (int64_t pos = tid; pos < p.k; pos += kThreads) p.write(r, pos, pos < len ? pos : -1);
      continue;
    }
    // The K-th best key, 8 bits at a time.
    if (tid == 0) s_prefix = 0, s_remaining = int(p.k);
    uint32_t mask = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
      hist[tid % 256] = 0;
      __syncthreads();
      const uint32_t prefix = s_prefix;
      for (int64_t i = tid; i < len; i += kThreads) {
        const uint32_t key = topk_key(x[i]);
        if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 0xffu], 1);
      }
      __syncthreads();
      if (tid == 0) {
        int bin = 255, remaining = s_remaining;
        while (hist[bin] < remaining) remaining -= hist[bin--];
        s_prefix = prefix | (uint32_t(bin) << shift);
        s_remaining = remaining;
      }
      mask |= 0xffu << shift;
      __syncthreads();
    }
    const uint32_t kth = s_prefix;
    const int need = s_remaining;
    // In index order: every better key, and the first `need` keys equal to the K-th.
    int gt_before = 0, eq_before = 0;
    for (int64_t base = 0; base < len; base += kThreads) {
      const int64_t i = base + tid;
      const uint32_t key = i < len ? topk_key(x[i]) : 0;
      const bool gt = i < len && key > kth, eq = i < len && key == kth;
      gt_scan[tid] = gt, eq_scan[tid] = eq;
      __syncthreads();
      for (int step = 1; step < kThreads; step *= 2) {  // inclusive Hillis-Steele scans
        const int g = tid >= step ? gt_scan[tid - step] : 0;
        const int q = tid >= step ? eq_scan[tid - step] : 0;
        __syncthreads();
        gt_scan[tid] += g, eq_scan[tid] += q;
        __syncthreads();
      }
      const int eq_rank = eq_before + eq_scan[tid] - eq;  // equal keys before this one
      const int gt_rank = gt_before + gt_scan[tid] - gt;
      if (gt || (eq && eq_rank < need)) p.write(r, gt_rank + (eq_rank < need ? eq_rank : need), i);
      gt_before += gt_scan[kThreads - 1], eq_before += eq_scan[kThreads - 1];
      __syncthreads();
    }
  }
}

mla_status reference_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream) {
  indexer_logits_reference_kernel<<<grid_for(p.m * p.n, indexer_ref::kThreads),
                                    indexer_ref::kThreads, 0, as_stream(stream)>>>(p);
  return check_launch("indexer_logits_reference_kernel");
}

mla_status reference_indexer_paged_logits(const IndexerPagedLogitsProblem& p, mla_stream stream) {
  indexer_paged_logits_reference_kernel<<<grid_for(p.rows() * p.max_ctx, indexer_ref::kThreads),
                                          indexer_ref::kThreads, 0, as_stream(stream)>>>(p);
  return check_launch("indexer_paged_logits_reference_kernel");
}

mla_status reference_indexer_topk(const IndexerTopkProblem& p, mla_stream stream) {
  const unsigned blocks = unsigned(p.rows < 65536 ? p.rows : 65536);
  indexer_topk_reference_kernel<<<blocks, indexer_ref::kThreads, 0, as_stream(stream)>>>(p);
  return check_launch("indexer_topk_reference_kernel");
}

}  // namespace mla::gpu
