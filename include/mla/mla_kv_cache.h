/* Writing bf16 rows into a paged FP8 cache, and gathering them back dequantized.
 * Included by mla.h. docs/SPEC.md sections 2.4 and 2.5. */
#ifndef MLA_MLA_KV_CACHE_H_
#define MLA_MLA_KV_CACHE_H_

#include "mla/mla_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Quantize k rows and scatter them into kv at the given slots. A slot < 0 or >= the cache's
 * slot count is skipped (nothing written). Two rows with the same slot: one of them wins. */
typedef struct mla_kv_store_args {
  const mla_tensor* k;     /* bf16 [N, 576] (V32) or [N, 512] (V40) */
  const mla_tensor* slots; /* int32 or int64 [N] */
  const mla_kv_cache* kv;  /* written */
} mla_kv_store_args;

MLA_API mla_status mla_kv_store(mla_context ctx, const mla_kv_store_args* args,
                                mla_stream stream);

/* Dequantize the tokens at the given slots into bf16 rows (sglang dequantize_k_cache_paged).
 * An invalid slot gives a zero row. Bit-exact on every backend. */
typedef struct mla_kv_gather_args {
  const mla_kv_cache* kv;
  const mla_tensor* slots; /* int32 or int64 [T] */
  const mla_tensor* out;   /* bf16 [T, 576] (V32) or [T, 512] (V40) */
} mla_kv_gather_args;

MLA_API mla_status mla_kv_gather(mla_context ctx, const mla_kv_gather_args* args,
                                 mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_KV_CACHE_H_ */
