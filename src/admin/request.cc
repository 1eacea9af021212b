// SPDX-License-Identifier: Apache-2.0
#include "admin/request.h"

namespace modtgt::admin {

Error FromStatus(const Status& s, ErrorCode not_found, ErrorCode exists) {
  switch (s.code()) {
    case Code::kInvalidArgument: return Error{ErrorCode::kInvalidRequest, s.message()};
    case Code::kNotFound: return Error{not_found, s.message()};
    case Code::kAlreadyExists: return Error{exists, s.message()};
    case Code::kPermissionDenied: return Error{ErrorCode::kPermission, s.message()};
    case Code::kBusy: return Error{ErrorCode::kBusy, s.message()};
    case Code::kUnsupported: return Error{ErrorCode::kUnsupported, s.message()};
    case Code::kModuleError: return Error{ErrorCode::kModuleError, s.message()};
    default: return Error{ErrorCode::kInternal, s.message()};
  }
}


// Finds the target named by "tid" (preferred) or "targetname".
bool LookupTarget(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* out,
                  Error* err) {
  int64_t tid = 0;
  std::string name;
  if (!r.Int("tid", false, 1, kMaxTid, &tid, err)) return false;
  if (!r.String("targetname", false, &name, err)) return false;
  if (tid == 0 && name.empty()) {
    *err = Invalid("missing field 'tid'");
    return false;
  }
  std::shared_ptr<core::Target> t =
      tid != 0 ? ctx->targets->FindByTid(static_cast<int>(tid)) : ctx->targets->FindByName(name);
  if (t == nullptr) {
    *err = Error{ErrorCode::kNoSuchTarget,
                 tid != 0 ? "no target " + std::to_string(tid) : "no target named " + name};
    return false;
  }
  if (tid != 0 && !name.empty() && t->name() != name) {
    *err = Invalid("target " + std::to_string(tid) + " is named " + t->name() + ", not " + name);
    return false;
  }
  *out = std::move(t);
  return true;
}

}  // namespace modtgt::admin
