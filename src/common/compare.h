// Element-wise comparison of two output buffers at SPEC 8 tolerances, for the compare mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mla {

enum class Elem { Bytes, Bf16, F32 };

// An element passes if |a - r| <= abs or |a - r| <= rel * |r|; infinities and NaN must match
// exactly; and 1 - 2 sum(a r) / sum(a^2 + r^2) <= cos when cos >= 0. All zero: bit-exact.
struct Tolerance {
  double abs = 0.0;
  double rel = 0.0;
  double cos = -1.0;
};

struct CompareResult {
  bool ok = true;
  int64_t count = 0;
  double max_abs = 0.0;
  double max_rel = 0.0;
  double cos_err = 0.0;
  int64_t first_bad = -1;  // element index
  double bad_a = 0.0, bad_r = 0.0;
};

CompareResult compare_buffers(Elem elem, const void* a, const void* r, size_t bytes,
                              const Tolerance& tol);
std::string describe(const char* name, const CompareResult& c, const char* a_name,
                     const char* r_name);

}  // namespace mla
