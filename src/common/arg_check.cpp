#include "arg_check.h"

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "checked_math.h"

namespace mla {
namespace {

std::string dims_text(const int64_t* d, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace

TensorCheck::TensorCheck(const char* name, const mla_tensor* t, bool optional)
    : name_(name), t_(t) {
  if (t == nullptr) {
    if (!optional) fail_with(MLA_STATUS_INVALID_ARGUMENT, "is required but NULL");
    return;
  }
  if (t->ndim < 1 || t->ndim > MLA_MAX_DIMS) {
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "ndim %d is outside [1, %d]", int(t->ndim),
              MLA_MAX_DIMS);
    return;
  }
  for (int i = 0; i < t->ndim; ++i) {
    if (t->shape[i] < 0) {
      fail_with(MLA_STATUS_INVALID_ARGUMENT, "shape[%d] is negative (%lld)", i,
                (long long)t->shape[i]);
      return;
    }
    if (t->strides[i] < 0) {
      fail_with(MLA_STATUS_INVALID_ARGUMENT, "strides[%d] is negative (%lld)", i,
                (long long)t->strides[i]);
      return;
    }
  }
  int64_t numel = 0;
  if (!checked_numel(t->shape, t->ndim, &numel)) {
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "shape %s has more than 2^63 - 1 elements",
              dims_text(t->shape, t->ndim).c_str());
    return;
  }
  if (t->data == nullptr && numel > 0) {
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "data is NULL");
    return;
  }
  type_ = dtype_of(t->dtype);
}

TensorCheck& TensorCheck::fail_with(mla_status s, const char* fmt, ...) {
  if (!ok()) return *this;
  char buf[768];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  status_ = fail(s, "%s: %s", name_, buf);
  return *this;
}

TensorCheck& TensorCheck::dtype(DType want) {
  if (ok() && present() && type_ != want)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "dtype must be %s, got %s", dtype_name(want),
              dtype_name(type_));
  return check_bytes();
}

TensorCheck& TensorCheck::dtype(DType a, DType b) {
  if (ok() && present() && type_ != a && type_ != b)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "dtype must be %s or %s, got %s", dtype_name(a),
              dtype_name(b), dtype_name(type_));
  return check_bytes();
}

TensorCheck& TensorCheck::check_bytes() {
  if (!ok() || !present()) return *this;
  const int elem = dtype_bytes(type_);
  int64_t bytes = 0;
  if (!checked_extent_bytes(t_->shape, t_->strides, t_->ndim, elem, &bytes))
    return fail_with(MLA_STATUS_INVALID_ARGUMENT,
                     "shape %s with strides %s reaches more than 2^57 bytes past data"
                     " (unaddressable)",
                     dims_text(t_->shape, t_->ndim).c_str(),
                     dims_text(t_->strides, t_->ndim).c_str());
  if (bytes == 0) return *this;  // an empty view reads nothing
  if (!fits_address_space(t_->data, bytes))
    return fail_with(MLA_STATUS_INVALID_ARGUMENT,
                     "data %p plus the view's %lld bytes runs past the address space", t_->data,
                     (long long)bytes);
  if (reinterpret_cast<uintptr_t>(t_->data) % uintptr_t(elem) != 0)
    return fail_with(MLA_STATUS_MISALIGNED, "data %p is not aligned to its %d-byte %s elements",
                     t_->data, elem, dtype_name(type_));
  return *this;
}

TensorCheck& TensorCheck::ndim(int n) {
  if (ok() && present() && t_->ndim != n)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "must have %d dimensions, got %d", n, int(t_->ndim));
  return *this;
}

TensorCheck& TensorCheck::ndim(int a, int b) {
  if (ok() && present() && t_->ndim != a && t_->ndim != b)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "must have %d or %d dimensions, got %d", a, b,
              int(t_->ndim));
  return *this;
}

TensorCheck& TensorCheck::dim(int i, int64_t want, const char* what) {
  if (ok() && present() && t_->shape[i] != want)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "shape[%d] (%s) must be %lld, got %lld", i, what,
              (long long)want, (long long)t_->shape[i]);
  return *this;
}

TensorCheck& TensorCheck::dim_at_least(int i, int64_t min, const char* what) {
  if (ok() && present() && t_->shape[i] < min)
    fail_with(MLA_STATUS_INVALID_ARGUMENT, "shape[%d] (%s) must be at least %lld, got %lld", i,
              what, (long long)min, (long long)t_->shape[i]);
  return *this;
}

TensorCheck& TensorCheck::unit_last_stride() {
  if (ok() && present()) {
    const int last = t_->ndim - 1;
    if (t_->shape[last] > 1 && t_->strides[last] != 1)
      fail_with(MLA_STATUS_INVALID_ARGUMENT, "the last dimension must be contiguous (stride 1),"
                " got stride %lld", (long long)t_->strides[last]);
  }
  return *this;
}

mla_status check_kv_cache(const char* name, const mla_kv_cache* c, KvCacheView* view) {
  if (c == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "%s: is required but NULL", name);
  if (c->format != int32_t(KvFormat::V32) && c->format != int32_t(KvFormat::V40))
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.format %d is not MLA_KV_FORMAT_V32 (1) or"
                " MLA_KV_FORMAT_V40 (2)", name, int(c->format));
  if (c->fp8 != int32_t(Fp8::E4M3FN) && c->fp8 != int32_t(Fp8::E4M3FNUZ))
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.fp8 %d is not MLA_FP8_E4M3FN (1) or"
                " MLA_FP8_E4M3FNUZ (2)", name, int(c->fp8));
  if (c->page_size < 1)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.page_size must be at least 1, got %lld", name,
                (long long)c->page_size);
  if (c->num_pages < 1)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.num_pages must be at least 1, got %lld", name,
                (long long)c->num_pages);
  if (c->data == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.data is NULL", name);
  if (reinterpret_cast<uintptr_t>(c->data) % 16 != 0)
    return fail(MLA_STATUS_MISALIGNED, "%s.data %p is not 16-byte aligned", name, c->data);
  const KvFormat format = KvFormat(c->format);
  const int64_t page_bytes = kv_page_bytes(format, c->page_size);
  if (page_bytes < 0 || page_bytes > kMaxViewBytes)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "%s.page_size %lld makes a page of more than 2^57 bytes (unaddressable)", name,
                (long long)c->page_size);
  const int64_t stride = c->page_stride_bytes == 0 ? page_bytes : c->page_stride_bytes;
  if (stride < page_bytes)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s.page_stride_bytes %lld is less than one page"
                " of %lld tokens (%lld bytes)", name, (long long)stride,
                (long long)c->page_size, (long long)page_bytes);
  if (stride % 16 != 0)
    return fail(MLA_STATUS_MISALIGNED, "%s.page_stride_bytes %lld is not a multiple of 16",
                name, (long long)stride);
  if (stride > kMaxViewBytes)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "%s.page_stride_bytes %lld is more than 2^57 (unaddressable)", name,
                (long long)stride);
  int64_t bytes = 0;
  if (!checked_mul(c->num_pages, stride, &bytes) || bytes > kMaxViewBytes)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "%s.num_pages %lld x a page stride of %lld bytes is more than 2^57 bytes"
                " (unaddressable)",
                name, (long long)c->num_pages, (long long)stride);
  if (!fits_address_space(c->data, bytes))
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "%s.data %p plus the cache's %lld bytes runs past the address space", name, c->data,
                (long long)bytes);
  view->data = static_cast<uint8_t*>(c->data);
  view->format = format;
  view->fp8 = Fp8(c->fp8);
  view->set_page_size(c->page_size);
  view->num_pages = c->num_pages;
  view->page_stride = stride;
  return MLA_STATUS_SUCCESS;
}

mla_status resolve_softmax_scale(float given, int64_t d_qk, float* scale) {
  if (!std::isfinite(given))
    return fail(MLA_STATUS_INVALID_ARGUMENT, "softmax_scale must be finite (0 selects"
                " d_qk^-0.5), got %g", double(given));
  *scale = given == 0.0f ? float(1.0 / std::sqrt(double(d_qk))) : given;
  return MLA_STATUS_SUCCESS;
}


}  // namespace mla
