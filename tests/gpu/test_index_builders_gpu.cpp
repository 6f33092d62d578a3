// Device index builders against the SPEC 5 integers and against the host backend on the same
// inputs (exact). Skips where no GPU exists.
#include "device_view.h"
#include "host_context.h"
#include "index_builder_cases.h"

using namespace mlatest;

class SwaIdsGpuSweep : public ::testing::TestWithParam<SwaIdsSpec> {};

TEST_P(SwaIdsGpuSweep, DeviceEqualsSpecAndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_swa_ids_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DeviceView seq(gpu.get(), c->seq_lens), ext(gpu.get(), c->extend_lens),
      pool(gpu.get(), c->req_pool), rtt(gpu.get(), c->req_to_token), map(gpu.get(), c->full_to_swa),
      ids(gpu.get(), c->ids), off(gpu.get(), c->offsets), first(gpu.get(), c->first_pos),
      gather(gpu.get(), c->gather_lens);
  auto a = c->args();
  a.seq_lens = seq.ptr(), a.extend_seq_lens = ext.ptr(), a.req_pool_indices = pool.ptr();
  a.req_to_token = rtt.ptr(), a.full_to_swa = map.ptr(), a.swa_token_ids = ids.ptr();
  a.swa_offsets = off.ptr();
  a.swa_first_pos = c->spec.optional_outputs ? first.ptr() : nullptr;
  a.swa_gather_lens = c->spec.optional_outputs ? gather.ptr() : nullptr;
  ASSERT_EQ(mla_build_swa_token_ids(gpu.get(), &a, nullptr), MLA_STATUS_SUCCESS)
      << mla_last_error();
  const View d_ids = ids.download(), d_off = off.download(), d_first = first.download(),
             d_gather = gather.download();
  EXPECT_TRUE(c->check(d_ids, d_off, d_first, d_gather));

  HostContext host;
  const auto h = c->args();
  ASSERT_EQ(mla_build_swa_token_ids(host.get(), &h, nullptr), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(bytes_unchanged(c->ids, d_ids)) << "device ids differ from host";
  EXPECT_TRUE(bytes_unchanged(c->offsets, d_off)) << "device offsets differ from host";
}

INSTANTIATE_TEST_SUITE_P(Spec, SwaIdsGpuSweep, ::testing::ValuesIn(swa_ids_sweep()),
                         [](const auto& info) { return info.param.name(); });

namespace {

std::vector<CombineSpec> combine_gpu_sweep() {
  std::vector<CombineSpec> s = combine_sweep();
  CombineSpec many;  // more rows than the grid has blocks: the row loop strides
  many.seq = {70000};
  many.extend = {70000};
  many.ratio = 128;
  many.topk = 64;
  s.push_back(many);
  return s;
}

}  // namespace

class CombineGpuSweep : public ::testing::TestWithParam<CombineSpec> {};

TEST_P(CombineGpuSweep, DeviceEqualsSpecAndHost) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_combine_case(GetParam(), rng);
  GpuContext gpu;
  ASSERT_EQ(mla_context_set_backend(gpu.get(), MLA_BACKEND_REFERENCE), MLA_STATUS_SUCCESS);
  DeviceView topk(gpu.get(), c->topk), qs(gpu.get(), c->query_start), seq(gpu.get(), c->seq_lens),
      gather(gpu.get(), c->gather_lens), cbase(gpu.get(), c->compressed_base),
      sbase(gpu.get(), c->swa_base), out(gpu.get(), c->out), lens(gpu.get(), c->lens);
  auto a = c->args();
  if (a.topk_indices != nullptr) a.topk_indices = topk.ptr();
  if (a.compressed_base != nullptr) a.compressed_base = cbase.ptr();
  a.query_start_loc = qs.ptr(), a.seq_lens = seq.ptr(), a.gather_lens = gather.ptr();
  a.swa_base = sbase.ptr(), a.combined_indices = out.ptr(), a.combined_lens = lens.ptr();
  ASSERT_EQ(mla_combine_topk_swa_indices(gpu.get(), &a, nullptr), MLA_STATUS_SUCCESS)
      << mla_last_error();
  const View d_out = out.download(), d_lens = lens.download();
  EXPECT_TRUE(c->check(d_out, d_lens));

  HostContext host;
  const auto h = c->args();
  ASSERT_EQ(mla_combine_topk_swa_indices(host.get(), &h, nullptr), MLA_STATUS_SUCCESS);
  EXPECT_TRUE(bytes_unchanged(c->out, d_out)) << "device rows differ from host";
  EXPECT_TRUE(bytes_unchanged(c->lens, d_lens)) << "device lengths differ from host";
}

INSTANTIATE_TEST_SUITE_P(Spec, CombineGpuSweep, ::testing::ValuesIn(combine_gpu_sweep()),
                         [](const auto& info) { return info.param.name(); });
