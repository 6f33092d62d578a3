// Merging the key ranges of split rows (decode_plan.h): each range left its output normalized
// by its own sum, o_s, and its log-sum-exp lse_s (-inf: no valid key). The row's result is
//   lse = log(sum_s exp(lse_s)),  out = sum_s exp(lse_s - lse) o_s,  times the sink factor,
// summed in range order (deterministic, and the same for a row whatever the batch).
#pragma once

#include "../device/launch.h"
#include "sparse_decode_kernel.h"

namespace mla::attn {

constexpr int kCombineThreads = 128;  // 4 output columns each

// A template only so that the header may be included by several translation units.
template <int kThreads>
__global__ void __launch_bounds__(kThreads)
    decode_combine_kernel(const DecodeLaunch L, int rows_per_cta) {
  static_assert(kThreads * 4 == kDv, "four output columns per thread");
  const int64_t pairs = L.p.rows() * L.p.h_q;
  const int col = 4 * int(threadIdx.x);
  for (int64_t pair = blockIdx.x; pair < pairs; pair += gridDim.x) {
    const int64_t row = pair / L.p.h_q, h = pair % L.p.h_q;
    const int64_t ht = h / rows_per_cta, hl = h % rows_per_cta;
    const int64_t cta0 = (row * L.head_tiles + ht) * L.splits;
    const float* lse_s = L.lse_part + cta0 * rows_per_cta + hl;
    float m = neg_inf();
    bool nan = false;  // a range with a NaN key: the row's lse and out are NaN
    for (int64_t s = 0; s < L.splits; ++s) {
      m = fmaxf(m, lse_s[s * rows_per_cta]);
      nan = nan || lse_s[s * rows_per_cta] != lse_s[s * rows_per_cta];
    }
    const int64_t bi = row / L.p.s_q, si = row % L.p.s_q;
    bf16_bits* out = L.p.out + bi * L.p.out_sb + si * L.p.out_ss + h * L.p.out_sh + col;
    float* lse_out = L.p.lse + bi * L.p.lse_sb + h * L.p.lse_sh + si * L.p.lse_ss;
    if (m == neg_inf() && !nan) {  // no valid key in any range
#pragma unroll
      for (int k = 0; k < 4; ++k) out[k] = 0;
      if (threadIdx.x == 0) *lse_out = -neg_inf();
      continue;
    }
    float sum = 0.0f;
    for (int64_t s = 0; s < L.splits; ++s) sum += expf(lse_s[s * rows_per_cta] - m);
    const float lse = m + logf(sum);
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int64_t s = 0; s < L.splits; ++s) {
      const float w = expf(lse_s[s * rows_per_cta] - lse);
      const float4 v =
          *reinterpret_cast<const float4*>(L.o_part + ((cta0 + s) * rows_per_cta + hl) * kDv + col);
      acc[0] += w * v.x, acc[1] += w * v.y, acc[2] += w * v.z, acc[3] += w * v.w;
    }
    const float f = sink_factor(L.p.sink, L.p.sink_s, h, lse);
#pragma unroll
    for (int k = 0; k < 4; ++k) out[k] = float_to_bf16(acc[k] * f);
    if (threadIdx.x == 0) *lse_out = lse;
  }
}

}  // namespace mla::attn
