// Random lightning-indexer problems (SPEC 6) with plainly written references: float64 logits
// for the ragged and paged cases, and an exact top-k check. Host and GPU suites share them.
#pragma once

#include <memory>
#include <string>

#include "mla_test.h"

namespace mlatest {

mla_dtype dt_fp8(bool fnuz);
mla_dtype dt_u8();

// Logits against a float64 reference: -inf positions must match exactly; a finite value may
// differ from the reference by tol * magnitude, the magnitude of a position being
// sum_h |w_h| * |scale| * sum_d |q_d k_d| (the bound of any fp32 summation order).
struct LogitsRef {
  int64_t rows = 0, cols = 0;
  std::vector<double> value, magnitude;  // [rows][cols]; value -inf where invalid
};
constexpr double kHostLogitsTol = 3e-5;    // fp32 sums of 128 products and 128 heads
constexpr double kDeviceLogitsTol = 6e-5;  // any summation order, tensor-core accumulation
::testing::AssertionResult check_logits(const LogitsRef& ref, const Tensor& logits, double tol);
// Two logits tensors of the same problem against each other (device vs host).
::testing::AssertionResult same_logits(const LogitsRef& ref, const Tensor& a, const Tensor& b,
                                       double tol);

// ---- ragged (fp8_mqa_logits) ----
struct RaggedSpec {
  bool fnuz = false;
  int64_t m = 5, n = 150, h = 64, d = 128;
  bool strided = false;  // padded views; q and k rows then not 16-byte aligned
  std::string name() const;
};

struct RaggedCase {
  RaggedSpec spec;
  Tensor q, k, k_scale, weights, k_start, k_end, logits;
  LogitsRef ref;
  mla_indexer_logits_args args();
};
std::unique_ptr<RaggedCase> make_ragged_case(const RaggedSpec& spec, Rng& rng);

// ---- paged (fp8_paged_mqa_logits) ----
struct PagedSpec {
  bool fnuz = false;
  int64_t b = 2, next_n = 1, h = 64, d = 128;
  int64_t max_context = 150;     // the largest context length drawn
  int64_t width = 0;             // logits width (max_context_len); 0: max_context rounded up to 8
  bool per_row_context = false;  // context_lens [B, next_n]
  int cache_ndim = 2;            // 2, 3 or 4
  int64_t page_padding = 0;      // extra bytes per page (multiple of 16)
  bool bad_pages = false;        // block-table entries < 0 or beyond the cache, and a narrow table
  bool strided = false;
  std::string name() const;
};

struct PagedCase {
  PagedSpec spec;
  Tensor q, weights, context_lens, block_table, logits;
  Bytes cache;
  mla_tensor cache_desc;
  LogitsRef ref;
  mla_indexer_paged_logits_args args();
};
std::unique_ptr<PagedCase> make_paged_case(const PagedSpec& spec, Rng& rng);

// ---- top-k ----
enum class TopkValues { Random, Ties, Special };  // Special: NaN, +-inf, +-0 mixed in
enum class TopkLengths { None, Causal, PerRow };

struct TopkSpec {
  int64_t rows = 4, cols = 300, k = 64;
  int32_t next_n = 0;
  TopkValues values = TopkValues::Random;
  TopkLengths lengths = TopkLengths::PerRow;
  bool starts = false;
  bool page_table = false, table_per_request = false, raw = false;
  int64_t page_size = 64;
  bool strided = false;
  std::string name() const;
};

struct TopkCase {
  TopkSpec spec;
  Tensor logits, starts, lengths, page_table, indices, raw;
  mla_indexer_topk_args args();
};
std::unique_ptr<TopkCase> make_topk_case(const TopkSpec& spec, Rng& rng);
// Checks indices (and raw) against the contract: the property checks of SPEC 6 (valid,
// distinct, no unselected candidate better than a selected one, NaN last, -1 padding, the
// transform) and the exact documented list.
::testing::AssertionResult check_topk(const TopkCase& c, const Tensor& indices, const Tensor& raw);

}  // namespace mlatest
