// The memory helpers of mla_core.h: for programs without a GPU runtime of their own.
#include <cstdlib>
#include <cstring>

#include "context.h"
#include "error.h"
#include "gpu_runtime.h"
#include "port.h"

extern "C" {

mla_status mla_malloc(mla_context ctx, size_t bytes, void** ptr) {
  MLA_TRY(mla::check_context(ctx));
  if (ptr == nullptr) return mla::fail(MLA_STATUS_INVALID_ARGUMENT, "ptr: is NULL");
  *ptr = nullptr;
  if (!ctx->is_gpu()) {
    // 64-byte alignment suits every descriptor rule (16) and vector loads.
    *ptr = std::aligned_alloc(64, mla::round_up(int64_t(bytes == 0 ? 1 : bytes), 64));
    if (*ptr == nullptr)
      return mla::fail(MLA_STATUS_OUT_OF_MEMORY, "mla_malloc: %zu host bytes", bytes);
    return MLA_STATUS_SUCCESS;
  }
  mla::gpu::DeviceScope scope(ctx->device);
  MLA_TRY(scope.status());
  return mla::gpu::allocate(bytes, ptr);
}

mla_status mla_free(mla_context ctx, void* ptr) {
  MLA_TRY(mla::check_context(ctx));
  if (!ctx->is_gpu()) {
    std::free(ptr);
    return MLA_STATUS_SUCCESS;
  }
  mla::gpu::DeviceScope scope(ctx->device);
  MLA_TRY(scope.status());
  mla::gpu::release(ptr);
  return MLA_STATUS_SUCCESS;
}

static mla_status copy(mla_context ctx, void* dst, const void* src, size_t n, bool to_device) {
  MLA_TRY(mla::check_context(ctx));
  if (n == 0) return MLA_STATUS_SUCCESS;
  if (dst == nullptr || src == nullptr)
    return mla::fail(MLA_STATUS_INVALID_ARGUMENT, "%s: is NULL", dst == nullptr ? "dst" : "src");
  if (!ctx->is_gpu()) {
    std::memcpy(dst, src, n);
    return MLA_STATUS_SUCCESS;
  }
  mla::gpu::DeviceScope scope(ctx->device);
  MLA_TRY(scope.status());
  return to_device ? mla::gpu::copy_to_device(dst, src, n, nullptr)
                   : mla::gpu::copy_to_host(dst, src, n, nullptr);
}

mla_status mla_memcpy_to_device(mla_context ctx, void* dst, const void* src, size_t n) {
  return copy(ctx, dst, src, n, true);
}

mla_status mla_memcpy_to_host(mla_context ctx, void* dst, const void* src, size_t n) {
  return copy(ctx, dst, src, n, false);
}

mla_status mla_stream_synchronize(mla_context ctx, mla_stream stream) {
  MLA_TRY(mla::check_context(ctx));
  if (!ctx->is_gpu()) return MLA_STATUS_SUCCESS;
  mla::gpu::DeviceScope scope(ctx->device);
  MLA_TRY(scope.status());
  return mla::gpu::synchronize(stream);
}

}  // extern "C"
