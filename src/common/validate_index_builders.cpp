#include "validate_index_builders.h"

#include "arg_check.h"
#include "checked_math.h"
#include "index_builder_rules.h"

namespace mla {
namespace {

constexpr int64_t kInt32Max = 2147483647;

template <typename T>
Strided<T> strided(const TensorCheck& c) {
  return Strided<T>{c.data<T>(), c.stride(0)};
}

mla_status check_window(int64_t window) {
  if (window < 1 || window > kInt32Max)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "window must be in [1, 2^31 - 1], got %lld",
                (long long)window);
  return MLA_STATUS_SUCCESS;
}

}  // namespace

mla_status validate(const mla_build_swa_token_ids_args* a, SwaTokenIdsProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  TensorCheck seq("seq_lens", a->seq_lens);
  seq.dtype(DType::I32).ndim(1);
  MLA_TRY(seq.status());
  const int64_t reqs = seq.size(0);
  int64_t offsets = 0;  // swa_offsets holds reqs + 1 entries
  if (!checked_add(reqs, 1, &offsets))
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "seq_lens: shape[0] %lld is too large (swa_offsets needs one entry more)",
                (long long)reqs);

  TensorCheck ext("extend_seq_lens", a->extend_seq_lens);
  ext.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck pool("req_pool_indices", a->req_pool_indices);
  pool.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck rtt("req_to_token", a->req_to_token);
  rtt.dtype(DType::I32).ndim(2).unit_last_stride();
  TensorCheck f2s("full_to_swa", a->full_to_swa);
  f2s.dtype(DType::I64, DType::I32).ndim(1);
  TensorCheck ids("swa_token_ids", a->swa_token_ids);
  ids.dtype(DType::I32).ndim(1);
  TensorCheck off("swa_offsets", a->swa_offsets);
  off.dtype(DType::I32).ndim(1).dim(0, offsets, "requests + 1");
  TensorCheck first("swa_first_pos", a->swa_first_pos, true);
  first.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck glen("swa_gather_lens", a->swa_gather_lens, true);
  glen.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  MLA_TRY(first_error({ext.status(), pool.status(), rtt.status(), f2s.status(), ids.status(),
                       off.status(), first.status(), glen.status()}));
  MLA_TRY(check_window(a->window));
  if (ids.size(0) > kInt32Max)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "swa_token_ids: shape[0] (capacity) %lld exceeds"
                " the int32 offsets (2^31 - 1)",
                (long long)ids.size(0));

  p->reqs = reqs;
  p->window = a->window;
  p->pool_rows = rtt.size(0);
  p->max_len = rtt.size(1);
  p->full_size = f2s.size(0);
  p->capacity = ids.size(0);
  p->seq_lens = strided<const int32_t>(seq);
  p->extend_lens = strided<const int32_t>(ext);
  p->req_pool = strided<const int32_t>(pool);
  p->req_to_token = rtt.data<const int32_t>();
  p->rtt_s = rtt.stride(0);
  p->full_to_swa.data = f2s.data<const void>();
  p->full_to_swa.stride = f2s.stride(0);
  p->full_to_swa.wide = f2s.type() == DType::I64;
  p->ids = strided<int32_t>(ids);
  p->offsets = strided<int32_t>(off);
  p->first_pos = strided<int32_t>(first);
  p->gather_lens = strided<int32_t>(glen);
  return MLA_STATUS_SUCCESS;
}

mla_status validate(const mla_combine_topk_swa_indices_args* a, CombineIndicesProblem* p) {
  if (a == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "args: is NULL");
  if (a->topk < 0 || a->topk > kInt32Max)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "topk must be in [0, 2^31 - 1], got %lld",
                (long long)a->topk);
  MLA_TRY(check_window(a->window));
  if (a->compress_ratio < 1)
    return fail(MLA_STATUS_INVALID_ARGUMENT,
                "compress_ratio must be at least 1 (pass topk = 0"
                " for SWA-only layers), got %lld",
                (long long)a->compress_ratio);
  const int64_t width = combined_width(a->topk, a->window);

  TensorCheck out("combined_indices", a->combined_indices);
  out.dtype(DType::I32).ndim(2).dim(1, width, "width, mla_combined_topk_width(topk, window)");
  out.unit_last_stride();
  MLA_TRY(out.status());
  const int64_t rows = out.size(0);
  TensorCheck lens("combined_lens", a->combined_lens);
  lens.dtype(DType::I32).ndim(1).dim(0, rows, "tokens");
  TensorCheck qsl("query_start_loc", a->query_start_loc);
  qsl.dtype(DType::I32).ndim(1).dim_at_least(0, 1, "requests + 1");
  MLA_TRY(first_error({lens.status(), qsl.status()}));
  const int64_t reqs = qsl.size(0) - 1;

  if (a->topk > 0 && a->topk_indices == nullptr)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "topk_indices: is required when topk > 0");
  TensorCheck topk("topk_indices", a->topk_indices, true);
  topk.dtype(DType::I32).ndim(2).dim(0, rows, "tokens").dim_at_least(1, a->topk, "topk");
  topk.unit_last_stride();
  TensorCheck seq("seq_lens", a->seq_lens);
  seq.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck glen("gather_lens", a->gather_lens);
  glen.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck cbase("compressed_base", a->compressed_base, true);
  cbase.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  TensorCheck sbase("swa_base", a->swa_base);
  sbase.dtype(DType::I32).ndim(1).dim(0, reqs, "requests");
  MLA_TRY(
      first_error({topk.status(), seq.status(), glen.status(), cbase.status(), sbase.status()}));

  p->rows = rows;
  p->reqs = reqs;
  p->topk = a->topk;
  p->window = a->window;
  p->ratio = a->compress_ratio;
  p->width = width;
  p->topk_idx = topk.data<const int32_t>();
  p->topk_s = topk.stride(0);
  p->topk_cols = topk.present() ? topk.size(1) : 0;
  p->query_start = strided<const int32_t>(qsl);
  p->seq_lens = strided<const int32_t>(seq);
  p->gather_lens = strided<const int32_t>(glen);
  p->compressed_base = strided<const int32_t>(cbase);
  p->swa_base = strided<const int32_t>(sbase);
  p->out = out.data<int32_t>();
  p->out_s = out.stride(0);
  p->lens = strided<int32_t>(lens);
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla
