// Device backends (reference and native) of the indexer logits and top-k against the float64
// reference, the exact top-k contract and the host backend on the same inputs. Skips where no
// GPU exists.
#include "device_mirror.h"
#include "host_context.h"
#include "indexer_case_lists.h"

using namespace mlatest;

namespace {

const mla_backend kDeviceBackends[] = {MLA_BACKEND_REFERENCE, MLA_BACKEND_NATIVE};

// "native-cuda", "reference-hip", ...: the part that names the backend.
const char* expected_backend(mla_backend b) {
  return b == MLA_BACKEND_NATIVE ? "native-" : "reference-";
}
bool served_by(mla_backend b) {
  return std::string(mla_last_backend()).rfind(expected_backend(b), 0) == 0;
}

template <class Args, class SizeFn, class RunFn>
mla_status run_with_workspace(mla_context ctx, const Args& a, SizeFn size, RunFn run) {
  size_t bytes = 0;
  const mla_status s = size(ctx, &a, &bytes);
  if (s != MLA_STATUS_SUCCESS) return s;
  DeviceBuffer ws(ctx, bytes);
  return run(ctx, &a, ws.get(), bytes, nullptr);
}

mla_status run_logits(mla_context ctx, const mla_indexer_logits_args& a) {
  return run_with_workspace(ctx, a, mla_indexer_logits_workspace_size, mla_indexer_logits);
}
mla_status run_paged(mla_context ctx, const mla_indexer_paged_logits_args& a) {
  return run_with_workspace(ctx, a, mla_indexer_paged_logits_workspace_size,
                            mla_indexer_paged_logits);
}
mla_status run_topk(mla_context ctx, const mla_indexer_topk_args& a) {
  return run_with_workspace(ctx, a, mla_indexer_topk_workspace_size, mla_indexer_topk);
}

// Device copies of a case's tensors, with the arguments pointed at them.
struct RaggedOnDevice {
  RaggedOnDevice(mla_context ctx, RaggedCase& c)
      : q(ctx, c.q),
        k(ctx, c.k),
        scale(ctx, c.k_scale),
        w(ctx, c.weights),
        ks(ctx, c.k_start),
        ke(ctx, c.k_end),
        out(ctx, c.logits) {
    args = c.args();
    args.q = q.ptr(), args.k = k.ptr(), args.k_scale = scale.ptr(), args.weights = w.ptr();
    args.k_start = ks.ptr(), args.k_end = ke.ptr(), args.logits = out.ptr();
  }
  DeviceTensor q, k, scale, w, ks, ke, out;
  mla_indexer_logits_args args;
};

struct PagedOnDevice {
  PagedOnDevice(mla_context ctx, PagedCase& c)
      : q(ctx, c.q),
        w(ctx, c.weights),
        len(ctx, c.context_lens),
        bt(ctx, c.block_table),
        out(ctx, c.logits),
        cache(ctx, c.cache.size()),
        cache_desc(c.cache_desc) {
    EXPECT_EQ(mla_memcpy_to_device(ctx, cache.get(), c.cache.data(), c.cache.size()),
              MLA_STATUS_SUCCESS);
    cache_desc.data = cache.get();
    args = c.args();
    args.q = q.ptr(), args.kv_cache = &cache_desc, args.weights = w.ptr();
    args.context_lens = len.ptr(), args.block_table = bt.ptr(), args.logits = out.ptr();
  }
  DeviceTensor q, w, len, bt, out;
  DeviceBuffer cache;
  mla_tensor cache_desc;
  mla_indexer_paged_logits_args args;
};

struct TopkOnDevice {
  TopkOnDevice(mla_context ctx, TopkCase& c)
      : logits(ctx, c.logits), indices(ctx, c.indices), raw(ctx, c.raw) {
    if (c.spec.starts) starts = std::make_unique<DeviceTensor>(ctx, c.starts);
    if (c.spec.lengths != TopkLengths::None)
      lengths = std::make_unique<DeviceTensor>(ctx, c.lengths);
    if (c.spec.page_table) table = std::make_unique<DeviceTensor>(ctx, c.page_table);
    args = c.args();
    args.logits = logits.ptr(), args.indices = indices.ptr();
    args.raw_indices = c.spec.raw ? raw.ptr() : nullptr;
    args.starts = starts ? starts->ptr() : nullptr;
    args.lengths = lengths ? lengths->ptr() : nullptr;
    args.page_table = table ? table->ptr() : nullptr;
  }
  DeviceTensor logits, indices, raw;
  std::unique_ptr<DeviceTensor> starts, lengths, table;
  mla_indexer_topk_args args;
};

}  // namespace

class RaggedLogitsGpuSweep : public ::testing::TestWithParam<RaggedSpec> {};

TEST_P(RaggedLogitsGpuSweep, DeviceMatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_ragged_case(GetParam(), rng);
  HostContext host;
  Tensor host_out = c->logits;
  auto ha = c->args();
  ha.logits = host_out.ptr();
  size_t bytes = 0;
  ASSERT_EQ(mla_indexer_logits_workspace_size(host.get(), &ha, &bytes), MLA_STATUS_SUCCESS);
  Bytes ws(bytes);
  ASSERT_EQ(mla_indexer_logits(host.get(), &ha, ws.data(), bytes, nullptr), MLA_STATUS_SUCCESS);
  GpuContext gpu;
  for (mla_backend b : kDeviceBackends) {
    ASSERT_EQ(mla_context_set_backend(gpu.get(), b), MLA_STATUS_SUCCESS);
    RaggedOnDevice d(gpu.get(), *c);
    ASSERT_EQ(run_logits(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(served_by(b)) << mla_last_backend();
    Tensor out = c->logits;
    d.out.download(out);
    EXPECT_TRUE(check_logits(c->ref, out, kDeviceLogitsTol)) << expected_backend(b);
    EXPECT_TRUE(same_logits(c->ref, out, host_out, 2 * kDeviceLogitsTol)) << expected_backend(b);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, RaggedLogitsGpuSweep, ::testing::ValuesIn(ragged_sweep()),
                         [](const auto& info) { return info.param.name(); });

class PagedLogitsGpuSweep : public ::testing::TestWithParam<PagedSpec> {};

TEST_P(PagedLogitsGpuSweep, DeviceMatchesFloat64AndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_paged_case(GetParam(), rng);
  HostContext host;
  Tensor host_out = c->logits;
  auto ha = c->args();
  ha.logits = host_out.ptr();
  size_t bytes = 0;
  ASSERT_EQ(mla_indexer_paged_logits_workspace_size(host.get(), &ha, &bytes), MLA_STATUS_SUCCESS);
  Bytes ws(bytes);
  ASSERT_EQ(mla_indexer_paged_logits(host.get(), &ha, ws.data(), bytes, nullptr),
            MLA_STATUS_SUCCESS);
  GpuContext gpu;
  Tensor first;
  for (mla_backend b : kDeviceBackends) {
    ASSERT_EQ(mla_context_set_backend(gpu.get(), b), MLA_STATUS_SUCCESS);
    PagedOnDevice d(gpu.get(), *c);
    ASSERT_EQ(run_paged(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(served_by(b)) << mla_last_backend();
    Tensor out = c->logits;
    d.out.download(out);
    EXPECT_TRUE(check_logits(c->ref, out, kDeviceLogitsTol)) << expected_backend(b);
    EXPECT_TRUE(same_logits(c->ref, out, host_out, 2 * kDeviceLogitsTol)) << expected_backend(b);
    // Run to run, bit for bit.
    ASSERT_EQ(run_paged(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    Tensor again = c->logits;
    d.out.download(again);
    EXPECT_TRUE(unchanged(out.bytes, again.bytes)) << expected_backend(b);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, PagedLogitsGpuSweep, ::testing::ValuesIn(paged_sweep()),
                         [](const auto& info) { return info.param.name(); });

class TopkGpuSweep : public ::testing::TestWithParam<TopkSpec> {};

TEST_P(TopkGpuSweep, DeviceIsExactAndEqualsHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_topk_case(GetParam(), rng);
  GpuContext gpu;
  for (mla_backend b : kDeviceBackends) {
    ASSERT_EQ(mla_context_set_backend(gpu.get(), b), MLA_STATUS_SUCCESS);
    TopkOnDevice d(gpu.get(), *c);
    ASSERT_EQ(run_topk(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    EXPECT_TRUE(served_by(b)) << mla_last_backend();
    Tensor indices = c->indices, raw = c->raw;
    d.indices.download(indices);
    d.raw.download(raw);
    EXPECT_TRUE(check_topk(*c, indices, raw)) << expected_backend(b);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, TopkGpuSweep, ::testing::ValuesIn(topk_sweep()),
                         [](const auto& info) { return info.param.name(); });

// The benchmark shape: 128 rows of 65536 logits, K = 2048, with ties and NaN, plus
// rows whose threshold bin overflows the shared candidate list.
TEST(IndexerTopkGpu, ProductionShapeEqualsHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (TopkValues v : {TopkValues::Random, TopkValues::Ties, TopkValues::Special}) {
    TopkSpec s;
    s.rows = 128, s.cols = 65536, s.k = 2048, s.values = v, s.lengths = TopkLengths::Causal;
    s.next_n = 2, s.page_table = true, s.table_per_request = true, s.raw = true;
    auto c = make_topk_case(s, rng);
    HostContext host;
    Tensor hi = c->indices, hr = c->raw;
    auto ha = c->args();
    ha.indices = hi.ptr(), ha.raw_indices = hr.ptr();
    ASSERT_EQ(mla_indexer_topk(host.get(), &ha, nullptr, 0, nullptr), MLA_STATUS_SUCCESS);
    GpuContext gpu;
    ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_NATIVE), MLA_STATUS_SUCCESS);
    TopkOnDevice d(gpu.get(), *c);
    ASSERT_EQ(run_topk(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
    Tensor indices = c->indices, raw = c->raw;
    d.indices.download(indices);
    d.raw.download(raw);
    EXPECT_TRUE(unchanged(hi.bytes, indices.bytes)) << "indices differ from host";
    EXPECT_TRUE(unchanged(hr.bytes, raw.bytes)) << "raw indices differ from host";
  }
}

// The V3.2 decode shape at a reduced context: native against the device reference.
TEST(IndexerLogitsGpu, DecodeShapeNativeEqualsReference) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  for (int64_t next_n : {1, 2}) {
    PagedSpec s;
    s.b = 128, s.next_n = next_n, s.h = 64, s.d = 128, s.max_context = 1000;
    auto c = make_paged_case(s, rng);
    GpuContext gpu;
    Tensor out[2];
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(mla_context_set_backend(gpu.get(), kDeviceBackends[i]), MLA_STATUS_SUCCESS);
      PagedOnDevice d(gpu.get(), *c);
      ASSERT_EQ(run_paged(gpu.get(), d.args), MLA_STATUS_SUCCESS) << mla_last_error();
      out[i] = c->logits;
      d.out.download(out[i]);
    }
    EXPECT_TRUE(check_logits(c->ref, out[1], kDeviceLogitsTol)) << "next_n " << next_n;
    EXPECT_TRUE(same_logits(c->ref, out[1], out[0], 2 * kDeviceLogitsTol)) << "next_n " << next_n;
  }
}

TEST(IndexerGpu, CompareModeRunsBothBackends) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto pc = make_paged_case(PagedSpec{}, rng);
  TopkSpec ts;
  ts.page_table = true, ts.raw = true;
  auto tc = make_topk_case(ts, rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_COMPARE), MLA_STATUS_SUCCESS);
  PagedOnDevice pd(gpu.get(), *pc);
  ASSERT_EQ(run_paged(gpu.get(), pd.args), MLA_STATUS_SUCCESS) << mla_last_error();
  EXPECT_NE(std::string(mla_last_backend()).find("compare"), std::string::npos);
  TopkOnDevice td(gpu.get(), *tc);
  ASSERT_EQ(run_topk(gpu.get(), td.args), MLA_STATUS_SUCCESS) << mla_last_error();
  Tensor indices = tc->indices, raw = tc->raw;
  td.indices.download(indices);
  td.raw.download(raw);
  EXPECT_TRUE(check_topk(*tc, indices, raw));
}
