// gpu_timer.h for both vendors, over the library's own vendor-name mapping (gpu_vendor.h):
// events, a big copy, and the matrix ceiling (cuBLAS on NVIDIA; Debian packages no rocBLAS, so
// AMD builds report it as unavailable).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#if defined(MLA_BENCH_HIP)
#include <hip/hip_runtime_api.h>
#define MLA_GPU_HIP 1  // gpu_vendor.h: hip names (this is host code, not compiled as HIP)
#else
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#endif

#include <mla/mla.h>

#include "device/gpu_vendor.h"
#include "gpu_timer.h"

#define BENCH_CHECK(x)                                                                \
  do {                                                                                \
    gpuError_t e_ = (x);                                                              \
    if (e_ != gpuSuccess) {                                                           \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, gpuGetErrorString(e_)); \
      std::exit(2);                                                                   \
    }                                                                                 \
  } while (0)

namespace bench {

double time_ms(const std::function<void()>& run, int warmup, int reps, int inner) {
  for (int i = 0; i < warmup; ++i) run();
  BENCH_CHECK(gpuDeviceSynchronize());
  gpuEvent_t a, b;
  BENCH_CHECK(gpuEventCreate(&a));
  BENCH_CHECK(gpuEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(gpuEventRecord(a, nullptr));
    for (int k = 0; k < inner; ++k) run();
    BENCH_CHECK(gpuEventRecord(b, nullptr));
    BENCH_CHECK(gpuEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(gpuEventElapsedTime(&t, a, b));
    ms.push_back(t / float(inner));
  }
  (void)gpuEventDestroy(a);
  (void)gpuEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double copy_gbs(size_t bytes, int inner) {
  static const size_t kPool = size_t(1) << 30;
  static char* src = nullptr;
  static char* dst = nullptr;
  if (src == nullptr) {
    BENCH_CHECK(gpuMalloc(reinterpret_cast<void**>(&src), kPool));
    BENCH_CHECK(gpuMalloc(reinterpret_cast<void**>(&dst), kPool));
    BENCH_CHECK(gpuMemset(src, 0x3c, kPool));
  }
  const size_t half = std::min(bytes / 2, kPool);
  const size_t slots = std::max<size_t>(1, kPool / std::max<size_t>(half, 1));
  size_t call = 0;
  const double ms = time_ms(
      [&] {
        const size_t off = (call++ % slots) * half;
        BENCH_CHECK(gpuMemcpyAsync(dst + off, src + off, half, gpuMemcpyDeviceToDevice, nullptr));
      },
      3, 10, inner);
  return 2.0 * double(half) / (ms * 1e-3) / 1e9;
}

#if defined(MLA_BENCH_HIP)
double matmul_ceiling_tflops(int) {
  return -1.0;
}
#else
double matmul_ceiling_tflops(int n) {
  const size_t elems = size_t(n) * n;
  std::vector<__nv_bfloat16> host(elems);
  std::mt19937 gen(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& v : host) v = __float2bfloat16(nd(gen));
  void *a = nullptr, *b = nullptr, *c = nullptr;
  BENCH_CHECK(cudaMalloc(&a, elems * 2));
  BENCH_CHECK(cudaMalloc(&b, elems * 2));
  BENCH_CHECK(cudaMalloc(&c, elems * 2));
  BENCH_CHECK(cudaMemcpy(a, host.data(), elems * 2, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(b, host.data(), elems * 2, cudaMemcpyHostToDevice));
  cublasHandle_t h;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return -1.0;
  const float alpha = 1.0f, beta = 0.0f;
  const double ms = time_ms(
      [&] {
        cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, a, CUDA_R_16BF, n, b,
                     CUDA_R_16BF, n, &beta, c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                     CUBLAS_GEMM_DEFAULT);
      },
      3, 10);
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
  return 2.0 * double(n) * n * n / (ms * 1e-3) / 1e12;
}
#endif

void device_memset(void* ptr, int value, size_t bytes) {
  BENCH_CHECK(gpuMemset(ptr, value, bytes));
}
void device_synchronize() {
  BENCH_CHECK(gpuDeviceSynchronize());
}

const char* device_name() {
  static gpuDeviceProp_t prop;
  int dev = 0;
  if (gpuGetDevice(&dev) != gpuSuccess || gpuGetDeviceProperties(&prop, dev) != gpuSuccess)
    return "unknown";
  return prop.name;
}

}  // namespace bench
