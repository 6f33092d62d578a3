// Status plumbing: every failure records a thread-local detail that names the argument.
#pragma once

#include "mla/mla_core.h"

namespace mla {

// Records the detail for mla_last_error() and returns s. printf-style.
mla_status fail(mla_status s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void clear_error();
void set_last_backend(const char* name);

}  // namespace mla

#define MLA_TRY(expr)                                 \
  do {                                                \
    const mla_status mla_try_status_ = (expr);        \
    if (mla_try_status_ != MLA_STATUS_SUCCESS) return mla_try_status_; \
  } while (0)
