#include "index_builder_cases.h"

#include <algorithm>
#include <numeric>
#include <sstream>

namespace mlatest {
namespace {

std::string join(const std::vector<int32_t>& v) {
  std::ostringstream s;
  for (size_t i = 0; i < v.size(); ++i)
    s << (i ? "x" : "") << (v[i] < 0 ? "m" : "") << std::abs(v[i]);
  return s.str();
}

int32_t as_index32(int64_t v) {
  return v < INT32_MIN || v > INT32_MAX ? -1 : int32_t(v);
}

View poisoned(mla_dtype dt, std::vector<int64_t> shape, Layout layout) {
  View v(dt, std::move(shape), layout);
  v.poison();
  return v;
}

::testing::AssertionResult same_ints(const char* what, const View& got,
                                     const std::vector<int32_t>& want) {
  if (got.numel() != int64_t(want.size()))
    return ::testing::AssertionFailure()
           << what << ": " << got.numel() << " entries, expected " << want.size();
  for (size_t i = 0; i < want.size(); ++i)
    if (got.flat<int32_t>(int64_t(i)) != want[i])
      return ::testing::AssertionFailure()
             << what << "[" << i << "] = " << got.flat<int32_t>(int64_t(i)) << ", expected "
             << want[i];
  View before = got;
  before.poison();
  if (auto r = gaps_unchanged(before, got); !r)
    return ::testing::AssertionFailure() << what << ": " << r.message();
  return ::testing::AssertionSuccess();
}

}  // namespace

std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>> engine_batches() {
  return {{{96, 144}, {3, 2}}, {{7, 300, 1000}, {7, 130, 5}}, {{1}, {1}}};
}

// ---- build_swa_token_ids ----

std::string SwaIdsSpec::name() const {
  std::ostringstream s;
  s << "s" << join(seq) << "_e" << join(extend) << "_W" << window << "_" << layout_name(layout)
    << (wide_map ? "_map64" : "_map32") << "_cap" << (extra_capacity < 0 ? "m" : "")
    << std::abs(extra_capacity);
  if (!optional_outputs) s << "_nooptional";
  if (corrupt) s << "_corrupt";
  return s.str();
}

mla_build_swa_token_ids_args SwaIdsCase::args() {
  mla_build_swa_token_ids_args a;
  std::memset(&a, 0, sizeof(a));
  a.seq_lens = seq_lens.ptr();
  a.extend_seq_lens = extend_lens.ptr();
  a.req_pool_indices = req_pool.ptr();
  a.req_to_token = req_to_token.ptr();
  a.full_to_swa = full_to_swa.ptr();
  a.window = spec.window;
  a.swa_token_ids = ids.ptr();
  a.swa_offsets = offsets.ptr();
  a.swa_first_pos = spec.optional_outputs ? first_pos.ptr() : nullptr;
  a.swa_gather_lens = spec.optional_outputs ? gather_lens.ptr() : nullptr;
  return a;
}

std::unique_ptr<SwaIdsCase> make_swa_ids_case(const SwaIdsSpec& sp, Rng& rng) {
  auto c = std::make_unique<SwaIdsCase>();
  c->spec = sp;
  const int64_t reqs = int64_t(sp.seq.size());
  const int64_t pool_rows = reqs + 3;
  const int32_t longest =
      sp.seq.empty() ? 1 : std::max(1, *std::max_element(sp.seq.begin(), sp.seq.end()));
  const int64_t max_len = sp.corrupt ? std::max(1, longest - 3) : longest + 2;
  const int64_t full_size = pool_rows * max_len;

  std::vector<int32_t> rows(static_cast<size_t>(pool_rows));
  std::iota(rows.begin(), rows.end(), 0);
  std::shuffle(rows.begin(), rows.end(), rng.gen);
  rows.resize(size_t(reqs));
  if (sp.corrupt && reqs >= 1) rows[0] = int32_t(pool_rows + 5);
  if (sp.corrupt && reqs >= 2) rows[1] = -2;

  c->seq_lens = int32_view(sp.seq, sp.layout);
  c->extend_lens = int32_view(sp.extend, sp.layout);
  c->req_pool = int32_view(rows, sp.layout);

  // Distinct, scrambled full-cache ids (a positional identity would hide a wrong row).
  std::vector<int32_t> perm(static_cast<size_t>(full_size));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng.gen);
  c->req_to_token = View(dt_i32(), {pool_rows, max_len}, sp.layout);
  c->req_to_token.poison();
  for (int64_t r = 0; r < pool_rows; ++r)
    for (int64_t p = 0; p < max_len; ++p) {
      int32_t v = perm[size_t(r * max_len + p)];
      if (sp.corrupt && rng.chance(0.05)) v = rng.chance(0.5) ? -3 : int32_t(full_size + 11);
      c->req_to_token.at<int32_t>({r, p}) = v;
    }
  c->full_to_swa = View(sp.wide_map ? dt_i64() : dt_i32(), {full_size}, sp.layout);
  c->full_to_swa.poison();
  std::vector<int64_t> map(static_cast<size_t>(full_size));
  for (int64_t f = 0; f < full_size; ++f) {
    int64_t v = rng.integer(0, (1 << 20) - 1);
    if (rng.chance(0.05)) v = -1;
    if (sp.corrupt && sp.wide_map && rng.chance(0.05))
      v = rng.chance(0.5) ? (int64_t(1) << 33) : -(int64_t(1) << 33);
    map[size_t(f)] = v;
    if (sp.wide_map)
      c->full_to_swa.at<int64_t>({f}) = v;
    else
      c->full_to_swa.at<int32_t>({f}) = int32_t(v);
  }

  // SPEC 5, plainly.
  int64_t total = 0;
  std::vector<int64_t> gather(static_cast<size_t>(reqs)), first(static_cast<size_t>(reqs)),
      off(static_cast<size_t>(reqs));
  for (int64_t r = 0; r < reqs; ++r) {
    const int64_t seq = sp.seq[size_t(r)], ext = sp.extend[size_t(r)];
    gather[size_t(r)] = std::max<int64_t>(0, std::min<int64_t>(seq, ext + sp.window - 1));
    first[size_t(r)] = seq - gather[size_t(r)];
    off[size_t(r)] = total;
    c->want_offsets.push_back(int32_t(total));
    c->want_first.push_back(int32_t(first[size_t(r)]));
    c->want_gather.push_back(int32_t(gather[size_t(r)]));
    total += gather[size_t(r)];
  }
  c->want_offsets.push_back(int32_t(total));
  const int64_t capacity = std::max<int64_t>(0, total + sp.extra_capacity);
  c->want_ids.assign(size_t(capacity), -1);
  for (int64_t r = 0; r < reqs; ++r)
    for (int64_t i = 0; i < gather[size_t(r)]; ++i) {
      const int64_t q = off[size_t(r)] + i;
      if (q >= capacity) continue;
      const int64_t row = rows[size_t(r)], pos = first[size_t(r)] + i;
      int32_t id = -1;
      if (row >= 0 && row < pool_rows && pos < max_len) {
        const int64_t full = c->req_to_token.at<int32_t>({row, pos});
        if (full >= 0 && full < full_size) id = as_index32(map[size_t(full)]);
      }
      c->want_ids[size_t(q)] = id;
    }

  c->ids = poisoned(dt_i32(), {capacity}, sp.layout);
  c->offsets = poisoned(dt_i32(), {reqs + 1}, sp.layout);
  c->first_pos = poisoned(dt_i32(), {reqs}, sp.layout);
  c->gather_lens = poisoned(dt_i32(), {reqs}, sp.layout);
  return c;
}

::testing::AssertionResult SwaIdsCase::check(const View& ids_, const View& offsets_,
                                             const View& first_, const View& gather_) const {
  if (auto r = same_ints("swa_token_ids", ids_, want_ids); !r) return r;
  if (auto r = same_ints("swa_offsets", offsets_, want_offsets); !r) return r;
  if (spec.optional_outputs) {
    if (auto r = same_ints("swa_first_pos", first_, want_first); !r) return r;
    if (auto r = same_ints("swa_gather_lens", gather_, want_gather); !r) return r;
  } else {
    View p = first_;
    p.poison();
    if (!unchanged(p.bytes, first_.bytes) || !unchanged(p.bytes, gather_.bytes))
      return ::testing::AssertionFailure() << "an absent optional output was written";
  }
  return ::testing::AssertionSuccess();
}

std::vector<SwaIdsSpec> swa_ids_sweep() {
  std::vector<SwaIdsSpec> out;
  for (const auto& b : engine_batches())
    for (int64_t w : {128, 4}) {
      SwaIdsSpec s;
      s.seq = b.first;
      s.extend = b.second;
      s.window = w;
      out.push_back(s);
    }
  SwaIdsSpec s;
  s.seq = {7, 300, 1000};
  s.extend = {7, 130, 5};
  s.layout = Layout::OddStrides;
  s.wide_map = false;
  s.optional_outputs = false;
  out.push_back(s);
  s.layout = Layout::Padded;
  s.extra_capacity = -40;  // too small: the tail of the ids is dropped
  s.optional_outputs = true;
  out.push_back(s);
  s.layout = Layout::Contiguous;
  s.seq = {0, 5, -4, 130, 12};  // empty, negative and short requests
  s.extend = {0, 5, 2, -3, 12};
  s.extra_capacity = 0;
  out.push_back(s);
  s.seq = {96, 144, 40};
  s.extend = {3, 2, 40};
  s.corrupt = true;
  out.push_back(s);
  s.wide_map = false;
  s.seq = {};
  s.extend = {};
  s.corrupt = false;
  s.extra_capacity = 3;  // no request: the whole capacity is -1, offsets = [0]
  out.push_back(s);
  return out;
}

// ---- combine_topk_swa_indices ----

std::string CombineSpec::name() const {
  std::ostringstream s;
  s << "s" << join(seq) << "_e" << join(extend) << "_W" << window << "_r" << ratio << "_k" << topk;
  if (extra_topk_cols) s << "_cols" << topk + extra_topk_cols;
  s << "_pad" << pad_rows << "_" << layout_name(layout);
  if (query_base) s << "_base" << query_base;
  if (!with_compressed_base) s << "_nocbase";
  return s.str();
}

mla_combine_topk_swa_indices_args CombineCase::args() {
  mla_combine_topk_swa_indices_args a;
  std::memset(&a, 0, sizeof(a));
  const bool no_topk = spec.topk == 0 && spec.extra_topk_cols == 0;
  a.topk_indices = no_topk ? nullptr : topk.ptr();
  a.query_start_loc = query_start.ptr();
  a.seq_lens = seq_lens.ptr();
  a.gather_lens = gather_lens.ptr();
  a.compressed_base = spec.with_compressed_base ? compressed_base.ptr() : nullptr;
  a.swa_base = swa_base.ptr();
  a.topk = spec.topk;
  a.window = spec.window;
  a.compress_ratio = spec.ratio;
  a.combined_indices = out.ptr();
  a.combined_lens = lens.ptr();
  return a;
}

std::unique_ptr<CombineCase> make_combine_case(const CombineSpec& sp, Rng& rng) {
  auto c = std::make_unique<CombineCase>();
  c->spec = sp;
  const int64_t reqs = int64_t(sp.seq.size());
  int64_t queries = 0, most_compressed = 1;
  for (int64_t r = 0; r < reqs; ++r) {
    queries += sp.extend[size_t(r)];
    most_compressed = std::max<int64_t>(most_compressed, sp.seq[size_t(r)] / sp.ratio + 1);
  }
  c->rows = queries + sp.pad_rows;
  c->width = (sp.topk + sp.window + 127) / 128 * 128;

  std::vector<int32_t> qs{sp.query_base}, gather, cbase, swa_off, sbase;
  int64_t swa_total = 0;
  for (int64_t r = 0; r < reqs; ++r) {
    const int64_t seq = sp.seq[size_t(r)], ext = sp.extend[size_t(r)];
    qs.push_back(qs.back() + int32_t(ext));
    gather.push_back(int32_t(std::min<int64_t>(seq, ext + sp.window - 1)));
    cbase.push_back(int32_t(r * most_compressed));
    swa_off.push_back(int32_t(swa_total));
    swa_total += gather.back();
  }
  for (int64_t r = 0; r < reqs; ++r)
    sbase.push_back(int32_t(reqs * most_compressed + swa_off[size_t(r)]));
  c->query_start = int32_view(qs, sp.layout);
  c->seq_lens = int32_view(sp.seq, sp.layout);
  c->gather_lens = int32_view(gather, sp.layout);
  c->compressed_base = int32_view(cbase, sp.layout);
  c->swa_base = int32_view(sbase, sp.layout);

  const int64_t cols = std::max<int64_t>(1, sp.topk + sp.extra_topk_cols);
  c->topk = View(dt_i32(), {c->rows, cols}, sp.layout);
  c->topk.poison();
  for (int64_t t = 0; t < c->rows; ++t)  // garbage everywhere, valid entries below
    for (int64_t j = 0; j < cols; ++j)
      c->topk.at<int32_t>({t, j}) = int32_t(rng.integer(INT32_MIN, INT32_MAX));

  c->want_out.assign(size_t(c->rows * c->width), -1);
  c->want_lens.assign(size_t(c->rows), 0);
  int64_t t = 0;
  for (int64_t r = 0; r < reqs; ++r) {
    const int64_t seq = sp.seq[size_t(r)], ext = sp.extend[size_t(r)];
    const int64_t gather_start = seq - gather[size_t(r)];
    for (int64_t i = 0; i < ext; ++i, ++t) {
      const int64_t pos = seq - ext + i;
      const int64_t topk_len = std::min<int64_t>((pos + 1) / sp.ratio, sp.topk);
      const int64_t swa_len = std::min<int64_t>(pos + 1, sp.window);
      int32_t* row = &c->want_out[size_t(t * c->width)];
      for (int64_t j = 0; j < topk_len; ++j) {
        int32_t v = int32_t(rng.integer(0, std::max<int64_t>(1, (pos + 1) / sp.ratio) - 1));
        if (rng.chance(sp.hole_rate)) v = -1;
        c->topk.at<int32_t>({t, j}) = v;
        const int64_t base = sp.with_compressed_base ? cbase[size_t(r)] : 0;
        row[j] = v >= 0 ? int32_t(v + base) : -1;
      }
      for (int64_t j = 0; j < swa_len; ++j)
        row[topk_len + j] = int32_t(sbase[size_t(r)] + (pos - swa_len + 1 - gather_start) + j);
      c->want_lens[size_t(t)] = int32_t(topk_len + swa_len);
    }
  }
  c->out = poisoned(dt_i32(), {c->rows, c->width}, sp.layout);
  c->lens = poisoned(dt_i32(), {c->rows}, sp.layout);
  return c;
}

::testing::AssertionResult CombineCase::check(const View& out_, const View& lens_) const {
  if (auto r = same_ints("combined_indices", out_, want_out); !r) return r;
  return same_ints("combined_lens", lens_, want_lens);
}

std::vector<CombineSpec> combine_sweep() {
  std::vector<CombineSpec> out;
  for (const auto& b : engine_batches())
    for (int64_t ratio : {4, 128}) {
      CombineSpec s;
      s.seq = b.first;
      s.extend = b.second;
      s.ratio = ratio;
      s.topk = ratio == 4 ? 512 : 64;
      out.push_back(s);
    }
  CombineSpec s;
  s.seq = {7, 300, 1000};
  s.extend = {7, 130, 5};
  s.topk = 0;  // SWA-only layer (sglang c0: topk 0, ratio 1, no compressed base)
  s.ratio = 1;
  s.with_compressed_base = false;
  out.push_back(s);
  s.topk = 1024;  // V4 Pro c4, non-contiguous, wider top-k tensor, a chunk of a batch
  s.ratio = 4;
  s.with_compressed_base = true;
  s.extra_topk_cols = 5;
  s.query_base = 1000;
  s.layout = Layout::OddStrides;
  out.push_back(s);
  s.layout = Layout::Padded;
  s.seq = {0, 96, 5, 144};  // empty requests among others
  s.extend = {0, 3, 0, 2};
  s.window = 64;
  s.hole_rate = 0.5;
  out.push_back(s);
  s.seq = {};  // no request: every row is padding
  s.extend = {};
  s.pad_rows = 4;
  out.push_back(s);
  return out;
}

}  // namespace mlatest
