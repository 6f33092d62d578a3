// Prefill cases (attention_cases.h) copied to the device, with their argument structs pointing
// at the device copies: bf16 rows and the paged cache; and the gather-then-prefill path of
// mla_attention.h on the device, for the bit-exactness checks.
#pragma once

#include <memory>

#include "attention_cases.h"
#include "device_mirror.h"

namespace mlatest {

// A bf16-rows case; kv_override: another kv tensor of the same values (e.g. another layout).
struct PrefillOnDevice {
  PrefillOnDevice(mla_context ctx, PrefillCase& c, const Tensor* kv_override = nullptr);
  DeviceTensor q, kv, idx, out, max_logits, lse;
  std::unique_ptr<DeviceTensor> len, sink;
  mla_sparse_prefill_args args;
};

struct PagedPrefillOnDevice {
  PagedPrefillOnDevice(mla_context ctx, PagedPrefillCase& c);
  DeviceTensor q, idx, out, max_logits, lse;
  DeviceCache kv;
  std::unique_ptr<DeviceTensor> len, sink;
  mla_sparse_prefill_paged_args args;
};

// Outputs of a prefill call in host tensors of the case's layout.
struct PrefillOutputs {
  Tensor out, max_logits, lse;
};

// Downloads the device outputs of d.
PrefillOutputs download_outputs(const PrefillOnDevice& d, const PrefillCase& c);
PrefillOutputs download_outputs(const PagedPrefillOnDevice& d, const PagedPrefillCase& c);

// mla_kv_gather of every slot of the device cache into bf16 [num_slots, 1, d_qk], then
// mla_sparse_prefill on the context's backend with the case's indices (as [s_q, 1, topk]),
// lengths, sink and scale, into fresh (poisoned) outputs of the case's layout. The status of
// the prefill comes back in *status.
PrefillOutputs gather_then_prefill_on_device(mla_context ctx, PagedPrefillOnDevice& d,
                                             const PagedPrefillCase& c, mla_status* status);

}  // namespace mlatest
