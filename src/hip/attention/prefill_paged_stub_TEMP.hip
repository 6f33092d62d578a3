// TEMPORARY (HIP): stands in for the native sparse prefill kernels (bf16 rows and paged FP8
// cache) until they land on main; drop this file when merging them. No shape is covered, so
// the dispatcher runs the device reference and MLA_BACKEND=native reports NOT_SUPPORTED.
#include "device/kernels.h"
#include "error.h"

namespace mla::gpu {

bool native_prefill_covers(int64_t, int64_t) { return false; }

mla_status native_sparse_prefill(const SparsePrefillProblem&, mla_stream) {
  return fail(MLA_STATUS_INTERNAL, "sparse_prefill: no native kernel in this build");
}

mla_status native_sparse_prefill_paged(const SparsePrefillPagedProblem&, mla_stream) {
  return fail(MLA_STATUS_INTERNAL, "sparse_prefill_paged: no native kernel in this build");
}

}  // namespace mla::gpu
