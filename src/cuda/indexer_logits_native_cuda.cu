// Native indexer logits for CUDA: the shared tiled kernel with a tensor-core tile product
// (mma.sync m16n8k16 on exact rebiased halves, fp32 accumulation; sm_80 and later, the portable
// product before that). Halves rather than fp8 operands: both flavours decode exactly to
// halves, and the fp8 tensor-core accumulation of Hopper keeps fewer than fp32's bits.
#include "device/indexer_kernels.h"
#include "device/indexer_logits_native.h"

namespace mla::gpu {
namespace {

MLA_DEVICE MLA_FORCEINLINE uint32_t shared_address(const void* p) {
  return uint32_t(__cvta_generic_to_shared(p));
}

MLA_DEVICE MLA_FORCEINLINE void ldmatrix_x4(uint32_t (&r)[4], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(p)));
}

MLA_DEVICE MLA_FORCEINLINE void ldmatrix_x2(uint32_t (&r)[2], const uint16_t* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(r[0]), "=r"(r[1])
               : "r"(shared_address(p)));
}

// c += a * b for a 16x16 (row) half tile, a 16x8 (col) half tile and a 16x8 fp32 tile.
MLA_DEVICE MLA_FORCEINLINE void mma_16x8x16(float (&c)[4], const uint32_t (&a)[4],
                                            const uint32_t (&b)[2]) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7},"
      " {%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}

MLA_DEVICE MLA_FORCEINLINE float relu(float x) {
  return x > 0.0f ? x : 0.0f;
}

// Sum over the 8 lanes that hold the same accumulator column (lanes equal modulo 4).
MLA_DEVICE MLA_FORCEINLINE float column_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 4);
  v += __shfl_xor_sync(0xffffffffu, v, 8);
  return v + __shfl_xor_sync(0xffffffffu, v, 16);
}

// Eight warps tile the slots x 64 keys: a warp takes a pair of 16-slot m-tiles and
// m_pairs of the 8 n-tiles of 8 keys, so every warp has work for every m_tiles in {1,2,4,8}.
struct MmaProduct {
  static constexpr int kPartialRows = 8;
  template <int D>
  MLA_DEVICE static void compute(LogitsSmem<D>& s, int m_tiles) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    static_assert(logits_native::kThreads == 256, "eight warps");
    constexpr int kStride = LogitsSmem<D>::kStride;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m_pairs = m_tiles >= 2 ? m_tiles / 2 : 1;  // also n-tiles per warp
    const int mp = warp % m_pairs, wn = warp / m_pairs;
    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 4; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.0f;

#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
      uint32_t a[2][4];
#pragma unroll
      for (int i = 0; i < 2; ++i)
        if (2 * mp + i < m_tiles)
          ldmatrix_x4(a[i],
                      s.q + ((2 * mp + i) * 16 + lane % 16) * kStride + ks * 16 + (lane / 16) * 8);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (j >= m_pairs) continue;
        uint32_t b[2];
        ldmatrix_x2(b, s.k + ((wn * m_pairs + j) * 8 + lane % 8) * kStride + ks * 16 +
                           ((lane / 8) % 2) * 8);
#pragma unroll
        for (int i = 0; i < 2; ++i)
          if (2 * mp + i < m_tiles) mma_16x8x16(acc[i][j], a[i], b);
      }
    }

    // relu(acc * scale) * w, summed over each 8-slot half of an m-tile.
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      const int mt = 2 * mp + i;
      if (mt >= m_tiles) continue;
      const float w_top = s.w[mt * 16 + lane / 4], w_bottom = s.w[mt * 16 + 8 + lane / 4];
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        if (j >= m_pairs) continue;
        const int col = (wn * m_pairs + j) * 8 + 2 * (lane % 4);
        const float s0 = s.scale[col], s1 = s.scale[col + 1], u = s.unbias;
        const float t0 = column_sum(relu(acc[i][j][0] * u * s0) * w_top);
        const float t1 = column_sum(relu(acc[i][j][1] * u * s1) * w_top);
        const float b0 = column_sum(relu(acc[i][j][2] * u * s0) * w_bottom);
        const float b1 = column_sum(relu(acc[i][j][3] * u * s1) * w_bottom);
        if (lane < 4) {
          float* top = s.partial + (2 * mt) * logits_native::kTileKeys + col;
          float* bottom = top + logits_native::kTileKeys;
          top[0] = t0, top[1] = t1, bottom[0] = b0, bottom[1] = b1;
        }
      }
    }
#else
    SimtProduct::compute<D>(s, m_tiles);
#endif
  }
};
static_assert(MmaProduct::kPartialRows == SimtProduct::kPartialRows, "one partial layout");

}  // namespace

mla_status native_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream) {
  return launch_indexer_logits<MmaProduct>(p, stream);
}

mla_status native_indexer_paged_logits(const IndexerPagedLogitsProblem& p, mla_stream stream) {
  return launch_indexer_logits<MmaProduct>(p, stream);
}

}  // namespace mla::gpu
