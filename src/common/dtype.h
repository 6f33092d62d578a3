// Element types the operations accept, decoded from DLPack-style (code, bits, lanes).
#pragma once

#include "mla/mla_core.h"

namespace mla {

enum class DType { Invalid, Bf16, F32, I32, I64, U8, Fp8E4M3FN, Fp8E4M3FNUZ };

DType dtype_of(mla_dtype d);
const char* dtype_name(DType d);
int dtype_bytes(DType d);

}  // namespace mla
