// The launch plan of the native sparse decode, computed on the host from the shapes alone, so
// that a call needs no allocation, no synchronization and no device query, and so that the
// same request is split the same way whatever else is in the batch (batch invariance).
//
// A CTA takes `rows_per_cta` query heads (16 or 64) of one query row and one key range of that
// row. A row's keys (main top-k, then extra top-k) are cut into `splits` ranges of
// `keys_per_split` keys; with more than one range, each CTA writes a partial result (output
// normalized by its own sum, and its log-sum-exp) to the workspace, and a combine kernel merges
// the ranges in index order. The split count depends on the key count and the CTA shape only,
// never on the batch: a request gives the same bits alone or in any batch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../port.h"

namespace mla::attn {

// What a vendor's instantiation offers.
struct DecodeTarget {
  int max_rows_per_cta;  // 64 on CUDA; 16 on CDNA (64 heads of q alone fill its 64 KiB LDS);
                         // 0 where the device cannot run any native CTA
  int64_t max_ctas;      // grid limit: 2^31 - 1 on CUDA; (2^32 - 1) / threads on HIP
};

struct DecodePlan {
  int rows_per_cta = 0;        // 16 or 64 query heads per CTA
  int64_t head_tiles = 0;      // ceil(h_q / rows_per_cta)
  int64_t splits = 0;          // key ranges per query row
  int64_t keys_per_split = 0;  // a multiple of kSplitQuantum; the last range may be shorter
  int64_t ctas = 0;            // rows x head_tiles x splits
  size_t workspace_bytes = 0;  // partials when splits > 1, else 0
  bool fits = false;           // false: the grid or workspace would not fit the native kernel

  // Workspace layout when splits > 1: fp32 o[ctas][rows_per_cta][512], then fp32
  // lse[ctas][rows_per_cta]; CTA c = (row * head_tiles + head_tile) * splits + split.
  size_t lse_offset() const { return size_t(ctas) * size_t(rows_per_cta) * 512 * 4; }
};

// The plan's CTA index (the slot of a CTA's partials) of grid index `block` when the grid is
// laid out head tiles first, block = (row * splits + split) * head_tiles + ht, as the
// cluster-pair decode launches it (the head tiles of a row and range are neighbours, and so
// the two CTAs of a cluster). A bijection of [0, ctas).
MLA_HD constexpr int64_t plan_cta_of_head_tiles_first(int64_t block, int64_t head_tiles,
                                                      int64_t splits) {
  return ((block / head_tiles / splits) * head_tiles + block % head_tiles) * splits +
         (block / head_tiles) % splits;
}

constexpr int64_t kSplitQuantum = 64;  // key ranges start at multiples of every block size

// Keys per range before a row is split: long enough that the partials (2 KiB per head) stay
// small beside the key bytes they summarize (about 650 B per key for all heads of the CTA).
// The macros are for bench/decode_variants.sh.
#ifndef MLA_DECODE_SPLIT_KEYS_WIDE
#define MLA_DECODE_SPLIT_KEYS_WIDE 1024
#endif
#ifndef MLA_DECODE_SPLIT_KEYS_NARROW
#define MLA_DECODE_SPLIT_KEYS_NARROW 512
#endif
constexpr int64_t split_keys(int rows_per_cta) {
  return rows_per_cta >= 64 ? MLA_DECODE_SPLIT_KEYS_WIDE : MLA_DECODE_SPLIT_KEYS_NARROW;
}

// rows = b * s_q query rows, h_q heads, keys = topk + extra_topk per row. Header-only, so the
// host suite checks the very code the library runs.
inline DecodePlan plan_sparse_decode(int64_t rows, int64_t h_q, int64_t keys,
                                     const DecodeTarget& t) {
  DecodePlan p;
  if (t.max_rows_per_cta < 16) return p;  // the device takes no native CTA: fits stays false
  // 16 heads per CTA where they suffice (TP8 head counts: memory-bound, so no padded MMA rows),
  // else the widest CTA the target has (each key is dequantized once per CTA).
  p.rows_per_cta = (h_q <= 16 || t.max_rows_per_cta < 64) ? 16 : 64;
  p.head_tiles = ceil_div(h_q, p.rows_per_cta);
  // Balanced ranges of whole quanta: as many as ranges of split_keys() need, no more.
  const int64_t n = keys > 0 ? keys : 1;
  p.keys_per_split = round_up(ceil_div(n, ceil_div(n, split_keys(p.rows_per_cta))), kSplitQuantum);
  p.splits = ceil_div(n, p.keys_per_split);
  const int64_t per_row = p.head_tiles * p.splits;
  if (rows < 1 || per_row > t.max_ctas / rows) return p;  // fits stays false
  p.ctas = rows * per_row;
  if (p.splits > 1)
    p.workspace_bytes = p.lse_offset() + size_t(p.ctas) * size_t(p.rows_per_cta) * 4;
  p.fits = true;
  return p;
}

// Sparse prefill: one range per row, so a row's result never depends on the other rows and
// no workspace is needed (prefill has rows enough to fill the device).
inline DecodePlan plan_sparse_prefill(int64_t rows, int64_t h_q, int64_t keys,
                                      const DecodeTarget& t) {
  DecodePlan p;
  if (t.max_rows_per_cta < 16) return p;
  p.rows_per_cta = (h_q <= 16 || t.max_rows_per_cta < 64) ? 16 : 64;
  p.head_tiles = ceil_div(h_q, p.rows_per_cta);
  p.keys_per_split = keys > 0 ? keys : 1;
  p.splits = 1;
  if (rows < 1 || p.head_tiles > t.max_ctas / rows) return p;
  p.ctas = rows * p.head_tiles;
  p.fits = true;
  return p;
}

}  // namespace mla::attn
