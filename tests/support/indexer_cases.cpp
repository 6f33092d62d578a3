#include "indexer_cases.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <sstream>

namespace mlatest {
namespace {

constexpr int64_t kPage = MLA_INDEXER_PAGE_TOKENS;

uint8_t fp8_nan(bool fnuz) {
  return fnuz ? 0x80 : 0xFF;
}

// The value of every code, from the plain decoder, looked up (decoding is the costly part of
// building large cases).
double fp8_table(uint8_t code, bool fnuz) {
  static const std::vector<double> table = [] {
    std::vector<double> t(512);
    for (int c = 0; c < 256; ++c) {
      t[size_t(c)] = fp8_value(uint8_t(c), false);
      t[size_t(256 + c)] = fp8_value(uint8_t(c), true);
    }
    return t;
  }();
  return table[size_t(code) + (fnuz ? 256 : 0)];
}

// A random finite code: mostly magnitudes around 2^-5 .. 2^3, sometimes zero, subnormal or up
// to the largest finite value.
uint8_t random_fp8(Rng& rng, bool fnuz) {
  const int bias = fnuz ? 8 : 7;
  const double u = rng.uniform(0, 1);
  int e = int(rng.integer(bias - 5, bias + 3));
  if (u < 0.03) e = 0;
  if (u > 0.98) e = int(rng.integer(bias + 3, 15));
  int m = int(rng.integer(0, 7));
  if (!fnuz && e == 15 && m == 7) m = 6;  // 0x7F is the fn NaN
  const int sign = rng.chance(0.5) ? 0x80 : 0;
  const int code = sign | (e << 3) | m;
  return uint8_t(fnuz && code == 0x80 ? 0 : code);  // 0x80 is the fnuz NaN
}

// A key row: random codes and a positive fp32 scale.
float random_key(Rng& rng, int64_t d, bool fnuz, uint8_t* codes) {
  for (int64_t c = 0; c < d; ++c) codes[c] = random_fp8(rng, fnuz);
  return fp32_round(rng.uniform(1e-3, 2e-2));
}

// Heads of one query row, decoded.
std::vector<double> decode(const uint8_t* codes, int64_t n, bool fnuz) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = fp8_table(codes[i], fnuz);
  return v;
}

// sum_h relu(<q_h, k> * scale) * w_h in float64, and its magnitude.
void reference_logit(const std::vector<double>& q, const std::vector<double>& w,
                     const std::vector<double>& k, double scale, double* value, double* mag) {
  const size_t d = k.size();
  double v = 0, m = 0;
  for (size_t h = 0; h < w.size(); ++h) {
    double dot = 0, adot = 0;
    for (size_t c = 0; c < d; ++c) {
      dot += q[h * d + c] * k[c];
      adot += std::fabs(q[h * d + c] * k[c]);
    }
    v += std::max(0.0, dot * scale) * w[h];
    m += std::fabs(w[h]) * std::fabs(scale) * adot;
  }
  *value = v;
  *mag = m;
}

std::string where(int64_t r, int64_t c) {
  return "row " + std::to_string(r) + " col " + std::to_string(c);
}

}  // namespace

mla_dtype dt_fp8(bool fnuz) {
  return mla_dtype{uint8_t(fnuz ? MLA_DTYPE_FLOAT8_E4M3FNUZ : MLA_DTYPE_FLOAT8_E4M3FN), 8, 1};
}
mla_dtype dt_u8() {
  return mla_dtype{MLA_DTYPE_UINT, 8, 1};
}

::testing::AssertionResult check_logits(const LogitsRef& ref, const Tensor& logits, double tol) {
  for (int64_t r = 0; r < ref.rows; ++r)
    for (int64_t c = 0; c < ref.cols; ++c) {
      const double a = logits.at<float>({r, c});
      const double v = ref.value[size_t(r * ref.cols + c)];
      const double m = ref.magnitude[size_t(r * ref.cols + c)];
      if (std::isinf(v) || std::isinf(a)) {
        if (a != v)
          return ::testing::AssertionFailure()
                 << where(r, c) << ": got " << a << ", expected " << v;
        continue;
      }
      if (!(std::fabs(a - v) <= tol * m))
        return ::testing::AssertionFailure()
               << where(r, c) << ": got " << a << ", expected " << v << " (magnitude " << m << ")";
    }
  if (!gaps_poisoned(logits)) return ::testing::AssertionFailure() << "a gap of logits changed";
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_logits(const LogitsRef& ref, const Tensor& a, const Tensor& b,
                                       double tol) {
  for (int64_t r = 0; r < ref.rows; ++r)
    for (int64_t c = 0; c < ref.cols; ++c) {
      const double x = a.at<float>({r, c}), y = b.at<float>({r, c});
      const double m = ref.magnitude[size_t(r * ref.cols + c)];
      const bool ok = (std::isinf(x) || std::isinf(y)) ? x == y : std::fabs(x - y) <= tol * m;
      if (!ok) return ::testing::AssertionFailure() << where(r, c) << ": " << x << " vs " << y;
    }
  return ::testing::AssertionSuccess();
}

// ---- ragged ----

std::string RaggedSpec::name() const {
  std::ostringstream s;
  s << (fnuz ? "fnuz" : "fn") << "_m" << m << "_n" << n << "_h" << h << "_d" << d;
  if (strided) s << "_strided";
  return s.str();
}

mla_indexer_logits_args RaggedCase::args() {
  mla_indexer_logits_args a;
  a.q = q.ptr();
  a.k = k.ptr();
  a.k_scale = k_scale.ptr();
  a.weights = weights.ptr();
  a.k_start = k_start.ptr();
  a.k_end = k_end.ptr();
  a.logits = logits.ptr();
  return a;
}

std::unique_ptr<RaggedCase> make_ragged_case(const RaggedSpec& s, Rng& rng) {
  auto c = std::make_unique<RaggedCase>();
  c->spec = s;
  const bool st = s.strided;
  c->q = Tensor(dt_fp8(s.fnuz), {s.m, s.h, s.d},
                st ? std::vector<int64_t>{0, 0, 5} : std::vector<int64_t>{});
  c->k =
      Tensor(dt_fp8(s.fnuz), {s.n, s.d}, st ? std::vector<int64_t>{0, 3} : std::vector<int64_t>{});
  c->k_scale = st ? strided_vector(dt_f32(), s.n, 2) : Tensor(dt_f32(), {s.n});
  c->weights =
      Tensor(dt_f32(), {s.m, s.h}, st ? std::vector<int64_t>{0, 3} : std::vector<int64_t>{});
  c->k_start = st ? strided_vector(dt_i32(), s.m, 3) : Tensor(dt_i32(), {s.m});
  c->k_end = st ? strided_vector(dt_i32(), s.m, 3) : Tensor(dt_i32(), {s.m});
  c->logits =
      Tensor(dt_f32(), {s.m, s.n}, st ? std::vector<int64_t>{0, 5} : std::vector<int64_t>{});
  poison(c->logits);

  // Key ranges: mostly prefill-like causal ranges, plus a full row, an empty one, one that
  // needs clamping on both sides and a reversed one.
  std::vector<int64_t> lo(static_cast<size_t>(s.m)), hi(size_t(s.m));
  for (int64_t i = 0; i < s.m; ++i) {
    int64_t a = rng.integer(0, s.n / 2), b = a + rng.integer(0, s.n - a);
    if (i == 0) a = 0, b = s.n;
    if (i == 1) b = a;
    if (i == 2) a = -7, b = s.n + 9;
    if (i == 3) b = a - 2;
    c->k_start.at<int32_t>({i}) = int32_t(a);
    c->k_end.at<int32_t>({i}) = int32_t(b);
    lo[size_t(i)] = std::clamp<int64_t>(a, 0, s.n);
    hi[size_t(i)] = std::clamp<int64_t>(b, 0, s.n);
  }
  // Keys no row may read are NaN.
  std::vector<bool> used(size_t(s.n), false);
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t j = lo[size_t(i)]; j < hi[size_t(i)]; ++j) used[size_t(j)] = true;
  for (int64_t j = 0; j < s.n; ++j) {
    uint8_t* codes = &c->k.at<uint8_t>({j, 0});
    if (used[size_t(j)]) {
      c->k_scale.at<float>({j}) = random_key(rng, s.d, s.fnuz, codes);
    } else {
      std::memset(codes, fp8_nan(s.fnuz), size_t(s.d));
      c->k_scale.at<float>({j}) = NAN;
    }
  }
  for (int64_t i = 0; i < s.m; ++i)
    for (int64_t h = 0; h < s.h; ++h) {
      for (int64_t x = 0; x < s.d; ++x) c->q.at<uint8_t>({i, h, x}) = random_fp8(rng, s.fnuz);
      c->weights.at<float>({i, h}) = fp32_round(rng.normal());
    }

  LogitsRef& ref = c->ref;
  ref.rows = s.m, ref.cols = s.n;
  ref.value.assign(size_t(s.m * s.n), -kInf);
  ref.magnitude.assign(size_t(s.m * s.n), 0.0);
  std::vector<std::vector<double>> keys(static_cast<size_t>(s.n));
  for (int64_t j = 0; j < s.n; ++j)
    if (used[size_t(j)]) keys[size_t(j)] = decode(&c->k.at<uint8_t>({j, 0}), s.d, s.fnuz);
  for (int64_t i = 0; i < s.m; ++i) {
    std::vector<double> q, w;
    for (int64_t h = 0; h < s.h; ++h) {
      const auto qh = decode(&c->q.at<uint8_t>({i, h, 0}), s.d, s.fnuz);
      q.insert(q.end(), qh.begin(), qh.end());
      w.push_back(c->weights.at<float>({i, h}));
    }
    for (int64_t j = lo[size_t(i)]; j < hi[size_t(i)]; ++j) {
      const size_t e = size_t(i * s.n + j);
      reference_logit(q, w, keys[size_t(j)], c->k_scale.at<float>({j}), &ref.value[e],
                      &ref.magnitude[e]);
    }
  }
  return c;
}

// ---- paged ----

std::string PagedSpec::name() const {
  std::ostringstream s;
  s << (fnuz ? "fnuz" : "fn") << "_b" << b << "_nextn" << next_n << "_h" << h << "_d" << d << "_ctx"
    << max_context;
  if (width) s << "_w" << width;
  if (per_row_context) s << "_ctx2d";
  s << "_cache" << cache_ndim << "d";
  if (page_padding) s << "_pad" << page_padding;
  if (bad_pages) s << "_badpages";
  if (strided) s << "_strided";
  return s.str();
}

mla_indexer_paged_logits_args PagedCase::args() {
  mla_indexer_paged_logits_args a;
  a.q = q.ptr();
  a.kv_cache = &cache_desc;
  a.kv_fp8 = spec.fnuz ? MLA_FP8_E4M3FNUZ : MLA_FP8_E4M3FN;
  a.weights = weights.ptr();
  a.context_lens = context_lens.ptr();
  a.block_table = block_table.ptr();
  a.logits = logits.ptr();
  return a;
}

std::unique_ptr<PagedCase> make_paged_case(const PagedSpec& s, Rng& rng) {
  auto c = std::make_unique<PagedCase>();
  c->spec = s;
  const bool st = s.strided;
  const int64_t rows = s.b * s.next_n;
  const int64_t width = s.width ? s.width : (s.max_context + 7) / 8 * 8;
  const int64_t needed_pages = std::max<int64_t>(1, (s.max_context + kPage - 1) / kPage);
  const int64_t max_pages = s.bad_pages ? std::max<int64_t>(1, needed_pages - 1) : needed_pages;
  const int64_t num_pages = s.b * max_pages + 3;  // a few pages no request uses

  // Context lengths: one request at the maximum, one empty, the rest random.
  std::vector<int64_t> ctx(static_cast<size_t>(s.b));
  for (int64_t i = 0; i < s.b; ++i)
    ctx[size_t(i)] = i == 0 ? s.max_context : i == 1 ? 0 : rng.integer(0, s.max_context);
  std::vector<int64_t> end(
      static_cast<size_t>(rows));  // valid positions of each row, before the table
  if (s.per_row_context) {
    c->context_lens =
        Tensor(dt_i32(), {s.b, s.next_n}, st ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{});
    for (int64_t i = 0; i < s.b; ++i)
      for (int64_t j = 0; j < s.next_n; ++j) {
        const int64_t l = j == s.next_n - 1 ? ctx[size_t(i)] : rng.integer(0, ctx[size_t(i)]);
        c->context_lens.at<int32_t>({i, j}) = int32_t(l);
        end[size_t(i * s.next_n + j)] = l;
      }
  } else {
    c->context_lens = st ? strided_vector(dt_i32(), s.b, 2) : Tensor(dt_i32(), {s.b});
    for (int64_t i = 0; i < s.b; ++i) {
      c->context_lens.at<int32_t>({i}) = int32_t(ctx[size_t(i)]);
      for (int64_t j = 0; j < s.next_n; ++j)
        end[size_t(i * s.next_n + j)] = std::max<int64_t>(0, ctx[size_t(i)] - s.next_n + j + 1);
    }
  }

  // Block table: a random permutation of the pages; with bad_pages some entries point nowhere.
  c->block_table =
      Tensor(dt_i32(), {s.b, max_pages}, st ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{});
  std::vector<int32_t> pool(static_cast<size_t>(num_pages));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng.gen);
  for (int64_t i = 0; i < s.b; ++i)
    for (int64_t x = 0; x < max_pages; ++x) {
      int32_t e = pool[size_t(i * max_pages + x)];
      if (s.bad_pages && rng.chance(0.3)) {
        const int32_t bad[] = {-1, -5, int32_t(num_pages), INT32_MAX};
        e = bad[rng.integer(0, 3)];
      }
      c->block_table.at<int32_t>({i, x}) = e;
    }

  // Cache: NaN everywhere, then a key at every position some row may read.
  const int64_t row_bytes = s.d + 4, page_bytes = kPage * row_bytes;
  const int64_t stride = page_bytes + s.page_padding;
  c->cache.resize(size_t((num_pages - 1) * stride + page_bytes), fp8_nan(s.fnuz));
  for (int64_t pg = 0; pg < num_pages; ++pg)  // scales: NaN floats
    std::memset(c->cache.data() + pg * stride + kPage * s.d, 0xFF, size_t(kPage * 4));
  auto page_of = [&](int64_t i, int64_t p) -> int64_t {
    if (p / kPage >= max_pages) return -1;
    const int64_t e = c->block_table.at<int32_t>({i, p / kPage});
    return e >= 0 && e < num_pages ? e : -1;
  };
  for (int64_t i = 0; i < s.b; ++i) {
    int64_t last = 0;
    for (int64_t j = 0; j < s.next_n; ++j) last = std::max(last, end[size_t(i * s.next_n + j)]);
    for (int64_t p = 0; p < last; ++p) {
      const int64_t pg = page_of(i, p);
      if (pg < 0) continue;
      uint8_t* base = c->cache.data() + pg * stride;
      const float scale = random_key(rng, s.d, s.fnuz, base + (p % kPage) * s.d);
      std::memcpy(base + kPage * s.d + 4 * (p % kPage), &scale, 4);
    }
  }
  std::memset(&c->cache_desc, 0, sizeof(c->cache_desc));
  c->cache_desc.data = c->cache.data();
  c->cache_desc.dtype = dt_u8();
  c->cache_desc.ndim = s.cache_ndim;
  const int64_t shapes[3][4] = {{num_pages, page_bytes, 0, 0},
                                {num_pages, kPage, row_bytes, 0},
                                {num_pages, kPage, 1, row_bytes}};
  const int64_t strides[3][4] = {
      {stride, 1, 0, 0}, {stride, row_bytes, 1, 0}, {stride, row_bytes, row_bytes, 1}};
  for (int i = 0; i < s.cache_ndim; ++i) {
    c->cache_desc.shape[i] = shapes[s.cache_ndim - 2][i];
    c->cache_desc.strides[i] = strides[s.cache_ndim - 2][i];
  }

  c->q = Tensor(dt_fp8(s.fnuz), {s.b, s.next_n, s.h, s.d},
                st ? std::vector<int64_t>{0, 0, 0, 16} : std::vector<int64_t>{});
  c->weights =
      Tensor(dt_f32(), {rows, s.h}, st ? std::vector<int64_t>{0, 3} : std::vector<int64_t>{});
  for (int64_t i = 0; i < s.b; ++i)
    for (int64_t j = 0; j < s.next_n; ++j)
      for (int64_t h = 0; h < s.h; ++h) {
        for (int64_t x = 0; x < s.d; ++x) c->q.at<uint8_t>({i, j, h, x}) = random_fp8(rng, s.fnuz);
        c->weights.at<float>({i * s.next_n + j, h}) = fp32_round(rng.normal());
      }
  c->logits =
      Tensor(dt_f32(), {rows, width}, st ? std::vector<int64_t>{0, 5} : std::vector<int64_t>{});
  poison(c->logits);

  LogitsRef& ref = c->ref;
  ref.rows = rows, ref.cols = width;
  ref.value.assign(size_t(rows * width), -kInf);
  ref.magnitude.assign(size_t(rows * width), 0.0);
  for (int64_t i = 0; i < s.b; ++i) {
    // The keys of request i, decoded once: (scale, values) by position.
    int64_t last = 0;
    for (int64_t j = 0; j < s.next_n; ++j) last = std::max(last, end[size_t(i * s.next_n + j)]);
    last = std::min(last, width);
    std::vector<std::vector<double>> keys(static_cast<size_t>(last));
    std::vector<double> scales(static_cast<size_t>(last));
    for (int64_t p = 0; p < last; ++p) {
      const int64_t pg = page_of(i, p);
      if (pg < 0) continue;
      const uint8_t* base = c->cache.data() + pg * stride;
      float scale;
      std::memcpy(&scale, base + kPage * s.d + 4 * (p % kPage), 4);
      scales[size_t(p)] = scale;
      keys[size_t(p)] = decode(base + (p % kPage) * s.d, s.d, s.fnuz);
    }
    for (int64_t j = 0; j < s.next_n; ++j) {
      const int64_t r = i * s.next_n + j;
      std::vector<double> q, w;
      for (int64_t h = 0; h < s.h; ++h) {
        const auto qh = decode(&c->q.at<uint8_t>({i, j, h, 0}), s.d, s.fnuz);
        q.insert(q.end(), qh.begin(), qh.end());
        w.push_back(c->weights.at<float>({r, h}));
      }
      for (int64_t p = 0; p < std::min(end[size_t(r)], width); ++p) {
        if (keys[size_t(p)].empty()) continue;  // no page behind it
        const size_t e = size_t(r * width + p);
        reference_logit(q, w, keys[size_t(p)], scales[size_t(p)], &ref.value[e], &ref.magnitude[e]);
      }
    }
  }
  return c;
}

// ---- top-k ----

std::string TopkSpec::name() const {
  std::ostringstream s;
  s << "r" << rows << "_c" << cols << "_k" << k;
  if (next_n > 1) s << "_nextn" << next_n;
  s << (values == TopkValues::Random ? "_random"
        : values == TopkValues::Ties ? "_ties"
                                     : "_special");
  s << (lengths == TopkLengths::None     ? "_nolen"
        : lengths == TopkLengths::Causal ? "_causal"
                                         : "_perrow");
  if (starts) s << "_starts";
  if (page_table) s << "_pt" << page_size << (table_per_request ? "req" : "row");
  if (raw) s << "_raw";
  if (strided) s << "_strided";
  return s.str();
}

mla_indexer_topk_args TopkCase::args() {
  mla_indexer_topk_args a;
  a.logits = logits.ptr();
  a.starts = spec.starts ? starts.ptr() : nullptr;
  a.lengths = spec.lengths == TopkLengths::None ? nullptr : lengths.ptr();
  a.next_n = spec.next_n;
  a.page_table = spec.page_table ? page_table.ptr() : nullptr;
  a.page_size = spec.page_size;
  a.indices = indices.ptr();
  a.raw_indices = spec.raw ? raw.ptr() : nullptr;
  return a;
}

std::unique_ptr<TopkCase> make_topk_case(const TopkSpec& s, Rng& rng) {
  auto c = std::make_unique<TopkCase>();
  c->spec = s;
  const bool st = s.strided;
  const int64_t n = s.next_n > 1 ? s.next_n : 1, requests = s.rows / n;
  c->logits =
      Tensor(dt_f32(), {s.rows, s.cols}, st ? std::vector<int64_t>{0, 7} : std::vector<int64_t>{});
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t x = 0; x < s.cols; ++x) {
      float v = fp32_round(rng.normal());
      if (s.values == TopkValues::Ties) v = float(rng.integer(-3, 3));
      if (s.values == TopkValues::Special) {
        const double u = rng.uniform(0, 1);
        const float specials[] = {NAN, -NAN, -INFINITY, INFINITY, 0.0f, -0.0f};
        if (u < 0.4) v = specials[rng.integer(0, 5)];
      }
      c->logits.at<float>({r, x}) = v;
    }
  // Lengths: around K so that both short and long rows appear, with an empty row and rows
  // that need clamping.
  auto draw_len = [&](int64_t r) -> int32_t {
    if (r == 0) return int32_t(s.cols + 10);
    if (r == 1) return 0;
    if (r == 2) return -4;
    return int32_t(rng.integer(0, std::min<int64_t>(s.cols, 2 * s.k + 3)));
  };
  if (s.lengths == TopkLengths::Causal) {
    c->lengths = st ? strided_vector(dt_i32(), requests, 2) : Tensor(dt_i32(), {requests});
    for (int64_t i = 0; i < requests; ++i) c->lengths.at<int32_t>({i}) = draw_len(i);
  } else if (s.lengths == TopkLengths::PerRow) {
    c->lengths =
        Tensor(dt_i32(), {requests, n}, st ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{});
    for (int64_t i = 0; i < requests; ++i)
      for (int64_t j = 0; j < n; ++j) c->lengths.at<int32_t>({i, j}) = draw_len(i * n + j);
  }
  if (s.starts) {
    c->starts = st ? strided_vector(dt_i32(), s.rows, 3) : Tensor(dt_i32(), {s.rows});
    for (int64_t r = 0; r < s.rows; ++r) {
      int64_t v = rng.integer(-3, s.cols / 3);
      if (r == 3) v = s.cols + 2;
      c->starts.at<int32_t>({r}) = int32_t(v);
    }
  }
  if (s.page_table) {
    const int64_t table_rows = s.table_per_request ? requests : s.rows;
    const int64_t pages = std::max<int64_t>(1, (s.cols + s.page_size - 1) / s.page_size - 1);
    c->page_table = Tensor(dt_i32(), {table_rows, pages},
                           st ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{});
    for (int64_t r = 0; r < table_rows; ++r)
      for (int64_t x = 0; x < pages; ++x) {
        int32_t e = int32_t(rng.integer(0, 100000));
        if (rng.chance(0.1)) e = -1;
        if (rng.chance(0.05)) e = INT32_MAX;  // overflows once multiplied by P > 1
        c->page_table.at<int32_t>({r, x}) = e;
      }
  }
  c->indices =
      Tensor(dt_i32(), {s.rows, s.k}, st ? std::vector<int64_t>{0, 3} : std::vector<int64_t>{});
  c->raw =
      Tensor(dt_i32(), {s.rows, s.k}, st ? std::vector<int64_t>{0, 3} : std::vector<int64_t>{});
  poison(c->indices);
  poison(c->raw);
  return c;
}

namespace {

// Better candidate first: numbers before NaN, larger first, -0 == +0, then lower index.
bool better(double a, int64_t ia, double b, int64_t ib) {
  const bool na = std::isnan(a), nb = std::isnan(b);
  if (na != nb) return nb;
  if (!na && a != b) return a > b;
  return ia < ib;
}

}  // namespace

::testing::AssertionResult check_topk(const TopkCase& c, const Tensor& indices, const Tensor& raw) {
  const TopkSpec& s = c.spec;
  const int64_t n = s.next_n > 1 ? s.next_n : 1;
  for (int64_t r = 0; r < s.rows; ++r) {
    const int64_t start = s.starts ? std::clamp<int64_t>(c.starts.at<int32_t>({r}), 0, s.cols) : 0;
    int64_t len = s.cols - start;
    if (s.lengths == TopkLengths::Causal)
      len = int64_t(c.lengths.at<int32_t>({r / n})) - n + r % n + 1;
    if (s.lengths == TopkLengths::PerRow) len = c.lengths.at<int32_t>({r / n, r % n});
    len = std::clamp<int64_t>(len, 0, s.cols - start);
    auto value = [&](int64_t i) { return double(c.logits.at<float>({r, start + i})); };

    // What the contract gives: the K best in ascending index order, then -1.
    std::vector<int64_t> order(static_cast<size_t>(len));
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(),
              [&](int64_t a, int64_t b) { return better(value(a), a, value(b), b); });
    const int64_t taken = std::min(len, s.k);
    std::vector<int64_t> expect(order.begin(), order.begin() + taken);
    std::sort(expect.begin(), expect.end());
    expect.resize(size_t(s.k), -1);

    // The raw list as returned: from `raw` when it was asked for, else from indices when no
    // table transforms them.
    std::vector<int64_t> got(static_cast<size_t>(s.k));
    for (int64_t x = 0; x < s.k; ++x)
      got[size_t(x)] = (s.raw || !s.page_table) ? (s.raw ? raw : indices).at<int32_t>({r, x})
                                                : expect[size_t(x)];

    // Property checks, independent of how ties are broken.
    std::vector<bool> chosen(size_t(len), false);
    for (int64_t x = 0; x < s.k; ++x) {
      const int64_t i = got[size_t(x)];
      const std::string at = "row " + std::to_string(r) + " pos " + std::to_string(x);
      if (x >= taken) {
        if (i != -1) return ::testing::AssertionFailure() << at << ": padding " << i << " != -1";
        continue;
      }
      if (i < 0 || i >= len)
        return ::testing::AssertionFailure()
               << at << ": " << i << " is not a candidate (len " << len << ")";
      if (chosen[size_t(i)]) return ::testing::AssertionFailure() << at << ": " << i << " twice";
      chosen[size_t(i)] = true;
    }
    if (len > s.k) {
      double worst_chosen = kInf, best_left = -kInf;
      bool nan_chosen = false, number_left = false;
      for (int64_t i = 0; i < len; ++i) {
        const double v = value(i);
        if (chosen[size_t(i)]) {
          nan_chosen |= std::isnan(v);
          if (!std::isnan(v)) worst_chosen = std::min(worst_chosen, v);
        } else {
          number_left |= !std::isnan(v);
          if (!std::isnan(v)) best_left = std::max(best_left, v);
        }
      }
      if (nan_chosen && number_left)
        return ::testing::AssertionFailure() << "row " << r << ": a NaN chosen before a number";
      if (best_left > worst_chosen)
        return ::testing::AssertionFailure() << "row " << r << ": " << best_left
                                             << " left out while " << worst_chosen << " chosen";
    }
    // The documented exact list, then the transform.
    for (int64_t x = 0; x < s.k; ++x) {
      if (got[size_t(x)] != expect[size_t(x)])
        return ::testing::AssertionFailure()
               << "row " << r << " pos " << x << ": got " << got[size_t(x)] << ", expected "
               << expect[size_t(x)];
      int64_t want = expect[size_t(x)];
      if (s.page_table && want >= 0) {
        const int64_t row = s.table_per_request ? r / n : r;
        const int64_t pg = want / s.page_size, cols = c.page_table.desc.shape[1];
        const int64_t e = pg < cols ? c.page_table.at<int32_t>({row, pg}) : -1;
        want = e < 0 ? -1 : e * s.page_size + want % s.page_size;
        if (want > INT32_MAX) want = -1;
      }
      const int64_t out = indices.at<int32_t>({r, x});
      if (out != want)
        return ::testing::AssertionFailure()
               << "row " << r << " pos " << x << ": index " << out << ", expected " << want;
    }
  }
  if (!gaps_poisoned(indices)) return ::testing::AssertionFailure() << "a gap of indices changed";
  if (!gaps_poisoned(raw)) return ::testing::AssertionFailure() << "a gap of raw_indices changed";
  if (!s.raw && !unchanged(c.raw.bytes, raw.bytes))
    return ::testing::AssertionFailure() << "raw_indices written without being asked for";
  return ::testing::AssertionSuccess();
}

}  // namespace mlatest
