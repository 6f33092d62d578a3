/* The consumer check: a C99 program that uses an installed libmla through its public header
 * only. It checks the version, a few descriptor helpers and an error path, then stores bf16
 * rows into a small V4.0 cache on a CPU context and gathers them back:
 * the rope part must come back bit-exact, the nope part within one fp8 rounding, a skipped
 * slot must stay untouched and an invalid slot must gather a zero row. Exit 0 on success. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mla/mla.h>

#define ROWS 5
#define DIM 512      /* V40 row: 448 nope + 64 rope */
#define NOPE 448
#define PAGE 2
#define PAGES 4

static int failures = 0;
#define EXPECT(cond, ...)                            \
  do {                                               \
    if (!(cond)) {                                   \
      fprintf(stderr, "mla_consumer: " __VA_ARGS__); \
      fprintf(stderr, "\n");                         \
      ++failures;                                    \
    }                                                \
  } while (0)

static uint16_t bf16(float f) { /* round to nearest even, finite inputs */
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static float from_bf16(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static mla_tensor tensor2(void* data, uint8_t code, uint8_t bits, int64_t n, int64_t d) {
  mla_tensor t;
  memset(&t, 0, sizeof t);
  t.data = data;
  t.dtype.code = code;
  t.dtype.bits = bits;
  t.dtype.lanes = 1;
  t.ndim = d > 0 ? 2 : 1;
  t.shape[0] = n;
  t.strides[0] = d > 0 ? d : 1;
  if (d > 0) {
    t.shape[1] = d;
    t.strides[1] = 1;
  }
  return t;
}

int main(void) {
  static uint16_t rows[ROWS][DIM], back[ROWS + 1][DIM];
  static uint8_t cache[PAGES * 1728 + 16]; /* 1728 B per V40 page of 2 tokens, checked below */
  const int32_t slots_in[ROWS] = {0, 3, 4, 7, -1}; /* the last row is skipped */
  const int32_t slots_out[ROWS + 1] = {0, 3, 4, 7, 1, 99}; /* 1 never written, 99 invalid */
  int64_t page_bytes;
  mla_context ctx = NULL;
  mla_kv_cache kv;
  mla_tensor k, s_in, s_out, out;
  mla_kv_store_args store;
  mla_kv_gather_args gather;
  mla_status st;
  int r, c;
  uint32_t x = 12345u;

  printf("libmla %s, API %d (header %d), %d GPU(s)\n", mla_get_version_string(),
         (int)mla_get_api_version(), MLA_API_VERSION, (int)mla_device_count());
  EXPECT(mla_get_api_version() == MLA_API_VERSION, "API version mismatch");
  EXPECT(mla_kv_row_dim(MLA_KV_FORMAT_V40) == DIM, "V40 row dim");
  EXPECT(mla_kv_row_dim(MLA_KV_FORMAT_V32) == 576, "V32 row dim");
  EXPECT(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 256) == 149760, "V40 page bytes for 256");
  EXPECT(mla_kv_page_bytes(MLA_KV_FORMAT_V40, 0) == -1, "page size 0 must give -1");
  EXPECT(strlen(mla_status_string(MLA_STATUS_INVALID_ARGUMENT)) > 0, "status string");

  /* An error path: a NULL output pointer names the argument. */
  st = mla_context_create(MLA_DEVICE_CPU, NULL);
  EXPECT(st == MLA_STATUS_INVALID_ARGUMENT, "context_create(NULL) gave %d", (int)st);
  EXPECT(strlen(mla_last_error()) > 0, "no detail message after an error");

  st = mla_context_create(MLA_DEVICE_CPU, &ctx);
  if (st != MLA_STATUS_SUCCESS) {
    fprintf(stderr, "mla_consumer: context: %s (%s)\n", mla_status_string(st), mla_last_error());
    return 1;
  }

  /* The cache: static host memory (a CPU context reads host memory), 16-byte aligned. */
  page_bytes = mla_kv_page_bytes(MLA_KV_FORMAT_V40, PAGE);
  if (page_bytes != 1728) {
    fprintf(stderr, "mla_consumer: V40 page bytes for 2 tokens: %lld, expected 1728\n",
            (long long)page_bytes);
    return 1;
  }
  memset(&kv, 0, sizeof kv);
  kv.data = (void*)(((uintptr_t)cache + 15) & ~(uintptr_t)15);
  kv.format = MLA_KV_FORMAT_V40;
  kv.fp8 = MLA_FP8_E4M3FN;
  kv.page_size = PAGE;
  kv.num_pages = PAGES;
  memset(cache, 0, sizeof cache);

  for (r = 0; r < ROWS; ++r)
    for (c = 0; c < DIM; ++c) {
      x = x * 1664525u + 1013904223u;
      rows[r][c] = bf16(((float)(x >> 8) / 16777216.0f * 2.0f - 1.0f) * (float)(r + 1));
    }

  k = tensor2(rows, MLA_DTYPE_BFLOAT, 16, ROWS, DIM);
  s_in = tensor2((void*)slots_in, MLA_DTYPE_INT, 32, ROWS, 0);
  store.k = &k;
  store.slots = &s_in;
  store.kv = &kv;
  st = mla_kv_store(ctx, &store, NULL);
  EXPECT(st == MLA_STATUS_SUCCESS, "kv_store: %s (%s)", mla_status_string(st), mla_last_error());

  memset(back, 0xAB, sizeof back);
  s_out = tensor2((void*)slots_out, MLA_DTYPE_INT, 32, ROWS + 1, 0);
  out = tensor2(back, MLA_DTYPE_BFLOAT, 16, ROWS + 1, DIM);
  gather.kv = &kv;
  gather.slots = &s_out;
  gather.out = &out;
  st = mla_kv_gather(ctx, &gather, NULL);
  EXPECT(st == MLA_STATUS_SUCCESS, "kv_gather: %s (%s)", mla_status_string(st), mla_last_error());
  EXPECT(mla_stream_synchronize(ctx, NULL) == MLA_STATUS_SUCCESS, "synchronize");

  for (r = 0; r < ROWS - 1; ++r) {
    float amax = 0.0f;
    for (c = 0; c < NOPE; ++c) amax = fmaxf(amax, fabsf(from_bf16(rows[r][c])));
    for (c = 0; c < DIM; ++c) {
      const float want = from_bf16(rows[r][c]), got = from_bf16(back[r][c]);
      if (c >= NOPE) {
        EXPECT(back[r][c] == rows[r][c], "row %d rope[%d]: 0x%04x, stored 0x%04x", r, c - NOPE,
               back[r][c], rows[r][c]);
      } else {
        /* One e4m3 rounding (2^-4 relative; subnormal steps are 2^-9 of the tile scale,
         * which is < amax/224) plus the bf16 rounding of the output. */
        EXPECT(fabsf(got - want) <= fabsf(want) * (1.0f / 16 + 1.0f / 128) + amax / 224 / 512,
               "row %d nope[%d]: %g, stored %g", r, c, got, want);
      }
    }
  }
  for (c = 0; c < DIM; ++c) {
    EXPECT(back[4][c] == 0, "slot 1 (never written) gathered 0x%04x at %d", back[4][c], c);
    EXPECT(back[5][c] == 0, "invalid slot 99 gathered 0x%04x at %d, expected a zero row",
           back[5][c], c);
  }

  if (failures > 0) {
    fprintf(stderr, "mla_consumer: %d check(s) failed\n", failures);
    return 1;
  }
  printf("mla_consumer: store/gather round trip on the CPU context: ok (backend %s)\n",
         mla_last_backend());
  mla_context_destroy(ctx);
  return 0;
}
