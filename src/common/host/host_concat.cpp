// Host concat_mla_k and concat_mla_absorb_q: two row copies per (token, head).
#include <cstring>

#include "host_fused.h"
#include "parallel_chunks.h"

namespace mla::host {

mla_status concat(const ConcatProblem& p, int threads) {
  parallel_for_chunked<256>(p.rows(), threads, [&](int64_t row) {
    const int64_t n = p.token_of(row), h = row - n * p.h;
    bf16_bits* out = p.out + n * p.out_sn + h * p.out_sh;
    std::memcpy(out, p.a + n * p.a_sn + h * p.a_sh, size_t(p.d_a) * sizeof(bf16_bits));
    std::memcpy(out + p.d_a, p.b + n * p.b_sn + h * p.b_sh, size_t(p.d_b) * sizeof(bf16_bits));
  });
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla::host
