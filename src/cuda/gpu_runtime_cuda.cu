// The CUDA runtime behind src/common/gpu_runtime.h.
#include "device/gpu_runtime_impl.h"
