// Table-driven validation tests: a change to valid arguments that must be refused, with the
// status it must give and a word the error message must contain.
#pragma once

#include <functional>

#include "mla_test.h"

namespace mlatest {

template <class Args>
using ArgChange = std::function<void(Args&, mla_tensor& scratch)>;

template <class Args>
struct ArgMutation {
  const char* what;
  mla_status want;
  const char* names;
  ArgChange<Args> apply;
};

// Points one tensor field at a changed copy of its descriptor (kept in `scratch`).
template <class Args>
ArgChange<Args> on(const mla_tensor* Args::*field, std::function<void(mla_tensor&)> change) {
  return [field, change](Args& a, mla_tensor& scratch) {
    scratch = *(a.*field);
    change(scratch);
    a.*field = &scratch;
  };
}

}  // namespace mlatest
