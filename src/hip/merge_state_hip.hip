// Instantiates the device merge state kernels for HIP.
#include "device/merge_state_reference.h"
