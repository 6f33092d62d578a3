// GPU test helpers: copies of host tensors and caches in device memory, made through the
// library's own memory helpers (so tests need no vendor runtime), and a fixture that skips
// cleanly where no GPU exists.
#pragma once

#include <mla/mla.h>

#include <memory>

#include "mla_test.h"

namespace mlatest {

class GpuContext {
 public:
  GpuContext();
  ~GpuContext();
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;
  mla_context get() const { return ctx_; }

 private:
  mla_context ctx_ = nullptr;
};

// Device memory that frees itself.
class DeviceBuffer {
 public:
  DeviceBuffer(mla_context ctx, size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  size_t size() const { return bytes_; }
  mla_context context() const { return ctx_; }

 private:
  mla_context ctx_;
  void* ptr_ = nullptr;
  size_t bytes_;
};

// A device copy of a host tensor with the same shape and strides.
struct DeviceTensor {
  DeviceTensor(mla_context ctx, const Tensor& host);
  void download(Tensor& host) const;  // device bytes back into host (same layout)
  const mla_tensor* ptr() const { return &desc; }
  std::unique_ptr<DeviceBuffer> buf;
  mla_tensor desc;
};

struct DeviceCache {
  DeviceCache(mla_context ctx, const Cache& host);
  void download(Cache& host) const;
  std::unique_ptr<DeviceBuffer> buf;
  mla_kv_cache desc;
};

// Run an operation on a GPU context with the workspace the size query asks for.
mla_status gpu_decode(mla_context ctx, const mla_sparse_decode_args& a);
mla_status gpu_prefill(mla_context ctx, const mla_sparse_prefill_args& a);
mla_status gpu_prefill_paged(mla_context ctx, const mla_sparse_prefill_paged_args& a);

}  // namespace mlatest

// Skips the test where the build or the machine has no GPU.
#define MLA_REQUIRE_GPU()                                                         \
  do {                                                                            \
    if (mla_device_count() < 1) GTEST_SKIP() << "no GPU on this machine/build";   \
  } while (0)
