// C entry points of the cache store and gather, and their descriptions for the dispatcher.
#include "arg_check.h"
#include "device/kernels.h"
#include "dispatch.h"
#include "host/host_ops.h"
#include "validate.h"

namespace mla {
namespace {

// True if bf16 rows starting at p, `stride` elements apart, all begin on 16 bytes.
bool aligned16(const bf16_bits* p, int64_t stride) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0 && (stride * 2) % 16 == 0;
}

struct KvStoreOp : OpDefaults<KvStoreProblem> {
  static constexpr const char* kName = "kv_store";
  static bool empty(const Problem& p) { return p.n == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::kv_store(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_kv_store(p, s);
  }
#endif
  // 16-byte rows of k: the native kernel moves them in 16-byte words.
  static bool native_covers(const Problem& p) {
    return aligned16(p.k, p.k_s);
  }
#if MLA_WITH_GPU
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_kv_store(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    const int d = kv_row_dim(p.kv.format);
    b->push_back(make_buffer(p.k, extent({{p.n, p.k_s}}, d, 2), Role::In, "k"));
    b->push_back(make_buffer(p.slots.data, extent({{p.n, p.slots.stride}}, 1, p.slots.wide ? 8 : 4),
                             Role::In, "slots"));
    b->push_back(make_buffer(p.kv.data, p.kv.bytes(), Role::InOut, "kv"));
  }
};

struct KvGatherOp : OpDefaults<KvGatherProblem> {
  static constexpr const char* kName = "kv_gather";
  static bool empty(const Problem& p) { return p.t == 0; }

  static mla_status host(const Problem& p, void*, int threads) {
    return host::kv_gather(p, threads);
  }
#if MLA_WITH_GPU
  static mla_status reference(const Problem& p, mla_stream s) {
    return gpu::reference_kv_gather(p, s);
  }
#endif
  static bool native_covers(const Problem& p) {
    return aligned16(p.out, p.out_s);
  }
#if MLA_WITH_GPU
  static mla_status native(const Problem& p, void*, mla_stream s) {
    return gpu::native_kv_gather(p, s);
  }
#endif
  static void buffers(Problem& p, std::vector<Buffer>* b) {
    const int d = kv_row_dim(p.kv.format);
    b->push_back(make_buffer(p.kv.data, p.kv.bytes(), Role::In, "kv"));
    b->push_back(make_buffer(p.slots.data, extent({{p.t, p.slots.stride}}, 1, p.slots.wide ? 8 : 4),
                             Role::In, "slots"));
    b->push_back(make_buffer(p.out, extent({{p.t, p.out_s}}, d, 2), Role::Out, "out", Elem::Bf16));
  }
};

}  // namespace
}  // namespace mla

extern "C" {

mla_status mla_kv_store(mla_context ctx, const mla_kv_store_args* args, mla_stream stream) {
  return mla::call<mla::KvStoreOp>(ctx, args, nullptr, 0, stream);
}

mla_status mla_kv_gather(mla_context ctx, const mla_kv_gather_args* args, mla_stream stream) {
  return mla::call<mla::KvGatherOp>(ctx, args, nullptr, 0, stream);
}

}  // extern "C"
