// Overflow-checked size arithmetic, used by every validation: element counts, byte extents of
// strided views, cache page bytes. A size that does not fit is reported, never wrapped, so
// that every offset a kernel computes inside a validated view fits int64.
#pragma once

#include <cstdint>

namespace mla {

// The most bytes one tensor view or cache may span: 2^57, more than any 64-bit platform can
// map (x86-64 with 5-level paging has 57-bit virtual addresses).
constexpr int64_t kMaxViewBytes = int64_t(1) << 57;

// *r = a * b, or false if that overflows int64.
inline bool checked_mul(int64_t a, int64_t b, int64_t* r) {
  return !__builtin_mul_overflow(a, b, r);
}
// *r = a + b, or false if that overflows int64.
inline bool checked_add(int64_t a, int64_t b, int64_t* r) {
  return !__builtin_add_overflow(a, b, r);
}

// The number of elements of a shape of non-negative sizes; false if it overflows int64.
// A shape with a zero size has none, whatever the other sizes.
inline bool checked_numel(const int64_t* shape, int ndim, int64_t* n) {
  *n = 0;
  for (int i = 0; i < ndim; ++i)
    if (shape[i] == 0) return true;
  *n = 1;
  for (int i = 0; i < ndim; ++i)
    if (!checked_mul(*n, shape[i], n)) return false;
  return true;
}

// Bytes from a view's base to one past its furthest element (0 if it has no element), for
// non-negative sizes and strides (in elements); false if that exceeds kMaxViewBytes.
inline bool checked_extent_bytes(const int64_t* shape, const int64_t* strides, int ndim,
                                 int64_t elem_bytes, int64_t* bytes) {
  *bytes = 0;
  for (int i = 0; i < ndim; ++i)
    if (shape[i] == 0) return true;
  int64_t last = 0;  // element offset of the furthest element
  for (int i = 0; i < ndim; ++i) {
    int64_t step = 0;
    if (!checked_mul(shape[i] - 1, strides[i], &step) || !checked_add(last, step, &last))
      return false;
  }
  return checked_add(last, 1, &last) && checked_mul(last, elem_bytes, bytes) &&
         *bytes <= kMaxViewBytes;
}

// True if [data, data + bytes) lies inside the address space: one past its end is a
// representable address.
inline bool fits_address_space(const void* data, int64_t bytes) {
  const uintptr_t base = reinterpret_cast<uintptr_t>(data);
  return bytes >= 0 && uint64_t(bytes) <= UINTPTR_MAX - base;
}

}  // namespace mla
