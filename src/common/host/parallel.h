// The host backend's worker pool: tasks are taken one at a time from a shared counter, and each
// worker owns a slice of the caller's workspace. Results never depend on which worker ran a
// task.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace mla::host {

template <class F>
void parallel_for(int64_t tasks, int threads, F&& fn) {
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
  for (int w = 1; w < workers; ++w) pool.emplace_back(body, w);
  body(0);
  for (auto& th : pool) th.join();
}

}  // namespace mla::host
