// Device reference of sparse attention (SPEC 3 and 4), one kernel for decode and both prefills
// (bf16 rows, paged FP8 cache).
// A block takes one query row and up to kHeads heads; keys come in chunks of kChunk, are
// dequantized once into shared memory for all the block's heads, and fold into an online
// softmax in a fixed order (so results are deterministic and batch-invariant). Simple rather
// than fast: it is the baseline and the checker of the native kernels.
#pragma once

#include "../attention_problem.h"
#include "../kv_format_v32.h"
#include "../kv_format_v40.h"
#include "launch.h"

namespace mla::gpu {

namespace attn_ref {
constexpr int kThreads = 256;
constexpr int kHeads = 16;
constexpr int kChunk = 16;  // kHeads * kChunk == kThreads: one score per thread
constexpr int kMaxDim = 576;
// Shared rows padded by one 4-byte word: the 16 keys a warp reads at one column then fall in
// different banks (576 bf16 = 288 words, a multiple of 32, would put them all in one).
constexpr int kRowPitch = kMaxDim + 2;
constexpr int kColsPerThread = kDv / kThreads;  // 2
static_assert(kHeads * kChunk == kThreads, "one score per thread");
}  // namespace attn_ref

// Where one key's bytes are: the row (and the V40 scale bytes) of a cache, or a bf16 row.
struct KeyLoc {
  const uint8_t* row;
  const uint8_t* scales;
  int32_t cache;  // 0 main, 1 extra (decode); -1: skipped key
};

struct DecodeKeys {
  SparseDecodeProblem p;

  MLA_DEVICE int64_t rows() const { return p.rows(); }
  MLA_DEVICE int64_t keys() const { return p.keys(); }
  MLA_DEVICE KeyLoc locate(int64_t row, int64_t j) const {
    const KeyRef k = decode_key(p, row / p.s_q, row % p.s_q, j);
    if (k.slot < 0) return {nullptr, nullptr, -1};
    const KvCacheView& kv = k.cache == 0 ? p.kv : p.extra_kv;
    if (kv.format == KvFormat::V32) return {kv.data + v32::token_offset(kv, k.slot), nullptr, k.cache};
    return {kv.data + v40::row_offset(kv, k.slot), kv.data + v40::scale_offset(kv, k.slot), k.cache};
  }
  MLA_DEVICE bf16_bits element(const KeyLoc& k, int c) const {
    const Fp8 fp8 = k.cache == 0 ? p.kv.fp8 : p.extra_kv.fp8;
    return p.kv.format == KvFormat::V32 ? v32::dequant_element(k.row, c, fp8)
                                        : v40::dequant_element(k.row, k.scales, c, fp8);
  }
  MLA_DEVICE const bf16_bits* q(int64_t row, int64_t h) const {
    return p.q + (row / p.s_q) * p.q_sb + (row % p.s_q) * p.q_ss + h * p.q_sh;
  }
  MLA_DEVICE bf16_bits* out(int64_t row, int64_t h) const {
    return p.out + (row / p.s_q) * p.out_sb + (row % p.s_q) * p.out_ss + h * p.out_sh;
  }
  MLA_DEVICE float* lse(int64_t row, int64_t h) const {
    return p.lse + (row / p.s_q) * p.lse_sb + (row % p.s_q) * p.lse_ss + h * p.lse_sh;
  }
  MLA_DEVICE float* max_logit(int64_t, int64_t) const { return nullptr; }
};

struct PrefillKeys {
  SparsePrefillProblem p;

  MLA_DEVICE int64_t rows() const { return p.rows(); }
  MLA_DEVICE int64_t keys() const { return p.keys(); }
  MLA_DEVICE KeyLoc locate(int64_t row, int64_t j) const {
    const int64_t r = prefill_key(p, row, j);
    if (r < 0) return {nullptr, nullptr, -1};
    return {reinterpret_cast<const uint8_t*>(p.kv + r * p.kv_s), nullptr, 0};
  }
  MLA_DEVICE bf16_bits element(const KeyLoc& k, int c) const {
    return reinterpret_cast<const bf16_bits*>(k.row)[c];
  }
  MLA_DEVICE const bf16_bits* q(int64_t row, int64_t h) const {
    return p.q + row * p.q_ss + h * p.q_sh;
  }
  MLA_DEVICE bf16_bits* out(int64_t row, int64_t h) const {
    return p.out + row * p.out_ss + h * p.out_sh;
  }
  MLA_DEVICE float* lse(int64_t row, int64_t h) const { return p.lse + row * p.lse_ss + h * p.lse_sh; }
  MLA_DEVICE float* max_logit(int64_t row, int64_t h) const {
    return p.max_logits + row * p.ml_ss + h * p.ml_sh;
  }
};

// Paged prefill: the keys of a prefill row are cache slots, dequantized element by element as
// mla_kv_gather does, so the kernel computes the bits of gathering then PrefillKeys.
struct PrefillPagedKeys {
  SparsePrefillPagedProblem p;

  MLA_DEVICE int64_t rows() const { return p.rows(); }
  MLA_DEVICE int64_t keys() const { return p.keys(); }
  MLA_DEVICE KeyLoc locate(int64_t row, int64_t j) const {
    const int64_t slot = prefill_paged_key(p, row, j);
    if (slot < 0) return {nullptr, nullptr, -1};
    const KvCacheView& kv = p.kv;
    if (kv.format == KvFormat::V32) return {kv.data + v32::token_offset(kv, slot), nullptr, 0};
    return {kv.data + v40::row_offset(kv, slot), kv.data + v40::scale_offset(kv, slot), 0};
  }
  MLA_DEVICE bf16_bits element(const KeyLoc& k, int c) const {
    return p.kv.format == KvFormat::V32 ? v32::dequant_element(k.row, c, p.kv.fp8)
                                        : v40::dequant_element(k.row, k.scales, c, p.kv.fp8);
  }
  MLA_DEVICE const bf16_bits* q(int64_t row, int64_t h) const {
    return p.q + row * p.q_ss + h * p.q_sh;
  }
  MLA_DEVICE bf16_bits* out(int64_t row, int64_t h) const {
    return p.out + row * p.out_ss + h * p.out_sh;
  }
  MLA_DEVICE float* lse(int64_t row, int64_t h) const {
    return p.lse + row * p.lse_ss + h * p.lse_sh;
  }
  MLA_DEVICE float* max_logit(int64_t row, int64_t h) const {
    return p.max_logits + row * p.ml_ss + h * p.ml_sh;
  }
};

template <class Keys>
__global__ void __launch_bounds__(attn_ref::kThreads)
    sparse_attention_reference_kernel(Keys keys, int d, float scale, const float* sink,
                                      int64_t sink_s, int64_t h_q) {
  using namespace attn_ref;
  __shared__ bf16_bits q_s[kHeads][kRowPitch];
  __shared__ bf16_bits k_s[kChunk][kRowPitch];
  __shared__ KeyLoc loc_s[kChunk];
  __shared__ float p_s[kHeads][kChunk];  // scores, then probabilities
  __shared__ float m_s[kHeads], l_s[kHeads], alpha_s[kHeads];

  const int tid = threadIdx.x;
  const int64_t row = blockIdx.x;
  const int64_t h0 = int64_t(blockIdx.y) * kHeads;
  const int nh = int(h_q - h0 < kHeads ? h_q - h0 : kHeads);
  const float neg_inf = -float_of(0x7f800000u);

  for (int e = tid; e < kHeads * d; e += kThreads) {
    const int h = e / d, c = e % d;
    q_s[h][c] = h < nh ? keys.q(row, h0 + h)[c] : bf16_bits(0);
  }
  if (tid < kHeads) {
    m_s[tid] = neg_inf;
    l_s[tid] = 0.0f;
  }
  float acc[kHeads][kColsPerThread];
#pragma unroll
  for (int h = 0; h < kHeads; ++h)
#pragma unroll
    for (int k = 0; k < kColsPerThread; ++k) acc[h][k] = 0.0f;

  const int64_t n_keys = keys.keys();
  for (int64_t j0 = 0; j0 < n_keys; j0 += kChunk) {
    if (tid < kChunk)
      loc_s[tid] = j0 + tid < n_keys ? keys.locate(row, j0 + tid) : KeyLoc{nullptr, nullptr, -1};
    __syncthreads();
    for (int e = tid; e < kChunk * d; e += kThreads) {
      const int j = e / d, c = e % d;
      if (loc_s[j].cache >= 0) k_s[j][c] = keys.element(loc_s[j], c);  // skipped keys: no read
    }
    __syncthreads();
    {  // one score per thread
      const int h = tid / kChunk, j = tid % kChunk;
      float s = neg_inf;
      if (h < nh && loc_s[j].cache >= 0) {
        float dot = 0.0f;
        for (int c = 0; c < d; ++c) dot += bf16_to_float(q_s[h][c]) * bf16_to_float(k_s[j][c]);
        s = dot * scale;
      }
      p_s[h][j] = s;
    }
    __syncthreads();
    if (tid < kHeads) {  // online softmax, one head per thread
      float mc = neg_inf;
      for (int j = 0; j < kChunk; ++j) mc = fmaxf(mc, p_s[tid][j]);
      const float m_old = m_s[tid];
      const float m_new = fmaxf(m_old, mc);
      float alpha = 1.0f, sum = 0.0f;
      if (m_new != neg_inf) {
        alpha = expf(m_old - m_new);  // 0 while nothing was seen (m_old = -inf)
        for (int j = 0; j < kChunk; ++j) {
          const float pj = p_s[tid][j] == neg_inf ? 0.0f : expf(p_s[tid][j] - m_new);
          p_s[tid][j] = pj;
          sum += pj;
        }
      } else {
        for (int j = 0; j < kChunk; ++j) p_s[tid][j] = 0.0f;
      }
      alpha_s[tid] = alpha;
      l_s[tid] = l_s[tid] * alpha + sum;
      m_s[tid] = m_new;
    }
    __syncthreads();
#pragma unroll
    for (int h = 0; h < kHeads; ++h) {
      if (h >= nh) continue;  // `continue`, not `break`: the loop must stay unrollable
#pragma unroll
      for (int k = 0; k < kColsPerThread; ++k) {
        const int c = tid + k * kThreads;
        float a = acc[h][k] * alpha_s[h];
        for (int j = 0; j < kChunk; ++j)
          if (p_s[h][j] != 0.0f) a += p_s[h][j] * bf16_to_float(k_s[j][c]);
        acc[h][k] = a;
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int h = 0; h < kHeads; ++h) {
    if (h >= nh) continue;
    const float l = l_s[h];
    const bool empty = l == 0.0f;
    const float lse = empty ? -neg_inf : m_s[h] + logf(l);
    const float f = empty ? 0.0f : sink_factor(sink, sink_s, h0 + h, lse) / l;
    bf16_bits* out = keys.out(row, h0 + h);
#pragma unroll
    for (int k = 0; k < kColsPerThread; ++k) {
      const int c = tid + k * kThreads;
      out[c] = empty ? bf16_bits(0) : float_to_bf16(acc[h][k] * f);
    }
    if (tid == 0) {
      *keys.lse(row, h0 + h) = lse;
      float* ml = keys.max_logit(row, h0 + h);
      if (ml != nullptr) *ml = empty ? neg_inf : m_s[h];
    }
  }
}

template <class Keys>
mla_status launch_sparse_attention_reference(const Keys& keys, int64_t rows, int64_t h_q, int d,
                                             float scale, const float* sink, int64_t sink_s,
                                             mla_stream stream) {
  using namespace attn_ref;
  const dim3 grid(unsigned(rows), unsigned(ceil_div(h_q, kHeads)));
  sparse_attention_reference_kernel<Keys>
      <<<grid, kThreads, 0, as_stream(stream)>>>(keys, d, scale, sink, sink_s, h_q);
  return check_launch("sparse_attention_reference_kernel");
}

mla_status reference_sparse_decode(const SparseDecodeProblem& p, mla_stream stream) {
  return launch_sparse_attention_reference(DecodeKeys{p}, p.rows(), p.h_q, int(p.d_qk), p.scale,
                                           p.sink, p.sink_s, stream);
}

mla_status reference_sparse_prefill(const SparsePrefillProblem& p, mla_stream stream) {
  return launch_sparse_attention_reference(PrefillKeys{p}, p.rows(), p.h_q, int(p.d_qk), p.scale,
                                           p.sink, p.sink_s, stream);
}

mla_status reference_sparse_prefill_paged(const SparsePrefillPagedProblem& p, mla_stream stream) {
  return launch_sparse_attention_reference(PrefillPagedKeys{p}, p.rows(), p.h_q, int(p.d_qk),
                                           p.scale, p.sink, p.sink_s, stream);
}

}  // namespace mla::gpu
