// A CPU context and workspace helpers for tests of the host backend through the C API.
#pragma once

#include <mla/mla.h>

#include "mla_test.h"

namespace mlatest {

class HostContext {
 public:
  HostContext() { EXPECT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx_), MLA_STATUS_SUCCESS); }
  ~HostContext() { mla_context_destroy(ctx_); }
  HostContext(const HostContext&) = delete;
  HostContext& operator=(const HostContext&) = delete;
  mla_context get() const { return ctx_; }

  // Runs decode with exactly the workspace the size query asks for.
  mla_status decode(const mla_sparse_decode_args& a) {
    size_t bytes = 0;
    const mla_status s = mla_sparse_decode_workspace_size(ctx_, &a, &bytes);
    if (s != MLA_STATUS_SUCCESS) return s;
    Bytes ws(bytes);
    return mla_sparse_decode(ctx_, &a, ws.data(), bytes, nullptr);
  }
  mla_status prefill(const mla_sparse_prefill_args& a) {
    size_t bytes = 0;
    const mla_status s = mla_sparse_prefill_workspace_size(ctx_, &a, &bytes);
    if (s != MLA_STATUS_SUCCESS) return s;
    Bytes ws(bytes);
    return mla_sparse_prefill(ctx_, &a, ws.data(), bytes, nullptr);
  }
  mla_status prefill_paged(const mla_sparse_prefill_paged_args& a) {
    size_t bytes = 0;
    const mla_status s = mla_sparse_prefill_paged_workspace_size(ctx_, &a, &bytes);
    if (s != MLA_STATUS_SUCCESS) return s;
    Bytes ws(bytes);
    return mla_sparse_prefill_paged(ctx_, &a, ws.data(), bytes, nullptr);
  }

 private:
  mla_context ctx_ = nullptr;
};

}  // namespace mlatest
