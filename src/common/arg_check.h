// Argument checks shared by every operation. A host function that validates arguments reads
// as a checklist of these; the first failure records a message naming the argument and sticks.
#pragma once

#include <initializer_list>

#include "dtype.h"
#include "error.h"
#include "kv_format.h"
#include "mla/mla_core.h"

namespace mla {

class TensorCheck {
 public:
  // A required tensor; `optional` accepts a null descriptor (present() is then false).
  // Checks ndim, sizes and strides >= 0, an element count that fits int64, and data unless
  // the view is empty.
  TensorCheck(const char* name, const mla_tensor* t, bool optional = false);

  // The dtype, then what its element size implies: the view's bytes fit (at most
  // kMaxViewBytes, inside the address space) and data is aligned to the element size.
  TensorCheck& dtype(DType want);
  TensorCheck& dtype(DType a, DType b);
  TensorCheck& ndim(int n);
  TensorCheck& ndim(int a, int b);  // either
  int dims() const { return t_ ? int(t_->ndim) : 0; }
  TensorCheck& dim(int i, int64_t want, const char* what);
  TensorCheck& dim_at_least(int i, int64_t min, const char* what);
  // The last dimension has unit stride (a dimension of size 1 may have any stride).
  TensorCheck& unit_last_stride();

  bool present() const { return t_ != nullptr; }
  bool ok() const { return status_ == MLA_STATUS_SUCCESS; }
  mla_status status() const { return status_; }
  int64_t size(int i) const { return t_ ? t_->shape[i] : 0; }
  int64_t stride(int i) const { return t_ ? t_->strides[i] : 0; }
  DType type() const { return type_; }
  template <typename T>
  T* data() const {
    return t_ ? static_cast<T*>(t_->data) : nullptr;
  }

 private:
  TensorCheck& fail_with(mla_status s, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
  TensorCheck& check_bytes();
  const char* name_;
  const mla_tensor* t_;
  DType type_ = DType::Invalid;
  mla_status status_ = MLA_STATUS_SUCCESS;
};

// Checks a cache descriptor and fills a view: known format and flavour, page_size and
// num_pages >= 1, a 16-byte aligned base, and a page stride (default: the format's page bytes)
// that is a multiple of 16 and holds a whole page; the page and the whole cache span at most
// kMaxViewBytes and stay inside the address space.
mla_status check_kv_cache(const char* name, const mla_kv_cache* c, KvCacheView* view);

// The first of several statuses that is not success.
inline mla_status first_error(std::initializer_list<mla_status> all) {
  for (mla_status s : all)
    if (s != MLA_STATUS_SUCCESS) return s;
  return MLA_STATUS_SUCCESS;
}

// Softmax scale: 0 selects d_qk^-0.5; anything not finite is rejected.
mla_status resolve_softmax_scale(float given, int64_t d_qk, float* scale);

}  // namespace mla
