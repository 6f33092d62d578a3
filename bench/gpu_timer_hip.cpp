// HIP side of gpu_timer.h: events and a big copy. Debian packages no rocBLAS, so the matrix
// ceiling is reported as unavailable on AMD builds.
#include <hip/hip_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "gpu_timer.h"

#define BENCH_CHECK(x)                                                                    \
  do {                                                                                    \
    hipError_t e_ = (x);                                                                  \
    if (e_ != hipSuccess) {                                                               \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, hipGetErrorString(e_));     \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)

namespace bench {

double time_ms(const std::function<void()>& run, int warmup, int reps, int inner) {
  for (int i = 0; i < warmup; ++i) run();
  BENCH_CHECK(hipDeviceSynchronize());
  hipEvent_t a, b;
  BENCH_CHECK(hipEventCreate(&a));
  BENCH_CHECK(hipEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(hipEventRecord(a, nullptr));
    for (int k = 0; k < inner; ++k) run();
    BENCH_CHECK(hipEventRecord(b, nullptr));
    BENCH_CHECK(hipEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(hipEventElapsedTime(&t, a, b));
    ms.push_back(t / float(inner));
  }
  (void)hipEventDestroy(a);
  (void)hipEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double copy_gbs(size_t bytes, int inner) {
  static const size_t kPool = size_t(1) << 30;
  static char* src = nullptr;
  static char* dst = nullptr;
  if (src == nullptr) {
    BENCH_CHECK(hipMalloc(reinterpret_cast<void**>(&src), kPool));
    BENCH_CHECK(hipMalloc(reinterpret_cast<void**>(&dst), kPool));
    BENCH_CHECK(hipMemset(src, 0x3c, kPool));
  }
  const size_t half = std::min(bytes / 2, kPool);
  const size_t slots = std::max<size_t>(1, kPool / std::max<size_t>(half, 1));
  size_t call = 0;
  const double ms = time_ms(
      [&] {
        const size_t off = (call++ % slots) * half;
        BENCH_CHECK(hipMemcpyAsync(dst + off, src + off, half, hipMemcpyDeviceToDevice, nullptr));
      },
      3, 10, inner);
  return 2.0 * double(half) / (ms * 1e-3) / 1e9;
}

double matmul_ceiling_tflops(int) { return -1.0; }

void device_memset(void* ptr, int value, size_t bytes) { BENCH_CHECK(hipMemset(ptr, value, bytes)); }
void device_synchronize() { BENCH_CHECK(hipDeviceSynchronize()); }

const char* device_name() {
  static hipDeviceProp_t prop;
  int dev = 0;
  if (hipGetDevice(&dev) != hipSuccess || hipGetDeviceProperties(&prop, dev) != hipSuccess)
    return "unknown";
  return prop.name;
}

}  // namespace bench
