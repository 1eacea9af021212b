// SPDX-License-Identifier: Apache-2.0
// The login phase of one connection (RFC 7143 6.3, 11.12-11.13): security and operational
// negotiation over one or more Login Request/Response exchanges, target lookup and ACL,
// and the decision to create, join or reinstate a session.
//
// A Login is a state machine fed one Login Request PDU at a time; it produces the Login
// Response to send. It does no I/O itself; everything it needs from the rest of the daemon
// comes through LoginEnvironment. Not thread-safe: owned by one connection on its loop.
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

// Login status classes/details (RFC 7143 11.13.5), as (class << 8 | detail).
enum class LoginStatus : uint16_t {
  kSuccess = 0x0000,
  kTargetMovedTemporarily = 0x0101,
  kInitiatorError = 0x0200,
  kAuthenticationFailure = 0x0201,
  kAuthorizationFailure = 0x0202,   // initiator not allowed
  kNotFound = 0x0203,               // unknown target
  kTargetRemoved = 0x0204,
  kUnsupportedVersion = 0x0205,
  kTooManyConnections = 0x0206,
  kMissingParameter = 0x0207,
  kCantIncludeInSession = 0x0208,
  kSessionTypeNotSupported = 0x0209,
  kSessionDoesNotExist = 0x020a,
  kInvalidDuringLogin = 0x020b,
  kTargetError = 0x0300,
  kServiceUnavailable = 0x0301,
  kOutOfResources = 0x0302,
};

class Login;

// Limits of the login phase. During login MaxRecvDataSegmentLength is 8192 both ways
// (RFC 7143 13.12); a C-bit text sequence may span at most kMaxLoginTextPdus PDUs and
// kMaxLoginText bytes; a whole login at most kMaxLoginRequests requests.
inline constexpr uint32_t kLoginMaxDataSegment = 8192;
inline constexpr size_t kMaxLoginTextPdus = 8;
inline constexpr size_t kMaxLoginText = 65536;
inline constexpr size_t kMaxLoginRequests = 32;

// The security stage seam (RFC 7143 6.3.1, 12): one object per login for the AuthMethod
// the target chose (CHAP: chap.h). AuthMethod=None needs none.
class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // Consumes the security keys of one request (CHAP_A, CHAP_N, CHAP_R, CHAP_I, CHAP_C ...)
  // and appends the answer keys to *out. Returns kSuccess to go on, or a failure status
  // (normally kAuthenticationFailure), which ends the login.
  virtual LoginStatus Step(const KeyValues& keys, KeyValues* out) = 0;
  // True once the exchange is complete and the initiator is authenticated: only then may
  // the login leave the security stage.
  virtual bool done() const = 0;
  // Why the last Step failed, for the log (never a secret or a response).
  virtual std::string FailureReason() const { return ""; }
  // Who authenticated and how, for the log once done().
  virtual std::string Summary() const { return ""; }
};

// What a Login needs from the daemon. Implemented by the transport.
class LoginEnvironment {
 public:
  virtual ~LoginEnvironment() = default;
  // The target with this name, or null.
  virtual std::shared_ptr<core::Target> FindTarget(const std::string& name) = 0;
  // Target limits (our side of negotiation).
  virtual const TargetLimits& limits() = 0;
  // The peer's address (for the ACL) and the local address it connected to.
  virtual const sockaddr* peer_address() = 0;
  virtual const sockaddr* local_address() = 0;
  // TPGT of the portal this connection came in on.
  virtual uint16_t portal_group_tag() = 0;
  // Called once, when the login is about to enter full feature phase (after negotiation,
  // before the final response is built). The transport creates, joins or reinstates the
  // session (same initiator name + ISID + target reinstates: the old session is closed)
  // and returns the TSIH for the response, or a failure status (e.g. kSessionDoesNotExist
  // for an unknown non-zero TSIH, kTooManyConnections).
  virtual LoginStatus PrepareSession(const Login& login, uint16_t* tsih) = 0;
  // Whether logins are accepted now, for `target` (null: a discovery session): the
  // administrator may have taken the system or the target offline. kSuccess, or the status
  // that ends the login (kServiceUnavailable).
  virtual LoginStatus Admission(const core::Target* target) { return LoginStatus::kSuccess; }

  // ---- Authentication policy (defaults: none required, no method but None enabled) ----
  // True if logging in to `target` (null for discovery) requires authentication, so that
  // AuthMethod=None and skipping the security stage fail with kAuthenticationFailure.
  virtual bool AuthenticationRequired(const core::Target* target) { return false; }
  // An Authenticator for AuthMethod `method` (e.g. "CHAP") for this target and initiator,
  // or null if the method is not enabled.
  virtual std::unique_ptr<Authenticator> NewAuthenticator(const std::string& method,
                                                          const core::Target* target,
                                                          const std::string& initiator_name) {
    return nullptr;
  }
};

enum class LoginStep {
  kContinue,   // send the response and wait for the next request
  kComplete,   // send the response; the connection enters full feature phase
  kFailed,     // send the response (non-zero status class) and close the connection
};

// Fills every Login Response field except StatSN, ExpCmdSN and MaxCmdSN, which the
// connection sets (it owns the sequence numbers) before sending.
class Login {
 public:
  explicit Login(LoginEnvironment* env);
  ~Login();

  // Processes one Login Request (already read, digests checked) and fills *resp.
  LoginStep Step(const Pdu& req, Pdu* resp);

  // Valid after kComplete (and inside LoginEnvironment::PrepareSession).
  const SessionParams& session_params() const;
  const ConnectionParams& connection_params() const;
  uint64_t isid() const;           // 48-bit ISID
  uint16_t tsih() const;           // TSIH the initiator sent (0 = new session)
  uint16_t cid() const;
  uint32_t initial_cmd_sn() const; // CmdSN of the first login request
  uint32_t exp_stat_sn() const;
  std::shared_ptr<core::Target> target() const;  // null for discovery
  // How the initiator authenticated, for the log ("CHAP user 'u' (MD5)").
  std::string auth_summary() const;
  // The status of the last response (kSuccess unless Step returned kFailed).
  LoginStatus status() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::iscsi
