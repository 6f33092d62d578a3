/* libmla: sparse multi-head latent attention kernels for DeepSeek V3.2 / V4 on NVIDIA and AMD.
 * The one header an engine includes. Conventions every operation follows:
 *  - tensors are caller-owned strided views (mla_tensor); the last dimension is contiguous;
 *  - no operation allocates memory or synchronizes: each is enqueued on the given stream and
 *    can be captured in a CUDA or HIP graph (the debugging backends host and compare aside);
 *  - an invalid argument returns a status, names the argument in mla_last_error(), and
 *    writes nothing.
 * What each operation computes (math, formats, edge cases, tolerances) is docs/SPEC.md of the
 * libmla repository; the headers cite its sections. */
#ifndef MLA_MLA_H_
#define MLA_MLA_H_

#include "mla/mla_core.h"
#include "mla/mla_kv_cache.h"
#include "mla/mla_attention.h"
#include "mla/mla_indexer.h"
#include "mla/mla_index_builders.h"
#include "mla/mla_fused.h"

#endif /* MLA_MLA_H_ */
