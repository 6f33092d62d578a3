#include "compare.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "bf16.h"

namespace mla {
namespace {

double element(Elem elem, const void* base, size_t i) {
  if (elem == Elem::Bf16) return bf16_to_float(static_cast<const bf16_bits*>(base)[i]);
  if (elem == Elem::F32) return static_cast<const float*>(base)[i];
  return static_cast<const uint8_t*>(base)[i];
}

size_t element_bytes(Elem elem) { return elem == Elem::Bf16 ? 2 : elem == Elem::F32 ? 4 : 1; }

bool same_special(double a, double r) {
  if (std::isnan(a) || std::isnan(r)) return std::isnan(a) && std::isnan(r);
  return a == r;  // infinities
}

}  // namespace

CompareResult compare_buffers(Elem elem, const void* a, const void* r, size_t bytes,
                              const Tolerance& tol) {
  CompareResult c;
  const size_t n = bytes / element_bytes(elem);
  c.count = int64_t(n);
  const bool exact = tol.abs == 0.0 && tol.rel == 0.0;
  double dot = 0.0, sq = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double x = element(elem, a, i), y = element(elem, r, i);
    bool good;
    if (exact) {
      const size_t w = element_bytes(elem);
      good = std::memcmp(static_cast<const uint8_t*>(a) + i * w,
                         static_cast<const uint8_t*>(r) + i * w, w) == 0;
    } else if (!std::isfinite(x) || !std::isfinite(y)) {
      good = same_special(x, y);
    } else {
      const double d = std::fabs(x - y);
      good = d <= tol.abs || d <= tol.rel * std::fabs(y);
      if (d > c.max_abs) c.max_abs = d;
      if (y != 0.0 && d / std::fabs(y) > c.max_rel) c.max_rel = d / std::fabs(y);
      dot += x * y;
      sq += x * x + y * y;
    }
    if (!good && c.first_bad < 0) {
      c.first_bad = int64_t(i);
      c.bad_a = x;
      c.bad_r = y;
    }
  }
  c.cos_err = sq > 0.0 ? 1.0 - 2.0 * dot / sq : 0.0;
  c.ok = c.first_bad < 0 && (tol.cos < 0.0 || c.cos_err <= tol.cos);
  return c;
}

std::string describe(const char* name, const CompareResult& c, const char* a_name,
                     const char* r_name) {
  char buf[512];
  int n = std::snprintf(buf, sizeof(buf), " %s: %lld elements, max abs %.3g, max rel %.3g,"
                        " cos err %.3g", name, (long long)c.count, c.max_abs, c.max_rel,
                        c.cos_err);
  if (c.first_bad >= 0 && n > 0 && size_t(n) < sizeof(buf))
    std::snprintf(buf + n, sizeof(buf) - size_t(n), ", first beyond tolerance at element %lld"
                  " (%s %.9g, %s %.9g)", (long long)c.first_bad, a_name, c.bad_a, r_name,
                  c.bad_r);
  return buf;
}

}  // namespace mla
