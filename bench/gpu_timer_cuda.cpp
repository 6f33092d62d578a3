// CUDA side of gpu_timer.h: events, a big copy, and cuBLAS for the matrix ceiling.
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "gpu_timer.h"

#define BENCH_CHECK(x)                                                                    \
  do {                                                                                    \
    cudaError_t e_ = (x);                                                                 \
    if (e_ != cudaSuccess) {                                                              \
      std::fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));    \
      std::exit(2);                                                                       \
    }                                                                                     \
  } while (0)

namespace bench {

double time_ms(const std::function<void()>& run, int warmup, int reps, int inner) {
  for (int i = 0; i < warmup; ++i) run();
  BENCH_CHECK(cudaDeviceSynchronize());
  cudaEvent_t a, b;
  BENCH_CHECK(cudaEventCreate(&a));
  BENCH_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps; ++i) {
    BENCH_CHECK(cudaEventRecord(a, nullptr));
    for (int k = 0; k < inner; ++k) run();
    BENCH_CHECK(cudaEventRecord(b, nullptr));
    BENCH_CHECK(cudaEventSynchronize(b));
    float t = 0;
    BENCH_CHECK(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t / float(inner));
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double copy_gbs(size_t bytes, int inner) {
  static const size_t kPool = size_t(1) << 30;
  static char* src = nullptr;
  static char* dst = nullptr;
  if (src == nullptr) {
    BENCH_CHECK(cudaMalloc(reinterpret_cast<void**>(&src), kPool));
    BENCH_CHECK(cudaMalloc(reinterpret_cast<void**>(&dst), kPool));
    BENCH_CHECK(cudaMemset(src, 0x3c, kPool));
  }
  const size_t half = std::min(bytes / 2, kPool);
  const size_t slots = std::max<size_t>(1, kPool / std::max<size_t>(half, 1));
  size_t call = 0;
  const double ms = time_ms(
      [&] {
        const size_t off = (call++ % slots) * half;
        BENCH_CHECK(cudaMemcpyAsync(dst + off, src + off, half, cudaMemcpyDeviceToDevice, nullptr));
      },
      3, 10, inner);
  return 2.0 * double(half) / (ms * 1e-3) / 1e9;
}

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

void device_memset(void* ptr, int value, size_t bytes) {
  BENCH_CHECK(cudaMemset(ptr, value, bytes));
}
void device_synchronize() { BENCH_CHECK(cudaDeviceSynchronize()); }

const char* device_name() {
  static cudaDeviceProp prop;
  int dev = 0;
  if (cudaGetDevice(&dev) != cudaSuccess || cudaGetDeviceProperties(&prop, dev) != cudaSuccess)
    return "unknown";
  return prop.name;
}

}  // namespace bench
