// Device concat_mla_k / concat_mla_absorb_q (SPEC 7): pure data movement, so 16-byte copies
// wherever every pointer and stride allows them, one row (token, head) per group of lanes.
#pragma once

#include "bf16_chunks.h"
#include "kernels_fused.h"
#include "row_lanes.h"

namespace mla::gpu {

template <bool kVector>
__global__ void __launch_bounds__(kRowThreads) concat_kernel(ConcatProblem p, RowLanes l) {
  constexpr int kVec = chunk_elems<kVector, 1>();
  const int group = int(threadIdx.x) / l.lanes, lane = int(threadIdx.x) % l.lanes;
  if (group >= l.rows_per_block) return;
  const int chunks_a = int(p.d_a / kVec), chunks = int(p.d_out() / kVec);
  const int64_t rows = p.rows();
  for (int64_t row = int64_t(blockIdx.x) * l.rows_per_block + group; row < rows;
       row += int64_t(gridDim.x) * l.rows_per_block) {
    const int64_t n = p.token_of(row), h = row - n * p.h;
    bf16_bits* out = p.out + n * p.out_sn + h * p.out_sh;
    const bf16_bits* a = p.a + n * p.a_sn + h * p.a_sh;
    const bf16_bits* b = p.b + n * p.b_sn + h * p.b_sh;
    for (int c = lane; c < chunks; c += l.lanes) {
      const bf16_bits* src = c < chunks_a ? a + c * kVec : b + (c - chunks_a) * kVec;
      copy_chunk<kVec, kVector>(out + c * kVec, src);
    }
  }
}

mla_status reference_concat(const ConcatProblem& p, mla_stream stream) {
  const bool vec = p.d_a % 8 == 0 && p.d_b % 8 == 0 &&
                   vec16_ok(p.a, {{p.n, p.a_sn}, {p.h, p.a_sh}}) &&
                   vec16_ok(p.b, {{p.n, p.b_sn}, {p.h, p.b_sh}}) &&
                   vec16_ok(p.out, {{p.n, p.out_sn}, {p.h, p.out_sh}});
  const RowLanes l = row_lanes(vec ? p.d_out() / 8 : p.d_out());
  const unsigned blocks = row_blocks(p.rows(), l.rows_per_block);
  if (vec)
    concat_kernel<true><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p, l);
  else
    concat_kernel<false><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p, l);
  return check_launch("concat_kernel");
}

}  // namespace mla::gpu
