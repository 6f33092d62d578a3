// Native top-k for CUDA: the shared radix selection over CUB's block scan.
#include <cub/block/block_scan.cuh>

#include "device/indexer_kernels.h"
#include "device/topk_native.h"

namespace mla::gpu {
namespace {

struct CubBlockScan {
  static constexpr int kThreads = 1024;
  using Impl = cub::BlockScan<int, kThreads>;
  using TempStorage = typename Impl::TempStorage;
  template <int N>
  MLA_DEVICE static void exclusive_sum(TempStorage& t, int (&in)[N], int (&out)[N], int& total) {
    Impl(t).ExclusiveSum(in, out, total);
  }
};

}  // namespace

mla_status native_indexer_topk(const IndexerTopkProblem& p, mla_stream stream) {
  return launch_indexer_topk_native<CubBlockScan>(p, stream);
}

}  // namespace mla::gpu
