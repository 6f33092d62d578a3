// Instantiates the device reference of sparse decode and prefill for HIP.
#include "device/sparse_attention_reference.h"
