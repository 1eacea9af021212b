// SPDX-License-Identifier: Apache-2.0
#include "core/strict_json.h"

#include <set>
#include <string>
#include <vector>

namespace modtgt::core {

Result<nlohmann::json> ParseJsonStrict(std::string_view text, size_t max_depth) {
  using nlohmann::json;
  std::vector<std::set<std::string>> keys;  // one set per open object
  size_t depth = 0;
  std::string error;
  json::parser_callback_t cb = [&](int, json::parse_event_t event, json& parsed) {
    if (!error.empty()) return false;
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        [[fallthrough]];
      case json::parse_event_t::array_start:
        if (++depth > max_depth) {
          error = "nested deeper than " + std::to_string(max_depth) + " levels";
          return false;
        }
        break;
      case json::parse_event_t::object_end:
        keys.pop_back();
        [[fallthrough]];
      case json::parse_event_t::array_end:
        --depth;
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          error = "duplicate key \"" + parsed.get<std::string>() + "\" in an object";
          return false;
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  };
  json out = json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/false);
  if (!error.empty()) return Status::InvalidArgument(error);
  if (out.is_discarded()) {
    // Parse again without the callback for the parser's own message (with the offset).
    try {
      json again = json::parse(text.begin(), text.end());
      (void)again;
    } catch (const json::exception& e) {
      std::string what = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
      size_t p = what.find("] ");
      return Status::InvalidArgument(p == std::string::npos ? what : what.substr(p + 2));
    }
    return Status::InvalidArgument("not valid JSON");
  }
  return out;
}

}  // namespace modtgt::core
