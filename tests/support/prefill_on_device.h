// A paged prefill case (attention_cases.h) copied to the device, with its argument struct
// pointing at the device copies; and the gather-then-prefill path of mla_attention.h on the
// device, for the bit-exactness checks.
#pragma once

#include <memory>

#include "attention_cases.h"
#include "device_mirror.h"

namespace mlatest {

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
PrefillOutputs download_outputs(const PagedPrefillOnDevice& d, const PagedPrefillCase& c);

// mla_kv_gather of every slot of the device cache into bf16 [num_slots, 1, d_qk], then
// mla_sparse_prefill on the context's backend with the case's indices (as [s_q, 1, topk]),
// lengths, sink and scale, into fresh (poisoned) outputs of the case's layout. The status of
// the prefill comes back in *status.
PrefillOutputs gather_then_prefill_on_device(mla_context ctx, PagedPrefillOnDevice& d,
                                             const PagedPrefillCase& c, mla_status* status);

}  // namespace mlatest
