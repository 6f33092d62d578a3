// parallel_for over many cheap items: the pool takes them kPerTask at a time, so that the
// shared counter is not touched once per row or per entry.
#pragma once

#include <algorithm>

#include "../port.h"
#include "parallel.h"

namespace mla::host {

template <int64_t kPerTask, class F>
void parallel_for_chunked(int64_t items, int threads, F&& fn) {
  parallel_for(ceil_div(items, kPerTask), threads, [&](int64_t task, int) {
    const int64_t end = std::min(items, (task + 1) * kPerTask);
    for (int64_t i = task * kPerTask; i < end; ++i) fn(i);
  });
}

}  // namespace mla::host
