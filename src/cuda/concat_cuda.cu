// Instantiates the device concat kernels for CUDA.
#include "device/concat_reference.h"
