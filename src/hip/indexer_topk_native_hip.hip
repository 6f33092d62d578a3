// Native top-k for HIP: the shared radix selection over rocPRIM's block scan.
#include <rocprim/block/block_scan.hpp>

#include "device/indexer_kernels.h"
#include "device/topk_native.h"

namespace mla::gpu {
namespace {

struct RocprimBlockScan {
  static constexpr int kThreads = 1024;
  using Impl = rocprim::block_scan<int, kThreads>;
  using TempStorage = typename Impl::storage_type;
  template <int N>
  MLA_DEVICE static void exclusive_sum(TempStorage& t, int (&in)[N], int (&out)[N], int& total) {
    Impl().exclusive_scan(in, out, 0, total, t);
  }
};

}  // namespace

mla_status native_indexer_topk(const IndexerTopkProblem& p, mla_stream stream) {
  return launch_indexer_topk_native<RocprimBlockScan>(p, stream);
}

}  // namespace mla::gpu
