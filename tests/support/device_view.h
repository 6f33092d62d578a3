// Device copies of layout views (same bytes, same base shift and strides), made through the
// library's memory helpers so that GPU tests need no vendor runtime.
#pragma once

#include <memory>

#include "device_mirror.h"
#include "layout_view.h"

namespace mlatest {

struct DeviceView {
  DeviceView(mla_context ctx, const View& host);
  // The device bytes as a host view of the same layout.
  View download() const;
  const mla_tensor* ptr() const { return &desc; }
  View like;  // layout template (host bytes at upload time)
  std::unique_ptr<DeviceBuffer> buf;
  mla_tensor desc;
};

}  // namespace mlatest
