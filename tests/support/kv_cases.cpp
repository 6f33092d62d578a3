#include "kv_cases.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace mlatest {

std::string KvSpec::name() const {
  std::ostringstream s;
  s << (format == MLA_KV_FORMAT_V32 ? "V32" : "V40") << (fnuz ? "_fnuz" : "_fn") << "_P"
    << page_size << "_pages" << num_pages << "_rows" << rows << (wide_slots ? "_i64" : "_i32")
    << (strided ? "_strided" : "");
  return s.str();
}

mla_kv_store_args KvCase::store_args() {
  mla_kv_store_args a;
  a.k = k.ptr();
  a.slots = slots.ptr();
  a.kv = &cache->desc;
  return a;
}

std::unique_ptr<KvCase> make_kv_case(const KvSpec& sp, Rng& rng) {
  auto c = std::make_unique<KvCase>();
  c->spec = sp;
  c->d = sp.format == MLA_KV_FORMAT_V32 ? 576 : 512;
  // Enough slots for every row to get its own (duplicate slots have no single right answer).
  c->spec.num_pages = std::max(sp.num_pages, (sp.rows + 10 + sp.page_size - 1) / sp.page_size);
  c->cache = std::make_unique<Cache>(sp.format, sp.fnuz, sp.page_size, c->spec.num_pages,
                                     sp.strided ? 32 : 0);
  const int64_t pad = sp.strided ? 24 : 0;
  c->k = Tensor(dt_bf16(), {sp.rows, c->d}, {0, pad});
  const int tile = sp.format == MLA_KV_FORMAT_V32 ? 128 : 64;
  for (int64_t n = 0; n < sp.rows; ++n) {
    const int64_t kind = rng.integer(0, 9);
    for (int64_t x = 0; x < c->d; ++x) {
      double v = rng.normal() / 10.0;
      if (x < c->d - 64) {  // the quantized part: some tiles are special on purpose
        const int64_t t = x / tile;
        if (kind == 0 && t == 0) v = 0.0;                        // all-zero tile: zero codes
        if (kind == 1 && t == 1) v *= 1e-6;                      // below the 1e-4 floor
        if (kind == 2 && t == 2) v *= 3e4;                       // large values
        if (kind == 3 && t == 0) v = (x % 2 ? -1.0 : 1.0) * 448; // exactly at FP8_MAX
      }
      c->k.at<uint16_t>({n, x}) = bf16_round(v);
    }
  }
  // Distinct slots (so the expected cache is unambiguous), a few negative or out of range.
  std::vector<int64_t> perm(size_t(c->cache->slots()));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng.gen);
  c->slots = sp.strided ? strided_vector(sp.wide_slots ? dt_i64() : dt_i32(), sp.rows, 2)
                        : Tensor(sp.wide_slots ? dt_i64() : dt_i32(), {sp.rows});
  for (int64_t n = 0; n < sp.rows; ++n) {
    int64_t s = perm[size_t(n) % perm.size()];
    if (n % 9 == 4) s = -1;
    if (n % 13 == 7) s = c->cache->slots() + n;
    if (n % 17 == 3) s = sp.wide_slots ? INT64_MIN : INT32_MIN;
    if (sp.wide_slots)
      c->slots.at<int64_t>({n}) = s;
    else
      c->slots.at<int32_t>({n}) = int32_t(s);
  }
  return c;
}

Cache expected_store(const KvCase& c) {
  Cache want = *c.cache;
  for (int64_t n = 0; n < c.spec.rows; ++n) {
    const int64_t s = c.slot(n);
    if (s < 0 || s >= want.slots()) continue;
    want.put(s, &c.k.at<uint16_t>({n, 0}));
  }
  return want;
}

}  // namespace mlatest
