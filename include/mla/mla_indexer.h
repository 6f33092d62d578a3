/* The lightning indexer of DeepSeek V3.2 / V4: fp8 logits of every query row against every key
 * (ragged: DeepGEMM fp8_mqa_logits; paged: fp8_paged_mqa_logits) and the top-k of each row,
 * optionally mapped through a page table into cache slots. Included by mla.h.
 * docs/SPEC.md section 6.
 *
 * fp8 tensors carry their flavour in the dtype code: MLA_DTYPE_FLOAT8_E4M3FN or
 * MLA_DTYPE_FLOAT8_E4M3FNUZ, bits 8. Every backend reads both flavours. */
#ifndef MLA_MLA_INDEXER_H_
#define MLA_MLA_INDEXER_H_

#include "mla/mla_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ragged logits (DeepGEMM fp8_mqa_logits). For query row i and key j:
 *   logits[i, j] = sum_h relu(<q[i, h, :], k[j, :]> * k_scale[j]) * weights[i, h]
 * when max(k_start[i], 0) <= j < min(k_end[i], N), else -inf. Every element of logits is
 * written. H is 1 to 128, D is 64 or 128 (V3.2 / V4: H = 64, D = 128).
 * Products are exact and sums run in fp32, in an order each backend fixes (backends agree
 * within fp32 rounding; each is deterministic and batch-invariant). relu(x) is x > 0 ? x : 0,
 * so a NaN score contributes 0, as with the engines' fmax. */
typedef struct mla_indexer_logits_args {
  const mla_tensor* q;       /* fp8 [M, H, D] */
  const mla_tensor* k;       /* fp8 [N, D], the flavour of q */
  const mla_tensor* k_scale; /* fp32 [N] */
  const mla_tensor* weights; /* fp32 [M, H] */
  const mla_tensor* k_start; /* int32 [M]: first key of each row (DeepGEMM cu_seq_len_k_start) */
  const mla_tensor* k_end;   /* int32 [M]: one past the last key (cu_seq_len_k_end) */
  const mla_tensor* logits;  /* fp32 [M, N], written */
} mla_indexer_logits_args;

/* Bytes of workspace mla_indexer_logits needs on this context (shapes only; 16-byte aligned
 * memory of the context's device). */
MLA_API mla_status mla_indexer_logits_workspace_size(mla_context ctx,
                                                     const mla_indexer_logits_args* args,
                                                     size_t* bytes);
MLA_API mla_status mla_indexer_logits(mla_context ctx, const mla_indexer_logits_args* args,
                                      void* workspace, size_t workspace_bytes, mla_stream stream);

/* Tokens per page of the indexer's key cache. */
#define MLA_INDEXER_PAGE_TOKENS 64

/* Paged logits (DeepGEMM fp8_paged_mqa_logits) for decode with next_n query rows per request.
 * Row r = b * next_n + j of logits holds query (b, j); position p of request b is the key in
 * page block_table[b, p / 64], row p % 64. Position p of row (b, j) is valid when
 *   p <= context_lens[b] - next_n + j   (context_lens [B], the causal MTP rule), or
 *   p <  context_lens[b, j]             (context_lens [B, next_n]),
 * and logits[r, p] = sum_h relu(<q[b, j, h, :], key_p> * scale_p) * weights[r, h], computed
 * as for mla_indexer_logits.
 * Every other position up to max_context_len (the width of logits) is -inf, including positions
 * whose page lies beyond the block table's width or whose block-table entry is not a page of
 * the cache (< 0 or >= num_pages): such a page is never read.
 *
 * The cache is caller bytes (DeepGEMM's fused layout), one page of 64 tokens being
 *   [64 x D fp8 key rows][64 fp32 scales]   (64 * (D + 4) bytes, 8448 for D = 128),
 * given as a uint8 tensor [num_pages, 64 * (D + 4)], [num_pages, 64, D + 4] or
 * [num_pages, 64, 1, D + 4] (the engines' shapes), contiguous within a page; the page stride
 * (strides[0]) may be larger and must be a multiple of 16, the base 16-byte aligned. The bytes
 * carry no flavour of their own: kv_fp8 names it, and it must be the flavour of q. */
typedef struct mla_indexer_paged_logits_args {
  const mla_tensor* q;            /* fp8 [B, next_n, H, D]; next_n >= 1 */
  const mla_tensor* kv_cache;     /* uint8, see above */
  int32_t kv_fp8;                 /* mla_fp8_flavor of kv_cache; must match q's dtype */
  const mla_tensor* weights;      /* fp32 [B * next_n, H] */
  const mla_tensor* context_lens; /* int32 [B] or [B, next_n] */
  const mla_tensor* block_table;  /* int32 [B, max_pages] */
  const mla_tensor* logits;       /* fp32 [B * next_n, max_context_len], written */
} mla_indexer_paged_logits_args;

MLA_API mla_status mla_indexer_paged_logits_workspace_size(
    mla_context ctx, const mla_indexer_paged_logits_args* args, size_t* bytes);
MLA_API mla_status mla_indexer_paged_logits(mla_context ctx,
                                            const mla_indexer_paged_logits_args* args,
                                            void* workspace, size_t workspace_bytes,
                                            mla_stream stream);

/* Top-k of each row of logits (sglang fast_topk / topk_transform, vLLM top_k_per_row).
 * Row r's candidates are the len(r) columns from start(r):
 *   start(r) = starts[r] (0 without starts), clamped to [0, L];
 *   len(r)   = lengths[r / n, r % n]               (lengths [R / n, n]),
 *              lengths[r / n] - n + r % n + 1       (lengths [R / n], the causal MTP rule;
 *                                                    with n = 1 simply lengths[r]),
 *              or L - start(r) without lengths; then clamped to [0, L - start(r)];
 * with n = next_n (0 counts as 1). Indices count from start(r). With len(r) <= K the row gets
 * [0, 1, ..., len(r) - 1, -1, ...]. Otherwise it gets the K best candidates, where a larger
 * logit is better, every NaN is worse than every number (-inf included), and of equal logits
 * the lower index is better; they are written in ascending index order. So the result is
 * exact and identical on every backend.
 *
 * With page_table, each index i is replaced by page_table[row, i / P] * P + i % P (P =
 * page_size; P = 1 maps token positions to slots, sglang's page_table_1). An index whose page
 * is beyond the table's width, whose table entry is negative, or whose slot exceeds INT32_MAX
 * becomes -1. The table has one row per logits row (R rows) or one per request (R / n rows,
 * row r using r / n). raw_indices, if given, receives the indices before the table (without a
 * table: the same as indices). */
typedef struct mla_indexer_topk_args {
  const mla_tensor* logits;      /* fp32 [R, L], L < 2^31 */
  const mla_tensor* starts;      /* int32 [R] or NULL */
  const mla_tensor* lengths;     /* int32 [R / n] or [R / n, n], or NULL */
  int32_t next_n;                /* n: query rows per request, 0 or >= 1; must divide R */
  const mla_tensor* page_table;  /* int32 [R or R / n, max_pages] or NULL */
  int64_t page_size;             /* P >= 1 with page_table; ignored without */
  const mla_tensor* indices;     /* int32 [R, K], K >= 1, written */
  const mla_tensor* raw_indices; /* int32 [R, K] or NULL: the indices before the page table */
} mla_indexer_topk_args;

/* Bytes of workspace mla_indexer_topk needs (shapes only). Every backend answers 0 today;
 * query it anyway, as a later kernel for very long rows may need scratch. */
MLA_API mla_status mla_indexer_topk_workspace_size(mla_context ctx,
                                                   const mla_indexer_topk_args* args,
                                                   size_t* bytes);
MLA_API mla_status mla_indexer_topk(mla_context ctx, const mla_indexer_topk_args* args,
                                    void* workspace, size_t workspace_bytes, mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_INDEXER_H_ */
