// Host norm_rope: each row is read whole into fp32 scratch before anything is written, so
// that in-place calls are safe.
#include <algorithm>
#include <vector>

#include "../fused_math.h"
#include "host_fused.h"
#include "parallel.h"

namespace mla::host {
namespace {

constexpr int64_t kRowsPerTask = 64;

void norm_rope_row(const NormRopeProblem& p, int64_t row, float* y) {
  const int64_t n = p.token_of(row), h = row - n * p.h;
  const bf16_bits* x = p.x + n * p.x_sn + h * p.x_sh;
  float sum_sq = 0.0f;
  for (int64_t i = 0; i < p.d; ++i) {
    y[i] = bf16_to_float(x[i]);
    sum_sq += y[i] * y[i];
  }
  if (p.normalize) {
    const float scale = rms_scale(sum_sq, p.d, p.eps);
    for (int64_t i = 0; i < p.d; ++i) y[i] = y[i] * scale * norm_weight(p, i);
  }
  if (const float* tab = rope_row(p, n)) {
    float* rope = y + (p.d - kRopeDim);
    for (int i = 0; i < kRopeDim / 2; ++i) rotate_pair(p, tab, i, rope[2 * i], rope[2 * i + 1]);
  }
  bf16_bits* out = p.dst() + n * p.dst_sn() + h * p.dst_sh();
  for (int64_t i = 0; i < p.d; ++i) out[i] = float_to_bf16(y[i]);
}

}  // namespace

mla_status norm_rope(const NormRopeProblem& p, int threads) {
  parallel_for(ceil_div(p.rows(), kRowsPerTask), threads, [&](int64_t task, int) {
    std::vector<float> y(size_t(p.d));
    const int64_t end = std::min(p.rows(), (task + 1) * kRowsPerTask);
    for (int64_t row = task * kRowsPerTask; row < end; ++row) norm_rope_row(p, row, y.data());
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
