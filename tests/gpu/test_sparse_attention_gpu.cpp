// Device backends of sparse decode and prefill against the float64 reference and against the
// host backend on the same inputs (SPEC 8 tolerances). Skips where no GPU exists.
#include "attention_cases.h"
#include "case_lists.h"
#include "decode_on_device.h"
#include "device_mirror.h"
#include "host_context.h"
#include "prefill_on_device.h"

using namespace mlatest;

namespace {

::testing::AssertionResult same_as_host(const Tensor& device, const Tensor& host, Tol tol,
                                        bool bf16) {
  Checker ch("device vs host", tol);
  const int64_t n = int64_t(host.bytes.size()) / host.elem;
  for (int64_t e = 0; e < n; ++e) {
    const double a =
        bf16 ? bf16_value(device.bytes.as<uint16_t>()[e]) : double(device.bytes.as<float>()[e]);
    const double r =
        bf16 ? bf16_value(host.bytes.as<uint16_t>()[e]) : double(host.bytes.as<float>()[e]);
    ch.add(a, r, [&] { return "element " + std::to_string(e); });
  }
  return ch.result();
}

}  // namespace

class DecodeGpuSweep : public ::testing::TestWithParam<DecodeSpec> {};

TEST_P(DecodeGpuSweep, ReferenceMatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_decode_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DecodeOnDevice d(gpu.get(), *c);
  ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  Tensor out = c->out, lse = c->lse;
  d.out.download(out);
  d.lse.download(lse);
  EXPECT_TRUE(check_decode(*c, out, lse));

  HostContext host;
  ASSERT_EQ(host.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(same_as_host(out, c->out, kDecodeOut, true));
  EXPECT_TRUE(same_as_host(lse, c->lse, kDecodeLse, false));
}

INSTANTIATE_TEST_SUITE_P(Spec, DecodeGpuSweep, ::testing::ValuesIn(decode_sweep()),
                         [](const auto& info) { return info.param.name(); });

class PrefillGpuSweep : public ::testing::TestWithParam<PrefillSpec> {};

TEST_P(PrefillGpuSweep, ReferenceMatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_prefill_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  PrefillOnDevice d(gpu.get(), *c);
  ASSERT_EQ(gpu_prefill(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  const PrefillOutputs o = download_outputs(d, *c);
  EXPECT_TRUE(check_prefill(*c, o.out, o.max_logits, o.lse));
}

INSTANTIATE_TEST_SUITE_P(Spec, PrefillGpuSweep, ::testing::ValuesIn(prefill_sweep()),
                         [](const auto& info) { return info.param.name(); });

TEST(SparseDecodeGpu, HostBackendAndCompareModeOnGpuContext) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  DecodeSpec s;
  s.format = MLA_KV_FORMAT_V40;
  s.extra = true;
  s.sink = true;
  s.lengths = true;
  auto c = make_decode_case(s, rng);
  GpuContext gpu;
  for (mla_backend b : {MLA_BACKEND_HOST, MLA_BACKEND_COMPARE, MLA_BACKEND_AUTO}) {
    DecodeOnDevice d(gpu.get(), *c);
    ASSERT_EQ(mla_context_set_backend(gpu.get(), b), MLA_STATUS_SUCCESS);
    ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    Tensor out = c->out, lse = c->lse;
    d.out.download(out);
    d.lse.download(lse);
    EXPECT_TRUE(check_decode(*c, out, lse)) << "backend " << int(b);
  }
  // The native kernel covers every decode shape: forcing it runs it.
  DecodeOnDevice d(gpu.get(), *c);
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
  ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  Tensor out = c->out, lse = c->lse;
  d.out.download(out);
  d.lse.download(lse);
  EXPECT_TRUE(check_decode(*c, out, lse));
}
