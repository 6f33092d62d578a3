// Host sparse attention (SPEC 3 and 4): keys dequantized chunk by chunk, fp32 dot products and
// an online softmax per chunk. Decode and both prefills differ only in where a key row comes
// from; the paged prefill's rows are the bf16 values mla_kv_gather gives, so it computes the
// same bits as gathering the cache and running sparse_prefill.
#include <cmath>
#include <limits>

#include "../kv_format_v32.h"
#include "../kv_format_v40.h"
#include "host_ops.h"
#include "parallel.h"

namespace mla::host {
namespace {

constexpr int kHeadBlock = 16;  // heads that share one pass over the keys
constexpr int kChunk = 64;      // keys dequantized at a time
constexpr int kMaxDim = 576;
constexpr float kInf = std::numeric_limits<float>::infinity();

// Per-worker scratch, carved from the caller's workspace.
struct Scratch {
  float q[kHeadBlock * kMaxDim];
  float k[kChunk * kMaxDim];
  float s[kHeadBlock * kChunk];
  float acc[kHeadBlock * kDv];
  float m[kHeadBlock];
  float l[kHeadBlock];
};

// One row's outputs for heads [h0, h0 + nh).
struct RowOut {
  bf16_bits* out;
  int64_t out_sh;
  float* lse;
  int64_t lse_sh;
  float* max_logits;  // prefill only
  int64_t ml_sh;
  const float* sink;
  int64_t sink_s;
};

// load(j, dst) dequantizes key j into dst[0:d] and returns true, or returns false for a key
// that does not count. q(h) points at head h's query row.
template <class LoadKey, class QueryRow>
void attend(Scratch& w, int64_t n_keys, int d, float scale, int64_t h0, int nh,
            const LoadKey& load, const QueryRow& q, const RowOut& o) {
  for (int h = 0; h < nh; ++h) {
    const bf16_bits* qh = q(h0 + h);
    for (int c = 0; c < d; ++c) w.q[h * kMaxDim + c] = bf16_to_float(qh[c]);
    w.m[h] = -kInf;
    w.l[h] = 0.0f;
    for (int c = 0; c < kDv; ++c) w.acc[h * kDv + c] = 0.0f;
  }
  for (int64_t j0 = 0; j0 < n_keys; j0 += kChunk) {
    int nk = 0;
    for (int64_t j = j0; j < j0 + kChunk && j < n_keys; ++j)
      if (load(j, &w.k[nk * kMaxDim])) ++nk;
    if (nk == 0) continue;
    for (int h = 0; h < nh; ++h) {
      float mc = -kInf;
      for (int j = 0; j < nk; ++j) {
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += w.q[h * kMaxDim + c] * w.k[j * kMaxDim + c];
        w.s[h * kChunk + j] = dot * scale;
        mc = std::fmax(mc, w.s[h * kChunk + j]);
      }
      const float m_new = std::fmax(w.m[h], mc);
      if (m_new == -kInf) continue;  // only overflowed (-inf) logits so far: each weighs 0
      const float alpha = std::exp(w.m[h] - m_new);  // 0 on the first chunk (m = -inf)
      float psum = 0.0f;
      float* acc = &w.acc[h * kDv];
      for (int c = 0; c < kDv; ++c) acc[c] *= alpha;
      for (int j = 0; j < nk; ++j) {
        const float pj = std::exp(w.s[h * kChunk + j] - m_new);
        psum += pj;
        const float* v = &w.k[j * kMaxDim];
        for (int c = 0; c < kDv; ++c) acc[c] += pj * v[c];
      }
      w.l[h] = w.l[h] * alpha + psum;
      w.m[h] = m_new;
    }
  }
  for (int h = 0; h < nh; ++h) {
    const int64_t hh = h0 + h;
    bf16_bits* out = o.out + hh * o.out_sh;
    if (w.l[h] == 0.0f) {  // no valid key
      for (int c = 0; c < kDv; ++c) out[c] = 0;
      o.lse[hh * o.lse_sh] = kInf;
      if (o.max_logits) o.max_logits[hh * o.ml_sh] = -kInf;
      continue;
    }
    const float lse = w.m[h] + std::log(w.l[h]);
    const float f = sink_factor(o.sink, o.sink_s, hh, lse) / w.l[h];
    for (int c = 0; c < kDv; ++c) out[c] = float_to_bf16(w.acc[h * kDv + c] * f);
    o.lse[hh * o.lse_sh] = lse;
    if (o.max_logits) o.max_logits[hh * o.ml_sh] = w.m[h];
  }
}

Scratch& scratch_of(void* ws, int worker) { return static_cast<Scratch*>(ws)[worker]; }

void dequant_key(const KvCacheView& kv, int64_t slot, float* dst) {
  if (kv.format == KvFormat::V32) {
    const uint8_t* token = kv.data + v32::token_offset(kv, slot);
    for (int i = 0; i < 576; ++i) dst[i] = bf16_to_float(v32::dequant_element(token, i, kv.fp8));
  } else {
    const uint8_t* row = kv.data + v40::row_offset(kv, slot);
    const uint8_t* scales = kv.data + v40::scale_offset(kv, slot);
    for (int i = 0; i < 512; ++i)
      dst[i] = bf16_to_float(v40::dequant_element(row, scales, i, kv.fp8));
  }
}

}  // namespace

size_t sparse_attention_workspace(int threads) { return sizeof(Scratch) * size_t(threads); }

mla_status sparse_decode(const SparseDecodeProblem& p, void* ws, int threads) {
  const int64_t head_blocks = ceil_div(p.h_q, kHeadBlock);
  parallel_for(p.rows() * head_blocks, threads, [&](int64_t task, int worker) {
    const int64_t row = task / head_blocks, h0 = (task % head_blocks) * kHeadBlock;
    const int64_t i = row / p.s_q, s = row % p.s_q;
    const int nh = int(std::min<int64_t>(kHeadBlock, p.h_q - h0));
    auto load = [&](int64_t j, float* dst) {
      const KeyRef key = decode_key(p, i, s, j);
      if (key.slot < 0) return false;
      dequant_key(key.cache == 0 ? p.kv : p.extra_kv, key.slot, dst);
      return true;
    };
    auto q = [&](int64_t h) { return p.q + i * p.q_sb + s * p.q_ss + h * p.q_sh; };
    const RowOut o{p.out + i * p.out_sb + s * p.out_ss, p.out_sh, p.lse + i * p.lse_sb + s * p.lse_ss,
                   p.lse_sh, nullptr, 0, p.sink, p.sink_s};
    attend(scratch_of(ws, worker), p.keys(), int(p.d_qk), p.scale, h0, nh, load, q, o);
  });
  return MLA_STATUS_SUCCESS;
}

mla_status sparse_prefill(const SparsePrefillProblem& p, void* ws, int threads) {
  const int64_t head_blocks = ceil_div(p.h_q, kHeadBlock);
  parallel_for(p.rows() * head_blocks, threads, [&](int64_t task, int worker) {
    const int64_t t = task / head_blocks, h0 = (task % head_blocks) * kHeadBlock;
    const int nh = int(std::min<int64_t>(kHeadBlock, p.h_q - h0));
    auto load = [&](int64_t j, float* dst) {
      const int64_t r = prefill_key(p, t, j);
      if (r < 0) return false;
      const bf16_bits* kv = p.kv + r * p.kv_s;
      for (int c = 0; c < p.d_qk; ++c) dst[c] = bf16_to_float(kv[c]);
      return true;
    };
    auto q = [&](int64_t h) { return p.q + t * p.q_ss + h * p.q_sh; };
    const RowOut o{p.out + t * p.out_ss, p.out_sh,    p.lse + t * p.lse_ss, p.lse_sh,
                   p.max_logits + t * p.ml_ss, p.ml_sh, p.sink,               p.sink_s};
    attend(scratch_of(ws, worker), p.keys(), int(p.d_qk), p.scale, h0, nh, load, q, o);
  });
  return MLA_STATUS_SUCCESS;
}

mla_status sparse_prefill_paged(const SparsePrefillPagedProblem& p, void* ws, int threads) {
  const int64_t head_blocks = ceil_div(p.h_q, kHeadBlock);
  parallel_for(p.rows() * head_blocks, threads, [&](int64_t task, int worker) {
    const int64_t t = task / head_blocks, h0 = (task % head_blocks) * kHeadBlock;
    const int nh = int(std::min<int64_t>(kHeadBlock, p.h_q - h0));
    auto load = [&](int64_t j, float* dst) {
      const int64_t slot = prefill_paged_key(p, t, j);
      if (slot < 0) return false;
      dequant_key(p.kv, slot, dst);
      return true;
    };
    auto q = [&](int64_t h) { return p.q + t * p.q_ss + h * p.q_sh; };
    const RowOut o{p.out + t * p.out_ss,
                   p.out_sh,
                   p.lse + t * p.lse_ss,
                   p.lse_sh,
                   p.max_logits + t * p.ml_ss,
                   p.ml_sh,
                   p.sink,
                   p.sink_s};
    attend(scratch_of(ws, worker), p.keys(), int(p.d_qk), p.scale, h0, nh, load, q, o);
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
