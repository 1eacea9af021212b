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
  std::vector<uint8_t> out_;  // the answer
  size_t pos_ = 0;            // of out_ already sent
  uint32_t ttt_ = 0xffffffffu;
};

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
