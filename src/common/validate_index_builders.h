// From the C argument structs of the V4 prefill index builders to validated problems. Each
// returns a status naming the bad argument.
#pragma once

#include "index_builders_problem.h"
#include "mla/mla.h"

namespace mla {

mla_status validate(const mla_build_swa_token_ids_args* a, SwaTokenIdsProblem* p);
mla_status validate(const mla_combine_topk_swa_indices_args* a, CombineIndicesProblem* p);

}  // namespace mla
