// Random store/gather problems (SPEC 2.4, 2.5) shared by the host and GPU suites.
#pragma once

#include <memory>

#include "mla_test.h"

namespace mlatest {

struct KvSpec {
  int format = MLA_KV_FORMAT_V32;
  bool fnuz = false;
  int64_t page_size = 64, num_pages = 3;
  int64_t rows = 50;
  bool wide_slots = false;  // int64 slots
  bool strided = false;
  std::string name() const;
};

struct KvCase {
  KvSpec spec;
  std::unique_ptr<Cache> cache;  // starts all-NaN (Cache's fill)
  Tensor k;                      // bf16 [rows, d], randn/10 with a few special tiles
  Tensor slots;                  // distinct valid slots, plus skipped ones
  int64_t d = 0;
  int64_t slot(int64_t n) const {
    return spec.wide_slots ? slots.at<int64_t>({n}) : slots.at<int32_t>({n});
  }
  mla_kv_store_args store_args();
};

std::unique_ptr<KvCase> make_kv_case(const KvSpec& spec, Rng& rng);

// The bytes the store must produce: the test's own SPEC 2.4 quantizer applied to every row
// with a valid slot, over the untouched (NaN) cache.
Cache expected_store(const KvCase& c);

}  // namespace mlatest
