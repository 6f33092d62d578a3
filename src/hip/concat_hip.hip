// Instantiates the device concat kernels for HIP.
#include "device/concat_reference.h"
