// A split range's output (decode_plan.h) from a 64-row warpgroup CTA: O x factor, as fp32
// partials for the combine (split_combine.h), straight from the accumulator registers of the
// warpgroup tile (warpgroup_dequant_kernel.h, warpgroup_attention_kernel.h).
#pragma once

#include "sparse_decode_kernel.h"

namespace mla::attn {

// Thread t of warpgroup g, whose accumulators o hold value columns [256 g, 256 g + 256) of the
// rows of CtaWork w's tile of `rows` heads (factor[r]: rows acc_row(t, 2 r) and + 8).
template <class Wg>
MLA_DEVICE MLA_FORCEINLINE void store_partial_rows(const DecodeLaunch& L, const CtaWork& w,
                                                   int rows, const float (&o)[128],
                                                   const float (&factor)[2], int g, int t) {
#pragma unroll
  for (int e = 0; e < 128; e += 2) {
    const int hr = Wg::acc_row(t, e), col = g * 256 + Wg::acc_col(t, e);
    const float f = factor[(e / 2) % 2];
    if (hr < w.nh)
      *reinterpret_cast<float2*>(L.o_part + (w.cta * rows + hr) * kDv + col) =
          make_float2(o[e] * f, o[e + 1] * f);
  }
}

}  // namespace mla::attn
