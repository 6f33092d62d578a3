#include "error.h"

#include <cstdarg>
#include <cstdio>
#include <string>

#include "log.h"

namespace mla {
namespace {
thread_local std::string t_last_error;
thread_local std::string t_last_backend = "none";
}  // namespace

mla_status fail(mla_status s, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  t_last_error = buf;
  log(LogLevel::Debug, "%s: %s", mla_status_string(s), buf);
  return s;
}

void clear_error() { t_last_error.clear(); }
void set_last_backend(const char* name) { t_last_backend = name; }

}  // namespace mla

extern "C" {

const char* mla_status_string(mla_status status) {
  switch (status) {
    case MLA_STATUS_SUCCESS: return "success";
    case MLA_STATUS_INVALID_ARGUMENT: return "invalid argument";
    case MLA_STATUS_MISALIGNED: return "misaligned pointer or stride";
    case MLA_STATUS_WORKSPACE_TOO_SMALL: return "workspace too small";
    case MLA_STATUS_NOT_SUPPORTED: return "not supported by the selected backend";
    case MLA_STATUS_NO_DEVICE: return "no such device";
    case MLA_STATUS_DEVICE_ERROR: return "GPU runtime error";
    case MLA_STATUS_COMPARE_MISMATCH: return "compare mode found outputs beyond tolerance";
    case MLA_STATUS_OUT_OF_MEMORY: return "out of memory";
    case MLA_STATUS_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* mla_last_error(void) { return mla::t_last_error.c_str(); }
const char* mla_last_backend(void) { return mla::t_last_backend.c_str(); }

}  // extern "C"
