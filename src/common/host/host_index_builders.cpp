// Host build_swa_token_ids and combine_topk_swa_indices over the shared rules of
// index_builder_rules.h: the offsets first (a serial prefix sum over the requests), then every
// output entry independently, in parallel.
#include "host_index_builders.h"

#include <algorithm>

#include "../index_builder_rules.h"
#include "parallel_chunks.h"

namespace mla::host {
namespace {

constexpr int64_t kEntriesPerTask = 1 << 14;
constexpr int64_t kRowsPerTask = 64;

}  // namespace

mla_status build_swa_token_ids(const SwaTokenIdsProblem& p, int threads) {
  int64_t total = 0;
  for (int64_t r = 0; r < p.reqs; ++r) {
    const int64_t seq = p.seq_lens[r];
    const int64_t g = swa_gather_len(seq, p.extend_lens[r], p.window);
    p.offsets[r] = int32_t(std::min<int64_t>(total, INT32_MAX));
    if (p.first_pos.present()) p.first_pos[r] = int32_t(seq - g);
    if (p.gather_lens.present()) p.gather_lens[r] = int32_t(g);
    total += g;
  }
  p.offsets[p.reqs] = int32_t(std::min<int64_t>(total, INT32_MAX));
  parallel_for_chunked<kEntriesPerTask>(p.capacity, threads,
                                        [&](int64_t q) { p.ids[q] = swa_ids_entry(p, q); });
  return MLA_STATUS_SUCCESS;
}

mla_status combine_topk_swa_indices(const CombineIndicesProblem& p, int threads) {
  parallel_for_chunked<kRowsPerTask>(p.rows, threads, [&](int64_t t) {
    const CombinedRow row = combined_row(p, t);
    int32_t* out = p.out + t * p.out_s;
    for (int64_t j = 0; j < p.width; ++j) out[j] = combined_entry(p, t, row, j);
    p.lens[t] = to_index32(row.topk_len + row.swa_len);
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
