#include "context.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "error.h"
#include "gpu_runtime.h"
#include "log.h"

namespace mla {
namespace {

mla_status parse_backend(const char* s, mla_backend* b) {
  static const char* const kNames[] = {"auto", "native", "reference", "host", "compare"};
  if (s == nullptr || *s == '\0') {
    *b = MLA_BACKEND_AUTO;
    return MLA_STATUS_SUCCESS;
  }
  for (int i = 0; i < 5; ++i) {
    if (std::strcmp(s, kNames[i]) == 0) {
      *b = mla_backend(i);
      return MLA_STATUS_SUCCESS;
    }
  }
  return fail(MLA_STATUS_INVALID_ARGUMENT,
              "MLA_BACKEND='%s' is not one of auto|native|reference|host|compare", s);
}

mla_status parse_compare(const char* s, bool* fails) {
  if (s == nullptr || *s == '\0' || std::strcmp(s, "warn") == 0) {
    *fails = false;
    return MLA_STATUS_SUCCESS;
  }
  if (std::strcmp(s, "fail") == 0) {
    *fails = true;
    return MLA_STATUS_SUCCESS;
  }
  return fail(MLA_STATUS_INVALID_ARGUMENT, "MLA_COMPARE='%s' is not warn|fail", s);
}

mla_status parse_threads(const char* s, int* threads) {
  const unsigned hw = std::thread::hardware_concurrency();
  *threads = hw == 0 ? 1 : int(hw > 256 ? 256 : hw);
  if (s == nullptr || *s == '\0') return MLA_STATUS_SUCCESS;
  char* end = nullptr;
  const long n = std::strtol(s, &end, 10);
  if (*end != '\0' || n < 1 || n > 256)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "MLA_NUM_THREADS='%s' is not an integer in [1, 256]",
                s);
  *threads = int(n);
  return MLA_STATUS_SUCCESS;
}

mla_status check_log_level(const char* s) {
  LogLevel level;
  if (parse_log_level(s, &level)) return MLA_STATUS_SUCCESS;
  return fail(MLA_STATUS_INVALID_ARGUMENT,
              "MLA_LOG_LEVEL='%s' is not one of off|error|warn|info|debug|0-4", s);
}

}  // namespace

mla_status check_context(mla_context ctx) {
  if (ctx == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "ctx: is NULL");
  clear_error();
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla

extern "C" {

int32_t mla_device_count(void) { return mla::gpu::device_count(); }

mla_status mla_context_create(int32_t device, mla_context* ctx) {
  using namespace mla;
  clear_error();
  if (ctx == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "ctx: is NULL");
  *ctx = nullptr;
  mla_context_s c;
  c.device = device;
  MLA_TRY(parse_backend(std::getenv("MLA_BACKEND"), &c.backend));
  MLA_TRY(parse_compare(std::getenv("MLA_COMPARE"), &c.compare_fails));
  MLA_TRY(parse_threads(std::getenv("MLA_NUM_THREADS"), &c.host_threads));
  MLA_TRY(check_log_level(std::getenv("MLA_LOG_LEVEL")));
  if (device < MLA_DEVICE_CPU)
    return fail(MLA_STATUS_INVALID_ARGUMENT, "device %d is neither a GPU ordinal nor"
                " MLA_DEVICE_CPU (-1)", int(device));
  if (device >= 0) {
    if (gpu::vendor() == nullptr)
      return fail(MLA_STATUS_NO_DEVICE, "device %d: libmla was built without GPU support"
                  " (MLA_GPU=none); use MLA_DEVICE_CPU", int(device));
    const int n = gpu::device_count();
    if (device >= n)
      return fail(MLA_STATUS_NO_DEVICE, "device %d: the %s runtime sees %d GPU(s)", int(device),
                  gpu::vendor(), n);
  } else if (c.backend != MLA_BACKEND_AUTO && c.backend != MLA_BACKEND_HOST) {
    // Said at warn: someone asked for a device backend (or compare) and will not get it.
    log(LogLevel::Warn,
        "MLA_BACKEND=%s is ignored by CPU contexts (MLA_DEVICE_CPU): they"
        " always run the host backend",
        std::getenv("MLA_BACKEND"));
  }
  *ctx = new (std::nothrow) mla_context_s(c);
  if (*ctx == nullptr) return fail(MLA_STATUS_OUT_OF_MEMORY, "ctx: cannot allocate a context");
  return MLA_STATUS_SUCCESS;
}

mla_status mla_context_destroy(mla_context ctx) {
  mla::clear_error();
  delete ctx;
  return MLA_STATUS_SUCCESS;
}

mla_status mla_context_set_backend(mla_context ctx, mla_backend backend) {
  MLA_TRY(mla::check_context(ctx));
  if (int(backend) < int(MLA_BACKEND_AUTO) || int(backend) > int(MLA_BACKEND_COMPARE))
    return mla::fail(MLA_STATUS_INVALID_ARGUMENT, "backend %d is not an mla_backend",
                     int(backend));
  ctx->backend = backend;
  return MLA_STATUS_SUCCESS;
}

mla_status mla_context_get_backend(mla_context ctx, mla_backend* backend) {
  MLA_TRY(mla::check_context(ctx));
  if (backend == nullptr) return mla::fail(MLA_STATUS_INVALID_ARGUMENT, "backend: is NULL");
  *backend = ctx->backend;
  return MLA_STATUS_SUCCESS;
}

mla_status mla_context_get_device(mla_context ctx, int32_t* device) {
  MLA_TRY(mla::check_context(ctx));
  if (device == nullptr) return mla::fail(MLA_STATUS_INVALID_ARGUMENT, "device: is NULL");
  *device = ctx->device;
  return MLA_STATUS_SUCCESS;
}

}  // extern "C"
