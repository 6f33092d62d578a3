#include "device_view.h"

namespace mlatest {

DeviceView::DeviceView(mla_context ctx, const View& host) : like(host), desc(host.desc) {
  buf = std::make_unique<DeviceBuffer>(ctx, host.bytes.size());
  EXPECT_EQ(mla_memcpy_to_device(ctx, buf->get(), host.bytes.data(), host.bytes.size()),
            MLA_STATUS_SUCCESS)
      << mla_last_error();
  desc.data = static_cast<uint8_t*>(buf->get()) + host.shift_bytes();
}

View DeviceView::download() const {
  View v = like;
  EXPECT_EQ(mla_memcpy_to_host(buf->context(), v.bytes.data(), buf->get(), v.bytes.size()),
            MLA_STATUS_SUCCESS)
      << mla_last_error();
  return v;
}

}  // namespace mlatest
