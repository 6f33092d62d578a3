// Validated sparse-attention problems (SPEC 3 and 4) as plain structs of pointers and element
// strides, passed by value to host code and to kernels alike.
#pragma once

#include "bf16.h"
#include "kv_format.h"

namespace mla {

struct SparseDecodeProblem {
  int64_t b = 0, s_q = 0, h_q = 0, d_qk = 0;
  int64_t topk = 0, extra_topk = 0;  // extra_topk = 0 without an extra cache
  float scale = 0.0f;

  const bf16_bits* q = nullptr;
  int64_t q_sb = 0, q_ss = 0, q_sh = 0;
  KvCacheView kv, extra_kv;
  const int32_t* idx = nullptr;
  int64_t idx_sb = 0, idx_ss = 0;
  const int32_t* extra_idx = nullptr;
  int64_t extra_idx_sb = 0, extra_idx_ss = 0;
  const int32_t* topk_len = nullptr;  // null: every index position counts
  int64_t topk_len_s = 0;
  const int32_t* extra_topk_len = nullptr;
  int64_t extra_topk_len_s = 0;
  const float* sink = nullptr;  // null: no sink
  int64_t sink_s = 0;

  bf16_bits* out = nullptr;
  int64_t out_sb = 0, out_ss = 0, out_sh = 0;
  float* lse = nullptr;
  int64_t lse_sb = 0, lse_sh = 0, lse_ss = 0;

  MLA_HD int64_t keys() const { return topk + extra_topk; }
  MLA_HD int64_t rows() const { return b * s_q; }
};

struct SparsePrefillProblem {
  int64_t s_q = 0, h_q = 0, d_qk = 0, s_kv = 0, topk = 0;
  float scale = 0.0f;

  const bf16_bits* q = nullptr;
  int64_t q_ss = 0, q_sh = 0;
  const bf16_bits* kv = nullptr;
  int64_t kv_s = 0;
  const int32_t* idx = nullptr;
  int64_t idx_s = 0;
  const int32_t* topk_len = nullptr;
  int64_t topk_len_s = 0;
  const float* sink = nullptr;
  int64_t sink_s = 0;

  bf16_bits* out = nullptr;
  int64_t out_ss = 0, out_sh = 0;
  float* max_logits = nullptr;
  int64_t ml_ss = 0, ml_sh = 0;
  float* lse = nullptr;
  int64_t lse_ss = 0, lse_sh = 0;

  MLA_HD int64_t keys() const { return topk; }
  MLA_HD int64_t rows() const { return s_q; }
  // kv rows that can be read in whole, aligned 16-byte pieces (the fast native paths).
  bool kv_rows_16b() const {
    return reinterpret_cast<uintptr_t>(kv) % 16 == 0 && (kv_s * 2) % 16 == 0;
  }
};

// Sparse prefill over a paged FP8 cache (SPEC 4 with the keys of SPEC 3): query token t
// attends the cache slots indices[t, j], j < topk_length[t]; a slot outside the cache is
// skipped. The keys are dequantized in the kernel, as mla_kv_gather would give them.
struct SparsePrefillPagedProblem {
  int64_t s_q = 0, h_q = 0, d_qk = 0, topk = 0;
  float scale = 0.0f;

  const bf16_bits* q = nullptr;
  int64_t q_ss = 0, q_sh = 0;
  KvCacheView kv;
  const int32_t* idx = nullptr;
  int64_t idx_s = 0;
  const int32_t* topk_len = nullptr;
  int64_t topk_len_s = 0;
  const float* sink = nullptr;
  int64_t sink_s = 0;

  bf16_bits* out = nullptr;
  int64_t out_ss = 0, out_sh = 0;
  float* max_logits = nullptr;
  int64_t ml_ss = 0, ml_sh = 0;
  float* lse = nullptr;
  int64_t lse_ss = 0, lse_sh = 0;

  MLA_HD int64_t keys() const { return topk; }
  MLA_HD int64_t rows() const { return s_q; }
};

// A key of an attention row: which cache (0 main, 1 extra) and which slot; slot < 0 = skip.
struct KeyRef {
  int32_t cache;
  int64_t slot;
};

MLA_HD MLA_FORCEINLINE int64_t clamp_length(const int32_t* len, int64_t stride, int64_t i,
                                            int64_t n) {
  if (len == nullptr) return n;
  const int64_t l = len[i * stride];
  return l < 0 ? 0 : (l > n ? n : l);
}

// Key j of decode row (i, s): main-cache entries first, then the extra cache. Out-of-range,
// negative and beyond-length entries come back as slot -1 and must not be read.
MLA_HD MLA_FORCEINLINE KeyRef decode_key(const SparseDecodeProblem& p, int64_t i, int64_t s,
                                         int64_t j) {
  if (j < p.topk) {
    if (j >= clamp_length(p.topk_len, p.topk_len_s, i, p.topk)) return {0, -1};
    const int64_t slot = p.idx[i * p.idx_sb + s * p.idx_ss + j];
    return {0, p.kv.valid_slot(slot) ? slot : -1};
  }
  const int64_t e = j - p.topk;
  if (e >= clamp_length(p.extra_topk_len, p.extra_topk_len_s, i, p.extra_topk)) return {1, -1};
  const int64_t slot = p.extra_idx[i * p.extra_idx_sb + s * p.extra_idx_ss + e];
  return {1, p.extra_kv.valid_slot(slot) ? slot : -1};
}

// Key j of prefill row t: a row of kv, or -1.
MLA_HD MLA_FORCEINLINE int64_t prefill_key(const SparsePrefillProblem& p, int64_t t, int64_t j) {
  if (j >= clamp_length(p.topk_len, p.topk_len_s, t, p.topk)) return -1;
  const int64_t r = p.idx[t * p.idx_s + j];
  return r >= 0 && r < p.s_kv ? r : -1;
}

// Key j of paged prefill row t: a slot of the cache, or -1.
MLA_HD MLA_FORCEINLINE int64_t prefill_paged_key(const SparsePrefillPagedProblem& p, int64_t t,
                                                 int64_t j) {
  if (j >= clamp_length(p.topk_len, p.topk_len_s, t, p.topk)) return -1;
  const int64_t slot = p.idx[t * p.idx_s + j];
  return p.kv.valid_slot(slot) ? slot : -1;
}

// The sink's factor on the output: 1 / (1 + exp(sink - lse)); 1 without a sink.
MLA_HD MLA_FORCEINLINE float sink_factor(const float* sink, int64_t stride, int64_t h, float lse) {
  if (sink == nullptr) return 1.0f;
  return 1.0f / (1.0f + expf(sink[h * stride] - lse));
}

}  // namespace mla
