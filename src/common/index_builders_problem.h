// Validated problems of the V4 prefill index builders (SPEC 5): plain structs of pointers and
// element strides, passed by value to host code and kernels alike.
#pragma once

#include "kv_cache_problem.h"
#include "strided.h"

namespace mla {

struct SwaTokenIdsProblem {
  int64_t reqs = 0;       // R
  int64_t window = 0;     // W
  int64_t pool_rows = 0;  // rows of req_to_token
  int64_t max_len = 0;    // columns of req_to_token
  int64_t full_size = 0;  // entries of full_to_swa
  int64_t capacity = 0;   // entries of swa_token_ids

  Strided<const int32_t> seq_lens, extend_lens, req_pool;
  const int32_t* req_to_token = nullptr;
  int64_t rtt_s = 0;     // row stride of req_to_token
  SlotList full_to_swa;  // int32 or int64 values

  Strided<int32_t> ids, offsets;
  Strided<int32_t> first_pos, gather_lens;  // optional outputs
};

struct CombineIndicesProblem {
  int64_t rows = 0;  // T
  int64_t reqs = 0;  // R
  int64_t topk = 0, window = 0, ratio = 1;
  int64_t width = 0;  // combined_width(topk, window)

  const int32_t* topk_idx = nullptr;  // null when topk == 0 and none was given
  int64_t topk_s = 0;
  int64_t topk_cols = 0;
  Strided<const int32_t> query_start, seq_lens, gather_lens, swa_base;
  Strided<const int32_t> compressed_base;  // optional: 0

  int32_t* out = nullptr;
  int64_t out_s = 0;
  Strided<int32_t> lens;
};

}  // namespace mla
