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
  Status s = loop()->Add(fd_, kEvIn, this);
  if (!s.ok()) {
    LOG_ERROR("iscsi: cannot watch connection: %s", s.ToString().c_str());
    Close("epoll");
    return;
  }
  std::weak_ptr<Connection> w = weak_from_this();
  login_timer_ = loop()->AddTimer(host_->resources().login_timeout_ms, [w] {
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

void Connection::CloseAndEndTasks(const char* why) {
  end_tasks_ = true;
  Close(why);
}

void Connection::Close(const char* why) {
  if (closed_) return;
  if (!loop()->InLoopThread()) {
    // Posted to the loop this connection left (MoveToLoop): go after it.
    std::shared_ptr<Connection> self = shared_from_this();
    loop()->Post([self, why] { self->Close(why); });
    return;
  }
  closed_ = true;
  rx_.Stop();
  LOG_DEBUG("iscsi: closing %s: %s", Describe().c_str(), why);
  if (started_) loop()->Remove(fd_);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
  if (login_timer_) loop()->CancelTimer(login_timer_);
  login_timer_ = 0;
  if (nop_timer_) loop()->CancelTimer(nop_timer_);
  nop_timer_ = 0;
  if (nexus_timer_) loop()->CancelTimer(nexus_timer_);
  nexus_timer_ = 0;
  login_response_held_ = false;
  // Drop unsent output; tasks waiting for their response to be written go back to the pool.
  tx_.Drop();
  if (session_ && !session_->ended()) {
    // ERL 2 (RFC 7143 6.2.2): a failed connection's tasks wait for another connection of
    // the session, one open now or one that joins it later (the session then stays).
    // (A logout that ends its tasks set end_tasks_; one for recovery did not.)
    const bool recover = !end_tasks_ && phase_ != Phase::kLogin &&
                         session_->error_recovery_level() >= 2 && !session_->discovery();
    const bool others = std::any_of(session_->connections().begin(),
                                    session_->connections().end(),
                                    [this](Connection* c) { return c != this && !c->closed(); });
    retained_.clear();
    if (recover) {
      uint32_t moved = session_->OrphanTasks(this);
      in_core_ -= moved;
      if (!others) session_->Retain();
    } else {
      if (std::none_of(session_->connections().begin(), session_->connections().end(),
                       [this](Connection* c) { return c != this && !c->closed(); })) {
        in_core_ += session_->AdoptOrphans(this);  // nobody is left to take them
      }
      // Tasks not in the core are dropped now; tasks in the core are marked aborted and
      // return through CommandDone (never freed under a backing store).
      session_->DropTasks(this);
    }
  }
  if (session_) {
    // With no other connection open, the session is no longer listed, joined or
    // reinstated; it leaves the table when the nexus ends, once the core has returned
    // every command (MaybeFinish).
    if (!session_->retained() &&
        std::none_of(session_->connections().begin(), session_->connections().end(),
                     [this](Connection* c) { return c != this && !c->closed(); })) {
      host_->sessions()->MarkClosing(session_.get());
    }
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
    if (!session_->retained()) {
      session_->End();
      host_->sessions()->Remove(session_.get());
    }  // else it waits for a connection to join it (or its orphans expire)
  } else if (session_) {
    host_->sessions()->RemoveConnectionDesc(session_.get(), Describe());
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
  nop_timer_ = loop()->AddTimer(kNopIntervalMs, [w] {
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
    Status s = loop()->Modify(fd_, want_write_ ? kEvOut : 0u, this);
    (void)s;
  }
}

void Connection::Resume() {
  if (!rx_.paused() || closed_) return;
  rx_.Resume();
  Status s = loop()->Modify(fd_, kEvIn | (want_write_ ? kEvOut : 0u), this);
  (void)s;
  // Parse what is already buffered from the loop, not from inside this (release) call.
  parse_pending_ = true;
  if (!flush_posted_) {
    flush_posted_ = true;
    loop()->PostCompletion(&flush_completion_);
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
  if (phase_ == Phase::kFullFeature) {
    // ExpStatSN acknowledges our responses (RFC 7143 3.2.2.2); at ERL >= 1 that frees the
    // ones kept for SNACK, before a new command looks for a free task.
    AckStatSn(GetBe32(bhs + 28));
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
      if (discovery || session_->error_recovery_level() == 0) {
        // ERL 0: SNACK is not supported (RFC 7143 11.16).
        SendReject(RejectReason::kProtocolError, rx_.header());
        return;
      }
      HandleSnack();
      return;
    default:
      SendReject(RejectReason::kCommandNotSupported, rx_.header());
      return;
  }
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
  const bool discovery = session_->discovery();
  for (const auto& [k, v] : request) {
    FfpKeyAnswer a = AnswerFullFeatureKey(k, v, discovery);
    switch (a.kind) {
      case FfpKeyAnswer::Kind::kReply:
        out->emplace_back(k, a.value);
        break;
      case FfpKeyAnswer::Kind::kNone:
        // RFC 7143 13.12: the initiator's new MaxRecvDataSegmentLength bounds the PDUs we
        // send after this exchange's current one.
        if (a.max_xmit != 0) max_xmit_ = a.max_xmit;
        break;
      case FfpKeyAnswer::Kind::kSendTargets: {
        std::vector<std::shared_ptr<core::Target>> targets;
        std::string what = v;
        if (discovery) {
          if (host_->targets()) targets = host_->targets()->List();
        } else if (session_->target()) {
          // RFC 7143 Appendix C: a Normal session reports its own target only ("All" and
          // the empty value mean it; another name finds nothing).
          targets.push_back(session_->target());
          if (what.empty() || what == "All") what = session_->target()->name();
        }
        AnswerSendTargets(what, local_address(), tpgt_, targets, peer_address(),
                          session_->params().initiator_name, out);
        break;
      }
    }
  }
}

void Connection::HandleLogout() {
  Bhs req = RxBhs();
  session_->AdvanceCmdSn(req.Get32(24), req.immediate());
  const uint8_t reason = req.b[1] & 0x7f;
  const uint16_t cid = req.Get16(20);
  if (reason > 2) {
    SendReject(RejectReason::kProtocolError, rx_.header());
    return;
  }
  Connection* other = nullptr;  // the connection logged out, when it is not this one
  if (reason != 0 && cid != cid_) {
    other = session_->FindConnection(cid);
    if (other == nullptr) {
      SendLogoutResponse(req.itt(), 1);  // CID not found
      return;
    }
  }
  if (reason == 2 && session_->params().error_recovery_level < 2) {
    SendLogoutResponse(req.itt(), 2);  // connection recovery is not supported
    return;
  }
  if (reason == 2) {
    // RFC 7143 11.14.1, 7.2.2: the connection is removed for recovery; its tasks stay for
    // reassignment on another connection of the session (TASK REASSIGN) until
    // DefaultTime2Retain.
    if (other != nullptr) {
      other->Close("logged out for recovery");  // at ERL 2 its tasks become orphans
      SendLogoutResponse(req.itt(), 0);
      return;
    }
    BeginLogout(req.itt(), /*keep_tasks=*/true);
    return;
  }
  if (other != nullptr) {
    // "Close the connection" for another connection of the session: its tasks end
    // (RFC 7143 11.14: implicitly terminated), the others go on.
    other->CloseAndEndTasks("logged out by another connection");
    SendLogoutResponse(req.itt(), 0);
    return;
  }
  if (reason == 0) {
    // "Close the session": every other connection of the session closes now.
    for (Connection* c : session_->connections()) {
      if (c != this) c->CloseAndEndTasks("session logged out");
    }
  }
  BeginLogout(req.itt(), /*keep_tasks=*/false);
}

void Connection::BeginLogout(uint32_t itt, bool keep_tasks) {
  // No new command is taken; the commands still in the core finish and their responses go
  // out before the Logout Response (RFC 7143 11.14: the target completes the commands it
  // is processing, and the Logout Response is the last PDU on the connection). Tasks still
  // collecting Data-Out cannot finish (the initiator sends nothing after its Logout):
  // they end now, or stay for reassignment in connection recovery.
  phase_ = Phase::kLogout;
  logout_pending_ = true;
  logout_itt_ = itt;
  rx_.Stop();
  // Orphans wait for another connection of the session (one open now, or one that joins
  // the session, which then stays: Session::Retain at Close).
  if (keep_tasks) {
    in_core_ -= session_->OrphanTasks(this);
    retained_.clear();
  } else {
    end_tasks_ = true;
    session_->DropUnstartedTasks(this);
  }
  MaybeSendLogoutResponse();
}

void Connection::MaybeSendLogoutResponse() {
  if (!logout_pending_ || in_core_ != 0 || closed_) return;
  logout_pending_ = false;
  SendLogoutResponse(logout_itt_, 0);
  CloseAfterFlush();
  ScheduleFlush();
}

void Connection::SendLogoutResponse(uint32_t itt, uint8_t response) {
  Bhs h;
  h.set_opcode(Opcode::kLogoutResponse);
  h.b[1] = kFlagF;
  h.b[2] = response;
  h.set_itt(itt);
  FillSeq(&h, true);
  const SessionParams& sp = session_->params();
  // Time2Wait and Time2Retain matter for connection recovery (RFC 7143 11.15.2-3).
  const bool recovery = sp.error_recovery_level >= 2;
  h.Put16(40, recovery ? static_cast<uint16_t>(sp.default_time2wait) : 0);
  h.Put16(42, recovery ? static_cast<uint16_t>(sp.default_time2retain) : 0);
  QueuePdu(h, nullptr, 0, true, nullptr);
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

void Connection::QueueZeroPdu(const Bhs& bhs, uint32_t len, Task* release) {
  if (closed_) {
    if (release) session_->ReleaseTask(release);
    return;
  }
  tx_.QueueZeros(bhs, len, release);
}


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
  loop()->PostCompletion(&flush_completion_);
}

void Connection::SetWantWrite(bool on) {
  if (want_write_ == on || closed_) return;
  want_write_ = on;
  uint32_t ev = (rx_.paused() ? 0u : kEvIn) | (on ? kEvOut : 0u);
  Status s = loop()->Modify(fd_, ev, this);
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
