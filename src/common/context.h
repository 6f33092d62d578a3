// The per-device context behind mla_context.
#pragma once

#include "mla/mla_core.h"

struct mla_context_s {
  int32_t device = MLA_DEVICE_CPU;
  mla_backend backend = MLA_BACKEND_AUTO;
  bool compare_fails = false;  // MLA_COMPARE=fail
  int host_threads = 1;        // workers of the host backend
  bool is_gpu() const { return device >= 0; }
};

namespace mla {

// Checks a context handle before an operation; names it in the error.
mla_status check_context(mla_context ctx);

}  // namespace mla
