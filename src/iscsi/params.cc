// SPDX-License-Identifier: Apache-2.0
// Text key=value encoding and value forms (RFC 7143 6.1).
#include "iscsi/params.h"

#include <algorithm>
#include <string_view>

namespace modtgt::iscsi {
namespace {

constexpr size_t kMaxKeyLength = 63;      // RFC 7143 6.1: key names up to 63 bytes
constexpr size_t kMaxValueLength = 8192;  // largest value modtgt accepts (binary values)

// RFC 7143 6.1: a key name is a standard-label (letters, digits, '.', '-', '+', '@', '_')
// or an extension key ("X-..." / "X#..."), so '#' is allowed too.
bool IsKeyChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '.' || c == '-' || c == '+' || c == '@' || c == '_' || c == '#';
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int Base64Digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

Result<KeyValues> ParseKeyValues(const uint8_t* data, size_t len) {
  KeyValues out;
  if (len == 0) {
    return out;
  }
  if (data == nullptr) {
    return Status::InvalidArgument("null text data");
  }
  std::string_view text(reinterpret_cast<const char*>(data), len);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\0', pos);
    if (end == std::string_view::npos) {
      end = text.size();  // a missing trailing NUL is accepted
    }
    std::string_view pair = text.substr(pos, end - pos);
    if (pair.empty()) {
      // Tolerate NUL padding at the very end only; an empty pair in the middle is malformed.
      if (text.find_first_not_of('\0', pos) == std::string_view::npos) {
        break;
      }
      return Status::InvalidArgument("empty key=value pair");
    }
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      return Status::InvalidArgument("key without '='");
    }
    std::string_view key = pair.substr(0, eq);
    std::string_view value = pair.substr(eq + 1);
    if (key.empty()) {
      return Status::InvalidArgument("empty key");
    }
    if (key.size() > kMaxKeyLength) {
      return Status::InvalidArgument("key longer than 63 bytes");
    }
    for (unsigned char c : key) {
      if (!IsKeyChar(c)) {
        return Status::InvalidArgument("invalid character in key");
      }
    }
    if (value.size() > kMaxValueLength) {
      return Status::InvalidArgument("value longer than 8192 bytes");
    }
    out.emplace_back(std::string(key), std::string(value));
    pos = end + 1;
  }
  return out;
}

void ApplyTargetParams(const core::TargetParams& p, TargetLimits* lim) {
  if (auto n = p.Number("MaxRecvDataSegmentLength")) lim->max_recv_data_segment = *n;
  if (auto n = p.Number("MaxXmitDataSegmentLength")) lim->max_xmit_data_segment = *n;
  if (auto n = p.Number("FirstBurstLength")) lim->first_burst_length = *n;
  if (auto n = p.Number("MaxBurstLength")) lim->max_burst_length = *n;
  if (auto n = p.Number("MaxOutstandingR2T")) lim->max_outstanding_r2t = *n;
  if (auto n = p.Number("DefaultTime2Wait")) lim->default_time2wait = *n;
  if (auto n = p.Number("DefaultTime2Retain")) lim->default_time2retain = *n;
  if (auto n = p.Number("MaxQueueCmd")) lim->max_queue_cmd = *n;
  // At most what the transport offers (--iscsi error_recovery_level,
  // max_connections_per_session).
  if (auto n = p.Number("ErrorRecoveryLevel")) {
    lim->error_recovery_level = std::min<uint32_t>(*n, lim->error_recovery_level);
  }
  if (auto n = p.Number("MaxConnections")) {
    lim->max_connections = std::min<uint32_t>(*n, lim->max_connections);
  }
  if (auto b = p.Bool("InitialR2T")) lim->initial_r2t = *b;
  if (auto b = p.Bool("ImmediateData")) lim->immediate_data = *b;
  auto digest = [](const std::optional<std::string>& v, bool* allow, bool* require) {
    if (!v) return;
    *allow = v->find("CRC32C") != std::string::npos;
    *require = *allow && v->find("None") == std::string::npos;
  };
  digest(p.Text("HeaderDigest"), &lim->allow_header_digest, &lim->require_header_digest);
  digest(p.Text("DataDigest"), &lim->allow_data_digest, &lim->require_data_digest);
}

bool ParseNumber(std::string_view v, uint64_t* out) {
  int base = 10;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    base = 16;
    v.remove_prefix(2);
  }
  if (v.empty() || v.size() > 20) {
    return false;
  }
  uint64_t n = 0;
  for (char c : v) {
    int d = HexDigit(c);
    if (d < 0 || d >= base) {
      return false;
    }
    if (n > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) {
      return false;
    }
    n = n * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  *out = n;
  return true;
}

bool DecodeBinaryValue(std::string_view v, size_t max_len, std::vector<uint8_t>* out) {
  out->clear();
  if (v.size() < 3 || v[0] != '0') {
    return false;
  }
  const char form = v[1];
  v.remove_prefix(2);
  if (form == 'x' || form == 'X') {
    if ((v.size() + 1) / 2 > max_len) {
      return false;
    }
    out->reserve((v.size() + 1) / 2);
    size_t i = 0;
    if (v.size() % 2 == 1) {  // an odd count: the first digit is a byte of its own
      int d = HexDigit(v[0]);
      if (d < 0) return false;
      out->push_back(static_cast<uint8_t>(d));
      i = 1;
    }
    for (; i < v.size(); i += 2) {
      int hi = HexDigit(v[i]);
      int lo = HexDigit(v[i + 1]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<uint8_t>(hi << 4 | lo));
    }
    return true;
  }
  if (form != 'b' && form != 'B') {
    return false;
  }
  // RFC 4648 section 4. Padding: none, or exactly what the length needs.
  size_t pad = 0;
  while (!v.empty() && v.back() == '=' && pad < 2) {
    v.remove_suffix(1);
    pad++;
  }
  if (v.empty() || v.size() % 4 == 1 || (pad > 0 && (v.size() + pad) % 4 != 0)) {
    return false;
  }
  if (v.size() * 3 / 4 > max_len) {
    return false;
  }
  out->reserve(v.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : v) {
    int d = Base64Digit(c);
    if (d < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return true;
}

std::string EncodeHex(const uint8_t* data, size_t len) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  s.reserve(2 + 2 * len);
  for (size_t i = 0; i < len; i++) {
    s.push_back(kDigits[data[i] >> 4]);
    s.push_back(kDigits[data[i] & 15]);
  }
  return s;
}

void AppendKeyValues(const KeyValues& kvs, std::vector<uint8_t>* out) {
  for (const auto& [key, value] : kvs) {
    out->insert(out->end(), key.begin(), key.end());
    out->push_back('=');
    out->insert(out->end(), value.begin(), value.end());
    out->push_back('\0');
  }
}

KeyClass Classify(std::string_view k) {
  if (k == "InitiatorName" || k == "TargetName" || k == "SessionType") return KeyClass::kLoginName;
  if (k == "InitiatorAlias") return KeyClass::kInitiatorAlias;
  if (k == "TargetAlias" || k == "TargetAddress" || k == "TargetPortalGroupTag") {
    return KeyClass::kTargetOnly;
  }
  if (k == "AuthMethod" || k.starts_with("CHAP_") || k.starts_with("SRP_") ||
      k.starts_with("KRB_") || k.starts_with("SPKM_")) {
    return KeyClass::kSecurity;
  }
  if (k == "SendTargets") return KeyClass::kFfpOnly;
  static constexpr std::string_view kOperational[] = {
      "HeaderDigest",      "DataDigest",         "MaxConnections",   "InitialR2T",
      "ImmediateData",     "MaxRecvDataSegmentLength", "MaxBurstLength", "FirstBurstLength",
      "DefaultTime2Wait",  "DefaultTime2Retain", "MaxOutstandingR2T", "DataPDUInOrder",
      "DataSequenceInOrder", "ErrorRecoveryLevel", "IFMarker",        "OFMarker",
      "IFMarkInt",         "OFMarkInt",          "TaskReporting",    "iSCSIProtocolLevel",
  };
  for (std::string_view o : kOperational) {
    if (k == o) return KeyClass::kOperational;
  }
  return KeyClass::kUnknown;
}

}  // namespace modtgt::iscsi
