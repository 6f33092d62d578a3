// Instantiates the device reference of sparse decode and prefill for CUDA.
#include "device/sparse_attention_reference.h"
