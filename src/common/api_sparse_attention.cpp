// C entry points of sparse decode and prefill, and their descriptions for the dispatcher.
#include "arg_check.h"
#include "attention/decode_plan.h"
#include "device/kernels.h"
#include "dispatch.h"
#include "host/host_ops.h"
#include "validate.h"

namespace mla {
namespace {

constexpr Tolerance kOutTol{1e-3, 2.01 / 128, 5e-6};            // SPEC 8, decode out
constexpr Tolerance kDecodeLseTol{1e-6, 8.01 / 65536, -1.0};    // SPEC 8, decode lse
constexpr Tolerance kPrefillOutTol{8e-4, 3.01 / 128, 7e-6};     // SPEC 8, prefill out
constexpr Tolerance kPrefillStatTol{1e-6, 2.01 / 65536, -1.0};  // SPEC 8, max_logits and lse

struct SparseDecodeOp : OpDefaults<SparseDecodeProblem> {
  static constexpr const char* kName = "sparse_decode";
  static bool empty(const Problem& p) { return p.rows() == 0; }

#if MLA_WITH_GPU
  // The native kernel serves every shape whose grid fits (attention/decode_plan.h).
  static attn::DecodePlan plan(const Problem& p) {
    return attn::plan_sparse_decode(p.rows(), p.h_q, p.keys(), gpu::native_decode_target());
  }
  static bool native_covers(const Problem& p) {
    return plan(p).fits;
  }
  static size_t native_workspace(const Problem& p) {
    return plan(p).workspace_bytes;
  }
  static mla_status native(const Problem& p, void* ws, mla_stream s) {
    return gpu::native_sparse_decode(p, ws, s);
  }
#endif

  static size_t host_workspace(const Problem&, int threads) {
    return host::sparse_attention_workspace(threads);
  }
  static mla_status host(const Problem& p, void* ws, int threads) {
    return host::sparse_decode(p, ws, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_sparse_decode(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    const int64_t q = extent({{p.b, p.q_sb}, {p.s_q, p.q_ss}, {p.h_q, p.q_sh}}, p.d_qk, 2);
    const int64_t idx = extent({{p.b, p.idx_sb}, {p.s_q, p.idx_ss}}, p.topk, 4);
    const int64_t eidx = extent({{p.b, p.extra_idx_sb}, {p.s_q, p.extra_idx_ss}}, p.extra_topk, 4);
    b->push_back(make_buffer(p.q, q, Role::In, "q"));
    b->push_back(make_buffer(p.kv.data, p.kv.bytes(), Role::In, "kv"));
    b->push_back(make_buffer(p.idx, idx, Role::In, "indices"));
    b->push_back(
        make_buffer(p.topk_len, extent({{p.b, p.topk_len_s}}, 1, 4), Role::In, "topk_length"));
    if (p.extra_topk > 0) {
      b->push_back(make_buffer(p.extra_kv.data, p.extra_kv.bytes(), Role::In, "extra_kv"));
      b->push_back(make_buffer(p.extra_idx, eidx, Role::In, "extra_indices"));
      b->push_back(make_buffer(p.extra_topk_len, extent({{p.b, p.extra_topk_len_s}}, 1, 4),
                               Role::In, "extra_topk_length"));
    }
    b->push_back(make_buffer(p.sink, extent({{p.h_q, p.sink_s}}, 1, 4), Role::In, "attn_sink"));
    b->push_back(
        make_buffer(p.out, extent({{p.b, p.out_sb}, {p.s_q, p.out_ss}, {p.h_q, p.out_sh}}, kDv, 2),
                    Role::Out, "out", Elem::Bf16, kOutTol));
    b->push_back(make_buffer(p.lse, extent({{p.b, p.lse_sb}, {p.h_q, p.lse_sh}}, p.s_q, 4),
                             Role::Out, "lse", Elem::F32, kDecodeLseTol));
  }
};

struct SparsePrefillOp : OpDefaults<SparsePrefillProblem> {
  static constexpr const char* kName = "sparse_prefill";
  static bool empty(const Problem& p) { return p.rows() == 0; }

#if MLA_WITH_GPU
  static bool native_covers(const Problem& p) {
    return gpu::native_prefill_covers(p.s_q, p.h_q);
  }
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_sparse_prefill(p, s);
  }
#endif

  static size_t host_workspace(const Problem&, int threads) {
    return host::sparse_attention_workspace(threads);
  }
  static mla_status host(const Problem& p, void* ws, int threads) {
    return host::sparse_prefill(p, ws, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_sparse_prefill(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(
        make_buffer(p.q, extent({{p.s_q, p.q_ss}, {p.h_q, p.q_sh}}, p.d_qk, 2), Role::In, "q"));
    b->push_back(make_buffer(p.kv, extent({{p.s_kv, p.kv_s}}, p.d_qk, 2), Role::In, "kv"));
    b->push_back(make_buffer(p.idx, extent({{p.s_q, p.idx_s}}, p.topk, 4), Role::In, "indices"));
    b->push_back(
        make_buffer(p.topk_len, extent({{p.s_q, p.topk_len_s}}, 1, 4), Role::In, "topk_length"));
    b->push_back(make_buffer(p.sink, extent({{p.h_q, p.sink_s}}, 1, 4), Role::In, "attn_sink"));
    b->push_back(make_buffer(p.out, extent({{p.s_q, p.out_ss}, {p.h_q, p.out_sh}}, kDv, 2),
                             Role::Out, "out", Elem::Bf16, kPrefillOutTol));
    b->push_back(make_buffer(p.max_logits, extent({{p.s_q, p.ml_ss}}, p.h_q, 4), Role::Out,
                             "max_logits", Elem::F32, kPrefillStatTol));
    b->push_back(make_buffer(p.lse, extent({{p.s_q, p.lse_ss}}, p.h_q, 4), Role::Out, "lse",
                             Elem::F32, kPrefillStatTol));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

mla_status mla_sparse_decode_workspace_size(mla_context ctx, const mla_sparse_decode_args* args,
                                            size_t* bytes) {
  return mla::query_workspace<mla::SparseDecodeOp>(ctx, args, bytes);
}

mla_status mla_sparse_decode(mla_context ctx, const mla_sparse_decode_args* args, void* workspace,
                             size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::SparseDecodeOp>(ctx, args, workspace, workspace_bytes, stream);
}

mla_status mla_sparse_prefill_workspace_size(mla_context ctx, const mla_sparse_prefill_args* args,
                                             size_t* bytes) {
  return mla::query_workspace<mla::SparsePrefillOp>(ctx, args, bytes);
}

mla_status mla_sparse_prefill(mla_context ctx, const mla_sparse_prefill_args* args, void* workspace,
                              size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::SparsePrefillOp>(ctx, args, workspace, workspace_bytes, stream);
}

}  // extern "C"
