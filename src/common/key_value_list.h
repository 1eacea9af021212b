// SPDX-License-Identifier: Apache-2.0
// "k1=v1,k2=v2" lists: tgtadm's --params and targets.conf's `params` directive.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace modtgt {

using KeyValueList = std::vector<std::pair<std::string, std::string>>;

// Splits `s` at commas into key=value pairs, split at the first '='. Empty items are
// skipped; an item without '=' or with an empty key is an error naming the item
// ("'ITEM' is not key=value").
inline Result<KeyValueList> SplitKeyValueList(const std::string& s) {
  KeyValueList out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string item = s.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("'" + item + "' is not key=value");
    }
    out.emplace_back(item.substr(0, eq), item.substr(eq + 1));
  }
  return out;
}

}  // namespace modtgt
