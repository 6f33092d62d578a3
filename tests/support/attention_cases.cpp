#include "attention_cases.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace mlatest {
namespace {

uint16_t random_key_value(Rng& rng) {
  return bf16_round(rng.normal() / 10.0);
}
uint16_t random_query_value(Rng& rng) {
  return bf16_round(std::min(1.0, std::max(-1.0, rng.normal())));
}

// An index into [0, slots) most of the time; otherwise -1, another negative value, or a value
// at or beyond `slots`.
int32_t random_index(Rng& rng, int64_t slots, double invalid_rate) {
  if (rng.chance(invalid_rate)) {
    switch (rng.integer(0, 3)) {
      case 0:
        return -1;
      case 1:
        return int32_t(rng.integer(INT32_MIN, -2));
      case 2:
        return int32_t(slots);
      default:
        return int32_t(rng.integer(slots, INT32_MAX));
    }
  }
  return int32_t(rng.integer(0, slots - 1));
}

double sink_value(Rng& rng) {
  const double u = rng.uniform(0, 1);
  if (u < 0.15) return kInf;
  if (u < 0.3) return -kInf;
  return 2.0 * rng.normal();
}

Tensor lengths_tensor(Rng& rng, int64_t n, int64_t max, bool strided) {
  Tensor t = strided ? strided_vector(dt_i32(), n, 3) : Tensor(dt_i32(), {n});
  for (int64_t i = 0; i < n; ++i) {
    int64_t l = rng.integer(0, max);
    if (i == 0) l = max;  // one full row
    if (i == 1) l = 0;    // one empty row
    t.at<int32_t>({i}) = int32_t(l);
  }
  return t;
}

}  // namespace

// ---- decode ----

std::string DecodeSpec::name() const {
  std::ostringstream s;
  s << (format == MLA_KV_FORMAT_V32 ? "V32" : "V40") << (fnuz ? "_fnuz" : "_fn") << "_b" << b
    << "_sq" << s_q << "_h" << h_q << "_topk" << topk << "_P" << page_size;
  if (extra) s << "_extra" << extra_topk << "P" << extra_page_size;
  if (sink) s << "_sink";
  if (lengths) s << "_len";
  if (strided) s << "_strided";
  if (default_scale) s << "_defscale";
  if (empty_row) s << "_emptyrow";
  return s.str();
}

mla_sparse_decode_args DecodeCase::args() {
  mla_sparse_decode_args a;
  std::memset(&a, 0, sizeof(a));
  a.q = q.ptr();
  a.kv = &kv->desc;
  a.indices = idx.ptr();
  a.topk_length = spec.lengths ? len.ptr() : nullptr;
  if (spec.extra) {
    a.extra_kv = &extra_kv->desc;
    a.extra_indices = eidx.ptr();
    a.extra_topk_length = spec.lengths ? elen.ptr() : nullptr;
  }
  a.attn_sink = spec.sink ? sink.ptr() : nullptr;
  a.softmax_scale = spec.default_scale ? 0.0f : scale;
  a.out = out.ptr();
  a.lse = lse.ptr();
  return a;
}

std::unique_ptr<DecodeCase> make_decode_case(const DecodeSpec& sp, Rng& rng) {
  auto c = std::make_unique<DecodeCase>();
  c->spec = sp;
  const int64_t d = sp.format == MLA_KV_FORMAT_V32 ? 576 : 512;
  const int64_t pad = sp.strided ? 1 : 0;
  // Caches hold a bit more than the keys need, so that unused (NaN) slots are everywhere.
  auto make_cache = [&](int64_t topk, int64_t page) {
    const int64_t pages = std::max<int64_t>(1, (topk * 3 / 2 + 8 + page - 1) / page);
    return std::make_unique<Cache>(sp.format, sp.fnuz, page, pages, sp.strided ? 64 : 0);
  };
  c->kv = make_cache(sp.topk, sp.page_size);
  if (sp.extra) c->extra_kv = make_cache(sp.extra_topk, sp.extra_page_size);

  c->q = Tensor(dt_bf16(), {sp.b, sp.s_q, sp.h_q, d}, {0, pad, 5 * pad, 8 * pad});
  for (int64_t i = 0; i < sp.b; ++i)
    for (int64_t s = 0; s < sp.s_q; ++s)
      for (int64_t h = 0; h < sp.h_q; ++h)
        for (int64_t x = 0; x < d; ++x) c->q.at<uint16_t>({i, s, h, x}) = random_query_value(rng);

  auto make_indices = [&](int64_t topk, int64_t slots) {
    Tensor t(dt_i32(), {sp.b, sp.s_q, topk}, {pad, 2 * pad, 3 * pad});
    for (int64_t i = 0; i < sp.b; ++i)
      for (int64_t s = 0; s < sp.s_q; ++s)
        for (int64_t j = 0; j < topk; ++j) {
          const bool empty = sp.empty_row && i == 0 && s == 0;
          t.at<int32_t>({i, s, j}) =
              empty ? (j % 2 ? -1 : int32_t(slots + j)) : random_index(rng, slots, sp.invalid_rate);
        }
    return t;
  };
  c->idx = make_indices(sp.topk, c->kv->slots());
  if (sp.extra) c->eidx = make_indices(sp.extra_topk, c->extra_kv->slots());
  if (sp.lengths) {
    c->len = lengths_tensor(rng, sp.b, sp.topk, sp.strided);
    if (sp.extra) c->elen = lengths_tensor(rng, sp.b, sp.extra_topk, sp.strided);
    for (size_t i = 0; i < sp.fixed_len.size(); ++i)
      c->len.at<int32_t>({int64_t(i)}) = sp.fixed_len[i];
    for (size_t i = 0; i < sp.fixed_extra_len.size(); ++i)
      c->elen.at<int32_t>({int64_t(i)}) = sp.fixed_extra_len[i];
  }
  if (sp.sink) {
    c->sink = sp.strided ? strided_vector(dt_f32(), sp.h_q, 2) : Tensor(dt_f32(), {sp.h_q});
    for (int64_t h = 0; h < sp.h_q; ++h) c->sink.at<float>({h}) = float(sink_value(rng));
  }
  c->scale = sp.format == MLA_KV_FORMAT_V32 ? 0.13523f : float(1.0 / std::sqrt(512.0));
  const double scale = sp.default_scale ? 1.0 / std::sqrt(double(d)) : double(c->scale);
  c->out = Tensor(dt_bf16(), {sp.b, sp.s_q, sp.h_q, 512}, {0, pad, 3 * pad, 16 * pad});
  c->lse = Tensor(dt_f32(), {sp.b, sp.h_q, sp.s_q}, {0, pad, 2 * pad});
  poison(c->out);
  poison(c->lse);

  // Fill the referenced slots with quantized random rows, and keep their dequantized values.
  std::map<int64_t, std::vector<double>> rows[2];
  auto key_list = [&](int64_t i, int64_t s) {
    std::vector<const std::vector<double>*> keys;
    for (int which = 0; which < (sp.extra ? 2 : 1); ++which) {
      Cache& cache = which == 0 ? *c->kv : *c->extra_kv;
      const Tensor& idx = which == 0 ? c->idx : c->eidx;
      const Tensor& len = which == 0 ? c->len : c->elen;
      const int64_t topk = which == 0 ? sp.topk : sp.extra_topk;
      const int64_t n =
          sp.lengths ? std::max<int64_t>(0, std::min<int64_t>(topk, len.at<int32_t>({i}))) : topk;
      for (int64_t j = 0; j < n; ++j) {
        const int64_t slot = idx.at<int32_t>({i, s, j});
        if (slot < 0 || slot >= cache.slots()) continue;
        auto it = rows[which].find(slot);
        if (it == rows[which].end()) {
          std::vector<uint16_t> row(static_cast<size_t>(d));
          for (auto& v : row) v = random_key_value(rng);
          cache.put(slot, row.data());
          it = rows[which].emplace(slot, cache.get(slot)).first;
        }
        keys.push_back(&it->second);
      }
    }
    return keys;
  };
  std::vector<std::vector<const std::vector<double>*>> all_keys;
  for (int64_t i = 0; i < sp.b; ++i)
    for (int64_t s = 0; s < sp.s_q; ++s) all_keys.push_back(key_list(i, s));
  for (int64_t i = 0; i < sp.b; ++i)
    for (int64_t s = 0; s < sp.s_q; ++s)
      for (int64_t h = 0; h < sp.h_q; ++h) {
        std::vector<double> q(static_cast<size_t>(d));
        for (int64_t x = 0; x < d; ++x) q[size_t(x)] = bf16_value(c->q.at<uint16_t>({i, s, h, x}));
        const double sink = sp.sink ? double(c->sink.at<float>({h})) : kNaN;
        c->ref.push_back(attention_row(all_keys[size_t(i * sp.s_q + s)], q, scale, sink));
      }
  return c;
}

::testing::AssertionResult check_decode(const DecodeCase& c, const Tensor& out, const Tensor& lse) {
  const DecodeSpec& sp = c.spec;
  Checker co("out", kDecodeOut), cl("lse", kDecodeLse);
  for (int64_t i = 0; i < sp.b; ++i)
    for (int64_t s = 0; s < sp.s_q; ++s)
      for (int64_t h = 0; h < sp.h_q; ++h) {
        const AttnRowResult& r = c.expect(i, s, h);
        auto where = [&] {
          return "[" + std::to_string(i) + "," + std::to_string(s) + "," + std::to_string(h) + "]";
        };
        for (int64_t x = 0; x < 512; ++x)
          co.add(bf16_value(out.at<uint16_t>({i, s, h, x})), r.out[size_t(x)],
                 [&] { return where() + "[" + std::to_string(x) + "]"; });
        cl.add(double(lse.at<float>({i, h, s})), r.lse, where);
      }
  if (!co.result()) return co.result();
  if (!cl.result()) return cl.result();
  if (!gaps_poisoned(out)) return ::testing::AssertionFailure() << "out: a gap was written";
  if (!gaps_poisoned(lse)) return ::testing::AssertionFailure() << "lse: a gap was written";
  return ::testing::AssertionSuccess();
}

// ---- prefill ----

namespace {

// The float64 results of every head of prefill row t ([t][h][d] of q) over `keys`.
void append_prefill_refs(const Tensor& q_t, int64_t t, const Tensor* sink,
                         const std::vector<const std::vector<double>*>& keys, double scale,
                         std::vector<AttnRowResult>* ref) {
  const int64_t h_q = q_t.desc.shape[1], d = q_t.desc.shape[2];
  for (int64_t h = 0; h < h_q; ++h) {
    std::vector<double> q(static_cast<size_t>(d));
    for (int64_t x = 0; x < d; ++x) q[size_t(x)] = bf16_value(q_t.at<uint16_t>({t, h, x}));
    const double s = sink != nullptr ? double(sink->at<float>({h})) : kNaN;
    ref->push_back(attention_row(keys, q, scale, s));
  }
}

}  // namespace

std::string PrefillSpec::name() const {
  std::ostringstream s;
  s << "sq" << s_q << "_h" << h_q << "_d" << d_qk << "_skv" << s_kv << "_topk" << topk;
  if (sink) s << "_sink";
  if (lengths) s << "_len";
  if (strided) s << "_strided";
  if (default_scale) s << "_defscale";
  if (empty_row) s << "_emptyrow";
  return s.str();
}

mla_sparse_prefill_args PrefillCase::args() {
  mla_sparse_prefill_args a;
  std::memset(&a, 0, sizeof(a));
  a.q = q.ptr();
  a.kv = kv.ptr();
  a.indices = idx.ptr();
  a.topk_length = spec.lengths ? len.ptr() : nullptr;
  a.attn_sink = spec.sink ? sink.ptr() : nullptr;
  a.softmax_scale = spec.default_scale ? 0.0f : scale;
  a.out = out.ptr();
  a.max_logits = max_logits.ptr();
  a.lse = lse.ptr();
  return a;
}

std::unique_ptr<PrefillCase> make_prefill_case(const PrefillSpec& sp, Rng& rng) {
  auto c = std::make_unique<PrefillCase>();
  c->spec = sp;
  const int64_t d = sp.d_qk, pad = sp.strided ? 1 : 0;
  c->q = Tensor(dt_bf16(), {sp.s_q, sp.h_q, d}, {pad, 3 * pad, 8 * pad});
  for (int64_t t = 0; t < sp.s_q; ++t)
    for (int64_t h = 0; h < sp.h_q; ++h)
      for (int64_t x = 0; x < d; ++x) c->q.at<uint16_t>({t, h, x}) = random_query_value(rng);
  c->kv = Tensor(dt_bf16(), {sp.s_kv, 1, d}, {0, 0, 8 * pad});
  c->kv.fill_bytes(0xFF);  // NaN in every row no index reaches
  c->idx = Tensor(dt_i32(), {sp.s_q, 1, sp.topk}, {pad, 0, 5 * pad});
  for (int64_t t = 0; t < sp.s_q; ++t)
    for (int64_t j = 0; j < sp.topk; ++j)
      c->idx.at<int32_t>({t, 0, j}) =
          (sp.empty_row && t == 0) ? -1 : random_index(rng, sp.s_kv, sp.invalid_rate);
  if (sp.lengths) c->len = lengths_tensor(rng, sp.s_q, sp.topk, sp.strided);
  if (sp.sink) {
    c->sink = sp.strided ? strided_vector(dt_f32(), sp.h_q, 2) : Tensor(dt_f32(), {sp.h_q});
    for (int64_t h = 0; h < sp.h_q; ++h) c->sink.at<float>({h}) = float(sink_value(rng));
  }
  c->scale = d == 576 ? 0.13523f : float(1.0 / std::sqrt(512.0));
  const double scale = sp.default_scale ? 1.0 / std::sqrt(double(d)) : double(c->scale);
  c->out = Tensor(dt_bf16(), {sp.s_q, sp.h_q, 512}, {pad, 3 * pad, 16 * pad});
  c->max_logits = Tensor(dt_f32(), {sp.s_q, sp.h_q}, {pad, 2 * pad});
  c->lse = Tensor(dt_f32(), {sp.s_q, sp.h_q}, {pad, 3 * pad});
  poison(c->out);
  poison(c->max_logits);
  poison(c->lse);

  std::map<int64_t, std::vector<double>> rows;
  for (int64_t t = 0; t < sp.s_q; ++t) {
    std::vector<const std::vector<double>*> keys;
    const int64_t n = sp.lengths ? std::min<int64_t>(sp.topk, c->len.at<int32_t>({t})) : sp.topk;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t r = c->idx.at<int32_t>({t, 0, j});
      if (r < 0 || r >= sp.s_kv) continue;
      auto it = rows.find(r);
      if (it == rows.end()) {
        std::vector<double> v(static_cast<size_t>(d));
        for (int64_t x = 0; x < d; ++x) {
          const uint16_t b = random_key_value(rng);
          c->kv.at<uint16_t>({r, 0, x}) = b;
          v[size_t(x)] = bf16_value(b);
        }
        it = rows.emplace(r, std::move(v)).first;
      }
      keys.push_back(&it->second);
    }
    append_prefill_refs(c->q, t, sp.sink ? &c->sink : nullptr, keys, scale, &c->ref);
  }
  return c;
}

namespace {

// out, max_logits and lse of prefill rows [s_q, h_q] against their float64 results, then the
// outputs' gaps.
::testing::AssertionResult check_prefill_rows(int64_t s_q, int64_t h_q,
                                              const std::vector<AttnRowResult>& ref,
                                              const Tensor& out, const Tensor& max_logits,
                                              const Tensor& lse) {
  Checker co("out", kPrefillOut), cm("max_logits", kPrefillStat), cl("lse", kPrefillStat);
  for (int64_t t = 0; t < s_q; ++t)
    for (int64_t h = 0; h < h_q; ++h) {
      const AttnRowResult& r = ref[size_t(t * h_q + h)];
      auto where = [&] { return "[" + std::to_string(t) + "," + std::to_string(h) + "]"; };
      for (int64_t x = 0; x < 512; ++x)
        co.add(bf16_value(out.at<uint16_t>({t, h, x})), r.out[size_t(x)],
               [&] { return where() + "[" + std::to_string(x) + "]"; });
      cm.add(double(max_logits.at<float>({t, h})), r.max_logit, where);
      cl.add(double(lse.at<float>({t, h})), r.lse, where);
    }
  for (const Checker* ch : {&co, &cm, &cl})
    if (!ch->result()) return ch->result();
  if (!gaps_poisoned(out) || !gaps_poisoned(max_logits) || !gaps_poisoned(lse))
    return ::testing::AssertionFailure() << "a gap of an output was written";
  return ::testing::AssertionSuccess();
}

}  // namespace

::testing::AssertionResult check_prefill(const PrefillCase& c, const Tensor& out,
                                         const Tensor& max_logits, const Tensor& lse) {
  return check_prefill_rows(c.spec.s_q, c.spec.h_q, c.ref, out, max_logits, lse);
}

// ---- prefill from a paged cache ----

std::string PagedPrefillSpec::name() const {
  std::ostringstream s;
  s << (format == MLA_KV_FORMAT_V32 ? "V32" : "V40") << (fnuz ? "_fnuz" : "_fn") << "_sq" << s_q
    << "_h" << h_q << "_topk" << topk << "_P" << page_size;
  if (sink) s << "_sink";
  if (lengths) s << "_len";
  if (strided) s << "_strided";
  if (default_scale) s << "_defscale";
  if (flat_indices) s << "_flatidx";
  if (empty_row) s << "_emptyrow";
  return s.str();
}

mla_tensor PagedPrefillCase::indices_3d() const {
  mla_tensor t = idx.desc;
  if (spec.flat_indices) {
    t.ndim = 3;
    t.shape[2] = t.shape[1], t.strides[2] = t.strides[1];
    t.shape[1] = 1, t.strides[1] = t.shape[2];
  }
  return t;
}

mla_sparse_prefill_paged_args PagedPrefillCase::args() {
  mla_sparse_prefill_paged_args a;
  std::memset(&a, 0, sizeof(a));
  a.q = q.ptr();
  a.kv = &kv->desc;
  a.indices = idx.ptr();
  a.topk_length = spec.lengths ? len.ptr() : nullptr;
  a.attn_sink = spec.sink ? sink.ptr() : nullptr;
  a.softmax_scale = spec.default_scale ? 0.0f : scale;
  a.out = out.ptr();
  a.max_logits = max_logits.ptr();
  a.lse = lse.ptr();
  return a;
}

std::unique_ptr<PagedPrefillCase> make_paged_prefill_case(
    const PagedPrefillSpec& sp, Rng& rng, const std::function<void(PagedPrefillCase&)>& edit) {
  auto c = std::make_unique<PagedPrefillCase>();
  c->spec = sp;
  const int64_t d = sp.format == MLA_KV_FORMAT_V32 ? 576 : 512;
  const int64_t pad = sp.strided ? 1 : 0;
  // A bit more than the keys need, so that unused (NaN) slots are everywhere.
  const int64_t pages =
      std::max<int64_t>(1, (sp.topk * 3 / 2 + 8 + sp.page_size - 1) / sp.page_size);
  c->kv = std::make_unique<Cache>(sp.format, sp.fnuz, sp.page_size, pages, sp.strided ? 64 : 0);
  const int64_t slots = c->kv->slots();

  c->q = Tensor(dt_bf16(), {sp.s_q, sp.h_q, d}, {pad, 3 * pad, 8 * pad});
  for (int64_t t = 0; t < sp.s_q; ++t)
    for (int64_t h = 0; h < sp.h_q; ++h)
      for (int64_t x = 0; x < d; ++x) c->q.at<uint16_t>({t, h, x}) = random_query_value(rng);
  c->idx = sp.flat_indices ? Tensor(dt_i32(), {sp.s_q, sp.topk}, {0, 5 * pad})
                           : Tensor(dt_i32(), {sp.s_q, 1, sp.topk}, {pad, 0, 5 * pad});
  for (int64_t t = 0; t < sp.s_q; ++t)
    for (int64_t j = 0; j < sp.topk; ++j) {
      const bool empty = sp.empty_row && t == 0;
      c->index(t, j) =
          empty ? (j % 2 ? -1 : int32_t(slots + j)) : random_index(rng, slots, sp.invalid_rate);
    }
  if (sp.lengths) {
    c->len = lengths_tensor(rng, sp.s_q, sp.topk, sp.strided);
    for (size_t i = 0; i < sp.fixed_len.size(); ++i)
      c->len.at<int32_t>({int64_t(i)}) = sp.fixed_len[i];
  }
  if (sp.sink) {
    c->sink = sp.strided ? strided_vector(dt_f32(), sp.h_q, 2) : Tensor(dt_f32(), {sp.h_q});
    for (int64_t h = 0; h < sp.h_q; ++h) c->sink.at<float>({h}) = float(sink_value(rng));
  }
  c->scale = sp.format == MLA_KV_FORMAT_V32 ? 0.13523f : float(1.0 / std::sqrt(512.0));
  c->out = Tensor(dt_bf16(), {sp.s_q, sp.h_q, 512}, {pad, 3 * pad, 16 * pad});
  c->max_logits = Tensor(dt_f32(), {sp.s_q, sp.h_q}, {pad, 2 * pad});
  c->lse = Tensor(dt_f32(), {sp.s_q, sp.h_q}, {pad, 3 * pad});
  poison(c->out);
  poison(c->max_logits);
  poison(c->lse);
  if (edit) edit(*c);

  // Quantized random rows at the slots the counted indices reach; the reference reads them
  // back dequantized from the cache bytes.
  const double scale = sp.default_scale ? 1.0 / std::sqrt(double(d)) : double(c->scale);
  std::map<int64_t, std::vector<double>> rows;
  for (int64_t t = 0; t < sp.s_q; ++t) {
    std::vector<const std::vector<double>*> keys;
    const int64_t n =
        sp.lengths ? std::max<int64_t>(0, std::min<int64_t>(sp.topk, c->len.at<int32_t>({t})))
                   : sp.topk;
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot = c->index(t, j);
      if (slot < 0 || slot >= slots) continue;
      auto it = rows.find(slot);
      if (it == rows.end()) {
        std::vector<uint16_t> row(static_cast<size_t>(d));
        for (auto& v : row) v = random_key_value(rng);
        c->kv->put(slot, row.data());
        it = rows.emplace(slot, c->kv->get(slot)).first;
      }
      keys.push_back(&it->second);
    }
    append_prefill_refs(c->q, t, sp.sink ? &c->sink : nullptr, keys, scale, &c->ref);
  }
  return c;
}

::testing::AssertionResult check_paged_prefill(const PagedPrefillCase& c, const Tensor& out,
                                               const Tensor& max_logits, const Tensor& lse) {
  return check_prefill_rows(c.spec.s_q, c.spec.h_q, c.ref, out, max_logits, lse);
}

}  // namespace mlatest
