/* Small fused operations around the attention: concatenations of MLA key and query parts,
 * merging two partial attention states, and RMSNorm + RoPE. Included by mla.h.
 * docs/SPEC.md section 7.
 *
 * All take bf16 tensors (last dimension contiguous, any other strides) and do their math in
 * fp32. Outputs must not overlap inputs unless an operation says otherwise. Row counts of
 * zero are valid and do nothing. */
#ifndef MLA_MLA_FUSED_H_
#define MLA_MLA_FUSED_H_

#include "mla/mla_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* k[n, h, :] = [k_nope[n, h, :] | k_rope[n, 0, :]]: the rope part is shared by all heads
 * (sglang concat_mla_k). A bit-exact copy. */
typedef struct mla_concat_mla_k_args {
  const mla_tensor* k_nope; /* bf16 [N, H, 128] */
  const mla_tensor* k_rope; /* bf16 [N, 1, 64] */
  const mla_tensor* k;      /* out: bf16 [N, H, 192] */
} mla_concat_mla_k_args;

MLA_API mla_status mla_concat_mla_k(mla_context ctx, const mla_concat_mla_k_args* args,
                                    mla_stream stream);

/* out[..., :] = [a[..., :] | b[..., :]] (sglang concat_mla_absorb_q). A bit-exact copy. The
 * three tensors are all [N, 576 / 512 / 64] or all [N, H, 576 / 512 / 64]. */
typedef struct mla_concat_mla_absorb_q_args {
  const mla_tensor* a;   /* bf16 [N, (H,) 512] */
  const mla_tensor* b;   /* bf16 [N, (H,) 64] */
  const mla_tensor* out; /* out: bf16 [N, (H,) 576] */
} mla_concat_mla_absorb_q_args;

MLA_API mla_status mla_concat_mla_absorb_q(mla_context ctx,
                                           const mla_concat_mla_absorb_q_args* args,
                                           mla_stream stream);

/* Merges two attention states over disjoint key sets (sglang merge_state, vLLM
 * merge_attn_states). Per (n, h), in fp32: an lse that is not finite (+inf, the empty-row
 * marker of libmla's attention, -inf or NaN) counts as -inf, i.e. no keys;
 * m = max(lse_a, lse_b), e_a = exp(lse_a - m), e_b = exp(lse_b - m),
 * v = (v_a e_a + v_b e_b) / (e_a + e_b), lse = log(e_a + e_b) + m.
 * A side with weight 0 is not used at all (a NaN in its v does not leak). Both sides empty:
 * v = 0 and lse = +inf (where the engines give NaN). The lse tensors may have any strides,
 * so vLLM's [H, N] layout is passed as a transposed view. */
typedef struct mla_merge_state_args {
  const mla_tensor* v_a;     /* bf16 [N, H, D] */
  const mla_tensor* lse_a;   /* fp32 [N, H], natural log */
  const mla_tensor* v_b;     /* bf16 [N, H, D] */
  const mla_tensor* lse_b;   /* fp32 [N, H] */
  const mla_tensor* v_out;   /* out: bf16 [N, H, D] */
  const mla_tensor* lse_out; /* out: fp32 [N, H], or NULL */
} mla_merge_state_args;

MLA_API mla_status mla_merge_state(mla_context ctx, const mla_merge_state_args* args,
                                   mla_stream stream);

/* How a cos/sin table row of 64 fp32 values lays out the 32 rotation pairs. */
typedef enum mla_rope_table {
  MLA_ROPE_TABLE_HALVES = 0,     /* [cos_0 .. cos_31 | sin_0 .. sin_31] (vLLM cos_sin_cache) */
  MLA_ROPE_TABLE_INTERLEAVED = 1 /* [cos_0, sin_0, cos_1, sin_1, ...] (sglang freqs_cis viewed
                                    as real) */
} mla_rope_table;

/* Per row x = x[n, h, :] of D values (DeepSeek V4 q / kv heads, D = 512):
 *  1. if normalize: y = x * rsqrt(mean(x^2) + eps) * weight (weight optional), in fp32;
 *     else y = x;
 *  2. RoPE on the last 64 values of y with interleaved pairs (y[2i], y[2i+1]) of the rope part:
 *     pair i rotates by (c, s) = the table's pair i of row positions[n]:
 *       forward:  (a c - b s, a s + b c);   inverse (the conjugate):  (a c + b s, b c - a s);
 *  3. out = bf16(y), one rounding.
 * The inverse rotation with normalize = 0 undoes the rope on the attention output. A position
 * < 0 or >= the table's rows leaves the rope part unrotated (no table read). out may be x
 * itself (in place: same data and strides); other overlaps are undefined. */
typedef struct mla_norm_rope_args {
  const mla_tensor* x;         /* bf16 [N, H, D] or [N, D]; D even and >= 64 */
  const mla_tensor* weight;    /* bf16 or fp32 [D], any stride; NULL: no weight */
  const mla_tensor* positions; /* int32 or int64 [N], any stride */
  const mla_tensor* cos_sin;   /* fp32 [max_pos, 64] */
  int32_t table_layout;        /* mla_rope_table */
  int32_t normalize;           /* 1: RMSNorm first; 0: rotation only (weight must be NULL) */
  int32_t inverse;             /* 1: conjugate rotation */
  float eps;                   /* >= 0 and finite; used when normalize */
  const mla_tensor* out;       /* out: bf16, the shape of x */
} mla_norm_rope_args;

MLA_API mla_status mla_norm_rope(mla_context ctx, const mla_norm_rope_args* args,
                                 mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_FUSED_H_ */
