// Instantiates the device kernels of the V4 prefill index builders for HIP.
#include "device/index_builders_reference.h"
