#include "dtype.h"

namespace mla {

DType dtype_of(mla_dtype d) {
  if (d.lanes != 1) return DType::Invalid;
  switch (d.code) {
    case MLA_DTYPE_BFLOAT: return d.bits == 16 ? DType::Bf16 : DType::Invalid;
    case MLA_DTYPE_FLOAT: return d.bits == 32 ? DType::F32 : DType::Invalid;
    case MLA_DTYPE_INT:
      return d.bits == 32 ? DType::I32 : d.bits == 64 ? DType::I64 : DType::Invalid;
    case MLA_DTYPE_UINT: return d.bits == 8 ? DType::U8 : DType::Invalid;
    case MLA_DTYPE_FLOAT8_E4M3FN: return d.bits == 8 ? DType::Fp8E4M3FN : DType::Invalid;
    case MLA_DTYPE_FLOAT8_E4M3FNUZ: return d.bits == 8 ? DType::Fp8E4M3FNUZ : DType::Invalid;
    default: return DType::Invalid;
  }
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::Bf16: return "bfloat16";
    case DType::F32: return "float32";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::U8: return "uint8";
    case DType::Fp8E4M3FN: return "float8_e4m3fn";
    case DType::Fp8E4M3FNUZ: return "float8_e4m3fnuz";
    case DType::Invalid: break;
  }
  return "an unsupported dtype";
}

int dtype_bytes(DType d) {
  switch (d) {
    case DType::Bf16: return 2;
    case DType::F32:
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::U8:
    case DType::Fp8E4M3FN:
    case DType::Fp8E4M3FNUZ: return 1;
    case DType::Invalid: break;
  }
  return 0;
}

}  // namespace mla
