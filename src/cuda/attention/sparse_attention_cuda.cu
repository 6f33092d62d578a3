// Native sparse decode and prefill on NVIDIA: the shared kernels over the mma.sync tile (sm_80
// and later) and, for 64-head CTAs on Hopper, the warpgroup (wgmma) tile, in the shapes of
// attention_shapes_cuda.h. One translation unit on purpose: decode and prefill share CTA types
// (the same kernel), and a kernel instantiated in two units (no relocatable device code) is two
// device functions behind one host symbol, of which only one would get its shared-memory
// attribute.
#include "attention_shapes_cuda.h"
#include "device/kernels.h"

namespace mla::gpu {

// The widest CTAs whose shared memory the current device grants (sm_86 and sm_89 grant less
// than the H100/H200 and A100); 0 rows: none, the dispatcher then takes the reference.
attn::DecodeTarget native_decode_target() {
  using S = nv::AttentionShapes;
  static std::atomic<int> rows_of[64];
  constexpr size_t kWide =
      nv::max_bytes(S::Wide<attn::V32Keys>::kSmemBytes, S::Wide<attn::V40Keys>::kSmemBytes);
  constexpr size_t kNarrow =
      nv::max_bytes(S::Narrow<attn::V32Keys>::kSmemBytes, S::Narrow<attn::V40Keys>::kSmemBytes);
  return {nv::rows_that_fit(rows_of, kWide, kNarrow), S::kMaxCtas};
}

mla_status native_sparse_decode(const SparseDecodeProblem& p, void* workspace, mla_stream stream) {
  return attn::launch_sparse_decode<nv::AttentionShapes>(p, native_decode_target(), workspace,
                                                         stream);
}

// ---- prefill: one query position per row (sparse_prefill_launch.h) ----
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
