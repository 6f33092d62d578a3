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

double time_ms(const std::function<void()>& run, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) run();
  BENCH_CHECK(hipDeviceSynchronize());
  hipEvent_t a, b;
  BENCH_CHECK(hipEventCreate(&a));
  BENCH_CHECK(hipEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(hipEventRecord(a, nullptr));
    run();
    BENCH_CHECK(hipEventRecord(b, nullptr));
    BENCH_CHECK(hipEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(hipEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  (void)hipEventDestroy(a);
  (void)hipEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double copy_ceiling_gbs(size_t bytes) {
  void *src = nullptr, *dst = nullptr;
  BENCH_CHECK(hipMalloc(&src, bytes));
  BENCH_CHECK(hipMalloc(&dst, bytes));
  BENCH_CHECK(hipMemset(src, 0x3c, bytes));
  const double ms = time_ms(
      [&] { BENCH_CHECK(hipMemcpyAsync(dst, src, bytes, hipMemcpyDeviceToDevice, nullptr)); }, 3,
      20);
  (void)hipFree(src);
  (void)hipFree(dst);
  return 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
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
