// Instantiates the device reference of sparse decode and prefill (bf16 and paged) for HIP.
#include "device/sparse_attention_reference.h"
