#include "indexer_case_lists.h"

namespace mlatest {

std::vector<RaggedSpec> ragged_sweep() {
  // fnuz, m, n, h, d, strided
  return {
      {false, 5, 150, 64, 128, false}, {true, 7, 200, 64, 128, true},
      {false, 4, 70, 128, 64, false},  {true, 6, 129, 1, 64, false},
      {false, 9, 300, 3, 128, true},   {false, 4, 64, 64, 128, false},
      {true, 128, 40, 64, 64, false},  {false, 1, 513, 128, 128, true},
  };
}

std::vector<PagedSpec> paged_sweep() {
  auto spec = [](bool fnuz, int64_t b, int64_t next_n, int64_t h, int64_t d, int64_t ctx) {
    PagedSpec s;
    s.fnuz = fnuz, s.b = b, s.next_n = next_n, s.h = h, s.d = d, s.max_context = ctx;
    return s;
  };
  std::vector<PagedSpec> out;
  out.push_back(spec(false, 1, 1, 64, 128, 150));
  {
    PagedSpec s = spec(true, 1, 2, 64, 128, 300);
    s.per_row_context = true, s.strided = true;
    out.push_back(s);
  }
  {
    PagedSpec s = spec(false, 7, 2, 64, 128, 200);
    s.cache_ndim = 3, s.page_padding = 16;
    out.push_back(s);
  }
  {
    PagedSpec s = spec(true, 7, 1, 128, 64, 129);
    s.per_row_context = true, s.cache_ndim = 4;
    out.push_back(s);
  }
  {
    PagedSpec s = spec(false, 7, 2, 64, 64, 170);
    s.bad_pages = true;
    out.push_back(s);
  }
  out.push_back(spec(true, 128, 1, 64, 128, 37));
  {
    PagedSpec s = spec(false, 128, 2, 64, 128, 65);
    s.per_row_context = true, s.strided = true, s.page_padding = 48;
    out.push_back(s);
  }
  {
    PagedSpec s = spec(false, 7, 2, 3, 128, 100);
    s.width = 90;  // narrower than the longest context
    out.push_back(s);
  }
  {
    PagedSpec s = spec(true, 7, 3, 128, 128, 64);
    s.bad_pages = true, s.cache_ndim = 3;
    out.push_back(s);
  }
  out.push_back(spec(false, 2, 1, 64, 128, 1));
  return out;
}

std::vector<TopkSpec> topk_sweep() {
  auto spec = [](int64_t rows, int64_t cols, int64_t k, TopkValues v, TopkLengths l) {
    TopkSpec s;
    s.rows = rows, s.cols = cols, s.k = k, s.values = v, s.lengths = l;
    return s;
  };
  using V = TopkValues;
  using L = TopkLengths;
  std::vector<TopkSpec> out;
  out.push_back(spec(4, 300, 64, V::Random, L::PerRow));
  {
    TopkSpec s = spec(6, 300, 1, V::Ties, L::Causal);
    s.next_n = 2;
    out.push_back(s);
  }
  {
    TopkSpec s = spec(5, 1000, 512, V::Special, L::PerRow);
    s.starts = true;
    out.push_back(s);
  }
  {
    TopkSpec s = spec(8, 5000, 2048, V::Random, L::Causal);
    s.next_n = 2, s.page_table = true, s.table_per_request = true, s.raw = true;
    out.push_back(s);
  }
  {
    TopkSpec s = spec(4, 9000, 4096, V::Ties, L::PerRow);
    s.strided = true, s.page_table = true, s.page_size = 1, s.raw = true;
    out.push_back(s);
  }
  out.push_back(spec(3, 100, 200, V::Random, L::None));
  out.push_back(spec(6, 70000, 2048, V::Random, L::Causal));
  {
    TopkSpec s = spec(4, 700, 7, V::Special, L::None);
    s.starts = true, s.page_table = true, s.page_size = 3, s.raw = true, s.strided = true;
    out.push_back(s);
  }
  out.push_back(spec(5, 4000, 1, V::Special, L::PerRow));
  out.push_back(spec(128, 4096, 512, V::Random, L::PerRow));
  {
    TopkSpec s = spec(6, 3000, 1024, V::Special, L::PerRow);
    s.next_n = 3, s.page_table = true, s.page_size = 64, s.table_per_request = false;
    out.push_back(s);
  }
  return out;
}

}  // namespace mlatest
