// SPDX-License-Identifier: Apache-2.0
// Text key=value encoding (RFC 7143 6.1).
#include "iscsi/params.h"

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

void AppendKeyValues(const KeyValues& kvs, std::vector<uint8_t>* out) {
  for (const auto& [key, value] : kvs) {
    out->insert(out->end(), key.begin(), key.end());
    out->push_back('=');
    out->insert(out->end(), value.begin(), value.end());
    out->push_back('\0');
  }
}

}  // namespace modtgt::iscsi
