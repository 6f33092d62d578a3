/* decode_v40: one DeepSeek V4.0 sparse decode step through libmla's C API, on the best backend
 * the machine has (a GPU if mla_device_count() > 0, otherwise the CPU).
 *
 *   decode_v40 [batch] [iterations]
 *
 * It builds the two V4.0 caches of SPEC section 3 by quantizing random bf16 rows with
 * mla_kv_store: the main cache (sliding window: page 256, topk 128) and the extra cache
 * (compressed c4: page 64, extra topk 512). With h_q 64 (V4 Flash), s_q 1, softmax_scale
 * 512^-0.5 and an attention sink, it runs mla_sparse_decode once to warm up, then times
 * `iterations` calls with the host clock (mla_stream_synchronize before reading it), and
 * prints the time per call and the backend that served it. Then it checks itself: the same
 * step on the host backend (a CPU context) when it ran on a GPU, or a float64 reference over
 * the rows mla_kv_gather dequantizes when it ran on the CPU; it prints the largest error
 * against the SPEC 8 tolerance (docs/SPEC.md) and PASS or FAIL. Any failure prints
 * mla_last_error() and exits non-zero, as FAIL does. C99; uses mla.h and decode_check.h. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mla/mla.h>

#include "decode_check.h"

/* V4.0 production shape (SPEC 3): DeepSeek V4 Flash. */
enum {
  D_QK = 512,            /* V40 rows: 448 fp8 nope + 64 bf16 rope */
  D_V = 512,
  H_Q = 64,              /* V4 Flash, one GPU */
  S_Q = 1,               /* one decode token per request (no MTP) */
  MAIN_PAGE = 256,       /* sliding-window cache */
  MAIN_TOPK = 128,       /* window width */
  MAIN_PAGES_PER_REQ = 1,
  EXTRA_PAGE = 64,       /* compressed (c4) cache */
  EXTRA_TOPK = 512,      /* V4 Flash */
  EXTRA_PAGES_PER_REQ = 16 /* 1024 compressed entries = a 4096-token context */
};

/* Report a failed call with the library's detail message and leave. */
#define CHECK(call)                                                                    \
  do {                                                                                 \
    mla_status st_ = (call);                                                           \
    if (st_ != MLA_STATUS_SUCCESS) {                                                   \
      fflush(stdout); /* what was printed so far comes before the error */            \
      fprintf(stderr, "decode_v40: %s failed: %s (%s)\n", #call, mla_status_string(st_), \
              mla_last_error());                                                       \
      exit(1);                                                                         \
    }                                                                                  \
  } while (0)

/* ---- Small helpers: deterministic random numbers, bf16, tensors, host buffers. ---- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}
static float rng_uniform(void) { /* [-1, 1) */
  return (float)((double)(rng_next() >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}
static int32_t rng_below(int32_t n) { return (int32_t)(rng_next() % (uint64_t)n); }

static uint16_t bf16_from_float(float f) { /* round to nearest even; inputs are finite */
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static float float_from_bf16(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static mla_dtype dtype(uint8_t code, uint8_t bits) {
  mla_dtype d;
  d.code = code;
  d.bits = bits;
  d.lanes = 1;
  return d;
}

/* A contiguous row-major tensor over `data`. */
static mla_tensor tensor(void* data, mla_dtype dt, int ndim, const int64_t* shape) {
  mla_tensor t;
  int i;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype = dt;
  t.ndim = ndim;
  for (i = 0; i < ndim; ++i) t.shape[i] = shape[i];
  t.strides[ndim - 1] = 1;
  for (i = ndim - 2; i >= 0; --i) t.strides[i] = t.strides[i + 1] * shape[i + 1];
  return t;
}

static void* host_alloc(size_t bytes) {
  void* p = malloc(bytes == 0 ? 1 : bytes);
  if (p == NULL) {
    fprintf(stderr, "decode_v40: out of host memory (%zu bytes)\n", bytes);
    exit(1);
  }
  return p;
}

/* Memory of the context's device (GPU or host), filled from a host buffer. */
static void* upload(mla_context ctx, const void* src, size_t bytes) {
  void* p = NULL;
  CHECK(mla_malloc(ctx, bytes, &p));
  CHECK(mla_memcpy_to_device(ctx, p, src, bytes));
  return p;
}

/* A V4.0 cache of `num_pages` pages, every slot written by mla_kv_store from random bf16 rows. */
static mla_kv_cache make_cache(mla_context ctx, int64_t page_size, int64_t num_pages) {
  mla_kv_cache kv;
  const int64_t slots = page_size * num_pages;
  const int64_t page_bytes = mla_kv_page_bytes(MLA_KV_FORMAT_V40, page_size);
  uint16_t* rows = (uint16_t*)host_alloc((size_t)(slots * D_QK) * sizeof(uint16_t));
  int32_t* slot_ids = (int32_t*)host_alloc((size_t)slots * sizeof(int32_t));
  int64_t i, shape[2];
  mla_tensor k, s;
  mla_kv_store_args store;
  void *k_dev, *s_dev;

  memset(&kv, 0, sizeof kv);
  kv.format = MLA_KV_FORMAT_V40;
  kv.fp8 = MLA_FP8_E4M3FN;
  kv.page_size = page_size;
  kv.num_pages = num_pages;
  kv.page_stride_bytes = 0; /* packed: mla_kv_page_bytes() */
  if (page_bytes <= 0) {
    fprintf(stderr, "decode_v40: mla_kv_page_bytes failed\n");
    exit(1);
  }
  CHECK(mla_malloc(ctx, (size_t)(page_bytes * num_pages), &kv.data));

  for (i = 0; i < slots * D_QK; ++i) rows[i] = bf16_from_float(rng_uniform() * 4.0f);
  for (i = 0; i < slots; ++i) slot_ids[i] = (int32_t)i;
  k_dev = upload(ctx, rows, (size_t)(slots * D_QK) * sizeof(uint16_t));
  s_dev = upload(ctx, slot_ids, (size_t)slots * sizeof(int32_t));

  shape[0] = slots;
  shape[1] = D_QK;
  k = tensor(k_dev, dtype(MLA_DTYPE_BFLOAT, 16), 2, shape);
  s = tensor(s_dev, dtype(MLA_DTYPE_INT, 32), 1, shape);
  store.k = &k;
  store.slots = &s;
  store.kv = &kv;
  CHECK(mla_kv_store(ctx, &store, NULL));
  CHECK(mla_stream_synchronize(ctx, NULL));

  CHECK(mla_free(ctx, k_dev));
  CHECK(mla_free(ctx, s_dev));
  free(rows);
  free(slot_ids);
  return kv;
}

/* Indices [batch, S_Q, topk]: `topk` distinct random slots within request i's own pages. */
static int32_t* make_indices(int64_t batch, int64_t topk, int64_t slots_per_req) {
  int32_t* idx = (int32_t*)host_alloc((size_t)(batch * S_Q * topk) * sizeof(int32_t));
  int32_t* perm = (int32_t*)host_alloc((size_t)slots_per_req * sizeof(int32_t));
  int64_t i, j;
  for (i = 0; i < batch * S_Q; ++i) {
    const int64_t req = i / S_Q;
    for (j = 0; j < slots_per_req; ++j) perm[j] = (int32_t)j;
    for (j = 0; j < topk; ++j) { /* partial Fisher-Yates */
      const int64_t r = j + rng_below((int32_t)(slots_per_req - j));
      const int32_t t = perm[j];
      perm[j] = perm[r];
      perm[r] = t;
      idx[i * topk + j] = (int32_t)(req * slots_per_req + perm[j]);
    }
  }
  free(perm);
  return idx;
}

/* ---- The self-check's two independent paths. ---- */

static double* doubles(size_t n) { return (double*)host_alloc(n * sizeof(double)); }

/* The same step on a CPU context (the host backend) from host copies of every input. */
static void host_backend_step(mla_context ctx, const mla_sparse_decode_args* args,
                              const void* q, const void* idx, const void* eidx, const void* sink,
                              uint16_t* out, float* lse) {
  mla_context host = NULL;
  mla_kv_cache kv = *args->kv, extra_kv = *args->extra_kv;
  mla_tensor tq = *args->q, ti = *args->indices, te = *args->extra_indices;
  mla_tensor ts = *args->attn_sink, to = *args->out, tl = *args->lse;
  mla_sparse_decode_args a = *args;
  const size_t kv_bytes = (size_t)(mla_kv_page_bytes(kv.format, kv.page_size) * kv.num_pages);
  const size_t extra_bytes =
      (size_t)(mla_kv_page_bytes(extra_kv.format, extra_kv.page_size) * extra_kv.num_pages);
  size_t ws_bytes = 0;
  void* ws = NULL;
  kv.data = host_alloc(kv_bytes);
  extra_kv.data = host_alloc(extra_bytes);
  CHECK(mla_memcpy_to_host(ctx, kv.data, args->kv->data, kv_bytes));
  CHECK(mla_memcpy_to_host(ctx, extra_kv.data, args->extra_kv->data, extra_bytes));
  tq.data = (void*)q, ti.data = (void*)idx, te.data = (void*)eidx, ts.data = (void*)sink;
  to.data = out, tl.data = lse;
  a.q = &tq, a.kv = &kv, a.indices = &ti, a.extra_kv = &extra_kv, a.extra_indices = &te;
  a.attn_sink = &ts, a.out = &to, a.lse = &tl;
  CHECK(mla_context_create(MLA_DEVICE_CPU, &host));
  CHECK(mla_sparse_decode_workspace_size(host, &a, &ws_bytes));
  ws = host_alloc(ws_bytes);
  CHECK(mla_sparse_decode(host, &a, ws, ws_bytes, NULL));
  CHECK(mla_context_destroy(host));
  free(ws);
  free(kv.data);
  free(extra_kv.data);
}

/* Rows [n, D_QK] of a host-memory cache at the given slots, dequantized by mla_kv_gather
 * (bit-exact on every backend), as doubles. */
static double* gathered_rows(mla_context host, const mla_kv_cache* kv, const int32_t* slots,
                             int64_t n) {
  uint16_t* rows = (uint16_t*)host_alloc((size_t)(n * D_QK) * sizeof(uint16_t));
  double* values = doubles((size_t)(n * D_QK));
  int64_t shape[2], i;
  mla_tensor s, out;
  mla_kv_gather_args g;
  shape[0] = n;
  shape[1] = D_QK;
  s = tensor((void*)slots, dtype(MLA_DTYPE_INT, 32), 1, shape);
  out = tensor(rows, dtype(MLA_DTYPE_BFLOAT, 16), 2, shape);
  g.kv = kv;
  g.slots = &s;
  g.out = &out;
  CHECK(mla_kv_gather(host, &g, NULL));
  for (i = 0; i < n * D_QK; ++i) values[i] = float_from_bf16(rows[i]);
  free(rows);
  return values;
}

/* The float64 reference of the step (CPU context: the caches are host memory). */
static void reference_step(mla_context host, const mla_sparse_decode_args* args, int64_t batch,
                           const uint16_t* q, const int32_t* idx, const int32_t* eidx,
                           const float* sink, double* out, double* lse) {
  const int64_t keys = MAIN_TOPK + EXTRA_TOPK;
  double* main_rows = gathered_rows(host, args->kv, idx, batch * MAIN_TOPK);
  double* extra_rows = gathered_rows(host, args->extra_kv, eidx, batch * EXTRA_TOPK);
  double* k = doubles((size_t)(batch * keys * D_QK));
  double* qd = doubles((size_t)(batch * H_Q * D_QK));
  double sd[H_Q];
  int64_t i, j;
  for (i = 0; i < batch; ++i)
    for (j = 0; j < keys; ++j)
      memcpy(k + (i * keys + j) * D_QK,
             j < MAIN_TOPK ? main_rows + (i * MAIN_TOPK + j) * D_QK
                           : extra_rows + (i * EXTRA_TOPK + j - MAIN_TOPK) * D_QK,
             D_QK * sizeof(double));
  for (i = 0; i < batch * H_Q * D_QK; ++i) qd[i] = float_from_bf16(q[i]);
  for (i = 0; i < H_Q; ++i) sd[i] = sink[i];
  reference_decode(qd, k, sd, batch, H_Q, keys, D_QK, args->softmax_scale, out, lse);
  free(main_rows);
  free(extra_rows);
  free(k);
  free(qd);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
  const int32_t devices = mla_device_count();
  const int32_t device = devices > 0 ? 0 : MLA_DEVICE_CPU;
  const int64_t batch = argc > 1 ? atoll(argv[1]) : (devices > 0 ? 64 : 4);
  const int iters = argc > 2 ? atoi(argv[2]) : (devices > 0 ? 20 : 3);
  mla_context ctx = NULL;
  mla_kv_cache kv, extra_kv;
  int64_t shape[4];
  size_t q_elems, out_elems, lse_elems, ws_bytes = 0, i;
  uint16_t *q_host, *out_host;
  float *sink_host, *lse_host;
  int32_t *idx_host, *eidx_host;
  void *q_dev, *idx_dev, *eidx_dev, *sink_dev, *out_dev, *lse_dev, *ws = NULL;
  mla_tensor q, idx, eidx, sink, out, lse;
  mla_sparse_decode_args args;
  double t0, seconds;
  const char* backend;
  int it;

  if (batch < 1 || iters < 1) {
    fprintf(stderr, "usage: %s [batch >= 1] [iterations >= 1]\n", argv[0]);
    return 2;
  }
  if (mla_get_api_version() != MLA_API_VERSION) {
    fprintf(stderr, "decode_v40: libmla API %d, header API %d\n", (int)mla_get_api_version(),
            MLA_API_VERSION);
    return 1;
  }
  printf("libmla %s; %d GPU(s) visible; running on %s\n", mla_get_version_string(),
         (int)devices, device >= 0 ? "GPU 0" : "the CPU");
  CHECK(mla_context_create(device, &ctx));

  /* Caches: one main page and 16 extra pages per request. */
  kv = make_cache(ctx, MAIN_PAGE, batch * MAIN_PAGES_PER_REQ);
  extra_kv = make_cache(ctx, EXTRA_PAGE, batch * EXTRA_PAGES_PER_REQ);

  /* Queries, indices, sink; outputs. */
  q_elems = (size_t)(batch * S_Q * H_Q * D_QK);
  out_elems = (size_t)(batch * S_Q * H_Q * D_V);
  lse_elems = (size_t)(batch * H_Q * S_Q);
  q_host = (uint16_t*)host_alloc(q_elems * sizeof(uint16_t));
  for (i = 0; i < q_elems; ++i) q_host[i] = bf16_from_float(rng_uniform());
  sink_host = (float*)host_alloc(H_Q * sizeof(float));
  for (i = 0; i < H_Q; ++i) sink_host[i] = 2.0f * rng_uniform();
  idx_host = make_indices(batch, MAIN_TOPK, MAIN_PAGE * MAIN_PAGES_PER_REQ);
  eidx_host = make_indices(batch, EXTRA_TOPK, EXTRA_PAGE * EXTRA_PAGES_PER_REQ);

  q_dev = upload(ctx, q_host, q_elems * sizeof(uint16_t));
  sink_dev = upload(ctx, sink_host, H_Q * sizeof(float));
  idx_dev = upload(ctx, idx_host, (size_t)(batch * S_Q * MAIN_TOPK) * sizeof(int32_t));
  eidx_dev = upload(ctx, eidx_host, (size_t)(batch * S_Q * EXTRA_TOPK) * sizeof(int32_t));
  CHECK(mla_malloc(ctx, out_elems * sizeof(uint16_t), &out_dev));
  CHECK(mla_malloc(ctx, lse_elems * sizeof(float), &lse_dev));

  shape[0] = batch, shape[1] = S_Q, shape[2] = H_Q, shape[3] = D_QK;
  q = tensor(q_dev, dtype(MLA_DTYPE_BFLOAT, 16), 4, shape);
  shape[3] = D_V;
  out = tensor(out_dev, dtype(MLA_DTYPE_BFLOAT, 16), 4, shape);
  shape[0] = batch, shape[1] = H_Q, shape[2] = S_Q;
  lse = tensor(lse_dev, dtype(MLA_DTYPE_FLOAT, 32), 3, shape);
  shape[0] = batch, shape[1] = S_Q, shape[2] = MAIN_TOPK;
  idx = tensor(idx_dev, dtype(MLA_DTYPE_INT, 32), 3, shape);
  shape[2] = EXTRA_TOPK;
  eidx = tensor(eidx_dev, dtype(MLA_DTYPE_INT, 32), 3, shape);
  shape[0] = H_Q;
  sink = tensor(sink_dev, dtype(MLA_DTYPE_FLOAT, 32), 1, shape);

  memset(&args, 0, sizeof args);
  args.q = &q;
  args.kv = &kv;
  args.indices = &idx;
  args.topk_length = NULL; /* every index counts */
  args.extra_kv = &extra_kv;
  args.extra_indices = &eidx;
  args.extra_topk_length = NULL;
  args.attn_sink = &sink;
  args.softmax_scale = (float)(1.0 / sqrt((double)D_QK)); /* 512^-0.5 */
  args.out = &out;
  args.lse = &lse;

  /* Workspace: whatever the chosen backend asks for, in the context's memory. */
  CHECK(mla_sparse_decode_workspace_size(ctx, &args, &ws_bytes));
  if (ws_bytes > 0) CHECK(mla_malloc(ctx, ws_bytes, &ws));

  /* One warm-up call, then `iters` timed calls. */
  CHECK(mla_sparse_decode(ctx, &args, ws, ws_bytes, NULL));
  CHECK(mla_stream_synchronize(ctx, NULL));
  t0 = now_seconds();
  for (it = 0; it < iters; ++it) CHECK(mla_sparse_decode(ctx, &args, ws, ws_bytes, NULL));
  CHECK(mla_stream_synchronize(ctx, NULL));
  seconds = (now_seconds() - t0) / iters;
  {
    /* The name of the backend that served the last operation on this thread; it lives in the
     * library's thread-local storage, so keep a copy. */
    static char backend_name[64];
    strncpy(backend_name, mla_last_backend(), sizeof backend_name - 1);
    backend = backend_name;
  }

  out_host = (uint16_t*)host_alloc(out_elems * sizeof(uint16_t));
  lse_host = (float*)host_alloc(lse_elems * sizeof(float));
  CHECK(mla_memcpy_to_host(ctx, out_host, out_dev, out_elems * sizeof(uint16_t)));
  CHECK(mla_memcpy_to_host(ctx, lse_host, lse_dev, lse_elems * sizeof(float)));

  {
    /* Useful work: QK^T over d_qk and PV over d_v for every (request, head, key). */
    const double keys = (double)(MAIN_TOPK + EXTRA_TOPK);
    const double flops = 2.0 * (double)batch * S_Q * H_Q * keys * (D_QK + D_V);
    const double rate = flops / seconds;
    printf("V4.0 decode: batch %lld, s_q %d, h_q %d, topk %d (page %d) + extra %d (page %d),"
           " sink on\n",
           (long long)batch, S_Q, H_Q, MAIN_TOPK, MAIN_PAGE, EXTRA_TOPK, EXTRA_PAGE);
    printf("time: %.3f ms per call (mean of %d after 1 warm-up), %.2f %s\n", seconds * 1e3,
           iters, rate >= 1e12 ? rate * 1e-12 : rate * 1e-9, rate >= 1e12 ? "TFLOP/s" : "GFLOP/s");
    printf("backend: %s\n", backend);
  }

  {
    /* The self-check: the same step through an independent path, judged by SPEC 8. */
    double* got_out = doubles(out_elems);
    double* got_lse = doubles(lse_elems);
    double* want_out = doubles(out_elems);
    double* want_lse = doubles(lse_elems);
    decode_error e_out, e_lse;
    int pass;
    for (i = 0; i < out_elems; ++i) got_out[i] = float_from_bf16(out_host[i]);
    for (i = 0; i < lse_elems; ++i) got_lse[i] = lse_host[i];
    if (device >= 0) {
      uint16_t* ref_out = (uint16_t*)host_alloc(out_elems * sizeof(uint16_t));
      float* ref_lse = (float*)host_alloc(lse_elems * sizeof(float));
      printf("check: against the host backend (a CPU context, same inputs)\n");
      host_backend_step(ctx, &args, q_host, idx_host, eidx_host, sink_host, ref_out, ref_lse);
      for (i = 0; i < out_elems; ++i) want_out[i] = float_from_bf16(ref_out[i]);
      for (i = 0; i < lse_elems; ++i) want_lse[i] = ref_lse[i];
      free(ref_out);
      free(ref_lse);
    } else {
      /* On the CPU the step ran on the host backend: judge it by a float64 reference. */
      printf("check: against a float64 reference over the rows mla_kv_gather dequantizes\n");
      reference_step(ctx, &args, batch, q_host, idx_host, eidx_host, sink_host, want_out,
                     want_lse);
    }
    e_out = compare_values(got_out, want_out, out_elems, DECODE_OUT_ABS, DECODE_OUT_REL);
    e_lse = compare_values(got_lse, want_lse, lse_elems, DECODE_LSE_ABS, DECODE_LSE_REL);
    pass = e_out.worst <= 1.0 && e_out.cos_err <= DECODE_OUT_COS && e_lse.worst <= 1.0;
    printf("  out: largest error %.2e (%.3g of the SPEC 8 tolerance), cosine error %.1e "
           "(limit %.0e)\n", e_out.max_abs, e_out.worst, e_out.cos_err, DECODE_OUT_COS);
    printf("  lse: largest error %.2e (%.3g of the SPEC 8 tolerance)\n", e_lse.max_abs,
           e_lse.worst);
    printf("%s\n", pass ? "PASS" : "FAIL");
    free(got_out);
    free(got_lse);
    free(want_out);
    free(want_lse);
    if (!pass) return 1;
  }

  CHECK(mla_free(ctx, ws));
  CHECK(mla_free(ctx, out_dev));
  CHECK(mla_free(ctx, lse_dev));
  CHECK(mla_free(ctx, q_dev));
  CHECK(mla_free(ctx, sink_dev));
  CHECK(mla_free(ctx, idx_dev));
  CHECK(mla_free(ctx, eidx_dev));
  CHECK(mla_free(ctx, kv.data));
  CHECK(mla_free(ctx, extra_kv.data));
  CHECK(mla_context_destroy(ctx));
  free(q_host);
  free(sink_host);
  free(idx_host);
  free(eidx_host);
  free(out_host);
  free(lse_host);
  return 0;
}
