// Native sparse decode on NVIDIA: the shared kernel over the mma.sync tile (sm_80 and later),
// in the shapes of attention_shapes_cuda.h.
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

}  // namespace mla::gpu
