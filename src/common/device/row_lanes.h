// How the memory-bound kernels map threads to rows: a block of kRowThreads threads is cut into
// groups of `lanes` consecutive threads, one row per group; lane i takes the row's chunks
// i, i + lanes, ... . The split is computed once per thread, so the loops carry no division
// by the chunk count, and nothing depends on the wave size.
#pragma once

#include "launch.h"

namespace mla::gpu {

constexpr int kRowThreads = 256;

struct RowLanes {
  int lanes = 1;           // threads per row
  int rows_per_block = 1;  // groups per block
};

inline RowLanes row_lanes(int64_t chunks_per_row) {
  RowLanes l;
  l.lanes =
      int(chunks_per_row < kRowThreads ? (chunks_per_row < 1 ? 1 : chunks_per_row) : kRowThreads);
  l.rows_per_block = kRowThreads / l.lanes;
  return l;
}

// Blocks for a grid-stride loop over rows, never more than the rows need.
inline unsigned row_blocks(int64_t rows, int rows_per_block) {
  return grid_for(rows, rows_per_block);
}

}  // namespace mla::gpu
