// The integer rules of SPEC 5, written once for the host loops and the device kernels, so that
// every backend computes the same integers for any input, valid or not. Every lookup is bounds
// checked (an id that would come from outside its table is -1) and results are narrowed to
// int32 by to_index32.
#pragma once

#include "index_builders_problem.h"

namespace mla {

constexpr int64_t kCombinedAlign = 128;  // FlashMLA sparse prefill: topk % 128 == 0

MLA_HD MLA_FORCEINLINE int64_t combined_width(int64_t topk, int64_t window) {
  return round_up(topk + window, kCombinedAlign);
}

// An index outside int32 cannot be stored: it becomes the invalid index -1.
MLA_HD MLA_FORCEINLINE int32_t to_index32(int64_t v) {
  return v < -2147483648LL || v > 2147483647LL ? -1 : int32_t(v);
}

MLA_HD MLA_FORCEINLINE int64_t clamp_to(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

// Positions [seq - gather_len, seq) hold the union of the windows of the last `extend` tokens.
MLA_HD MLA_FORCEINLINE int64_t swa_gather_len(int64_t seq, int64_t extend, int64_t window) {
  const int64_t g = extend + window - 1 < seq ? extend + window - 1 : seq;
  return g < 0 ? 0 : g;
}

// The largest k in [0, n) with v[k] - base <= key, or -1, by binary search over an ascending
// v; any other input still gets one deterministic answer in [-1, n).
template <typename T>
MLA_HD int64_t last_at_most(Strided<T> v, int64_t n, int64_t key, int64_t base = 0) {
  int64_t lo = 0, hi = n;  // the first k with v[k] - base > key lies in [lo, hi]
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (int64_t(v[mid]) - base <= key)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo - 1;
}

// ---- build_swa_token_ids ----

// full_to_swa[req_to_token[req_pool[r], pos]], or -1 where a lookup would leave its table.
MLA_HD MLA_FORCEINLINE int32_t swa_token_id(const SwaTokenIdsProblem& p, int64_t r, int64_t pos) {
  const int64_t row = p.req_pool[r];
  if (row < 0 || row >= p.pool_rows || pos < 0 || pos >= p.max_len) return -1;
  const int64_t full = p.req_to_token[row * p.rtt_s + pos];
  if (full < 0 || full >= p.full_size) return -1;
  return to_index32(p.full_to_swa[full]);
}

// Entry q of swa_token_ids, once the offsets are written: the request whose range holds q,
// or -1 past the total.
MLA_HD MLA_FORCEINLINE int32_t swa_ids_entry(const SwaTokenIdsProblem& p, int64_t q) {
  const int64_t r = last_at_most(p.offsets, p.reqs + 1, q);
  if (r < 0 || r >= p.reqs) return -1;
  const int64_t i = q - p.offsets[r];
  const int64_t seq = p.seq_lens[r];
  const int64_t g = swa_gather_len(seq, p.extend_lens[r], p.window);
  if (i >= g) return -1;
  return swa_token_id(p, r, seq - g + i);
}

// ---- combine_topk_swa_indices ----

struct CombinedRow {
  int64_t topk_len = 0, swa_len = 0;  // both 0 for a row of no request
  int64_t swa_first = 0;              // value of the first SWA entry
  int64_t compressed_base = 0;
};

MLA_HD MLA_FORCEINLINE CombinedRow combined_row(const CombineIndicesProblem& p, int64_t t) {
  CombinedRow row;
  if (p.reqs == 0) return row;
  const int64_t base = p.query_start[0];
  const int64_t r = last_at_most(p.query_start, p.reqs, t, base);
  if (r < 0) return row;
  const int64_t start = p.query_start[r] - base, end = p.query_start[r + 1] - base;
  if (t >= end) return row;  // past the last request (or a malformed query_start_loc)
  const int64_t seq = p.seq_lens[r];
  const int64_t pos = seq - (end - start) + (t - start);
  const int64_t gather_start = seq - p.gather_lens[r];
  row.topk_len = pos + 1 <= 0 ? 0 : clamp_to((pos + 1) / p.ratio, 0, p.topk);
  row.swa_len = clamp_to(pos + 1, 0, p.window);
  row.swa_first = int64_t(p.swa_base[r]) + (pos - row.swa_len + 1 - gather_start);
  row.compressed_base = p.compressed_base.present() ? p.compressed_base[r] : 0;
  return row;
}

// Column j of row t: the rebased top-k entries, then the ascending window, then -1.
MLA_HD MLA_FORCEINLINE int32_t combined_entry(const CombineIndicesProblem& p, int64_t t,
                                              const CombinedRow& row, int64_t j) {
  if (j < row.topk_len) {
    const int32_t v = p.topk_idx[t * p.topk_s + j];
    return v < 0 ? -1 : to_index32(int64_t(v) + row.compressed_base);
  }
  j -= row.topk_len;
  return j < row.swa_len ? to_index32(row.swa_first + j) : -1;
}

}  // namespace mla
