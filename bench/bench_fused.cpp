// The small fused ops of SPEC 7 (concat, merge_state, norm_rope): data movement, judged
// against the copy ceiling (bytes read + bytes written).
#include <cmath>
#include <random>
#include <sstream>

#include "bench_case.h"

namespace bench {
namespace {

class ConcatKCase : public Case {
 public:
  ConcatKCase(int64_t n, int64_t h) : n_(n), h_(h) {}
  std::string op() const override { return "concat_mla_k"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "N" << n_ << " H" << h_ << " 128+64";
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    nope_ = DevBuf(ctx, size_t(n_ * h_ * 128 * 2));
    rope_ = DevBuf(ctx, size_t(n_ * 64 * 2));
    out_ = DevBuf(ctx, size_t(n_ * h_ * 192 * 2));
    fill_bf16(nope_, size_t(n_ * h_ * 128), 1.0, 1e9, 21);
    fill_bf16(rope_, size_t(n_ * 64), 1.0, 1e9, 22);
    tn_ = bf16_tensor(nope_, {n_, h_, 128});
    tr_ = bf16_tensor(rope_, {n_, 1, 64});
    to_ = bf16_tensor(out_, {n_, h_, 192});
    Work w;
    w.bytes = double(nope_.size() + rope_.size() + out_.size());
    return w;
  }
  void run() override {
    mla_concat_mla_k_args a{&tn_, &tr_, &to_};
    check(mla_concat_mla_k(ctx_, &a, nullptr), "mla_concat_mla_k");
  }

 private:
  int64_t n_, h_;
  mla_context ctx_ = nullptr;
  DevBuf nope_, rope_, out_;
  mla_tensor tn_{}, tr_{}, to_{};
};

class AbsorbQCase : public Case {
 public:
  AbsorbQCase(int64_t n, int64_t h) : n_(n), h_(h) {}
  std::string op() const override { return "concat_absorb_q"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "N" << n_ << " H" << h_ << " 512+64";
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    a_ = DevBuf(ctx, size_t(n_ * h_ * 512 * 2));
    b_ = DevBuf(ctx, size_t(n_ * h_ * 64 * 2));
    out_ = DevBuf(ctx, size_t(n_ * h_ * 576 * 2));
    fill_bf16(a_, size_t(n_ * h_ * 512), 1.0, 1e9, 23);
    fill_bf16(b_, size_t(n_ * h_ * 64), 1.0, 1e9, 24);
    ta_ = bf16_tensor(a_, {n_, h_, 512});
    tb_ = bf16_tensor(b_, {n_, h_, 64});
    to_ = bf16_tensor(out_, {n_, h_, 576});
    Work w;
    w.bytes = double(a_.size() + b_.size() + out_.size());
    return w;
  }
  void run() override {
    mla_concat_mla_absorb_q_args a{&ta_, &tb_, &to_};
    check(mla_concat_mla_absorb_q(ctx_, &a, nullptr), "mla_concat_mla_absorb_q");
  }

 private:
  int64_t n_, h_;
  mla_context ctx_ = nullptr;
  DevBuf a_, b_, out_;
  mla_tensor ta_{}, tb_{}, to_{};
};

class MergeStateCase : public Case {
 public:
  MergeStateCase(int64_t n, int64_t h, int64_t d) : n_(n), h_(h), d_(d) {}
  std::string op() const override { return "merge_state"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "N" << n_ << " H" << h_ << " D" << d_;
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const size_t v = size_t(n_ * h_ * d_), s = size_t(n_ * h_);
    va_ = DevBuf(ctx, v * 2);
    vb_ = DevBuf(ctx, v * 2);
    vo_ = DevBuf(ctx, v * 2);
    la_ = DevBuf(ctx, s * 4);
    lb_ = DevBuf(ctx, s * 4);
    lo_ = DevBuf(ctx, s * 4);
    fill_bf16(va_, v, 1.0, 1e9, 25);
    fill_bf16(vb_, v, 1.0, 1e9, 26);
    std::vector<float> lse(s);
    std::mt19937 gen(27);
    std::normal_distribution<float> nd(3.0f, 1.0f);
    for (auto& x : lse) x = nd(gen);
    la_.upload(lse.data(), s * 4);
    for (auto& x : lse) x = nd(gen);
    lb_.upload(lse.data(), s * 4);
    tva_ = bf16_tensor(va_, {n_, h_, d_});
    tvb_ = bf16_tensor(vb_, {n_, h_, d_});
    tvo_ = bf16_tensor(vo_, {n_, h_, d_});
    tla_ = f32_tensor(la_, {n_, h_});
    tlb_ = f32_tensor(lb_, {n_, h_});
    tlo_ = f32_tensor(lo_, {n_, h_});
    Work w;
    w.bytes = double(3 * v * 2 + 3 * s * 4);
    return w;
  }
  void run() override {
    mla_merge_state_args a{&tva_, &tla_, &tvb_, &tlb_, &tvo_, &tlo_};
    check(mla_merge_state(ctx_, &a, nullptr), "mla_merge_state");
  }

 private:
  int64_t n_, h_, d_;
  mla_context ctx_ = nullptr;
  DevBuf va_, vb_, vo_, la_, lb_, lo_;
  mla_tensor tva_{}, tvb_{}, tvo_{}, tla_{}, tlb_{}, tlo_{};
};

class NormRopeCase : public Case {
 public:
  NormRopeCase(int64_t n, int64_t h, int64_t d, bool normalize)
      : n_(n), h_(h), d_(d), normalize_(normalize) {}
  std::string op() const override { return normalize_ ? "norm_rope" : "rope_inverse"; }
  std::string shape() const override {
    std::ostringstream o;
    o << "N" << n_ << " H" << h_ << " D" << d_ << (normalize_ ? " weight" : "");
    return o.str();
  }
  Work prepare(mla_context ctx) override {
    ctx_ = ctx;
    const size_t e = size_t(n_ * h_ * d_);
    x_ = DevBuf(ctx, e * 2);
    out_ = DevBuf(ctx, e * 2);
    fill_bf16(x_, e, 1.0, 1e9, 28);
    w_ = DevBuf(ctx, size_t(d_ * 2));
    fill_bf16(w_, size_t(d_), 1.0, 1e9, 29);
    const int64_t max_pos = 65536;
    std::vector<float> table(static_cast<size_t>(max_pos * 64));
    for (int64_t p = 0; p < max_pos; ++p)
      for (int i = 0; i < 32; ++i) {
        const double th = double(p) * std::pow(10000.0, -2.0 * i / 64);
        table[size_t(p * 64 + i)] = float(std::cos(th));
        table[size_t(p * 64 + 32 + i)] = float(std::sin(th));
      }
    table_ = DevBuf(ctx, table.size() * 4);
    table_.upload(table.data(), table.size() * 4);
    std::vector<int64_t> pos(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) pos[size_t(i)] = (i * 7919) % max_pos;
    pos_ = DevBuf(ctx, pos.size() * 8);
    pos_.upload(pos.data(), pos.size() * 8);
    tx_ = bf16_tensor(x_, {n_, h_, d_});
    to_ = bf16_tensor(out_, {n_, h_, d_});
    tw_ = bf16_tensor(w_, {d_});
    tt_ = f32_tensor(table_, {max_pos, 64});
    tp_ = i64_tensor(pos_, {n_});
    Work w;
    w.bytes = double(2 * e * 2 + pos.size() * 8);  // table rows: reused, mostly from L2
    return w;
  }
  void run() override {
    mla_norm_rope_args a{&tx_, normalize_ ? &tw_ : nullptr, &tp_, &tt_, MLA_ROPE_TABLE_HALVES,
                         normalize_ ? 1 : 0, normalize_ ? 0 : 1, 1e-6f, &to_};
    check(mla_norm_rope(ctx_, &a, nullptr), "mla_norm_rope");
  }

 private:
  int64_t n_, h_, d_;
  bool normalize_;
  mla_context ctx_ = nullptr;
  DevBuf x_, out_, w_, table_, pos_;
  mla_tensor tx_{}, to_{}, tw_{}, tt_{}, tp_{};
};

CaseList fused_cases() {
  CaseList out;
  out.push_back(std::make_unique<ConcatKCase>(16384, 128));
  out.push_back(std::make_unique<AbsorbQCase>(4096, 128));
  out.push_back(std::make_unique<MergeStateCase>(16384, 128, 512));
  out.push_back(std::make_unique<NormRopeCase>(16384, 64, 512, true));
  out.push_back(std::make_unique<NormRopeCase>(65536, 1, 512, true));
  out.push_back(std::make_unique<NormRopeCase>(16384, 64, 512, false));
  return out;
}
MLA_BENCH_CASES(fused_cases);

}  // namespace
}  // namespace bench
