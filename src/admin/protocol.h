// SPDX-License-Identifier: Apache-2.0
// The admin protocol's shared definitions (docs/admin-protocol.md): the closed set of error
// codes with their stable names and CLI exit codes, the reply builders, and the "k=v,k=v"
// parameter list parser. Header-only so modtgtadm (which links no daemon code) shares it.
//
// Threading: pure functions and constants; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/key_value_list.h"
#include "common/status.h"

namespace modtgt::admin {

// Protocol version carried in system show ("protocol").
inline constexpr int kProtocolVersion = 1;
// Largest request line the daemon reads (bytes, newline excluded).
inline constexpr size_t kMaxRequestBytes = 1 << 20;
inline constexpr const char* kDefaultSocketPath = "/run/modtgt/modtgtd.sock";

// Closed set: values, names and exit codes are stable (scripts depend on them). Only append.
enum class ErrorCode : int {
  kInvalidRequest = 1,   // malformed request, missing/wrong field, bad parameter value
  kNoSuchTarget = 2,
  kTargetExists = 3,
  kNoSuchLun = 4,
  kLunExists = 5,
  kBusy = 6,             // in use: sessions on a target, users of a module
  kNoSuchModule = 7,
  kModuleError = 8,      // the module refused the config or failed to open the device
  kPermission = 9,       // peer credentials refused
  kInternal = 10,
  kUnsupported = 11,     // a mode/op this daemon does not implement
  kNoSuchAcl = 12,       // unbind of an address/name that is not bound
  kAclExists = 13,       // bind of an address/name already bound
  kNoSuchAccount = 14,   // a CHAP account (or binding) that does not exist
  kAccountExists = 15,   // account new of a known user; bind of a bound one
  kNoSuchSession = 16,   // conn/session ops: no session with that sid (I_T nexus)
  kNoSuchConnection = 17,  // conn delete: the session has no connection with that cid
  kNoSuchPortal = 18,    // portal delete of an address that is not a portal
};

struct ErrorInfo {
  ErrorCode code;
  const char* name;
  int exit_code;
};

inline constexpr ErrorInfo kErrorTable[] = {
    {ErrorCode::kInvalidRequest, "invalid-request", 2},
    {ErrorCode::kNoSuchTarget, "no-such-target", 3},
    {ErrorCode::kTargetExists, "target-exists", 4},
    {ErrorCode::kNoSuchLun, "no-such-lun", 5},
    {ErrorCode::kLunExists, "lun-exists", 6},
    {ErrorCode::kBusy, "busy", 7},
    {ErrorCode::kNoSuchModule, "no-such-module", 8},
    {ErrorCode::kModuleError, "module-error", 9},
    {ErrorCode::kPermission, "permission", 10},
    {ErrorCode::kInternal, "internal", 11},
    {ErrorCode::kUnsupported, "unsupported", 12},
    {ErrorCode::kNoSuchAcl, "no-such-acl", 13},
    {ErrorCode::kAclExists, "acl-exists", 14},
    {ErrorCode::kNoSuchAccount, "no-such-account", 15},
    {ErrorCode::kAccountExists, "account-exists", 16},
    {ErrorCode::kNoSuchSession, "no-such-session", 17},
    {ErrorCode::kNoSuchConnection, "no-such-connection", 18},
    {ErrorCode::kNoSuchPortal, "no-such-portal", 19},
};

// CLI-only exit codes (no daemon reply involved).
inline constexpr int kExitUsage = 2;            // same as invalid-request
inline constexpr int kExitCannotConnect = 20;   // daemon not running / socket unreachable
inline constexpr int kExitBadReply = 21;        // the daemon's reply was not understood

inline const char* ErrorCodeName(ErrorCode c) {
  for (const auto& e : kErrorTable) {
    if (e.code == c) return e.name;
  }
  return "internal";
}

inline int ErrorExitCode(ErrorCode c) {
  for (const auto& e : kErrorTable) {
    if (e.code == c) return e.exit_code;
  }
  return 11;
}

// Exit code for an error name from a reply; unknown names (a newer daemon) give internal's.
inline int ExitCodeForName(std::string_view name) {
  for (const auto& e : kErrorTable) {
    if (name == e.name) return e.exit_code;
  }
  return 11;
}

inline nlohmann::json OkReply(nlohmann::json result = nlohmann::json::object()) {
  return nlohmann::json{{"ok", true}, {"result", std::move(result)}};
}

inline nlohmann::json ErrorReply(ErrorCode code, const std::string& message) {
  return nlohmann::json{{"ok", false},
                        {"error",
                         {{"code", ErrorCodeName(code)},
                          {"exit", ErrorExitCode(code)},
                          {"message", message}}}};
}

// Splits tgtadm's --params "k1=v1,k2=v2" into pairs (SplitKeyValueList); an error names
// the item.
inline Result<KeyValueList> ParseParamList(const std::string& s) {
  Result<KeyValueList> kv = SplitKeyValueList(s);
  if (!kv.ok()) return Status::InvalidArgument("bad --params item " + kv.status().message());
  return kv;
}

}  // namespace modtgt::admin
