#include "arg_check.h"
#include "validate.h"

namespace mla {

mla_status validate(const mla_sparse_decode_args* a, SparseDecodeProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_kv_cache("kv", a->kv, &p->kv));
  const int64_t d_qk = kv_row_dim(p->kv.format);

  TensorCheck q("q", a->q);
  q.dtype(DType::Bf16).ndim(4).dim_at_least(1, 1, "s_q").dim_at_least(2, 1, "h_q");
  q.dim(3, d_qk, d_qk == 576 ? "d_qk of a V32 cache" : "d_qk of a V40 cache").unit_last_stride();
  MLA_TRY(q.status());
  const int64_t b = q.size(0), s_q = q.size(1), h_q = q.size(2);

  TensorCheck idx("indices", a->indices);
  idx.dtype(DType::I32).ndim(3).dim(0, b, "b").dim(1, s_q, "s_q");
  idx.dim_at_least(2, 1, "topk").unit_last_stride();
  TensorCheck len("topk_length", a->topk_length, true);
  len.dtype(DType::I32).ndim(1).dim(0, b, "b");
  MLA_TRY(first_error({idx.status(), len.status()}));

  const bool extra = a->extra_kv != nullptr;
  if (extra) {
    MLA_TRY(check_kv_cache("extra_kv", a->extra_kv, &p->extra_kv));
    if (p->extra_kv.format != p->kv.format)
      return fail(MLA_STATUS_INVALID_ARGUMENT, "extra_kv.format %d must equal kv.format %d",
                  int(p->extra_kv.format), int(p->kv.format));
    if (a->extra_indices == nullptr)
      return fail(MLA_STATUS_INVALID_ARGUMENT, "extra_indices: is required with extra_kv");
  } else if (a->extra_indices != nullptr || a->extra_topk_length != nullptr) {
    return fail(MLA_STATUS_INVALID_ARGUMENT, "%s: given without extra_kv",
                a->extra_indices != nullptr ? "extra_indices" : "extra_topk_length");
  }
  TensorCheck eidx("extra_indices", a->extra_indices, true);
  eidx.dtype(DType::I32).ndim(3).dim(0, b, "b").dim(1, s_q, "s_q");
  eidx.dim_at_least(2, 1, "extra_topk").unit_last_stride();
  TensorCheck elen("extra_topk_length", a->extra_topk_length, true);
  elen.dtype(DType::I32).ndim(1).dim(0, b, "b");
  TensorCheck sink("attn_sink", a->attn_sink, true);
  sink.dtype(DType::F32).ndim(1).dim(0, h_q, "h_q");
  TensorCheck out("out", a->out);
  out.dtype(DType::Bf16).ndim(4).dim(0, b, "b").dim(1, s_q, "s_q").dim(2, h_q, "h_q");
  out.dim(3, kDv, "d_v").unit_last_stride();
  TensorCheck lse("lse", a->lse);
  lse.dtype(DType::F32).ndim(3).dim(0, b, "b").dim(1, h_q, "h_q").dim(2, s_q, "s_q");
  lse.unit_last_stride();
  MLA_TRY(first_error({eidx.status(), elen.status(), sink.status(), out.status(), lse.status()}));
  MLA_TRY(resolve_softmax_scale(a->softmax_scale, d_qk, &p->scale));

  p->b = b;
  p->s_q = s_q;
  p->h_q = h_q;
  p->d_qk = d_qk;
  p->topk = idx.size(2);
  p->extra_topk = extra ? eidx.size(2) : 0;
  p->q = q.data<const bf16_bits>();
  p->q_sb = q.stride(0), p->q_ss = q.stride(1), p->q_sh = q.stride(2);
  p->idx = idx.data<const int32_t>();
  p->idx_sb = idx.stride(0), p->idx_ss = idx.stride(1);
  p->topk_len = len.data<const int32_t>();
  p->topk_len_s = len.stride(0);
  p->extra_idx = eidx.data<const int32_t>();
  p->extra_idx_sb = eidx.stride(0), p->extra_idx_ss = eidx.stride(1);
  p->extra_topk_len = elen.data<const int32_t>();
  p->extra_topk_len_s = elen.stride(0);
  p->sink = sink.data<const float>();
  p->sink_s = sink.stride(0);
  p->out = out.data<bf16_bits>();
  p->out_sb = out.stride(0), p->out_ss = out.stride(1), p->out_sh = out.stride(2);
  p->lse = lse.data<float>();
  p->lse_sb = lse.stride(0), p->lse_sh = lse.stride(1), p->lse_ss = lse.stride(2);
  return MLA_STATUS_SUCCESS;
}

namespace {

// What both sparse prefills check alike beside q and the keys: topk_length, attn_sink and the
// three outputs of s_q rows and h_q heads (SPEC 4), in this order.
struct PrefillRowArgs {
  TensorCheck len, sink, out, ml, lse;

  template <class Args>
  PrefillRowArgs(const Args* a, int64_t s_q, int64_t h_q)
      : len("topk_length", a->topk_length, true),
        sink("attn_sink", a->attn_sink, true),
        out("out", a->out),
        ml("max_logits", a->max_logits),
        lse("lse", a->lse) {
    len.dtype(DType::I32).ndim(1).dim(0, s_q, "s_q");
    sink.dtype(DType::F32).ndim(1).dim(0, h_q, "h_q");
    out.dtype(DType::Bf16).ndim(3).dim(0, s_q, "s_q").dim(1, h_q, "h_q").dim(2, kDv, "d_v");
    out.unit_last_stride();
    ml.dtype(DType::F32).ndim(2).dim(0, s_q, "s_q").dim(1, h_q, "h_q").unit_last_stride();
    lse.dtype(DType::F32).ndim(2).dim(0, s_q, "s_q").dim(1, h_q, "h_q").unit_last_stride();
  }
  mla_status status() const {
    return first_error({len.status(), sink.status(), out.status(), ml.status(), lse.status()});
  }
  // The fields both problem types share: shapes, q, indices (row stride), and the above.
  template <class Problem>
  void fill(Problem* p, const TensorCheck& q, int64_t d_qk, const TensorCheck& idx,
            int64_t topk) const {
    p->s_q = q.size(0);
    p->h_q = q.size(1);
    p->d_qk = d_qk;
    p->topk = topk;
    p->q = q.data<const bf16_bits>();
    p->q_ss = q.stride(0), p->q_sh = q.stride(1);
    p->idx = idx.data<const int32_t>();
    p->idx_s = idx.stride(0);
    p->topk_len = len.data<const int32_t>();
    p->topk_len_s = len.stride(0);
    p->sink = sink.data<const float>();
    p->sink_s = sink.stride(0);
    p->out = out.data<bf16_bits>();
    p->out_ss = out.stride(0), p->out_sh = out.stride(1);
    p->max_logits = ml.data<float>();
    p->ml_ss = ml.stride(0), p->ml_sh = ml.stride(1);
    p->lse = lse.data<float>();
    p->lse_ss = lse.stride(0), p->lse_sh = lse.stride(1);
  }
};

}  // namespace

mla_status validate(const mla_sparse_prefill_args* a, SparsePrefillProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck q("q", a->q);
  q.dtype(DType::Bf16).ndim(3).dim_at_least(1, 1, "h_q").unit_last_stride();
  MLA_TRY(q.status());
  const int64_t s_q = q.size(0), h_q = q.size(1), d_qk = q.size(2);
  if (d_qk != 576 && d_qk != 512)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "q: shape[2] (d_qk) must be 576 or 512, got %lld",
                (long long)d_qk);

  TensorCheck kv("kv", a->kv);
  kv.dtype(DType::Bf16).ndim(3).dim(1, 1, "h_kv").dim(2, d_qk, "d_qk").unit_last_stride();
  TensorCheck idx("indices", a->indices);
  idx.dtype(DType::I32).ndim(3).dim(0, s_q, "s_q").dim(1, 1, "h_kv");
  idx.dim_at_least(2, 1, "topk").unit_last_stride();
  const PrefillRowArgs rows(a, s_q, h_q);
  MLA_TRY(first_error({kv.status(), idx.status(), rows.status()}));
  MLA_TRY(resolve_softmax_scale(a->softmax_scale, d_qk, &p->scale));

  rows.fill(p, q, d_qk, idx, idx.size(2));
  p->s_kv = kv.size(0);
  p->kv = kv.data<const bf16_bits>();
  p->kv_s = kv.stride(0);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_sparse_prefill_paged_args* a, SparsePrefillPagedProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  MLA_TRY(check_kv_cache("kv", a->kv, &p->kv));
  const int64_t d_qk = kv_row_dim(p->kv.format);

  TensorCheck q("q", a->q);
  q.dtype(DType::Bf16).ndim(3).dim_at_least(1, 1, "h_q");
  q.dim(2, d_qk, d_qk == 576 ? "d_qk of a V32 cache" : "d_qk of a V40 cache").unit_last_stride();
  MLA_TRY(q.status());
  const int64_t s_q = q.size(0), h_q = q.size(1);

  // [s_q, topk], or flash_mla_sparse_fwd's [s_q, 1, topk].
  TensorCheck idx("indices", a->indices);
  idx.dtype(DType::I32).ndim(2, 3);
  const int last = idx.dims() - 1;
  if (last == 2) idx.dim(1, 1, "h_kv");
  idx.dim(0, s_q, "s_q").dim_at_least(last, 1, "topk").unit_last_stride();
  const PrefillRowArgs rows(a, s_q, h_q);
  MLA_TRY(first_error({idx.status(), rows.status()}));
  MLA_TRY(resolve_softmax_scale(a->softmax_scale, d_qk, &p->scale));

  rows.fill(p, q, d_qk, idx, idx.size(last));
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla
