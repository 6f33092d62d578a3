// C entry points of the sparse prefill over a paged FP8 cache (SPEC 4.1), and its description
// for the dispatcher: native kernel where it covers the call, else the device reference; the
// host backend on a CPU context.
#include "arg_check.h"
#include "device/kernels.h"
#include "dispatch.h"
#include "host/host_ops.h"
#include "validate.h"

namespace mla {
namespace {

// SPEC 8: the tolerances of sparse prefill.
constexpr Tolerance kOutTol{8e-4, 3.01 / 128, 7e-6};
constexpr Tolerance kStatTol{1e-6, 2.01 / 65536, -1.0};  // max_logits and lse

struct SparsePrefillPagedOp : OpDefaults<SparsePrefillPagedProblem> {
  static constexpr const char* kName = "sparse_prefill_paged";
  static bool empty(const Problem& p) { return p.rows() == 0; }

#if MLA_WITH_GPU
  // One CTA per query token and head group, never split: no workspace.
  static bool native_covers(const Problem& p) {
    return gpu::native_prefill_covers(p.s_q, p.h_q);
  }
  static size_t native_workspace(const Problem&) {
    return 0;
  }
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_sparse_prefill_paged(p, s);
  }
#endif

  static size_t host_workspace(const Problem&, int threads) {
    return host::sparse_attention_workspace(threads);
  }
  static mla_status host(const Problem& p, void* ws, int threads) {
    return host::sparse_prefill_paged(p, ws, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_sparse_prefill_paged(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(
        make_buffer(p.q, extent({{p.s_q, p.q_ss}, {p.h_q, p.q_sh}}, p.d_qk, 2), Role::In, "q"));
    b->push_back(make_buffer(p.kv.data, p.kv.bytes(), Role::In, "kv"));
    b->push_back(make_buffer(p.idx, extent({{p.s_q, p.idx_s}}, p.topk, 4), Role::In, "indices"));
    b->push_back(
        make_buffer(p.topk_len, extent({{p.s_q, p.topk_len_s}}, 1, 4), Role::In, "topk_length"));
    b->push_back(make_buffer(p.sink, extent({{p.h_q, p.sink_s}}, 1, 4), Role::In, "attn_sink"));
    b->push_back(make_buffer(p.out, extent({{p.s_q, p.out_ss}, {p.h_q, p.out_sh}}, kDv, 2),
                             Role::Out, "out", Elem::Bf16, kOutTol));
    b->push_back(make_buffer(p.max_logits, extent({{p.s_q, p.ml_ss}}, p.h_q, 4), Role::Out,
                             "max_logits", Elem::F32, kStatTol));
    b->push_back(make_buffer(p.lse, extent({{p.s_q, p.lse_ss}}, p.h_q, 4), Role::Out, "lse",
                             Elem::F32, kStatTol));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

mla_status mla_sparse_prefill_paged_workspace_size(mla_context ctx,
                                                   const mla_sparse_prefill_paged_args* args,
                                                   size_t* bytes) {
  return mla::query_workspace<mla::SparsePrefillPagedOp>(ctx, args, bytes);
}

mla_status mla_sparse_prefill_paged(mla_context ctx, const mla_sparse_prefill_paged_args* args,
                                    void* workspace, size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::SparsePrefillPagedOp>(ctx, args, workspace, workspace_bytes, stream);
}

}  // extern "C"
