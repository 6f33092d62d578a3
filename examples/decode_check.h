/* How decode_v40 judges its own result, by SPEC 8 (docs/SPEC.md): an element passes if
 * |a - r| <= abs_tol or |a - r| <= rel_tol * |r|, and the cosine error of out,
 * 1 - 2 sum(a r) / sum(a^2 + r^2), stays under its limit. C99. */
#ifndef MLA_EXAMPLES_DECODE_CHECK_H_
#define MLA_EXAMPLES_DECODE_CHECK_H_

#include <stddef.h>
#include <stdint.h>

/* SPEC 8 tolerances of sparse decode. */
#define DECODE_OUT_ABS 1e-3
#define DECODE_OUT_REL (2.01 / 128)
#define DECODE_OUT_COS 5e-6
#define DECODE_LSE_ABS 1e-6
#define DECODE_LSE_REL (8.01 / 65536)

typedef struct decode_error {
  double max_abs; /* largest |a - r| */
  double worst;   /* largest |a - r| / (what SPEC 8 allows at that element): <= 1 passes */
  double cos_err; /* 1 - 2 sum(a r) / sum(a^2 + r^2) */
} decode_error;

/* Compares n values a against the reference r. */
decode_error compare_values(const double* a, const double* r, size_t n, double abs_tol,
                            double rel_tol);

/* Sparse decode (SPEC 3) in float64 for s_q = 1: for request i and head h, the keys are
 * keys[i, j, :] (n_keys rows of d values, K and V alike: V4.0), the logits
 * scale * <q[i, h, :], key_j>, then out[i, h, :] = softmax-weighted keys times
 * 1 / (1 + exp(sink[h] - lse)) and lse[i, h] = log sum exp(logits), without the sink. */
void reference_decode(const double* q, const double* keys, const double* sink, int64_t batch,
                      int64_t h_q, int64_t n_keys, int64_t d, double scale, double* out,
                      double* lse);

#endif /* MLA_EXAMPLES_DECODE_CHECK_H_ */
