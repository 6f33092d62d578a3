#include "dispatch.h"

namespace mla {

mla_status check_workspace(size_t required, const void* ws, size_t ws_bytes) {
  if (ws_bytes < required)
    return fail(MLA_STATUS_WORKSPACE_TOO_SMALL, "workspace_bytes %zu is less than the %zu bytes"
                " the workspace-size query gives for these arguments", ws_bytes, required);
  if (required > 0 && ws == nullptr)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "workspace: is NULL but %zu bytes are required",
                required);
  if (required > 0 && reinterpret_cast<uintptr_t>(ws) % 16 != 0)
    return fail(MLA_STATUS_MISALIGNED, "workspace %p is not 16-byte aligned", ws);
  return MLA_STATUS_SUCCESS;
}

const char* device_backend_name(bool native) {
  const char* v = gpu::vendor();
  if (v != nullptr && v[0] == 'h') return native ? "native-hip" : "reference-hip";
  return native ? "native-cuda" : "reference-cuda";
}

}  // namespace mla
