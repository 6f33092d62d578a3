// Test helpers shared by the host and GPU suites. Everything here is written plainly from
// SPEC.md, in float64, without using libmla's own codecs, so that the library is checked
// against an independent reading of the contract.
#pragma once

#include <gtest/gtest.h>
#include <mla/mla.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace mlatest {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---- Randomness: a fresh seed per test, printed so a failure can be replayed. ----
uint64_t fresh_seed();
struct Rng {
  explicit Rng(uint64_t seed) : gen(seed) {}
  double normal() { return nd(gen); }
  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(gen);
  }
  int64_t integer(int64_t lo, int64_t hi) {  // inclusive
    return std::uniform_int_distribution<int64_t>(lo, hi)(gen);
  }
  bool chance(double p) { return uniform(0.0, 1.0) < p; }
  std::mt19937_64 gen;
  std::normal_distribution<double> nd{0.0, 1.0};
};

// ---- Plain numeric references. ----
double bf16_value(uint16_t b);
uint16_t bf16_round(double x);  // to nearest bf16, ties to even (via fp32 first, as C does)
uint16_t bf16_round_float(float x);
float fp32_round(double x);
double fp8_value(uint8_t b, bool fnuz);   // NaN codes give NaN
uint8_t fp8_encode(double x, bool fnuz);  // nearest, ties to even code, saturating
double ue8m0_value(uint8_t b);

// ---- Aligned host buffers and tensor descriptors. ----
struct Bytes {
  explicit Bytes(size_t n = 0, uint8_t fill = 0) { resize(n, fill); }
  void resize(size_t n, uint8_t fill = 0);
  uint8_t* data() { return reinterpret_cast<uint8_t*>(storage.data()); }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(storage.data()); }
  size_t size() const { return n; }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(data());
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data());
  }
  std::vector<uint64_t> storage;  // 8-byte aligned; heap blocks are 16-byte aligned
  size_t n = 0;
};

mla_dtype dt_bf16();
mla_dtype dt_f32();
mla_dtype dt_i32();
mla_dtype dt_i64();

// A strided tensor in host memory. pad[i] elements are added to dim i's extent when strides are
// computed (row-major), so pad = {0, 3, 0} makes dim 0's stride larger than dims 1..n's span.
struct Tensor {
  Tensor() = default;
  Tensor(mla_dtype dt, std::vector<int64_t> shape, std::vector<int64_t> pad = {});
  // Copies own their bytes: the descriptor is re-pointed at the copy.
  Tensor(const Tensor& o) : desc(o.desc), bytes(o.bytes), elem(o.elem) { desc.data = bytes.data(); }
  Tensor& operator=(const Tensor& o) {
    desc = o.desc;
    bytes = o.bytes;
    elem = o.elem;
    desc.data = bytes.data();
    return *this;
  }
  Tensor(Tensor&&) = default;
  Tensor& operator=(Tensor&&) = default;
  mla_tensor desc;
  Bytes bytes;
  int elem = 0;
  int64_t offset(std::initializer_list<int64_t> idx) const;  // in elements
  template <typename T>
  T& at(std::initializer_list<int64_t> idx) {
    return bytes.as<T>()[offset(idx)];
  }
  template <typename T>
  const T& at(std::initializer_list<int64_t> idx) const {
    return bytes.as<T>()[offset(idx)];
  }
  void fill_bytes(uint8_t v) { std::memset(bytes.data(), v, bytes.size()); }
  const mla_tensor* ptr() const { return &desc; }
};

// A 1-D tensor of n elements with the given element stride.
Tensor strided_vector(mla_dtype dt, int64_t n, int64_t stride);

// Poison pattern for outputs: NaN in bf16 (0x7FC1) and fp32 alike when read as either.
void poison(Tensor& t);
// True if every element of t outside its logical shape still holds the poison pattern.
bool gaps_poisoned(const Tensor& t);
bool unchanged(const Bytes& before, const Bytes& after);

// Sets an environment variable for a scope, restoring the previous value (or its absence).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_.c_str(), old_.c_str(), 1);
    else
      unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// ---- KV caches filled the way SPEC 8 asks: NaN in every unused slot. ----
struct Cache {
  Cache(int format, bool fnuz, int64_t page_size, int64_t num_pages, int64_t extra_stride = 0);
  Cache(const Cache& o)
      : desc(o.desc),
        bytes(o.bytes),
        format(o.format),
        fnuz(o.fnuz),
        page_size(o.page_size),
        num_pages(o.num_pages),
        page_stride(o.page_stride) {
    desc.data = bytes.data();
  }
  Cache& operator=(const Cache&) = delete;
  mla_kv_cache desc;
  Bytes bytes;
  int format;
  bool fnuz;
  int64_t page_size, num_pages, page_stride;
  int64_t slots() const { return page_size * num_pages; }
  int row_dim() const { return format == MLA_KV_FORMAT_V32 ? 576 : 512; }
  // Byte offsets of a slot's parts (plain arithmetic from SPEC 2.1 and 2.2, 64-bit).
  int64_t nope_offset(int64_t slot) const;
  int64_t scale_offset(int64_t slot) const;
  int64_t rope_offset(int64_t slot) const;
  // Quantizes a bf16 row into slot (SPEC 2.4, written plainly) and returns nothing.
  void put(int64_t slot, const uint16_t* row);
  // The dequantized row of a slot (SPEC 2.1 / 2.2), as bf16 values in double.
  std::vector<double> get(int64_t slot) const;
};

// Quantized bytes of one token, SPEC 2.4 written plainly: fills `nope` codes and scales.
void quantize_v32(const uint16_t* row, bool fnuz, uint8_t nope[512], float scales[4]);
void quantize_v40(const uint16_t* row, bool fnuz, uint8_t nope[448], uint8_t scales[7]);

// ---- Attention in float64 over dequantized keys (SPEC 3 and 4). ----
struct AttnRowResult {
  std::vector<double> out;  // 512
  double lse = kInf;
  double max_logit = -kInf;
};
// keys: the valid key rows (dequantized, d_qk each); q: d_qk values; sink: NaN for none.
AttnRowResult attention_row(const std::vector<const std::vector<double>*>& keys,
                            const std::vector<double>& q, double scale, double sink);

// ---- SPEC 8 tolerance checks. ----
struct Tol {
  double abs, rel, cos;
};
constexpr Tol kDecodeOut{1e-3, 2.01 / 128, 5e-6};
constexpr Tol kDecodeLse{1e-6, 8.01 / 65536, -1.0};
constexpr Tol kPrefillOut{8e-4, 3.01 / 128, 7e-6};
constexpr Tol kPrefillStat{1e-6, 2.01 / 65536, -1.0};

// Accumulates (actual, reference) pairs and checks them at a tolerance.
class Checker {
 public:
  Checker(const char* what, Tol tol) : what_(what), tol_(tol) {}
  // where() names the element; it is called only for the first failure.
  template <class Where>
  void add(double a, double r, const Where& where) {
    if (!add(a, r) && bad_ == 1)
      first_bad_ = where() + ": got " + std::to_string(a) + ", expected " + std::to_string(r);
  }
  bool add(double a, double r);  // false if beyond tolerance
  ::testing::AssertionResult result() const;

 private:
  const char* what_;
  Tol tol_;
  int64_t n_ = 0, bad_ = 0;
  std::string first_bad_;
  double dot_ = 0, sq_ = 0, max_abs_ = 0;
};

}  // namespace mlatest
