// Device-event timing and the two measured ceilings (copy bandwidth, dense bf16 matrix rate)
// for the benchmark. The vendor runtime is used directly here: the library never times.
#pragma once

#include <cstddef>
#include <functional>

namespace bench {

// Milliseconds per call: the median over `reps` samples, each sample timing `inner`
// back-to-back calls between two device events on the default stream (so launch gaps are
// amortized), after `warmup` calls.
double time_ms(const std::function<void()>& run, int warmup, int reps, int inner = 1);

// GB/s (bytes read + written) of device-to-device copies moving `bytes` in all (bytes / 2
// copied), each call from another place of a 2 x 1 GiB pool so that no call hits in L2.
double copy_gbs(size_t bytes, int inner);

// bf16 n x n x n matrix product through the vendor BLAS on random data: TFLOP/s, or a
// negative value when no BLAS is available for this vendor.
double matmul_ceiling_tflops(int n);

// Fills device memory with a byte, and synchronizes the device.
void device_memset(void* ptr, int value, size_t bytes);
void device_synchronize();
const char* device_name();

}  // namespace bench
