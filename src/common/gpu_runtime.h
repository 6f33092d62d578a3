// What the dispatcher needs from the vendor runtime. Implemented once per vendor
// (src/cuda/gpu_runtime_cuda.cu, src/hip/gpu_runtime_hip.hip) and by gpu_runtime_none.cpp on a
// CPU-only build, where every call reports MLA_STATUS_NO_DEVICE.
#pragma once

#include <cstddef>

#include "mla/mla_core.h"

namespace mla::gpu {

// "cuda" or "hip"; nullptr on a CPU-only build.
const char* vendor();
int device_count();
mla_status sm_count(int device, int* sms);

// Makes `device` current for the lifetime of the scope and restores the caller's device.
class DeviceScope {
 public:
  explicit DeviceScope(int device);
  ~DeviceScope();
  mla_status status() const { return status_; }

 private:
  int previous_ = -1;
  mla_status status_ = MLA_STATUS_SUCCESS;
};

// Used by the memory helpers and the debugging backends only; operations never allocate.
mla_status allocate(size_t bytes, void** ptr);
void release(void* ptr);
mla_status copy_to_host(void* dst, const void* src, size_t n, mla_stream stream);
mla_status copy_to_device(void* dst, const void* src, size_t n, mla_stream stream);
mla_status copy_on_device(void* dst, const void* src, size_t n, mla_stream stream);
mla_status synchronize(mla_stream stream);

// After a kernel launch: turns a launch error into MLA_STATUS_DEVICE_ERROR naming the kernel.
mla_status check_launch(const char* kernel);

}  // namespace mla::gpu
