#include "fused_cases.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mlatest {
namespace {

constexpr uint16_t kBf16NaN = 0x7FC0;

View poisoned(mla_dtype dt, std::vector<int64_t> shape, Layout layout) {
  View v(dt, std::move(shape), layout);
  v.poison();
  return v;
}

::testing::AssertionResult gaps_poisoned_view(const char* what, const View& v) {
  View before = v;
  before.poison();
  if (auto r = gaps_unchanged(before, v); !r)
    return ::testing::AssertionFailure() << what << ": " << r.message();
  return ::testing::AssertionSuccess();
}

// [n, (h,) d] shapes: h = 0 drops the head dim.
std::vector<int64_t> rows_shape(int64_t n, int64_t h, int64_t d) {
  return h == 0 ? std::vector<int64_t>{n, d} : std::vector<int64_t>{n, h, d};
}

}  // namespace

// ---- concat ----

std::string ConcatSpec::name() const {
  std::ostringstream s;
  s << (absorb_q ? "absorb_q" : "mla_k") << "_n" << n << "_h" << (two_d ? 0 : h) << "_"
    << layout_name(layout);
  return s.str();
}

std::unique_ptr<ConcatCase> make_concat_case(const ConcatSpec& sp, Rng& rng) {
  auto c = std::make_unique<ConcatCase>();
  c->spec = sp;
  const int64_t h = sp.two_d ? 0 : sp.h;
  if (sp.absorb_q) {
    c->a = View(dt_bf16(), rows_shape(sp.n, h, 512), sp.layout);
    c->b = View(dt_bf16(), rows_shape(sp.n, h, 64), sp.layout);
    c->out = poisoned(dt_bf16(), rows_shape(sp.n, h, 576), sp.layout);
  } else {
    c->a = View(dt_bf16(), {sp.n, sp.h, 128}, sp.layout);
    c->b = View(dt_bf16(), {sp.n, 1, 64}, sp.layout);
    c->out = poisoned(dt_bf16(), {sp.n, sp.h, 192}, sp.layout);
  }
  // Every bit pattern, NaNs and infinities included: the copy must not touch a bit.
  for (View* v : {&c->a, &c->b}) {
    v->poison();
    for (int64_t e = 0; e < v->numel(); ++e) v->flat<uint16_t>(e) = uint16_t(rng.integer(0, 65535));
  }
  return c;
}

mla_status ConcatCase::run(mla_context ctx, const mla_tensor* a_, const mla_tensor* b_,
                           const mla_tensor* out_) const {
  if (spec.absorb_q) {
    const mla_concat_mla_absorb_q_args args{a_, b_, out_};
    return mla_concat_mla_absorb_q(ctx, &args, nullptr);
  }
  const mla_concat_mla_k_args args{a_, b_, out_};
  return mla_concat_mla_k(ctx, &args, nullptr);
}

::testing::AssertionResult ConcatCase::check(const View& got) const {
  const int64_t heads = spec.absorb_q && spec.two_d ? 1 : spec.h;
  const int64_t d_a = spec.absorb_q ? 512 : 128, d_b = 64;
  for (int64_t n = 0; n < spec.n; ++n)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < d_a + d_b; ++i) {
        const int64_t row = n * heads + h;
        const int64_t b_row = spec.absorb_q ? row : n;  // k_rope is shared by the heads
        const uint16_t want =
            i < d_a ? a.flat<uint16_t>(row * d_a + i) : b.flat<uint16_t>(b_row * d_b + (i - d_a));
        const uint16_t have = got.flat<uint16_t>(row * (d_a + d_b) + i);
        if (have != want)
          return ::testing::AssertionFailure() << "out[" << n << "," << h << "," << i << "] = 0x"
                                               << std::hex << have << ", expected 0x" << want;
      }
  return gaps_poisoned_view("out", got);
}

std::vector<ConcatSpec> concat_sweep() {
  std::vector<ConcatSpec> out;
  for (Layout l : {Layout::Contiguous, Layout::Padded, Layout::OddStrides, Layout::ShiftedBase})
    for (bool absorb : {false, true}) {
      ConcatSpec s;
      s.absorb_q = absorb;
      s.layout = l;
      s.n = 37;
      s.h = absorb ? 16 : (l == Layout::Contiguous ? 128 : 8);
      out.push_back(s);
    }
  ConcatSpec s;
  s.absorb_q = true;
  s.two_d = true;
  s.n = 300;
  out.push_back(s);
  s.layout = Layout::OddStrides;
  out.push_back(s);
  return out;
}

// ---- merge_state ----

std::string MergeSpec::name() const {
  std::ostringstream s;
  s << "n" << n << "_h" << h << "_d" << d << "_" << layout_name(layout);
  if (!lse_out) s << "_nolse";
  if (transposed_lse) s << "_lseHN";
  return s.str();
}

mla_merge_state_args MergeCase::args() {
  mla_merge_state_args a;
  a.v_a = v_a.ptr();
  a.lse_a = lse_a.ptr();
  a.v_b = v_b.ptr();
  a.lse_b = lse_b.ptr();
  a.v_out = v_out.ptr();
  a.lse_out = spec.lse_out ? lse_out.ptr() : nullptr;
  return a;
}

std::unique_ptr<MergeCase> make_merge_case(const MergeSpec& sp, Rng& rng) {
  auto c = std::make_unique<MergeCase>();
  c->spec = sp;
  auto lse_view = [&] {
    View v = sp.transposed_lse ? View(dt_f32(), {sp.h, sp.n}, sp.layout).transposed()
                               : View(dt_f32(), {sp.n, sp.h}, sp.layout);
    v.poison();
    return v;
  };
  c->v_a = poisoned(dt_bf16(), {sp.n, sp.h, sp.d}, sp.layout);
  c->v_b = poisoned(dt_bf16(), {sp.n, sp.h, sp.d}, sp.layout);
  c->v_out = poisoned(dt_bf16(), {sp.n, sp.h, sp.d}, sp.layout);
  c->lse_a = lse_view();
  c->lse_b = lse_view();
  c->lse_out = lse_view();
  c->want_v.assign(size_t(sp.n * sp.h * sp.d), 0.0);
  c->want_lse.assign(size_t(sp.n * sp.h), kInf);
  for (int64_t n = 0; n < sp.n; ++n)
    for (int64_t h = 0; h < sp.h; ++h) {
      const int64_t row = n * sp.h + h;
      double la = 3 * rng.normal(), lb = 3 * rng.normal();
      switch (row % 10) {  // the empty-state cases of SPEC 7, each in every run
        case 0:
          la = kInf;
          break;
        case 1:
          lb = kInf;
          break;
        case 2:
          la = lb = kInf;
          break;
        case 3:
          la = -kInf;
          break;
        case 4:
          la = kNaN, lb = kInf;
          break;
        case 5:
          lb = la - 200;
          break;  // e_b underflows to 0
        default:
          break;
      }
      c->lse_a.at<float>({n, h}) = float(la);
      c->lse_b.at<float>({n, h}) = float(lb);
      const bool has_a = std::isfinite(la), has_b = std::isfinite(lb);
      for (int64_t i = 0; i < sp.d; ++i) {  // an empty side holds NaN: it must not leak
        c->v_a.at<uint16_t>({n, h, i}) = has_a ? bf16_round(rng.normal()) : kBf16NaN;
        c->v_b.at<uint16_t>({n, h, i}) = has_b ? bf16_round(rng.normal()) : kBf16NaN;
      }
      if (!has_a && !has_b) continue;  // v = 0, lse = +inf
      const double fa = double(float(la)), fb = double(float(lb));
      const double m = has_a && has_b ? std::max(fa, fb) : (has_a ? fa : fb);
      const double ea = has_a ? std::exp(fa - m) : 0.0, eb = has_b ? std::exp(fb - m) : 0.0;
      for (int64_t i = 0; i < sp.d; ++i) {
        double v = 0;
        if (has_a) v += bf16_value(c->v_a.at<uint16_t>({n, h, i})) * ea;
        if (has_b) v += bf16_value(c->v_b.at<uint16_t>({n, h, i})) * eb;
        c->want_v[size_t(row * sp.d + i)] = v / (ea + eb);
      }
      c->want_lse[size_t(row)] = std::log(ea + eb) + m;
    }
  return c;
}

::testing::AssertionResult MergeCase::check(const View& vo, const View& lo) const {
  Checker cv("v_out", kFusedBf16), cl("lse_out", kFusedLse);
  for (int64_t n = 0; n < spec.n; ++n)
    for (int64_t h = 0; h < spec.h; ++h) {
      const int64_t row = n * spec.h + h;
      const bool has_a = std::isfinite(lse_a.at<float>({n, h}));
      const bool has_b = std::isfinite(lse_b.at<float>({n, h}));
      for (int64_t i = 0; i < spec.d; ++i) {
        const uint16_t got = vo.at<uint16_t>({n, h, i});
        // Exact where one side (or none) carries the state: a copy, or zeros.
        if (!has_a || !has_b) {
          const uint16_t want = !has_a && !has_b ? 0
                                : has_a          ? v_a.at<uint16_t>({n, h, i})
                                                 : v_b.at<uint16_t>({n, h, i});
          if (got != want)
            return ::testing::AssertionFailure()
                   << "v_out[" << n << "," << h << "," << i << "] = 0x" << std::hex << got
                   << ", expected 0x" << want << " (one or both sides empty)";
          continue;
        }
        cv.add(bf16_value(got), want_v[size_t(row * spec.d + i)],
               [&] { return "v_out[" + std::to_string(n) + "," + std::to_string(h) + "]"; });
      }
      if (!spec.lse_out) continue;
      const double got = lo.at<float>({n, h});
      if (!has_a || !has_b) {
        const double want = !has_a && !has_b ? kInf
                            : has_a          ? double(lse_a.at<float>({n, h}))
                                             : double(lse_b.at<float>({n, h}));
        if (got != want)
          return ::testing::AssertionFailure()
                 << "lse_out[" << n << "," << h << "] = " << got << ", expected exactly " << want;
        continue;
      }
      cl.add(got, want_lse[size_t(row)],
             [&] { return "lse_out[" + std::to_string(n) + "," + std::to_string(h) + "]"; });
    }
  if (auto r = cv.result(); !r) return r;
  if (auto r = cl.result(); !r) return r;
  if (auto r = gaps_poisoned_view("v_out", vo); !r) return r;
  if (spec.lse_out) return gaps_poisoned_view("lse_out", lo);
  View p = lo;
  p.poison();
  if (!unchanged(p.bytes, lo.bytes)) return ::testing::AssertionFailure() << "lse_out written";
  return ::testing::AssertionSuccess();
}

std::vector<MergeSpec> merge_sweep() {
  std::vector<MergeSpec> out;
  for (Layout l : {Layout::Contiguous, Layout::Padded, Layout::OddStrides, Layout::ShiftedBase}) {
    MergeSpec s;
    s.layout = l;
    out.push_back(s);
  }
  MergeSpec s;
  s.transposed_lse = true;
  out.push_back(s);
  s.lse_out = false;
  s.d = 128;
  out.push_back(s);
  s.lse_out = true;
  s.transposed_lse = false;
  s.d = 100;  // not a multiple of 8: never 16-byte chunks
  s.n = 13;
  out.push_back(s);
  s.d = 3000;  // rows wider than a block
  s.n = 3;
  s.h = 4;
  out.push_back(s);
  return out;
}

// ---- norm_rope ----

std::string NormRopeSpec::name() const {
  std::ostringstream s;
  s << "n" << n << "_h" << h << "_d" << d << "_" << layout_name(layout)
    << (normalize ? "_norm" : "_nonorm")
    << (weight == 1   ? "_wbf16"
        : weight == 2 ? "_wf32"
                      : "")
    << (inverse ? "_inverse" : "") << (in_place ? "_inplace" : "") << (pos64 ? "_pos64" : "")
    << (table_layout == MLA_ROPE_TABLE_HALVES ? "_halves" : "_interleaved");
  return s.str();
}

mla_norm_rope_args NormRopeCase::args() {
  mla_norm_rope_args a;
  a.x = x.ptr();
  a.weight = spec.weight ? weight.ptr() : nullptr;
  a.positions = positions.ptr();
  a.cos_sin = table.ptr();
  a.table_layout = spec.table_layout;
  a.normalize = spec.normalize ? 1 : 0;
  a.inverse = spec.inverse ? 1 : 0;
  a.eps = spec.eps;
  a.out = spec.in_place ? x.ptr() : out.ptr();
  return a;
}

std::unique_ptr<NormRopeCase> make_norm_rope_case(const NormRopeSpec& sp, Rng& rng) {
  auto c = std::make_unique<NormRopeCase>();
  c->spec = sp;
  const int64_t heads = sp.h == 0 ? 1 : sp.h;
  c->x = poisoned(dt_bf16(), rows_shape(sp.n, sp.h, sp.d), sp.layout);
  c->out = poisoned(dt_bf16(), rows_shape(sp.n, sp.h, sp.d), sp.layout);
  c->weight = poisoned(sp.weight == 2 ? dt_f32() : dt_bf16(), {sp.d}, sp.layout);
  c->positions = poisoned(sp.pos64 ? dt_i64() : dt_i32(), {sp.n}, sp.layout);
  c->table = poisoned(dt_f32(), {sp.max_pos, 64}, sp.layout);

  std::vector<double> w(size_t(sp.d), 1.0);
  for (int64_t i = 0; i < sp.d && sp.weight; ++i) {
    const double v = 1.0 + 0.1 * rng.normal();
    if (sp.weight == 1) {
      c->weight.at<uint16_t>({i}) = bf16_round(v);
      w[size_t(i)] = bf16_value(c->weight.at<uint16_t>({i}));
    } else {
      c->weight.at<float>({i}) = float(v);
      w[size_t(i)] = double(float(v));
    }
  }
  for (int64_t p = 0; p < sp.max_pos; ++p)
    for (int i = 0; i < 32; ++i) {
      const double theta = double(p) * std::pow(10000.0, -2.0 * i / 64.0);
      const bool halves = sp.table_layout == MLA_ROPE_TABLE_HALVES;
      c->table.at<float>({p, halves ? i : 2 * i}) = float(std::cos(theta));
      c->table.at<float>({p, halves ? 32 + i : 2 * i + 1}) = float(std::sin(theta));
    }
  std::vector<int64_t> pos(static_cast<size_t>(sp.n));
  for (int64_t n = 0; n < sp.n; ++n) {
    int64_t p = rng.integer(0, sp.max_pos - 1);
    if (n % 7 == 3) p = -1;  // outside the table: no rotation
    if (n % 11 == 5) p = sp.max_pos;
    if (sp.pos64 && n % 13 == 6) p = int64_t(1) << 40;
    pos[size_t(n)] = p;
    if (sp.pos64)
      c->positions.at<int64_t>({n}) = p;
    else
      c->positions.at<int32_t>({n}) = int32_t(p);
  }

  c->want.assign(size_t(sp.n * heads * sp.d), 0.0);
  std::vector<double> y(static_cast<size_t>(sp.d));
  for (int64_t n = 0; n < sp.n; ++n)
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t row = n * heads + h;
      const double scale = std::exp(rng.uniform(-3, 3));  // rows of very different sizes
      double sum_sq = 0;
      for (int64_t i = 0; i < sp.d; ++i) {
        const uint16_t b = bf16_round(scale * rng.normal());
        c->x.flat<uint16_t>(row * sp.d + i) = b;
        y[size_t(i)] = bf16_value(b);
        sum_sq += y[size_t(i)] * y[size_t(i)];
      }
      if (sp.normalize) {
        const double ms = sum_sq / double(sp.d) + double(sp.eps);
        const double r = ms > 0 ? 1.0 / std::sqrt(ms) : 0.0;
        for (int64_t i = 0; i < sp.d; ++i) y[size_t(i)] *= r * w[size_t(i)];
      }
      const int64_t p = pos[size_t(n)];
      if (p >= 0 && p < sp.max_pos)
        for (int i = 0; i < 32; ++i) {
          const bool halves = sp.table_layout == MLA_ROPE_TABLE_HALVES;
          const double cs = c->table.at<float>({p, halves ? i : 2 * i});
          const double sn = c->table.at<float>({p, halves ? 32 + i : 2 * i + 1});
          double& a = y[size_t(sp.d - 64 + 2 * i)];
          double& b = y[size_t(sp.d - 64 + 2 * i + 1)];
          const double a0 = a, b0 = b;
          a = sp.inverse ? a0 * cs + b0 * sn : a0 * cs - b0 * sn;
          b = sp.inverse ? b0 * cs - a0 * sn : a0 * sn + b0 * cs;
        }
      for (int64_t i = 0; i < sp.d; ++i) c->want[size_t(row * sp.d + i)] = y[size_t(i)];
    }
  return c;
}

::testing::AssertionResult NormRopeCase::check(const View& got) const {
  Checker ch("norm_rope out", kFusedBf16);
  for (int64_t e = 0; e < int64_t(want.size()); ++e)
    ch.add(bf16_value(got.flat<uint16_t>(e)), want[size_t(e)], [&] {
      return "row " + std::to_string(e / spec.d) + " col " + std::to_string(e % spec.d);
    });
  if (auto r = ch.result(); !r) return r;
  return gaps_poisoned_view("out", got);
}

std::vector<NormRopeSpec> norm_rope_sweep() {
  std::vector<NormRopeSpec> out;
  for (Layout l : {Layout::Contiguous, Layout::Padded, Layout::OddStrides, Layout::ShiftedBase})
    for (int w : {0, 1, 2}) {
      NormRopeSpec s;
      s.layout = l;
      s.weight = w;
      s.table_layout = w == 2 ? MLA_ROPE_TABLE_INTERLEAVED : MLA_ROPE_TABLE_HALVES;
      s.pos64 = w == 1;
      out.push_back(s);
    }
  NormRopeSpec s;
  s.normalize = false;  // the inverse rotation of the attention output
  s.inverse = true;
  out.push_back(s);
  s.table_layout = MLA_ROPE_TABLE_INTERLEAVED;
  s.in_place = true;
  s.layout = Layout::Padded;
  out.push_back(s);
  s.normalize = true;
  s.inverse = false;
  s.weight = 1;
  s.h = 0;  // [N, D]
  s.n = 40;
  out.push_back(s);
  s.layout = Layout::OddStrides;
  out.push_back(s);
  s.h = 2;
  s.d = 2048 + 64;  // wider than the registers a lane keeps, in place
  s.n = 5;
  out.push_back(s);
  s.in_place = false;
  s.d = 64 + 6;  // rope only, not a multiple of 8
  s.layout = Layout::Contiguous;
  out.push_back(s);
  s.d = 64;
  s.eps = 0.0f;
  out.push_back(s);
  return out;
}

}  // namespace mlatest
