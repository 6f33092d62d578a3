#include "arg_check.h"
#include "validate.h"

namespace mla {
namespace {

mla_status check_slots(const char* name, const mla_tensor* t, int64_t n, SlotList* s) {
  TensorCheck c(name, t);
  c.dtype(DType::I32, DType::I64).ndim(1).dim(0, n, "rows");
  MLA_TRY(c.status());
  s->data = c.data<const void>();
  s->stride = c.stride(0);
  s->wide = c.type() == DType::I64;
  return MLA_STATUS_SUCCESS;
}

}  // namespace

mla_status validate(const mla_kv_store_args* a, KvStoreProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_kv_cache("kv", a->kv, &p->kv));
  const int64_t d = kv_row_dim(p->kv.format);
  TensorCheck k("k", a->k);
  k.dtype(DType::Bf16).ndim(2).dim(1, d, d == 576 ? "row of a V32 cache" : "row of a V40 cache");
  k.unit_last_stride();
  MLA_TRY(k.status());
  p->n = k.size(0);
  p->k = k.data<const bf16_bits>();
  p->k_s = k.stride(0);
  return check_slots("slots", a->slots, p->n, &p->slots);
}

mla_status validate(const mla_kv_gather_args* a, KvGatherProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_kv_cache("kv", a->kv, &p->kv));
  const int64_t d = kv_row_dim(p->kv.format);
  TensorCheck out("out", a->out);
  out.dtype(DType::Bf16).ndim(2).dim(1, d, d == 576 ? "row of a V32 cache" : "row of a V40 cache");
  out.unit_last_stride();
  MLA_TRY(out.status());
  p->t = out.size(0);
  p->out = out.data<bf16_bits>();
  p->out_s = out.stride(0);
  return check_slots("slots", a->slots, p->t, &p->slots);
}

}  // namespace mla
