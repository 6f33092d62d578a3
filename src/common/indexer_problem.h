// Validated lightning-indexer problems (SPEC 6) as plain structs of pointers and element strides,
// passed by value to host code and kernels alike, with the index rules every backend shares.
#pragma once

#include "fp8_e4m3.h"

namespace mla {

constexpr int64_t kIndexerPageTokens = 64;  // tokens per page of the indexer's key cache
constexpr int kIndexerMaxHeads = 128;

// Ragged logits: rows i < m of q against keys j < n.
struct IndexerLogitsProblem {
  int64_t m = 0, n = 0, h = 0, d = 0;
  Fp8 fp8 = Fp8::E4M3FN;

  const uint8_t* q = nullptr;  // [m, h, d]
  int64_t q_sm = 0, q_sh = 0;
  const uint8_t* k = nullptr;  // [n, d]
  int64_t k_s = 0;
  const float* k_scale = nullptr;
  int64_t k_scale_s = 0;
  const float* w = nullptr;  // [m, h]
  int64_t w_s = 0;
  const int32_t* k_start = nullptr;
  int64_t k_start_s = 0;
  const int32_t* k_end = nullptr;
  int64_t k_end_s = 0;

  float* logits = nullptr;  // [m, n]
  int64_t logits_s = 0;

  // Keys [lo, hi) of row i, clamped to the keys that exist (hi <= lo: none).
  MLA_HD int64_t key_lo(int64_t i) const {
    const int64_t s = k_start[i * k_start_s];
    return s < 0 ? 0 : (s > n ? n : s);
  }
  MLA_HD int64_t key_hi(int64_t i) const {
    const int64_t e = k_end[i * k_end_s];
    return e < 0 ? 0 : (e > n ? n : e);
  }
};

// Paged logits: rows r = b * next_n + j, positions p < max_ctx.
struct IndexerPagedLogitsProblem {
  int64_t b = 0, next_n = 0, h = 0, d = 0;
  Fp8 fp8 = Fp8::E4M3FN;

  const uint8_t* q = nullptr;  // [b, next_n, h, d]
  int64_t q_sb = 0, q_sn = 0, q_sh = 0;
  const uint8_t* kv = nullptr;             // pages of [64 * d fp8][64 fp32]
  int64_t num_pages = 0, page_stride = 0;  // bytes
  const float* w = nullptr;                // [b * next_n, h]
  int64_t w_s = 0;
  const int32_t* ctx = nullptr;  // [b] or [b, next_n]
  int64_t ctx_sb = 0, ctx_sn = 0;
  bool ctx_per_row = false;              // [b, next_n]
  const int32_t* block_table = nullptr;  // [b, max_pages]
  int64_t bt_s = 0, max_pages = 0;

  float* logits = nullptr;  // [b * next_n, max_ctx]
  int64_t logits_s = 0, max_ctx = 0;

  MLA_HD int64_t rows() const { return b * next_n; }
  MLA_HD int64_t page_bytes() const { return kIndexerPageTokens * (d + 4); }

  // One past the last valid position of row (i, j), clamped to [0, max_ctx] and to the pages the
  // block table can name.
  MLA_HD int64_t valid_end(int64_t i, int64_t j) const {
    const int64_t end = ctx_per_row ? int64_t(ctx[i * ctx_sb + j * ctx_sn])
                                    : int64_t(ctx[i * ctx_sb]) - next_n + j + 1;
    int64_t cap = max_pages * kIndexerPageTokens;
    if (cap > max_ctx) cap = max_ctx;
    return end < 0 ? 0 : (end > cap ? cap : end);
  }
  // The cache page holding position p of request i, or null where the block table names none.
  MLA_HD const uint8_t* page(int64_t i, int64_t p) const {
    const int64_t pg = block_table[i * bt_s + p / kIndexerPageTokens];
    return pg >= 0 && pg < num_pages ? kv + pg * page_stride : nullptr;
  }
};

// Top-k per row; see mla_indexer_topk_args for the rules written out.
struct IndexerTopkProblem {
  int64_t rows = 0, cols = 0, k = 0, next_n = 1;

  const float* logits = nullptr;  // [rows, cols]
  int64_t logits_s = 0;
  const int32_t* starts = nullptr;  // [rows] or null
  int64_t starts_s = 0;
  enum class Lengths : int32_t { All, Causal, PerRow };
  Lengths lengths_kind = Lengths::All;
  const int32_t* lengths = nullptr;  // [rows / next_n] (Causal) or [rows / next_n, next_n]
  int64_t len_s0 = 0, len_s1 = 0;
  const int32_t* page_table = nullptr;  // [rows / pt_div, pt_cols] or null
  int64_t pt_s = 0, pt_cols = 0, pt_div = 1, page_size = 1;

  int32_t* out = nullptr;  // [rows, k]
  int64_t out_s = 0;
  int32_t* raw = nullptr;  // [rows, k] or null
  int64_t raw_s = 0;

  MLA_HD int64_t start(int64_t r) const {
    if (starts == nullptr) return 0;
    const int64_t s = starts[r * starts_s];
    return s < 0 ? 0 : (s > cols ? cols : s);
  }
  // Candidates of row r after clamping, counted from start(r).
  MLA_HD int64_t length(int64_t r) const {
    const int64_t room = cols - start(r);
    int64_t len = room;
    if (lengths_kind == Lengths::Causal)
      len = int64_t(lengths[(r / next_n) * len_s0]) - next_n + r % next_n + 1;
    else if (lengths_kind == Lengths::PerRow)
      len = lengths[(r / next_n) * len_s0 + (r % next_n) * len_s1];
    return len < 0 ? 0 : (len > room ? room : len);
  }
  // Index i (counted from start) as written to `out`: through the page table if there is one.
  MLA_HD int32_t transform(int64_t r, int64_t i) const {
    if (page_table == nullptr) return int32_t(i);
    const int64_t pg = i / page_size;
    if (pg >= pt_cols) return -1;
    const int64_t entry = page_table[(r / pt_div) * pt_s + pg];
    if (entry < 0) return -1;
    const int64_t slot = entry * page_size + i % page_size;
    return slot > 0x7fffffff ? -1 : int32_t(slot);
  }
  // Writes candidate i (or -1 for padding) of row r at position pos of the outputs.
  MLA_HD void write(int64_t r, int64_t pos, int64_t i) const {
    out[r * out_s + pos] = i < 0 ? -1 : transform(r, i);
    if (raw != nullptr) raw[r * raw_s + pos] = int32_t(i);
  }
};

}  // namespace mla
