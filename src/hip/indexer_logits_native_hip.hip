// Native indexer logits for HIP: the shared tiled kernel with a matrix-core tile product
// (v_mfma_f32_16x16x16_f16 on exact rebiased halves, fp32 accumulation; gfx90a and gfx942, the
// portable product elsewhere). Halves serve both fp8 flavours exactly, so no flavour needs a
// fallback.
#include "device/indexer_kernels.h"
#include "device/indexer_logits_native.h"

namespace mla::gpu {
namespace {

#if defined(__gfx90a__) || defined(__gfx940__) || defined(__gfx941__) || defined(__gfx942__)
#define MLA_HAS_MFMA_F16 1
typedef _Float16 half4_t __attribute__((ext_vector_type(4)));
typedef float float4_t __attribute__((ext_vector_type(4)));
MLA_DEVICE MLA_FORCEINLINE float relu(float x) {
  return x > 0.0f ? x : 0.0f;
}
#endif

// Four wave64 lanes tile the slots x 64 keys in 16 x 16 blocks. For 16x16x16 MFMA, lane l holds
// A[l % 16][4 * (l / 16) + e] and B[4 * (l / 16) + e][l % 16] (e < 4), and gets
// C[4 * (l / 16) + r][l % 16] in register r.
struct MfmaProduct {
  static constexpr int kPartialRows = 8;
  template <int D>
  MLA_DEVICE static void compute(LogitsSmem<D>& s, int m_tiles) {
#if defined(MLA_HAS_MFMA_F16)
    static_assert(logits_native::kThreads == 256, "four waves");
    constexpr int kStride = LogitsSmem<D>::kStride;
    const int wave = threadIdx.x / 64, lane = threadIdx.x % 64;
    const int m_per_wave = m_tiles >= 4 ? m_tiles / 4 : 1;  // at most 2
    const int n_per_wave = m_tiles >= 4 ? 4 : m_tiles;      // 16-key blocks
    const int m_base = m_tiles >= 4 ? wave * m_per_wave : wave % m_tiles;
    const int n_base = m_tiles >= 4 ? 0 : (wave / m_tiles) * n_per_wave;
    const int row = lane % 16, quad = lane / 16;
    float4_t acc[2][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j) acc[i][j] = float4_t{0.0f, 0.0f, 0.0f, 0.0f};

#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      const int col = ks * 16 + 4 * quad;
      half4_t a[2];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        if (i < m_per_wave)
          a[i] = *reinterpret_cast<const half4_t*>(s.q + ((m_base + i) * 16 + row) * kStride + col);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (j >= n_per_wave) continue;
        const half4_t b =
            *reinterpret_cast<const half4_t*>(s.k + ((n_base + j) * 16 + row) * kStride + col);
#pragma unroll
        for (int i = 0; i < 2; ++i)
          if (i < m_per_wave)
            acc[i][j] = __builtin_amdgcn_mfma_f32_16x16x16f16(a[i], b, acc[i][j], 0, 0, 0);
      }
    }

    // relu(acc * scale) * w over the lane's four slots, then the lane 16 apart: 8-slot sums.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if (i >= m_per_wave) continue;
      const int mt = m_base + i;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (j >= n_per_wave) continue;
        const int key = (n_base + j) * 16 + row;
        const float sc = s.scale[key], u = s.unbias;
        float v = 0.0f;
#pragma unroll
        for (int r = 0; r < 4; ++r) v += relu(acc[i][j][r] * u * sc) * s.w[mt * 16 + 4 * quad + r];
        v += __shfl_xor(v, 16);
        if (quad % 2 == 0) s.partial[(2 * mt + quad / 2) * logits_native::kTileKeys + key] = v;
      }
    }
#else
    SimtProduct::compute<D>(s, m_tiles);
#endif
  }
};
static_assert(MfmaProduct::kPartialRows == SimtProduct::kPartialRows, "one partial layout");

}  // namespace

mla_status native_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream) {
  return launch_indexer_logits<MfmaProduct>(p, stream);
}

mla_status native_indexer_paged_logits(const IndexerPagedLogitsProblem& p, mla_stream stream) {
  return launch_indexer_logits<MfmaProduct>(p, stream);
}

}  // namespace mla::gpu
