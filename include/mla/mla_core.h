/* libmla core types: versions, status codes, tensor and KV cache descriptors, contexts.
 * Included by mla.h; C99 and C++. */
#ifndef MLA_MLA_CORE_H_
#define MLA_MLA_CORE_H_

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define MLA_API
#else
#define MLA_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Versions ---------------------------------------------------------------------------- */
#define MLA_VERSION_MAJOR 0
#define MLA_VERSION_MINOR 1
#define MLA_VERSION_PATCH 1
/* Bumped whenever an existing public struct or signature changes (additions keep it: a program
 * built against the older header still runs against the newer library). Versions 0.x: the
 * minor version moves with incompatible changes, the patch version with additions. */
#define MLA_API_VERSION 1

/* The API version the library was built with; compare with MLA_API_VERSION. */
MLA_API int32_t mla_get_api_version(void);
/* "MAJOR.MINOR.PATCH" followed by the GPU vendor the library was built for. */
MLA_API const char* mla_get_version_string(void);

/* ---- Status -------------------------------------------------------------------------------- */
typedef enum mla_status {
  MLA_STATUS_SUCCESS = 0,
  MLA_STATUS_INVALID_ARGUMENT = 1,    /* null pointer, wrong dtype, shape, stride or value */
  MLA_STATUS_MISALIGNED = 2,          /* a pointer or stride breaks an alignment rule */
  MLA_STATUS_WORKSPACE_TOO_SMALL = 3, /* workspace_bytes below the size query's answer */
  MLA_STATUS_NOT_SUPPORTED = 4,       /* valid, but the selected backend cannot serve it */
  MLA_STATUS_NO_DEVICE = 5,           /* no such GPU, or a GPU context on a CPU-only build */
  MLA_STATUS_DEVICE_ERROR = 6,        /* the CUDA or HIP runtime reported an error */
  MLA_STATUS_COMPARE_MISMATCH = 7,    /* MLA_BACKEND=compare, MLA_COMPARE=fail: outputs differ */
  MLA_STATUS_OUT_OF_MEMORY = 8,       /* only the debugging backends (host staging, compare) */
  MLA_STATUS_INTERNAL = 9
} mla_status;

/* A fixed sentence for each status code. */
MLA_API const char* mla_status_string(mla_status status);
/* Detail of the last failed call made on this thread, naming the argument at fault;
 * "" after a successful call. The pointer is valid until the next libmla call on this thread. */
MLA_API const char* mla_last_error(void);
/* Which backend served the last successful operation on this thread: "host", "reference-cuda",
 * "native-cuda", "reference-hip", "native-hip", or "compare(<a> vs <b>)". */
MLA_API const char* mla_last_backend(void);

/* ---- Tensors ----------------------------------------------------------------------------- */
/* DLPack-compatible dtype codes (DLPack 1.1 DLDataTypeCode). */
enum {
  MLA_DTYPE_INT = 0,
  MLA_DTYPE_UINT = 1,
  MLA_DTYPE_FLOAT = 2,
  MLA_DTYPE_BFLOAT = 4,
  MLA_DTYPE_FLOAT8_E4M3FN = 10,
  MLA_DTYPE_FLOAT8_E4M3FNUZ = 11
};

typedef struct mla_dtype {
  uint8_t code;   /* MLA_DTYPE_* */
  uint8_t bits;   /* 8, 16, 32 or 64 */
  uint16_t lanes; /* always 1 */
} mla_dtype;

#define MLA_MAX_DIMS 6

/* A strided view of memory the caller owns. Strides count elements, not bytes.
 * Every operation checks each view it is given, and refuses the call (naming the tensor in
 * mla_last_error(), writing nothing) unless:
 * - ndim is 1..MLA_MAX_DIMS, shape and strides are >= 0, and the element count fits int64;
 * - data is not NULL, unless the view is empty (a size is 0);
 * - the extent, from data to one past the furthest element, is at most 2^57 bytes (more than
 *   any 64-bit platform maps; computed without overflow) and does not run past the end of the
 *   address space; otherwise MLA_STATUS_INVALID_ARGUMENT;
 * - data is aligned to the element size (2 bytes for bf16, 4 for fp32 and int32, 8 for
 *   int64); otherwise MLA_STATUS_MISALIGNED. */
typedef struct mla_tensor {
  void* data;
  mla_dtype dtype;
  int32_t ndim;
  int64_t shape[MLA_MAX_DIMS];
  int64_t strides[MLA_MAX_DIMS];
} mla_tensor;

/* ---- Paged FP8 KV caches (docs/SPEC.md section 2) ---------------------------------------- */
typedef enum mla_kv_format {
  MLA_KV_FORMAT_V32 = 1, /* DeepSeek V3.2: 656 B/token, d_qk 576, d_v 512 */
  MLA_KV_FORMAT_V40 = 2  /* DeepSeek V4.0: 584 B/token page-split, d_qk = d_v = 512 */
} mla_kv_format;

typedef enum mla_fp8_flavor {
  MLA_FP8_E4M3FN = 1,  /* OCP e4m3fn: NVIDIA, AMD gfx950 */
  MLA_FP8_E4M3FNUZ = 2 /* e4m3fnuz: AMD gfx942 (MI300) */
} mla_fp8_flavor;

/* A cache, like a tensor, spans at most 2^57 bytes (num_pages * page stride), inside the
 * address space; its data is 16-byte aligned (else MLA_STATUS_MISALIGNED). */
typedef struct mla_kv_cache {
  void* data;                /* 16-byte aligned; holds num_pages * page_stride bytes */
  int32_t format;            /* mla_kv_format */
  int32_t fp8;               /* mla_fp8_flavor */
  int64_t page_size;         /* tokens per page, >= 1 */
  int64_t num_pages;         /* >= 1 */
  int64_t page_stride_bytes; /* 0: mla_kv_page_bytes(); else >= it and a multiple of 16 */
} mla_kv_cache;

/* Bytes one page of page_size tokens occupies (V40 pages are padded to a multiple of 576);
 * -1 for an unknown format, page_size < 1, or a page whose bytes overflow int64. */
MLA_API int64_t mla_kv_page_bytes(int32_t format, int64_t page_size);
/* Elements of a dequantized row: 576 for V32, 512 for V40; -1 for an unknown format. */
MLA_API int32_t mla_kv_row_dim(int32_t format);

/* ---- Contexts and streams ---------------------------------------------------------------- */
/* One context per device. device >= 0 is a GPU ordinal; MLA_DEVICE_CPU runs the host backend
 * on host memory. A context reads MLA_BACKEND and MLA_COMPARE when it is created. */
#define MLA_DEVICE_CPU (-1)
typedef struct mla_context_s* mla_context;

/* cudaStream_t or hipStream_t; NULL is the legacy default stream. Ignored by CPU contexts. */
typedef void* mla_stream;

typedef enum mla_backend {
  MLA_BACKEND_AUTO = 0,      /* native where it covers the call, else the device reference */
  MLA_BACKEND_NATIVE = 1,    /* vendor-optimized kernels only; NOT_SUPPORTED where none */
  MLA_BACKEND_REFERENCE = 2, /* the simple device reference kernels */
  MLA_BACKEND_HOST = 3,      /* the CPU reference; on a GPU context it stages through host
                                memory and synchronizes the stream (debugging only) */
  MLA_BACKEND_COMPARE = 4    /* run the auto choice and an independent checker, report */
} mla_backend;

MLA_API mla_status mla_context_create(int32_t device, mla_context* ctx);
MLA_API mla_status mla_context_destroy(mla_context ctx);
/* Overrides MLA_BACKEND for this context. */
MLA_API mla_status mla_context_set_backend(mla_context ctx, mla_backend backend);
MLA_API mla_status mla_context_get_backend(mla_context ctx, mla_backend* backend);
/* The context's device ordinal, or MLA_DEVICE_CPU. */
MLA_API mla_status mla_context_get_device(mla_context ctx, int32_t* device);
/* Number of GPUs the library's vendor runtime sees; 0 on a CPU-only build or machine. */
MLA_API int32_t mla_device_count(void);

/* ---- Memory helpers (for programs that have no GPU runtime of their own) ----------------- */
/* These allocate and synchronize; the operations below never do. On a CPU context they use
 * the C heap and memcpy. */
MLA_API mla_status mla_malloc(mla_context ctx, size_t bytes, void** ptr);
MLA_API mla_status mla_free(mla_context ctx, void* ptr);
MLA_API mla_status mla_memcpy_to_device(mla_context ctx, void* dst, const void* src, size_t n);
MLA_API mla_status mla_memcpy_to_host(mla_context ctx, void* dst, const void* src, size_t n);
MLA_API mla_status mla_stream_synchronize(mla_context ctx, mla_stream stream);

#ifdef __cplusplus
}
#endif

#endif /* MLA_MLA_CORE_H_ */
