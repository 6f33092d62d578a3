/* Sparse MLA attention: decode over paged FP8 caches, prefill over a bf16 KV tensor or a paged
 * FP8 cache. Included by mla.h. docs/SPEC.md sections 3 and 4. */
#ifndef MLA_MLA_ATTENTION_H_
#define MLA_MLA_ATTENTION_H_

#include "mla/mla_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* softmax_scale, for decode and prefill: 0 selects d_qk^-0.5; inf and NaN are refused
 * (MLA_STATUS_INVALID_ARGUMENT); any other value is used as given. Logits are fp32, so an
 * extreme scale (or extreme q and keys) can overflow one: a logit of -inf weighs 0 (a row with
 * only such keys is a row with no valid key), one of +inf makes its row's out and lse NaN and
 * max_logits +inf. */

/* Sparse decode (FlashMLA flash_mla_with_kvcache with indices). Tensors the call does not use
 * are NULL. An index < 0 or >= the cache's slot count, or at a position >= its length, is
 * skipped and never read. Rows with no valid key get out = 0 and lse = +inf. Results match the
 * float64 reference over the dequantized cache within docs/SPEC.md section 8 on every backend;
 * they are deterministic, and a request's result does not depend on the rest of the batch. */
typedef struct mla_sparse_decode_args {
  const mla_tensor* q;                 /* bf16 [b, s_q, h_q, d_qk]; d_qk 576 (V32) or 512 (V40) */
  const mla_kv_cache* kv;              /* main cache */
  const mla_tensor* indices;           /* int32 [b, s_q, topk] slots of kv */
  const mla_tensor* topk_length;       /* int32 [b] or NULL: keys of indices used per batch */
  const mla_kv_cache* extra_kv;        /* NULL, or a second cache of the same format */
  const mla_tensor* extra_indices;     /* int32 [b, s_q, extra_topk], with extra_kv */
  const mla_tensor* extra_topk_length; /* int32 [b] or NULL */
  const mla_tensor* attn_sink;         /* fp32 [h_q] or NULL */
  float softmax_scale;                 /* 0: d_qk^-0.5; see above */
  const mla_tensor* out;               /* bf16 [b, s_q, h_q, 512] */
  const mla_tensor* lse;               /* fp32 [b, h_q, s_q], natural log, without the sink */
} mla_sparse_decode_args;

/* Bytes of workspace mla_sparse_decode needs for these arguments on this context: scratch
 * of the host backend on a CPU context, of the native kernels on a GPU context (the device
 * reference needs none). Depends on shapes only, never on tensor contents. The workspace
 * is 16-byte aligned memory of the context's device. On a GPU it holds the partial results of
 * rows whose keys are split across blocks: about 2 KiB per head for every 512 (16 heads or
 * fewer) or 1024 keys (more heads) beyond the first range, zero when topk + extra_topk fits
 * one range. The split depends on the key count and head count only, never on the batch, so
 * a request gives the same bits alone and in any batch. */
MLA_API mla_status mla_sparse_decode_workspace_size(mla_context ctx,
                                                    const mla_sparse_decode_args* args,
                                                    size_t* bytes);
MLA_API mla_status mla_sparse_decode(mla_context ctx, const mla_sparse_decode_args* args,
                                     void* workspace, size_t workspace_bytes, mla_stream stream);

/* Sparse prefill (FlashMLA flash_mla_sparse_fwd). An index < 0 or >= s_kv, or at a position
 * >= topk_length[t], is skipped. Rows with no valid key: out = 0, lse = +inf,
 * max_logits = -inf. */
typedef struct mla_sparse_prefill_args {
  const mla_tensor* q;           /* bf16 [s_q, h_q, d_qk]; d_qk 576 or 512 */
  const mla_tensor* kv;          /* bf16 [s_kv, 1, d_qk]; V is the first 512 columns */
  const mla_tensor* indices;     /* int32 [s_q, 1, topk] */
  const mla_tensor* topk_length; /* int32 [s_q] or NULL */
  const mla_tensor* attn_sink;   /* fp32 [h_q] or NULL */
  float softmax_scale;           /* 0: d_qk^-0.5; see above */
  const mla_tensor* out;         /* bf16 [s_q, h_q, 512] */
  const mla_tensor* max_logits;  /* fp32 [s_q, h_q] */
  const mla_tensor* lse;         /* fp32 [s_q, h_q] */
} mla_sparse_prefill_args;

/* Bytes of workspace mla_sparse_prefill needs on this context (shapes only). */
MLA_API mla_status mla_sparse_prefill_workspace_size(mla_context ctx,
                                                     const mla_sparse_prefill_args* args,
                                                     size_t* bytes);
MLA_API mla_status mla_sparse_prefill(mla_context ctx, const mla_sparse_prefill_args* args,
                                      void* workspace, size_t workspace_bytes, mla_stream stream);

/* Sparse prefill straight from a paged FP8 cache (docs/SPEC.md section 4.1): the math of
 * mla_sparse_prefill with the keys dequantized from kv (V32 or V40, any page size, either fp8
 * flavour) exactly as mla_kv_gather gives them. Query token t attends the slots
 * indices[t, j] for j < topk_length[t] (every j without lengths): for instance rows and lengths
 * in the layout mla_combine_topk_swa_indices builds, with bases that make its entries slots of
 * kv. A slot < 0 or >= kv's slot count (num_pages * page_size), or at a position
 * >= topk_length[t], is skipped and never read. Rows with no valid key: out = 0, lse = +inf,
 * max_logits = -inf. lse is the natural log, without the sink; the sink scales out as in
 * mla_sparse_decode.
 *
 * The result equals mla_kv_gather of every slot of kv into a bf16 [num_slots, 1, d_qk] tensor
 * followed by mla_sparse_prefill with the same indices and lengths on the gathered rows, bit
 * for bit on the native path when the gathered tensor's rows are 16-byte aligned (an aligned
 * start and a row pitch of a multiple of 8 elements, as an ordinary allocation has: the native
 * kernels then use the same CTA shapes and summation order for both), except for h_q <= 16 on
 * Hopper (sm_90a code on an sm_90 device, MLA_DISABLE_WGMMA unset), where the paged call
 * reads the fp8 codes straight into the matrix operands, in another summation order: within
 * docs/SPEC.md section 8 there, as for other gathered views and on other backends (the host
 * backend and the device reference also give their own mla_sparse_prefill's bits). Gathering only the selected slots
 * instead is the same only if the invalid entries are kept invalid (-1): a gathered zero row
 * would count as a key. Results are deterministic, and a query token's result does not depend
 * on the other tokens of the call. */
typedef struct mla_sparse_prefill_paged_args {
  const mla_tensor* q;           /* bf16 [s_q, h_q, d_qk]; d_qk 576 (V32) or 512 (V40) */
  const mla_kv_cache* kv;        /* the paged cache, read only */
  const mla_tensor* indices;     /* int32 [s_q, topk] or [s_q, 1, topk]: slots of kv */
  const mla_tensor* topk_length; /* int32 [s_q] or NULL */
  const mla_tensor* attn_sink;   /* fp32 [h_q] or NULL */
  float softmax_scale;           /* 0: d_qk^-0.5; see above */
  const mla_tensor* out;         /* bf16 [s_q, h_q, 512] */
  const mla_tensor* max_logits;  /* fp32 [s_q, h_q] */
  const mla_tensor* lse;         /* fp32 [s_q, h_q] */
} mla_sparse_prefill_paged_args;

/* Bytes of workspace mla_sparse_prefill_paged needs on this context (shapes only): the host
 * backend's scratch on a CPU context; none on a GPU context. */
MLA_API mla_status mla_sparse_prefill_paged_workspace_size(
    mla_context ctx, const mla_sparse_prefill_paged_args* args, size_t* bytes);
MLA_API mla_status mla_sparse_prefill_paged(mla_context ctx,
                                            const mla_sparse_prefill_paged_args* args,
                                            void* workspace, size_t workspace_bytes,
                                            mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_ATTENTION_H_ */
