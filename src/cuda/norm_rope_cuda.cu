// Instantiates the device norm rope kernels for CUDA.
#include "device/norm_rope_reference.h"
