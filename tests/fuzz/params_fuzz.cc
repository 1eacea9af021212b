// SPDX-License-Identifier: Apache-2.0
// Fuzzes ParseKeyValues (RFC 7143 6.1 text) and checks that what it accepts re-encodes
// and re-parses to the same list; and each value through the value forms: numbers and
// binary values (hex, base64: CHAP_C, CHAP_R), bounded and round-tripping.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "iscsi/params.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using modtgt::iscsi::KeyValues;
  modtgt::Result<KeyValues> r = modtgt::iscsi::ParseKeyValues(data, size);
  if (!r.ok()) return 0;
  for (const auto& [k, v] : *r) {
    if (k.empty() || k.size() > 63 || v.size() > 8192) std::abort();
    uint64_t n = 0;
    if (modtgt::iscsi::ParseNumber(v, &n)) {
      // Decimal values print back as given, less leading zeros.
      if (v.size() < 2 || (v[1] != 'x' && v[1] != 'X')) {
        uint64_t again = 0;
        if (!modtgt::iscsi::ParseNumber(std::to_string(n), &again) || again != n) std::abort();
      }
    }
    std::vector<uint8_t> bin;
    const size_t max = 1 + (static_cast<size_t>(v.size()) * 7) % 64;  // a varying limit
    if (modtgt::iscsi::DecodeBinaryValue(v, max, &bin)) {
      if (bin.empty() || bin.size() > max) std::abort();
      const std::string hex = modtgt::iscsi::EncodeHex(bin.data(), bin.size());
      std::vector<uint8_t> back;
      if (!modtgt::iscsi::DecodeBinaryValue(hex, max, &back) || back != bin) std::abort();
    }
  }
  std::vector<uint8_t> again;
  modtgt::iscsi::AppendKeyValues(*r, &again);
  modtgt::Result<KeyValues> r2 = modtgt::iscsi::ParseKeyValues(again.data(), again.size());
  if (!r2.ok() || *r2 != *r) std::abort();
  return 0;
}
