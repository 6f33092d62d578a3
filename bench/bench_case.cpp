#include "bench_case.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <cstring>

namespace bench {

static std::vector<CaseFactory>& registry() {
  static std::vector<CaseFactory> r;
  return r;
}
int register_cases(CaseFactory f) {
  registry().push_back(f);
  return 0;
}
const std::vector<CaseFactory>& case_factories() { return registry(); }

void check(mla_status s, const char* what) {
  if (s == MLA_STATUS_SUCCESS) return;
  std::fprintf(stderr, "mla_bench: %s failed: %s: %s\n", what, mla_status_string(s),
               mla_last_error());
  std::exit(2);
}

DevBuf::DevBuf(mla_context ctx, size_t bytes) : ctx_(ctx), bytes_(bytes) {
  check(mla_malloc(ctx, bytes, &ptr_), "mla_malloc");
}
DevBuf::~DevBuf() {
  if (ptr_ != nullptr) mla_free(ctx_, ptr_);
}
DevBuf::DevBuf(DevBuf&& o) noexcept : ctx_(o.ctx_), ptr_(o.ptr_), bytes_(o.bytes_) {
  o.ptr_ = nullptr;
}
DevBuf& DevBuf::operator=(DevBuf&& o) noexcept {
  std::swap(ctx_, o.ctx_);
  std::swap(ptr_, o.ptr_);
  std::swap(bytes_, o.bytes_);
  return *this;
}
void DevBuf::upload(const void* host, size_t bytes, size_t offset) const {
  check(mla_memcpy_to_device(ctx_, static_cast<char*>(ptr_) + offset, host, bytes), "upload");
}

mla_tensor tensor(void* data, uint8_t code, uint8_t bits, std::vector<int64_t> shape) {
  mla_tensor t{};
  t.data = data;
  t.dtype = mla_dtype{code, bits, 1};
  t.ndim = int32_t(shape.size());
  int64_t stride = 1;
  for (int i = t.ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[size_t(i)];
    t.strides[i] = stride;
    stride *= shape[size_t(i)];
  }
  return t;
}
mla_tensor bf16_tensor(const DevBuf& b, std::vector<int64_t> s) {
  return tensor(b.get(), MLA_DTYPE_BFLOAT, 16, std::move(s));
}
mla_tensor f32_tensor(const DevBuf& b, std::vector<int64_t> s) {
  return tensor(b.get(), MLA_DTYPE_FLOAT, 32, std::move(s));
}
mla_tensor i32_tensor(const DevBuf& b, std::vector<int64_t> s) {
  return tensor(b.get(), MLA_DTYPE_INT, 32, std::move(s));
}
mla_tensor i64_tensor(const DevBuf& b, std::vector<int64_t> s) {
  return tensor(b.get(), MLA_DTYPE_INT, 64, std::move(s));
}

static uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return uint16_t((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
}

void fill_bf16(const DevBuf& b, size_t elems, double sigma, double clamp, uint64_t seed) {
  const size_t pool = std::min<size_t>(elems, size_t(1) << 22);
  std::vector<uint16_t> host(pool);
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> nd(0.0f, float(sigma));
  for (auto& v : host) v = to_bf16(std::max(-float(clamp), std::min(float(clamp), nd(gen))));
  for (size_t off = 0; off < elems; off += pool) {
    const size_t n = std::min(pool, elems - off);
    b.upload(host.data(), n * 2, off * 2);
  }
}

void fill_cache(mla_context ctx, const mla_kv_cache& kv, int64_t slots, uint64_t seed) {
  const int64_t d = mla_kv_row_dim(kv.format);
  const int64_t chunk = std::min<int64_t>(slots, 65536);
  DevBuf rows(ctx, size_t(chunk * d * 2));
  fill_bf16(rows, size_t(chunk * d), 0.1, 1e9, seed);
  DevBuf ids(ctx, size_t(chunk * 8));
  std::vector<int64_t> host(static_cast<size_t>(chunk));
  for (int64_t base = 0; base < slots; base += chunk) {
    const int64_t n = std::min(chunk, slots - base);
    for (int64_t i = 0; i < n; ++i) host[size_t(i)] = base + i;
    ids.upload(host.data(), size_t(n * 8));
    mla_tensor k = bf16_tensor(rows, {n, d}), s = i64_tensor(ids, {n});
    mla_kv_store_args a{&k, &s, &kv};
    check(mla_kv_store(ctx, &a, nullptr), "mla_kv_store (fill)");
  }
  check(mla_stream_synchronize(ctx, nullptr), "synchronize");
}

}  // namespace bench
