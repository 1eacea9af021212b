// SPDX-License-Identifier: Apache-2.0
#include "iscsi/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

#include "core/target.h"

namespace modtgt::iscsi {
namespace {

// "a.b.c.d:port,tpgt" or "[v6]:port,tpgt" (RFC 7143 13.8 TargetAddress: domainname
// [:port][,portal-group-tag], IPv6 literals in brackets per RFC 3986). An IPv4-mapped IPv6
// address (a dual-stack listener) is given as plain IPv4, which every initiator can use.
// Returns "" for a missing, non-IP or wildcard address: the wildcard is never reachable.
std::string FormatTargetAddress(const sockaddr* local, uint16_t tpgt) {
  if (local == nullptr) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  uint16_t port = 0;
  bool v6 = false;
  if (local->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(local);
    if (sin->sin_addr.s_addr == htonl(INADDR_ANY)) return "";
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)) == nullptr) return "";
    port = ntohs(sin->sin_port);
  } else if (local->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(local);
    if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr)) return "";
    port = ntohs(sin6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      in_addr v4;
      std::memcpy(&v4, &sin6->sin6_addr.s6_addr[12], sizeof(v4));
      if (v4.s_addr == htonl(INADDR_ANY)) return "";
      if (inet_ntop(AF_INET, &v4, buf, sizeof(buf)) == nullptr) return "";
    } else {
      if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)) == nullptr) return "";
      v6 = true;
    }
  } else {
    return "";
  }
  std::string out;
  if (v6) {
    out = "[" + std::string(buf) + "]";
  } else {
    out = buf;
  }
  out += ":" + std::to_string(port) + "," + std::to_string(tpgt);
  return out;
}

constexpr uint32_t kReserved = 0xffffffffu;
constexpr uint8_t kFlagF = 0x80;
constexpr uint8_t kFlagC = 0x40;  // Text: continue

}  // namespace

bool IsIscsiName(const std::string& name) {
  if (name.size() > 223) return false;
  auto hex = [](std::string_view v) {
    return std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    });
  };
  std::string_view n(name);
  if (n.starts_with("eui.")) return n.size() == 4 + 16 && hex(n.substr(4));
  if (n.starts_with("naa.")) {
    return (n.size() == 4 + 16 || n.size() == 4 + 32) && hex(n.substr(4));
  }
  if (!n.starts_with("iqn.") || n.size() < 12) return false;  // iqn.yyyy-mm.x
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == ':';
  });
}

FfpKeyAnswer AnswerFullFeatureKey(const std::string& key, const std::string& value,
                                  bool discovery) {
  FfpKeyAnswer a;
  switch (Classify(key)) {
    case KeyClass::kFfpOnly:  // SendTargets
      if (value == "All" || value.empty() || IsIscsiName(value)) {
        a.kind = FfpKeyAnswer::Kind::kSendTargets;
      } else {
        a.value = "Reject";
      }
      return a;
    case KeyClass::kInitiatorAlias:
      a.kind = FfpKeyAnswer::Kind::kNone;
      return a;
    case KeyClass::kOperational:
      if (key == "MaxRecvDataSegmentLength") {
        uint64_t n = 0;
        if (ParseNumber(value, &n) && n >= 512 && n <= 16777215) {
          a.kind = FfpKeyAnswer::Kind::kNone;
          a.max_xmit = static_cast<uint32_t>(n);
        } else {
          a.value = "Reject";
        }
        return a;
      }
      a.value = discovery ? "Irrelevant" : "Reject";
      return a;
    case KeyClass::kLoginName:
    case KeyClass::kTargetOnly:
    case KeyClass::kSecurity:
      a.value = "Reject";
      return a;
    case KeyClass::kUnknown:
      break;
  }
  a.value = "NotUnderstood";
  return a;
}

void AnswerSendTargets(const std::string& what, const sockaddr* local, uint16_t tpgt,
                       const std::vector<std::shared_ptr<core::Target>>& targets,
                       const sockaddr* peer, const std::string& initiator_name, KeyValues* out) {
  const std::string address = FormatTargetAddress(local, tpgt);
  // "All" (and the empty value, which the caller uses in a Normal session with just the
  // session's target) lists every target given; any other value names one target.
  const bool all = what == "All" || what.empty();
  for (const auto& t : targets) {
    if (t == nullptr) continue;
    if (!all && t->name() != what) continue;
    // Only targets this initiator may log in to are shown (RFC 7143 C: the answer is
    // limited to what the initiator is authorized to access).
    if (!t->AllowsInitiator(peer, initiator_name)) continue;
    out->emplace_back("TargetName", t->name());
    if (!address.empty()) {
      out->emplace_back("TargetAddress", address);
    }
  }
}

TextExchange::Reply TextExchange::Step(const Bhs& req, const std::vector<uint8_t>& data,
                                       uint32_t max_len, Host* host) {
  uint32_t ttt = req.Get32(20);
  if (ttt != kReserved) {
    // The initiator asks for the next piece of our answer.
    if (ttt != ttt_ || pos_ >= out_.size()) {
      Reply r;
      r.reject = true;
      r.reason = RejectReason::kInvalidPduField;
      return r;
    }
    return NextPiece(max_len, host);
  }
  if (req.itt() != in_itt_) {
    // A new request (another ITT) ends whatever was gathered or sent before (RFC 7143
    // 11.10.4: a new Text Request with the reserved TTT resets the exchange).
    in_.clear();
    in_itt_ = req.itt();
  }
  if (in_.size() + data.size() > kMaxTextRequest) {
    // A request continued past any sensible size: refuse it and forget what came so far.
    in_.clear();
    in_itt_ = kReserved;
    Reply r;
    r.reject = true;
    r.reason = RejectReason::kProtocolError;
    return r;
  }
  in_.insert(in_.end(), data.begin(), data.end());
  if (req.b[1] & kFlagC) {
    // The initiator continues its request: acknowledge with an empty response.
    out_.clear();
    pos_ = 0;
    ttt_ = host->NewTextTtt();
    Reply r;
    r.flags = 0;
    r.ttt = ttt_;
    return r;
  }
  Result<KeyValues> kvs = ParseKeyValues(in_.data(), in_.size());
  in_.clear();
  in_itt_ = kReserved;
  if (!kvs.ok()) {
    Reply r;
    r.reject = true;
    r.reason = RejectReason::kProtocolError;
    return r;
  }
  KeyValues answer;
  host->AnswerText(*kvs, &answer);
  out_.clear();
  pos_ = 0;
  AppendKeyValues(answer, &out_);
  return NextPiece(max_len, host);
}

TextExchange::Reply TextExchange::NextPiece(uint32_t max_len, Host* host) {
  size_t left = out_.size() - pos_;
  uint32_t len = static_cast<uint32_t>(std::min<size_t>(left, max_len));
  bool more = left > len;
  Reply r;
  r.flags = more ? kFlagC : kFlagF;
  if (more) ttt_ = host->NewTextTtt();
  r.ttt = more ? ttt_ : kReserved;
  r.data = out_.data() + pos_;
  r.len = len;
  pos_ += len;
  // After the last piece pos_ == out_.size(): a further continuation is refused. out_ keeps
  // the bytes r.data points to until the next request.
  if (!more) ttt_ = kReserved;
  return r;
}

}  // namespace modtgt::iscsi
