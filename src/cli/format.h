// SPDX-License-Identifier: Apache-2.0
// modtgtadm's human-readable output, in tgtadm's layout ("Target 1: iqn...", "System
// information:", "I_T nexus information:", "LUN information:", "Account information:",
// "ACL information:"). Pure functions over the daemon's result objects; tolerant of missing
// or mistyped fields (a newer or older daemon must not crash the CLI).
//
// Threading: thread-compatible.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace modtgt::cli {

// Text for the result of `request`; "" for ops that print nothing on success (new, delete,
// bind, ...).
std::string FormatResult(const nlohmann::json& request, const nlohmann::json& result);

}  // namespace modtgt::cli
