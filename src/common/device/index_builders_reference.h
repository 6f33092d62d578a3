// Device kernels of the V4 prefill index builders (SPEC 5) over the shared integer rules of
// index_builder_rules.h, so that they give the host's integers exactly.
//  - build_swa_token_ids: one block scans the requests (batches are small), then every entry
//    of the ids finds its request by binary search over the offsets just written: the grid
//    depends only on the capacity, never on lengths the host cannot see.
//  - combine_topk_swa_indices: one block per row writes the whole row.
#pragma once

#include "../index_builder_rules.h"
#include "kernels_index_builders.h"
#include "launch.h"

namespace mla::gpu {

namespace index_ref {
constexpr int kScanThreads = 1024;
constexpr int kThreads = 256;
constexpr int kRowThreads = 128;
}  // namespace index_ref

MLA_DEVICE MLA_FORCEINLINE int32_t offset32(int64_t v) {
  return int32_t(v < 2147483647LL ? v : 2147483647LL);
}

// Gather lengths, first positions and the exclusive prefix sum of the gather lengths, a tile
// of kScanThreads requests at a time (Hillis-Steele scan in shared memory).
__global__ void __launch_bounds__(index_ref::kScanThreads)
    swa_offsets_kernel(SwaTokenIdsProblem p) {
  using index_ref::kScanThreads;
  __shared__ int64_t scan[kScanThreads];
  const int tid = threadIdx.x;
  int64_t carry = 0;
  for (int64_t r0 = 0; r0 < p.reqs; r0 += kScanThreads) {
    const int64_t r = r0 + tid;
    int64_t g = 0;
    if (r < p.reqs) {
      const int64_t seq = p.seq_lens[r];
      g = swa_gather_len(seq, p.extend_lens[r], p.window);
      if (p.first_pos.present()) p.first_pos[r] = int32_t(seq - g);
      if (p.gather_lens.present()) p.gather_lens[r] = int32_t(g);
    }
    scan[tid] = g;
    __syncthreads();
    for (int step = 1; step < kScanThreads; step <<= 1) {
      const int64_t add = tid >= step ? scan[tid - step] : 0;
      __syncthreads();
      scan[tid] += add;
      __syncthreads();
    }
    if (r < p.reqs) p.offsets[r] = offset32(carry + scan[tid] - g);
    carry += scan[kScanThreads - 1];
    __syncthreads();  // the next tile overwrites scan[]
  }
  if (tid == 0) p.offsets[p.reqs] = offset32(carry);
}

__global__ void __launch_bounds__(index_ref::kThreads) swa_ids_kernel(SwaTokenIdsProblem p) {
  for (int64_t q = global_thread(); q < p.capacity; q += global_threads())
    p.ids[q] = swa_ids_entry(p, q);
}

__global__ void __launch_bounds__(index_ref::kRowThreads)
    combine_topk_swa_kernel(CombineIndicesProblem p) {
  for (int64_t t = blockIdx.x; t < p.rows; t += gridDim.x) {
    const CombinedRow row = combined_row(p, t);  // same loads in every thread: broadcasts
    int32_t* out = p.out + t * p.out_s;
    for (int64_t j = threadIdx.x; j < p.width; j += blockDim.x)
      out[j] = combined_entry(p, t, row, j);
    if (threadIdx.x == 0) p.lens[t] = to_index32(row.topk_len + row.swa_len);
  }
}

mla_status reference_build_swa_token_ids(const SwaTokenIdsProblem& p, mla_stream stream) {
  using namespace index_ref;
  swa_offsets_kernel<<<1, kScanThreads, 0, as_stream(stream)>>>(p);
  MLA_TRY(check_launch("swa_offsets_kernel"));
  if (p.capacity == 0) return MLA_STATUS_SUCCESS;
  swa_ids_kernel<<<grid_for(p.capacity, kThreads), kThreads, 0, as_stream(stream)>>>(p);
  return check_launch("swa_ids_kernel");
}

mla_status reference_combine_topk_swa_indices(const CombineIndicesProblem& p, mla_stream stream) {
  using namespace index_ref;
  combine_topk_swa_kernel<<<grid_for(p.rows, 1), kRowThreads, 0, as_stream(stream)>>>(p);
  return check_launch("combine_topk_swa_kernel");
}

}  // namespace mla::gpu
