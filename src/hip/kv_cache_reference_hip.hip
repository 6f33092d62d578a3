// Instantiates the device reference of the cache store and gather for HIP.
#include "device/kv_cache_reference.h"
