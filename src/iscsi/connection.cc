// SPDX-License-Identifier: Apache-2.0
// Connection: life cycle, socket events, PDU dispatch, the login hand-off, NOP, Text,
// Logout, Async Message and the glue to the Receiver and the Transmitter.
#include "iscsi/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "core/accounts.h"
#include "core/target.h"
#include "iscsi/chap.h"
#include "iscsi/describe.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;
constexpr uint32_t kEvIn = EPOLLIN | EPOLLRDHUP;
constexpr uint32_t kEvOut = EPOLLOUT;
constexpr uint8_t kFlagF = 0x80;

std::string FormatAddress(const sockaddr_storage& ss) {
  return FormatSockaddr(reinterpret_cast<const sockaddr*>(&ss));
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Life cycle

Connection::Connection(ConnectionHost* host, env::EventLoop* loop, int fd, uint16_t tpgt)
    : host_(host), loop_(loop), fd_(fd), tpgt_(tpgt) {
  login_activity_ms_.store(env::EventLoop::NowMs(), std::memory_order_relaxed);
  socklen_t len = sizeof(peer_);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer_), &len) != 0) peer_.ss_family = AF_UNSPEC;
  len = sizeof(local_);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len) != 0) {
    local_.ss_family = AF_UNSPEC;
  }
  flush_completion_.conn = this;
  flush_completion_.run = [](env::Completion* c) {
    Connection* conn = static_cast<FlushCompletion*>(c)->conn;
    conn->flush_posted_ = false;
    if (conn->parse_pending_ && !conn->closed_) {
      // Resumed after back-pressure: PDUs may already sit in the receive buffer.
      conn->parse_pending_ = false;
      conn->in_events_ = true;
      conn->rx_.ParseBuffered();
      conn->in_events_ = false;
    }
    if (!conn->closed_) conn->Flush();
    conn->MaybeFinish();
  };
  // RFC 7143 13.12: during login both sides use 8192 bytes; a longer data segment ends the
  // connection before anything is allocated for it.
  max_recv_ = kLoginMaxDataSegment;
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::Start() {
  started_ = true;
  rx_.MarkActivity();
  Status s = loop_->Add(fd_, kEvIn, this);
  if (!s.ok()) {
    LOG_ERROR("iscsi: cannot watch connection: %s", s.ToString().c_str());
    Close("epoll");
    return;
  }
  std::weak_ptr<Connection> w = weak_from_this();
  login_timer_ = loop_->AddTimer(host_->resources().login_timeout_ms, [w] {
    if (auto c = w.lock()) {
      c->login_timer_ = 0;
      if (c->phase_ == Phase::kLogin && !c->closed_) {
        c->host_->LogDropped("login timed out from " + FormatAddress(c->peer_) +
                             " (login_timeout)");
        c->Close("login timeout");
      }
    }
  });
}

std::string Connection::Describe() const {
  return "cid " + std::to_string(cid_) + " " + FormatAddress(peer_) + " -> " +
         FormatAddress(local_);
}

void Connection::Close(const char* why) {
  if (closed_) return;
  closed_ = true;
  rx_.Stop();
  LOG_DEBUG("iscsi: closing %s: %s", Describe().c_str(), why);
  if (started_) loop_->Remove(fd_);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
  if (login_timer_) loop_->CancelTimer(login_timer_);
  login_timer_ = 0;
  if (nop_timer_) loop_->CancelTimer(nop_timer_);
  nop_timer_ = 0;
  if (nexus_timer_) loop_->CancelTimer(nexus_timer_);
  nexus_timer_ = 0;
  login_response_held_ = false;
  // Drop unsent output; tasks waiting for their response to be written go back to the pool.
  tx_.Drop();
  if (session_) {
    // Tasks not in the core are dropped now; tasks in the core are marked aborted and
    // return through CommandDone (never freed under a backing store).
    session_->DropTasks(this);
    // The session is no longer listed, joined or reinstated; it leaves the table when the
    // nexus ends, once the core has returned every command (MaybeFinish).
    host_->sessions()->MarkClosing(session_.get());
  }
  MaybeFinish();
}

void Connection::CloseAfterFlush() {
  rx_.Stop();
  close_after_flush_ = true;
}

void Connection::MaybeFinish() {
  if (!closed_ || finished_ || in_core_ != 0 || flush_posted_) return;
  finished_ = true;
  if (session_ && session_->RemoveConnection(this) == 0) {
    session_->End();
    host_->sessions()->Remove(session_.get());
  }
  host_->ConnectionFinished(this);
}

void Connection::RequestLogout(uint16_t seconds) {
  if (closed_ || phase_ != Phase::kFullFeature) return;
  // RFC 7143 11.9: AsyncEvent 1, target requests Logout; Parameter3 = Time2Wait seconds.
  Bhs h;
  h.set_opcode(Opcode::kAsyncMessage);
  h.b[1] = kFlagF;
  h.set_itt(kReserved);
  FillSeq(&h, true);
  h.b[36] = 1;
  h.Put16(42, seconds);
  QueuePdu(h, nullptr, 0, true, nullptr);
  ScheduleFlush();
}

void Connection::ArmNopTimer() {
  std::weak_ptr<Connection> w = weak_from_this();
  nop_timer_ = loop_->AddTimer(kNopIntervalMs, [w] {
    auto c = w.lock();
    if (!c || c->closed_) return;
    c->nop_timer_ = 0;
    if (c->nop_outstanding_) {
      LOG_WARN("iscsi: no answer to NOP-In from %s", FormatAddress(c->peer_).c_str());
      c->Close("keepalive timeout");
      return;
    }
    if (c->phase_ == Phase::kFullFeature &&
        env::EventLoop::NowMs() - c->rx_.last_read_ms() >= kNopIntervalMs) {
      // Idle: ping the initiator (RFC 7143 11.19, ITT reserved, TTT ours).
      c->nop_ttt_ = c->session_->tasks().NewTtt(TaskSet::kNoTaskIndex);
      c->nop_outstanding_ = true;
      Bhs h;
      h.set_opcode(Opcode::kNopIn);
      h.b[1] = kFlagF;
      h.set_itt(kReserved);
      h.Put32(20, c->nop_ttt_);
      c->FillSeq(&h, false);
      c->QueuePdu(h, nullptr, 0, true, nullptr);
      c->ScheduleFlush();
    }
    c->ArmNopTimer();
  });
}

// ---------------------------------------------------------------------------------------
// Receive

void Connection::OnEvents(uint32_t events) {
  if (closed_) return;
  in_events_ = true;
  if (events & EPOLLOUT) Flush();
  if (!closed_ && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) OnReadable();
  in_events_ = false;
  if (!closed_) Flush();
  MaybeFinish();
}

void Connection::OnReadable() {
  switch (rx_.ReadFrom(fd_)) {
    case Receiver::ReadStatus::kOk:
      return;
    case Receiver::ReadStatus::kPeerClosed:
      Close("peer closed");
      return;
    case Receiver::ReadStatus::kError:
      Close("read error");
      return;
  }
}

void Connection::Pause() {
  if (rx_.paused()) return;
  rx_.Pause();
  if (!closed_) {
    Status s = loop_->Modify(fd_, want_write_ ? kEvOut : 0u, this);
    (void)s;
  }
}

void Connection::Resume() {
  if (!rx_.paused() || closed_) return;
  rx_.Resume();
  Status s = loop_->Modify(fd_, kEvIn | (want_write_ ? kEvOut : 0u), this);
  (void)s;
  // Parse what is already buffered from the loop, not from inside this (release) call.
  parse_pending_ = true;
  if (!flush_posted_) {
    flush_posted_ = true;
    loop_->PostCompletion(&flush_completion_);
  }
}

void Connection::TaskFreed() {
  if (rx_.paused()) Resume();
}

Bhs Connection::RxBhs() const {
  Bhs bhs;
  std::memcpy(bhs.b.data(), rx_.header(), kBhsLength);
  return bhs;
}

bool Connection::CanTake(const uint8_t* bhs) {
  if (login_response_held_) {
    Pause();  // nothing is read until the final login response is out
    return false;
  }
  if (tx_.queued_bytes() > kTxHighWater) {
    // The initiator sends but does not read: stop reading until the output drains (Flush).
    paused_for_tx_ = true;
    Pause();
    return false;
  }
  // Back-pressure: a SCSI Command needs a free task of the session; wait for one.
  if ((bhs[0] & 0x3f) == static_cast<uint8_t>(Opcode::kScsiCommand) &&
      phase_ == Phase::kFullFeature && session_->tasks().exhausted()) {
    Pause();
    return false;
  }
  return true;
}

void Connection::CheckPeer() {
  if (closed_) return;
  // Read what is buffered, as an EPOLLIN would (an end of stream closes the connection).
  if (!rx_.paused() && !rx_.stopped()) OnEvents(EPOLLIN);
  if (closed_) return;
  // Reading may be paused (back-pressure): the TCP state tells a closed peer all the same.
  tcp_info ti{};
  socklen_t len = sizeof(ti);
  if (getsockopt(fd_, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
      (ti.tcpi_state == TCP_CLOSE_WAIT || ti.tcpi_state == TCP_CLOSE)) {
    Close("peer closed");
  }
}

// Validates the header just received and decides where its data segment goes.
uint8_t* Connection::OnHeader(bool header_digest_ok) {
  if (!header_digest_ok) {
    // RFC 7143 7.8: a header digest error cannot be trusted to find the PDU boundary.
    LOG_WARN("iscsi: header digest error from %s", FormatAddress(peer_).c_str());
    Close("header digest error");
    return nullptr;
  }
  uint32_t dsl = rx_.data_segment_length();
  if (dsl > max_recv_) {
    host_->LogDropped("dropping " + FormatAddress(peer_) + ": a " + std::to_string(dsl) +
                      "-byte data segment exceeds MaxRecvDataSegmentLength " +
                      std::to_string(max_recv_));
    Close("data segment too long");
    return nullptr;
  }
  cur_task_ = nullptr;
  cur_r2t_ = nullptr;
  cur_discard_ = false;
  Opcode op = static_cast<Opcode>(rx_.header()[0] & 0x3f);
  if (phase_ == Phase::kLogin && op != Opcode::kLoginRequest) {
    Close("non-login PDU during login");
    return nullptr;
  }
  uint8_t* dest = nullptr;
  if (phase_ == Phase::kFullFeature && op == Opcode::kScsiCommand) {
    if (!BeginScsiCommand()) {
      cur_discard_ = true;
    } else {
      dest = cur_task_->data.data();
    }
  } else if (phase_ == Phase::kFullFeature && op == Opcode::kDataOut) {
    dest = BeginDataOut();  // null: discard the data (unknown task or data error)
    if (!dest) cur_discard_ = true;
  }
  return dest;
}

void Connection::OnPdu(bool data_digest_ok) {
  Bhs bhs = RxBhs();
  Opcode op = bhs.opcode();
  if (phase_ == Phase::kLogin) {
    HandleLogin();
    return;
  }
  if (phase_ != Phase::kFullFeature) return;
  // ExpStatSN acknowledges our responses (ERL0 keeps no copies; tracked for diagnostics).
  if (op != Opcode::kDataOut) exp_stat_sn_ = bhs.Get32(28);
  if (op == Opcode::kScsiCommand) {
    FinishScsiCommand(data_digest_ok);
    return;
  }
  if (op == Opcode::kDataOut) {
    FinishDataOut(data_digest_ok);
    return;
  }
  if (!data_digest_ok) {
    // RFC 7143 7.8: Reject with Data-Digest-Error and discard the PDU.
    SendReject(RejectReason::kDataDigestError, rx_.header());
    return;
  }
  bool discovery = session_->discovery();
  switch (op) {
    case Opcode::kNopOut:
      if (discovery) {
        session_->AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
        SendReject(RejectReason::kProtocolError, rx_.header());
        return;
      }
      HandleNopOut();
      return;
    case Opcode::kTextRequest:
      HandleText();
      return;
    case Opcode::kLogoutRequest:
      HandleLogout();
      return;
    case Opcode::kTaskMgmtRequest:
      if (discovery) {
        session_->AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
        SendReject(RejectReason::kProtocolError, rx_.header());
        return;
      }
      session_->tmf().Execute(this, bhs);
      return;
    case Opcode::kLoginRequest:
      // RFC 7143 6.3: a Login Request in full feature phase is a protocol error.
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
    case Opcode::kSnackRequest:
      // ERL0: SNACK is not supported.
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
    default:
      SendReject(RejectReason::kCommandNotSupported, rx_.header());
      return;
  }
}

// ---------------------------------------------------------------------------------------
// Login phase (RFC 7143 6.3): Login runs the negotiation; the connection sets the sequence
// numbers, creates the session when the login is about to succeed, and then takes the
// negotiated connection-scope values.

void Connection::HandleLogin() {
  Pdu req;
  std::memcpy(req.bhs.b.data(), rx_.header(), kBhsLength);
  if (rx_.header_length() > kBhsLength) {
    req.ahs.assign(rx_.header() + kBhsLength, rx_.header() + rx_.header_length());
  }
  req.data = rx_.control_data();
  if (!login_started_) {
    login_started_ = true;
    stat_sn_ = req.bhs.Get32(28);  // start where the initiator expects (ExpStatSN)
    login_ = std::make_unique<Login>(this);
  }
  login_cmd_sn_ = req.bhs.Get32(24);
  cid_ = req.bhs.Get16(20);
  login_activity_ms_.store(env::EventLoop::NowMs(), std::memory_order_relaxed);
  Pdu resp;
  LoginStep st = login_->Step(req, &resp);
  resp.bhs.Put32(24, stat_sn_++);
  if (session_) {
    resp.bhs.Put32(28, session_->window().exp_cmd_sn());
    resp.bhs.Put32(32, session_->window().MaxCmdSn());
  } else {
    resp.bhs.Put32(28, login_cmd_sn_);
    resp.bhs.Put32(32, login_cmd_sn_);
  }
  if (st == LoginStep::kComplete) {
    if (!session_) {
      // Login::Step must have called PrepareSession; without a session we cannot go on.
      LOG_ERROR("iscsi: login completed without a session");
      CloseAfterFlush();
      return;
    }
    if (nexus_checks_ > 0) {
      // The same initiator's other nexuses to this target are being checked: the initiator
      // may send commands once it has this response, so it waits (NexusCheckDone).
      held_login_response_ = std::move(resp);
      login_response_held_ = true;
      Pause();
      return;
    }
    CompleteLogin(std::move(resp));
    return;
  }
  QueuePdu(resp.bhs, resp.data.data(), static_cast<uint32_t>(resp.data.size()), true, nullptr);
  if (st == LoginStep::kFailed) {
    CloseAfterFlush();
    if (session_) {
      host_->sessions()->Remove(session_.get());
    }
  }
}

void Connection::CompleteLogin(Pdu resp) {
  QueuePdu(resp.bhs, resp.data.data(), static_cast<uint32_t>(resp.data.size()), true, nullptr);
  EnterFullFeature();
}

// RFC 7143 6.3.5 and SAM-5 6.3.4: an initiator that lost its connection (closed it, or
// crashed and came back) and logs in again must find the state of its old I_T nexus gone
// (e.g. PREVENT MEDIUM REMOVAL, SPC-2 reservations, unit attentions). The old connection's
// end of stream may sit unread on another loop that is busy; the old session's nexus ends
// only when that loop gets to it. So before the final login response, each session of the
// same initiator name to the same target is looked at on its own loop (CheckPeer: its
// buffered input and its TCP state), and the login waits for those found closed (and for
// a reinstated one, which it closes) until their nexus has ended. Anything the initiator
// closed before it logged in again is seen; the wait is bounded by kNexusWaitMs.
void Connection::StartNexusChecks(const std::vector<SessionTable::Entry>& others,
                                  uint16_t reinstated) {
  if (others.empty()) return;
  const uint64_t gen = ++nexus_generation_;
  nexus_checks_ = others.size();
  std::weak_ptr<Connection> self = weak_from_this();
  env::EventLoop* home = loop_;
  auto answer = [self, home, gen] {
    home->Post([self, gen] {
      if (auto c = self.lock()) c->NexusCheckDone(gen);
    });
  };
  for (const SessionTable::Entry& e : others) {
    std::shared_ptr<Session> s = e.session;
    std::weak_ptr<Connection> wc = e.connection;
    const bool reinstate = s->tsih() == reinstated;
    auto check = [wc, s, reinstate, answer] {
      std::shared_ptr<Connection> c = wc.lock();
      if (c != nullptr) {
        if (reinstate) {
          c->Close("session reinstated");
        } else {
          c->CheckPeer();
        }
        if (!c->closed()) {
          answer();  // a live session of the same initiator (another ISID): not ours to end
          return;
        }
      }
      s->WhenEnded(answer);
    };
    if (e.loop != nullptr) {
      e.loop->Post(std::move(check));
    } else {
      answer();  // no loop to look at it on (never so in the transport)
    }
  }
  nexus_timer_ = loop_->AddTimer(kNexusWaitMs, [self, gen] {
    auto c = self.lock();
    if (!c || c->closed_) return;
    c->nexus_timer_ = 0;
    if (gen != c->nexus_generation_ || c->nexus_checks_ == 0) return;
    LOG_WARN("iscsi: %zu earlier session(s) of %s still ending after %llu ms; completing the "
             "login anyway",
             c->nexus_checks_, LogQuote(c->session_->params().initiator_name).c_str(),
             static_cast<unsigned long long>(kNexusWaitMs));
    c->nexus_checks_ = 1;
    c->NexusCheckDone(gen);
  });
}

void Connection::NexusCheckDone(uint64_t generation) {
  if (generation != nexus_generation_ || nexus_checks_ == 0) return;
  if (--nexus_checks_ > 0) return;
  if (nexus_timer_) loop_->CancelTimer(nexus_timer_);
  nexus_timer_ = 0;
  if (!login_response_held_ || closed_) return;
  login_response_held_ = false;
  CompleteLogin(std::move(held_login_response_));
  Resume();
  ScheduleFlush();
}

LoginStatus Connection::PrepareSession(const Login& login, uint16_t* tsih) {
  if (login.tsih() != 0) {
    // Adding a connection to an existing session: MaxConnections=1 (RFC 7143 6.3.5).
    return host_->sessions()->Exists(login.tsih()) ? LoginStatus::kTooManyConnections
                                                   : LoginStatus::kSessionDoesNotExist;
  }
  SessionTable::Entry old;
  std::shared_ptr<Session> s =
      host_->sessions()->Create(login.isid(), login.target(), login.session_params(),
                                weak_from_this(), loop_, Describe(), &old);
  if (!s) return LoginStatus::kOutOfResources;
  s->mutable_nexus()->initiator_address = peer_;  // EXTENDED COPY's ACL checks
  session_ = std::move(s);
  session_->window().Reset(login_cmd_sn_, host_->resources().max_cmds_per_session);
  session_->AddConnection(this);
  *tsih = session_->tsih();
  // The reinstated session (if any, marked closing) is closed on its loop by
  // StartNexusChecks; a normal one is among the same initiator's, a discovery one (no
  // nexus) is added.
  std::vector<SessionTable::Entry> others = host_->sessions()->SameInitiator(
      login.session_params().initiator_name, login.target().get(), session_.get());
  if (old.session &&
      std::none_of(others.begin(), others.end(),
                   [&](const SessionTable::Entry& e) { return e.session == old.session; })) {
    others.push_back(old);
  }
  StartNexusChecks(others, old.session ? old.session->tsih() : 0);
  return LoginStatus::kSuccess;
}

bool Connection::AuthenticationRequired(const core::Target* target) {
  core::AccountRegistry* accounts = host_->accounts();
  if (accounts == nullptr) return false;
  return !accounts->BindingOf(target ? target->tid() : core::kDiscoveryTid).incoming.empty();
}

std::unique_ptr<Authenticator> Connection::NewAuthenticator(const std::string& method,
                                                            const core::Target* target,
                                                            const std::string& initiator_name) {
  core::AccountRegistry* accounts = host_->accounts();
  if (method != "CHAP" || accounts == nullptr) return nullptr;
  core::AccountRegistry::Binding b =
      accounts->BindingOf(target ? target->tid() : core::kDiscoveryTid);
  // With no incoming account there is nobody to check the initiator against: CHAP is not
  // offered (None is, when the initiator lists it).
  if (b.incoming.empty()) return nullptr;
  return std::make_unique<ChapAuthenticator>(accounts, std::move(b.incoming),
                                             std::move(b.outgoing));
}

std::shared_ptr<core::Target> Connection::FindTarget(const std::string& name) {
  return host_->targets() ? host_->targets()->FindByName(name) : nullptr;
}

const TargetLimits& Connection::limits() { return host_->limits(); }

void Connection::EnterFullFeature() {
  phase_ = Phase::kFullFeature;
  conn_params_ = login_->connection_params();
  rx_.SetDigests(conn_params_.header_digest, conn_params_.data_digest);
  tx_.SetDigests(conn_params_.header_digest, conn_params_.data_digest);
  max_recv_ = std::max<uint32_t>(512, conn_params_.max_recv_data_segment);
  max_xmit_ = std::max<uint32_t>(512, conn_params_.max_xmit_data_segment);
  rx_.RequestCapacity(Receiver::kRecvBufferSize);
  if (login_timer_) loop_->CancelTimer(login_timer_);
  login_timer_ = 0;
  const std::string auth = login_->auth_summary();
  login_.reset();
  if (!session_->discovery()) {
    const ResourceLimits& res = host_->resources();
    session_->tasks().Allocate(res.max_cmds_per_session);
    session_->tasks().set_retain_limit(res.max_session_data / 4);
    session_->set_data_budget(res.max_session_data);
  }
  host_->LoginCompleted(this);
  LOG_INFO("iscsi: %s session tsih %u: %s %s, %s", session_->discovery() ? "discovery" : "normal",
           session_->tsih(), LogQuote(session_->params().initiator_name).c_str(),
           Describe().c_str(), auth.c_str());
  ArmNopTimer();
}

// ---------------------------------------------------------------------------------------
// NOP, Text, Logout (RFC 7143 11.18-11.19, 11.10-11.11, 11.14-11.15)

void Connection::HandleNopOut() {
  Bhs req = RxBhs();
  session_->AdvanceCmdSn(req.Get32(24), req.immediate());
  if (req.itt() == kReserved) {
    // Reply to our NOP-In (TTT) or a ping that wants no answer.
    if (req.Get32(20) == nop_ttt_) nop_outstanding_ = false;
    return;
  }
  Bhs h;
  h.set_opcode(Opcode::kNopIn);
  h.b[1] = kFlagF;
  h.set_lun_raw(req.lun_raw());
  h.set_itt(req.itt());
  h.Put32(20, kReserved);
  FillSeq(&h, true);
  const std::vector<uint8_t>& ping = rx_.control_data();
  uint32_t len = std::min<uint32_t>(static_cast<uint32_t>(ping.size()), max_xmit_);
  QueuePdu(h, ping.data(), len, true, nullptr);
}

void Connection::HandleText() {
  Bhs req = RxBhs();
  session_->AdvanceCmdSn(req.Get32(24), req.immediate());
  TextExchange::Reply r = text_.Step(req, rx_.control_data(), max_xmit_, this);
  if (r.reject) {
    SendReject(r.reason, rx_.header());
    return;
  }
  Bhs h;
  h.set_opcode(Opcode::kTextResponse);
  h.b[1] = r.flags;
  h.set_itt(req.itt());
  h.Put32(20, r.ttt);
  FillSeq(&h, true);
  QueuePdu(h, r.data, r.len, true, nullptr);
}

uint32_t Connection::NewTextTtt() { return session_->tasks().NewTtt(TaskSet::kNoTaskIndex); }

void Connection::AnswerText(const KeyValues& request, KeyValues* out) {
  for (const auto& [k, v] : request) {
    if (k == "SendTargets") {
      std::vector<std::shared_ptr<core::Target>> targets;
      if (host_->targets()) {
        if (session_->discovery() || v == "All") {
          targets = host_->targets()->List();
        } else if (session_->target()) {
          targets.push_back(session_->target());
        }
      }
      std::string what = v;
      if (!session_->discovery() && what.empty() && session_->target()) {
        what = session_->target()->name();  // RFC 7143 Appendix C: empty = this target
      }
      AnswerSendTargets(what, local_address(), tpgt_, targets, peer_address(),
                        session_->params().initiator_name, out);
    } else {
      out->emplace_back(k, "NotUnderstood");
    }
  }
}

void Connection::HandleLogout() {
  Bhs req = RxBhs();
  session_->AdvanceCmdSn(req.Get32(24), req.immediate());
  uint8_t reason = req.b[1] & 0x7f;
  uint16_t cid = req.Get16(20);
  uint8_t response = 0;
  if (reason == 2) {
    response = 2;  // connection recovery is not supported (ERL0)
  } else if (reason == 1 && cid != cid_) {
    response = 1;  // CID not found
  } else if (reason > 2) {
    SendReject(RejectReason::kProtocolError, rx_.header());
    return;
  }
  Bhs h;
  h.set_opcode(Opcode::kLogoutResponse);
  h.b[1] = kFlagF;
  h.b[2] = response;
  h.set_itt(req.itt());
  FillSeq(&h, true);
  h.Put16(40, 0);  // Time2Wait
  h.Put16(42, 0);  // Time2Retain
  QueuePdu(h, nullptr, 0, true, nullptr);
  if (response == 0) {
    // Everything still in the core is discarded; the socket closes once the response is out.
    phase_ = Phase::kLogout;
    CloseAfterFlush();
    session_->DropTasks(this);
  }
}

// ---------------------------------------------------------------------------------------
// Transmit

void Connection::FillSeq(Bhs* h, bool advance_stat_sn) {
  h->Put32(24, advance_stat_sn ? stat_sn_++ : stat_sn_);
  if (session_) {
    h->Put32(28, session_->window().exp_cmd_sn());
    h->Put32(32, session_->window().MaxCmdSn());
  }
}

void Connection::QueuePdu(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy,
                          Task* release) {
  if (closed_) {
    if (release) session_->ReleaseTask(release);
    return;
  }
  tx_.Queue(bhs, data, len, copy, release);
}

void Connection::Sent(Task* t) { session_->ReleaseTask(t); }

void Connection::SendReject(RejectReason reason, const uint8_t* bhs) {
  LOG_DEBUG("iscsi: Reject reason 0x%02x for opcode 0x%02x", static_cast<unsigned>(reason),
            bhs[0] & 0x3f);
  Bhs h;
  h.set_opcode(Opcode::kReject);
  h.b[1] = kFlagF;
  h.b[2] = static_cast<uint8_t>(reason);
  h.set_itt(kReserved);
  FillSeq(&h, true);
  QueuePdu(h, bhs, kBhsLength, true, nullptr);
}

void Connection::SendTmfResponse(uint32_t itt, uint8_t response) {
  if (closed_ || phase_ != Phase::kFullFeature) return;
  Bhs h;
  h.set_opcode(Opcode::kTaskMgmtResponse);
  h.b[1] = kFlagF;
  h.b[2] = response;
  h.set_itt(itt);
  FillSeq(&h, true);
  QueuePdu(h, nullptr, 0, true, nullptr);
  ScheduleFlush();
}

void Connection::ScheduleFlush() {
  if (closed_ || in_events_ || flush_posted_) return;
  flush_posted_ = true;
  loop_->PostCompletion(&flush_completion_);
}

void Connection::SetWantWrite(bool on) {
  if (want_write_ == on || closed_) return;
  want_write_ = on;
  uint32_t ev = (rx_.paused() ? 0u : kEvIn) | (on ? kEvOut : 0u);
  Status s = loop_->Modify(fd_, ev, this);
  (void)s;
}

void Connection::Flush() {
  if (closed_) return;
  switch (tx_.Flush(fd_)) {
    case Transmitter::FlushStatus::kBlocked:
      SetWantWrite(true);
      return;
    case Transmitter::FlushStatus::kError:
      Close("write error");
      return;
    case Transmitter::FlushStatus::kEmpty:
      SetWantWrite(false);
      if (close_after_flush_) {
        Close("done");
        return;
      }
      if (paused_for_tx_) {
        paused_for_tx_ = false;
        Resume();
      }
      return;
  }
}

}  // namespace modtgt::iscsi
