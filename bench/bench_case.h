// A benchmark case: prepares its inputs once, then enqueues one call of the operation per
// run(). Cases register themselves through MLA_BENCH_CASES in their own source file.
#pragma once

#include <mla/mla.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

// What one call does, for the rates: useful FLOPs (0 for data movement), bytes that must
// cross device memory at least once, and the anchor's time from ANCHORS.md (< 0: none).
struct Work {
  double flops = 0;
  double bytes = 0;
  double anchor_us = -1;
};

class Case {
 public:
  virtual ~Case() = default;
  virtual std::string op() const = 0;
  virtual std::string shape() const = 0;
  virtual Work prepare(mla_context ctx) = 0;  // allocate and fill; may be slow
  virtual void run() = 0;                     // one call on the default stream
};

using CaseList = std::vector<std::unique_ptr<Case>>;
using CaseFactory = CaseList (*)();

int register_cases(CaseFactory f);
const std::vector<CaseFactory>& case_factories();

// Aborts with the library's message when a call fails.
void check(mla_status s, const char* what);

// Device memory owned by a case.
class DevBuf {
 public:
  DevBuf() = default;
  DevBuf(mla_context ctx, size_t bytes);
  ~DevBuf();
  DevBuf(DevBuf&& o) noexcept;
  DevBuf& operator=(DevBuf&& o) noexcept;
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  void* get() const { return ptr_; }
  size_t size() const { return bytes_; }
  void upload(const void* host, size_t bytes, size_t offset = 0) const;

 private:
  mla_context ctx_ = nullptr;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Descriptors for contiguous device tensors.
mla_tensor tensor(void* data, uint8_t code, uint8_t bits, std::vector<int64_t> shape);
mla_tensor bf16_tensor(const DevBuf& b, std::vector<int64_t> shape);
mla_tensor f32_tensor(const DevBuf& b, std::vector<int64_t> shape);
mla_tensor i32_tensor(const DevBuf& b, std::vector<int64_t> shape);
mla_tensor i64_tensor(const DevBuf& b, std::vector<int64_t> shape);

// Random data: bf16 values ~ N(0, sigma) clamped to [-clamp, clamp], made from a host pool
// that is repeated across the buffer (values need not be unique to time a kernel).
void fill_bf16(const DevBuf& b, size_t elems, double sigma, double clamp, uint64_t seed);
// A V3.2 or V4.0 cache of the given slots, written by mla_kv_store from random rows.
void fill_cache(mla_context ctx, const mla_kv_cache& kv, int64_t slots, uint64_t seed);

}  // namespace bench

#define MLA_BENCH_CONCAT2(a, b) a##b
#define MLA_BENCH_CONCAT(a, b) MLA_BENCH_CONCAT2(a, b)
#define MLA_BENCH_CASES(factory) \
  static const int MLA_BENCH_CONCAT(mla_bench_reg_, __LINE__) = bench::register_cases(factory)
