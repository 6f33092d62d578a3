#include "layout_view.h"

#include <algorithm>

namespace mlatest {

std::string layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous:
      return "contig";
    case Layout::Padded:
      return "padded";
    case Layout::OddStrides:
      return "odd";
    case Layout::ShiftedBase:
      return "shifted";
  }
  return "?";
}

View::View(mla_dtype dt, std::vector<int64_t> shape, Layout layout) {
  elem = dt.bits / 8;
  const int nd = int(shape.size());
  desc.dtype = dt;
  desc.ndim = nd;
  // Padding per dim (added to the extent used for the next-outer stride): the last dim of a
  // 1-D view is strided; of a wider view it stays contiguous.
  int64_t stride = 1;
  for (int i = nd - 1; i >= 0; --i) {
    desc.shape[i] = shape[size_t(i)];
    int64_t pad = 0;
    if (nd == 1) {
      desc.strides[i] = layout == Layout::Contiguous ? 1 : (layout == Layout::OddStrides ? 3 : 2);
      continue;
    }
    desc.strides[i] = stride;
    if (layout == Layout::Padded || layout == Layout::ShiftedBase)
      pad = i == nd - 1 ? 8 : 1;
    else if (layout == Layout::OddStrides)
      pad = 1;
    stride *= shape[size_t(i)] + pad;
  }
  int64_t extent = 1;
  for (int i = 0; i < nd; ++i)
    extent += std::max<int64_t>(shape[size_t(i)] - 1, 0) * desc.strides[i];
  const int64_t shift = layout == Layout::ShiftedBase ? 1 : 0;
  bytes.resize(size_t((extent + shift + 1) * elem));
  desc.data = bytes.data() + shift * elem;
}

View& View::operator=(const View& o) {
  const int64_t shift = o.shift_bytes();
  desc = o.desc;
  bytes = o.bytes;
  elem = o.elem;
  desc.data = bytes.data() + shift;
  return *this;
}

int64_t View::shift_bytes() const {
  return desc.data == nullptr ? 0 : static_cast<const uint8_t*>(desc.data) - bytes.data();
}

int64_t View::numel() const {
  int64_t n = 1;
  for (int i = 0; i < desc.ndim; ++i) n *= desc.shape[i];
  return n;
}

int64_t View::offset(std::initializer_list<int64_t> idx) const {
  int64_t off = 0;
  int i = 0;
  for (int64_t v : idx) off += v * desc.strides[i++];
  return off;
}

int64_t View::offset_of(int64_t e) const {
  int64_t off = 0;
  for (int i = desc.ndim - 1; i >= 0; --i) {
    off += (e % desc.shape[i]) * desc.strides[i];
    e /= desc.shape[i];
  }
  return off;
}

void View::poison() {
  uint8_t* p = bytes.data();
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    p[i] = 0xC1;
    p[i + 1] = 0x7F;
  }
}

View View::transposed() const {
  View t = *this;
  std::swap(t.desc.shape[0], t.desc.shape[1]);
  std::swap(t.desc.strides[0], t.desc.strides[1]);
  return t;
}

View int32_view(const std::vector<int32_t>& v, Layout layout) {
  View t(dt_i32(), {int64_t(v.size())}, layout);
  t.poison();
  for (size_t i = 0; i < v.size(); ++i) t.at<int32_t>({int64_t(i)}) = v[i];
  return t;
}

::testing::AssertionResult gaps_unchanged(const View& before, const View& after) {
  if (before.bytes.size() != after.bytes.size())
    return ::testing::AssertionFailure() << "views of different sizes";
  std::vector<bool> in_view(before.bytes.size(), false);
  const int64_t shift = before.shift_bytes();
  for (int64_t e = 0; e < before.numel(); ++e)
    for (int b = 0; b < before.elem; ++b)
      in_view[size_t(shift + before.offset_of(e) * before.elem + b)] = true;
  for (size_t i = 0; i < in_view.size(); ++i)
    if (!in_view[i] && before.bytes.data()[i] != after.bytes.data()[i])
      return ::testing::AssertionFailure() << "byte " << i << " outside the view was written";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult bytes_unchanged(const View& before, const View& after) {
  if (unchanged(before.bytes, after.bytes)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "bytes changed";
}

}  // namespace mlatest
