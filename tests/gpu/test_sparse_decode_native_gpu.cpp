// The native sparse decode (src/common/attention) on the device: against the float64
// reference and the device reference on the same inputs, over a case matrix wider than the
// reference's (every head count engines use, top-k widths that are not multiples of 64, MTP
// query rows, both formats and flavours, extra cache, sinks, lengths, strides, invalid indices
// of any int32 value, NaN in unused slots); the split-and-combine path; determinism; batch
// invariance. Skips where no GPU exists.
#include "attention_cases.h"
#include "decode_on_device.h"
#include "device_mirror.h"

using namespace mlatest;

namespace {

std::vector<DecodeSpec> native_sweep() {
  const int64_t heads[] = {1, 3, 8, 16, 32, 64, 96, 128};
  const int64_t topks[] = {1, 7, 64, 100, 2048};
  const int64_t pages[] = {1, 2, 53, 64, 256};
  std::vector<DecodeSpec> out;
  // Case k takes each dimension's value from k modulo a different period (see case_lists.cpp).
  for (int k = 0; k < 80; ++k) {
    DecodeSpec s;
    s.format = (k % 2 == 0) ? MLA_KV_FORMAT_V32 : MLA_KV_FORMAT_V40;
    s.fnuz = (k / 2) % 2 == 1;
    s.h_q = heads[k % 8];
    s.topk = topks[(k / 3) % 5];
    s.page_size = pages[(k / 2) % 5];
    s.s_q = 1 + (k / 5) % 4;
    s.extra = k % 4 >= 2;
    s.extra_topk = topks[(k / 7) % 5] == 2048 ? 512 : topks[(k / 7) % 5];
    s.extra_page_size = pages[(k / 11) % 5];
    s.sink = k % 5 >= 2;
    s.lengths = (k / 4) % 2 == 1;
    s.strided = k % 7 >= 4;
    s.default_scale = k % 13 == 3;
    s.empty_row = k % 6 == 5;
    s.b = 2;
    // Keep the float64 reference affordable: at most 128 heads x 2048 keys x 4 rows.
    while (s.b * s.s_q * s.h_q * (s.topk + (s.extra ? s.extra_topk : 0)) > 128 * 2600 * 4) {
      if (s.s_q > 1) {
        --s.s_q;
      } else {
        s.b = 1;
        break;
      }
    }
    out.push_back(s);
  }
  return out;
}

// Rows long enough to be split across CTAs (decode_plan.h: more than 512 keys at 16 heads per
// CTA, 1024 at 64), with ranges that are wholly invalid or beyond the lengths.
std::vector<DecodeSpec> split_cases() {
  std::vector<DecodeSpec> out;
  auto add = [&](int format, bool fnuz, int64_t h, int64_t topk, int64_t extra, bool lengths,
                 std::vector<int32_t> fixed_len, double invalid) {
    DecodeSpec s;
    s.format = format;
    s.fnuz = fnuz;
    s.h_q = h;
    s.topk = topk;
    s.extra = extra > 0;
    s.extra_topk = extra > 0 ? extra : 64;
    s.page_size = 64;
    s.extra_page_size = 53;
    s.s_q = 2;
    s.b = 2;
    s.sink = true;
    s.lengths = lengths;
    s.fixed_len = std::move(fixed_len);
    s.invalid_rate = invalid;
    out.push_back(s);
  };
  add(MLA_KV_FORMAT_V32, false, 16, 2048, 0, false, {}, 0.15);       // 4 ranges of 512
  add(MLA_KV_FORMAT_V32, true, 64, 2048, 512, false, {}, 0.15);      // 3 ranges of 896
  add(MLA_KV_FORMAT_V40, false, 8, 128, 1024, true, {}, 0.15);       // main + extra split
  add(MLA_KV_FORMAT_V40, true, 128, 1300, 0, true, {5, 1300}, 0.3);  // trailing ranges empty
  add(MLA_KV_FORMAT_V32, false, 3, 700, 0, false, {}, 1.0);          // every key invalid
  add(MLA_KV_FORMAT_V40, false, 16, 520, 0, true, {0, 513}, 0.0);    // one key in range 2
  return out;
}

// A 64-head-CTA case of the tests below: MTP rows, sink, lengths, an extra cache of another
// page size when `extra`.
DecodeSpec wide_spec(int format, int64_t h, int64_t topk, bool extra) {
  DecodeSpec s;
  s.format = format;
  s.h_q = h;
  s.topk = topk;
  s.extra = extra;
  s.extra_topk = 512;
  s.extra_page_size = 53;
  s.sink = true;
  s.lengths = true;
  s.s_q = 2;
  return s;
}

Tensor downloaded(const DeviceTensor& d, const Tensor& like) {
  Tensor t = like;
  d.download(t);
  return t;
}

// Native on the device against float64 (unless the cache was changed after the case was
// made: with_float64 false), and against the device reference on the same inputs.
void check_native(DecodeCase& c, bool with_float64 = true) {
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
  DecodeOnDevice d(gpu.get(), c);
  ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  ASSERT_STREQ(mla_last_backend(), "native-" MLA_TEST_VENDOR);
  const Tensor out = downloaded(d.out, c.out), lse = downloaded(d.lse, c.lse);
  if (with_float64) {
    EXPECT_TRUE(check_decode(c, out, lse));
  }

  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DecodeOnDevice r(gpu.get(), c);
  ASSERT_EQ(gpu_decode(gpu.get(), r.args), MLA_STATUS_SUCCESS) << mla_last_error();
  const Tensor ref_out = downloaded(r.out, c.out), ref_lse = downloaded(r.lse, c.lse);
  Checker co("native vs reference out", kDecodeOut), cl("native vs reference lse", kDecodeLse);
  for (int64_t i = 0; i < c.spec.b; ++i)
    for (int64_t s = 0; s < c.spec.s_q; ++s)
      for (int64_t h = 0; h < c.spec.h_q; ++h) {
        auto where = [&] {
          return "[" + std::to_string(i) + "," + std::to_string(s) + "," + std::to_string(h) + "]";
        };
        for (int64_t x = 0; x < 512; ++x)
          co.add(bf16_value(out.at<uint16_t>({i, s, h, x})),
                 bf16_value(ref_out.at<uint16_t>({i, s, h, x})),
                 [&] { return where() + "[" + std::to_string(x) + "]"; });
        cl.add(double(lse.at<float>({i, h, s})), double(ref_lse.at<float>({i, h, s})), where);
      }
  EXPECT_TRUE(co.result());
  EXPECT_TRUE(cl.result());
}

}  // namespace

class NativeDecodeSweep : public ::testing::TestWithParam<DecodeSpec> {};

TEST_P(NativeDecodeSweep, MatchesFloat64AndTheDeviceReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_decode_case(GetParam(), rng);
  check_native(*c);
}

// The case matrix, and rows long enough to be split (the split-and-combine path).
INSTANTIATE_TEST_SUITE_P(Spec, NativeDecodeSweep, ::testing::ValuesIn(native_sweep()),
                         [](const auto& info) {
                           return info.param.name() + "_" + std::to_string(info.index);
                         });
INSTANTIATE_TEST_SUITE_P(Split, NativeDecodeSweep, ::testing::ValuesIn(split_cases()),
                         [](const auto& info) {
                           return info.param.name() + "_" + std::to_string(info.index);
                         });

TEST(NativeDecode, DeterministicOverTwentyRuns) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t h : {16, 64, 128}) {  // 128: the cluster pairs (warpgroup_pair_keys.h)
    DecodeSpec s;
    s.h_q = h;
    s.topk = 2048;
    s.extra = true;
    s.extra_topk = 512;
    s.s_q = 2;
    s.sink = true;
    auto c = make_decode_case(s, rng);
    GpuContext gpu;
    DecodeOnDevice d(gpu.get(), *c);
    Tensor first_out, first_lse;
    for (int run = 0; run < 20; ++run) {
      ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
      const Tensor out = downloaded(d.out, c->out), lse = downloaded(d.lse, c->lse);
      if (run == 0) {
        first_out = out, first_lse = lse;
        EXPECT_TRUE(check_decode(*c, out, lse));
        continue;
      }
      ASSERT_TRUE(unchanged(first_out.bytes, out.bytes)) << "h " << h << " run " << run;
      ASSERT_TRUE(unchanged(first_lse.bytes, lse.bytes)) << "h " << h << " run " << run;
    }
  }
}

// A request alone gives the same bits as inside a batch of 64 (the plan never depends on the
// batch, decode_plan.h), with and without split rows.
TEST(NativeDecode, BatchInvariant) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t topk : {300, 1500, 1100}) {
    DecodeSpec s;
    s.format = topk > 1000 ? MLA_KV_FORMAT_V32 : MLA_KV_FORMAT_V40;
    s.b = 64;
    s.s_q = 2;
    s.h_q = topk == 1100 ? 128 : topk > 1000 ? 16 : 64;  // 128: the cluster pairs
    s.topk = topk;
    s.extra = true;
    s.extra_topk = 64;
    s.lengths = true;
    s.sink = true;
    auto c = make_decode_case(s, rng);
    GpuContext gpu;
    DecodeOnDevice d(gpu.get(), *c);
    ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    const Tensor out = downloaded(d.out, c->out), lse = downloaded(d.lse, c->lse);
    for (int64_t r : {int64_t(0), int64_t(17), int64_t(63)}) {
      mla_sparse_decode_args a = d.args;
      const mla_tensor q = request_view(d.q.desc, r), idx = request_view(d.idx.desc, r);
      const mla_tensor len = request_view(d.len->desc, r), eidx = request_view(d.eidx->desc, r);
      const mla_tensor elen = request_view(d.elen->desc, r);
      Tensor one_out(dt_bf16(), {1, s.s_q, s.h_q, 512}), one_lse(dt_f32(), {1, s.h_q, s.s_q});
      poison(one_out);
      poison(one_lse);
      DeviceTensor dev_out(gpu.get(), one_out), dev_lse(gpu.get(), one_lse);
      a.q = &q, a.indices = &idx, a.topk_length = &len, a.extra_indices = &eidx;
      a.extra_topk_length = &elen, a.out = dev_out.ptr(), a.lse = dev_lse.ptr();
      ASSERT_EQ(gpu_decode(gpu.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
      dev_out.download(one_out);
      dev_lse.download(one_lse);
      for (int64_t si = 0; si < s.s_q; ++si)
        for (int64_t h = 0; h < s.h_q; ++h) {
          ASSERT_EQ(one_lse.at<uint32_t>({0, h, si}), lse.at<uint32_t>({r, h, si}))
              << "request " << r << " row " << si << " head " << h;
          for (int64_t x = 0; x < 512; ++x)
            ASSERT_EQ(one_out.at<uint16_t>({0, si, h, x}), out.at<uint16_t>({r, si, h, x}))
                << "request " << r << " row " << si << " head " << h << " col " << x;
        }
    }
  }
}

// Hopper, 65-128 heads: the two head tiles of a row run as a cluster of two CTAs that share the
// keys' loads and dequantization (warpgroup_dequant_kernel.h; the default), with the values and
// the order of every sum of one CTA per head tile (MLA_CLUSTER_PAIR=0): the same bits, split rows
// and extra cache included (elsewhere both runs take the same kernel). MLA_CLUSTER_PAIR=1 forces
// the pairs, so that a device that refused them fails here rather than passing on the other path.
TEST(NativeDecode, ClusterPairsGiveTheBitsOfOneCtaPerHeadTile) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (DecodeSpec s : {wide_spec(MLA_KV_FORMAT_V32, 128, 2048, false),
                       wide_spec(MLA_KV_FORMAT_V40, 128, 128, true),
                       wide_spec(MLA_KV_FORMAT_V40, 96, 700, false)}) {
    s.b = 5;
    auto c = make_decode_case(s, rng);
    GpuContext gpu;
    DecodeOnDevice d(gpu.get(), *c);
    Tensor out, lse;
    {  // One CTA per head tile, then the pairs.
      ScopedEnv off("MLA_CLUSTER_PAIR", "0");
      ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
      out = downloaded(d.out, c->out), lse = downloaded(d.lse, c->lse);
    }
    ScopedEnv on("MLA_CLUSTER_PAIR", "1");
    check_native(*c);  // the pairs against float64 and the device reference
    Tensor pair_out = c->out, pair_lse = c->lse;
    poison(pair_out);
    poison(pair_lse);
    DeviceTensor dev_out(gpu.get(), pair_out), dev_lse(gpu.get(), pair_lse);
    mla_sparse_decode_args a = d.args;
    a.out = dev_out.ptr(), a.lse = dev_lse.ptr();
    ASSERT_EQ(gpu_decode(gpu.get(), a), MLA_STATUS_SUCCESS) << mla_last_error();
    dev_out.download(pair_out);
    dev_lse.download(pair_lse);
    for (int64_t r = 0; r < s.b; ++r)
      for (int64_t si = 0; si < s.s_q; ++si)
        for (int64_t h = 0; h < s.h_q; ++h) {
          ASSERT_EQ(pair_lse.at<uint32_t>({r, h, si}), lse.at<uint32_t>({r, h, si}))
              << "h_q " << s.h_q << " request " << r << " row " << si << " head " << h;
          for (int64_t x = 0; x < 512; ++x)
            ASSERT_EQ(pair_out.at<uint16_t>({r, si, h, x}), out.at<uint16_t>({r, si, h, x}))
                << "h_q " << s.h_q << " request " << r << " row " << si << " head " << h << " col "
                << x;
        }
  }
}

namespace {

// The cluster pairs of MLA_PAIR_KERNEL=`kernel`, forced: against float64 and the device
// reference, over both formats and flavours, 96 and 128 heads, split rows, extra caches,
// lengths (zero included), invalid indices and a row with every key invalid.
void check_pair_kernel(const char* kernel) {
  ScopedEnv on("MLA_CLUSTER_PAIR", "1"), which("MLA_PAIR_KERNEL", kernel);
  Rng rng(fresh_seed());
  std::vector<DecodeSpec> specs = {
      wide_spec(MLA_KV_FORMAT_V32, 128, 2048, false), wide_spec(MLA_KV_FORMAT_V40, 128, 128, true),
      wide_spec(MLA_KV_FORMAT_V40, 96, 700, false), wide_spec(MLA_KV_FORMAT_V32, 128, 100, false)};
  specs[0].b = 5;  // 10 rows: split (the combine)
  specs[1].b = 16;
  specs[1].fnuz = true;
  specs[2].fixed_len = {0, 513};  // an empty row; a range past the length
  specs[2].invalid_rate = 0.3;
  specs[3].invalid_rate = 1.0;  // every key invalid
  specs[3].fnuz = true;
  for (const DecodeSpec& s : specs) {
    auto c = make_decode_case(s, rng);
    check_native(*c);
  }
}

}  // namespace

// A producer warpgroup per CTA (warpgroup_pair_keys.h on warpgroup_attention_kernel.h).
TEST(NativeDecode, ProducerClusterPairsMatchFloat64) {
  MLA_REQUIRE_GPU();
  check_pair_kernel("producer");
}

// The same producer with the consumers split as FlashMLA splits them
// (warpgroup_split_kernel.h: one leader holds the softmax).
TEST(NativeDecode, SplitConsumerClusterPairsMatchFloat64) {
  MLA_REQUIRE_GPU();
  check_pair_kernel("split");
}

// The mma.sync kernels of 64-head CTAs (the sm_80-89 path): on Hopper the warpgroup (wgmma)
// kernels take those CTAs unless MLA_DISABLE_WGMMA is set.
TEST(NativeDecode, MmaSyncWideKernelsWithWgmmaDisabled) {
  MLA_REQUIRE_GPU();
  ScopedEnv off("MLA_DISABLE_WGMMA", "1");
  Rng rng(fresh_seed());
  for (const DecodeSpec& s :
       {wide_spec(MLA_KV_FORMAT_V32, 64, 2048, false), wide_spec(MLA_KV_FORMAT_V40, 128, 128, true),
        wide_spec(MLA_KV_FORMAT_V40, 96, 700, false)}) {
    auto c = make_decode_case(s, rng);
    check_native(*c);
  }
}

// A NaN code in a key that rows attend makes those rows NaN, as the SPEC's dequantization
// does (out and lse, every head), and leaves the other rows alone: both formats and flavours,
// 16 heads (fragment_decode_kernel.h on Hopper: V4.0 tests the codes, V3.2 converts them) and
// 64 (the warpgroup kernels). Against the device reference; NaN positions must match.
TEST(NativeDecode, NanCodesOfAnAttendedKeyMatchTheReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int format : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40})
    for (bool fnuz : {false, true})
      for (int64_t h : {16, 64}) {
        DecodeSpec s = wide_spec(format, h, 100, false);
        s.fnuz = fnuz;
        s.lengths = false;
        s.invalid_rate = 0.0;
        auto c = make_decode_case(s, rng);
        const int64_t slot = c->idx.at<int32_t>({1, 0, 37});  // row (1, 0) attends it
        c->kv->bytes.data()[c->kv->nope_offset(slot) + 131] = fnuz ? 0x80 : 0x7F;
        SCOPED_TRACE(s.name());
        check_native(*c, false);
      }
}

// The mma.sync kernels of 16-head CTAs (the sm_80-89 path): on Hopper the fragment kernel
// (fragment_decode_kernel.h) takes those CTAs unless MLA_DISABLE_WGMMA is set. Split rows,
// extra cache, fnuz and a row with no valid key included.
TEST(NativeDecode, MmaSyncNarrowKernelsWithWgmmaDisabled) {
  MLA_REQUIRE_GPU();
  ScopedEnv off("MLA_DISABLE_WGMMA", "1");
  Rng rng(fresh_seed());
  DecodeSpec v32 = wide_spec(MLA_KV_FORMAT_V32, 16, 2048, false);
  DecodeSpec v40 = wide_spec(MLA_KV_FORMAT_V40, 8, 128, true);
  v40.fnuz = true;
  DecodeSpec few = wide_spec(MLA_KV_FORMAT_V32, 3, 100, false);
  few.empty_row = true;
  for (const DecodeSpec& s : {v32, v40, few}) {
    auto c = make_decode_case(s, rng);
    check_native(*c);
  }
}

// Compare mode on the native path: native into the caller's outputs, the device reference into
// copies, and MLA_COMPARE=fail semantics through the context.
TEST(NativeDecode, CompareModeAgreesWithTheReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  DecodeSpec s;
  s.format = MLA_KV_FORMAT_V40;
  s.h_q = 64;
  s.topk = 128;
  s.extra = true;
  s.extra_topk = 1024;
  s.sink = true;
  auto c = make_decode_case(s, rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_COMPARE), MLA_STATUS_SUCCESS);
  DecodeOnDevice d(gpu.get(), *c);
  ASSERT_EQ(gpu_decode(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_STREQ(mla_last_backend(),
               "compare(native-" MLA_TEST_VENDOR " vs reference-" MLA_TEST_VENDOR ")");
  EXPECT_TRUE(check_decode(*c, downloaded(d.out, c->out), downloaded(d.lse, c->lse)));
}
