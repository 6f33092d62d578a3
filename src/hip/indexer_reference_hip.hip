// Instantiates the device reference of the indexer logits and top-k for HIP.
#include "device/indexer_reference.h"
