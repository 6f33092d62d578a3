// Instantiates the device reference of the cache store and gather for CUDA.
#include "device/kv_cache_reference.h"
