// The paged FP8 cache as the kernels see it: format, flavour, paging and 64-bit slot
// addressing common to both formats (SPEC 0 and 2).
#pragma once

#include "fast_div.h"
#include "fp8_e4m3.h"

namespace mla {

enum class KvFormat : int32_t { V32 = 1, V40 = 2 };  // values of mla_kv_format

constexpr int kDv = 512;  // value dimension of both formats

MLA_HD constexpr int kv_row_dim(KvFormat f) { return f == KvFormat::V32 ? 576 : 512; }

// Bytes of one page of page_size tokens; -1 if page_size < 1 or the bytes overflow int64.
int64_t kv_page_bytes(KvFormat f, int64_t page_size);

struct KvCacheView {
  uint8_t* data = nullptr;
  KvFormat format = KvFormat::V32;
  Fp8 fp8 = Fp8::E4M3FN;
  int64_t page_size = 0;
  int64_t num_pages = 0;
  int64_t page_stride = 0;  // bytes
  FastDiv pages_of;         // division by page_size (set_page_size keeps them together)

  void set_page_size(int64_t p) {
    page_size = p;
    pages_of = FastDiv(p);
  }

  MLA_HD int64_t num_slots() const { return num_pages * page_size; }
  MLA_HD bool valid_slot(int64_t slot) const { return slot >= 0 && slot < num_slots(); }
  MLA_HD int64_t bytes() const { return num_pages * page_stride; }
  // Byte offsets built from these are always 64-bit.
  MLA_HD int64_t page_of(int64_t slot) const {
    return pages_of.d == page_size ? pages_of.div(slot) : slot / page_size;
  }
  MLA_HD int64_t offset_in_page(int64_t slot) const { return slot - page_of(slot) * page_size; }
};

}  // namespace mla
