// Instantiates the device reference of sparse decode and prefill (bf16 and paged) for CUDA.
#include "device/sparse_attention_reference.h"
