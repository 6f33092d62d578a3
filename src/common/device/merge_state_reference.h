// Device merge_state (SPEC 7): the weights of fused_math.h per (token, head), then 16-byte
// chunks of both states where alignment allows. The state loads do not wait for the lse loads
// (no branch on the weights between them), so both round trips to memory overlap; an empty
// side has weight 0 and merge_value never uses its values.
#pragma once

#include "../fused_math.h"
#include "bf16_chunks.h"
#include "kernels_fused.h"
#include "row_lanes.h"

namespace mla::gpu {

template <bool kVector>
__global__ void __launch_bounds__(kRowThreads) merge_state_kernel(MergeStateProblem p, RowLanes l) {
  constexpr int kVec = chunk_elems<kVector, 1>();
  const int group = int(threadIdx.x) / l.lanes, lane = int(threadIdx.x) % l.lanes;
  if (group >= l.rows_per_block) return;
  const int chunks = int(p.d / kVec);
  const int64_t rows = p.rows();
  for (int64_t row = int64_t(blockIdx.x) * l.rows_per_block + group; row < rows;
       row += int64_t(gridDim.x) * l.rows_per_block) {
    const int64_t n = p.token_of(row), h = row - n * p.h;
    const float lse_a = p.lse_a[n * p.la_sn + h * p.la_sh];
    const float lse_b = p.lse_b[n * p.lb_sn + h * p.lb_sh];
    const bf16_bits* va = p.v_a + n * p.va_sn + h * p.va_sh;
    const bf16_bits* vb = p.v_b + n * p.vb_sn + h * p.vb_sh;
    bf16_bits* out = p.v_out + n * p.vo_sn + h * p.vo_sh;
    const MergeWeights w = merge_weights(lse_a, lse_b);
    for (int c = lane; c < chunks; c += l.lanes) {
      float a[kVec], b[kVec], v[kVec];
      load_chunk<kVec, kVector>(va + c * kVec, a);
      load_chunk<kVec, kVector>(vb + c * kVec, b);
#pragma unroll
      for (int i = 0; i < kVec; ++i) v[i] = merge_value(w, a[i], b[i]);
      store_chunk<kVec, kVector>(out + c * kVec, v);
    }
    if (lane == 0 && p.lse_out != nullptr) p.lse_out[n * p.lo_sn + h * p.lo_sh] = w.lse;
  }
}

mla_status reference_merge_state(const MergeStateProblem& p, mla_stream stream) {
  const bool vec = p.d % 8 == 0 && vec16_ok(p.v_a, {{p.n, p.va_sn}, {p.h, p.va_sh}}) &&
                   vec16_ok(p.v_b, {{p.n, p.vb_sn}, {p.h, p.vb_sh}}) &&
                   vec16_ok(p.v_out, {{p.n, p.vo_sn}, {p.h, p.vo_sh}});
  const RowLanes l = row_lanes(vec ? p.d / 8 : p.d);
  const unsigned blocks = row_blocks(p.rows(), l.rows_per_block);
  if (vec)
    merge_state_kernel<true><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p, l);
  else
    merge_state_kernel<false><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p, l);
  return check_launch("merge_state_kernel");
}

}  // namespace mla::gpu
