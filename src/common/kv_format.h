// The paged FP8 cache as the kernels see it: format, flavour, paging and 64-bit slot
// addressing common to both formats (SPEC 0 and 2).
#pragma once

#include "fp8_e4m3.h"

namespace mla {

enum class KvFormat : int32_t { V32 = 1, V40 = 2 };  // values of mla_kv_format

constexpr int kDv = 512;  // value dimension of both formats

MLA_HD constexpr int kv_row_dim(KvFormat f) { return f == KvFormat::V32 ? 576 : 512; }

// Bytes of one page of page_size tokens; -1 if page_size < 1.
int64_t kv_page_bytes(KvFormat f, int64_t page_size);

struct KvCacheView {
  uint8_t* data = nullptr;
  KvFormat format = KvFormat::V32;
  Fp8 fp8 = Fp8::E4M3FN;
  int64_t page_size = 0;
  int64_t num_pages = 0;
  int64_t page_stride = 0;  // bytes

  MLA_HD int64_t num_slots() const { return num_pages * page_size; }
  MLA_HD bool valid_slot(int64_t slot) const { return slot >= 0 && slot < num_slots(); }
  MLA_HD int64_t bytes() const { return num_pages * page_stride; }
  // Slots and page sizes fit 32 bits in practice: 32-bit division is several times cheaper
  // on GPUs than the 64-bit one, which stays for the rest. Byte offsets are always 64-bit.
  MLA_HD int64_t page_of(int64_t slot) const {
    if (((slot | page_size) >> 32) == 0) return int64_t(uint32_t(slot) / uint32_t(page_size));
    return slot / page_size;
  }
  MLA_HD int64_t offset_in_page(int64_t slot) const {
    if (((slot | page_size) >> 32) == 0) return int64_t(uint32_t(slot) % uint32_t(page_size));
    return slot % page_size;
  }
};

}  // namespace mla
