// SPDX-License-Identifier: Apache-2.0
// ParseJsonStrict: JSON for input the daemon did not author (admin requests, the saved
// configuration file). Stricter than nlohmann::json::parse in the ways that lose data
// silently: an object with a duplicate key is refused (the last value would otherwise win),
// as is nesting deeper than a bound. Errors say where.
//
// Threading: pure function; thread-safe.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modtgt::core {

inline constexpr size_t kMaxJsonDepth = 64;

// InvalidArgument: "duplicate key \"tid\" in an object", "nested deeper than 64 levels",
// or the parser's own message (with the byte offset).
Result<nlohmann::json> ParseJsonStrict(std::string_view text, size_t max_depth = kMaxJsonDepth);

}  // namespace modtgt::core
