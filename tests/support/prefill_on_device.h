// Prefill cases (attention_cases.h) copied to the device, with their argument structs pointing
// at the device copies: bf16 rows and the paged cache; and the gather-then-prefill path of
// mla_attention.h on the device, for the bit-exactness checks.
#pragma once

#include <memory>

#include "attention_cases.h"
#include "device_mirror.h"

namespace mlatest {

// Outputs of a prefill call in host tensors of the case's layout.
struct PrefillOutputs {
  Tensor out, max_logits, lse;
};

// What both kinds of prefill case put on the device besides kv (Case: PrefillCase or
// PagedPrefillCase), the argument fields that point at it, and the outputs' way back.
struct PrefillBuffersOnDevice {
  template <class Case>
  PrefillBuffersOnDevice(mla_context ctx, const Case& c)
      : q(ctx, c.q),
        idx(ctx, c.idx),
        out(ctx, c.out),
        max_logits(ctx, c.max_logits),
        lse(ctx, c.lse) {
    if (c.spec.lengths) len = std::make_unique<DeviceTensor>(ctx, c.len);
    if (c.spec.sink) sink = std::make_unique<DeviceTensor>(ctx, c.sink);
  }
  template <class Args>
  void point(Args& a) const {
    a.q = q.ptr();
    a.indices = idx.ptr();
    a.topk_length = len ? len->ptr() : nullptr;
    a.attn_sink = sink ? sink->ptr() : nullptr;
    a.out = out.ptr();
    a.max_logits = max_logits.ptr();
    a.lse = lse.ptr();
  }
  DeviceTensor q, idx, out, max_logits, lse;
  std::unique_ptr<DeviceTensor> len, sink;
};

// A bf16-rows case; kv_override: another kv tensor of the same values (e.g. another layout).
struct PrefillOnDevice : PrefillBuffersOnDevice {
  PrefillOnDevice(mla_context ctx, PrefillCase& c, const Tensor* kv_override = nullptr);
  DeviceTensor kv;
  mla_sparse_prefill_args args;
};

struct PagedPrefillOnDevice : PrefillBuffersOnDevice {
  PagedPrefillOnDevice(mla_context ctx, PagedPrefillCase& c);
  DeviceCache kv;
  mla_sparse_prefill_paged_args args;
};

// Downloads the device outputs of d (a case's device copy) into tensors of c's layout.
template <class Case>
PrefillOutputs download_outputs(const PrefillBuffersOnDevice& d, const Case& c) {
  PrefillOutputs o{c.out, c.max_logits, c.lse};
  d.out.download(o.out);
  d.max_logits.download(o.max_logits);
  d.lse.download(o.lse);
  return o;
}

// mla_kv_gather of every slot of the device cache into bf16 [num_slots, 1, d_qk], then
// mla_sparse_prefill on the context's backend with the case's indices (as [s_q, 1, topk]),
// lengths, sink and scale, into fresh (poisoned) outputs of the case's layout. The status of
// the prefill comes back in *status.
PrefillOutputs gather_then_prefill_on_device(mla_context ctx, PagedPrefillOnDevice& d,
                                             const PagedPrefillCase& c, mla_status* status);

}  // namespace mlatest
