// The parameter sweeps of the indexer suites (issue #3 item 6): B in {1, 7, 128}, next_n 1 and
// 2, contexts that are not multiples of 64, zero-length rows, both context-length shapes, both
// fp8 flavours, H and D in {64, 128}; top-k with ties, NaN and -inf, short rows, K = 1 up to
// 4096. Small enough for a 2-core CI machine.
#pragma once

#include <vector>

#include "indexer_cases.h"

namespace mlatest {

std::vector<RaggedSpec> ragged_sweep();
std::vector<PagedSpec> paged_sweep();
std::vector<TopkSpec> topk_sweep();

}  // namespace mlatest
