// Native sparse prefill on NVIDIA, bf16 rows and the paged FP8 cache: the shared decode kernel
// with one query position per row (sparse_prefill_launch.h), in the shapes of
// attention_shapes_cuda.h.
#include "attention_shapes_cuda.h"
#include "device/kernels.h"

namespace mla::gpu {
namespace {

template <template <class> class Cta>
constexpr size_t prefill_bytes() {
  using nv::max_bytes;
  return max_bytes(
      max_bytes(Cta<attn::Bf16Keys<576>>::kSmemBytes, Cta<attn::V32Keys>::kSmemBytes),
      max_bytes(Cta<attn::Bf16Keys<512>>::kSmemBytes, Cta<attn::V40ValueKeys>::kSmemBytes));
}

attn::DecodeTarget native_prefill_target() {
  using S = nv::AttentionShapes;
  static std::atomic<int> rows_of[64];
  return {nv::rows_that_fit(rows_of, prefill_bytes<S::PrefillWide>(),
                            prefill_bytes<S::PrefillNarrow>()),
          S::kMaxCtas};
}

}  // namespace

bool native_prefill_covers(int64_t s_q, int64_t h_q) {
  return attn::plan_sparse_prefill(s_q, h_q, 1, native_prefill_target()).fits;
}

mla_status native_sparse_prefill(const SparsePrefillProblem& p, mla_stream stream) {
  return attn::launch_sparse_prefill<nv::AttentionShapes>(p, native_prefill_target(), stream);
}

mla_status native_sparse_prefill_paged(const SparsePrefillPagedProblem& p, mla_stream stream) {
  return attn::launch_sparse_prefill_paged<nv::AttentionShapes>(p, native_prefill_target(), stream);
}

}  // namespace mla::gpu
