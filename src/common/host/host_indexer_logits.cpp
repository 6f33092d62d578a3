// Host indexer logits (SPEC 6), ragged and paged: a query row's heads are decoded once per task,
// then every key of the task's chunk is decoded and scored in fp32, heads summed in order.
#include <limits>

#include "../bits.h"
#include "host_indexer.h"
#include "parallel.h"

namespace mla::host {
namespace {

constexpr int64_t kChunk = 256;  // keys per task
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

struct Scratch {
  float q[kIndexerMaxHeads * 128];
  float k[128];
};

Scratch& scratch_of(void* ws, int worker) {
  return static_cast<Scratch*>(ws)[worker];
}

void decode_row(const uint8_t* src, int64_t d, Fp8 fp8, float* dst) {
  for (int64_t c = 0; c < d; ++c) dst[c] = fp8_to_float(src[c], fp8);
}

// One query row's heads, decoded, and its weights.
struct QueryRow {
  const float* q;  // [h][d]
  const float* w;
  int64_t h, d;
};

float score(const QueryRow& row, const float* k, float scale) {
  float sum = 0.0f;
  for (int64_t h = 0; h < row.h; ++h) {
    const float* qh = row.q + h * row.d;
    float dot = 0.0f;
    for (int64_t c = 0; c < row.d; ++c) dot += qh[c] * k[c];
    const float s = dot * scale;
    sum += (s > 0.0f ? s : 0.0f) * row.w[h];
  }
  return sum;
}

}  // namespace

size_t indexer_logits_workspace(int threads) {
  return sizeof(Scratch) * size_t(threads);
}

mla_status indexer_logits(const IndexerLogitsProblem& p, void* ws, int threads) {
  const int64_t chunks = ceil_div(p.n, kChunk);
  parallel_for(p.m * chunks, threads, [&](int64_t task, int worker) {
    const int64_t i = task / chunks, j0 = (task % chunks) * kChunk;
    const int64_t j1 = j0 + kChunk < p.n ? j0 + kChunk : p.n;
    const int64_t lo = p.key_lo(i), hi = p.key_hi(i);
    Scratch& s = scratch_of(ws, worker);
    float* out = p.logits + i * p.logits_s;
    if (j1 <= lo || j0 >= hi) {  // nothing valid here: no decoding
      for (int64_t j = j0; j < j1; ++j) out[j] = kNegInf;
      return;
    }
    for (int64_t h = 0; h < p.h; ++h)
      decode_row(p.q + i * p.q_sm + h * p.q_sh, p.d, p.fp8, &s.q[h * p.d]);
    const QueryRow row{s.q, p.w + i * p.w_s, p.h, p.d};
    for (int64_t j = j0; j < j1; ++j) {
      if (j < lo || j >= hi) {
        out[j] = kNegInf;
        continue;
      }
      decode_row(p.k + j * p.k_s, p.d, p.fp8, s.k);
      out[j] = score(row, s.k, p.k_scale[j * p.k_scale_s]);
    }
  });
  return MLA_STATUS_SUCCESS;
}

mla_status indexer_paged_logits(const IndexerPagedLogitsProblem& p, void* ws, int threads) {
  const int64_t chunks = ceil_div(p.max_ctx, kChunk);
  parallel_for(p.rows() * chunks, threads, [&](int64_t task, int worker) {
    const int64_t r = task / chunks, p0 = (task % chunks) * kChunk;
    const int64_t p1 = p0 + kChunk < p.max_ctx ? p0 + kChunk : p.max_ctx;
    const int64_t b = r / p.next_n, j = r % p.next_n;
    const int64_t end = p.valid_end(b, j);
    Scratch& s = scratch_of(ws, worker);
    float* out = p.logits + r * p.logits_s;
    if (p0 >= end) {
      for (int64_t pos = p0; pos < p1; ++pos) out[pos] = kNegInf;
      return;
    }
    const uint8_t* q = p.q + b * p.q_sb + j * p.q_sn;
    for (int64_t h = 0; h < p.h; ++h) decode_row(q + h * p.q_sh, p.d, p.fp8, &s.q[h * p.d]);
    const QueryRow row{s.q, p.w + r * p.w_s, p.h, p.d};
    for (int64_t pos = p0; pos < p1; ++pos) {
      const uint8_t* page = pos < end ? p.page(b, pos) : nullptr;
      if (page == nullptr) {
        out[pos] = kNegInf;
        continue;
      }
      const int64_t t = pos % kIndexerPageTokens;
      decode_row(page + t * p.d, p.d, p.fp8, s.k);
      out[pos] = score(row, s.k, load_as<float>(page + kIndexerPageTokens * p.d + 4 * t));
    }
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
