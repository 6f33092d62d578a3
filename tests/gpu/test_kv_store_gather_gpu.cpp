// Device store and gather (every device backend) against the tests' own SPEC 2.4 bytes and the
// host backend: both must be bit-exact.
#include "device_mirror.h"
#include "host_context.h"
#include "kv_cases.h"

using namespace mlatest;

namespace {

std::vector<KvSpec> gpu_kv_specs() {
  std::vector<KvSpec> out;
  for (int f : {MLA_KV_FORMAT_V32, MLA_KV_FORMAT_V40})
    for (bool fnuz : {false, true})
      for (int64_t page : {1, 53, 64, 256}) {
        KvSpec s;
        s.format = f;
        s.fnuz = fnuz;
        s.page_size = page;
        s.rows = 700;
        s.wide_slots = page == 53;
        s.strided = page == 64;
        out.push_back(s);
      }
  return out;
}

const mla_backend kDeviceBackends[] = {MLA_BACKEND_REFERENCE, MLA_BACKEND_AUTO,
                                       MLA_BACKEND_COMPARE};

}  // namespace

class KvGpu : public ::testing::TestWithParam<KvSpec> {};

TEST_P(KvGpu, StoreAndGatherAreBitExact) {
  MLA_REQUIRE_GPU();
  Rng rng(fresh_seed());
  auto c = make_kv_case(GetParam(), rng);
  const Cache want = expected_store(*c);
  GpuContext gpu;
  for (mla_backend b : kDeviceBackends) {
    ASSERT_EQ(mla_context_set_backend(gpu.get(), b), MLA_STATUS_SUCCESS);
    DeviceCache cache(gpu.get(), *c->cache);  // all-NaN start
    DeviceTensor k(gpu.get(), c->k), slots(gpu.get(), c->slots);
    mla_kv_store_args a{k.ptr(), slots.ptr(), &cache.desc};
    ASSERT_EQ(mla_kv_store(gpu.get(), &a, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    Cache got = *c->cache;
    cache.download(got);
    ASSERT_TRUE(unchanged(want.bytes, got.bytes)) << "store, backend " << int(b);

    Tensor out(dt_bf16(), {c->spec.rows, c->d}, {0, 8});
    poison(out);
    DeviceTensor dout(gpu.get(), out);
    mla_kv_gather_args g{&cache.desc, slots.ptr(), dout.ptr()};
    ASSERT_EQ(mla_kv_gather(gpu.get(), &g, nullptr), MLA_STATUS_SUCCESS) << mla_last_error();
    dout.download(out);
    Tensor host_out(dt_bf16(), {c->spec.rows, c->d}, {0, 8});
    poison(host_out);
    HostContext host;
    mla_kv_gather_args hg{&got.desc, c->slots.ptr(), host_out.ptr()};
    ASSERT_EQ(mla_kv_gather(host.get(), &hg, nullptr), MLA_STATUS_SUCCESS);
    ASSERT_TRUE(unchanged(out.bytes, host_out.bytes)) << "gather, backend " << int(b);
  }
}

INSTANTIATE_TEST_SUITE_P(Spec, KvGpu, ::testing::ValuesIn(gpu_kv_specs()),
                         [](const auto& info) { return info.param.name(); });
