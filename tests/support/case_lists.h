// The parameter sweeps of the attention suites (issue #2 item 6): every value of every
// dimension appears, in varied combinations, at a total cost a 2-core CI machine can afford.
#pragma once

#include <vector>

#include "attention_cases.h"

namespace mlatest {

std::vector<DecodeSpec> decode_sweep();
std::vector<PrefillSpec> prefill_sweep();
std::vector<PagedPrefillSpec> paged_prefill_sweep();

}  // namespace mlatest
