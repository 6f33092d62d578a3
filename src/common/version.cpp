#include "gpu_runtime.h"
#include "mla/mla_core.h"

#define MLA_STR2(x) #x
#define MLA_STR(x) MLA_STR2(x)
#define MLA_VERSION_TEXT \
  MLA_STR(MLA_VERSION_MAJOR) "." MLA_STR(MLA_VERSION_MINOR) "." MLA_STR(MLA_VERSION_PATCH)

extern "C" {

int32_t mla_get_api_version(void) { return MLA_API_VERSION; }

const char* mla_get_version_string(void) {
  const char* v = mla::gpu::vendor();
  if (v == nullptr) return MLA_VERSION_TEXT " cpu";
  return v[0] == 'c' ? MLA_VERSION_TEXT " cuda" : MLA_VERSION_TEXT " hip";
}

}  // extern "C"
