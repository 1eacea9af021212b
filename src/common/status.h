// SPDX-License-Identifier: Apache-2.0
// Status and Result<T>: error values for daemon code, which never throws (leveldb's
// status.h shape). A Status is a code plus a message; OK carries no allocation.
// Result<T> holds a value or a non-OK Status, shaped like std::expected.
// Thread-compatible: const methods may be called concurrently.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace modtgt {

enum class Code {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kBusy,
  kIoError,
  kUnavailable,
  kInternal,
  kUnsupported,  // the operation is not possible on this object (e.g. resize without reconfig)
  kModuleError,  // a backing-store module refused or failed (its reason in the message)
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
  static Status PermissionDenied(std::string m) { return Status(Code::kPermissionDenied, std::move(m)); }
  static Status Busy(std::string m) { return Status(Code::kBusy, std::move(m)); }
  static Status IoError(std::string m) { return Status(Code::kIoError, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status Unsupported(std::string m) { return Status(Code::kUnsupported, std::move(m)); }
  static Status ModuleError(std::string m) { return Status(Code::kModuleError, std::move(m)); }
  // errno-based I/O error: "<what>: <strerror(err)>".
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;
  // The same error with `context` put before its message ("opening x: " + message).
  Status Prefixed(const std::string& context) const { return Status(code_, context + message_); }

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

const char* CodeName(Code c);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}              // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {       // NOLINT: implicit by design
    assert(!status_.ok() && "Result built from an OK status has no value");
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok()
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

#define MODTGT_RETURN_IF_ERROR(expr)          \
  do {                                        \
    ::modtgt::Status _st = (expr);            \
    if (!_st.ok()) return _st;                \
  } while (0)

}  // namespace modtgt
