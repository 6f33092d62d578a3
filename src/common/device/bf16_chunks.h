// Row chunks of bf16 for the memory-bound kernels: 16-byte vector loads and stores of 8
// values where the launcher proved alignment (kVector), plain element accesses otherwise.
#pragma once

#include <initializer_list>
#include <utility>

#include "../bf16.h"
#include "bf16_pack.h"
#include "launch.h"

namespace mla::gpu {

// Elements per chunk: 8 (16 bytes) on the vector path, kScalar on the fallback.
template <bool kVector, int kScalar>
constexpr int chunk_elems() {
  return kVector ? 8 : kScalar;
}

// True if a bf16 view can use 16-byte accesses: base 16-byte aligned and every stride of a
// dimension with more than one element a multiple of 8 elements. Host side.
inline bool vec16_ok(const void* base, std::initializer_list<std::pair<int64_t, int64_t>> dims) {
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0) return false;
  for (const auto& d : dims)
    if (d.first > 1 && d.second % 8 != 0) return false;
  return true;
}

// One 16-byte store to a 16-byte aligned address. On CUDA it is spelled out in PTX: in
// norm_rope nvcc split the plain uint4 store into four 4-byte stores (and write efficiency
// with them), whatever alignment it was told.
MLA_DEVICE MLA_FORCEINLINE void store16(void* p, uint4 w) {
#if defined(MLA_GPU_CUDA) && defined(MLA_DEVICE_PASS)
  asm volatile("st.global.v4.b32 [%0], {%1, %2, %3, %4};" ::"l"(p), "r"(w.x), "r"(w.y),
               "r"(w.z), "r"(w.w)
               : "memory");
#else
  *static_cast<uint4*>(p) = w;
#endif
}

// bf16 pairs in 32-bit words (element 2i in the low half): kept in registers, a chunk of 8
// costs 4 of them, and the conversions are a shift or a mask.
MLA_DEVICE MLA_FORCEINLINE float low_bf16(uint32_t w) {
  return float_of(w << 16);
}
MLA_DEVICE MLA_FORCEINLINE float high_bf16(uint32_t w) {
  return float_of(w & 0xffff0000u);
}
MLA_DEVICE MLA_FORCEINLINE uint32_t pack_bf16(float lo, float hi) { return pack_bf16x2(lo, hi); }

// The words of one chunk of an even kVec.
template <int kVec, bool kVector>
MLA_DEVICE MLA_FORCEINLINE void load_words(const bf16_bits* p, uint32_t (&w)[kVec / 2]) {
  static_assert(kVec % 2 == 0, "whole pairs");
  if constexpr (kVector) {
    static_assert(kVec == 8, "16-byte chunks hold 8 bf16");
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    w[0] = raw.x, w[1] = raw.y, w[2] = raw.z, w[3] = raw.w;
  } else {
#pragma unroll
    for (int i = 0; i < kVec / 2; ++i) w[i] = uint32_t(p[2 * i]) | (uint32_t(p[2 * i + 1]) << 16);
  }
}

template <int kVec>
MLA_DEVICE MLA_FORCEINLINE void words_to_float(const uint32_t (&w)[kVec / 2], float (&v)[kVec]) {
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) {
    v[2 * i] = low_bf16(w[i]);
    v[2 * i + 1] = high_bf16(w[i]);
  }
}

template <int kVec, bool kVector>
MLA_DEVICE MLA_FORCEINLINE void load_chunk(const bf16_bits* p, float (&v)[kVec]) {
  if constexpr (kVec % 2 == 0) {
    uint32_t w[kVec / 2];
    load_words<kVec, kVector>(p, w);
    words_to_float<kVec>(w, v);
  } else {
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] = bf16_to_float(p[i]);
  }
}

template <int kVec, bool kVector>
MLA_DEVICE MLA_FORCEINLINE void store_chunk(bf16_bits* p, const float (&v)[kVec]) {
  if constexpr (kVector) {
    static_assert(kVec == 8, "16-byte chunks hold 8 bf16");
    store16(p, uint4{pack_bf16(v[0], v[1]), pack_bf16(v[2], v[3]), pack_bf16(v[4], v[5]),
                     pack_bf16(v[6], v[7])});
  } else {
#pragma unroll
    for (int i = 0; i < kVec; ++i) p[i] = float_to_bf16(v[i]);
  }
}

// Bit-exact copy of one chunk.
template <int kVec, bool kVector>
MLA_DEVICE MLA_FORCEINLINE void copy_chunk(bf16_bits* dst, const bf16_bits* src) {
  if constexpr (kVector) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(src);
  } else {
#pragma unroll
    for (int i = 0; i < kVec; ++i) dst[i] = src[i];
  }
}

}  // namespace mla::gpu
