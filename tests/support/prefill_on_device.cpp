#include "prefill_on_device.h"

namespace mlatest {

PrefillOnDevice::PrefillOnDevice(mla_context ctx, PrefillCase& c, const Tensor* kv_override)
    : PrefillBuffersOnDevice(ctx, c), kv(ctx, kv_override != nullptr ? *kv_override : c.kv) {
  args = c.args();
  point(args);
  args.kv = kv.ptr();
}

PagedPrefillOnDevice::PagedPrefillOnDevice(mla_context ctx, PagedPrefillCase& c)
    : PrefillBuffersOnDevice(ctx, c), kv(ctx, *c.kv) {
  args = c.args();
  point(args);
  args.kv = &kv.desc;
}

PrefillOutputs gather_then_prefill_on_device(mla_context ctx, PagedPrefillOnDevice& d,
                                             const PagedPrefillCase& c, mla_status* status) {
  const int64_t n = c.kv->slots(), dim = c.kv->row_dim();
  Tensor slots(dt_i32(), {n}), rows(dt_bf16(), {n, dim});
  for (int64_t i = 0; i < n; ++i) slots.at<int32_t>({i}) = int32_t(i);
  DeviceTensor dev_slots(ctx, slots), dev_rows(ctx, rows);
  const mla_kv_gather_args g{&d.kv.desc, dev_slots.ptr(), dev_rows.ptr()};
  *status = mla_kv_gather(ctx, &g, nullptr);
  EXPECT_EQ(*status, MLA_STATUS_SUCCESS) << mla_last_error();
  mla_tensor kv = dev_rows.desc;
  kv.ndim = 3;
  kv.shape[2] = dim, kv.strides[2] = 1;
  kv.shape[1] = 1, kv.strides[1] = dim;
  mla_tensor idx = c.indices_3d();
  idx.data = d.idx.desc.data;
  PrefillOutputs o{c.out, c.max_logits, c.lse};
  poison(o.out);
  poison(o.max_logits);
  poison(o.lse);
  DeviceTensor out(ctx, o.out), ml(ctx, o.max_logits), lse(ctx, o.lse);
  const mla_sparse_prefill_args a{
      d.args.q,  &kv,      &idx,     d.args.topk_length, d.args.attn_sink, d.args.softmax_scale,
      out.ptr(), ml.ptr(), lse.ptr()};
  if (*status == MLA_STATUS_SUCCESS) *status = gpu_prefill(ctx, a);
  out.download(o.out);
  ml.download(o.max_logits);
  lse.download(o.lse);
  return o;
}

}  // namespace mlatest
