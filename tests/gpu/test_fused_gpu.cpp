// Device fused ops against the SPEC 7 references and against the host backend on the same
// inputs (bit-exact copies; merge_state and norm_rope within one bf16 step), the debugging
// backends on a GPU context (in-place norm_rope included), and row loops longer than the grid.
// Skips where no GPU exists.
#include <cstdlib>

#include "device_view.h"
#include "fused_cases.h"
#include "host_context.h"

using namespace mlatest;

namespace {

::testing::AssertionResult close_to_host(const char* what, const View& device, const View& host,
                                         Tol tol) {
  Checker ch(what, tol);
  for (int64_t e = 0; e < host.numel(); ++e) {
    const double a =
        host.elem == 2 ? bf16_value(device.flat<uint16_t>(e)) : double(device.flat<float>(e));
    const double r =
        host.elem == 2 ? bf16_value(host.flat<uint16_t>(e)) : double(host.flat<float>(e));
    ch.add(a, r, [&] { return "element " + std::to_string(e); });
  }
  return ch.result();
}

// Sets MLA_COMPARE=fail for the contexts created while it lives.
struct CompareFails {
  CompareFails() { setenv("MLA_COMPARE", "fail", 1); }
  ~CompareFails() { unsetenv("MLA_COMPARE"); }
};

}  // namespace

class ConcatGpuSweep : public ::testing::TestWithParam<ConcatSpec> {};

TEST_P(ConcatGpuSweep, BitExactAndEqualToHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_concat_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DeviceView a(gpu.get(), c->a), b(gpu.get(), c->b), out(gpu.get(), c->out);
  ASSERT_EQ(c->run(gpu.get(), a.ptr(), b.ptr(), out.ptr()), MLA_STATUS_SUCCESS) << mla_last_error();
  const View d_out = out.download();
  EXPECT_TRUE(c->check(d_out));
  HostContext host;
  ASSERT_EQ(c->run(host.get()), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(bytes_unchanged(c->out, d_out));
}

INSTANTIATE_TEST_SUITE_P(Spec, ConcatGpuSweep, ::testing::ValuesIn(concat_sweep()),
                         [](const auto& info) { return info.param.name(); });

class MergeGpuSweep : public ::testing::TestWithParam<MergeSpec> {};

TEST_P(MergeGpuSweep, MatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_merge_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DeviceView va(gpu.get(), c->v_a), vb(gpu.get(), c->v_b), la(gpu.get(), c->lse_a),
      lb(gpu.get(), c->lse_b), vo(gpu.get(), c->v_out), lo(gpu.get(), c->lse_out);
  auto a = c->args();
  a.v_a = va.ptr(), a.v_b = vb.ptr(), a.lse_a = la.ptr(), a.lse_b = lb.ptr(), a.v_out = vo.ptr();
  a.lse_out = c->spec.lse_out ? lo.ptr() : nullptr;
  ASSERT_EQ(mla_merge_state(gpu.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  const View d_v = vo.download(), d_l = lo.download();
  EXPECT_TRUE(c->check(d_v, d_l));
  HostContext host;
  const auto h = c->args();
  ASSERT_EQ(mla_merge_state(host.get(), &h, nullptr), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(close_to_host("v_out", d_v, c->v_out, kFusedBf16));
  if (c->spec.lse_out) {
    EXPECT_TRUE(close_to_host("lse_out", d_l, c->lse_out, kFusedLse));
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, MergeGpuSweep, ::testing::ValuesIn(merge_sweep()),
                         [](const auto& info) { return info.param.name(); });

namespace {

std::vector<NormRopeSpec> norm_rope_gpu_sweep() {
  std::vector<NormRopeSpec> s = norm_rope_sweep();
  NormRopeSpec many;  // more rows than 65536 blocks of 8 rows: the row loop strides
  many.n = 66000;
  many.h = 8;
  many.d = 64;
  many.weight = 1;
  s.push_back(many);
  return s;
}

}  // namespace

class NormRopeGpuSweep : public ::testing::TestWithParam<NormRopeSpec> {};

TEST_P(NormRopeGpuSweep, MatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_norm_rope_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DeviceView x(gpu.get(), c->x), w(gpu.get(), c->weight), pos(gpu.get(), c->positions),
      tab(gpu.get(), c->table), out(gpu.get(), c->out);
  auto a = c->args();
  a.x = x.ptr(), a.positions = pos.ptr(), a.cos_sin = tab.ptr();
  a.weight = c->spec.weight ? w.ptr() : nullptr;
  a.out = c->spec.in_place ? x.ptr() : out.ptr();
  ASSERT_EQ(mla_norm_rope(gpu.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
  const View d_out = c->spec.in_place ? x.download() : out.download();
  EXPECT_TRUE(c->check(d_out));
  HostContext host;
  const auto h = c->args();
  ASSERT_EQ(mla_norm_rope(host.get(), &h, nullptr), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(close_to_host("out", d_out, c->result(), kFusedBf16));
}

INSTANTIATE_TEST_SUITE_P(Spec, NormRopeGpuSweep, ::testing::ValuesIn(norm_rope_gpu_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(FusedGpu, HostAndCompareBackendsOnAGpuContext) {
  MLA_REQUIRE_GPU();
  CompareFails compare_fails;
  for (mla_backend backend : {MLA_BACKEND_HOST, MLA_BACKEND_COMPARE}) {
    Rng rng(fresh_seed());
    GpuContext gpu;
    ASSERT_EQ(mla_context_set_backend(gpu.get(), backend), MLA_STATUS_SUCCESS);

    NormRopeSpec ns;  // in place: x is the output
    ns.in_place = true;
    ns.weight = 2;
    auto n = make_norm_rope_case(ns, rng);
    DeviceView x(gpu.get(), n->x), w(gpu.get(), n->weight), pos(gpu.get(), n->positions),
        tab(gpu.get(), n->table);
    auto na = n->args();
    na.x = x.ptr(), na.out = x.ptr(), na.weight = w.ptr(), na.positions = pos.ptr();
    na.cos_sin = tab.ptr();
    ASSERT_EQ(mla_norm_rope(gpu.get(), &na, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(n->check(x.download())) << "backend " << int(backend);

    auto m = make_merge_case(MergeSpec{}, rng);
    DeviceView va(gpu.get(), m->v_a), vb(gpu.get(), m->v_b), la(gpu.get(), m->lse_a),
        lb(gpu.get(), m->lse_b), vo(gpu.get(), m->v_out), lo(gpu.get(), m->lse_out);
    const mla_merge_state_args ma{va.ptr(), la.ptr(), vb.ptr(), lb.ptr(), vo.ptr(), lo.ptr()};
    ASSERT_EQ(mla_merge_state(gpu.get(), &ma, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(m->check(vo.download(), lo.download())) << "backend " << int(backend);
  }
}

TEST(FusedGpu, NativeBackendReportsNotSupported) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_concat_case(ConcatSpec{}, rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
  DeviceView a(gpu.get(), c->a), b(gpu.get(), c->b), out(gpu.get(), c->out);
  EXPECT_EQ(c->run(gpu.get(), a.ptr(), b.ptr(), out.ptr()), MLA_STATUS_NOT_SUPPORTED);
}
