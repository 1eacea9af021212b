// SPDX-License-Identifier: Apache-2.0
// The admin handlers' shared request plumbing (internal to src/admin): the error a handler
// step returns (Error), a handler's outcome (Outcome: a result object or an Error), checked
// access to a request's fields (Request), the mapping of core Status codes to the admin
// protocol's closed error set, and the target lookup every target/LUN op starts with.
//
// Threading: plain values and functions; run on the admin thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/protocol.h"
#include "admin/server.h"
#include "common/status.h"
#include "core/target.h"

namespace modtgt::admin {

using Params = std::vector<std::pair<std::string, std::string>>;
using json = nlohmann::json;

// A failed handler step: the reply to send.
struct Error {
  ErrorCode code;
  std::string message;
};

// Either a result object or an Error. Small local stand-in for Result<json>.
class Outcome {
 public:
  Outcome(json result) : ok_(true), result_(std::move(result)) {}  // NOLINT
  Outcome(Error e) : ok_(false), error_(std::move(e)) {}           // NOLINT
  json ToReply() && {
    return ok_ ? OkReply(std::move(result_)) : ErrorReply(error_.code, error_.message);
  }

 private:
  bool ok_;
  json result_;
  Error error_{ErrorCode::kInternal, ""};
};

inline Error Invalid(std::string msg) { return Error{ErrorCode::kInvalidRequest, std::move(msg)}; }

// Maps a Status from the core to an admin error. `not_found`/`exists` say what the
// NotFound/AlreadyExists codes mean in the caller's context; the other codes map one to one
// (kUnsupported -> unsupported, kModuleError -> module-error, kBusy -> busy, ...).
Error FromStatus(const Status& s, ErrorCode not_found, ErrorCode exists);

// Checked access to the request's fields.
class Request {
 public:
  explicit Request(const json& j) : j_(j) {}

  bool Has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }
  // The field as given. REQUIRES: Has(key).
  const json& Raw(const char* key) const { return j_.at(key); }

  // Each getter returns false and sets *err when the field is required but missing, or is
  // present with the wrong type or out of range.
  bool String(const char* key, bool required, std::string* out, Error* err) const {
    if (!Has(key)) return Missing(key, required, err);
    const json& v = j_.at(key);
    if (!v.is_string()) {
      *err = Invalid(std::string("field '") + key + "' must be a string");
      return false;
    }
    *out = v.get<std::string>();
    if (out->find('\0') != std::string::npos) {
      *err = Invalid(std::string("field '") + key + "' contains a NUL byte");
      return false;
    }
    return true;
  }

  bool Int(const char* key, bool required, int64_t min, int64_t max, int64_t* out,
           Error* err) const {
    if (!Has(key)) return Missing(key, required, err);
    const json& v = j_.at(key);
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max)) return Range(key, min, max, err);
      *out = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      *out = v.get<int64_t>();
    } else {
      *err = Invalid(std::string("field '") + key + "' must be an integer");
      return false;
    }
    if (*out < min || *out > max) return Range(key, min, max, err);
    return true;
  }

  bool Bool(const char* key, bool* out, Error* err) const {
    if (!Has(key)) return true;  // booleans are always optional
    const json& v = j_.at(key);
    if (!v.is_boolean()) {
      *err = Invalid(std::string("field '") + key + "' must be true or false");
      return false;
    }
    *out = v.get<bool>();
    return true;
  }

  // A size: a string with a unit ("64M", see core::ParseSize) or a JSON integer of bytes.
  bool SizeText(const char* key, std::string* out, Error* err) const {
    if (!Has(key)) return true;
    const json& v = j_.at(key);
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
      *out = v.dump();
      return true;
    }
    if (!v.is_string()) {
      *err = Invalid(std::string("field '") + key +
                     "' must be a byte count (integer) or a string such as \"64M\"");
      return false;
    }
    *out = v.get<std::string>();
    if (out->empty()) {
      *err = Invalid(std::string("field '") + key + "' is empty");
      return false;
    }
    return true;
  }

  // "params": an object {"k": "v"|number|bool} or a tgtadm string "k=v,k=v".
  bool ParamList(const char* key, Params* out, Error* err) const {
    if (!Has(key)) return true;
    const json& v = j_.at(key);
    if (v.is_string()) {
      auto parsed = ParseParamList(v.get<std::string>());
      if (!parsed.ok()) {
        *err = Invalid(parsed.status().message());
        return false;
      }
      *out = std::move(parsed.value());
      return true;
    }
    if (!v.is_object()) {
      *err = Invalid(std::string("field '") + key + "' must be an object or a k=v,... string");
      return false;
    }
    for (const auto& [k, val] : v.items()) {
      if (val.is_string()) {
        out->emplace_back(k, val.get<std::string>());
      } else if (val.is_boolean()) {
        out->emplace_back(k, val.get<bool>() ? "1" : "0");
      } else if (val.is_number_integer() || val.is_number_unsigned()) {
        out->emplace_back(k, val.dump());
      } else {
        *err = Invalid(std::string("field '") + key + "." + k +
                       "' must be a string, an integer or a boolean");
        return false;
      }
    }
    return true;
  }

  // Refuses fields not in `allowed` (besides mode, op, lld), catching typos.
  bool OnlyFields(std::initializer_list<const char*> allowed, Error* err) const {
    for (const auto& [k, v] : j_.items()) {
      if (k == "mode" || k == "op" || k == "lld") continue;
      bool found = false;
      for (const char* a : allowed) found = found || k == a;
      if (!found) {
        *err = Invalid("unknown field '" + k + "' for " + j_.value("mode", "") + " " +
                       j_.value("op", ""));
        return false;
      }
    }
    return true;
  }

 private:
  static bool Missing(const char* key, bool required, Error* err) {
    if (!required) return true;
    *err = Invalid(std::string("missing field '") + key + "'");
    return false;
  }
  static bool Range(const char* key, int64_t min, int64_t max, Error* err) {
    *err = Invalid(std::string("field '") + key + "' out of range (" + std::to_string(min) +
                   ".." + std::to_string(max) + ")");
    return false;
  }
  const json& j_;
};

inline constexpr int64_t kMaxTid = 0x7fffffff;

// Finds the target named by "tid" (preferred) or "targetname": no-such-target, or
// invalid-request when neither is given or they disagree.
bool LookupTarget(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* out,
                  Error* err);

}  // namespace modtgt::admin
