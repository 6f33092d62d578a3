// Contexts, backends chosen by environment variables, versions and status strings.
#include <cstdlib>
#include <string>

#include "host_context.h"

using namespace mlatest;

TEST(Context, VersionsAndStatusStrings) {
  EXPECT_EQ(mla_get_api_version(), MLA_API_VERSION);
  const std::string v = mla_get_version_string();
  EXPECT_EQ(v.rfind(std::to_string(MLA_VERSION_MAJOR) + "." + std::to_string(MLA_VERSION_MINOR), 0), 0u) << v;
  for (int s = 0; s <= MLA_STATUS_INTERNAL; ++s)
    EXPECT_STRNE(mla_status_string(mla_status(s)), "unknown status") << s;
  EXPECT_STREQ(mla_status_string(mla_status(99)), "unknown status");
}

TEST(Context, CpuContextRunsHost) {
  mla_context ctx = nullptr;
  ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS);
  int32_t dev = 7;
  EXPECT_EQ(mla_context_get_device(ctx, &dev), MLA_STATUS_SUCCESS);
  EXPECT_EQ(dev, MLA_DEVICE_CPU);
  mla_backend b;
  EXPECT_EQ(mla_context_set_backend(ctx, MLA_BACKEND_HOST), MLA_STATUS_SUCCESS);
  EXPECT_EQ(mla_context_get_backend(ctx, &b), MLA_STATUS_SUCCESS);
  EXPECT_EQ(b, MLA_BACKEND_HOST);
  EXPECT_EQ(mla_context_set_backend(ctx, mla_backend(17)), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(mla_context_destroy(ctx), MLA_STATUS_SUCCESS);
}

TEST(Context, BadDeviceOrdinals) {
  mla_context ctx = nullptr;
  EXPECT_EQ(mla_context_create(-2, &ctx), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_EQ(mla_context_create(mla_device_count() + 3, &ctx), MLA_STATUS_NO_DEVICE);
  EXPECT_NE(std::string(mla_last_error()).find("device"), std::string::npos);
  EXPECT_EQ(mla_context_create(0, nullptr), MLA_STATUS_INVALID_ARGUMENT);
}

TEST(Context, EnvironmentSelectsBackendAndRejectsTypos) {
  {
    ScopedEnv e("MLA_BACKEND", "reference");
    mla_context ctx = nullptr;
    ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS);
    mla_backend b;
    mla_context_get_backend(ctx, &b);
    EXPECT_EQ(b, MLA_BACKEND_REFERENCE);
    mla_context_destroy(ctx);
  }
  {
    ScopedEnv e("MLA_BACKEND", "fastest");
    mla_context ctx = nullptr;
    EXPECT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(mla_last_error()).find("MLA_BACKEND"), std::string::npos);
  }
  {
    ScopedEnv e("MLA_COMPARE", "loud");
    mla_context ctx = nullptr;
    EXPECT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_INVALID_ARGUMENT);
    EXPECT_NE(std::string(mla_last_error()).find("MLA_COMPARE"), std::string::npos);
  }
  {
    ScopedEnv e("MLA_NUM_THREADS", "0");
    mla_context ctx = nullptr;
    EXPECT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_INVALID_ARGUMENT);
  }
}

TEST(Context, BadLogLevelIsAnErrorAtCreation) {
  ScopedEnv e("MLA_LOG_LEVEL", "verbose");
  mla_context ctx = nullptr;
  EXPECT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_NE(std::string(mla_last_error()).find("MLA_LOG_LEVEL='verbose'"), std::string::npos)
      << mla_last_error();
  for (const char* good : {"off", "debug", "3", ""}) {
    ScopedEnv g("MLA_LOG_LEVEL", good);
    ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS) << good;
    mla_context_destroy(ctx);
  }
}

TEST(Context, DeviceBackendOnACpuContextWarns) {
  for (const char* asked : {"compare", "native", "reference"}) {
    ScopedEnv e("MLA_BACKEND", asked);
    mla_context ctx = nullptr;
    testing::internal::CaptureStderr();
    ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS);
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find(std::string("MLA_BACKEND=") + asked + " is ignored by CPU contexts"),
              std::string::npos)
        << err;
    mla_context_destroy(ctx);
  }
  for (const char* quiet : {"host", "auto"}) {
    ScopedEnv e("MLA_BACKEND", quiet);
    mla_context ctx = nullptr;
    testing::internal::CaptureStderr();
    ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS);
    EXPECT_EQ(testing::internal::GetCapturedStderr(), "") << quiet;
    mla_context_destroy(ctx);
  }
}

TEST(Context, HostWorkspaceScalesWithThreads) {
  ScopedEnv e("MLA_NUM_THREADS", "3");
  mla_context ctx = nullptr;
  ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &ctx), MLA_STATUS_SUCCESS);
  ScopedEnv e1("MLA_NUM_THREADS", "1");
  mla_context one = nullptr;
  ASSERT_EQ(mla_context_create(MLA_DEVICE_CPU, &one), MLA_STATUS_SUCCESS);
  // Any valid prefill shape: the host scratch does not depend on it.
  Tensor q(dt_bf16(), {1, 1, 512}), kv(dt_bf16(), {1, 1, 512}), idx(dt_i32(), {1, 1, 1});
  Tensor out(dt_bf16(), {1, 1, 512}), ml(dt_f32(), {1, 1}), lse(dt_f32(), {1, 1});
  mla_sparse_prefill_args a{q.ptr(), kv.ptr(), idx.ptr(), nullptr, nullptr, 0.0f, out.ptr(),
                            ml.ptr(), lse.ptr()};
  size_t three = 0, single = 0;
  ASSERT_EQ(mla_sparse_prefill_workspace_size(ctx, &a, &three), MLA_STATUS_SUCCESS);
  ASSERT_EQ(mla_sparse_prefill_workspace_size(one, &a, &single), MLA_STATUS_SUCCESS);
  EXPECT_EQ(three, 3 * single);
  mla_context_destroy(ctx);
  mla_context_destroy(one);
}

TEST(Context, MemoryHelpersOnCpu) {
  HostContext ctx;
  void* p = nullptr;
  ASSERT_EQ(mla_malloc(ctx.get(), 100, &p), MLA_STATUS_SUCCESS);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  const char src[4] = {1, 2, 3, 4};
  char dst[4] = {};
  EXPECT_EQ(mla_memcpy_to_device(ctx.get(), p, src, 4), MLA_STATUS_SUCCESS);
  EXPECT_EQ(mla_memcpy_to_host(ctx.get(), dst, p, 4), MLA_STATUS_SUCCESS);
  EXPECT_EQ(std::memcmp(src, dst, 4), 0);
  EXPECT_EQ(mla_stream_synchronize(ctx.get(), nullptr), MLA_STATUS_SUCCESS);
  EXPECT_EQ(mla_free(ctx.get(), p), MLA_STATUS_SUCCESS);
  EXPECT_EQ(mla_malloc(ctx.get(), 1, nullptr), MLA_STATUS_INVALID_ARGUMENT);
}
