// Host side of the native sparse prefill: the decode kernel (sparse_decode_kernel.h) with one
// query position per row. A prefill problem becomes a decode problem of b = s_q rows of s_q = 1:
//   - bf16 kv rows (mla_sparse_prefill): a view of one slot per page, page_stride = the row's
//     bytes, read as Bf16Keys (copied, no scale);
//   - a paged FP8 cache (mla_sparse_prefill_paged): V32Keys, or V40ValueKeys (bf16(code x
//     scale), the values mla_kv_gather gives).
// With 64 heads per CTA on a device with a warpgroup tile (Hopper), both take the warpgroup
// kernel instead (warpgroup_attention_kernel.h: its producer warpgroup copies bf16 rows
// asynchronously, or dequantizes the cache through its registers), again with the same
// summation order. So a paged call equals
// mla_kv_gather of its slots followed by mla_sparse_prefill, bit for bit, when the gathered
// rows are 16-byte aligned (rows that are not take Bf16Keys<kD, false> on the mma.sync / MFMA
// kernel, whose order differs from the warpgroup kernel's: within SPEC 8 then).
// With 16 heads per CTA on Hopper, both take the fragment kernel (fragment_decode_kernel.h),
// bf16 rows as Bf16Keys and the cache as decode reads it (code values, V32Keys / V40Keys):
// another order for each, so within SPEC 8 of each other (mla_attention.h says so).
// Rows are never split (plan_sparse_prefill): no workspace, and a row's result is independent
// of the other rows. The vendor's Shapes (sparse_decode_launch.h) give the CTAs, as
// PrefillNarrow<Fmt> and PrefillWide<Fmt>.
#pragma once

#include "sparse_decode_launch.h"

namespace mla::attn {

template <class Problem>
SparseDecodeProblem prefill_as_decode(const Problem& p, const KvCacheView& kv) {
  SparseDecodeProblem d;
  d.b = p.s_q, d.s_q = 1, d.h_q = p.h_q, d.d_qk = p.d_qk, d.topk = p.topk, d.extra_topk = 0;
  d.scale = p.scale;
  d.q = p.q, d.q_sb = p.q_ss, d.q_sh = p.q_sh;
  d.kv = kv;
  d.idx = p.idx, d.idx_sb = p.idx_s;
  d.topk_len = p.topk_len, d.topk_len_s = p.topk_len_s;
  d.sink = p.sink, d.sink_s = p.sink_s;
  d.out = p.out, d.out_sb = p.out_ss, d.out_sh = p.out_sh;
  d.lse = p.lse, d.lse_sb = p.lse_ss, d.lse_sh = p.lse_sh;
  return d;
}

template <class Shapes, class Fmt>
mla_status launch_prefill_format(const DecodeLaunch& L, const DecodePlan& plan, mla_stream stream) {
  if constexpr (Shapes::kMaxRows >= 64) {
    if (plan.rows_per_cta == 64)
      return launch_decode_cta<typename Shapes::template PrefillWide<Fmt>>(L, plan.ctas, stream);
  }
  return launch_decode_cta<typename Shapes::template PrefillNarrow<Fmt>>(L, plan.ctas, stream);
}

template <class Problem>
DecodeLaunch prefill_launch(const Problem& p, const KvCacheView& kv, const DecodePlan& plan) {
  DecodeLaunch L{prefill_as_decode(p, kv), plan.head_tiles, 1,
                 plan.keys_per_split,      nullptr,         nullptr};
  L.max_logits = p.max_logits, L.ml_sb = p.ml_ss, L.ml_sh = p.ml_sh;
  return L;
}

template <class Shapes>
mla_status launch_sparse_prefill(const SparsePrefillProblem& p, const DecodeTarget& target,
                                 mla_stream stream) {
  const DecodePlan plan = plan_sparse_prefill(p.s_q, p.h_q, p.topk, target);
  if (!plan.fits) return fail(MLA_STATUS_INTERNAL, "sparse_prefill: no native plan fits");
  KvCacheView kv;
  kv.data = const_cast<uint8_t*>(reinterpret_cast<const uint8_t*>(p.kv));
  kv.set_page_size(1);
  kv.num_pages = p.s_kv;
  kv.page_stride = p.kv_s * 2;
  const DecodeLaunch L = prefill_launch(p, kv, plan);
  // kv rows without 16-byte alignment: read in 2-byte pieces, by the mma.sync / MFMA kernel.
  if (!p.kv_rows_16b()) {
    if (p.d_qk == 576) return launch_prefill_format<Shapes, Bf16Keys<576, false>>(L, plan, stream);
    return launch_prefill_format<Shapes, Bf16Keys<512, false>>(L, plan, stream);
  }
  if constexpr (Shapes::kWarpgroup) {
    // Up to 16 heads on Hopper: the fragment kernel, B operands straight from the rows.
    if (plan.rows_per_cta == 16 && Shapes::warpgroup_runs()) {
      if (p.d_qk == 576)
        return launch_fragment_cta<typename Shapes::template FragmentNarrow<Bf16Keys<576>>>(
            L, plan.ctas, stream);
      return launch_fragment_cta<typename Shapes::template FragmentNarrow<Bf16Keys<512>>>(
          L, plan.ctas, stream);
    }
    // 64 heads on a device with a warpgroup tile: rows copied asynchronously.
    if (warpgroup_runs<Shapes>(plan)) {
      if (p.d_qk == 576)
        return launch_warpgroup_cta<typename Shapes::template Warpgroup<AsyncBf16Rows<576>>>(
            L, plan.ctas, stream);
      return launch_warpgroup_cta<typename Shapes::template Warpgroup<AsyncBf16Rows<512>>>(
          L, plan.ctas, stream);
    }
  }
  if (p.d_qk == 576) return launch_prefill_format<Shapes, Bf16Keys<576>>(L, plan, stream);
  return launch_prefill_format<Shapes, Bf16Keys<512>>(L, plan, stream);
}

template <class Shapes>
mla_status launch_sparse_prefill_paged(const SparsePrefillPagedProblem& p,
                                       const DecodeTarget& target, mla_stream stream) {
  const DecodePlan plan = plan_sparse_prefill(p.s_q, p.h_q, p.topk, target);
  if (!plan.fits) return fail(MLA_STATUS_INTERNAL, "sparse_prefill_paged: no native plan fits");
  const DecodeLaunch L = prefill_launch(p, p.kv, plan);
  if constexpr (Shapes::kWarpgroup) {
    // Up to 16 heads on Hopper: decode's fragment kernel over the codes (another summation
    // order than the bf16 rows': within SPEC 8 of gather-then-prefill, mla_attention.h).
    if (plan.rows_per_cta == 16 && Shapes::warpgroup_runs()) {
      if (p.kv.format == KvFormat::V32)
        return launch_fragment_cta<typename Shapes::template FragmentNarrow<V32Keys>>(L, plan.ctas,
                                                                                      stream);
      return launch_fragment_cta<typename Shapes::template FragmentNarrow<V40Keys>>(L, plan.ctas,
                                                                                    stream);
    }
    if (warpgroup_runs<Shapes>(plan)) {
      if (p.kv.format == KvFormat::V32)
        return launch_warpgroup_cta<typename Shapes::template Warpgroup<RegisterKeys<V32Keys>>>(
            L, plan.ctas, stream);
      return launch_warpgroup_cta<typename Shapes::template Warpgroup<RegisterKeys<V40ValueKeys>>>(
          L, plan.ctas, stream);
    }
  }
  if (p.kv.format == KvFormat::V32) return launch_prefill_format<Shapes, V32Keys>(L, plan, stream);
  return launch_prefill_format<Shapes, V40ValueKeys>(L, plan, stream);
}

}  // namespace mla::attn
