// The host backend when the system refuses worker threads (a process or cgroup thread limit):
// the pool runs every task with the workers that did start and never terminates the process.
// First through the pool's start hook, then through the C API in a child process whose
// RLIMIT_NPROC lets only a few threads start.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "attention_cases.h"
#include "host/parallel.h"
#include "host_context.h"

using namespace mlatest;

namespace {

// Starts `allowed` workers, then fails the way std::thread does under a thread limit (or, with
// `bad_alloc`, the way it does without memory).
struct LimitedStart {
  int allowed;
  bool bad_alloc = false;
  std::atomic<int>* started;
  template <class Body>
  std::thread operator()(Body& body, int worker) const {
    if (started->load() == allowed) {
      if (bad_alloc) throw std::bad_alloc();
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                              "thread limit");
    }
    started->fetch_add(1);
    return std::thread(body, worker);
  }
};

}  // namespace

TEST(ThreadLimit, PoolRunsEveryTaskOnceWithTheWorkersThatStarted) {
  constexpr int64_t kTasks = 1000;
  constexpr int kThreads = 8;
  for (int allowed : {0, 1, 3, kThreads - 1}) {
    for (bool bad_alloc : {false, true}) {
      std::atomic<int> started{0};
      std::vector<std::atomic<int>> runs(kTasks);
      std::atomic<uint32_t> workers_seen{0};
      mla::host::parallel_for(
          kTasks, kThreads,
          [&](int64_t t, int worker) {
            runs[size_t(t)].fetch_add(1);
            workers_seen.fetch_or(1u << worker);
          },
          LimitedStart{allowed, bad_alloc, &started});
      EXPECT_EQ(started.load(), allowed);
      for (int64_t t = 0; t < kTasks; ++t)
        ASSERT_EQ(runs[size_t(t)].load(), 1) << "task " << t << ", " << allowed << " started";
      // Only the caller (worker 0) and the started workers ran tasks.
      EXPECT_EQ(workers_seen.load() >> (allowed + 1), 0u) << allowed << " started";
    }
  }
}

namespace {

enum ChildExit { kChildOk = 0, kChildFailed = 1, kChildDiffers = 2, kChildSkip = 3 };

// How many threads this process can start at once (up to `most`), all alive together.
int startable_threads(int most) {
  std::atomic<bool> release{false};
  std::vector<std::thread> held;
  for (int i = 0; i < most; ++i) {
    try {
      held.emplace_back([&release] {
        while (!release.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      });
    } catch (const std::system_error&) {
      break;
    }
  }
  release = true;
  for (auto& t : held) t.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let the kernel reap them
  return int(held.size());
}

// In the child: become a user with no other processes (root is exempt from RLIMIT_NPROC),
// allow this process and two more threads, then decode with MLA_NUM_THREADS=16.
ChildExit decode_under_thread_limit(mla_sparse_decode_args a, const Bytes& want_out,
                                    const Bytes& want_lse, const Tensor& out, const Tensor& lse) {
  if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return kChildSkip;
  if (geteuid() == 0) return kChildSkip;
  const rlimit limit{3, 3};
  if (setrlimit(RLIMIT_NPROC, &limit) != 0) return kChildSkip;
  const int startable = startable_threads(16);
  if (startable < 1 || startable > 8) return kChildSkip;  // the limit is not what it should be
  setenv("MLA_NUM_THREADS", "16", 1);
  mla_context ctx = nullptr;
  if (mla_context_create(MLA_DEVICE_CPU, &ctx) != MLA_STATUS_SUCCESS) return kChildFailed;
  size_t bytes = 0;
  if (mla_sparse_decode_workspace_size(ctx, &a, &bytes) != MLA_STATUS_SUCCESS) return kChildFailed;
  Bytes ws(bytes);
  for (int run = 0; run < 3; ++run) {
    if (mla_sparse_decode(ctx, &a, ws.data(), bytes, nullptr) != MLA_STATUS_SUCCESS)
      return kChildFailed;
    if (!unchanged(want_out, out.bytes) || !unchanged(want_lse, lse.bytes)) return kChildDiffers;
  }
  mla_context_destroy(ctx);
  return kChildOk;
}

}  // namespace

TEST(ThreadLimit, DecodeInAProcessThatCanStartOnlyTwoThreads) {
  Rng rng(fresh_seed());
  DecodeSpec s;
  s.b = 8, s.s_q = 2, s.h_q = 32, s.topk = 64;
  auto c = make_decode_case(s, rng);
  HostContext ctx;
  ASSERT_EQ(ctx.decode(c->args()), MLA_STATUS_SUCCESS) << mla_last_error();
  const Bytes want_out = c->out.bytes, want_lse = c->lse.bytes;
  poison(c->out);
  poison(c->lse);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0)  // _exit: no gtest or sanitizer exit handlers in the child
    _exit(decode_under_thread_limit(c->args(), want_out, want_lse, c->out, c->lse));
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status)
                                 << " (std::terminate is SIGABRT)";
  switch (WEXITSTATUS(status)) {
    case kChildOk:
      break;
    case kChildSkip:
      GTEST_SKIP() << "could not set up a thread limit here (needs root to switch to the "
                      "nobody user, which must have no other processes)";
    case kChildFailed:
      FAIL() << "decode under the thread limit did not return MLA_STATUS_SUCCESS";
    case kChildDiffers:
      FAIL() << "decode under the thread limit gave other bits than with every worker";
    default:
      FAIL() << "the child exited with " << WEXITSTATUS(status);
  }
}
