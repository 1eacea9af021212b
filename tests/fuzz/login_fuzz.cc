// SPDX-License-Identifier: Apache-2.0
// Fuzzes Login::Step with arbitrary PDU sequences, with the real CHAP authenticator
// (iscsi::ChapAuthenticator) behind the security stage. Input: one option byte, then PDUs
// laid out as on the wire: a 48-byte BHS followed by DataSegmentLength bytes of data (cut
// short at the end of the input). Checks the invariants every response must keep, and that
// a login needing CHAP never completes without it.
//
// Option bits:
//   0  the target's ACL names the initiator (otherwise it admits ALL)
//   1  the target has an alias
//   2  PrepareSession fails (Too Many Connections)
//   3  account "user1" (secret kUserSecret) is bound to the target and to discovery: CHAP
//      is required
//   4  account "target1" is bound as the outgoing account (mutual CHAP)
//   5  ... with the initiator's secret (mutual CHAP must then be refused)
// The "random" bytes of the target are a counter from 0x40: CHAP_I = 0x40 and CHAP_C =
// 0x41..0x60, so the seeds (make_corpus.py) carry correct responses for every algorithm.
// MODTGT_FUZZ_VERBOSE=1 prints each response's status and the login's outcome (for checking
// seeds).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/log.h"
#include "core/accounts.h"
#include "core/target.h"
#include "iscsi/chap.h"
#include "iscsi/login.h"

namespace {

using namespace modtgt::iscsi;  // NOLINT: fuzz harness

constexpr char kTarget[] = "iqn.2024-01.org.modtgt:disk1";
constexpr char kUserSecret[] = "user1-secret-0123";
constexpr char kTargetSecret[] = "target1-secret-4567";

class Env : public LoginEnvironment {
 public:
  explicit Env(uint8_t opts) : opts_(opts) {
    target_ = std::make_shared<modtgt::core::Target>(1, kTarget);
    (void)target_->BindAddress("ALL");
    if (opts & 1) (void)target_->BindName("iqn.2024-01.org.example:host1");
    if (opts & 2) target_->set_alias("fuzz");
    (void)accounts_.Add("user1", kUserSecret);
    (void)accounts_.Add("target1", (opts & 32) ? kUserSecret : kTargetSecret);
    if (opts & 8) {
      (void)accounts_.Bind(1, "user1", false);
      (void)accounts_.Bind(modtgt::core::kDiscoveryTid, "user1", false);
    }
    if (opts & 16) {
      (void)accounts_.Bind(1, "target1", true);
      (void)accounts_.Bind(modtgt::core::kDiscoveryTid, "target1", true);
    }
    std::memset(&addr_, 0, sizeof(addr_));
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(3260);
    addr_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  std::shared_ptr<modtgt::core::Target> FindTarget(const std::string& name) override {
    return name == kTarget ? target_ : nullptr;
  }
  const TargetLimits& limits() override { return limits_; }
  const sockaddr* peer_address() override { return reinterpret_cast<sockaddr*>(&addr_); }
  const sockaddr* local_address() override { return reinterpret_cast<sockaddr*>(&addr_); }
  uint16_t portal_group_tag() override { return 1; }
  LoginStatus PrepareSession(const Login& login, uint16_t* tsih) override {
    if (++prepared_ > 1) std::abort();  // at most once per login
    if (opts_ & 4) return LoginStatus::kTooManyConnections;
    *tsih = 1;
    return LoginStatus::kSuccess;
  }
  // As iscsi::Connection: CHAP when incoming accounts are bound (to the target, or to
  // discovery for a null target).
  bool AuthenticationRequired(const modtgt::core::Target* t) override {
    return !accounts_.BindingOf(t ? t->tid() : modtgt::core::kDiscoveryTid).incoming.empty();
  }
  std::unique_ptr<Authenticator> NewAuthenticator(const std::string& method,
                                                  const modtgt::core::Target* t,
                                                  const std::string&) override {
    auto b = accounts_.BindingOf(t ? t->tid() : modtgt::core::kDiscoveryTid);
    if (method != "CHAP" || b.incoming.empty()) return nullptr;
    auto next = std::make_shared<uint8_t>(0x40);
    RandomSource counter = [next](uint8_t* buf, size_t n) {
      for (size_t i = 0; i < n; i++) buf[i] = (*next)++;
      return true;
    };
    return std::make_unique<ChapAuthenticator>(&accounts_, b.incoming, b.outgoing, counter);
  }

 private:
  uint8_t opts_;
  int prepared_ = 0;
  std::shared_ptr<modtgt::core::Target> target_;
  modtgt::core::AccountRegistry accounts_;
  TargetLimits limits_;
  sockaddr_in addr_;
};

bool Contains(const std::vector<uint8_t>& hay, std::string_view needle) {
  return std::string_view(reinterpret_cast<const char*>(hay.data()), hay.size()).find(needle) !=
         std::string_view::npos;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  modtgt::SetLogLevel(modtgt::LogLevel::kError);  // failed logins are expected here
  const uint8_t opts = data[0];
  Env env(opts);
  Login login(&env);
  size_t pos = 1;
  bool over = false;
  while (size - pos >= kBhsLength) {
    Pdu req;
    std::memcpy(req.bhs.b.data(), data + pos, kBhsLength);
    pos += kBhsLength;
    size_t len = std::min<size_t>(req.bhs.data_segment_length(), size - pos);
    req.data.assign(data + pos, data + pos + len);
    pos += len;
    Pdu resp;
    LoginStep step = login.Step(req, &resp);
    // Invariants of every Login Response (RFC 7143 11.13).
    if (resp.bhs.opcode() != Opcode::kLoginResponse) std::abort();
    if (resp.bhs.data_segment_length() != resp.data.size()) std::abort();
    if (resp.data.size() > kLoginMaxDataSegment) std::abort();
    if ((resp.bhs.b[1] & 0xc0) == 0xc0) std::abort();  // never T and C together
    if (resp.bhs.itt() != req.bhs.itt()) std::abort();
    const bool failed = resp.bhs.b[36] != 0;
    if (failed != (step == LoginStep::kFailed)) std::abort();
    if (failed && !resp.data.empty()) std::abort();
    if (over && step != LoginStep::kFailed) std::abort();  // nothing after the end
    // No secret ever goes on the wire, unless the initiator sent it itself (an unknown key
    // is echoed with NotUnderstood).
    const std::vector<uint8_t> input(data, data + size);
    for (const char* secret : {kUserSecret, kTargetSecret}) {
      if (Contains(resp.data, secret) && !Contains(input, secret)) std::abort();
    }
    if (step == LoginStep::kComplete && (opts & 8)) {
      // CHAP is required (for the target and for discovery): a completed login must have
      // passed it.
      if (login.auth_summary().rfind("CHAP user 'user1'", 0) != 0) std::abort();
      // Mutual CHAP with the initiator's own secret is always refused.
      if ((opts & 32) && (opts & 16) && login.auth_summary().find("mutual") != std::string::npos) {
        std::abort();
      }
    }
    if (step != LoginStep::kContinue) over = true;
    if (std::getenv("MODTGT_FUZZ_VERBOSE") != nullptr) {
      std::fprintf(stderr, "response: status 0x%02x%02x flags 0x%02x %s%s\n", resp.bhs.b[36],
                   resp.bhs.b[37], resp.bhs.b[1],
                   step == LoginStep::kComplete ? "complete: " : "",
                   step == LoginStep::kComplete ? login.auth_summary().c_str() : "");
    }
  }
  return 0;
}
