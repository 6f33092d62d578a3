/* Index builders of the DeepSeek V4 sparse prefill (sglang sparse_prefill_utils, vLLM
 * cache_utils): the SWA token ids a prefill chunk gathers, and the combined index rows
 * (compressed top-k, then sliding window) that mla_sparse_prefill reads. Included by mla.h.
 * docs/SPEC.md section 5. Exact integer results on every backend.
 *
 * Conventions of both operations: every integer tensor is int32 unless said otherwise, 1-D
 * tensors may have any stride, 2-D tensors any row stride. Values the inputs hold never make
 * an operation read or write outside the caller's tensors: a lookup that would leave its table
 * gives the id -1, and an integer result outside int32 is stored as -1. Negative lengths give
 * empty ranges (the clamps below); every output entry is written, valid input or not. */
#ifndef MLA_MLA_INDEX_BUILDERS_H_
#define MLA_MLA_INDEX_BUILDERS_H_

#include "mla/mla_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Width of a combined index row: topk + window rounded up to a multiple of 128 (FlashMLA's
 * sparse prefill needs topk % 128 == 0 for h_q = 128). -1 unless 0 <= topk < 2^31 and
 * 1 <= window < 2^31. */
MLA_API int64_t mla_combined_topk_width(int64_t topk, int64_t window);

/* The physical SWA-cache token ids covering, per request, the union of the sliding windows of
 * its extend tokens (sglang build_swa_token_ids). For request r with seq = seq_lens[r] and
 * extend = extend_seq_lens[r]:
 *   gather_len[r] = max(0, min(seq, extend + window - 1)),  first_pos[r] = seq - gather_len[r],
 *   offsets = exclusive prefix sum of gather_len (offsets[R] = total),
 *   ids[offsets[r] + i] = full_to_swa[req_to_token[req_pool_indices[r], first_pos[r] + i]]
 *   for i < gather_len[r].
 * An id whose request row, position or full id is outside req_to_token or full_to_swa is -1.
 * ids has a fixed capacity (no synchronization to learn the total): ids at or beyond it are
 * dropped (compare offsets[R] with the capacity), and ids[total, capacity) is filled with -1.
 * A caller sizes it with sum(extend) + R * (window - 1), which is never exceeded. Offsets are
 * int32 (as in the engines) and saturate at 2^31 - 1. */
typedef struct mla_build_swa_token_ids_args {
  const mla_tensor* seq_lens;         /* [R] full sequence length per request */
  const mla_tensor* extend_seq_lens;  /* [R] new (query) tokens per request */
  const mla_tensor* req_pool_indices; /* [R] row of req_to_token per request */
  const mla_tensor* req_to_token;     /* [pool_rows, max_seq_len] full-cache token ids */
  const mla_tensor* full_to_swa;      /* int64 or int32 [full_pool_size] full id -> SWA id */
  int64_t window;                     /* sliding window W, in [1, 2^31 - 1] */
  const mla_tensor* swa_token_ids;    /* out: [capacity], capacity <= 2^31 - 1 */
  const mla_tensor* swa_offsets;      /* out: [R + 1] exclusive prefix sum, then the total */
  const mla_tensor* swa_first_pos;    /* out: [R], or NULL */
  const mla_tensor* swa_gather_lens;  /* out: [R], or NULL */
} mla_build_swa_token_ids_args;

MLA_API mla_status mla_build_swa_token_ids(mla_context ctx,
                                           const mla_build_swa_token_ids_args* args,
                                           mla_stream stream);

/* One combined index row per query token (sglang / vLLM combine_topk_swa_indices). Token t
 * belongs to request r if qs[r] <= t < qs[r + 1], with qs = query_start_loc - query_start_loc[0]
 * (a chunk of a larger batch may pass its slice of the global offsets). With
 * pos = seq_lens[r] - (qs[r + 1] - qs[r]) + (t - qs[r]) and gather_start = seq_lens[r] -
 * gather_lens[r]:
 *   topk_len = clamp((pos + 1) / compress_ratio, 0, topk),  swa_len = clamp(pos + 1, 0, window),
 *   row = [ topk_indices[t, j] >= 0 ? topk_indices[t, j] + compressed_base[r] : -1 ]  j < topk_len
 *         [ swa_base[r] + (pos - swa_len + 1 - gather_start) + j ]                  j < swa_len
 *         [ -1 ... up to the width ],
 *   combined_lens[t] = topk_len + swa_len.
 * Rows of no request (past the last one): all -1, length 0. Every row is written in full.
 * SWA-only layers pass topk = 0 (topk_indices and compressed_base may then be NULL). */
typedef struct mla_combine_topk_swa_indices_args {
  const mla_tensor* topk_indices;     /* [T, >= topk] request-local compressed indices, or NULL
                                         when topk == 0 */
  const mla_tensor* query_start_loc;  /* [R + 1] cumulative query lengths, ascending */
  const mla_tensor* seq_lens;         /* [R] */
  const mla_tensor* gather_lens;      /* [R] SWA tokens gathered per request (swa_gather_lens) */
  const mla_tensor* compressed_base;  /* [R] where request r's compressed rows start, or NULL (0) */
  const mla_tensor* swa_base;         /* [R] where request r's SWA rows start (e.g. swa_offsets) */
  int64_t topk;                       /* >= 0 */
  int64_t window;                     /* >= 1 */
  int64_t compress_ratio;             /* >= 1 (4 or 128 in V4; any value when topk == 0) */
  const mla_tensor* combined_indices; /* out: [T, mla_combined_topk_width(topk, window)] */
  const mla_tensor* combined_lens;    /* out: [T] */
} mla_combine_topk_swa_indices_args;

MLA_API mla_status mla_combine_topk_swa_indices(mla_context ctx,
                                                const mla_combine_topk_swa_indices_args* args,
                                                mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_INDEX_BUILDERS_H_ */
