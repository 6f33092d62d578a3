/* The judge and the float64 reference of decode_v40 (decode_check.h). */
#include "decode_check.h"

#include <math.h>
#include <stdlib.h>

decode_error compare_values(const double* a, const double* r, size_t n, double abs_tol,
                            double rel_tol) {
  decode_error e = {0.0, 0.0, 0.0};
  double dot = 0.0, norms = 0.0;
  size_t i;
  for (i = 0; i < n; ++i) {
    const double diff = fabs(a[i] - r[i]);
    const double allowed = fmax(abs_tol, rel_tol * fabs(r[i]));
    if (diff > e.max_abs || diff != diff) e.max_abs = diff; /* a NaN is the worst error */
    if (diff / allowed > e.worst || diff != diff) e.worst = diff / allowed;
    dot += a[i] * r[i];
    norms += a[i] * a[i] + r[i] * r[i];
  }
  e.cos_err = norms > 0.0 ? 1.0 - 2.0 * dot / norms : 0.0;
  return e;
}

void reference_decode(const double* q, const double* keys, const double* sink, int64_t batch,
                      int64_t h_q, int64_t n_keys, int64_t d, double scale, double* out,
                      double* lse) {
  double* logits = (double*)malloc((size_t)n_keys * sizeof(double));
  int64_t i, h, j, c;
  if (logits == NULL) abort();
  for (i = 0; i < batch; ++i) {
    const double* k = keys + i * n_keys * d;
    for (h = 0; h < h_q; ++h) {
      const double* qh = q + (i * h_q + h) * d;
      double* o = out + (i * h_q + h) * d;
      double m = -INFINITY, sum = 0.0, keep;
      for (j = 0; j < n_keys; ++j) {
        double s = 0.0;
        for (c = 0; c < d; ++c) s += qh[c] * k[j * d + c];
        logits[j] = s * scale;
        m = fmax(m, logits[j]);
      }
      for (c = 0; c < d; ++c) o[c] = 0.0;
      for (j = 0; j < n_keys; ++j) {
        const double w = exp(logits[j] - m);
        sum += w;
        for (c = 0; c < d; ++c) o[c] += w * k[j * d + c];
      }
      lse[i * h_q + h] = m + log(sum);
      keep = 1.0 / (1.0 + exp(sink[h] - lse[i * h_q + h])); /* the attention sink */
      for (c = 0; c < d; ++c) o[c] = o[c] / sum * keep;
    }
  }
  free(logits);
}
