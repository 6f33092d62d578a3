// Inputs of the V4 prefill index builders built the way the engines build them (scrambled
// physical ids, request-local top-k with -1 holes and garbage past each row's length, chunked
// query_start_loc), with the expected integers written plainly from SPEC 5. Host and GPU
// suites share them.
#pragma once

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "layout_view.h"

namespace mlatest {

// ---- build_swa_token_ids ----

struct SwaIdsSpec {
  std::vector<int32_t> seq, extend;
  int64_t window = 128;
  Layout layout = Layout::Contiguous;
  bool wide_map = true;          // full_to_swa int64 (else int32)
  int64_t extra_capacity = 7;    // capacity beyond the total (negative: too small)
  bool optional_outputs = true;  // swa_first_pos and swa_gather_lens
  bool corrupt = false;          // out-of-range rows, positions, full ids and SWA ids
  std::string name() const;
};

struct SwaIdsCase {
  SwaIdsSpec spec;
  View seq_lens, extend_lens, req_pool, req_to_token, full_to_swa;
  View ids, offsets, first_pos, gather_lens;  // outputs, poisoned
  std::vector<int32_t> want_ids, want_offsets, want_first, want_gather;
  mla_build_swa_token_ids_args args();
  // Outputs (the case's own, or copies downloaded from a device) against the expectation,
  // and nothing written outside them.
  ::testing::AssertionResult check(const View& ids, const View& offsets, const View& first_pos,
                                   const View& gather_lens) const;
  ::testing::AssertionResult check() const { return check(ids, offsets, first_pos, gather_lens); }
};

std::unique_ptr<SwaIdsCase> make_swa_ids_case(const SwaIdsSpec& spec, Rng& rng);

// ---- combine_topk_swa_indices ----

struct CombineSpec {
  std::vector<int32_t> seq, extend;
  int64_t window = 128, ratio = 4, topk = 512;
  int64_t extra_topk_cols = 0;  // topk_indices wider than topk
  int64_t pad_rows = 3;         // rows past the last request
  int32_t query_base = 0;       // query_start_loc[0] of a chunk of a larger batch
  Layout layout = Layout::Contiguous;
  bool with_compressed_base = true;
  double hole_rate = 0.1;  // -1 entries among the valid top-k
  std::string name() const;
};

struct CombineCase {
  CombineSpec spec;
  int64_t rows = 0, width = 0;
  View topk, query_start, seq_lens, gather_lens, compressed_base, swa_base;
  View out, lens;                            // outputs, poisoned
  std::vector<int32_t> want_out, want_lens;  // [rows][width], [rows]
  mla_combine_topk_swa_indices_args args();
  ::testing::AssertionResult check(const View& out, const View& lens) const;
  ::testing::AssertionResult check() const { return check(out, lens); }
};

std::unique_ptr<CombineCase> make_combine_case(const CombineSpec& spec, Rng& rng);

// The seq/extend cases: ([96,144],[3,2]), ([7,300,1000],[7,130,5]), ([1],[1]).
std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> engine_batches();
std::vector<CombineSpec> combine_sweep();
std::vector<SwaIdsSpec> swa_ids_sweep();

// gtest prints parameters by name.
inline void PrintTo(const SwaIdsSpec& s, std::ostream* os) {
  *os << s.name();
}
inline void PrintTo(const CombineSpec& s, std::ostream* os) {
  *os << s.name();
}

}  // namespace mlatest
