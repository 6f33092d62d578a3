// Instantiates the device norm rope kernels for HIP.
#include "device/norm_rope_reference.h"
