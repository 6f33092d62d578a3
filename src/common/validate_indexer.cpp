#include "arg_check.h"
#include "validate_indexer.h"

namespace mla {
namespace {

constexpr int64_t kInt32Max = 0x7fffffff;

Fp8 flavour_of(DType t) {
  return t == DType::Fp8E4M3FN ? Fp8::E4M3FN : Fp8::E4M3FNUZ;
}

// Heads and head dim of an indexer query: 1 <= H <= 128, D = 64 or 128.
mla_status check_heads_and_dim(const TensorCheck& q, int h_dim) {
  const int64_t h = q.size(h_dim), d = q.size(h_dim + 1);
  if (h < 1 || h > kIndexerMaxHeads)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "q: shape[%d] (heads) must be in [1, %d], got %lld",
                h_dim, kIndexerMaxHeads, (long long)h);
  if (d != 64 && d != 128)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "q: shape[%d] (head dim) must be 64 or 128, got %lld",
                h_dim + 1, (long long)d);
  return MLA_STATUS_SUCCESS;
}

// The paged key cache: uint8 [pages, 64 * (d + 4)], [pages, 64, d + 4] or [pages, 64, 1, d + 4],
// contiguous within a page, 16-byte aligned base and page stride.
mla_status check_paged_cache(const mla_tensor* t, int64_t d, IndexerPagedLogitsProblem* p) {
  const int64_t row = d + 4, page = kIndexerPageTokens * row;
  TensorCheck c("kv_cache", t);
  c.dtype(DType::U8).dim_at_least(0, 1, "pages");
  MLA_TRY(c.status());
  const int nd = t->ndim;
  bool shape_ok = false;
  if (nd == 2) shape_ok = t->shape[1] == page;
  if (nd == 3) shape_ok = t->shape[1] == kIndexerPageTokens && t->shape[2] == row;
  if (nd == 4)
    shape_ok = t->shape[1] == kIndexerPageTokens && t->shape[2] == 1 && t->shape[3] == row;
  if (!shape_ok)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "kv_cache: must be uint8 [pages, %lld], [pages, 64, %lld] or [pages, 64, 1, %lld] "
                "for head dim %lld",
                (long long)page, (long long)row, (long long)row, (long long)d);
  int64_t inner = 1;
  for (int i = nd - 1; i >= 1; --i) {
    if (t->shape[i] > 1 && t->strides[i] != inner)
      return fail(MLA_STATUS_INVALID_ARGUMENT,
                  "kv_cache: a page must be contiguous; strides[%d] is %lld, expected %lld", i,
                  (long long)t->strides[i], (long long)inner);
    inner *= t->shape[i];
  }
  const int64_t stride = t->shape[0] > 1 ? t->strides[0] : page;
  if (stride < page)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "kv_cache: strides[0] (page stride) %lld is less than a page of %lld bytes",
                (long long)stride, (long long)page);
  if (stride % 16 != 0)
    return fail(MLA_STATUS_MISALIGNED,
                "kv_cache: strides[0] (page stride) %lld is not a multiple of 16",
                (long long)stride);
  if (reinterpret_cast<uintptr_t>(t->data) % 16 != 0)
    return fail(MLA_STATUS_MISALIGNED, "kv_cache: data %p is not 16-byte aligned", t->data);
  p->kv = c.data<const uint8_t>();
  p->num_pages = t->shape[0];
  p->page_stride = stride;
  return MLA_STATUS_SUCCESS;
}

}  // namespace

mla_status validate(const mla_indexer_logits_args* a, IndexerLogitsProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck q("q", a->q);
  q.dtype(DType::Fp8E4M3FN, DType::Fp8E4M3FNUZ).ndim(3).unit_last_stride();
  MLA_TRY(q.status());
  MLA_TRY(check_heads_and_dim(q, 1));
  const int64_t m = q.size(0), h = q.size(1), d = q.size(2);

  TensorCheck k("k", a->k);
  k.dtype(q.type()).ndim(2).dim(1, d, "head dim").unit_last_stride();
  MLA_TRY(k.status());
  const int64_t n = k.size(0);
  TensorCheck scale("k_scale", a->k_scale);
  scale.dtype(DType::F32).ndim(1).dim(0, n, "keys");
  TensorCheck w("weights", a->weights);
  w.dtype(DType::F32).ndim(2).dim(0, m, "rows").dim(1, h, "heads").unit_last_stride();
  TensorCheck ks("k_start", a->k_start);
  ks.dtype(DType::I32).ndim(1).dim(0, m, "rows");
  TensorCheck ke("k_end", a->k_end);
  ke.dtype(DType::I32).ndim(1).dim(0, m, "rows");
  TensorCheck out("logits", a->logits);
  out.dtype(DType::F32).ndim(2).dim(0, m, "rows").dim(1, n, "keys").unit_last_stride();
  MLA_TRY(first_error({scale.status(), w.status(), ks.status(), ke.status(), out.status()}));

  p->m = m, p->n = n, p->h = h, p->d = d;
  p->fp8 = flavour_of(q.type());
  p->q = q.data<const uint8_t>();
  p->q_sm = q.stride(0), p->q_sh = q.stride(1);
  p->k = k.data<const uint8_t>();
  p->k_s = k.stride(0);
  p->k_scale = scale.data<const float>();
  p->k_scale_s = scale.stride(0);
  p->w = w.data<const float>();
  p->w_s = w.stride(0);
  p->k_start = ks.data<const int32_t>();
  p->k_start_s = ks.stride(0);
  p->k_end = ke.data<const int32_t>();
  p->k_end_s = ke.stride(0);
  p->logits = out.data<float>();
  p->logits_s = out.stride(0);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_indexer_paged_logits_args* a, IndexerPagedLogitsProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck q("q", a->q);
  q.dtype(DType::Fp8E4M3FN, DType::Fp8E4M3FNUZ).ndim(4).dim_at_least(1, 1, "next_n");
  q.unit_last_stride();
  MLA_TRY(q.status());
  MLA_TRY(check_heads_and_dim(q, 2));
  const int64_t b = q.size(0), next_n = q.size(1), h = q.size(2), d = q.size(3);

  if (a->kv_fp8 != int32_t(Fp8::E4M3FN) && a->kv_fp8 != int32_t(Fp8::E4M3FNUZ))
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "kv_fp8 %d is not MLA_FP8_E4M3FN (1) or MLA_FP8_E4M3FNUZ (2)", int(a->kv_fp8));
  if (Fp8(a->kv_fp8) != flavour_of(q.type()))
    return fail(MLA_STATUS_INVALID_ARGUMENT, "kv_fp8 (%s) must be the flavour of q (%s)",
                a->kv_fp8 == int32_t(Fp8::E4M3FN) ? "e4m3fn" : "e4m3fnuz", dtype_name(q.type()));
  MLA_TRY(check_paged_cache(a->kv_cache, d, p));

  TensorCheck w("weights", a->weights);
  w.dtype(DType::F32).ndim(2).dim(0, b * next_n, "b * next_n").dim(1, h, "heads");
  w.unit_last_stride();
  TensorCheck ctx("context_lens", a->context_lens);
  ctx.dtype(DType::I32).dim(0, b, "b");
  if (ctx.ok() && a->context_lens->ndim != 1) ctx.ndim(2).dim(1, next_n, "next_n");
  TensorCheck bt("block_table", a->block_table);
  bt.dtype(DType::I32).ndim(2).dim(0, b, "b").unit_last_stride();
  TensorCheck out("logits", a->logits);
  out.dtype(DType::F32).ndim(2).dim(0, b * next_n, "b * next_n").unit_last_stride();
  MLA_TRY(first_error({w.status(), ctx.status(), bt.status(), out.status()}));

  p->b = b, p->next_n = next_n, p->h = h, p->d = d;
  p->fp8 = flavour_of(q.type());
  p->q = q.data<const uint8_t>();
  p->q_sb = q.stride(0), p->q_sn = q.stride(1), p->q_sh = q.stride(2);
  p->w = w.data<const float>();
  p->w_s = w.stride(0);
  p->ctx = ctx.data<const int32_t>();
  p->ctx_per_row = a->context_lens->ndim == 2;
  p->ctx_sb = ctx.stride(0);
  p->ctx_sn = p->ctx_per_row ? ctx.stride(1) : 0;
  p->block_table = bt.data<const int32_t>();
  p->bt_s = bt.stride(0);
  p->max_pages = bt.size(1);
  p->logits = out.data<float>();
  p->logits_s = out.stride(0);
  p->max_ctx = out.size(1);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_indexer_topk_args* a, IndexerTopkProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck logits("logits", a->logits);
  logits.dtype(DType::F32).ndim(2).unit_last_stride();
  MLA_TRY(logits.status());
  const int64_t rows = logits.size(0), cols = logits.size(1);
  if (cols > kInt32Max)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "logits: shape[1] %lld exceeds int32 indices",
                (long long)cols);
  if (a->next_n < 0)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "next_n must be 0 or positive, got %d",
                int(a->next_n));
  const int64_t n = a->next_n == 0 ? 1 : a->next_n;
  if (rows % n != 0)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "next_n %lld does not divide the %lld rows of logits",
                (long long)n, (long long)rows);

  TensorCheck starts("starts", a->starts, true);
  starts.dtype(DType::I32).ndim(1).dim(0, rows, "rows");
  TensorCheck len("lengths", a->lengths, true);
  len.dtype(DType::I32).dim(0, rows / n, "rows / next_n");
  if (len.ok() && len.present() && a->lengths->ndim != 1) len.ndim(2).dim(1, n, "next_n");
  TensorCheck pt("page_table", a->page_table, true);
  pt.dtype(DType::I32).ndim(2).unit_last_stride();
  TensorCheck out("indices", a->indices);
  out.dtype(DType::I32).ndim(2).dim(0, rows, "rows").dim_at_least(1, 1, "k").unit_last_stride();
  MLA_TRY(first_error({starts.status(), len.status(), pt.status(), out.status()}));
  const int64_t k = out.size(1);
  TensorCheck raw("raw_indices", a->raw_indices, true);
  raw.dtype(DType::I32).ndim(2).dim(0, rows, "rows").dim(1, k, "k").unit_last_stride();
  MLA_TRY(raw.status());
  if (pt.present()) {
    if (pt.size(0) != rows && pt.size(0) != rows / n)
      return fail(MLA_STATUS_INVALID_ARGUMENT,
                  "page_table: shape[0] must be the %lld rows of logits or the %lld requests (rows "
                  "/ next_n), got %lld",
                  (long long)rows, (long long)(rows / n), (long long)pt.size(0));
    if (a->page_size < 1 || a->page_size > kInt32Max)
      return fail(MLA_STATUS_INVALID_ARGUMENT,
                  "page_size must be in [1, 2^31 - 1] with page_table, got %lld",
                  (long long)a->page_size);
  }

  p->rows = rows, p->cols = cols, p->k = k, p->next_n = n;
  p->logits = logits.data<const float>();
  p->logits_s = logits.stride(0);
  p->starts = starts.data<const int32_t>();
  p->starts_s = starts.stride(0);
  using L = IndexerTopkProblem::Lengths;
  p->lengths_kind = !len.present() ? L::All : a->lengths->ndim == 1 ? L::Causal : L::PerRow;
  p->lengths = len.data<const int32_t>();
  p->len_s0 = len.stride(0);
  p->len_s1 = len.present() && a->lengths->ndim == 2 ? len.stride(1) : 0;
  p->page_table = pt.data<const int32_t>();
  p->pt_s = pt.stride(0);
  p->pt_cols = pt.size(1);
  p->pt_div = pt.present() && pt.size(0) != rows ? n : 1;
  p->page_size = pt.present() ? a->page_size : 1;
  p->out = out.data<int32_t>();
  p->out_s = out.stride(0);
  p->raw = raw.data<int32_t>();
  p->raw_s = raw.stride(0);
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla
