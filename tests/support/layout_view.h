// Tensors laid out the ways the fused ops and index builders must accept: contiguous, padded
// (non-contiguous, strides still multiples of 16 bytes), odd strides (no 16-byte accesses
// possible), and a base one element off its alignment with aligned strides. A View owns its
// bytes; element access follows the descriptor, so transposed views work too.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "mla_test.h"

namespace mlatest {

enum class Layout { Contiguous, Padded, OddStrides, ShiftedBase };
std::string layout_name(Layout l);

struct View {
  View() = default;
  View(mla_dtype dt, std::vector<int64_t> shape, Layout layout = Layout::Contiguous);
  View(const View& o) { *this = o; }
  View& operator=(const View& o);

  mla_tensor desc{};
  Bytes bytes;
  int elem = 0;

  const mla_tensor* ptr() const { return &desc; }
  int64_t numel() const;
  int64_t offset(std::initializer_list<int64_t> idx) const;  // elements from desc.data
  template <typename T>
  T& at(std::initializer_list<int64_t> idx) {
    return base<T>()[offset(idx)];
  }
  template <typename T>
  const T& at(std::initializer_list<int64_t> idx) const {
    return base<T>()[offset(idx)];
  }
  // Element e of the view in row-major order of its shape.
  int64_t offset_of(int64_t e) const;
  template <typename T>
  T& flat(int64_t e) {
    return base<T>()[offset_of(e)];
  }
  template <typename T>
  const T& flat(int64_t e) const {
    return base<T>()[offset_of(e)];
  }
  void poison();  // every byte, view or gap: the NaN pattern of mla_test.h
  // Swaps dims 0 and 1 of a 2-D view (same bytes).
  View transposed() const;
  int64_t shift_bytes() const;  // where desc.data sits in bytes

 private:
  template <typename T>
  T* base() {
    return reinterpret_cast<T*>(static_cast<uint8_t*>(desc.data));
  }
  template <typename T>
  const T* base() const {
    return reinterpret_cast<const T*>(static_cast<const uint8_t*>(desc.data));
  }
};

// A 1-D view holding the given int32 values.
View int32_view(const std::vector<int32_t>& v, Layout layout = Layout::Contiguous);

// True if every byte of `after` outside the view's elements equals `before`.
::testing::AssertionResult gaps_unchanged(const View& before, const View& after);
// True if the two views' bytes are identical.
::testing::AssertionResult bytes_unchanged(const View& before, const View& after);

}  // namespace mlatest
