// SPDX-License-Identifier: Apache-2.0
// ObjectReader: strict field access to one JSON object of a file the daemon reads back (the
// saved configuration, the persistent-reservation state files): typed getters that say
// where a value is wrong, and Finish() that refuses keys nobody asked for.
//
// Threading: an ObjectReader is used by one thread; it only reads the json it was given.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modtgt::core {

// Reads the fields of one JSON object, remembering which were read so that Finish() can
// refuse the unknown ones. Errors carry the object's place ("targets[0].luns[1]").
class ObjectReader {
 public:
  ObjectReader(const nlohmann::json& j, std::string where) : j_(j), where_(std::move(where)) {}

  Status IsObject() const {
    return j_.is_object() ? Status::OK() : Bad(where_, "must be an object");
  }
  bool Has(const char* key) const { return j_.contains(key); }

  Status Str(const char* key, bool required, std::string* out) {
    const nlohmann::json* v = Field(key);
    if (v == nullptr) return required ? Missing(key) : Status::OK();
    if (!v->is_string()) return Bad(Place(key), "must be a string");
    *out = v->get<std::string>();
    if (out->find('\0') != std::string::npos) return Bad(Place(key), "contains a NUL byte");
    return Status::OK();
  }
  Status U64(const char* key, bool required, uint64_t max, uint64_t* out) {
    const nlohmann::json* v = Field(key);
    if (v == nullptr) return required ? Missing(key) : Status::OK();
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
      return Bad(Place(key), "must be a non-negative integer");
    }
    uint64_t n = v->get<uint64_t>();
    if (n > max) return Bad(Place(key), "must be at most " + std::to_string(max));
    *out = n;
    return Status::OK();
  }
  Status U32(const char* key, bool required, uint32_t* out) {
    uint64_t n = *out;
    MODTGT_RETURN_IF_ERROR(U64(key, required, UINT32_MAX, &n));
    *out = static_cast<uint32_t>(n);
    return Status::OK();
  }
  Status Bool(const char* key, bool* out) {
    const nlohmann::json* v = Field(key);
    if (v == nullptr) return Status::OK();
    if (!v->is_boolean()) return Bad(Place(key), "must be true or false");
    *out = v->get<bool>();
    return Status::OK();
  }
  Status StrList(const char* key, std::vector<std::string>* out) {
    const nlohmann::json* v = Field(key);
    if (v == nullptr) return Status::OK();
    if (!v->is_array()) return Bad(Place(key), "must be an array of strings");
    out->clear();
    for (size_t i = 0; i < v->size(); i++) {
      if (!(*v)[i].is_string()) {
        return Bad(Place(key) + "[" + std::to_string(i) + "]", "must be a string");
      }
      out->push_back((*v)[i].get<std::string>());
    }
    return Status::OK();
  }
  // The sub-object or array `key` (nullptr if absent); marks it read.
  const nlohmann::json* Sub(const char* key) { return Field(key); }

  // Refuses a key no getter asked for.
  Status Finish() const {
    for (const auto& [k, v] : j_.items()) {
      if (!read_.count(k)) return Bad(Place(k.c_str()), "unknown key");
    }
    return Status::OK();
  }

  std::string Place(const char* key) const {
    return where_.empty() ? std::string(key) : where_ + "." + key;
  }
  static Status Bad(const std::string& place, const std::string& what) {
    return Status::InvalidArgument(place + ": " + what);
  }

 private:
  const nlohmann::json* Field(const char* key) {
    read_.insert(key);
    auto it = j_.find(key);
    if (it == j_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  Status Missing(const char* key) const { return Bad(Place(key), "missing"); }

  const nlohmann::json& j_;
  std::string where_;
  std::set<std::string> read_;
};

}  // namespace modtgt::core
