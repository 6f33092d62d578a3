#include "validate_fused.h"

#include <cmath>

#include "arg_check.h"

namespace mla {
namespace {

// The tensors of the fused ops are [N, H, D] or, where allowed, [N, D] (one head).
mla_status check_rows_ndim(const char* name, const mla_tensor* t, bool allow_2d) {
  if (t == nullptr || t->ndim == 3 || (allow_2d && t->ndim == 2)) return MLA_STATUS_SUCCESS;
  return fail(MLA_STATUS_INVALID_ARGUMENT, "%s: must have %s dimensions, got %d", name,
              allow_2d ? "2 or 3" : "3", int(t->ndim));
}

// bf16 rows [n, (h,) d] with a contiguous last dimension.
TensorCheck& rows_like(TensorCheck& c, int ndim, int64_t n, int64_t h, int64_t d,
                       const char* what) {
  c.dtype(DType::Bf16).ndim(ndim).dim(0, n, "tokens");
  if (ndim == 3) c.dim(1, h, "heads");
  return c.dim(ndim - 1, d, what).unit_last_stride();
}

int64_t heads_of(const TensorCheck& c, int ndim) {
  return ndim == 3 ? c.size(1) : 1;
}
int64_t head_stride_of(const TensorCheck& c, int ndim) {
  return ndim == 3 ? c.stride(1) : 0;
}

mla_status check_distinct(const char* out, const mla_tensor* o, const char* in,
                          const mla_tensor* i) {
  if (o != nullptr && i != nullptr && o->data != nullptr && o->data == i->data)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s: must not overlap %s (same data pointer)", out,
                in);
  return MLA_STATUS_SUCCESS;
}

bool same_view(const mla_tensor* a, const mla_tensor* b) {
  if (a->data != b->data || a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; ++i)
    if (a->shape[i] > 1 && a->strides[i] != b->strides[i]) return false;
  return true;
}

}  // namespace

mla_status validate(const mla_concat_mla_k_args* a, ConcatProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck nope("k_nope", a->k_nope);
  nope.dtype(DType::Bf16).ndim(3).dim(2, 128, "nope dim").unit_last_stride();
  MLA_TRY(nope.status());
  const int64_t n = nope.size(0), h = nope.size(1);
  TensorCheck rope("k_rope", a->k_rope);
  rope.dtype(DType::Bf16).ndim(3).dim(0, n, "tokens").dim(1, 1, "one head shared by all");
  rope.dim(2, 64, "rope dim").unit_last_stride();
  TensorCheck k("k", a->k);
  rows_like(k, 3, n, h, 192, "nope + rope dim");
  MLA_TRY(first_error({rope.status(), k.status()}));
  MLA_TRY(check_distinct("k", a->k, "k_nope", a->k_nope));
  MLA_TRY(check_distinct("k", a->k, "k_rope", a->k_rope));

  p->n = n;
  p->h = h;
  p->heads = FastDiv(h);
  p->d_a = 128;
  p->d_b = 64;
  p->a = nope.data<const bf16_bits>();
  p->a_sn = nope.stride(0), p->a_sh = nope.stride(1);
  p->b = rope.data<const bf16_bits>();
  p->b_sn = rope.stride(0), p->b_sh = 0;  // broadcast over heads
  p->out = k.data<bf16_bits>();
  p->out_sn = k.stride(0), p->out_sh = k.stride(1);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_concat_mla_absorb_q_args* a, ConcatProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_rows_ndim("a", a->a, true));
  TensorCheck qa("a", a->a);
  qa.dtype(DType::Bf16).unit_last_stride();
  MLA_TRY(qa.status());
  const int nd = int(a->a->ndim);
  qa.dim(nd - 1, 512, "latent dim");
  MLA_TRY(qa.status());
  const int64_t n = qa.size(0), h = heads_of(qa, nd);
  TensorCheck qb("b", a->b);
  rows_like(qb, nd, n, h, 64, "rope dim");
  TensorCheck out("out", a->out);
  rows_like(out, nd, n, h, 576, "latent + rope dim");
  MLA_TRY(first_error({qb.status(), out.status()}));
  MLA_TRY(check_distinct("out", a->out, "a", a->a));
  MLA_TRY(check_distinct("out", a->out, "b", a->b));

  p->n = n;
  p->h = h;
  p->heads = FastDiv(h);
  p->d_a = 512;
  p->d_b = 64;
  p->a = qa.data<const bf16_bits>();
  p->a_sn = qa.stride(0), p->a_sh = head_stride_of(qa, nd);
  p->b = qb.data<const bf16_bits>();
  p->b_sn = qb.stride(0), p->b_sh = head_stride_of(qb, nd);
  p->out = out.data<bf16_bits>();
  p->out_sn = out.stride(0), p->out_sh = head_stride_of(out, nd);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_merge_state_args* a, MergeStateProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck va("v_a", a->v_a);
  va.dtype(DType::Bf16).ndim(3).dim_at_least(2, 1, "head dim").unit_last_stride();
  MLA_TRY(va.status());
  const int64_t n = va.size(0), h = va.size(1), d = va.size(2);
  TensorCheck vb("v_b", a->v_b);
  rows_like(vb, 3, n, h, d, "head dim");
  TensorCheck vo("v_out", a->v_out);
  rows_like(vo, 3, n, h, d, "head dim");
  TensorCheck la("lse_a", a->lse_a);  // any strides: vLLM keeps lse as [H, N]
  la.dtype(DType::F32).ndim(2).dim(0, n, "tokens").dim(1, h, "heads");
  TensorCheck lb("lse_b", a->lse_b);
  lb.dtype(DType::F32).ndim(2).dim(0, n, "tokens").dim(1, h, "heads");
  TensorCheck lo("lse_out", a->lse_out, true);
  lo.dtype(DType::F32).ndim(2).dim(0, n, "tokens").dim(1, h, "heads");
  MLA_TRY(first_error({vb.status(), vo.status(), la.status(), lb.status(), lo.status()}));
  MLA_TRY(check_distinct("v_out", a->v_out, "v_a", a->v_a));
  MLA_TRY(check_distinct("v_out", a->v_out, "v_b", a->v_b));
  MLA_TRY(check_distinct("lse_out", a->lse_out, "lse_a", a->lse_a));
  MLA_TRY(check_distinct("lse_out", a->lse_out, "lse_b", a->lse_b));

  p->n = n;
  p->h = h;
  p->heads = FastDiv(h);
  p->d = d;
  p->v_a = va.data<const bf16_bits>();
  p->va_sn = va.stride(0), p->va_sh = va.stride(1);
  p->v_b = vb.data<const bf16_bits>();
  p->vb_sn = vb.stride(0), p->vb_sh = vb.stride(1);
  p->lse_a = la.data<const float>();
  p->la_sn = la.stride(0), p->la_sh = la.stride(1);
  p->lse_b = lb.data<const float>();
  p->lb_sn = lb.stride(0), p->lb_sh = lb.stride(1);
  p->v_out = vo.data<bf16_bits>();
  p->vo_sn = vo.stride(0), p->vo_sh = vo.stride(1);
  p->lse_out = lo.data<float>();
  p->lo_sn = lo.stride(0), p->lo_sh = lo.stride(1);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_norm_rope_args* a, NormRopeProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_rows_ndim("x", a->x, true));
  TensorCheck x("x", a->x);
  x.dtype(DType::Bf16).unit_last_stride();
  MLA_TRY(x.status());
  const int nd = int(a->x->ndim);
  const int64_t n = x.size(0), h = heads_of(x, nd), d = x.size(nd - 1);
  if (d < kRopeDim || d % 2 != 0)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "x: shape[%d] (head dim) must be even and at least"
                " %d (the rope part), got %lld",
                nd - 1, kRopeDim, (long long)d);
  TensorCheck out("out", a->out);
  rows_like(out, nd, n, h, d, "head dim");
  TensorCheck w("weight", a->weight, true);
  w.dtype(DType::Bf16, DType::F32).ndim(1).dim(0, d, "head dim");
  TensorCheck pos("positions", a->positions);
  pos.dtype(DType::I32, DType::I64).ndim(1).dim(0, n, "tokens");
  TensorCheck tab("cos_sin", a->cos_sin);
  tab.dtype(DType::F32).ndim(2).dim(1, kRopeDim, "cos and sin of 32 pairs").unit_last_stride();
  MLA_TRY(first_error({out.status(), w.status(), pos.status(), tab.status()}));
  if (a->table_layout != MLA_ROPE_TABLE_HALVES && a->table_layout != MLA_ROPE_TABLE_INTERLEAVED)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "table_layout %d is not MLA_ROPE_TABLE_HALVES (0) or"
                " MLA_ROPE_TABLE_INTERLEAVED (1)",
                int(a->table_layout));
  if (a->normalize != 0 && a->normalize != 1)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "normalize must be 0 or 1, got %d", int(a->normalize));
  if (a->inverse != 0 && a->inverse != 1)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "inverse must be 0 or 1, got %d", int(a->inverse));
  if (a->normalize == 0 && a->weight != nullptr)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "weight: given with normalize = 0 (the weight is"
                " part of the RMSNorm)");
  if (!std::isfinite(a->eps) || a->eps < 0.0f)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "eps must be finite and >= 0, got %g", double(a->eps));
  const bool in_place = a->out->data != nullptr && a->out->data == a->x->data;
  if (in_place && !same_view(a->out, a->x))
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "out: shares x's data pointer but not its strides"
                " (in place needs the same view)");

  p->n = n;
  p->h = h;
  p->heads = FastDiv(h);
  p->d = d;
  p->max_pos = tab.size(0);
  p->x = x.data<const bf16_bits>();
  p->x_sn = x.stride(0), p->x_sh = head_stride_of(x, nd);
  p->in_place = in_place;
  p->out = in_place ? nullptr : out.data<bf16_bits>();
  p->out_sn = out.stride(0), p->out_sh = head_stride_of(out, nd);
  p->weight = w.data<const void>();
  p->weight_f32 = w.type() == DType::F32;
  p->weight_s = w.stride(0);
  p->positions.data = pos.data<const void>();
  p->positions.stride = pos.stride(0);
  p->positions.wide = pos.type() == DType::I64;
  p->table = tab.data<const float>();
  p->table_s = tab.stride(0);
  p->layout = RopeTable(a->table_layout);
  p->normalize = a->normalize == 1;
  p->inverse = a->inverse == 1;
  p->eps = a->eps;
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla
