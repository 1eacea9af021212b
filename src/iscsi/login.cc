// SPDX-License-Identifier: Apache-2.0
// The login phase (RFC 7143 6.3 "Login Phase", 6.2 key negotiation, 11.12 Login Request,
// 11.13 Login Response, 13 login/text operational keys).
#include "iscsi/login.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string_view>

#include "common/log.h"
#include "core/target.h"
#include "iscsi/describe.h"

namespace modtgt::iscsi {
namespace {

// Login stages (RFC 7143 11.12.3, CSG/NSG encoding).
constexpr int kSecurityStage = 0;
constexpr int kOperationalStage = 1;
constexpr int kFullFeatureStage = 3;

// Login Request / Response byte offsets (RFC 7143 11.12, 11.13).
constexpr size_t kOffFlags = 1;
constexpr size_t kOffVersionMax = 2;
constexpr size_t kOffVersionMin = 3;     // request: Version-min
constexpr size_t kOffVersionActive = 3;  // response: Version-active
constexpr size_t kOffIsid = 8;           // 6 bytes
constexpr size_t kOffTsih = 14;
constexpr size_t kOffCid = 20;
constexpr size_t kOffCmdSn = 24;
constexpr size_t kOffExpStatSn = 28;
constexpr size_t kOffStatusClass = 36;
constexpr size_t kOffStatusDetail = 37;
constexpr uint8_t kFlagTransit = 0x80;
constexpr uint8_t kFlagContinue = 0x40;

constexpr uint8_t kOurVersion = 0;  // the only version RFC 7143 defines

// Numeric ranges (RFC 7143 13).
constexpr uint64_t kMinDataLength = 512;
constexpr uint64_t kMaxDataLength = 16777215;  // 2^24 - 1
constexpr uint32_t kOurProtocolLevel = 1;  // RFC 7144: 1 = RFC 7143

constexpr std::string_view kReject = "Reject";
constexpr std::string_view kNotUnderstood = "NotUnderstood";
constexpr std::string_view kIrrelevant = "Irrelevant";

bool ParseBool(std::string_view v, bool* out) {
  if (v == "Yes") {
    *out = true;
    return true;
  }
  if (v == "No") {
    *out = false;
    return true;
  }
  return false;
}

const char* YesNo(bool b) { return b ? "Yes" : "No"; }

std::vector<std::string_view> SplitList(std::string_view v) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t comma = v.find(',', pos);
    if (comma == std::string_view::npos) comma = v.size();
    out.push_back(v.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

// True for the reserved response constants, which are never valid in an offer.
bool IsResponseConstant(std::string_view v) {
  return v == kReject || v == kNotUnderstood || v == kIrrelevant;
}

// Session-wide keys that may be negotiated only on the leading connection (RFC 7143 13:
// "Use: LO").
bool IsLeadingOnly(std::string_view k) {
  static constexpr std::string_view kLo[] = {
      "MaxConnections",   "InitialR2T",         "ImmediateData",     "MaxBurstLength",
      "FirstBurstLength", "DefaultTime2Wait",   "DefaultTime2Retain", "MaxOutstandingR2T",
      "DataPDUInOrder",   "DataSequenceInOrder", "ErrorRecoveryLevel", "TaskReporting",
      "iSCSIProtocolLevel",
  };
  for (std::string_view o : kLo) {
    if (k == o) return true;
  }
  return false;
}

uint32_t ClampDataLength(uint32_t v) {
  return static_cast<uint32_t>(std::clamp<uint64_t>(v, kMinDataLength, kMaxDataLength));
}

const char* StatusName(LoginStatus st) {
  switch (st) {
    case LoginStatus::kSuccess: return "success";
    case LoginStatus::kTargetMovedTemporarily: return "target moved temporarily";
    case LoginStatus::kInitiatorError: return "initiator error";
    case LoginStatus::kAuthenticationFailure: return "authentication failure";
    case LoginStatus::kAuthorizationFailure: return "authorization failure";
    case LoginStatus::kNotFound: return "target not found";
    case LoginStatus::kTargetRemoved: return "target removed";
    case LoginStatus::kUnsupportedVersion: return "unsupported version";
    case LoginStatus::kTooManyConnections: return "too many connections";
    case LoginStatus::kMissingParameter: return "missing parameter";
    case LoginStatus::kCantIncludeInSession: return "can't include in session";
    case LoginStatus::kSessionTypeNotSupported: return "session type not supported";
    case LoginStatus::kSessionDoesNotExist: return "session does not exist";
    case LoginStatus::kInvalidDuringLogin: return "invalid during login";
    case LoginStatus::kTargetError: return "target error";
    case LoginStatus::kServiceUnavailable: return "service unavailable";
    case LoginStatus::kOutOfResources: return "out of resources";
  }
  return "?";
}

std::string JoinRules(const std::vector<std::string>& rules) {
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < rules.size() && i < kShown; i++) {
    if (i) out += ", ";
    out += LogQuote(rules[i], 223);
  }
  if (rules.size() > kShown) out += " and " + std::to_string(rules.size() - kShown) + " more";
  return out;
}

// Why target.AllowsInitiator(peer, name) said no, naming the rules it went by.
std::string AclRefusal(const core::Target& target, const sockaddr* peer,
                       const std::string& name) {
  const std::vector<std::string> addresses = target.bound_addresses();
  const std::vector<std::string> names = target.bound_names();
  if (addresses.empty() && names.empty()) {
    return "the target has no ACL, so nobody may log in (bind initiator addresses or names)";
  }
  if (!addresses.empty()) {
    bool matched = false;
    for (const std::string& rule : addresses) {
      if (core::AclAddressMatches(rule, peer)) matched = true;
    }
    if (!matched) {
      return "address " + FormatHost(peer) + " matches none of the target's address rules (" +
             JoinRules(addresses) + ")";
    }
  }
  if (!names.empty()) {
    return "initiator name " + LogQuote(name) + " is not among the target's initiator names (" +
           JoinRules(names) + ")";
  }
  return "refused by the target's ACL";
}

}  // namespace

struct Login::Impl {
  explicit Impl(LoginEnvironment* e) : env(e) {
    // Until declared otherwise, both directions use the RFC 7143 13.12 default.
    cp.max_recv_data_segment = kLoginMaxDataSegment;
    cp.max_xmit_data_segment = kLoginMaxDataSegment;
  }

  LoginStep Step(const Login& self, const Pdu& req, Pdu* resp);

  // Ends the login with status st. The log line names who (Context()) and why: `reason`
  // when a step set it, else `why`.
  LoginStep Fail(const Pdu& req, Pdu* resp, LoginStatus st, const char* why);
  std::string Context() const;
  void BuildResponse(const Pdu& req, Pdu* resp, uint8_t flags, uint16_t resp_tsih);
  LoginStep EmitChunk(const Pdu& req, Pdu* resp);
  LoginStatus CheckIdentity(const Pdu& req);
  LoginStatus ProcessFirstText(const KeyValues& kvs, int csg, KeyValues* answer);
  LoginStatus ProcessText(const KeyValues& kvs, int csg, KeyValues* answer);
  LoginStatus NegotiateAuthMethod(std::string_view offer, KeyValues* answer);
  LoginStatus NegotiateOperational(const std::string& key, const std::string& value,
                                   const KeyValues& batch, KeyValues* answer);
  uint32_t BatchMaxBurst(const KeyValues& batch) const;

  LoginEnvironment* env;
  // Our side of the negotiation: the transport's limits, or once the target is known those
  // with the target's own iSCSI parameters on top (ApplyTargetParams).
  std::optional<TargetLimits> target_lim;
  const TargetLimits& Lim() const { return target_lim ? *target_lim : env->limits(); }
  std::string reason;  // why the current step failed (for Fail's log line)

  // Identity fixed by the first request (RFC 7143 6.3: constant across the login).
  bool started = false;
  uint8_t version_max = 0;
  uint8_t version_min = 0;
  uint8_t raw_isid[6] = {};
  uint64_t isid = 0;
  uint16_t tsih = 0;
  uint16_t cid = 0;
  uint32_t cmd_sn = 0;
  uint32_t exp_stat_sn = 0;

  int stage = -1;  // current stage (CSG) once started
  size_t requests = 0;
  bool finished = false;
  LoginStatus status = LoginStatus::kSuccess;

  // Initiator text spread over C=1 PDUs (RFC 7143 11.12.2).
  std::vector<uint8_t> text_in;
  size_t text_pdus = 0;

  // Our answer when it needs more than one response PDU (C=1 in responses).
  std::vector<uint8_t> text_out;
  size_t text_out_off = 0;
  bool out_pending = false;
  bool out_transit = false;
  uint8_t out_nsg = 0;
  uint16_t out_tsih = 0;
  LoginStep out_step = LoginStep::kContinue;

  // Negotiation state.
  bool names_done = false;          // the first text (names, target, ACL) was processed
  std::set<std::string> negotiated;  // operational/security keys already settled
  bool declared_mrdsl = false;
  bool auth_chosen = false;
  std::string auth_method;
  std::unique_ptr<Authenticator> auth;

  SessionParams sp;
  ConnectionParams cp;
  std::shared_ptr<core::Target> target;
};

Login::Login(LoginEnvironment* env) : impl_(std::make_unique<Impl>(env)) {}
Login::~Login() = default;

LoginStep Login::Step(const Pdu& req, Pdu* resp) { return impl_->Step(*this, req, resp); }
const SessionParams& Login::session_params() const { return impl_->sp; }
const ConnectionParams& Login::connection_params() const { return impl_->cp; }
uint64_t Login::isid() const { return impl_->isid; }
uint16_t Login::tsih() const { return impl_->tsih; }
uint16_t Login::cid() const { return impl_->cid; }
uint32_t Login::initial_cmd_sn() const { return impl_->cmd_sn; }
uint32_t Login::exp_stat_sn() const { return impl_->exp_stat_sn; }
std::shared_ptr<core::Target> Login::target() const { return impl_->target; }
std::string Login::auth_summary() const {
  return impl_->auth != nullptr ? impl_->auth->Summary() : "no authentication";
}
LoginStatus Login::status() const { return impl_->status; }

void Login::Impl::BuildResponse(const Pdu& req, Pdu* resp, uint8_t flags, uint16_t resp_tsih) {
  Bhs& b = resp->bhs;
  b.b.fill(0);
  b.set_opcode(Opcode::kLoginResponse);
  b.b[kOffFlags] = flags;
  b.b[kOffVersionMax] = kOurVersion;
  b.b[kOffVersionActive] = kOurVersion;
  std::memcpy(&b.b[kOffIsid], &req.bhs.b[kOffIsid], 6);  // echo the request's ISID
  b.Put16(kOffTsih, resp_tsih);
  b.set_itt(req.bhs.itt());
  b.set_data_segment_length(static_cast<uint32_t>(resp->data.size()));
}

// RFC 7143 11.13.5: a non-zero Status-Class ends the login; the connection closes after
// sending it. T, C, NSG are zero and the data segment is empty.
std::string Login::Impl::Context() const {
  std::string c = "initiator " + (sp.initiator_name.empty() ? std::string("(unnamed)")
                                                            : LogQuote(sp.initiator_name, 223));
  c += " from " + FormatSockaddr(env->peer_address());
  if (target != nullptr) {
    c += " to target " + target->name() + " (tid " + std::to_string(target->tid()) + ")";
  } else if (sp.discovery) {
    c += " (discovery session)";
  }
  return c;
}

LoginStep Login::Impl::Fail(const Pdu& req, Pdu* resp, LoginStatus st, const char* why) {
  const std::string text = reason.empty() ? std::string(why) : reason;
  // Refusals an administrator looks for (who was refused, by which rule) are warnings.
  const bool security = st == LoginStatus::kAuthenticationFailure ||
                        st == LoginStatus::kAuthorizationFailure;
  Log(security ? LogLevel::kWarn : LogLevel::kInfo,
      "iscsi: login refused with status 0x%04x (%s): %s: %s", static_cast<unsigned>(st),
      StatusName(st), Context().c_str(), text.c_str());
  const int csg = stage >= 0 ? stage : ((req.bhs.flags() >> 2) & 3);
  resp->ahs.clear();
  resp->data.clear();
  BuildResponse(req, resp, static_cast<uint8_t>((csg & 3) << 2), req.bhs.Get16(kOffTsih));
  resp->bhs.b[kOffStatusClass] = static_cast<uint8_t>(static_cast<uint16_t>(st) >> 8);
  resp->bhs.b[kOffStatusDetail] = static_cast<uint8_t>(static_cast<uint16_t>(st) & 0xff);
  finished = true;
  status = st;
  return LoginStep::kFailed;
}

LoginStatus Login::Impl::CheckIdentity(const Pdu& req) {
  const Bhs& b = req.bhs;
  if (!started) {
    started = true;
    version_max = b.b[kOffVersionMax];
    version_min = b.b[kOffVersionMin];
    std::memcpy(raw_isid, &b.b[kOffIsid], 6);
    isid = 0;
    for (int i = 0; i < 6; ++i) isid = isid << 8 | raw_isid[i];
    tsih = b.Get16(kOffTsih);
    cid = b.Get16(kOffCid);
    cmd_sn = b.Get32(kOffCmdSn);
    // RFC 7143 11.12.4: we speak version 0 only; it must lie in [Version-min, Version-max].
    if (version_min > kOurVersion || version_max < version_min) {
      return LoginStatus::kUnsupportedVersion;
    }
    return LoginStatus::kSuccess;
  }
  // RFC 7143 6.3: the versions, ISID, TSIH and CID stay the same throughout the login.
  if (b.b[kOffVersionMax] != version_max || b.b[kOffVersionMin] != version_min ||
      std::memcmp(raw_isid, &b.b[kOffIsid], 6) != 0 || b.Get16(kOffTsih) != tsih ||
      b.Get16(kOffCid) != cid) {
    return LoginStatus::kInitiatorError;
  }
  return LoginStatus::kSuccess;
}

LoginStep Login::Impl::EmitChunk(const Pdu& req, Pdu* resp) {
  const size_t left = text_out.size() - text_out_off;
  const size_t n = std::min<size_t>(left, kLoginMaxDataSegment);
  resp->ahs.clear();
  resp->data.assign(text_out.begin() + static_cast<ptrdiff_t>(text_out_off),
                    text_out.begin() + static_cast<ptrdiff_t>(text_out_off + n));
  text_out_off += n;
  const bool last = text_out_off == text_out.size();
  uint8_t flags = static_cast<uint8_t>((stage & 3) << 2);
  uint16_t resp_tsih = tsih;
  LoginStep step = LoginStep::kContinue;
  if (!last) {
    flags |= kFlagContinue;  // T must be 0 while C is 1
  } else {
    out_pending = false;
    text_out.clear();
    text_out_off = 0;
    if (out_transit) {
      flags |= static_cast<uint8_t>(kFlagTransit | out_nsg);
      resp_tsih = out_tsih;
      if (out_nsg == kFullFeatureStage) {
        finished = true;
      } else {
        stage = out_nsg;
      }
    }
    step = out_step;
  }
  BuildResponse(req, resp, flags, resp_tsih);
  return step;
}

LoginStep Login::Impl::Step(const Login& self, const Pdu& req, Pdu* resp) {
  resp->ahs.clear();
  resp->data.clear();
  if (finished) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "request after the login ended");
  }
  if (req.bhs.opcode() != Opcode::kLoginRequest) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "non-login PDU during login");
  }
  if (++requests > kMaxLoginRequests) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "too many login requests");
  }
  if (req.data.size() > kLoginMaxDataSegment) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "login data segment over 8192 bytes");
  }
  LoginStatus st = CheckIdentity(req);
  if (st != LoginStatus::kSuccess) {
    return Fail(req, resp, st, "bad version or changed ISID/TSIH/CID");
  }
  exp_stat_sn = req.bhs.Get32(kOffExpStatSn);

  const uint8_t flags = req.bhs.flags();
  const bool transit = flags & kFlagTransit;
  const bool cont = flags & kFlagContinue;
  const int csg = (flags >> 2) & 3;
  const int nsg = flags & 3;
  if (transit && cont) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "T and C both set");
  }
  if (csg != kSecurityStage && csg != kOperationalStage) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "invalid CSG");
  }
  if (stage < 0) {
    stage = csg;  // the first request may start in either stage (RFC 7143 6.3)
  } else if (csg != stage) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "stage changed without transit");
  }
  if (transit && (nsg <= csg || nsg == 2)) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "invalid NSG");
  }

  if (out_pending) {
    // The initiator answers our C=1 responses with empty requests (RFC 7143 11.13.3).
    if (!req.data.empty() || cont) {
      return Fail(req, resp, LoginStatus::kInitiatorError, "data while target text pending");
    }
    return EmitChunk(req, resp);
  }

  text_in.insert(text_in.end(), req.data.begin(), req.data.end());
  if (++text_pdus > kMaxLoginTextPdus || text_in.size() > kMaxLoginText) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "login text too long");
  }
  if (cont) {
    // More text follows: answer with an empty response and wait (RFC 7143 11.12.2).
    BuildResponse(req, resp, static_cast<uint8_t>(csg << 2), tsih);
    return LoginStep::kContinue;
  }
  Result<KeyValues> kvs = ParseKeyValues(text_in.data(), text_in.size());
  text_in.clear();
  text_pdus = 0;
  if (!kvs.ok()) {
    return Fail(req, resp, LoginStatus::kInitiatorError, "malformed login text");
  }

  KeyValues answer;
  if (!names_done) {
    st = ProcessFirstText(*kvs, csg, &answer);
    if (st != LoginStatus::kSuccess) {
      return Fail(req, resp, st, "first login request rejected");
    }
  }
  st = ProcessText(*kvs, csg, &answer);
  if (st != LoginStatus::kSuccess) {
    return Fail(req, resp, st, "login key negotiation failed");
  }

  bool do_transit = transit;
  uint16_t resp_tsih = tsih;
  if (transit && csg == kSecurityStage) {
    if (auth != nullptr && !auth->done()) {
      do_transit = false;  // the exchange is not over: stay in the security stage
    } else if (auth == nullptr && env->AuthenticationRequired(target.get())) {
      // No AuthMethod at all, or None chosen before an account was bound meanwhile.
      return Fail(req, resp, LoginStatus::kAuthenticationFailure,
                  "CHAP is required but was not negotiated");
    }
  }
  if (do_transit && nsg == kFullFeatureStage) {
    // RFC 7143 13.14: FirstBurstLength MUST NOT exceed MaxBurstLength.
    sp.first_burst_length = std::min(sp.first_burst_length, sp.max_burst_length);
    sp.target_portal_group_tag = env->portal_group_tag();
    uint16_t new_tsih = 0;
    st = env->PrepareSession(self, &new_tsih);
    if (st != LoginStatus::kSuccess) {
      return Fail(req, resp, st, "session could not be created or joined");
    }
    resp_tsih = new_tsih;
  }

  AppendKeyValues(answer, &text_out);
  text_out_off = 0;
  out_pending = true;
  out_transit = do_transit;
  out_nsg = static_cast<uint8_t>(nsg);
  out_tsih = resp_tsih;
  out_step = (do_transit && nsg == kFullFeatureStage) ? LoginStep::kComplete
                                                      : LoginStep::kContinue;
  return EmitChunk(req, resp);
}

LoginStatus Login::Impl::ProcessFirstText(const KeyValues& kvs, int csg, KeyValues* answer) {
  const std::string* initiator_name = nullptr;
  const std::string* target_name = nullptr;
  const std::string* session_type = nullptr;
  for (const auto& [k, v] : kvs) {
    if (k == "InitiatorName") initiator_name = &v;
    if (k == "TargetName") target_name = &v;
    if (k == "SessionType") session_type = &v;
  }
  // RFC 7143 13.5.1 / 13.6: InitiatorName MUST be in the first Login Request, TargetName too
  // for a Normal session; SessionType defaults to Normal (13.21).
  if (initiator_name == nullptr || initiator_name->empty()) {
    reason = "no InitiatorName in the first login request";
    return LoginStatus::kMissingParameter;
  }
  bool discovery = false;
  if (session_type != nullptr) {
    if (*session_type == "Discovery") {
      discovery = true;
    } else if (*session_type != "Normal") {
      reason = "SessionType=" + LogQuote(*session_type, 32);
      return LoginStatus::kSessionTypeNotSupported;
    }
  }
  sp.initiator_name = *initiator_name;
  sp.discovery = discovery;
  if (discovery) {
    if (LoginStatus adm = env->Admission(nullptr); adm != LoginStatus::kSuccess) return adm;
  }
  sp.target_portal_group_tag = env->portal_group_tag();
  if (!discovery) {
    if (target_name == nullptr || target_name->empty()) {
      reason = "no TargetName in the first login request of a normal session";
      return LoginStatus::kMissingParameter;
    }
    target = env->FindTarget(*target_name);
    if (target == nullptr) {
      reason = "no target named " + LogQuote(*target_name, 223);
      return LoginStatus::kNotFound;
    }
    if (LoginStatus adm = env->Admission(target.get()); adm != LoginStatus::kSuccess) return adm;
    if (!target->AllowsInitiator(env->peer_address(), sp.initiator_name)) {
      reason = AclRefusal(*target, env->peer_address(), sp.initiator_name);
      return LoginStatus::kAuthorizationFailure;
    }
    target_lim = env->limits();
    ApplyTargetParams(target->iscsi_params(), &*target_lim);
    sp.max_queue_cmd = target_lim->max_queue_cmd;
    sp.target_name = *target_name;
    // RFC 7143 13.9: the target reports its portal group tag in the first Login Response
    // of a Normal session; 13.7: its alias, if it has one.
    answer->emplace_back("TargetPortalGroupTag", std::to_string(sp.target_portal_group_tag));
    sp.target_alias = target->alias();
    if (!sp.target_alias.empty()) {
      answer->emplace_back("TargetAlias", sp.target_alias);
    }
  }
  // Skipping the security stage is only possible when no authentication is required.
  if (csg == kOperationalStage && env->AuthenticationRequired(target.get())) {
    reason = "CHAP is required but the login skipped the security stage";
    return LoginStatus::kAuthenticationFailure;
  }
  names_done = true;
  return LoginStatus::kSuccess;
}

LoginStatus Login::Impl::ProcessText(const KeyValues& kvs, int csg, KeyValues* answer) {
  // RFC 7143 6.2: a key may appear once per negotiation; a repeat is a protocol error.
  std::set<std::string_view> seen;
  for (const auto& kv : kvs) {
    if (!seen.insert(kv.first).second) {
      return LoginStatus::kInitiatorError;
    }
  }
  KeyValues auth_keys;
  bool auth_offered = false;  // AuthMethod is in this request
  for (const auto& [k, v] : kvs) {
    switch (Classify(k)) {
      case KeyClass::kLoginName:
        // Declarative, not answered. libiscsi repeats them in each stage: accept the same
        // value, refuse a change. TargetName is meaningless in a discovery session.
        if (k == "InitiatorName" && v != sp.initiator_name) return LoginStatus::kInitiatorError;
        if (k == "SessionType" && (v == "Discovery") != sp.discovery) {
          return LoginStatus::kInitiatorError;
        }
        if (k == "TargetName" && !sp.discovery && v != sp.target_name) {
          return LoginStatus::kInitiatorError;
        }
        break;
      case KeyClass::kInitiatorAlias:
        sp.initiator_alias = v;  // declarative (RFC 7143 13.8)
        break;
      case KeyClass::kTargetOnly:
        return LoginStatus::kInitiatorError;
      case KeyClass::kSecurity:
        // RFC 7143 6.3.1: security keys belong to the SecurityNegotiation stage.
        if (csg != kSecurityStage) return LoginStatus::kInitiatorError;
        if (k == "AuthMethod") {
          auth_offered = true;
          LoginStatus st = NegotiateAuthMethod(v, answer);
          if (st != LoginStatus::kSuccess) return st;
        } else {
          auth_keys.emplace_back(k, v);
        }
        break;
      case KeyClass::kOperational: {
        // RFC 7143 6.3: operational keys are negotiated in LoginOperationalNegotiation.
        if (csg != kOperationalStage) return LoginStatus::kInitiatorError;
        // RFC 7143 6.2: renegotiating a key during login is a protocol error.
        if (!negotiated.insert(k).second) return LoginStatus::kInitiatorError;
        LoginStatus st = NegotiateOperational(k, v, kvs, answer);
        if (st != LoginStatus::kSuccess) return st;
        break;
      }
      case KeyClass::kFfpOnly:
        answer->emplace_back(k, std::string(kReject));  // SendTargets is FFP only
        break;
      case KeyClass::kUnknown:
        // RFC 7143 6.2: unknown keys are answered NotUnderstood; an offer carrying a
        // reserved response constant gets no answer (avoids NotUnderstood loops).
        if (!IsResponseConstant(v)) {
          answer->emplace_back(k, std::string(kNotUnderstood));
        }
        break;
    }
  }
  if (!auth_keys.empty()) {
    if (auth == nullptr || auth_offered) {
      // CHAP_* etc. before the target chose that AuthMethod (RFC 7143 12.1.3: the method's
      // keys follow the target's answer to the offer).
      reason = LogQuote(auth_keys.front().first) + " before the target chose AuthMethod=" +
               (auth != nullptr ? auth_method : "CHAP") + " (keys out of order)";
      return LoginStatus::kAuthenticationFailure;
    }
    LoginStatus st = auth->Step(auth_keys, answer);
    if (st != LoginStatus::kSuccess) {
      reason = auth->FailureReason();
      return st;
    }
  }
  if (csg == kOperationalStage && !declared_mrdsl) {
    // RFC 7143 13.12: MaxRecvDataSegmentLength is declarative in each direction; we always
    // declare ours in the first operational response.
    cp.max_recv_data_segment = ClampDataLength(Lim().max_recv_data_segment);
    answer->emplace_back("MaxRecvDataSegmentLength", std::to_string(cp.max_recv_data_segment));
    declared_mrdsl = true;
  }
  return LoginStatus::kSuccess;
}

// RFC 7143 12.1 / 6.2.1 list negotiation: the first offered method we accept wins.
// None is acceptable unless the target requires authentication.
LoginStatus Login::Impl::NegotiateAuthMethod(std::string_view offer, KeyValues* answer) {
  if (auth_chosen) return LoginStatus::kInitiatorError;
  const bool required = env->AuthenticationRequired(target.get());
  for (std::string_view m : SplitList(offer)) {
    if (m == "None") {
      if (required) continue;
      auth_chosen = true;
      auth_method = "None";
      break;
    }
    if (m == "CHAP" || m == "SRP" || m == "KRB5" || m == "SPKM1" || m == "SPKM2") {
      std::unique_ptr<Authenticator> a =
          env->NewAuthenticator(std::string(m), target.get(), sp.initiator_name);
      if (a != nullptr) {
        auth = std::move(a);
        auth_chosen = true;
        auth_method = std::string(m);
        break;
      }
    }
  }
  if (!auth_chosen) {
    // E.g. an initiator offering only None where CHAP is required, or only CHAP where no
    // account is bound.
    reason = "no acceptable AuthMethod in " + LogQuote(offer, 64) +
             (required ? " (CHAP is required)" : " (no CHAP account is bound, offer None)");
    return LoginStatus::kAuthenticationFailure;
  }
  answer->emplace_back("AuthMethod", auth_method);
  return LoginStatus::kSuccess;
}

uint32_t Login::Impl::BatchMaxBurst(const KeyValues& batch) const {
  // FirstBurstLength is bounded by MaxBurstLength; if both come in the same text, use the
  // MaxBurstLength this text settles.
  uint32_t mbl = std::min(sp.max_burst_length, Lim().max_burst_length);
  for (const auto& [k, v] : batch) {
    uint64_t n;
    if (k == "MaxBurstLength" && ParseNumber(v, &n) && n >= kMinDataLength &&
        n <= kMaxDataLength) {
      mbl = std::min<uint32_t>(static_cast<uint32_t>(n), Lim().max_burst_length);
    }
  }
  return mbl;
}

LoginStatus Login::Impl::NegotiateOperational(const std::string& key, const std::string& value,
                                              const KeyValues& batch, KeyValues* answer) {
  const TargetLimits& lim = Lim();
  auto reply = [&](std::string v) { answer->emplace_back(key, std::move(v)); };
  auto reject = [&] { reply(std::string(kReject)); };

  // RFC 7143 13: "Use: LO" keys on a connection joining an existing session do not
  // apply; the session keeps what its leading login negotiated.
  if (tsih != 0 && IsLeadingOnly(key)) {
    reply(std::string(kIrrelevant));
    return LoginStatus::kSuccess;
  }

  // Numeric keys: parse and range-check; a bad value is answered Reject (RFC 7143 6.2),
  // leaving the RFC default in force.
  auto numeric = [&](uint64_t lo, uint64_t hi, uint64_t* n) {
    if (IsResponseConstant(value) || !ParseNumber(value, n) || *n < lo || *n > hi) {
      reject();
      return false;
    }
    return true;
  };
  auto boolean = [&](bool* b) {
    if (!ParseBool(value, b)) {
      reject();
      return false;
    }
    return true;
  };

  uint64_t n = 0;
  bool b = false;
  if (key == "HeaderDigest" || key == "DataDigest") {
    // RFC 7143 13.1 list negotiation: first offered value we support.
    const bool allowed = key == "HeaderDigest" ? lim.allow_header_digest : lim.allow_data_digest;
    const bool required =
        key == "HeaderDigest" ? lim.require_header_digest : lim.require_data_digest;
    std::string chosen;
    for (std::string_view v : SplitList(value)) {
      if (v == "CRC32C" && allowed) {
        chosen = "CRC32C";
        break;
      }
      if (v == "None" && !required) {
        chosen = "None";
        break;
      }
    }
    if (chosen.empty()) {
      // The target's administrator requires CRC32C (its HeaderDigest/DataDigest is
      // "CRC32C"): the default None that a Reject leaves in force is not acceptable.
      if (required) return LoginStatus::kInitiatorError;
      reject();
      return LoginStatus::kSuccess;
    }
    (key == "HeaderDigest" ? cp.header_digest : cp.data_digest) = chosen == "CRC32C";
    reply(chosen);
  } else if (key == "MaxRecvDataSegmentLength") {
    // RFC 7143 13.12: declarative; the initiator's value bounds what we send. There is no
    // answer to reject it with, so an invalid value fails the login.
    if (!ParseNumber(value, &n) || n < kMinDataLength || n > kMaxDataLength) {
      return LoginStatus::kInitiatorError;
    }
    cp.max_xmit_data_segment =
        std::min<uint32_t>(static_cast<uint32_t>(n), ClampDataLength(lim.max_xmit_data_segment));
  } else if (key == "MaxConnections") {  // 13.2: min
    if (!numeric(1, 65535, &n)) return LoginStatus::kSuccess;
    sp.max_connections = std::min<uint32_t>(static_cast<uint32_t>(n),
                                            std::max<uint32_t>(lim.max_connections, 1));
    reply(std::to_string(sp.max_connections));
  } else if (key == "InitialR2T") {  // 13.10: OR
    if (!boolean(&b)) return LoginStatus::kSuccess;
    sp.initial_r2t = b || lim.initial_r2t;
    reply(YesNo(sp.initial_r2t));
  } else if (key == "ImmediateData") {  // 13.11: AND
    if (!boolean(&b)) return LoginStatus::kSuccess;
    sp.immediate_data = b && lim.immediate_data;
    reply(YesNo(sp.immediate_data));
  } else if (key == "MaxBurstLength") {  // 13.13: min
    if (!numeric(kMinDataLength, kMaxDataLength, &n)) return LoginStatus::kSuccess;
    sp.max_burst_length = std::min<uint32_t>(static_cast<uint32_t>(n),
                                             ClampDataLength(lim.max_burst_length));
    reply(std::to_string(sp.max_burst_length));
  } else if (key == "FirstBurstLength") {  // 13.14: min, and <= MaxBurstLength
    if (!numeric(kMinDataLength, kMaxDataLength, &n)) return LoginStatus::kSuccess;
    uint32_t v = std::min<uint32_t>(static_cast<uint32_t>(n),
                                    ClampDataLength(lim.first_burst_length));
    v = std::max<uint32_t>(std::min(v, BatchMaxBurst(batch)), kMinDataLength);
    sp.first_burst_length = v;
    reply(std::to_string(v));
  } else if (key == "DefaultTime2Wait") {  // 13.15: max
    if (!numeric(0, 3600, &n)) return LoginStatus::kSuccess;
    sp.default_time2wait = std::max<uint32_t>(static_cast<uint32_t>(n), lim.default_time2wait);
    reply(std::to_string(sp.default_time2wait));
  } else if (key == "DefaultTime2Retain") {  // 13.16: min
    if (!numeric(0, 3600, &n)) return LoginStatus::kSuccess;
    sp.default_time2retain =
        std::min<uint32_t>(static_cast<uint32_t>(n), lim.default_time2retain);
    reply(std::to_string(sp.default_time2retain));
  } else if (key == "MaxOutstandingR2T") {  // 13.17: min
    if (!numeric(1, 65535, &n)) return LoginStatus::kSuccess;
    sp.max_outstanding_r2t = std::min<uint32_t>(static_cast<uint32_t>(n),
                                                std::max<uint32_t>(lim.max_outstanding_r2t, 1));
    reply(std::to_string(sp.max_outstanding_r2t));
  } else if (key == "DataPDUInOrder") {  // 13.18: OR; we want in-order Data-Out PDUs
    if (!boolean(&b)) return LoginStatus::kSuccess;
    sp.data_pdu_in_order = true;
    reply("Yes");
  } else if (key == "DataSequenceInOrder") {  // 13.19: OR; we want in-order sequences
    if (!boolean(&b)) return LoginStatus::kSuccess;
    sp.data_sequence_in_order = true;
    reply("Yes");
  } else if (key == "ErrorRecoveryLevel") {  // 13.20: min; we implement levels 0 to 2
    if (!numeric(0, 2, &n)) return LoginStatus::kSuccess;
    sp.error_recovery_level =
        std::min<uint32_t>(static_cast<uint32_t>(n), std::min<uint32_t>(lim.error_recovery_level, 2));
    reply(std::to_string(sp.error_recovery_level));
  } else if (key == "IFMarker" || key == "OFMarker") {
    // RFC 7143 13.25 obsoletes markers; we never use them. A valid offer is answered No
    // (what RFC 3720 initiators expect), anything else Reject.
    if (!boolean(&b)) return LoginStatus::kSuccess;
    reply("No");
  } else if (key == "IFMarkInt" || key == "OFMarkInt") {
    reject();  // RFC 7143 13.25: obsolete, answered Reject
  } else if (key == "TaskReporting") {  // 13.23: list; we implement the RFC 3720 semantics
    bool ok = false;
    for (std::string_view v : SplitList(value)) {
      if (v == "RFC3720") ok = true;
    }
    if (ok) {
      reply("RFC3720");
    } else {
      reject();
    }
  } else if (key == "iSCSIProtocolLevel") {  // RFC 7144 2.1: min
    if (!numeric(0, 31, &n)) return LoginStatus::kSuccess;
    reply(std::to_string(std::min<uint64_t>(n, kOurProtocolLevel)));
  }
  return LoginStatus::kSuccess;
}

}  // namespace modtgt::iscsi
