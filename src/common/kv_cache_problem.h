// Validated store and gather problems (SPEC 2.4, 2.5).
#pragma once

#include "bf16.h"
#include "kv_format.h"

namespace mla {

// Slots arrive as int32 or int64; kernels read them through this.
struct SlotList {
  const void* data = nullptr;
  int64_t stride = 0;
  bool wide = false;  // int64

  MLA_HD int64_t operator[](int64_t i) const {
    return wide ? static_cast<const int64_t*>(data)[i * stride]
                : int64_t(static_cast<const int32_t*>(data)[i * stride]);
  }
};

struct KvStoreProblem {
  int64_t n = 0;  // rows
  const bf16_bits* k = nullptr;
  int64_t k_s = 0;
  SlotList slots;
  KvCacheView kv;
};

struct KvGatherProblem {
  int64_t t = 0;  // rows
  KvCacheView kv;
  SlotList slots;
  bf16_bits* out = nullptr;
  int64_t out_s = 0;
};

}  // namespace mla
