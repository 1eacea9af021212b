// SPDX-License-Identifier: Apache-2.0
// Per-target iSCSI parameters. See target_params.h.
#include "core/target_params.h"

#include <strings.h>

#include <algorithm>
#include <cctype>

namespace modtgt::core {

namespace {

constexpr uint32_t kMinData = 512;        // RFC 7143 13.12-13.14
constexpr uint32_t kMaxData = 16777215;   // 2^24 - 1

using K = TargetParamKind;

// The defaults are the iSCSI transport's (src/iscsi/params.h TargetLimits; a unit test keeps
// the two in step). The order is tgtadm's.
const std::vector<TargetParamInfo> kCatalog = {
    {"nop_interval", K::kFixed, 0, 0, "30",
     "modtgt's keepalive is the transport's: a NOP-In every 30 s on an idle connection"},
    {"nop_count", K::kFixed, 0, 0, "1",
     "modtgt's keepalive is the transport's: a connection is closed after one unanswered "
     "NOP-In"},
    {"MaxRecvDataSegmentLength", K::kNumber, kMinData, kMaxData, "262144", nullptr},
    {"HeaderDigest", K::kDigest, 0, 0, "CRC32C,None", nullptr},
    {"DataDigest", K::kDigest, 0, 0, "CRC32C,None", nullptr},
    {"InitialR2T", K::kBool, 0, 0, "No", nullptr},
    {"MaxOutstandingR2T", K::kNumber, 1, 65535, "16", nullptr},
    {"ImmediateData", K::kBool, 0, 0, "Yes", nullptr},
    {"FirstBurstLength", K::kNumber, kMinData, kMaxData, "262144", nullptr},
    {"MaxBurstLength", K::kNumber, kMinData, kMaxData, "1048576", nullptr},
    {"DataPDUInOrder", K::kFixed, 0, 0, "Yes",
     "modtgt requires Data-Out PDUs in order (RFC 7143 13.18)"},
    {"DataSequenceInOrder", K::kFixed, 0, 0, "Yes",
     "modtgt requires data sequences in order (RFC 7143 13.19)"},
    {"ErrorRecoveryLevel", K::kNumber, 0, 2, "2", nullptr},
    {"IFMarker", K::kFixed, 0, 0, "No", "markers are obsolete (RFC 7143 13.25); modtgt never uses them"},
    {"OFMarker", K::kFixed, 0, 0, "No", "markers are obsolete (RFC 7143 13.25); modtgt never uses them"},
    {"DefaultTime2Wait", K::kNumber, 0, 3600, "2", nullptr},
    {"DefaultTime2Retain", K::kNumber, 0, 3600, "20", nullptr},
    {"OFMarkInt", K::kFixed, 0, 0, "Reject", "markers are obsolete (RFC 7143 13.25)"},
    {"IFMarkInt", K::kFixed, 0, 0, "Reject", "markers are obsolete (RFC 7143 13.25)"},
    {"MaxConnections", K::kNumber, 1, 65535, "4", nullptr},
    {"MaxXmitDataSegmentLength", K::kNumber, kMinData, kMaxData, "16777215", nullptr},
    {"MaxQueueCmd", K::kNumber, 1, 128, "128", nullptr},
};

// tgt shows these iSER keys for every target; modtgt has no iSER transport.
constexpr const char* kIserKeys[] = {"RDMAExtensions", "TargetRecvDataSegmentLength",
                                     "InitiatorRecvDataSegmentLength",
                                     "MaxOutstandingUnexpectedPDUs"};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool ParseU32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// "Yes"/"No" in any letter case (tgt takes the iSCSI spelling; targets.conf files vary).
bool ParseYesNo(std::string_view s, bool* out) {
  if (EqualsIgnoreCase(s, "yes")) {
    *out = true;
    return true;
  }
  if (EqualsIgnoreCase(s, "no")) {
    *out = false;
    return true;
  }
  return false;
}

// A digest list: "None", "CRC32C" or both, comma separated, each once; the spelling is
// RFC 7143's (tgt refuses "crc32c" too).
bool ParseDigest(std::string_view s, std::string* canonical) {
  std::vector<std::string_view> items;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(start, end - start);
    if (item != "None" && item != "CRC32C") return false;
    if (std::find(items.begin(), items.end(), item) != items.end()) return false;
    items.push_back(item);
    start = end + 1;
  }
  if (items.empty()) return false;
  canonical->clear();
  for (auto it : items) *canonical += (canonical->empty() ? "" : ",") + std::string(it);
  return true;
}

std::string KnownKeys() {
  std::string s;
  for (const auto& p : kCatalog) s += (s.empty() ? "" : ", ") + std::string(p.name);
  return s;
}

}  // namespace

const std::vector<TargetParamInfo>& TargetParamCatalog() { return kCatalog; }

const TargetParamInfo* FindTargetParam(std::string_view key) {
  for (const auto& p : kCatalog) {
    if (EqualsIgnoreCase(p.name, key)) return &p;
  }
  return nullptr;
}

bool IsIsnsKey(std::string_view key) {
  return key == "iSNS" || key == "iSNSServerIP" || key == "iSNSServerPort" ||
         key == "iSNSAccessControl";
}

Status TargetParams::Set(std::string_view key, std::string_view value) {
  const TargetParamInfo* p = FindTargetParam(key);
  if (p == nullptr) {
    for (const char* iser : kIserKeys) {
      if (EqualsIgnoreCase(iser, key)) {
        return Status::Unsupported(std::string(iser) +
                                   " is an iSER key; modtgt has no iSER transport");
      }
    }
    return Status::NotFound("unknown target parameter '" + std::string(key) + "' (known: " +
                            KnownKeys() + ")");
  }
  const std::string name = p->name;
  std::string canonical;
  switch (p->kind) {
    case K::kNumber: {
      uint32_t n = 0;
      if (!ParseU32(value, &n) || n < p->min || n > p->max) {
        return Status::InvalidArgument(name + ": '" + std::string(value) + "' is not a number in " +
                                       std::to_string(p->min) + ".." + std::to_string(p->max));
      }
      canonical = std::to_string(n);
      break;
    }
    case K::kBool: {
      bool b = false;
      if (!ParseYesNo(value, &b)) {
        return Status::InvalidArgument(name + ": '" + std::string(value) + "' is not Yes or No");
      }
      canonical = b ? "Yes" : "No";
      break;
    }
    case K::kDigest:
      if (!ParseDigest(value, &canonical)) {
        return Status::InvalidArgument(name + ": '" + std::string(value) +
                                       "' is not None, CRC32C, CRC32C,None or None,CRC32C");
      }
      break;
    case K::kFixed: {
      bool same = EqualsIgnoreCase(value, p->dflt);
      if (!same) {
        return Status::Unsupported(name + " " + std::string(value) + ": only " + p->dflt +
                                   " is possible: " + p->why_fixed);
      }
      canonical = p->dflt;
      break;
    }
  }
  values_[name] = canonical;
  return Status::OK();
}

void TargetParams::Reset(std::string_view key) {
  const TargetParamInfo* p = FindTargetParam(key);
  if (p != nullptr) values_.erase(p->name);
}

std::vector<std::pair<std::string, std::string>> TargetParams::Effective() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : kCatalog) {
    auto it = values_.find(p.name);
    out.emplace_back(p.name, it != values_.end() ? it->second : p.dflt);
  }
  return out;
}

std::optional<uint32_t> TargetParams::Number(std::string_view key) const {
  const TargetParamInfo* p = FindTargetParam(key);
  if (p == nullptr) return std::nullopt;
  auto it = values_.find(p->name);
  uint32_t n = 0;
  if (it == values_.end() || !ParseU32(it->second, &n)) return std::nullopt;
  return n;
}

std::optional<bool> TargetParams::Bool(std::string_view key) const {
  const TargetParamInfo* p = FindTargetParam(key);
  if (p == nullptr) return std::nullopt;
  auto it = values_.find(p->name);
  bool b = false;
  if (it == values_.end() || !ParseYesNo(it->second, &b)) return std::nullopt;
  return b;
}

std::optional<std::string> TargetParams::Text(std::string_view key) const {
  const TargetParamInfo* p = FindTargetParam(key);
  if (p == nullptr) return std::nullopt;
  auto it = values_.find(p->name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

const char* TargetStateName(TargetState s) {
  return s == TargetState::kOffline ? "offline" : "ready";
}

Result<TargetState> ParseTargetState(std::string_view s) {
  if (s == "ready") return TargetState::kReady;
  if (s == "offline") return TargetState::kOffline;
  return Status::InvalidArgument("state '" + std::string(s) + "': must be ready or offline");
}

}  // namespace modtgt::core
