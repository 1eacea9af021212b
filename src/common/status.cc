// SPDX-License-Identifier: Apache-2.0
#include "common/status.h"

#include <cstring>

namespace modtgt {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kPermissionDenied: return "permission denied";
    case Code::kBusy: return "busy";
    case Code::kIoError: return "I/O error";
    case Code::kUnavailable: return "unavailable";
    case Code::kInternal: return "internal error";
    case Code::kUnsupported: return "unsupported";
    case Code::kModuleError: return "module error";
  }
  return "unknown";
}

Status Status::FromErrno(int err, const std::string& what) {
  Code c = Code::kIoError;
  if (err == ENOENT) c = Code::kNotFound;
  else if (err == EACCES || err == EPERM) c = Code::kPermissionDenied;
  else if (err == EINVAL) c = Code::kInvalidArgument;
  else if (err == EBUSY || err == EADDRINUSE) c = Code::kBusy;
  else if (err == EEXIST) c = Code::kAlreadyExists;
  return Status(c, what + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_.empty() ? CodeName(code_) : message_;
}

}  // namespace modtgt
