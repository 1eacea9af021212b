// SPDX-License-Identifier: Apache-2.0
// Connection: the login phase and its hand-off to a Session: creating, reinstating or
// joining one (MC/S: a joining connection moves to its session's loop), the wait for the
// same initiator's old I_T nexuses, CHAP policy, and the entry into full feature phase.
#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "core/accounts.h"
#include "core/target.h"
#include "iscsi/chap.h"
#include "iscsi/connection.h"
#include "iscsi/describe.h"

namespace modtgt::iscsi {

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
  if (session_ && !joining_) {
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
    if (joining_) {
      // The session lives on its own loop: go there, then join it (FinishJoin).
      held_login_response_ = std::move(resp);
      login_response_held_ = true;
      Pause();
      env::EventLoop* to = session_->loop();
      if (to != nullptr && to != loop()) {
        MoveToLoop(to);
      } else {
        std::shared_ptr<Connection> self = shared_from_this();
        loop()->Post([self] {
          if (!self->closed_) self->FinishJoin();
        });
      }
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
  env::EventLoop* home = loop();
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
      if (s->retained()) {
        // Waiting for connection recovery (ERL 2): reinstating it ends it; another ISID's
        // new session leaves it alone.
        if (reinstate) s->EndRetained();
        if (!reinstate || s->ended()) {
          answer();
          return;
        }
      } else if (c != nullptr) {
        if (reinstate) {
          c->CloseAndEndTasks("session reinstated");
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
  nexus_timer_ = loop()->AddTimer(kNexusWaitMs, [self, gen] {
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
  if (nexus_timer_) loop()->CancelTimer(nexus_timer_);
  nexus_timer_ = 0;
  if (!login_response_held_ || closed_) return;
  login_response_held_ = false;
  CompleteLogin(std::move(held_login_response_));
  Resume();
  ScheduleFlush();
}

LoginStatus Connection::PrepareSession(const Login& login, uint16_t* tsih) {
  if (login.tsih() != 0) {
    // Adding a connection to an existing session (RFC 7143 6.3.5): the same initiator
    // name, ISID and target. The rest is checked on the session's loop (FinishJoin).
    std::shared_ptr<Session> s = host_->sessions()->FindForJoin(
        login.tsih(), login.isid(), login.session_params().initiator_name,
        login.target().get(), nullptr);
    if (!s) return LoginStatus::kSessionDoesNotExist;
    session_ = std::move(s);
    joining_ = true;
    *tsih = session_->tsih();
    return LoginStatus::kSuccess;
  }
  SessionTable::Entry old;
  std::shared_ptr<Session> s =
      host_->sessions()->Create(login.isid(), login.target(), login.session_params(),
                                weak_from_this(), loop_, Describe(), &old, Info());
  if (!s) return LoginStatus::kOutOfResources;
  s->mutable_nexus()->initiator_address = peer_;  // EXTENDED COPY's ACL checks
  session_ = std::move(s);
  // The target's MaxQueueCmd (by default the transport's max_cmds_per_session), at most
  // max_cmds_per_session: the session's task pool holds that many.
  session_->window().Reset(login_cmd_sn_,
                           std::clamp<uint32_t>(login.session_params().max_queue_cmd, 1,
                                                host_->resources().max_cmds_per_session));
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

void Connection::MoveToLoop(env::EventLoop* to) {
  moving_ = true;
  std::shared_ptr<Connection> self = shared_from_this();
  env::EventLoop* from = loop();
  // After the current events: leave `from` (no callback of ours may be pending there),
  // then register on `to`.
  std::function<void()> leave;
  leave = [self, from, to] {
    Connection* c = self.get();
    if (c->closed_) return;
    if (c->flush_posted_) {
      from->Post([self, to] { self->MoveToLoop(to); });  // try again after it
      return;
    }
    from->Remove(c->fd_);
    if (c->login_timer_) from->CancelTimer(c->login_timer_);
    c->login_timer_ = 0;
    if (c->nexus_timer_) from->CancelTimer(c->nexus_timer_);
    c->nexus_timer_ = 0;
    c->loop_.store(to, std::memory_order_release);
    to->Post([self] {
      Connection* c = self.get();
      c->moving_ = false;
      if (c->closed_) return;
      Status st = c->loop()->Add(c->fd_, 0, c);
      if (!st.ok()) {
        c->Close("epoll");
        return;
      }
      std::weak_ptr<Connection> w = self;
      c->login_timer_ = c->loop()->AddTimer(c->host_->resources().login_timeout_ms, [w] {
        if (auto cc = w.lock()) {
          cc->login_timer_ = 0;
          if (cc->phase_ == Phase::kLogin && !cc->closed_) cc->Close("login timeout");
        }
      });
      c->FinishJoin();
    });
  };
  from->Post(std::move(leave));
}

void Connection::FinishJoin() {
  // On the session's loop now.
  Session* s = session_.get();
  LoginStatus st = LoginStatus::kSuccess;
  size_t open = std::count_if(s->connections().begin(), s->connections().end(),
                              [](Connection* c) { return !c->closed(); });
  Connection* same_cid = s->FindConnection(cid_);
  if (s->ended() || !host_->sessions()->Exists(s->tsih())) {
    st = LoginStatus::kSessionDoesNotExist;
  } else if (same_cid == nullptr && open >= s->params().max_connections) {
    st = LoginStatus::kTooManyConnections;
  }
  Pdu resp = std::move(held_login_response_);
  login_response_held_ = false;
  if (st != LoginStatus::kSuccess) {
    // The final response was built as a success: turn it into the failure (RFC 7143
    // 11.13.5), with no transit and no key, and close after it.
    LOG_INFO("iscsi: refusing connection %s to session tsih %u: %s", Describe().c_str(),
             s->tsih(), st == LoginStatus::kTooManyConnections ? "MaxConnections reached"
                                                               : "the session is gone");
    resp.bhs.b[1] &= static_cast<uint8_t>(~0xc0);
    resp.bhs.b[36] = static_cast<uint8_t>(static_cast<uint16_t>(st) >> 8);
    resp.bhs.b[37] = static_cast<uint8_t>(static_cast<uint16_t>(st) & 0xff);
    resp.bhs.Put16(14, 0);
    resp.bhs.set_data_segment_length(0);
    resp.data.clear();
    session_.reset();
    joining_ = false;
    QueuePdu(resp.bhs, nullptr, 0, true, nullptr);
    CloseAfterFlush();
    Resume();
    ScheduleFlush();
    return;
  }
  s->AddConnection(this);
  s->Unretain();  // a session waiting for connection recovery has one again
  if (same_cid != nullptr) {
    // RFC 7143 6.3.4: connection reinstatement. The old connection with this CID closes;
    // at ERL 2 its tasks wait for reassignment, at ERL 0/1 they end.
    LOG_INFO("iscsi: reinstating connection cid %u of session tsih %u", cid_, s->tsih());
    same_cid->Close("connection reinstated");
  }
  host_->sessions()->AddConnectionDesc(s, Describe());
  resp.bhs.Put32(28, s->window().exp_cmd_sn());
  resp.bhs.Put32(32, s->window().MaxCmdSn());
  CompleteLogin(std::move(resp));
  Resume();
  ScheduleFlush();
}

LoginStatus Connection::Admission(const core::Target* target) {
  core::TargetRegistry* reg = host_->targets();
  if (reg != nullptr && reg->system_state() == core::TargetState::kOffline) {
    LOG_INFO("iscsi: login from %s refused: the system is offline", FormatSockaddr(reinterpret_cast<const sockaddr*>(&peer_)).c_str());
    return LoginStatus::kServiceUnavailable;
  }
  if (target != nullptr && target->state() == core::TargetState::kOffline) {
    LOG_INFO("iscsi: login from %s to %s refused: the target is offline",
             FormatSockaddr(reinterpret_cast<const sockaddr*>(&peer_)).c_str(), target->name().c_str());
    return LoginStatus::kServiceUnavailable;
  }
  return LoginStatus::kSuccess;
}

core::ConnectionInfo Connection::Info() const {
  core::ConnectionInfo i;
  i.cid = cid_;
  i.peer = FormatSockaddr(reinterpret_cast<const sockaddr*>(&peer_));
  i.local = FormatSockaddr(reinterpret_cast<const sockaddr*>(&local_));
  std::string ip = i.peer.substr(0, i.peer.rfind(':'));
  if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  i.peer_ip = ip;
  return i;
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
  if (login_timer_) loop()->CancelTimer(login_timer_);
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

}  // namespace modtgt::iscsi
