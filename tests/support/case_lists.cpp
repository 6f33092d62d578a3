#include "case_lists.h"

namespace mlatest {

std::vector<DecodeSpec> decode_sweep() {
  const int64_t heads[] = {1, 3, 16, 64, 128};
  const int64_t topks[] = {1, 7, 64, 2048};
  const int64_t pages[] = {1, 2, 53, 64, 256};
  std::vector<DecodeSpec> out;
  // Each case k takes every dimension's value from k modulo a different period, so that all
  // values appear and pair up differently; the costly pairs (many heads x long topk) are
  // thinned by keeping b small.
  for (int k = 0; k < 40; ++k) {
    DecodeSpec s;
    s.format = (k % 2 == 0) ? MLA_KV_FORMAT_V32 : MLA_KV_FORMAT_V40;
    s.fnuz = (k / 2) % 2 == 1;
    s.h_q = heads[k % 5];
    s.topk = topks[(k / 3) % 4];
    s.page_size = pages[(k / 2) % 5];
    s.s_q = (k % 3 == 1) ? 3 : 1;
    s.extra = k % 4 >= 2;
    s.extra_topk = topks[(k / 5) % 4] == 2048 ? 512 : topks[(k / 5) % 4];
    s.extra_page_size = pages[(k / 7) % 5];
    s.sink = k % 5 >= 2;
    s.lengths = (k / 4) % 2 == 1;
    s.strided = k % 7 >= 4;
    s.default_scale = k % 11 == 3;
    s.empty_row = k % 6 == 5;
    s.b = (s.h_q >= 64 && s.topk == 2048) ? 1 : 2;
    if (s.h_q * s.topk * s.s_q > 128 * 2048) s.s_q = 1;
    out.push_back(s);
  }
  return out;
}

std::vector<PrefillSpec> prefill_sweep() {
  const int64_t heads[] = {1, 3, 16, 64, 128};
  const int64_t topks[] = {1, 7, 64, 2048};
  std::vector<PrefillSpec> out;
  for (int k = 0; k < 20; ++k) {
    PrefillSpec s;
    s.h_q = heads[k % 5];
    s.topk = topks[(k / 2) % 4];
    s.d_qk = (k % 3 == 0) ? 512 : 576;
    s.s_q = (s.h_q * s.topk >= 64 * 2048) ? 1 : 5;
    s.s_kv = s.topk * 3 / 2 + 5;
    s.sink = k % 4 >= 2;
    s.lengths = (k / 3) % 2 == 1;
    s.strided = k % 5 == 2;
    s.default_scale = k % 7 == 4;
    s.empty_row = k % 6 == 1;
    out.push_back(s);
  }
  return out;
}

std::vector<PagedPrefillSpec> paged_prefill_sweep() {
  const int64_t heads[] = {1, 3, 16, 64, 128};
  const int64_t topks[] = {1, 7, 100, 384, 2048};
  const int64_t pages[] = {1, 2, 53, 64, 256};
  std::vector<PagedPrefillSpec> out;
  for (int k = 0; k < 24; ++k) {
    PagedPrefillSpec s;
    s.format = (k % 2 == 0) ? MLA_KV_FORMAT_V32 : MLA_KV_FORMAT_V40;
    s.fnuz = (k / 2) % 2 == 1;
    s.h_q = heads[k % 5];
    s.topk = topks[(k / 3) % 5];
    s.page_size = pages[(k / 2) % 5];
    s.sink = k % 4 >= 2;
    s.lengths = (k / 3) % 2 == 1;
    s.strided = k % 5 == 2;
    s.default_scale = k % 7 == 4;
    s.flat_indices = k % 3 == 1;
    s.empty_row = k % 6 == 1;
    s.s_q = 5;
    while (s.s_q > 1 && s.s_q * s.h_q * s.topk > 64 * 2048) --s.s_q;
    out.push_back(s);
  }
  return out;
}

}  // namespace mlatest
