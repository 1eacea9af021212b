// SPDX-License-Identifier: Apache-2.0
// Text requests (RFC 7143 11.10-11.11) and the SendTargets answer (RFC 7143 Appendix C).
//
// TextExchange is the Text Request/Response state of one connection: it gathers a request
// the initiator continues over several PDUs (C bit), has its Host answer the complete
// request, and sends a long answer in pieces of at most MaxXmitDataSegmentLength, each
// further piece asked for by a Text Request carrying the TTT of the previous one. It builds
// no PDU and does no I/O; the connection sends what Step() returns.
//
// Threading: TextExchange is not thread-safe (owned by one connection, used on its loop);
// AnswerSendTargets is a pure function.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "iscsi/params.h"
#include "iscsi/pdu.h"

namespace modtgt::core {
class Target;
}

namespace modtgt::iscsi {

class TextExchange {
 public:
  // The most request text gathered over C-bit Text Requests (as kMaxLoginText for a
  // login); a request beyond it is rejected.
  static constexpr size_t kMaxTextRequest = 65536;

  class Host {
   public:
    virtual ~Host() = default;
    // A new Target Transfer Tag for a continued exchange (not 0xffffffff).
    virtual uint32_t NewTextTtt() = 0;
    // Appends the answer to a complete request's keys to *out.
    virtual void AnswerText(const KeyValues& request, KeyValues* out) = 0;
  };

  // What to send for one Text Request: a Reject, or a Text Response.
  struct Reply {
    bool reject = false;
    RejectReason reason = RejectReason::kProtocolError;
    uint8_t flags = 0;              // BHS byte 1: F (last piece), C (more to come) or 0
    uint32_t ttt = 0xffffffffu;     // ours while the exchange goes on, else reserved
    const uint8_t* data = nullptr;  // valid until the next Step
    uint32_t len = 0;
  };

  // Takes one Text Request (`req` and its data segment). max_len is the connection's
  // MaxXmitDataSegmentLength.
  Reply Step(const Bhs& req, const std::vector<uint8_t>& data, uint32_t max_len, Host* host);

 private:
  Reply NextPiece(uint32_t max_len, Host* host);

  std::vector<uint8_t> in_;   // the request so far (C bit)
  uint32_t in_itt_ = 0xffffffffu;  // the ITT of the request being gathered
  std::vector<uint8_t> out_;  // the answer
  size_t pos_ = 0;            // of out_ already sent
  uint32_t ttt_ = 0xffffffffu;
};

// What one key of a Text Request in full feature phase gets (RFC 7143 6.2, 13, Appendix C).
// The SendTargets list itself needs the targets, so it is left to the caller (kSendTargets).
struct FfpKeyAnswer {
  enum class Kind {
    kSendTargets,  // "All", "" or an iSCSI name: the caller lists the targets
    kReply,        // answer key=value (NotUnderstood, Reject, Irrelevant)
    kNone,         // a declaration that needs no answer (InitiatorAlias, MaxRecvDataSeg...)
  };
  Kind kind = Kind::kReply;
  std::string value;      // kReply
  uint32_t max_xmit = 0;  // non-zero: the initiator declared this MaxRecvDataSegmentLength
};
// - SendTargets: "All", empty or a well-formed iSCSI name (iqn./eui./naa., at most 223
//   bytes of a-z 0-9 - . :) is listed; any other value is answered Reject (6.2: a value
//   outside the key's set). In a Normal session "All" lists only the session's target.
// - MaxRecvDataSegmentLength (Use: ALL, declarative): 512..2^24-1 takes effect for what
//   the target sends next; another value is answered Reject.
// - InitiatorAlias (declarative): taken, no answer.
// - Login-only keys (the operational keys of RFC 7143 13 other than the above, security
//   keys, InitiatorName/TargetName/SessionType, the target's own declarations): Reject,
//   they cannot be negotiated in full feature phase.
// - A key the target does not know (X- and X# keys included): NotUnderstood (6.2).
// `discovery`: a Discovery session, where MaxRecvDataSegmentLength is still allowed and
// operational keys are Irrelevant (6.2: a key that does not apply to the session type).
FfpKeyAnswer AnswerFullFeatureKey(const std::string& key, const std::string& value,
                                  bool discovery);
// True for a well-formed iSCSI name (RFC 7143 4.2.7.1-4.2.7.3, lower case after stringprep).
bool IsIscsiName(const std::string& name);

// Builds a SendTargets answer (RFC 7143 Appendix C): for "All" every target the initiator
// may see, for a name just that one. TargetAddress uses `local` (the address the initiator
// connected to, so an initiator behind NAT can use it), formatted "ip:port,tpgt" ([ip6]);
// an IPv4-mapped IPv6 address is given as IPv4, and a null/wildcard `local` gives no
// TargetAddress. "" (a Normal session: the caller passes only its target) works like "All".
// Targets whose ACL refuses (peer, initiator_name) are left out. Appends to *out.
void AnswerSendTargets(const std::string& what, const sockaddr* local, uint16_t tpgt,
                       const std::vector<std::shared_ptr<core::Target>>& targets,
                       const sockaddr* peer, const std::string& initiator_name, KeyValues* out);

}  // namespace modtgt::iscsi
