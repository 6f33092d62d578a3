// Device norm_rope (SPEC 7): one row (token, head) per group of kGroup lanes. Pass 1 reads the
// row, keeps the first kCached chunks of each lane in registers (bf16 pairs in 32-bit words)
// and sums the squares over the group with shuffles; pass 2 scales, rotates the rope tail and
// writes, re-reading only chunks beyond the cache (rows wider than 512 on the vector path).
// kCached = 2 keeps the kernel under 80 registers (3 blocks of 256 per SM on an H100); with 4
// the compiler hoists the weight and table loads of every chunk and needs twice that.
// Every lane writes only the columns it read itself, after the group sum, so in-place calls
// are safe. Groups are 32 lanes on both vendors: a CUDA warp, half an AMD wave (shuffle masks
// below 32 stay in the group).
#pragma once

#include "../fused_math.h"
#include "bf16_chunks.h"
#include "kernels_fused.h"
#include "row_lanes.h"

namespace mla::gpu {

namespace norm_rope_dev {
constexpr int kGroup = 32;
constexpr int kRowsPerBlock = kRowThreads / kGroup;
constexpr int kCached = 2;  // D = 512 (V4): 64 chunks of 8, two per lane
constexpr int kSharedWeights = 1024;
static_assert(kGroup <= kWaveSize, "a row group must not span waves");
}  // namespace norm_rope_dev

template <int kGroup>
MLA_DEVICE MLA_FORCEINLINE float group_sum(float v) {
#pragma unroll
  for (int m = kGroup / 2; m > 0; m >>= 1) v += shfl_xor(v, m);
  return v;
}

// Scales chunk c (columns c * kVec ...) of a row, rotates its rope pairs and stores it. w holds
// the chunk's weights when the caller preloaded them (null: read them here). Every choice that
// is uniform over the row (weights in shared memory, table layout, direction) is made once,
// outside the element loops: made per element, it cost the kernel several hundred instructions
// per row in branches and 64-bit index arithmetic (measured with ncu on an H200).
template <int kVec, bool kVector>
MLA_DEVICE MLA_FORCEINLINE void finish_chunk(const NormRopeProblem& p, float (&v)[kVec], int c,
                                             float scale, const float* w, const float* tab,
                                             bf16_bits* out) {
  const int col0 = c * kVec;  // d < 2^31
  if (p.normalize) {
    if (w != nullptr) {
#pragma unroll
      for (int i = 0; i < kVec; ++i) v[i] = v[i] * scale * w[i];
    } else {
#pragma unroll
      for (int i = 0; i < kVec; ++i) v[i] = v[i] * scale * norm_weight(p, col0 + i);
    }
  }
  const int rope0 = int(p.d) - kRopeDim;
  if (tab != nullptr && col0 >= rope0) {
    constexpr int kPairs = kVec / 2;
    const int i0 = (col0 - rope0) / 2;
    float cs[kPairs], sn[kPairs];
    if (p.layout == RopeTable::Halves) {
#pragma unroll
      for (int j = 0; j < kPairs; ++j) cs[j] = tab[i0 + j], sn[j] = tab[kRopeDim / 2 + i0 + j];
    } else {
#pragma unroll
      for (int j = 0; j < kPairs; ++j) cs[j] = tab[2 * (i0 + j)], sn[j] = tab[2 * (i0 + j) + 1];
    }
    const float dir = p.inverse ? -1.0f : 1.0f;  // the inverse is the conjugate: sin -> -sin
#pragma unroll
    for (int j = 0; j < kPairs; ++j) {
      const float a = v[2 * j], b = v[2 * j + 1], s = dir * sn[j];
      v[2 * j] = a * cs[j] - b * s;
      v[2 * j + 1] = a * s + b * cs[j];
    }
  }
  store_chunk<kVec, kVector>(out + col0, v);
}

template <bool kVector>
__global__ void __launch_bounds__(kRowThreads) norm_rope_kernel(NormRopeProblem p) {
  using namespace norm_rope_dev;
  constexpr int kVec = chunk_elems<kVector, 2>();  // the fallback keeps rope pairs together
  const int lane = int(threadIdx.x) % kGroup;
  const int chunks = int(p.d / kVec);
  const int64_t rows = p.rows();
  bf16_bits* const dst = p.dst();
  // The weights are the same for every row: read once per block into shared memory, not per
  // element of every row (rows wider than kSharedWeights read them from memory).
  __shared__ float w_s[kSharedWeights];
  const bool shared_w = p.normalize && p.d <= kSharedWeights;
  if (shared_w) {
    for (int64_t i = threadIdx.x; i < p.d; i += blockDim.x) w_s[i] = norm_weight(p, i);
    __syncthreads();
  }
  // The loop bound is uniform over each group, as the shuffles need.
  for (int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + int(threadIdx.x) / kGroup; row < rows;
       row += int64_t(gridDim.x) * kRowsPerBlock) {
    const int64_t n = p.token_of(row), h = row - n * p.h;
    const bf16_bits* x = p.x + n * p.x_sn + h * p.x_sh;
    bf16_bits* out = dst + n * p.dst_sn() + h * p.dst_sh();
    const float* tab = rope_row(p, n);  // its position load overlaps the row's

    uint32_t cached[kCached][kVec / 2];
    float sum_sq = 0.0f;
#pragma unroll
    for (int k = 0; k < kCached; ++k) {
      const int c = lane + k * kGroup;
      if (c < chunks) {
        load_words<kVec, kVector>(x + int64_t(c) * kVec, cached[k]);
        float v[kVec];
        words_to_float<kVec>(cached[k], v);
#pragma unroll
        for (int i = 0; i < kVec; ++i) sum_sq += v[i] * v[i];
      }
    }
    for (int c = lane + kCached * kGroup; c < chunks; c += kGroup) {
      float v[kVec];
      load_chunk<kVec, kVector>(x + int64_t(c) * kVec, v);
#pragma unroll
      for (int i = 0; i < kVec; ++i) sum_sq += v[i] * v[i];
    }
    const float scale = p.normalize ? rms_scale(group_sum<kGroup>(sum_sq), p.d, p.eps) : 1.0f;

#pragma unroll
    for (int k = 0; k < kCached; ++k) {
      const int c = lane + k * kGroup;
      if (c < chunks) {
        float v[kVec];
        words_to_float<kVec>(cached[k], v);
        finish_chunk<kVec, kVector>(p, v, c, scale, shared_w ? &w_s[c * kVec] : nullptr, tab,
                                    out);
      }
    }
    for (int c = lane + kCached * kGroup; c < chunks; c += kGroup) {
      float v[kVec];
      load_chunk<kVec, kVector>(x + int64_t(c) * kVec, v);
      finish_chunk<kVec, kVector>(p, v, c, scale, shared_w ? &w_s[c * kVec] : nullptr, tab,
                                  out);
    }
  }
}

mla_status reference_norm_rope(const NormRopeProblem& p, mla_stream stream) {
  const bool vec = p.d % 8 == 0 && vec16_ok(p.x, {{p.n, p.x_sn}, {p.h, p.x_sh}}) &&
                   vec16_ok(p.dst(), {{p.n, p.dst_sn()}, {p.h, p.dst_sh()}});
  const unsigned blocks = row_blocks(p.rows(), norm_rope_dev::kRowsPerBlock);
  if (vec)
    norm_rope_kernel<true><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p);
  else
    norm_rope_kernel<false><<<blocks, kRowThreads, 0, as_stream(stream)>>>(p);
  return check_launch("norm_rope_kernel");
}

}  // namespace mla::gpu
