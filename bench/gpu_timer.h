// Device-event timing and the two measured ceilings (copy bandwidth, dense bf16 matrix rate)
// for the benchmark. The vendor runtime is used directly here: the library never times.
#pragma once

#include <cstddef>
#include <functional>

namespace bench {

// Median milliseconds of `reps` timed runs after `warmup` runs, each run timed by device
// events on the default stream.
double time_ms(const std::function<void()>& run, int warmup, int reps);

// Device-to-device copy of `bytes`: returns GB/s counting bytes read plus bytes written.
double copy_ceiling_gbs(size_t bytes);

// bf16 n x n x n matrix product through the vendor BLAS on random data: TFLOP/s, or a
// negative value when no BLAS is available for this vendor.
double matmul_ceiling_tflops(int n);

// Fills device memory with a byte, and synchronizes the device.
void device_memset(void* ptr, int value, size_t bytes);
void device_synchronize();
const char* device_name();

}  // namespace bench
