// The vendor runtime behind gpu_runtime.h, written once over gpu_vendor.h. Included by exactly
// one translation unit per vendor (src/cuda/gpu_runtime_cuda.cu, src/hip/gpu_runtime_hip.hip).
#pragma once

#include "../error.h"
#include "../gpu_runtime.h"
#include "gpu_vendor.h"

namespace mla::gpu {
namespace {

mla_status check(gpuError_t e, const char* what) {
  if (e == gpuSuccess) return MLA_STATUS_SUCCESS;
  return fail(MLA_STATUS_DEVICE_ERROR, "%s: %s", what, gpuGetErrorString(e));
}

}  // namespace

const char* vendor() { return MLA_VENDOR_NAME; }

int device_count() {
  int n = 0;
  if (gpuGetDeviceCount(&n) != gpuSuccess) {
    (void)gpuGetLastError();  // no driver or no device: clear the sticky error, report none
    return 0;
  }
  return n;
}

mla_status sm_count(int device, int* sms) {
  return check(gpuDeviceGetAttribute(sms, gpuDevAttrMultiProcessorCount, device),
               "multiprocessor count");
}

DeviceScope::DeviceScope(int device) {
  status_ = check(gpuGetDevice(&previous_), "get current device");
  if (status_ == MLA_STATUS_SUCCESS && previous_ != device)
    status_ = check(gpuSetDevice(device), "set device");
}

DeviceScope::~DeviceScope() {
  int now = -1;
  if (status_ == MLA_STATUS_SUCCESS && gpuGetDevice(&now) == gpuSuccess && now != previous_)
    (void)gpuSetDevice(previous_);
}

mla_status allocate(size_t bytes, void** ptr) {
  const gpuError_t e = gpuMalloc(ptr, bytes == 0 ? 1 : bytes);
  if (e == gpuSuccess) return MLA_STATUS_SUCCESS;
  (void)gpuGetLastError();
  return fail(MLA_STATUS_OUT_OF_MEMORY, "device allocation of %zu bytes: %s", bytes,
              gpuGetErrorString(e));
}

void release(void* ptr) {
  if (ptr != nullptr) (void)gpuFree(ptr);
}

static mla_status copy(void* dst, const void* src, size_t n, int kind, mla_stream stream,
                       const char* what) {
  MLA_TRY(check(gpuMemcpyAsync(dst, src, n, decltype(gpuMemcpyDeviceToHost)(kind),
                               as_stream(stream)),
                what));
  return check(gpuStreamSynchronize(as_stream(stream)), what);
}

mla_status copy_to_host(void* dst, const void* src, size_t n, mla_stream stream) {
  return copy(dst, src, n, gpuMemcpyDeviceToHost, stream, "copy to host");
}
mla_status copy_to_device(void* dst, const void* src, size_t n, mla_stream stream) {
  return copy(dst, src, n, gpuMemcpyHostToDevice, stream, "copy to device");
}
mla_status copy_on_device(void* dst, const void* src, size_t n, mla_stream stream) {
  return copy(dst, src, n, gpuMemcpyDeviceToDevice, stream, "copy on device");
}

mla_status synchronize(mla_stream stream) {
  return check(gpuStreamSynchronize(as_stream(stream)), "stream synchronize");
}

mla_status check_launch(const char* kernel) { return check(gpuGetLastError(), kernel); }

}  // namespace mla::gpu
