// The backend dispatcher. Every operation is described by an Op traits struct, derived from
// OpDefaults<Problem> (below), that gives:
//
//   static constexpr const char* kName;
//   static mla_status host(const Problem&, void* workspace, int threads);
//   static mla_status reference(const Problem&, mla_stream);          GPU builds only
//   static void buffers(Problem&, std::vector<Buffer>*);   every buffer the op touches
//
// and, where the defaults do not hold, host_workspace(), native_covers(), native_workspace()
// and native().
//
// and run<Op>() picks the backend (SPEC: MLA_BACKEND), stages through host memory for the host
// backend on a GPU context, and runs the compare mode. Only the debugging paths (host on a GPU
// context, compare) allocate or synchronize.
#pragma once

#include <initializer_list>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "checked_math.h"
#include "compare.h"
#include "context.h"
#include "error.h"
#include "gpu_runtime.h"
#include "log.h"

namespace mla {

enum class Role { In, Out, InOut };

struct Buffer {
  void** ptr;  // the problem's field that points at the buffer
  int64_t bytes;
  Role role;
  Elem elem;  // how compare reads it
  Tolerance tol;
  const char* name;
};

template <typename T>
Buffer make_buffer(T*& field, int64_t bytes, Role role, const char* name, Elem elem = Elem::Bytes,
                   Tolerance tol = {}) {
  return Buffer{reinterpret_cast<void**>(const_cast<std::remove_const_t<T>**>(&field)),
                bytes,
                role,
                elem,
                tol,
                name};
}

// Bytes from the base of a strided view to one past its last element; 0 if it has none, -1 if
// it exceeds kMaxViewBytes (never for a validated problem).
inline int64_t extent(std::initializer_list<std::pair<int64_t, int64_t>> size_stride,
                      int64_t contiguous_last, int elem_bytes) {
  int64_t shape[MLA_MAX_DIMS + 1], strides[MLA_MAX_DIMS + 1];
  int n = 0;
  for (const auto& d : size_stride) {
    if (n == MLA_MAX_DIMS) return -1;
    shape[n] = d.first, strides[n++] = d.second;
  }
  shape[n] = contiguous_last, strides[n++] = 1;
  int64_t bytes = 0;
  return checked_extent_bytes(shape, strides, n, elem_bytes, &bytes) ? bytes : -1;
}

// What an Op gets unless it says otherwise: no host scratch, and no native kernel (the
// dispatcher then runs the device reference; MLA_BACKEND=native reports NOT_SUPPORTED).
template <class P>
struct OpDefaults {
  using Problem = P;
  static size_t host_workspace(const P&, int) { return 0; }
  static bool empty(const P&) { return false; }  // true: nothing to do, nothing written
  static bool native_covers(const P&) { return false; }
  static size_t native_workspace(const P&) { return 0; }
  static mla_status native(const P&, void*, mla_stream) {  // unreachable: native_covers is false
    return fail(MLA_STATUS_INTERNAL, "no native kernel");
  }
};

mla_status check_workspace(size_t required, const void* ws, size_t ws_bytes);
const char* device_backend_name(bool native);

// Workspace the caller must provide on this context: the host backend's scratch on a CPU
// context, the native kernel's on a GPU context (the reference kernels need none).
template <class Op>
size_t workspace_size(const mla_context_s& ctx, const typename Op::Problem& p) {
  if (!ctx.is_gpu()) return Op::host_workspace(p, ctx.host_threads);
  return Op::native_covers(p) ? Op::native_workspace(p) : 0;
}

template <class Op>
mla_status run_host(const mla_context_s& ctx, const typename Op::Problem& p, void* ws) {
  MLA_TRY(Op::host(p, ws, ctx.host_threads));
  set_last_backend("host");
  return MLA_STATUS_SUCCESS;
}

#if MLA_WITH_GPU

// Every buffer's extent fitted (validation guarantees it; a copy of -1 bytes must not happen).
inline mla_status check_extents(const std::vector<Buffer>& bufs, const char* op) {
  for (const Buffer& b : bufs)
    if (b.bytes < 0) return fail(MLA_STATUS_INTERNAL, "%s: %s: extent overflows", op, b.name);
  return MLA_STATUS_SUCCESS;
}

// The host backend over device memory: copy every buffer to host memory, run, copy the
// outputs back. Synchronizes the stream; for debugging.
template <class Op>
mla_status run_host_staged(const mla_context_s& ctx, typename Op::Problem p, mla_stream stream) {
  std::vector<Buffer> bufs;
  Op::buffers(p, &bufs);
  MLA_TRY(check_extents(bufs, Op::kName));
  std::vector<std::vector<uint8_t>> host(bufs.size());
  std::vector<void*> device(bufs.size());
  for (size_t i = 0; i < bufs.size(); ++i) {
    device[i] = *bufs[i].ptr;
    if (device[i] == nullptr || bufs[i].bytes == 0) continue;
    host[i].resize(size_t(bufs[i].bytes));
    MLA_TRY(gpu::copy_to_host(host[i].data(), device[i], size_t(bufs[i].bytes), stream));
    *bufs[i].ptr = host[i].data();
  }
  std::vector<uint8_t> ws(Op::host_workspace(p, ctx.host_threads));
  MLA_TRY(Op::host(p, ws.data(), ctx.host_threads));
  for (size_t i = 0; i < bufs.size(); ++i) {
    if (bufs[i].role == Role::In || host[i].empty()) continue;
    MLA_TRY(gpu::copy_to_device(device[i], host[i].data(), host[i].size(), stream));
  }
  return MLA_STATUS_SUCCESS;
}

template <class Op>
mla_status run_device(const typename Op::Problem& p, bool native, void* ws, mla_stream stream) {
  return native ? Op::native(p, ws, stream) : Op::reference(p, stream);
}

// Device scratch that frees itself.
class ScratchSet {
 public:
  ~ScratchSet() {
    for (void* p : ptrs_) gpu::release(p);
  }
  mla_status add(size_t bytes, void** ptr) {
    MLA_TRY(gpu::allocate(bytes, ptr));
    ptrs_.push_back(*ptr);
    return MLA_STATUS_SUCCESS;
  }

 private:
  std::vector<void*> ptrs_;
};

// Compare mode: the auto choice writes the caller's outputs; an independent checker (the device
// reference when the first is native, else the host backend) writes copies of them; every
// output is compared at its tolerance and the result logged (or failed, MLA_COMPARE=fail).
template <class Op>
mla_status run_compare(const mla_context_s& ctx, const typename Op::Problem& p, void* ws,
                       mla_stream stream) {
  const bool native = Op::native_covers(p);
  typename Op::Problem q = p;
  std::vector<Buffer> pb, qb;
  Op::buffers(const_cast<typename Op::Problem&>(p), &pb);
  Op::buffers(q, &qb);
  MLA_TRY(check_extents(pb, Op::kName));
  ScratchSet scratch;
  for (size_t i = 0; i < pb.size(); ++i) {
    if (pb[i].role == Role::In || *pb[i].ptr == nullptr || pb[i].bytes == 0) continue;
    void* copy = nullptr;
    MLA_TRY(scratch.add(size_t(pb[i].bytes), &copy));
    MLA_TRY(gpu::copy_on_device(copy, *pb[i].ptr, size_t(pb[i].bytes), stream));
    *qb[i].ptr = copy;
  }
  MLA_TRY(run_device<Op>(p, native, ws, stream));
  if (native) {
    MLA_TRY(Op::reference(q, stream));
  } else {
    MLA_TRY(run_host_staged<Op>(ctx, q, stream));
  }
  const std::string first = device_backend_name(native);
  const std::string second = native ? device_backend_name(false) : "host";
  bool all_ok = true;
  std::string report;
  for (size_t i = 0; i < pb.size(); ++i) {
    if (pb[i].role == Role::In || *pb[i].ptr == nullptr || pb[i].bytes == 0) continue;
    std::vector<uint8_t> a(size_t(pb[i].bytes)), r(size_t(pb[i].bytes));
    MLA_TRY(gpu::copy_to_host(a.data(), *pb[i].ptr, a.size(), stream));
    MLA_TRY(gpu::copy_to_host(r.data(), *qb[i].ptr, r.size(), stream));
    const CompareResult c = compare_buffers(pb[i].elem, a.data(), r.data(), a.size(), pb[i].tol);
    all_ok = all_ok && c.ok;
    report += describe(pb[i].name, c, first.c_str(), second.c_str());
  }
  const std::string label = "compare(" + first + " vs " + second + ")";
  set_last_backend(label.c_str());
  if (all_ok) {
    log(LogLevel::Info, "%s %s: within tolerance;%s", Op::kName, label.c_str(), report.c_str());
    return MLA_STATUS_SUCCESS;
  }
  log(LogLevel::Warn, "%s %s: BEYOND tolerance;%s", Op::kName, label.c_str(), report.c_str());
  if (ctx.compare_fails)
    return fail(MLA_STATUS_COMPARE_MISMATCH, "%s %s:%s", Op::kName, label.c_str(), report.c_str());
  return MLA_STATUS_SUCCESS;
}

#endif  // MLA_WITH_GPU

// Runs an operation on the context's backend. The problem is already validated.
template <class Op>
mla_status run_checked(const mla_context_s& ctx, const typename Op::Problem& p, void* ws,
                       mla_stream stream) {
  if (!ctx.is_gpu()) return run_host<Op>(ctx, p, ws);
#if MLA_WITH_GPU
  gpu::DeviceScope scope(ctx.device);
  MLA_TRY(scope.status());
  const bool native = Op::native_covers(p);
  switch (ctx.backend) {
    case MLA_BACKEND_AUTO:
      break;
    case MLA_BACKEND_NATIVE:
      if (!native)
        return fail(MLA_STATUS_NOT_SUPPORTED,
                    "%s: MLA_BACKEND=native, but no native kernel"
                    " covers this call (unset it or use reference)",
                    Op::kName);
      break;
    case MLA_BACKEND_REFERENCE:
      MLA_TRY(Op::reference(p, stream));
      set_last_backend(device_backend_name(false));
      return MLA_STATUS_SUCCESS;
    case MLA_BACKEND_HOST:
      MLA_TRY(run_host_staged<Op>(ctx, p, stream));
      set_last_backend("host");
      return MLA_STATUS_SUCCESS;
    case MLA_BACKEND_COMPARE:
      return run_compare<Op>(ctx, p, ws, stream);
  }
  MLA_TRY(run_device<Op>(p, native, ws, stream));
  set_last_backend(device_backend_name(native));
  return MLA_STATUS_SUCCESS;
#else
  (void)stream;
  return fail(MLA_STATUS_NO_DEVICE, "libmla was built without GPU support");
#endif
}

// Runs a validated operation on the context's backend. Nothing escapes as an exception.
template <class Op>
mla_status run(const mla_context_s& ctx, const typename Op::Problem& p, void* ws, size_t ws_bytes,
               mla_stream stream) {
  MLA_TRY(check_workspace(workspace_size<Op>(ctx, p), ws, ws_bytes));
  try {
    return run_checked<Op>(ctx, p, ws, stream);
  } catch (const std::bad_alloc&) {
    return fail(MLA_STATUS_OUT_OF_MEMORY, "%s: host memory", Op::kName);
  } catch (const std::exception& e) {
    return fail(MLA_STATUS_INTERNAL, "%s: %s", Op::kName, e.what());
  }
}

// The bodies of the C entry points: check the context, validate the arguments into the Op's
// problem (the validate() overloads of validate*.h), skip calls with nothing to do, run.
template <class Op, class Args>
mla_status call(mla_context ctx, const Args* args, void* ws, size_t ws_bytes, mla_stream stream) {
  MLA_TRY(check_context(ctx));
  typename Op::Problem p;
  MLA_TRY(validate(args, &p));
  if (Op::empty(p)) return MLA_STATUS_SUCCESS;
  return run<Op>(*ctx, p, ws, ws_bytes, stream);
}

template <class Op, class Args>
mla_status query_workspace(mla_context ctx, const Args* args, size_t* bytes) {
  MLA_TRY(check_context(ctx));
  if (bytes == nullptr) return fail(MLA_STATUS_INVALID_ARGUMENT, "bytes: is NULL");
  typename Op::Problem p;
  MLA_TRY(validate(args, &p));
  *bytes = workspace_size<Op>(*ctx, p);
  return MLA_STATUS_SUCCESS;
}

}  // namespace mla
