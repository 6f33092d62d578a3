// mla_bench: times every registered operation with device events at the production shapes of
// SPEC 3 and ANCHORS.md, next to the copy and matrix ceilings measured in the same run.
//
//   mla_bench [--filter TEXT] [--backend auto|native|reference] [--reps N] [--json FILE]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench_case.h"
#include "gpu_timer.h"

namespace {

struct Options {
  std::string filter, json, backend = "auto";
  int reps = 10;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mla_bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--filter") o.filter = value();
    else if (a == "--json") o.json = value();
    else if (a == "--backend") o.backend = value();
    else if (a == "--reps") o.reps = std::atoi(value().c_str());
    else {
      std::fprintf(stderr, "usage: mla_bench [--filter TEXT] [--backend auto|native|reference]"
                           " [--reps N] [--json FILE]\n");
      std::exit(a == "--help" ? 0 : 2);
    }
  }
  return o;
}

mla_backend backend_of(const std::string& s) {
  if (s == "native") return MLA_BACKEND_NATIVE;
  if (s == "reference") return MLA_BACKEND_REFERENCE;
  if (s == "auto") return MLA_BACKEND_AUTO;
  std::fprintf(stderr, "mla_bench: --backend must be auto, native or reference\n");
  std::exit(2);
}

struct Row {
  std::string op, shape, backend;
  double us, tflops, gbs, copy_frac, mm_frac, anchor_us;
  double copy_same_gbs;  // a copy of the same bytes, timed the same way
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = parse(argc, argv);
  if (mla_device_count() < 1) {
    std::fprintf(stderr, "mla_bench: no GPU (%s build)\n", mla_get_version_string());
    return 2;
  }
  mla_context ctx = nullptr;
  bench::check(mla_context_create(0, &ctx), "mla_context_create");
  bench::check(mla_context_set_backend(ctx, backend_of(opt.backend)), "set backend");

  const double copy_gbs = bench::copy_gbs(size_t(2) << 30, 1);
  const double mm_tflops = bench::matmul_ceiling_tflops(8192);
  std::printf("device: %s  libmla %s  backend: %s\n", bench::device_name(),
              mla_get_version_string(), opt.backend.c_str());
  std::printf("ceilings measured now: copy %.0f GB/s (read+write), bf16 matmul ", copy_gbs);
  if (mm_tflops > 0) std::printf("%.0f TFLOP/s\n", mm_tflops);
  else std::printf("n/a (no vendor BLAS)\n");
  std::printf("(%%copy: of that ceiling; %%cp@n: of a copy moving the same bytes, timed the same"
              " way; x: anchor time / ours)\n");
  std::printf("%-16s %-40s %-15s %10s %8s %8s %6s %6s %6s %10s %6s\n", "op", "shape", "backend",
              "us", "TFLOP/s", "GB/s", "%copy", "%cp@n", "%mm", "anchor_us", "x");

  std::vector<Row> rows;
  for (bench::CaseFactory f : bench::case_factories()) {
    for (auto& c : f()) {
      const std::string name = c->op() + " " + c->shape();
      if (!opt.filter.empty() && name.find(opt.filter) == std::string::npos) continue;
      const bench::Work w = c->prepare(ctx);
      bench::device_synchronize();
      // Short calls repeat back to back between the events, so launch gaps are amortized.
      const double probe = bench::time_ms([&] { c->run(); }, 1, 1);
      const int inner = probe >= 2.0 ? 1 : std::min(100, int(2.0 / std::max(probe, 1e-3)));
      const double ms = bench::time_ms([&] { c->run(); }, 2, opt.reps, inner);
      Row r{c->op(), c->shape(), mla_last_backend(), ms * 1e3, w.flops / (ms * 1e-3) / 1e12,
            w.bytes / (ms * 1e-3) / 1e9, 0, 0, w.anchor_us, 0};
      r.copy_frac = 100.0 * r.gbs / copy_gbs;
      r.mm_frac = mm_tflops > 0 ? 100.0 * r.tflops / mm_tflops : -1;
      r.copy_same_gbs = w.bytes > 0 ? bench::copy_gbs(size_t(w.bytes), inner) : 0;
      std::printf("%-16s %-40s %-15s %10.1f %8.1f %8.0f %6.1f %6.1f %6.1f", r.op.c_str(),
                  r.shape.c_str(), r.backend.c_str(), r.us, r.tflops, r.gbs, r.copy_frac,
                  r.copy_same_gbs > 0 ? 100.0 * r.gbs / r.copy_same_gbs : 0.0, r.mm_frac);
      if (r.anchor_us > 0)
        std::printf(" %10.1f %6.2f\n", r.anchor_us, r.anchor_us / r.us);
      else
        std::printf(" %10s %6s\n", "-", "-");
      std::fflush(stdout);
      rows.push_back(r);
      c.reset();  // free the case's device memory before the next one
    }
  }
  if (!opt.json.empty()) {
    FILE* f = std::fopen(opt.json.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "mla_bench: cannot write %s\n", opt.json.c_str());
      return 2;
    }
    std::fprintf(f, "{\"device\": \"%s\", \"version\": \"%s\", \"copy_gbs\": %.1f, "
                 "\"matmul_tflops\": %.1f, \"results\": [\n", bench::device_name(),
                 mla_get_version_string(), copy_gbs, mm_tflops);
    for (size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      std::fprintf(f, "  {\"op\": \"%s\", \"shape\": \"%s\", \"backend\": \"%s\", \"us\": %.2f, "
                   "\"tflops\": %.3f, \"gbs\": %.1f, \"copy_fraction\": %.4f, "
                   "\"matmul_fraction\": %.4f, \"anchor_us\": %.1f, \"copy_same_bytes_gbs\": %.1f}%s\n",
                   r.op.c_str(), r.shape.c_str(), r.backend.c_str(), r.us, r.tflops, r.gbs,
                   r.copy_frac / 100, r.mm_frac / 100, r.anchor_us, r.copy_same_gbs,
                   i + 1 < rows.size() ? "," : "");
    }
    std::fprintf(f, "]}\n");
    std::fclose(f);
  }
  mla_context_destroy(ctx);
  return 0;
}
