// A decode case (attention_cases.h) copied to the device, with its argument struct pointing at
// the device copies; and views of one request of such a batch, for batch-invariance checks.
#pragma once

#include <memory>

#include "attention_cases.h"
#include "device_mirror.h"

namespace mlatest {

struct DecodeOnDevice {
  DecodeOnDevice(mla_context ctx, DecodeCase& c);
  DeviceTensor q, idx, out, lse;
  DeviceCache kv;
  std::unique_ptr<DeviceTensor> len, sink, eidx, elen;
  std::unique_ptr<DeviceCache> extra_kv;
  mla_sparse_decode_args args;
};

// The request r of a batched tensor (dimension 0) as a batch of one: same strides.
mla_tensor request_view(const mla_tensor& t, int64_t r);

}  // namespace mlatest
