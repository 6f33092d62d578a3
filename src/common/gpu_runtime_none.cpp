// The GPU runtime of a CPU-only build: there is no device.
#include "error.h"
#include "gpu_runtime.h"

namespace mla::gpu {
namespace {
mla_status no_gpu() {
  return fail(MLA_STATUS_NO_DEVICE, "libmla was built without GPU support (MLA_GPU=none)");
}
}  // namespace

const char* vendor() { return nullptr; }
int device_count() { return 0; }
mla_status sm_count(int, int*) { return no_gpu(); }
DeviceScope::DeviceScope(int) : status_(no_gpu()) {}
DeviceScope::~DeviceScope() = default;
mla_status allocate(size_t, void**) { return no_gpu(); }
void release(void*) {}
mla_status copy_to_host(void*, const void*, size_t, mla_stream) { return no_gpu(); }
mla_status copy_to_device(void*, const void*, size_t, mla_stream) { return no_gpu(); }
mla_status copy_on_device(void*, const void*, size_t, mla_stream) { return no_gpu(); }
mla_status synchronize(mla_stream) { return no_gpu(); }
mla_status check_launch(const char*) { return no_gpu(); }

}  // namespace mla::gpu
