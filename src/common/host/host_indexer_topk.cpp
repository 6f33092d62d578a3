// Host top-k per row (SPEC 6): a radix selection of the K-th best key, 8 bits per pass, then one
// pass in index order that writes every better key and the first `need` equal ones. The result
// is the exact set of topk_order.h in ascending index order, and needs no scratch.
#include "../topk_order.h"
#include "host_indexer.h"
#include "parallel.h"

namespace mla::host {
namespace {

struct Threshold {
  uint32_t key;  // the K-th best key
  int64_t need;  // how many candidates with exactly this key are taken, lowest indices first
};

Threshold select_threshold(const float* x, int64_t len, int64_t k) {
  uint32_t prefix = 0, mask = 0;
  int64_t remaining = k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    int64_t hist[256] = {};
    for (int64_t i = 0; i < len; ++i) {
      const uint32_t key = topk_key(x[i]);
      if ((key & mask) == prefix) ++hist[(key >> shift) & 0xffu];
    }
    uint32_t bin = 255;
    while (hist[bin] < remaining) remaining -= hist[bin--];  // the bins above hold fewer than k
    prefix |= bin << shift;
    mask |= 0xffu << shift;
  }
  return {prefix, remaining};
}

}  // namespace

mla_status indexer_topk(const IndexerTopkProblem& p, int threads) {
  parallel_for(p.rows, threads, [&](int64_t r, int) {
    const int64_t len = p.length(r);
    const float* x = p.logits + r * p.logits_s + p.start(r);
    if (len <= p.k) {
      for (int64_t pos = 0; pos < p.k; ++pos) p.write(r, pos, pos < len ? pos : -1);
      return;
    }
    Threshold t = select_threshold(x, len, p.k);
    int64_t pos = 0;
    for (int64_t i = 0; i < len; ++i) {
      const uint32_t key = topk_key(x[i]);
      if (key > t.key || (key == t.key && t.need-- > 0)) p.write(r, pos++, i);
    }
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
