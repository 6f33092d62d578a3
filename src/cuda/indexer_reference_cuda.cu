// Instantiates the device reference of the indexer logits and top-k for CUDA.
#include "device/indexer_reference.h"
