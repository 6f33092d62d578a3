// The native sparse prefill (src/common/attention, sparse_prefill_launch.h) on the device:
// against the float64 reference and the device reference on the same inputs, over head counts
// engines use (TP8 and FlashMLA's), top-k widths that are not multiples of 128, long rows,
// s_q past 65535, both d_qk, sinks, lengths, strides, invalid indices of any int32 value and
// NaN in the rows no index reaches; determinism; a row's result independent of the other rows;
// kv rows without 16-byte alignment; the mma.sync kernels where Hopper would take its own. Skips
// where no GPU exists.
#include "attention_cases.h"
#include "prefill_on_device.h"

using namespace mlatest;

namespace {

std::vector<PrefillSpec> native_prefill_sweep() {
  const int64_t heads[] = {1, 3, 8, 16, 24, 64, 128};
  const int64_t topks[] = {1, 100, 128, 384, 2048, 8192};
  const int64_t rows[] = {1, 62, 213, 1024};
  std::vector<PrefillSpec> out;
  // Case k takes each dimension's value from k modulo a different period.
  for (int k = 0; k < 42; ++k) {
    PrefillSpec s;
    s.h_q = heads[k % 7];
    s.topk = topks[(k / 2) % 6];
    s.s_q = rows[(k / 3) % 4];
    s.d_qk = (k % 2 == 0) ? 576 : 512;
    s.s_kv = s.topk * 3 / 2 + 5 + k;
    s.sink = k % 5 >= 2;
    s.lengths = (k / 4) % 2 == 1;
    s.strided = k % 7 >= 5;
    s.default_scale = k % 11 == 3;
    s.empty_row = k % 6 == 5;
    // Keep the float64 reference affordable: about 1.5 M (row, head, key) triples.
    const int64_t most = 1500000 / (s.h_q * s.topk);
    if (s.s_q > most) s.s_q = most > 1 ? most : 1;
    out.push_back(s);
  }
  // s_q past 65535 (the grid's y and z limits), with few heads and keys.
  PrefillSpec big;
  big.s_q = 70000;
  big.h_q = 1;
  big.topk = 7;
  big.s_kv = 100;
  big.lengths = true;
  big.sink = true;
  out.push_back(big);
  big.h_q = 3;
  big.s_q = 66000;
  big.d_qk = 512;
  big.lengths = false;
  out.push_back(big);
  return out;
}

PrefillOutputs run_prefill(mla_context ctx, PrefillCase& c, mla_backend backend,
                           const char* expect_backend, const Tensor* kv_override = nullptr) {
  EXPECT_EQ(mla_context_set_backend(ctx, backend), MLA_STATUS_SUCCESS);
  PrefillOnDevice d(ctx, c, kv_override);
  EXPECT_EQ(gpu_prefill(ctx, d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(), expect_backend);
  return download_outputs(d, c);
}

void check_native(PrefillCase& c) {
  GpuContext gpu;
  const PrefillOutputs n = run_prefill(gpu.get(), c, MLA_BACKEND_NATIVE, "native-" MLA_TEST_VENDOR);
  EXPECT_TRUE(check_prefill(c, n.out, n.max_logits, n.lse));
  const PrefillOutputs r =
      run_prefill(gpu.get(), c, MLA_BACKEND_REFERENCE, "reference-" MLA_TEST_VENDOR);
  Checker co("native vs reference out", kPrefillOut);
  Checker cm("native vs reference max_logits", kPrefillStat);
  Checker cl("native vs reference lse", kPrefillStat);
  for (int64_t t = 0; t < c.spec.s_q; ++t)
    for (int64_t h = 0; h < c.spec.h_q; ++h) {
      auto where = [&] { return "[" + std::to_string(t) + "," + std::to_string(h) + "]"; };
      for (int64_t x = 0; x < 512; ++x)
        co.add(bf16_value(n.out.at<uint16_t>({t, h, x})), bf16_value(r.out.at<uint16_t>({t, h, x})),
               [&] { return where() + "[" + std::to_string(x) + "]"; });
      cm.add(double(n.max_logits.at<float>({t, h})), double(r.max_logits.at<float>({t, h})), where);
      cl.add(double(n.lse.at<float>({t, h})), double(r.lse.at<float>({t, h})), where);
    }
  EXPECT_TRUE(co.result());
  EXPECT_TRUE(cm.result());
  EXPECT_TRUE(cl.result());
}

}  // namespace

class NativePrefillSweep : public ::testing::TestWithParam<PrefillSpec> {};

TEST_P(NativePrefillSweep, MatchesFloat64AndTheDeviceReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_prefill_case(GetParam(), rng);
  check_native(*c);
}

INSTANTIATE_TEST_SUITE_P(Spec, NativePrefillSweep, ::testing::ValuesIn(native_prefill_sweep()),
                         [](const auto& info) {
                           return info.param.name() + "_" + std::to_string(info.index);
                         });

TEST(NativePrefill, DeterministicOverTwentyRuns) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t h : {16, 128}) {
    PrefillSpec s;
    s.h_q = h;
    s.s_q = 3;
    s.topk = 2048;
    s.s_kv = 4000;
    s.sink = true;
    auto c = make_prefill_case(s, rng);
    GpuContext gpu;
    const PrefillOutputs first =
        run_prefill(gpu.get(), *c, MLA_BACKEND_AUTO, "native-" MLA_TEST_VENDOR);
    EXPECT_TRUE(check_prefill(*c, first.out, first.max_logits, first.lse));
    for (int run = 1; run < 20; ++run) {
      const PrefillOutputs again =
          run_prefill(gpu.get(), *c, MLA_BACKEND_AUTO, "native-" MLA_TEST_VENDOR);
      ASSERT_TRUE(unchanged(first.out.bytes, again.out.bytes)) << "h " << h << " run " << run;
      ASSERT_TRUE(unchanged(first.max_logits.bytes, again.max_logits.bytes))
          << "h " << h << " run " << run;
      ASSERT_TRUE(unchanged(first.lse.bytes, again.lse.bytes)) << "h " << h << " run " << run;
    }
  }
}

// A query row alone gives the bits it gives among 64 rows.
TEST(NativePrefill, RowIndependentOfTheOthers) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t h : {8, 64}) {
    PrefillSpec s;
    s.h_q = h;
    s.s_q = 64;
    s.topk = 700;
    s.s_kv = 1500;
    s.lengths = true;
    s.sink = true;
    auto c = make_prefill_case(s, rng);
    GpuContext gpu;
    const PrefillOutputs all =
        run_prefill(gpu.get(), *c, MLA_BACKEND_NATIVE, "native-" MLA_TEST_VENDOR);
    for (int64_t t : {int64_t(0), int64_t(29), int64_t(63)}) {
      PrefillSpec one_spec = s;
      one_spec.s_q = 1;
      PrefillCase one;
      one.spec = one_spec;
      one.scale = c->scale;
      one.q = Tensor(dt_bf16(), {1, h, s.d_qk});
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t x = 0; x < s.d_qk; ++x)
          one.q.at<uint16_t>({0, hh, x}) = c->q.at<uint16_t>({t, hh, x});
      one.kv = c->kv;
      one.idx = Tensor(dt_i32(), {1, 1, s.topk});
      for (int64_t j = 0; j < s.topk; ++j)
        one.idx.at<int32_t>({0, 0, j}) = c->idx.at<int32_t>({t, 0, j});
      one.len = Tensor(dt_i32(), {1});
      one.len.at<int32_t>({0}) = c->len.at<int32_t>({t});
      one.sink = c->sink;
      one.out = Tensor(dt_bf16(), {1, h, 512});
      one.max_logits = Tensor(dt_f32(), {1, h});
      one.lse = Tensor(dt_f32(), {1, h});
      poison(one.out);
      poison(one.max_logits);
      poison(one.lse);
      const PrefillOutputs r =
          run_prefill(gpu.get(), one, MLA_BACKEND_NATIVE, "native-" MLA_TEST_VENDOR);
      for (int64_t hh = 0; hh < h; ++hh) {
        ASSERT_EQ(r.lse.at<uint32_t>({0, hh}), all.lse.at<uint32_t>({t, hh})) << t << " " << hh;
        ASSERT_EQ(r.max_logits.at<uint32_t>({0, hh}), all.max_logits.at<uint32_t>({t, hh}))
            << t << " " << hh;
        for (int64_t x = 0; x < 512; ++x)
          ASSERT_EQ(r.out.at<uint16_t>({0, hh, x}), all.out.at<uint16_t>({t, hh, x}))
              << t << " " << hh << " " << x;
      }
    }
  }
}

// kv rows without 16-byte alignment (a row pitch of 577 bf16, any head count) are read in
// 2-byte pieces by the native kernel: still native, still right.
TEST(NativePrefill, UnalignedKvRowsAreServedNatively) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t h : {16, 64}) {
    PrefillSpec s;
    s.h_q = h;
    s.topk = 100;
    s.s_q = 3;
    s.s_kv = 200;
    s.sink = true;
    auto c = make_prefill_case(s, rng);
    Tensor odd(dt_bf16(), {s.s_kv, 1, s.d_qk}, {0, 0, 1});
    odd.fill_bytes(0xFF);
    for (int64_t r = 0; r < s.s_kv; ++r)
      for (int64_t x = 0; x < s.d_qk; ++x)
        odd.at<uint16_t>({r, 0, x}) = c->kv.at<uint16_t>({r, 0, x});
    GpuContext gpu;
    const PrefillOutputs n =
        run_prefill(gpu.get(), *c, MLA_BACKEND_NATIVE, "native-" MLA_TEST_VENDOR, &odd);
    EXPECT_TRUE(check_prefill(*c, n.out, n.max_logits, n.lse)) << "h " << h;
  }
}

// q and out rows that are only 2-byte aligned (a row pitch of d + 1 elements) on 64-head CTAs:
// q goes to shared memory through plain stores instead of asynchronous copies, and the
// outputs leave in 2-byte pieces (the warpgroup kernel on Hopper, mma.sync elsewhere).
TEST(NativePrefill, UnalignedQueryAndOutputRowsOnWideCtas) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t h : {64, 128}) {
    PrefillSpec s;
    s.h_q = h;
    s.s_q = 3;
    s.topk = 300;
    s.s_kv = 700;
    s.sink = true;
    auto c = make_prefill_case(s, rng);
    Tensor q(dt_bf16(), {s.s_q, h, s.d_qk}, {0, 0, 1});
    for (int64_t t = 0; t < s.s_q; ++t)
      for (int64_t hh = 0; hh < h; ++hh)
        for (int64_t x = 0; x < s.d_qk; ++x)
          q.at<uint16_t>({t, hh, x}) = c->q.at<uint16_t>({t, hh, x});
    c->q = q;
    c->out = Tensor(dt_bf16(), {s.s_q, h, 512}, {0, 0, 1});
    poison(c->out);
    GpuContext gpu;
    const PrefillOutputs n =
        run_prefill(gpu.get(), *c, MLA_BACKEND_NATIVE, "native-" MLA_TEST_VENDOR);
    EXPECT_TRUE(check_prefill(*c, n.out, n.max_logits, n.lse)) << "h " << h;
  }
}

namespace {

// The mma.sync kernels (the sm_80-89 path) with MLA_DISABLE_WGMMA set, for heads h576 at d_qk 576
// and h512 at 512: on Hopper other kernels take those CTAs by default.
void check_mma_sync_kernels(int64_t h576, int64_t h512) {
  ScopedEnv off("MLA_DISABLE_WGMMA", "1");
  Rng rng(fresh_seed());
  for (int64_t d : {576, 512}) {
    PrefillSpec s;
    s.h_q = d == 576 ? h576 : h512;
    s.d_qk = d;
    s.s_q = 3;
    s.topk = 700;
    s.s_kv = 1200;
    s.sink = true;
    s.lengths = true;
    auto c = make_prefill_case(s, rng);
    check_native(*c);
  }
}

}  // namespace

// 64-head CTAs: the warpgroup (wgmma) kernel on Hopper.
TEST(NativePrefill, MmaSyncWideKernelsWithWgmmaDisabled) {
  MLA_REQUIRE_GPU();
  check_mma_sync_kernels(128, 40);
}

// 16-head CTAs: the fragment kernel (fragment_decode_kernel.h, bf16 rows) on Hopper.
TEST(NativePrefill, MmaSyncNarrowKernelsWithWgmmaDisabled) {
  MLA_REQUIRE_GPU();
  check_mma_sync_kernels(16, 5);
}

TEST(NativePrefill, CompareModeAgreesWithTheReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  PrefillSpec s;
  s.h_q = 64;
  s.s_q = 5;
  s.topk = 384;
  s.s_kv = 999;
  s.sink = true;
  s.lengths = true;
  auto c = make_prefill_case(s, rng);
  GpuContext gpu;
  const PrefillOutputs r =
      run_prefill(gpu.get(), *c, MLA_BACKEND_COMPARE,
                  "compare(native-" MLA_TEST_VENDOR " vs reference-" MLA_TEST_VENDOR ")");
  EXPECT_TRUE(check_prefill(*c, r.out, r.max_logits, r.lse));
}
