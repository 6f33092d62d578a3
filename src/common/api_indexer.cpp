// C entry points of the lightning indexer (logits, paged logits, top-k) and their descriptions
// for the dispatcher.
#include "device/indexer_kernels.h"
#include "dispatch.h"
#include "host/host_indexer.h"
#include "validate_indexer.h"

namespace mla {
namespace {

// Native and reference logits sum the same products in different orders; masks must match.
constexpr Tolerance kLogitsTol{1e-3, 1e-3, 1e-5};

struct IndexerLogitsOp : OpDefaults<IndexerLogitsProblem> {
  static constexpr const char* kName = "indexer_logits";
  static bool empty(const Problem& p) { return p.m == 0 || p.n == 0; }

  static size_t host_workspace(const Problem&, int threads) {
    return host::indexer_logits_workspace(threads);
  }
  static mla_status host(const Problem& p, void* ws, int threads) {
    return host::indexer_logits(p, ws, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_indexer_logits(p, s);
  }
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_indexer_logits(p, s);
  }
#endif
  static bool native_covers(const Problem&) {
    return true;
  }
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(make_buffer(p.q, extent({{p.m, p.q_sm}, {p.h, p.q_sh}}, p.d, 1), Role::In, "q"));
    b->push_back(make_buffer(p.k, extent({{p.n, p.k_s}}, p.d, 1), Role::In, "k"));
    b->push_back(make_buffer(p.k_scale, extent({{p.n, p.k_scale_s}}, 1, 4), Role::In, "k_scale"));
    b->push_back(make_buffer(p.w, extent({{p.m, p.w_s}}, p.h, 4), Role::In, "weights"));
    b->push_back(make_buffer(p.k_start, extent({{p.m, p.k_start_s}}, 1, 4), Role::In, "k_start"));
    b->push_back(make_buffer(p.k_end, extent({{p.m, p.k_end_s}}, 1, 4), Role::In, "k_end"));
    b->push_back(make_buffer(p.logits, extent({{p.m, p.logits_s}}, p.n, 4), Role::Out, "logits",
                             Elem::F32, kLogitsTol));
  }
};

struct IndexerPagedLogitsOp : OpDefaults<IndexerPagedLogitsProblem> {
  static constexpr const char* kName = "indexer_paged_logits";
  static bool empty(const Problem& p) { return p.rows() == 0 || p.max_ctx == 0; }

  static size_t host_workspace(const Problem&, int threads) {
    return host::indexer_logits_workspace(threads);
  }
  static mla_status host(const Problem& p, void* ws, int threads) {
    return host::indexer_paged_logits(p, ws, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_indexer_paged_logits(p, s);
  }
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_indexer_paged_logits(p, s);
  }
#endif
  static bool native_covers(const Problem&) {
    return true;
  }
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    const int64_t q = extent({{p.b, p.q_sb}, {p.next_n, p.q_sn}, {p.h, p.q_sh}}, p.d, 1);
    const int64_t kv = (p.num_pages - 1) * p.page_stride + p.page_bytes();
    const int64_t ctx = p.ctx_per_row ? extent({{p.b, p.ctx_sb}, {p.next_n, p.ctx_sn}}, 1, 4)
                                      : extent({{p.b, p.ctx_sb}}, 1, 4);
    b->push_back(make_buffer(p.q, q, Role::In, "q"));
    b->push_back(make_buffer(p.kv, kv, Role::In, "kv_cache"));
    b->push_back(make_buffer(p.w, extent({{p.rows(), p.w_s}}, p.h, 4), Role::In, "weights"));
    b->push_back(make_buffer(p.ctx, ctx, Role::In, "context_lens"));
    b->push_back(make_buffer(p.block_table, extent({{p.b, p.bt_s}}, p.max_pages, 4), Role::In,
                             "block_table"));
    b->push_back(make_buffer(p.logits, extent({{p.rows(), p.logits_s}}, p.max_ctx, 4), Role::Out,
                             "logits", Elem::F32, kLogitsTol));
  }
};

struct IndexerTopkOp : OpDefaults<IndexerTopkProblem> {
  static constexpr const char* kName = "indexer_topk";
  static bool empty(const Problem& p) { return p.rows == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::indexer_topk(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_indexer_topk(p, s);
  }
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_indexer_topk(p, s);
  }
#endif
  static bool native_covers(const Problem&) {
    return true;
  }
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    using L = IndexerTopkProblem::Lengths;
    const int64_t requests = p.rows / p.next_n;
    const int64_t len = p.lengths_kind == L::PerRow
                            ? extent({{requests, p.len_s0}, {p.next_n, p.len_s1}}, 1, 4)
                            : extent({{requests, p.len_s0}}, 1, 4);
    b->push_back(
        make_buffer(p.logits, extent({{p.rows, p.logits_s}}, p.cols, 4), Role::In, "logits"));
    b->push_back(make_buffer(p.starts, extent({{p.rows, p.starts_s}}, 1, 4), Role::In, "starts"));
    b->push_back(make_buffer(p.lengths, len, Role::In, "lengths"));
    b->push_back(make_buffer(p.page_table, extent({{p.rows / p.pt_div, p.pt_s}}, p.pt_cols, 4),
                             Role::In, "page_table"));
    b->push_back(make_buffer(p.out, extent({{p.rows, p.out_s}}, p.k, 4), Role::Out, "indices"));
    b->push_back(make_buffer(p.raw, extent({{p.rows, p.raw_s}}, p.k, 4), Role::Out, "raw_indices"));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

mla_status mla_indexer_logits_workspace_size(mla_context ctx, const mla_indexer_logits_args* args,
                                             size_t* bytes) {
  return mla::query_workspace<mla::IndexerLogitsOp>(ctx, args, bytes);
}

mla_status mla_indexer_logits(mla_context ctx, const mla_indexer_logits_args* args, void* workspace,
                              size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::IndexerLogitsOp>(ctx, args, workspace, workspace_bytes, stream);
}

mla_status mla_indexer_paged_logits_workspace_size(mla_context ctx,
                                                   const mla_indexer_paged_logits_args* args,
                                                   size_t* bytes) {
  return mla::query_workspace<mla::IndexerPagedLogitsOp>(ctx, args, bytes);
}

mla_status mla_indexer_paged_logits(mla_context ctx, const mla_indexer_paged_logits_args* args,
                                    void* workspace, size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::IndexerPagedLogitsOp>(ctx, args, workspace, workspace_bytes, stream);
}

mla_status mla_indexer_topk_workspace_size(mla_context ctx, const mla_indexer_topk_args* args,
                                           size_t* bytes) {
  return mla::query_workspace<mla::IndexerTopkOp>(ctx, args, bytes);
}

mla_status mla_indexer_topk(mla_context ctx, const mla_indexer_topk_args* args, void* workspace,
                            size_t workspace_bytes, mla_stream stream) {
  return mla::call<mla::IndexerTopkOp>(ctx, args, workspace, workspace_bytes, stream);
}

}  // extern "C"
