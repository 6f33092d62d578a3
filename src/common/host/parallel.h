// The host backend's worker pool: tasks are taken one at a time from a shared counter, and each
// worker owns a slice of the caller's workspace. Results never depend on which worker ran a
// task, so a pool that could start fewer workers than asked (a process or cgroup thread
// limit) runs with the workers it has.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace mla::host {

// How a worker thread starts; tests substitute one that fails the way a thread limit does.
struct StartThread {
  template <class Body>
  std::thread operator()(Body& body, int worker) const {
    return std::thread(body, worker);
  }
};

// Joins every started worker however the caller's own share of the work ends.
class JoinAll {
 public:
  explicit JoinAll(std::vector<std::thread>& pool) : pool_(pool) {}
  ~JoinAll() {
    for (auto& th : pool_)
      if (th.joinable()) th.join();
  }
  JoinAll(const JoinAll&) = delete;
  JoinAll& operator=(const JoinAll&) = delete;

 private:
  std::vector<std::thread>& pool_;
};

template <class F, class Start = StartThread>
void parallel_for(int64_t tasks, int threads, F&& fn, const Start& start = Start{}) {
  const int workers = int(std::min<int64_t>(threads, tasks));
  if (workers <= 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  std::atomic<int64_t> next{0};
  auto body = [&](int worker) {
    for (int64_t t = next.fetch_add(1); t < tasks; t = next.fetch_add(1)) fn(t, worker);
  };
  std::vector<std::thread> pool;
  pool.reserve(size_t(workers - 1));
  JoinAll join(pool);
  for (int w = 1; w < workers; ++w) {
    try {
      pool.push_back(start(body, w));
    } catch (...) {  // std::system_error (EAGAIN) or bad_alloc: no more workers, not an error
      break;
    }
  }
  body(0);
}

}  // namespace mla::host
