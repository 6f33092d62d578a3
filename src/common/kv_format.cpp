#include "kv_format.h"

#include "checked_math.h"
#include "kv_format_v32.h"
#include "kv_format_v40.h"
#include "mla/mla_core.h"

namespace mla {

int64_t kv_page_bytes(KvFormat f, int64_t page_size) {
  if (page_size < 1) return -1;
  const int64_t token_bytes =
      f == KvFormat::V32 ? v32::kTokenBytes : v40::kRowBytes + v40::kScaleBytes;
  int64_t used = 0;
  if (!checked_mul(page_size, token_bytes, &used)) return -1;
  if (f == KvFormat::V32) return used;
  const int64_t rest = used % v40::kRowBytes;  // V40 pages are padded to a multiple of a row
  int64_t padded = used;
  if (rest != 0 && !checked_add(used, v40::kRowBytes - rest, &padded)) return -1;
  return padded;
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
