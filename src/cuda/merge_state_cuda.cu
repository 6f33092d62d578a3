// Instantiates the device merge state kernels for CUDA.
#include "device/merge_state_reference.h"
