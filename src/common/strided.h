// A 1-D strided view of caller memory, for the small per-request and per-token vectors of the
// index builders and fused ops (lengths, offsets, bases, weights).
#pragma once

#include "port.h"

namespace mla {

template <typename T>
struct Strided {
  T* data = nullptr;
  int64_t stride = 0;  // elements

  MLA_HD bool present() const { return data != nullptr; }
  MLA_HD T& operator[](int64_t i) const { return data[i * stride]; }
};

}  // namespace mla
