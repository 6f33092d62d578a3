#include "kv_format.h"

#include "kv_format_v32.h"
#include "kv_format_v40.h"
#include "mla/mla_core.h"

namespace mla {

int64_t kv_page_bytes(KvFormat f, int64_t page_size) {
  if (page_size < 1) return -1;
  if (f == KvFormat::V32) return page_size * v32::kTokenBytes;
  const int64_t used = page_size * (v40::kRowBytes + v40::kScaleBytes);
  return round_up(used, v40::kRowBytes);
}

}  // namespace mla

extern "C" {

int64_t mla_kv_page_bytes(int32_t format, int64_t page_size) {
  if (format != int32_t(mla::KvFormat::V32) && format != int32_t(mla::KvFormat::V40)) return -1;
  return mla::kv_page_bytes(mla::KvFormat(format), page_size);
}

int32_t mla_kv_row_dim(int32_t format) {
  if (format != int32_t(mla::KvFormat::V32) && format != int32_t(mla::KvFormat::V40)) return -1;
  return mla::kv_row_dim(mla::KvFormat(format));
}

}  // extern "C"
