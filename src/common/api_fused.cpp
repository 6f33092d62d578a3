// C entry points of the small fused ops, and their descriptions for the dispatcher.
#include "arg_check.h"
#include "device/kernels_fused.h"
#include "dispatch.h"
#include "host/host_fused.h"
#include "validate_fused.h"

namespace mla {
namespace {

// Device against host: fp32 math rounded once to bf16 on both sides, with expf / logf of
// different libraries, so one bf16 rounding step apart at most.
constexpr Tolerance kBf16OutTol{1e-5, 2.01 / 256, -1.0};
constexpr Tolerance kLseTol{1e-6, 2.01 / 65536, -1.0};

struct ConcatOp : OpDefaults<ConcatProblem> {
  static constexpr const char* kName = "concat";
  static bool empty(const Problem& p) { return p.rows() == 0; }

  static mla_status host(const Problem& p, void*, int threads) { return host::concat(p, threads); }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_concat(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(make_buffer(p.a, extent({{p.n, p.a_sn}, {p.h, p.a_sh}}, p.d_a, 2), Role::In, "a"));
    b->push_back(make_buffer(p.b, extent({{p.n, p.b_sn}, {p.h, p.b_sh}}, p.d_b, 2), Role::In, "b"));
    b->push_back(make_buffer(p.out, extent({{p.n, p.out_sn}, {p.h, p.out_sh}}, p.d_out(), 2),
                             Role::Out, "out"));  // bit-exact
  }
};

struct MergeStateOp : OpDefaults<MergeStateProblem> {
  static constexpr const char* kName = "merge_state";
  static bool empty(const Problem& p) { return p.rows() == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::merge_state(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_merge_state(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(
        make_buffer(p.v_a, extent({{p.n, p.va_sn}, {p.h, p.va_sh}}, p.d, 2), Role::In, "v_a"));
    b->push_back(
        make_buffer(p.v_b, extent({{p.n, p.vb_sn}, {p.h, p.vb_sh}}, p.d, 2), Role::In, "v_b"));
    b->push_back(
        make_buffer(p.lse_a, extent({{p.n, p.la_sn}, {p.h, p.la_sh}}, 1, 4), Role::In, "lse_a"));
    b->push_back(
        make_buffer(p.lse_b, extent({{p.n, p.lb_sn}, {p.h, p.lb_sh}}, 1, 4), Role::In, "lse_b"));
    b->push_back(make_buffer(p.v_out, extent({{p.n, p.vo_sn}, {p.h, p.vo_sh}}, p.d, 2), Role::Out,
                             "v_out", Elem::Bf16, kBf16OutTol));
    b->push_back(make_buffer(p.lse_out, extent({{p.n, p.lo_sn}, {p.h, p.lo_sh}}, 1, 4), Role::Out,
                             "lse_out", Elem::F32, kLseTol));
  }
};

struct NormRopeOp : OpDefaults<NormRopeProblem> {
  static constexpr const char* kName = "norm_rope";
  static bool empty(const Problem& p) { return p.rows() == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::norm_rope(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_norm_rope(p, s);
  }
#endif
  // In place, x is the output: listed once, as InOut, so that staging and compare copies of
  // it are what the kernels read and write.
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    const int64_t x_bytes = extent({{p.n, p.x_sn}, {p.h, p.x_sh}}, p.d, 2);
    if (p.in_place) {
      b->push_back(make_buffer(p.x, x_bytes, Role::InOut, "x (in place)", Elem::Bf16, kBf16OutTol));
    } else {
      b->push_back(make_buffer(p.x, x_bytes, Role::In, "x"));
      b->push_back(make_buffer(p.out, extent({{p.n, p.out_sn}, {p.h, p.out_sh}}, p.d, 2), Role::Out,
                               "out", Elem::Bf16, kBf16OutTol));
    }
    b->push_back(make_buffer(p.weight, extent({{p.d, p.weight_s}}, 1, p.weight_f32 ? 4 : 2),
                             Role::In, "weight"));
    b->push_back(make_buffer(p.positions.data,
                             extent({{p.n, p.positions.stride}}, 1, p.positions.wide ? 8 : 4),
                             Role::In, "positions"));
    b->push_back(
        make_buffer(p.table, extent({{p.max_pos, p.table_s}}, kRopeDim, 4), Role::In, "cos_sin"));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

mla_status mla_concat_mla_k(mla_context ctx, const mla_concat_mla_k_args* args, mla_stream stream) {
  return mla::call<mla::ConcatOp>(ctx, args, nullptr, 0, stream);
}

mla_status mla_concat_mla_absorb_q(mla_context ctx, const mla_concat_mla_absorb_q_args* args,
                                   mla_stream stream) {
  return mla::call<mla::ConcatOp>(ctx, args, nullptr, 0, stream);
}

mla_status mla_merge_state(mla_context ctx, const mla_merge_state_args* args, mla_stream stream) {
  return mla::call<mla::MergeStateOp>(ctx, args, nullptr, 0, stream);
}

mla_status mla_norm_rope(mla_context ctx, const mla_norm_rope_args* args, mla_stream stream) {
  return mla::call<mla::NormRopeOp>(ctx, args, nullptr, 0, stream);
}

}  // extern "C"
