// SPDX-License-Identifier: Apache-2.0
// Fuzzes ParseKeyValues (RFC 7143 6.1 text) and checks that what it accepts re-encodes
// and re-parses to the same list.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "iscsi/params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using modtgt::iscsi::KeyValues;
  modtgt::Result<KeyValues> r = modtgt::iscsi::ParseKeyValues(data, size);
  if (!r.ok()) return 0;
  for (const auto& [k, v] : *r) {
    if (k.empty() || k.size() > 63 || v.size() > 8192) std::abort();
  }
  std::vector<uint8_t> again;
  modtgt::iscsi::AppendKeyValues(*r, &again);
  modtgt::Result<KeyValues> r2 = modtgt::iscsi::ParseKeyValues(again.data(), again.size());
  if (!r2.ok() || *r2 != *r) std::abort();
  return 0;
}
