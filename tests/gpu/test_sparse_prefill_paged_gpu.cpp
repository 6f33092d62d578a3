// Sparse prefill from a paged FP8 cache (SPEC 4.1) on the device: the native kernel and the
// device reference against the float64 reference and against each other, over a case matrix
// of the engines' head counts, top-k widths, query lengths, both formats and flavours, page
// sizes that divide nothing, sinks (some +-inf), lengths, strides and invalid indices of any
// int32 value with NaN in every unused slot; the contract of mla_attention.h (mla_kv_gather of
// every slot then mla_sparse_prefill gives the same bits, on the native path and on the
// reference); determinism; a query token's independence of the others; compare mode and the
// host backend on a GPU context. Skips where no GPU exists.
#include <optional>

#include "attention_cases.h"
#include "decode_on_device.h"
#include "device_mirror.h"
#include "host_context.h"
#include "prefill_on_device.h"

using namespace mlatest;

namespace {

std::vector<PagedPrefillSpec> native_sweep() {
  const int64_t heads[] = {1, 3, 8, 16, 24, 64, 128};
  const int64_t topks[] = {1, 100, 128, 384, 2048};
  const int64_t query_rows[] = {1, 62, 213};
  const int64_t pages[] = {1, 2, 53, 64, 256};
  std::vector<PagedPrefillSpec> out;
  // Case k takes each dimension's value from k modulo a different period (see case_lists.cpp).
  for (int k = 0; k < 70; ++k) {
    PagedPrefillSpec s;
    s.format = (k % 2 == 0) ? MLA_KV_FORMAT_V32 : MLA_KV_FORMAT_V40;
    s.fnuz = (k / 2) % 2 == 1;
    s.h_q = heads[k % 7];
    s.topk = topks[(k / 3) % 5];
    s.s_q = query_rows[(k / 11) % 3];
    s.page_size = pages[(k / 4) % 5];
    s.sink = k % 5 >= 2;
    s.lengths = (k / 6) % 2 == 1;
    s.strided = k % 9 >= 6;
    s.default_scale = k % 13 == 3;
    s.flat_indices = k % 3 == 2;
    s.empty_row = k % 8 == 5;
    // Keep the float64 reference affordable: at most 2^21 (row, head, key) triples.
    while (s.s_q > 1 && s.s_q * s.h_q * s.topk > (int64_t(1) << 21)) s.s_q = s.s_q == 213 ? 62 : 1;
    out.push_back(s);
  }
  return out;
}

std::string case_name(const ::testing::TestParamInfo<PagedPrefillSpec>& info) {
  return info.param.name() + "_" + std::to_string(info.index);
}

// a against b (both device results) at the prefill tolerances of SPEC 8.
::testing::AssertionResult close_to(const PrefillOutputs& a, const PrefillOutputs& b,
                                    const PagedPrefillSpec& s) {
  Checker co("out", kPrefillOut), cm("max_logits", kPrefillStat), cl("lse", kPrefillStat);
  for (int64_t t = 0; t < s.s_q; ++t)
    for (int64_t h = 0; h < s.h_q; ++h) {
      auto where = [&] { return "[" + std::to_string(t) + "," + std::to_string(h) + "]"; };
      for (int64_t x = 0; x < 512; ++x)
        co.add(bf16_value(a.out.at<uint16_t>({t, h, x})), bf16_value(b.out.at<uint16_t>({t, h, x})),
               [&] { return where() + "[" + std::to_string(x) + "]"; });
      cm.add(double(a.max_logits.at<float>({t, h})), double(b.max_logits.at<float>({t, h})), where);
      cl.add(double(a.lse.at<float>({t, h})), double(b.lse.at<float>({t, h})), where);
    }
  for (const Checker* ch : {&co, &cm, &cl})
    if (!ch->result()) return ch->result();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_bits(const PrefillOutputs& a, const PrefillOutputs& b) {
  if (!unchanged(a.out.bytes, b.out.bytes)) return ::testing::AssertionFailure() << "out differs";
  if (!unchanged(a.max_logits.bytes, b.max_logits.bytes))
    return ::testing::AssertionFailure() << "max_logits differs";
  if (!unchanged(a.lse.bytes, b.lse.bytes)) return ::testing::AssertionFailure() << "lse differs";
  return ::testing::AssertionSuccess();
}

// Runs the case on the given backend into fresh device copies of its (poisoned) outputs.
PrefillOutputs run_on(mla_context ctx, mla_backend backend, PagedPrefillCase& c,
                      mla_status* status) {
  EXPECT_EQ(mla_context_set_backend(ctx, backend), MLA_STATUS_SUCCESS);
  PagedPrefillOnDevice d(ctx, c);
  *status = gpu_prefill_paged(ctx, d.args);
  return download_outputs(d, c);
}

}  // namespace

class NativePagedPrefillSweep : public ::testing::TestWithParam<PagedPrefillSpec> {};

// The device reference against float64; the native kernel against float64 and against the
// device reference on the same inputs.
TEST_P(NativePagedPrefillSweep, MatchesFloat64AndTheDeviceReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_paged_prefill_case(GetParam(), rng);
  GpuContext gpu;
  mla_status st = MLA_STATUS_SUCCESS;
  const PrefillOutputs ref = run_on(gpu.get(), MLA_BACKEND_REFERENCE, *c, &st);
  ASSERT_EQ(st, MLA_STATUS_SUCCESS) << mla_last_error();
  ASSERT_STREQ(mla_last_backend(), "reference-" MLA_TEST_VENDOR);
  EXPECT_TRUE(check_paged_prefill(*c, ref.out, ref.max_logits, ref.lse)) << "reference";

  const PrefillOutputs nat = run_on(gpu.get(), MLA_BACKEND_NATIVE, *c, &st);
  ASSERT_EQ(st, MLA_STATUS_SUCCESS) << mla_last_error();
  ASSERT_STREQ(mla_last_backend(), "native-" MLA_TEST_VENDOR);
  EXPECT_TRUE(check_paged_prefill(*c, nat.out, nat.max_logits, nat.lse)) << "native";
  EXPECT_TRUE(close_to(nat, ref, c->spec)) << "native vs reference";
}

INSTANTIATE_TEST_SUITE_P(Spec, NativePagedPrefillSweep, ::testing::ValuesIn(native_sweep()),
                         case_name);

namespace {

std::vector<PagedPrefillSpec> gather_cases() {
  std::vector<PagedPrefillSpec> out;
  auto add = [&](int format, bool fnuz, int64_t page, int64_t h, int64_t topk, int64_t s_q,
                 bool sink, bool lengths, bool strided, bool flat) {
    PagedPrefillSpec s;
    s.format = format, s.fnuz = fnuz, s.page_size = page, s.h_q = h, s.topk = topk;
    s.s_q = s_q, s.sink = sink, s.lengths = lengths, s.strided = strided;
    s.flat_indices = flat;
    s.empty_row = true;
    out.push_back(s);
  };
  add(MLA_KV_FORMAT_V32, false, 64, 128, 2048, 3, false, false, false, false);
  add(MLA_KV_FORMAT_V32, true, 53, 16, 384, 62, true, true, false, true);
  add(MLA_KV_FORMAT_V40, false, 64, 64, 512, 62, true, true, false, true);    // V4 Flash, c4
  add(MLA_KV_FORMAT_V40, true, 256, 128, 1024, 8, true, false, true, false);  // V4 Pro
  add(MLA_KV_FORMAT_V40, false, 2, 8, 128, 213, true, true, true, true);      // c128, TP8
  add(MLA_KV_FORMAT_V40, true, 1, 24, 100, 20, false, true, false, false);
  add(MLA_KV_FORMAT_V32, false, 2, 3, 1, 213, true, false, true, true);
  return out;
}

}  // namespace

class PagedPrefillEqualsGatherThenPrefill : public ::testing::TestWithParam<PagedPrefillSpec> {};

// mla_attention.h: mla_kv_gather of every slot, then mla_sparse_prefill over the rows with the
// same indices, gives the bits of the paged call: on the native path (MLA_BACKEND=native for
// both calls), and on the device reference. Up to 16 heads, Hopper serves the two calls with
// different kernels (within SPEC 8: NativePagedPrefillSweep checks the paged one); the
// contract holds on the mma.sync kernels, which serve both there on every device.
TEST_P(PagedPrefillEqualsGatherThenPrefill, BitForBit) {
  MLA_REQUIRE_GPU();
  std::optional<ScopedEnv> narrow;
  if (GetParam().h_q <= 16) narrow.emplace("MLA_DISABLE_WGMMA", "1");
  Rng rng(fresh_seed());
  auto c = make_paged_prefill_case(GetParam(), rng);
  GpuContext gpu;
  for (mla_backend b : {MLA_BACKEND_NATIVE, MLA_BACKEND_REFERENCE}) {
    const char* name = b == MLA_BACKEND_NATIVE ? "native" : "reference";
    mla_status st = MLA_STATUS_SUCCESS;
    const PrefillOutputs paged = run_on(gpu.get(), b, *c, &st);
    ASSERT_EQ(st, MLA_STATUS_SUCCESS) << name << ": " << mla_last_error();
    EXPECT_TRUE(check_paged_prefill(*c, paged.out, paged.max_logits, paged.lse)) << name;
    PagedPrefillOnDevice d(gpu.get(), *c);
    const PrefillOutputs gathered = gather_then_prefill_on_device(gpu.get(), d, *c, &st);
    ASSERT_EQ(st, MLA_STATUS_SUCCESS)
        << name << ": gather then mla_sparse_prefill: " << mla_last_error();
    EXPECT_TRUE(same_bits(paged, gathered)) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Contract, PagedPrefillEqualsGatherThenPrefill,
                         ::testing::ValuesIn(gather_cases()), case_name);

TEST(NativePagedPrefill, DeterministicOverTwentyRuns) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    PagedPrefillSpec s;
    s.format = format;
    s.h_q = format == MLA_KV_FORMAT_V32 ? 128 : 64;
    s.topk = format == MLA_KV_FORMAT_V32 ? 2048 : 512;
    s.s_q = format == MLA_KV_FORMAT_V32 ? 4 : 62;
    s.sink = true;
    s.lengths = true;
    auto c = make_paged_prefill_case(s, rng);
    GpuContext gpu;
    ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
    PagedPrefillOnDevice d(gpu.get(), *c);
    PrefillOutputs first;
    for (int run = 0; run < 20; ++run) {
      ASSERT_EQ(gpu_prefill_paged(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
      PrefillOutputs o = download_outputs(d, *c);
      if (run == 0) {
        EXPECT_TRUE(check_paged_prefill(*c, o.out, o.max_logits, o.lse));
        first = std::move(o);
        continue;
      }
      ASSERT_TRUE(same_bits(first, o)) << s.name() << " run " << run;
    }
  }
}

// A query token alone gives the bits it gets among 64 (one CTA per token, never split).
TEST(NativePagedPrefill, RowIndependent) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40}) {
    PagedPrefillSpec s;
    s.format = format;
    s.s_q = 64;
    s.h_q = format == MLA_KV_FORMAT_V32 ? 16 : 64;
    s.topk = format == MLA_KV_FORMAT_V32 ? 700 : 512;
    s.page_size = format == MLA_KV_FORMAT_V32 ? 53 : 64;
    s.sink = true;
    s.lengths = true;
    s.flat_indices = format == MLA_KV_FORMAT_V40;
    auto c = make_paged_prefill_case(s, rng);
    GpuContext gpu;
    ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
    PagedPrefillOnDevice d(gpu.get(), *c);
    ASSERT_EQ(gpu_prefill_paged(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    const PrefillOutputs all = download_outputs(d, *c);
    for (int64_t t : {int64_t(0), int64_t(17), int64_t(63)}) {
      Tensor one_out(dt_bf16(), {1, s.h_q, 512}), one_ml(dt_f32(), {1, s.h_q}),
          one_lse(dt_f32(), {1, s.h_q});
      poison(one_out);
      poison(one_ml);
      poison(one_lse);
      DeviceTensor dev_out(gpu.get(), one_out), dev_ml(gpu.get(), one_ml),
          dev_lse(gpu.get(), one_lse);
      const mla_tensor q = request_view(d.q.desc, t), idx = request_view(d.idx.desc, t);
      const mla_tensor len = request_view(d.len->desc, t);
      mla_sparse_prefill_paged_args a = d.args;
      a.q = &q, a.indices = &idx, a.topk_length = &len;
      a.out = dev_out.ptr(), a.max_logits = dev_ml.ptr(), a.lse = dev_lse.ptr();
      ASSERT_EQ(gpu_prefill_paged(gpu.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
      dev_out.download(one_out);
      dev_ml.download(one_ml);
      dev_lse.download(one_lse);
      for (int64_t h = 0; h < s.h_q; ++h) {
        ASSERT_EQ(one_lse.at<uint32_t>({0, h}), all.lse.at<uint32_t>({t, h}))
            << "token " << t << " head " << h;
        ASSERT_EQ(one_ml.at<uint32_t>({0, h}), all.max_logits.at<uint32_t>({t, h}))
            << "token " << t << " head " << h;
        for (int64_t x = 0; x < 512; ++x)
          ASSERT_EQ(one_out.at<uint16_t>({0, h, x}), all.out.at<uint16_t>({t, h, x}))
              << "token " << t << " head " << h << " col " << x;
      }
    }
  }
}

// Compare mode on the native path (native into the caller's outputs, the device reference into
// copies), the host backend staged through host memory, and the automatic choice.
TEST(PagedPrefillGpu, CompareHostAndAutoBackendsOnGpuContext) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  PagedPrefillSpec s;
  s.format = MLA_KV_FORMAT_V40;
  s.s_q = 5, s.h_q = 64, s.topk = 512, s.page_size = 64;
  s.sink = true, s.lengths = true, s.strided = true;
  auto c = make_paged_prefill_case(s, rng);
  GpuContext gpu;
  mla_status st = MLA_STATUS_SUCCESS;
  PrefillOutputs o = run_on(gpu.get(), MLA_BACKEND_COMPARE, *c, &st);
  ASSERT_EQ(st, MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(),
               "compare(native-" MLA_TEST_VENDOR " vs reference-" MLA_TEST_VENDOR ")");
  EXPECT_TRUE(check_paged_prefill(*c, o.out, o.max_logits, o.lse)) << "compare";
  o = run_on(gpu.get(), MLA_BACKEND_HOST, *c, &st);
  ASSERT_EQ(st, MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(), "host");
  EXPECT_TRUE(check_paged_prefill(*c, o.out, o.max_logits, o.lse)) << "host";
  HostContext host;  // the host backend on a GPU context gives the CPU context's bits
  ASSERT_EQ(host.prefill_paged(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_TRUE(same_bits(o, PrefillOutputs{c->out, c->max_logits, c->lse}));
  o = run_on(gpu.get(), MLA_BACKEND_AUTO, *c, &st);
  ASSERT_EQ(st, MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(), "native-" MLA_TEST_VENDOR);
  EXPECT_TRUE(check_paged_prefill(*c, o.out, o.max_logits, o.lse)) << "auto";
}
