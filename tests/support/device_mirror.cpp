#include "device_mirror.h"

namespace mlatest {

GpuContext::GpuContext() {
  EXPECT_EQ(mla_context_create(0, &ctx_), MLA_STATUS_SUCCESS) << mla_last_error();
}
GpuContext::~GpuContext() { mla_context_destroy(ctx_); }

DeviceBuffer::DeviceBuffer(mla_context ctx, size_t bytes) : ctx_(ctx), bytes_(bytes) {
  EXPECT_EQ(mla_malloc(ctx, bytes, &ptr_), MLA_STATUS_SUCCESS) << mla_last_error();
}
DeviceBuffer::~DeviceBuffer() { mla_free(ctx_, ptr_); }

DeviceTensor::DeviceTensor(mla_context ctx, const Tensor& host) : desc(host.desc) {
  buf = std::make_unique<DeviceBuffer>(ctx, host.bytes.size());
  EXPECT_EQ(mla_memcpy_to_device(ctx, buf->get(), host.bytes.data(), host.bytes.size()),
            MLA_STATUS_SUCCESS);
  desc.data = buf->get();
}

void DeviceTensor::download(Tensor& host) const {
  ASSERT_EQ(host.bytes.size(), buf->size());
  ASSERT_EQ(mla_memcpy_to_host(buf->context(), host.bytes.data(), buf->get(), buf->size()),
            MLA_STATUS_SUCCESS)
      << mla_last_error();
}

void DeviceCache::download(Cache& host) const {
  ASSERT_EQ(host.bytes.size(), buf->size());
  ASSERT_EQ(mla_memcpy_to_host(buf->context(), host.bytes.data(), buf->get(), buf->size()),
            MLA_STATUS_SUCCESS)
      << mla_last_error();
}

DeviceCache::DeviceCache(mla_context ctx, const Cache& host) : desc(host.desc) {
  buf = std::make_unique<DeviceBuffer>(ctx, host.bytes.size());
  EXPECT_EQ(mla_memcpy_to_device(ctx, buf->get(), host.bytes.data(), host.bytes.size()),
            MLA_STATUS_SUCCESS);
  desc.data = buf->get();
}

mla_status gpu_decode(mla_context ctx, const mla_sparse_decode_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_sparse_decode_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  DeviceBuffer ws(ctx, bytes);
  return mla_sparse_decode(ctx, &a, ws.get(), bytes, nullptr);
}

mla_status gpu_prefill(mla_context ctx, const mla_sparse_prefill_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_sparse_prefill_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  DeviceBuffer ws(ctx, bytes);
  return mla_sparse_prefill(ctx, &a, ws.get(), bytes, nullptr);
}

mla_status gpu_prefill_paged(mla_context ctx, const mla_sparse_prefill_paged_args& a) {
  size_t bytes = 0;
  const mla_status s = mla_sparse_prefill_paged_workspace_size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  DeviceBuffer ws(ctx, bytes);
  return mla_sparse_prefill_paged(ctx, &a, ws.get(), bytes, nullptr);
}

}  // namespace mlatest
