// Entry points of the indexer's device kernels, defined once per vendor by the translation units
// in src/cuda and src/hip that instantiate the shared templates of src/common/device. Only GPU
// builds (MLA_WITH_GPU) define them.
#pragma once

#include "../indexer_problem.h"
#include "mla/mla_core.h"

namespace mla::gpu {

// Device reference: simple kernels for any shape.
mla_status reference_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream);
mla_status reference_indexer_paged_logits(const IndexerPagedLogitsProblem& p, mla_stream stream);
mla_status reference_indexer_topk(const IndexerTopkProblem& p, mla_stream stream);

// Native kernels: tiled logits over shared-memory key tiles, radix-select top-k over the
// vendor's block primitives. They cover every valid problem.
mla_status native_indexer_logits(const IndexerLogitsProblem& p, mla_stream stream);
mla_status native_indexer_paged_logits(const IndexerPagedLogitsProblem& p, mla_stream stream);
mla_status native_indexer_topk(const IndexerTopkProblem& p, mla_stream stream);

}  // namespace mla::gpu
