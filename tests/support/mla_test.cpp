#include "mla_test.h"

#include <algorithm>
#include <cmath>

namespace mlatest {

uint64_t fresh_seed() {
  std::random_device rd;
  const uint64_t seed = (uint64_t(rd()) << 32) ^ rd();
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

// ---- numbers ----

double bf16_value(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float fp32_round(double x) { return float(x); }  // C's conversion rounds to nearest even

uint16_t bf16_round_float(float f) {
  if (std::isnan(f)) return 0x7FC0;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  // The two bf16 neighbours of f toward and away from zero; pick the nearer, ties to even.
  const uint16_t lo = uint16_t(u >> 16);
  if ((u & 0xFFFF) == 0) return lo;
  const uint16_t hi = uint16_t(lo + 1);
  const double dl = std::fabs(double(f) - bf16_value(lo));
  const double dh = std::fabs(double(f) - bf16_value(hi));
  if (std::isinf(bf16_value(hi)))  // past the largest bf16: ties at the midpoint go to inf
    return std::fabs(double(f)) >= std::ldexp(2.0 - 1.0 / 256, 127) ? hi : lo;
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}

uint16_t bf16_round(double x) { return bf16_round_float(fp32_round(x)); }

double fp8_value(uint8_t b, bool fnuz) {
  if (!fnuz && (b & 0x7F) == 0x7F) return kNaN;
  if (fnuz && b == 0x80) return kNaN;
  const int bias = fnuz ? 8 : 7;
  const int e = (b >> 3) & 0xF, m = b & 7;
  const double mag = e == 0 ? (m / 8.0) * std::ldexp(1.0, 1 - bias)
                            : (1.0 + m / 8.0) * std::ldexp(1.0, e - bias);
  return (b & 0x80) ? -mag : mag;
}

uint8_t fp8_encode(double x, bool fnuz) {
  if (std::isnan(x)) return fnuz ? 0x80 : 0x7F;
  // The non-negative finite codes in increasing order are 0..top; find the two neighbours of
  // |x| and take the nearer, ties to the even code; beyond the top, saturate.
  const double a = std::fabs(x);
  const int top = fnuz ? 0x7F : 0x7E;
  int best = top;
  if (a < fp8_value(uint8_t(top), fnuz)) {
    int lo = 0, hi = top;  // value(lo) <= a < value(hi)
    while (hi - lo > 1) {
      const int mid = (lo + hi) / 2;
      if (fp8_value(uint8_t(mid), fnuz) <= a) lo = mid; else hi = mid;
    }
    const double dl = a - fp8_value(uint8_t(lo), fnuz), dh = fp8_value(uint8_t(hi), fnuz) - a;
    best = dl < dh ? lo : dh < dl ? hi : ((lo & 1) == 0 ? lo : hi);
  }
  if (std::signbit(x)) {
    if (!fnuz) return uint8_t(best | 0x80);  // e4m3fn keeps -0
    return best == 0 ? 0 : uint8_t(best | 0x80);
  }
  return uint8_t(best);
}

double ue8m0_value(uint8_t b) { return b == 255 ? kInf : std::ldexp(1.0, int(b) - 127); }

// ---- buffers and tensors ----

void Bytes::resize(size_t bytes, uint8_t fill) {
  n = bytes;
  storage.assign((bytes + 7) / 8 + 2, 0);
  std::memset(storage.data(), fill, storage.size() * 8);
}

static mla_dtype dt(uint8_t code, uint8_t bits) { return mla_dtype{code, bits, 1}; }
mla_dtype dt_bf16() { return dt(MLA_DTYPE_BFLOAT, 16); }
mla_dtype dt_f32() { return dt(MLA_DTYPE_FLOAT, 32); }
mla_dtype dt_i32() { return dt(MLA_DTYPE_INT, 32); }
mla_dtype dt_i64() { return dt(MLA_DTYPE_INT, 64); }

Tensor::Tensor(mla_dtype dt, std::vector<int64_t> shape, std::vector<int64_t> pad) {
  std::memset(&desc, 0, sizeof(desc));
  desc.dtype = dt;
  desc.ndim = int32_t(shape.size());
  elem = dt.bits / 8;
  int64_t stride = 1;
  for (int i = desc.ndim - 1; i >= 0; --i) {
    desc.shape[i] = shape[size_t(i)];
    desc.strides[i] = stride;
    const int64_t p = size_t(i) < pad.size() ? pad[size_t(i)] : 0;
    stride *= shape[size_t(i)] + p;
  }
  int64_t extent = 1;
  for (int i = 0; i < desc.ndim; ++i) extent += (desc.shape[i] - 1) * desc.strides[i];
  bytes.resize(size_t(std::max<int64_t>(extent, 1) * elem));
  desc.data = bytes.data();
}

int64_t Tensor::offset(std::initializer_list<int64_t> idx) const {
  int64_t off = 0;
  int i = 0;
  for (int64_t v : idx) off += v * desc.strides[i++];
  return off;
}

void poison(Tensor& t) {
  uint8_t* p = t.bytes.data();
  for (size_t i = 0; i + 1 < t.bytes.size(); i += 2) {
    p[i] = 0xC1;
    p[i + 1] = 0x7F;
  }
}

namespace {
// Elements of t at logical positions, in flat element offsets.
std::vector<bool> logical_mask(const Tensor& t) {
  const int64_t total = int64_t(t.bytes.size()) / t.elem;
  std::vector<bool> mask(size_t(total), false);
  std::vector<int64_t> idx(size_t(t.desc.ndim), 0);
  int64_t numel = 1;
  for (int i = 0; i < t.desc.ndim; ++i) numel *= t.desc.shape[i];
  for (int64_t n = 0; n < numel; ++n) {
    int64_t off = 0, rem = n;
    for (int i = t.desc.ndim - 1; i >= 0; --i) {
      off += (rem % t.desc.shape[i]) * t.desc.strides[i];
      rem /= t.desc.shape[i];
    }
    mask[size_t(off)] = true;
  }
  return mask;
}

}  // namespace

Tensor strided_vector(mla_dtype dt, int64_t n, int64_t stride) {
  Tensor t(dt, {n, stride});
  t.desc.ndim = 1;
  t.desc.shape[0] = n;
  t.desc.strides[0] = stride;
  return t;
}

bool gaps_poisoned(const Tensor& t) {
  const std::vector<bool> mask = logical_mask(t);
  const uint8_t* p = t.bytes.data();
  for (size_t e = 0; e < mask.size(); ++e) {
    if (mask[e]) continue;
    for (int b = 0; b < t.elem; ++b)
      if (p[e * size_t(t.elem) + size_t(b)] != ((b % 2 == 0) ? 0xC1 : 0x7F)) return false;
  }
  return true;
}

bool unchanged(const Bytes& before, const Bytes& after) {
  return before.size() == after.size() &&
         std::memcmp(before.data(), after.data(), before.size()) == 0;
}

// ---- caches ----

Cache::Cache(int format_, bool fnuz_, int64_t page_size_, int64_t num_pages_, int64_t extra_stride)
    : format(format_), fnuz(fnuz_), page_size(page_size_), num_pages(num_pages_) {
  int64_t page_bytes;
  if (format == MLA_KV_FORMAT_V32) {
    page_bytes = page_size * 656;
  } else {
    page_bytes = (page_size * 584 + 575) / 576 * 576;
  }
  page_stride = page_bytes + extra_stride;
  bytes.resize(size_t(page_stride * num_pages), 0xFF);  // NaN everywhere (fn codes, fp32, bf16)
  if (fnuz) {
    // 0xFF is a finite fnuz code; the fnuz NaN is 0x80.
    for (int64_t s = 0; s < slots(); ++s) {
      const int n = format == MLA_KV_FORMAT_V32 ? 512 : 448;
      std::memset(bytes.data() + nope_offset(s), 0x80, size_t(n));
    }
  }
  std::memset(&desc, 0, sizeof(desc));
  desc.data = bytes.data();
  desc.format = format;
  desc.fp8 = fnuz ? MLA_FP8_E4M3FNUZ : MLA_FP8_E4M3FN;
  desc.page_size = page_size;
  desc.num_pages = num_pages;
  desc.page_stride_bytes = extra_stride == 0 ? 0 : page_stride;
}

int64_t Cache::nope_offset(int64_t slot) const {
  const int64_t page = slot / page_size, t = slot % page_size;
  return page * page_stride + t * (format == MLA_KV_FORMAT_V32 ? 656 : 576);
}

int64_t Cache::scale_offset(int64_t slot) const {
  const int64_t page = slot / page_size, t = slot % page_size;
  if (format == MLA_KV_FORMAT_V32) return nope_offset(slot) + 512;
  return page * page_stride + page_size * 576 + t * 8;
}

int64_t Cache::rope_offset(int64_t slot) const {
  return nope_offset(slot) + (format == MLA_KV_FORMAT_V32 ? 528 : 448);
}

static double amax_of(const uint16_t* x, int n) {
  double a = 0;
  for (int i = 0; i < n; ++i) a = std::max(a, std::fabs(bf16_value(x[i])));
  return a;
}

void quantize_v32(const uint16_t* row, bool fnuz, uint8_t nope[512], float scales[4]) {
  const double m = fnuz ? 224.0 : 448.0;
  for (int t = 0; t < 4; ++t) {
    const double amax = amax_of(row + 128 * t, 128);
    const float s = std::max(fp32_round(amax / m), fp32_round(double(1e-4f) / m));
    scales[t] = s;
    for (int i = 0; i < 128; ++i) {
      const double y = fp32_round(bf16_value(row[128 * t + i]) / double(s));
      nope[128 * t + i] = fp8_encode(std::min(std::max(y, -m), m), fnuz);
    }
  }
}

void quantize_v40(const uint16_t* row, bool fnuz, uint8_t nope[448], uint8_t scales[7]) {
  const double m = fnuz ? 224.0 : 448.0;
  for (int t = 0; t < 7; ++t) {
    const double amax = std::max(amax_of(row + 64 * t, 64), double(1e-4f));
    const double ratio = double(fp32_round(amax / m));
    int ex;
    const double frac = std::frexp(ratio, &ex);  // ratio = frac * 2^ex, frac in [0.5, 1)
    const int e = frac == 0.5 ? ex - 1 : ex;     // ceil(log2(ratio))
    scales[t] = uint8_t(e + 127);
    for (int i = 0; i < 64; ++i) {
      const double y = std::ldexp(bf16_value(row[64 * t + i]), -e);
      nope[64 * t + i] = fp8_encode(std::min(std::max(y, -m), m), fnuz);
    }
  }
}

void Cache::put(int64_t slot, const uint16_t* row) {
  uint8_t* base = bytes.data();
  if (format == MLA_KV_FORMAT_V32) {
    float scales[4];
    quantize_v32(row, fnuz, base + nope_offset(slot), scales);
    std::memcpy(base + scale_offset(slot), scales, 16);
    std::memcpy(base + rope_offset(slot), row + 512, 128);
  } else {
    uint8_t scales[8] = {0};
    quantize_v40(row, fnuz, base + nope_offset(slot), scales);
    std::memcpy(base + scale_offset(slot), scales, 8);
    std::memcpy(base + rope_offset(slot), row + 448, 128);
  }
}

std::vector<double> Cache::get(int64_t slot) const {
  const uint8_t* base = bytes.data();
  std::vector<double> r(static_cast<size_t>(row_dim()));
  const uint8_t* nope = base + nope_offset(slot);
  const uint16_t* rope = reinterpret_cast<const uint16_t*>(base + rope_offset(slot));
  if (format == MLA_KV_FORMAT_V32) {
    float scales[4];
    std::memcpy(scales, base + scale_offset(slot), 16);
    for (int i = 0; i < 512; ++i)
      r[size_t(i)] = bf16_value(bf16_round(fp8_value(nope[i], fnuz) * double(scales[i / 128])));
    for (int i = 0; i < 64; ++i) r[size_t(512 + i)] = bf16_value(rope[i]);
  } else {
    const uint8_t* scales = base + scale_offset(slot);
    for (int i = 0; i < 448; ++i)
      r[size_t(i)] = bf16_value(bf16_round(fp8_value(nope[i], fnuz) * ue8m0_value(scales[i / 64])));
    for (int i = 0; i < 64; ++i) r[size_t(448 + i)] = bf16_value(rope[i]);
  }
  return r;
}

// ---- attention ----

AttnRowResult attention_row(const std::vector<const std::vector<double>*>& keys,
                            const std::vector<double>& q, double scale, double sink) {
  AttnRowResult res;
  res.out.assign(512, 0.0);
  if (keys.empty()) return res;  // out 0, lse +inf, max -inf
  std::vector<double> s(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) {
    double dot = 0;
    for (size_t c = 0; c < q.size(); ++c) dot += q[c] * (*keys[j])[c];
    s[j] = dot * scale;
    res.max_logit = std::max(res.max_logit, s[j]);
  }
  double sum = 0;
  for (double v : s) sum += std::exp(v - res.max_logit);
  res.lse = res.max_logit + std::log(sum);
  for (size_t j = 0; j < keys.size(); ++j) {
    const double p = std::exp(s[j] - res.lse);
    for (size_t c = 0; c < 512; ++c) res.out[c] += p * (*keys[j])[c];
  }
  if (!std::isnan(sink)) {
    const double f = 1.0 / (1.0 + std::exp(sink - res.lse));
    for (double& v : res.out) v *= f;
  }
  return res;
}

// ---- tolerances ----

bool Checker::add(double a, double r) {
  ++n_;
  bool good;
  if (!std::isfinite(a) || !std::isfinite(r)) {
    good = (std::isnan(a) && std::isnan(r)) || a == r;
  } else {
    const double d = std::fabs(a - r);
    good = d <= tol_.abs || d <= tol_.rel * std::fabs(r);
    max_abs_ = std::max(max_abs_, d);
    dot_ += a * r;
    sq_ += a * a + r * r;
  }
  if (!good) ++bad_;
  return good;
}

::testing::AssertionResult Checker::result() const {
  const double cos_err = sq_ > 0 ? 1.0 - 2.0 * dot_ / sq_ : 0.0;
  if (bad_ > 0)
    return ::testing::AssertionFailure() << what_ << ": " << bad_ << " of " << n_
                                         << " elements beyond tolerance; first " << first_bad_;
  if (tol_.cos >= 0 && cos_err > tol_.cos)
    return ::testing::AssertionFailure() << what_ << ": cosine error " << cos_err << " > "
                                         << tol_.cos;
  return ::testing::AssertionSuccess() << what_ << ": " << n_ << " elements, max abs "
                                       << max_abs_ << ", cos err " << cos_err;
}

}  // namespace mlatest
