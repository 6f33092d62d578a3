// C entry points of the V4 prefill index builders, and their descriptions for the dispatcher.
#include "arg_check.h"
#include "device/kernels_index_builders.h"
#include "dispatch.h"
#include "host/host_index_builders.h"
#include "index_builder_rules.h"
#include "validate_index_builders.h"

namespace mla {
namespace {

constexpr int64_t kInt32Max = 2147483647;

// A 1-D int32 vector of n entries, for the buffer lists.
template <typename T>
Buffer int32_vector(Strided<T>& v, int64_t n, Role role, const char* name) {
  return make_buffer(v.data, extent({{n, v.stride}}, 1, 4), role, name);
}

struct SwaTokenIdsOp : OpDefaults<SwaTokenIdsProblem> {
  static constexpr const char* kName = "build_swa_token_ids";

  static mla_status host(const Problem& p, void*, int threads) {
    return host::build_swa_token_ids(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_build_swa_token_ids(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(int32_vector(p.seq_lens, p.reqs, Role::In, "seq_lens"));
    b->push_back(int32_vector(p.extend_lens, p.reqs, Role::In, "extend_seq_lens"));
    b->push_back(int32_vector(p.req_pool, p.reqs, Role::In, "req_pool_indices"));
    b->push_back(make_buffer(p.req_to_token, extent({{p.pool_rows, p.rtt_s}}, p.max_len, 4),
                             Role::In, "req_to_token"));
    b->push_back(
        make_buffer(p.full_to_swa.data,
                    extent({{p.full_size, p.full_to_swa.stride}}, 1, p.full_to_swa.wide ? 8 : 4),
                    Role::In, "full_to_swa"));
    b->push_back(int32_vector(p.ids, p.capacity, Role::Out, "swa_token_ids"));
    b->push_back(int32_vector(p.offsets, p.reqs + 1, Role::Out, "swa_offsets"));
    b->push_back(int32_vector(p.first_pos, p.reqs, Role::Out, "swa_first_pos"));
    b->push_back(int32_vector(p.gather_lens, p.reqs, Role::Out, "swa_gather_lens"));
  }
};

struct CombineIndicesOp : OpDefaults<CombineIndicesProblem> {
  static constexpr const char* kName = "combine_topk_swa_indices";
  static bool empty(const Problem& p) { return p.rows == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::combine_topk_swa_indices(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_combine_topk_swa_indices(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    b->push_back(make_buffer(p.topk_idx, extent({{p.rows, p.topk_s}}, p.topk_cols, 4), Role::In,
                             "topk_indices"));
    b->push_back(int32_vector(p.query_start, p.reqs + 1, Role::In, "query_start_loc"));
    b->push_back(int32_vector(p.seq_lens, p.reqs, Role::In, "seq_lens"));
    b->push_back(int32_vector(p.gather_lens, p.reqs, Role::In, "gather_lens"));
    b->push_back(int32_vector(p.compressed_base, p.reqs, Role::In, "compressed_base"));
    b->push_back(int32_vector(p.swa_base, p.reqs, Role::In, "swa_base"));
    b->push_back(
        make_buffer(p.out, extent({{p.rows, p.out_s}}, p.width, 4), Role::Out, "combined_indices"));
    b->push_back(int32_vector(p.lens, p.rows, Role::Out, "combined_lens"));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

int64_t mla_combined_topk_width(int64_t topk, int64_t window) {
  using namespace mla;
  if (topk < 0 || topk > kInt32Max || window < 1 || window > kInt32Max) return -1;
  return combined_width(topk, window);
}

mla_status mla_build_swa_token_ids(mla_context ctx, const mla_build_swa_token_ids_args* args,
                                   mla_stream stream) {
  // Never empty: the offsets are written even for zero requests.
  return mla::call<mla::SwaTokenIdsOp>(ctx, args, nullptr, 0, stream);
}

mla_status mla_combine_topk_swa_indices(mla_context ctx,
                                        const mla_combine_topk_swa_indices_args* args,
                                        mla_stream stream) {
  return mla::call<mla::CombineIndicesOp>(ctx, args, nullptr, 0, stream);
}

}  // extern "C"
