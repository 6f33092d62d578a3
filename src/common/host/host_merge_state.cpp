// Host merge_state: the weights of fused_math.h per (token, head), then one pass over the row.
#include "../fused_math.h"
#include "host_fused.h"
#include "parallel_chunks.h"

namespace mla::host {

mla_status merge_state(const MergeStateProblem& p, int threads) {
  parallel_for_chunked<64>(p.rows(), threads, [&](int64_t row) {
    const int64_t n = p.token_of(row), h = row - n * p.h;
    const MergeWeights w =
        merge_weights(p.lse_a[n * p.la_sn + h * p.la_sh], p.lse_b[n * p.lb_sn + h * p.lb_sh]);
    const bf16_bits* va = p.v_a + n * p.va_sn + h * p.va_sh;
    const bf16_bits* vb = p.v_b + n * p.vb_sn + h * p.vb_sh;
    bf16_bits* out = p.v_out + n * p.vo_sn + h * p.vo_sh;
    for (int64_t i = 0; i < p.d; ++i)
      out[i] = float_to_bf16(merge_value(w, bf16_to_float(va[i]), bf16_to_float(vb[i])));
    if (p.lse_out != nullptr) p.lse_out[n * p.lo_sn + h * p.lo_sh] = w.lse;
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
