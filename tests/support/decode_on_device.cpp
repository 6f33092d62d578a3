#include "decode_on_device.h"

namespace mlatest {

DecodeOnDevice::DecodeOnDevice(mla_context ctx, DecodeCase& c)
    : q(ctx, c.q), idx(ctx, c.idx), out(ctx, c.out), lse(ctx, c.lse), kv(ctx, *c.kv) {
  if (c.spec.lengths) len = std::make_unique<DeviceTensor>(ctx, c.len);
  if (c.spec.sink) sink = std::make_unique<DeviceTensor>(ctx, c.sink);
  if (c.spec.extra) {
    eidx = std::make_unique<DeviceTensor>(ctx, c.eidx);
    extra_kv = std::make_unique<DeviceCache>(ctx, *c.extra_kv);
    if (c.spec.lengths) elen = std::make_unique<DeviceTensor>(ctx, c.elen);
  }
  args = c.args();
  args.q = q.ptr();
  args.kv = &kv.desc;
  args.indices = idx.ptr();
  args.topk_length = len ? len->ptr() : nullptr;
  args.extra_kv = extra_kv ? &extra_kv->desc : nullptr;
  args.extra_indices = eidx ? eidx->ptr() : nullptr;
  args.extra_topk_length = elen ? elen->ptr() : nullptr;
  args.attn_sink = sink ? sink->ptr() : nullptr;
  args.out = out.ptr();
  args.lse = lse.ptr();
}

mla_tensor request_view(const mla_tensor& t, int64_t r) {
  mla_tensor v = t;
  const int64_t elem = t.dtype.bits / 8;
  v.data = static_cast<uint8_t*>(t.data) + r * t.strides[0] * elem;
  v.shape[0] = 1;
  return v;
}

}  // namespace mlatest
