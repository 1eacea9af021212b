// SPDX-License-Identifier: Apache-2.0
// Fuzzes Login::Step with arbitrary PDU sequences. Input: one option byte, then PDUs laid
// out as on the wire: a 48-byte BHS followed by DataSegmentLength bytes of data (cut short
// at the end of the input). Checks the invariants every response must keep.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "common/log.h"
#include "core/target.h"
#include "iscsi/login.h"

namespace {

using namespace modtgt::iscsi;  // NOLINT: fuzz harness

constexpr char kTarget[] = "iqn.2024-01.org.modtgt:disk1";

class OneRoundAuth : public Authenticator {
 public:
  LoginStatus Step(const KeyValues& keys, KeyValues* out) override {
    for (const auto& kv : keys) {
      if (kv.first == "CHAP_R") done_ = kv.second == "ok";
    }
    out->emplace_back("CHAP_C", "0x01");
    return LoginStatus::kSuccess;
  }
  bool done() const override { return done_; }

 private:
  bool done_ = false;
};

class Env : public LoginEnvironment {
 public:
  explicit Env(uint8_t opts) : opts_(opts) {
    target_ = std::make_shared<modtgt::core::Target>(1, kTarget);
    (void)target_->BindAddress("ALL");
    if (opts & 1) (void)target_->BindName("iqn.2024-01.org.example:host1");
    if (opts & 2) target_->set_alias("fuzz");
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
  bool AuthenticationRequired(const modtgt::core::Target*) override { return opts_ & 8; }
  std::unique_ptr<Authenticator> NewAuthenticator(const std::string& method,
                                                  const modtgt::core::Target*,
                                                  const std::string&) override {
    if ((opts_ & 16) && method == "CHAP") return std::make_unique<OneRoundAuth>();
    return nullptr;
  }

 private:
  uint8_t opts_;
  int prepared_ = 0;
  std::shared_ptr<modtgt::core::Target> target_;
  TargetLimits limits_;
  sockaddr_in addr_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  modtgt::SetLogLevel(modtgt::LogLevel::kError);  // failed logins are expected here
  Env env(data[0]);
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
    if (step != LoginStep::kContinue) over = true;
  }
  return 0;
}
