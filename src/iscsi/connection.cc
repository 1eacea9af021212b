// SPDX-License-Identifier: Apache-2.0
#include "iscsi/connection.h"

#include <arpa/inet.h>
#include <isa-l/crc.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "core/target.h"
#include "scsi/dispatch.h"
#include "scsi/sense.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;
constexpr uint32_t kEvIn = EPOLLIN | EPOLLRDHUP;
constexpr uint32_t kEvOut = EPOLLOUT;
constexpr size_t kRecvBufferSize = 256 * 1024;
constexpr uint32_t kDirectReadMin = 4096;   // data segments this long skip the recv buffer
constexpr size_t kMaxIov = 64;
constexpr size_t kIttSlots = 1024;           // > 2 * pool size
constexpr uint32_t kPoolSize = 2 * Connection::kCmdWindow + 32;
constexpr size_t kTrimBytes = 4u << 20;      // pooled buffers above this are freed on release

// BHS byte 1 flags.
constexpr uint8_t kFlagF = 0x80;
constexpr uint8_t kFlagC = 0x40;            // Text: continue
constexpr uint8_t kCmdR = 0x40;
constexpr uint8_t kCmdW = 0x20;
constexpr uint8_t kDataInA = 0x40;
constexpr uint8_t kResidOverflow = 0x04;
constexpr uint8_t kResidUnderflow = 0x02;
constexpr uint8_t kDataInS = 0x01;

// TMF response codes (RFC 7143 11.6.1).
constexpr uint8_t kTmfComplete = 0;
constexpr uint8_t kTmfNoTask = 1;
constexpr uint8_t kTmfNoLun = 2;
constexpr uint8_t kTmfReassignNotSupported = 4;
constexpr uint8_t kTmfNotSupported = 5;

std::string FormatAddress(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    port = ntohs(a->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

uint32_t HashItt(uint32_t itt) { return (itt * 0x9E3779B1u) >> 22; }  // 10 bits

}  // namespace

// ---------------------------------------------------------------------------------------
// Pure helpers

Residual ComputeResidual(uint32_t expected, uint32_t actual) {
  Residual r;
  if (actual < expected) {
    r.underflow = true;
    r.count = expected - actual;
  } else if (actual > expected) {
    r.overflow = true;
    r.count = actual - expected;
  }
  return r;
}

DataInSlice NextDataIn(uint32_t offset, uint32_t total, uint32_t max_segment, uint32_t max_burst) {
  DataInSlice s;
  s.offset = offset;
  uint32_t burst_end = (offset / max_burst + 1) * max_burst;  // next sequence boundary
  if (burst_end < offset || burst_end > total) burst_end = total;  // overflow guard
  s.length = std::min(max_segment, burst_end - offset);
  s.final = offset + s.length == burst_end;
  return s;
}

uint32_t DigestUpdate(uint32_t state, const void* data, size_t len) {
  return crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)), static_cast<int>(len),
                     state);
}

// ---------------------------------------------------------------------------------------
// Life cycle

Connection::Connection(ConnectionHost* host, env::EventLoop* loop, int fd, uint16_t tpgt)
    : host_(host), loop_(loop), fd_(fd), tpgt_(tpgt) {
  socklen_t len = sizeof(peer_);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&peer_), &len) != 0) peer_.ss_family = AF_UNSPEC;
  len = sizeof(local_);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&local_), &len) != 0) {
    local_.ss_family = AF_UNSPEC;
  }
  rcap_ = kRecvBufferSize;
  rbuf_ = std::make_unique<uint8_t[]>(rcap_);
  txq_.resize(256);
  stage_.reserve(16384);
  flush_completion_.conn = this;
  flush_completion_.run = [](env::Completion* c) {
    Connection* conn = static_cast<FlushCompletion*>(c)->conn;
    conn->flush_posted_ = false;
    if (conn->parse_pending_ && !conn->closed_) {
      // Resumed after back-pressure: PDUs may already sit in the receive buffer.
      conn->parse_pending_ = false;
      conn->in_events_ = true;
      conn->ParseBuffered();
      conn->in_events_ = false;
    }
    if (!conn->closed_) conn->Flush();
    conn->MaybeFinish();
  };
  const TargetLimits& lim = host_->limits();
  max_recv_ = std::max<uint32_t>(8192, lim.max_recv_data_segment);
}

Connection::~Connection() {
  if (fd_ >= 0) ::close(fd_);
}

void Connection::Start() {
  started_ = true;
  last_rx_ms_ = env::EventLoop::NowMs();
  Status s = loop_->Add(fd_, kEvIn, this);
  if (!s.ok()) {
    LOG_ERROR("iscsi: cannot watch connection: %s", s.ToString().c_str());
    Close("epoll");
    return;
  }
  std::weak_ptr<Connection> w = weak_from_this();
  login_timer_ = loop_->AddTimer(kLoginTimeoutMs, [w] {
    if (auto c = w.lock()) {
      c->login_timer_ = 0;
      if (c->phase_ == Phase::kLogin && !c->closed_) {
        LOG_WARN("iscsi: login timed out from %s", FormatAddress(c->peer_).c_str());
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
  LOG_DEBUG("iscsi: closing %s: %s", Describe().c_str(), why);
  if (started_) loop_->Remove(fd_);
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  fd_ = -1;
  if (login_timer_) loop_->CancelTimer(login_timer_);
  login_timer_ = 0;
  if (nop_timer_) loop_->CancelTimer(nop_timer_);
  nop_timer_ = 0;
  // Drop unsent output; tasks waiting for their response to be written go back to the pool.
  while (tx_count_ > 0) {
    TxItem& it = txq_[tx_head_];
    Task* t = it.release;
    tx_head_ = (tx_head_ + 1) % txq_.size();
    tx_count_--;
    if (t) ReleaseTask(t);
  }
  tx_head_written_ = 0;
  // Tasks not in the core are dropped now; tasks in the core are marked aborted and return
  // through CommandDone (never freed under a backing store).
  for (auto& up : pool_) {
    Task* t = up.get();
    if (t->state == TaskState::kInCore) {
      t->aborted.store(true, std::memory_order_relaxed);
      t->tmf_aborted = true;
    } else if (t->state == TaskState::kHeld || t->state == TaskState::kCollecting) {
      ReleaseTask(t);
    }
  }
  held_.clear();
  // The session is no longer reachable for reinstatement or listing; the nexus ends once the
  // core has returned every command (MaybeFinish).
  if (session_) host_->sessions()->Remove(session_.get());
  MaybeFinish();
}

void Connection::MaybeFinish() {
  if (!closed_ || finished_ || in_core_ != 0 || flush_posted_) return;
  finished_ = true;
  if (session_) session_->End();
  host_->ConnectionFinished(this);
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

void Connection::Pause() {
  if (paused_) return;
  paused_ = true;
  if (!closed_) {
    Status s = loop_->Modify(fd_, want_write_ ? kEvOut : 0u, this);
    (void)s;
  }
}

void Connection::Resume() {
  if (!paused_ || closed_) return;
  paused_ = false;
  Status s = loop_->Modify(fd_, kEvIn | (want_write_ ? kEvOut : 0u), this);
  (void)s;
  // Parse what is already buffered from the loop, not from inside this (release) call.
  parse_pending_ = true;
  if (!flush_posted_) {
    flush_posted_ = true;
    loop_->PostCompletion(&flush_completion_);
  }
}

void Connection::OnReadable() {
  for (int iter = 0; iter < 8 && !closed_ && !paused_ && !rx_stopped_; iter++) {
    if (rhead_ == rtail_) {
      rhead_ = rtail_ = 0;
    } else if (rhead_ > rcap_ / 2) {
      std::memmove(rbuf_.get(), rbuf_.get() + rhead_, rtail_ - rhead_);
      rtail_ -= rhead_;
      rhead_ = 0;
    }
    iovec iov[3];
    int niov = 0;
    size_t want_data = 0, want_trailer = 0;
    if (rx_state_ == RxState::kData && rhead_ == rtail_ &&
        data_len_ - data_got_ >= kDirectReadMin) {
      want_data = data_len_ - data_got_;
      iov[niov++] = {data_dest_ + data_got_, want_data};
      want_trailer = trailer_len_ - trailer_got_;
      if (want_trailer) iov[niov++] = {trailer_ + trailer_got_, want_trailer};
    }
    size_t want_buf = rcap_ - rtail_;
    iov[niov++] = {rbuf_.get() + rtail_, want_buf};
    ssize_t n = ::readv(fd_, iov, niov);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Close("read error");
      return;
    }
    if (n == 0) {
      Close("peer closed");
      return;
    }
    last_rx_ms_ = env::EventLoop::NowMs();
    size_t got = static_cast<size_t>(n);
    size_t total_want = want_data + want_trailer + want_buf;
    if (want_data) {
      size_t d = std::min(got, want_data);
      data_got_ += static_cast<uint32_t>(d);
      got -= d;
      size_t t = std::min(got, want_trailer);
      trailer_got_ += static_cast<uint32_t>(t);
      got -= t;
      if (data_got_ == data_len_ && trailer_got_ == trailer_len_) DataComplete();
    }
    rtail_ += got;
    ParseBuffered();
    if (static_cast<size_t>(n) < total_want) break;  // socket drained
  }
}

void Connection::ParseBuffered() {
  while (!closed_ && !paused_ && !rx_stopped_) {
    size_t avail = rtail_ - rhead_;
    if (rx_state_ == RxState::kHeader) {
      if (avail < kBhsLength) return;
      const uint8_t* p = rbuf_.get() + rhead_;
      // Back-pressure: a SCSI Command needs a free task; wait for one.
      if ((p[0] & 0x3f) == static_cast<uint8_t>(Opcode::kScsiCommand) &&
          phase_ == Phase::kFullFeature && !free_ && !pool_.empty()) {
        Pause();
        return;
      }
      size_t need = kBhsLength + p[4] * 4u + (header_digest_ ? kDigestLength : 0);
      if (avail < need) return;
      std::memcpy(hdr_, p, need);
      hdr_len_ = need;
      rhead_ += need;
      if (!HeaderComplete()) continue;
    } else {
      if (avail == 0) return;
      if (data_got_ < data_len_) {
        size_t n = std::min<size_t>(avail, data_len_ - data_got_);
        std::memcpy(data_dest_ + data_got_, rbuf_.get() + rhead_, n);
        data_got_ += static_cast<uint32_t>(n);
        rhead_ += n;
        avail -= n;
      }
      if (data_got_ == data_len_ && trailer_got_ < trailer_len_ && avail > 0) {
        size_t n = std::min<size_t>(avail, trailer_len_ - trailer_got_);
        std::memcpy(trailer_ + trailer_got_, rbuf_.get() + rhead_, n);
        trailer_got_ += static_cast<uint32_t>(n);
        rhead_ += n;
      }
      if (data_got_ == data_len_ && trailer_got_ == trailer_len_) DataComplete();
    }
  }
}

void Connection::BeginData(uint8_t* dest, uint32_t len) {
  data_dest_ = dest;
  data_len_ = len;
  data_got_ = 0;
  trailer_len_ = Pad4(len) - len + (data_digest_ ? kDigestLength : 0);
  trailer_got_ = 0;
  rx_state_ = RxState::kData;
}

// Validates the header just received and decides where its data segment goes. Returns true
// if a data phase follows.
bool Connection::HeaderComplete() {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
  if (header_digest_) {
    uint32_t d = DigestFinal(DigestUpdate(kDigestInit, hdr_, hdr_len_ - kDigestLength));
    if (d != GetDigest(hdr_ + hdr_len_ - kDigestLength)) {
      // RFC 7143 7.8: a header digest error cannot be trusted to find the PDU boundary.
      LOG_WARN("iscsi: header digest error from %s", FormatAddress(peer_).c_str());
      Close("header digest error");
      return false;
    }
  }
  uint32_t dsl = bhs.data_segment_length();
  if (dsl > max_recv_) {
    LOG_WARN("iscsi: %u-byte data segment exceeds MaxRecvDataSegmentLength %u", dsl, max_recv_);
    Close("data segment too long");
    return false;
  }
  cur_task_ = nullptr;
  cur_r2t_ = nullptr;
  cur_discard_ = false;
  Opcode op = bhs.opcode();
  if (phase_ == Phase::kLogin && op != Opcode::kLoginRequest) {
    Close("non-login PDU during login");
    return false;
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
  if (closed_) return false;
  if (!dest) {
    ctrl_data_.resize(dsl);
    dest = ctrl_data_.data();
  }
  if (dsl == 0 && !data_digest_) {
    rx_state_ = RxState::kHeader;
    DispatchPdu(true);
    return false;
  }
  if (dsl == 0) {
    // No data segment: no data digest either (RFC 7143 11.2.1).
    rx_state_ = RxState::kHeader;
    DispatchPdu(true);
    return false;
  }
  BeginData(dest, dsl);
  return true;
}

void Connection::DataComplete() {
  rx_state_ = RxState::kHeader;
  bool ok = true;
  if (data_digest_) {
    uint32_t pad = Pad4(data_len_) - data_len_;
    uint32_t st = DigestUpdate(kDigestInit, data_dest_, data_len_);
    if (pad) st = DigestUpdate(st, trailer_, pad);
    ok = DigestFinal(st) == GetDigest(trailer_ + pad);
  }
  DispatchPdu(ok);
}

void Connection::DispatchPdu(bool data_digest_ok) {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
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
    SendReject(RejectReason::kDataDigestError, hdr_);
    return;
  }
  bool discovery = session_ && session_->discovery();
  switch (op) {
    case Opcode::kNopOut:
      if (discovery) {
        AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
        SendReject(RejectReason::kProtocolError, hdr_);
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
        AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
        SendReject(RejectReason::kProtocolError, hdr_);
        return;
      }
      HandleTmf();
      return;
    case Opcode::kLoginRequest:
      // RFC 7143 6.3: a Login Request in full feature phase is a protocol error.
      SendReject(RejectReason::kProtocolError, hdr_);
      return;
    case Opcode::kSnackRequest:
      // ERL0: SNACK is not supported.
      SendReject(RejectReason::kProtocolError, hdr_);
      return;
    default:
      SendReject(RejectReason::kCommandNotSupported, hdr_);
      return;
  }
}

// ---------------------------------------------------------------------------------------
// Login phase (RFC 7143 6.3)

void Connection::HandleLogin() {
  Pdu req;
  std::memcpy(req.bhs.b.data(), hdr_, kBhsLength);
  if (hdr_len_ > kBhsLength) req.ahs.assign(hdr_ + kBhsLength, hdr_ + hdr_len_);
  req.data = ctrl_data_;
  if (!login_started_) {
    login_started_ = true;
    stat_sn_ = req.bhs.Get32(28);  // start where the initiator expects (ExpStatSN)
    login_ = std::make_unique<Login>(this);
  }
  login_cmd_sn_ = req.bhs.Get32(24);
  cid_ = req.bhs.Get16(20);
  Pdu resp;
  LoginStep st = login_->Step(req, &resp);
  resp.bhs.Put32(24, stat_sn_++);
  if (session_) {
    resp.bhs.Put32(28, session_->window.exp_cmd_sn());
    resp.bhs.Put32(32, session_->window.MaxCmdSn());
  } else {
    resp.bhs.Put32(28, login_cmd_sn_);
    resp.bhs.Put32(32, login_cmd_sn_);
  }
  QueuePdu(resp.bhs, resp.data.data(), static_cast<uint32_t>(resp.data.size()), true, nullptr);
  if (st == LoginStep::kFailed) {
    LOG_INFO("iscsi: login failed from %s (status 0x%02x%02x)", FormatAddress(peer_).c_str(),
             resp.bhs.b[36], resp.bhs.b[37]);
    rx_stopped_ = true;
    close_after_flush_ = true;
    if (session_) {
      host_->sessions()->Remove(session_.get());
    }
    return;
  }
  if (st == LoginStep::kComplete) {
    if (!session_) {
      // Login::Step must have called PrepareSession; without a session we cannot go on.
      LOG_ERROR("iscsi: login completed without a session");
      rx_stopped_ = true;
      close_after_flush_ = true;
      return;
    }
    EnterFullFeature();
  }
}

LoginStatus Connection::PrepareSession(const Login& login, uint16_t* tsih) {
  if (login.tsih() != 0) {
    // Adding a connection to an existing session: MaxConnections=1 (RFC 7143 6.3.5).
    return host_->sessions()->Exists(login.tsih()) ? LoginStatus::kTooManyConnections
                                                   : LoginStatus::kSessionDoesNotExist;
  }
  SessionTable::Entry old;
  const ConnectionParams& cp = login.connection_params();
  (void)cp;
  std::shared_ptr<Session> s = host_->sessions()->Create(
      login.isid(), login.target(), login.session_params(), weak_from_this(), loop_,
      Describe(), &old);
  if (!s) return LoginStatus::kOutOfResources;
  s->mutable_nexus()->initiator_address = peer_;  // EXTENDED COPY's ACL checks
  session_ = std::move(s);
  session_->window.Reset(login_cmd_sn_, kCmdWindow);
  *tsih = session_->tsih();
  if (auto oc = old.connection.lock()) {
    old.loop->Post([oc] { oc->Close("session reinstated"); });
  }
  return LoginStatus::kSuccess;
}

std::shared_ptr<core::Target> Connection::FindTarget(const std::string& name) {
  return host_->targets() ? host_->targets()->FindByName(name) : nullptr;
}

const TargetLimits& Connection::limits() { return host_->limits(); }

void Connection::EnterFullFeature() {
  phase_ = Phase::kFullFeature;
  conn_params_ = login_->connection_params();
  const SessionParams& sp = session_->params();
  header_digest_ = conn_params_.header_digest;
  data_digest_ = conn_params_.data_digest;
  max_recv_ = std::max<uint32_t>(512, conn_params_.max_recv_data_segment);
  max_xmit_ = std::max<uint32_t>(512, conn_params_.max_xmit_data_segment);
  max_burst_ = std::max<uint32_t>(512, sp.max_burst_length);
  first_burst_ = std::max<uint32_t>(512, sp.first_burst_length);
  max_r2t_ = std::clamp<uint32_t>(sp.max_outstanding_r2t, 1, kMaxR2tPerTask);
  immediate_data_ = sp.immediate_data;
  initial_r2t_ = sp.initial_r2t;
  if (login_timer_) loop_->CancelTimer(login_timer_);
  login_timer_ = 0;
  login_.reset();
  if (!session_->discovery()) AllocatePool();
  LOG_INFO("iscsi: %s session tsih %u: %s %s", session_->discovery() ? "discovery" : "normal",
           session_->tsih(), sp.initiator_name.c_str(), Describe().c_str());
  ArmNopTimer();
}

// ---------------------------------------------------------------------------------------
// Tasks

void Connection::AllocatePool() {
  pool_.reserve(kPoolSize);
  for (uint32_t i = 0; i < kPoolSize; i++) {
    auto t = std::make_unique<Task>();
    t->index = i;
    pool_.push_back(std::move(t));
  }
  for (uint32_t i = kPoolSize; i-- > 0;) {
    pool_[i]->next_free = free_;
    free_ = pool_[i].get();
  }
  itt_slots_.assign(kIttSlots, 0);
  held_.reserve(kCmdWindow);
}

Connection::Task* Connection::AllocTask() {
  Task* t = free_;
  if (!t) return nullptr;
  free_ = t->next_free;
  t->next_free = nullptr;
  t->Reset();
  t->state = TaskState::kCollecting;
  t->itt = kReserved;
  t->cmd_sn = 0;
  t->edtl = 0;
  t->lun_raw = 0;
  t->immediate = t->counted = t->read = t->write = false;
  t->delivered = t->tmf_aborted = t->fail_early = t->data_error = false;
  t->tmf_slot = -1;
  t->received = t->unsol_end = t->unsol_next = t->unsol_data_sn = 0;
  t->unsol_open = false;
  t->next_r2t_offset = t->r2t_sn = t->r2t_outstanding = 0;
  for (R2t& r : t->r2ts) r.used = false;
  t->data_sn = 0;
  return t;
}

void Connection::ReleaseSlot(Task* t) {
  if (t->counted && session_) {
    session_->window.Release();
    t->counted = false;
  }
}

void Connection::ReleaseTask(Task* t) {
  if (t->state == TaskState::kFree) return;
  ReleaseSlot(t);
  if (t->itt != kReserved) IttErase(t->itt);
  t->state = TaskState::kFree;
  t->lu.reset();
  if (t->data.capacity() > kTrimBytes) t->data.Trim(kTrimBytes);
  t->next_free = free_;
  free_ = t;
  if (paused_) Resume();
}

void Connection::IttInsert(uint32_t itt, uint32_t index) {
  size_t mask = itt_slots_.size() - 1;
  size_t i = HashItt(itt) & mask;
  while (itt_slots_[i] != 0) i = (i + 1) & mask;
  itt_slots_[i] = static_cast<uint16_t>(index + 1);
}

Connection::Task* Connection::FindTask(uint32_t itt) {
  if (itt_slots_.empty()) return nullptr;
  size_t mask = itt_slots_.size() - 1;
  for (size_t i = HashItt(itt) & mask;; i = (i + 1) & mask) {
    uint16_t v = itt_slots_[i];
    if (v == 0) return nullptr;
    Task* t = pool_[v - 1].get();
    if (t->itt == itt) return t;
  }
}

void Connection::IttErase(uint32_t itt) {
  if (itt_slots_.empty()) return;
  size_t mask = itt_slots_.size() - 1;
  size_t i = HashItt(itt) & mask;
  for (;; i = (i + 1) & mask) {
    uint16_t v = itt_slots_[i];
    if (v == 0) return;
    if (pool_[v - 1]->itt == itt) break;
  }
  // Backward-shift deletion keeps probe chains intact without tombstones.
  itt_slots_[i] = 0;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    uint16_t v = itt_slots_[j];
    if (v == 0) return;
    size_t home = HashItt(pool_[v - 1]->itt) & mask;
    // Move v back to i if its home is not cyclically within (i, j].
    bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      itt_slots_[i] = v;
      itt_slots_[j] = 0;
      i = j;
    }
  }
}

Connection::Task* Connection::FindTaskByTtt(uint32_t ttt, R2t** r2t) {
  uint32_t idx = ttt & 0x3ff;
  if (idx >= pool_.size()) return nullptr;
  Task* t = pool_[idx].get();
  if (t->state != TaskState::kCollecting) return nullptr;
  for (R2t& r : t->r2ts) {
    if (r.used && r.ttt == ttt) {
      *r2t = &r;
      return t;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// SCSI Command (RFC 7143 11.3)

void Connection::AdvanceCmdSn(uint32_t cmd_sn, bool immediate) {
  if (!session_ || immediate) return;
  if (cmd_sn == session_->window.exp_cmd_sn()) {
    session_->window.Advance();
    DrainHeld();
  }
}

// Header-time part: takes a task and sizes its buffer so immediate data lands in it.
// Returns false (and has sent a Reject where needed) if the PDU's data is to be discarded.
bool Connection::BeginScsiCommand() {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
  uint32_t dsl = bhs.data_segment_length();
  uint8_t flags = bhs.flags();
  uint32_t edtl = bhs.Get32(20);
  if (!session_ || session_->discovery()) {
    // RFC 7143 4.3: a discovery session carries only Text and Logout.
    return false;
  }
  bool write = flags & kCmdW;
  bool bad = false;
  if (dsl > 0 && (!write || !immediate_data_ || dsl > edtl || dsl > first_burst_)) bad = true;
  if (!(flags & kFlagF) && (!write || initial_r2t_)) bad = true;  // unsolicited data not allowed
  if (bad) return false;
  Task* t = AllocTask();
  if (!t) return false;  // cannot happen: ParseBuffered pauses first
  t->itt = bhs.itt();
  t->cmd_sn = bhs.Get32(24);
  t->edtl = edtl;
  t->immediate = bhs.immediate();
  t->read = flags & kCmdR;
  t->write = write;
  t->lun_raw = bhs.lun_raw();
  t->attr = static_cast<scsi::TaskAttribute>(flags & 0x07);
  if (static_cast<uint8_t>(t->attr) > 4) t->attr = scsi::TaskAttribute::kSimple;
  std::memcpy(t->cdb, hdr_ + 32, 16);
  t->cdb_len = 16;
  // Extended CDB AHS (RFC 7143 11.2.1.2, type 1).
  size_t ahs_len = hdr_len_ - kBhsLength - (header_digest_ ? kDigestLength : 0);
  const uint8_t* a = hdr_ + kBhsLength;
  size_t pos = 0;
  while (pos + 4 <= ahs_len) {
    uint16_t len = GetBe16(a + pos);
    uint8_t type = a[pos + 2];
    size_t entry = Pad4(3u + len);
    if (pos + entry > ahs_len || len == 0) {
      t->fail_early = true;
      break;
    }
    if (type == 1) {
      size_t extra = len - 1u;  // first byte is reserved
      if (16 + extra > scsi::kMaxCdbLength) {
        t->fail_early = true;
      } else {
        std::memcpy(t->cdb + 16, a + pos + 4, extra);
        t->cdb_len = static_cast<uint8_t>(16 + extra);
      }
    }
    pos += entry;
  }
  if (t->read && t->write) t->fail_early = true;  // bidirectional commands: not supported
  if (write && edtl > kMaxWriteLength) t->fail_early = true;
  if (write && !t->fail_early) {
    t->data.Resize(edtl);
  } else {
    t->data.Resize(dsl);
  }
  cur_task_ = t;
  return true;
}

void Connection::FinishScsiCommand(bool data_digest_ok) {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
  Task* t = cur_task_;
  cur_task_ = nullptr;
  if (!t || cur_discard_) {
    // Malformed command, or a command in a discovery session (RFC 7143 4.3): Reject; the
    // CmdSN counts as received.
    SendReject(RejectReason::kProtocolError, hdr_);
    AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
    if (t) ReleaseTask(t);
    return;
  }
  if (!data_digest_ok) {
    // RFC 7143 7.8: at ERL0 the immediate data cannot be recovered (no R2T recovery):
    // Reject and drop the connection.
    ReleaseTask(t);
    SendReject(RejectReason::kDataDigestError, hdr_);
    rx_stopped_ = true;
    close_after_flush_ = true;
    return;
  }
  uint32_t dsl = bhs.data_segment_length();
  CmdSnWindow::Verdict v = session_->window.Check(t->cmd_sn, t->immediate);
  if (v == CmdSnWindow::Verdict::kDrop) {
    LOG_DEBUG("iscsi: dropping command CmdSN %u outside [%u, %u]", t->cmd_sn,
              session_->window.exp_cmd_sn(), session_->window.MaxCmdSn());
    ReleaseTask(t);
    return;
  }
  if (FindTask(t->itt)) {
    // RFC 7143 11.17.1: the ITT names a task still in progress.
    ReleaseTask(t);
    SendReject(RejectReason::kTaskInProgress, hdr_);
    AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
    return;
  }
  IttInsert(t->itt, t->index);
  t->received = dsl;
  if (t->write && !t->fail_early) {
    bool unsolicited = !(bhs.flags() & kFlagF);
    t->unsol_end = unsolicited ? std::min(t->edtl, std::max(first_burst_, dsl)) : dsl;
    t->unsol_next = dsl;
    t->unsol_open = unsolicited && t->unsol_end > dsl;
    t->next_r2t_offset = t->unsol_end;
  }
  if (!t->immediate) {
    session_->window.Acquire();
    t->counted = true;
  }
  if (v == CmdSnWindow::Verdict::kHold) {
    t->state = TaskState::kHeld;
    held_.push_back(t);
    return;
  }
  if (!t->immediate) session_->window.Advance();
  Deliver(t);
  DrainHeld();
}

void Connection::DrainHeld() {
  bool progress = true;
  while (progress && !held_.empty()) {
    progress = false;
    uint32_t exp = session_->window.exp_cmd_sn();
    for (size_t i = 0; i < held_.size(); i++) {
      if (held_[i]->cmd_sn == exp) {
        Task* t = held_[i];
        held_.erase(held_.begin() + static_cast<long>(i));
        session_->window.Advance();
        t->state = TaskState::kCollecting;
        if (t->tmf_aborted) {
          ReleaseTask(t);
        } else {
          Deliver(t);
        }
        progress = true;
        break;
      }
    }
  }
}

void Connection::Deliver(Task* t) {
  t->delivered = true;
  if (t->fail_early) {
    t->status = scsi::Status::kCheckCondition;
    t->sense_len = static_cast<uint8_t>(scsi::BuildSense(
        t->sense, sizeof(t->sense), false, scsi::SenseKey::kIllegalRequest,
        scsi::asc::kInvalidFieldInCdb));
    t->state = TaskState::kInCore;  // SendCommandResponse expects a finished command
    SendCommandResponse(t);
    return;
  }
  if (!t->write) {
    SubmitTask(t);
    return;
  }
  if (!t->data_error) SendR2ts(t);
  CheckDataDone(t);
}

void Connection::SendR2ts(Task* t) {
  while (t->r2t_outstanding < max_r2t_ && t->next_r2t_offset < t->edtl) {
    R2t* r = nullptr;
    for (R2t& x : t->r2ts) {
      if (!x.used) {
        r = &x;
        break;
      }
    }
    if (!r) return;
    uint32_t len = std::min(max_burst_, t->edtl - t->next_r2t_offset);
    r->used = true;
    uint32_t ttt = (ttt_gen_++ << 10) | t->index;
    if (ttt == kReserved) ttt = (ttt_gen_++ << 10) | t->index;
    r->ttt = ttt;
    r->offset = t->next_r2t_offset;
    r->length = len;
    r->received = 0;
    r->exp_data_sn = 0;
    t->next_r2t_offset += len;
    t->r2t_outstanding++;
    // RFC 7143 11.8: R2T. StatSN is not advanced.
    Bhs h;
    h.set_opcode(Opcode::kR2t);
    h.b[1] = kFlagF;
    h.set_lun_raw(t->lun_raw);
    h.set_itt(t->itt);
    h.Put32(20, ttt);
    FillSeq(&h, false);
    h.Put32(36, t->r2t_sn++);
    h.Put32(40, r->offset);
    h.Put32(44, len);
    QueuePdu(h, nullptr, 0, true, nullptr);
  }
}

uint8_t* Connection::BeginDataOut() {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
  uint32_t itt = bhs.itt();
  uint32_t ttt = bhs.Get32(20);
  uint32_t data_sn = bhs.Get32(36);
  uint32_t offset = bhs.Get32(40);
  uint32_t dsl = bhs.data_segment_length();
  if (!session_ || session_->discovery()) return nullptr;
  Task* t = nullptr;
  R2t* r = nullptr;
  bool ok;
  if (ttt != kReserved) {
    t = FindTaskByTtt(ttt, &r);
    if (!t || t->itt != itt) return nullptr;  // unknown TTT: Reject after the data
    // RFC 7143 11.7.4/11.7.5: DataSN counts from 0 in each R2T sequence; with
    // DataPDUInOrder the offsets are consecutive within the burst.
    ok = data_sn == r->exp_data_sn && offset == r->offset + r->received &&
         dsl <= r->length - r->received;
  } else {
    t = FindTask(itt);
    if (!t || !t->write || !t->unsol_open ||
        (t->state != TaskState::kCollecting && t->state != TaskState::kHeld)) {
      return nullptr;
    }
    ok = data_sn == t->unsol_data_sn && offset == t->unsol_next &&
         dsl <= t->unsol_end - t->unsol_next;
  }
  cur_task_ = t;
  cur_r2t_ = r;
  if (t->data_error) return nullptr;  // already failed: swallow the rest of its data
  if (!ok || static_cast<uint64_t>(offset) + dsl > t->data.size()) {
    // ERL0 has no recovery for a sequence error. Rather than dropping the connection, the
    // task fails (CHECK CONDITION once the initiator has closed its open sequences), which
    // is what libiscsi's iSCSIDataSnInvalid expects.
    LOG_WARN("iscsi: bad Data-Out (DataSN %u, offset %u, %u bytes) for ITT 0x%x", data_sn,
             offset, dsl, itt);
    t->data_error = true;
    return nullptr;
  }
  return t->data.data() + offset;
}

void Connection::FinishDataOut(bool data_digest_ok) {
  Bhs bhs;
  std::memcpy(bhs.b.data(), hdr_, kBhsLength);
  Task* t = cur_task_;
  R2t* r = cur_r2t_;
  cur_task_ = nullptr;
  cur_r2t_ = nullptr;
  if (!t) {
    RejectReason why = bhs.Get32(20) != kReserved ? RejectReason::kInvalidPduField
                                                  : RejectReason::kProtocolError;
    SendReject(why, hdr_);
    return;
  }
  if (!data_digest_ok) {
    // ERL0: no recovery R2T; Reject and drop the connection (RFC 7143 7.8, 7.12).
    SendReject(RejectReason::kDataDigestError, hdr_);
    rx_stopped_ = true;
    close_after_flush_ = true;
    return;
  }
  uint32_t dsl = bhs.data_segment_length();
  bool final = bhs.final();
  bool counted = !cur_discard_;
  if (counted) t->received += dsl;
  if (r) {
    if (counted) {
      r->received += dsl;
      r->exp_data_sn++;
    }
    if (final || (counted && r->received == r->length)) {
      if (counted && r->received != r->length) t->data_error = true;  // burst ended early
      r->used = false;
      t->r2t_outstanding--;
      if (t->delivered && !t->data_error) SendR2ts(t);
    }
  } else {
    if (counted) {
      t->unsol_next += dsl;
      t->unsol_data_sn++;
    }
    if (final) {
      t->unsol_open = false;
      if (t->unsol_next != t->unsol_end) t->data_error = true;  // short first burst
    }
  }
  CheckDataDone(t);
}

void Connection::CheckDataDone(Task* t) {
  if (!t->delivered || t->state != TaskState::kCollecting) return;
  if (t->data_error) {
    if (t->r2t_outstanding == 0 && !t->unsol_open) {
      // SAM-5: the data transfer failed; ABORTED COMMAND / DATA PHASE ERROR.
      t->status = scsi::Status::kCheckCondition;
      t->sense_len = static_cast<uint8_t>(scsi::BuildSense(
          t->sense, sizeof(t->sense), false, scsi::SenseKey::kAbortedCommand, scsi::Asc{0x4b00}));
      SendCommandResponse(t);
    }
    return;
  }
  if (t->received == t->edtl && t->r2t_outstanding == 0 && !t->unsol_open) SubmitTask(t);
}

void Connection::SubmitTask(Task* t) {
  t->state = TaskState::kInCore;
  t->unsol_open = false;
  t->lun = DecodeLun(t->lun_raw);
  t->dir = t->write ? scsi::DataDirection::kWrite
                    : (t->read ? scsi::DataDirection::kRead : scsi::DataDirection::kNone);
  t->expected_length = t->edtl;
  t->tag = t->itt;
  t->nexus = session_->mutable_nexus();
  t->owner = this;
  in_core_++;
  host_->commands_in_core().fetch_add(1, std::memory_order_relaxed);
  scsi::Submit(t);
}

void Connection::CommandDone(scsi::Command* cmd) {
  Task* t = static_cast<Task*>(cmd);
  in_core_--;
  host_->commands_in_core().fetch_sub(1, std::memory_order_relaxed);
  if (closed_ || t->tmf_aborted || phase_ != Phase::kFullFeature) {
    // Aborted: no SCSI response (RFC 7143 4.2.3.4 / SAM-5 task aborted silently).
    TmfTaskDone(t);
    ReleaseTask(t);
    MaybeFinish();
    return;
  }
  SendCommandResponse(t);
  ScheduleFlush();
}

void Connection::SendCommandResponse(Task* t) {
  uint32_t n = 0;
  Residual r;
  bool residual_valid = true;
  if (t->read) {
    n = std::min(std::min(t->data_in_length, t->edtl), static_cast<uint32_t>(t->data.size()));
    r = ComputeResidual(t->edtl, t->data_in_length);
  } else if (t->write) {
    // RFC 7143 11.4.5: EDTL against what the CDB needed. libiscsi's Write*Residuals expect
    // the overflow residual even with CHECK CONDITION (INVALID FIELD IN INFORMATION UNIT).
    if (t->is_good() || t->data_out_needed > 0) {
      r = ComputeResidual(t->edtl, t->data_out_needed);
    } else {
      residual_valid = false;
    }
  } else {
    r = ComputeResidual(t->edtl, 0);
  }
  bool collapse = n > 0 && t->status == scsi::Status::kGood && t->sense_len == 0;
  t->state = TaskState::kSending;
  if (collapse) ReleaseSlot(t);  // MaxCmdSN in the final Data-In counts the freed slot
  uint32_t off = 0;
  while (off < n) {
    DataInSlice s = NextDataIn(off, n, max_xmit_, max_burst_);
    bool last = s.offset + s.length == n;
    Bhs h;
    h.set_opcode(Opcode::kDataIn);
    uint8_t f = s.final ? kFlagF : 0;
    if (last && collapse) {
      f |= kFlagF | kDataInS;
      if (r.overflow) f |= kResidOverflow;
      if (r.underflow) f |= kResidUnderflow;
      h.b[3] = static_cast<uint8_t>(t->status);
      h.Put32(44, r.count);
    }
    h.b[1] = f;
    h.set_lun_raw(t->lun_raw);
    h.set_itt(t->itt);
    h.Put32(20, kReserved);
    FillSeq(&h, last && collapse);
    h.Put32(36, t->data_sn++);
    h.Put32(40, s.offset);
    QueuePdu(h, t->data.data() + s.offset, s.length, false,
             (last && collapse) ? t : nullptr);
    off += s.length;
  }
  if (!collapse) SendScsiResponse(t, r, residual_valid);
}

void Connection::SendScsiResponse(Task* t, const Residual& r, bool residual_valid) {
  ReleaseSlot(t);
  Bhs h;
  h.set_opcode(Opcode::kScsiResponse);
  uint8_t f = kFlagF;
  if (residual_valid && r.overflow) f |= kResidOverflow;
  if (residual_valid && r.underflow) f |= kResidUnderflow;
  h.b[1] = f;
  h.b[2] = 0;  // command completed at target
  h.b[3] = static_cast<uint8_t>(t->status);
  h.set_itt(t->itt);
  FillSeq(&h, true);
  h.Put32(36, t->data_sn + t->r2t_sn);  // ExpDataSN: Data-In and R2T PDUs sent
  h.Put32(44, residual_valid ? r.count : 0);
  uint8_t sense[2 + scsi::kMaxSenseLength];
  uint32_t len = 0;
  if (t->sense_len > 0) {
    uint32_t sl = std::min<uint32_t>(t->sense_len, scsi::kMaxSenseLength);
    PutBe16(sense, static_cast<uint16_t>(sl));
    std::memcpy(sense + 2, t->sense, sl);
    len = 2 + sl;
  }
  QueuePdu(h, sense, len, true, t);
}

// ---------------------------------------------------------------------------------------
// NOP, Text, Logout (RFC 7143 11.18-11.19, 11.10-11.11, 11.14-11.15)

void Connection::HandleNopOut() {
  Bhs req;
  std::memcpy(req.b.data(), hdr_, kBhsLength);
  AdvanceCmdSn(req.Get32(24), req.immediate());
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
  uint32_t len = std::min<uint32_t>(static_cast<uint32_t>(ctrl_data_.size()), max_xmit_);
  QueuePdu(h, ctrl_data_.data(), len, true, nullptr);
}

void Connection::HandleText() {
  Bhs req;
  std::memcpy(req.b.data(), hdr_, kBhsLength);
  AdvanceCmdSn(req.Get32(24), req.immediate());
  uint32_t ttt = req.Get32(20);
  uint32_t itt = req.itt();
  if (ttt != kReserved) {
    // Continuation of our multi-PDU answer.
    if (ttt != text_ttt_ || text_out_pos_ >= text_out_.size()) {
      SendReject(RejectReason::kInvalidPduField, hdr_);
      return;
    }
    SendTextChunk(itt);
    return;
  }
  text_in_.insert(text_in_.end(), ctrl_data_.begin(), ctrl_data_.end());
  if (req.b[1] & kFlagC) {
    // The initiator continues its request: acknowledge with an empty response.
    text_out_.clear();
    text_out_pos_ = 0;
    text_ttt_ = (ttt_gen_++ << 10) | 0x3ff;
    Bhs h;
    h.set_opcode(Opcode::kTextResponse);
    h.b[1] = 0;
    h.set_itt(itt);
    h.Put32(20, text_ttt_);
    FillSeq(&h, true);
    QueuePdu(h, nullptr, 0, true, nullptr);
    return;
  }
  Result<KeyValues> kvs = ParseKeyValues(text_in_.data(), text_in_.size());
  text_in_.clear();
  if (!kvs.ok()) {
    SendReject(RejectReason::kProtocolError, hdr_);
    return;
  }
  KeyValues out;
  for (const auto& [k, v] : *kvs) {
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
                        session_->params().initiator_name, &out);
    } else {
      out.emplace_back(k, "NotUnderstood");
    }
  }
  text_out_.clear();
  text_out_pos_ = 0;
  AppendKeyValues(out, &text_out_);
  SendTextChunk(itt);
}

void Connection::SendTextChunk(uint32_t itt) {
  size_t left = text_out_.size() - text_out_pos_;
  uint32_t len = static_cast<uint32_t>(std::min<size_t>(left, max_xmit_));
  bool more = left > len;
  Bhs h;
  h.set_opcode(Opcode::kTextResponse);
  h.b[1] = more ? kFlagC : kFlagF;
  h.set_itt(itt);
  if (more) text_ttt_ = (ttt_gen_++ << 10) | 0x3ff;
  h.Put32(20, more ? text_ttt_ : kReserved);
  FillSeq(&h, true);
  QueuePdu(h, text_out_.data() + text_out_pos_, len, true, nullptr);
  text_out_pos_ += len;
  if (!more) {
    text_out_.clear();
    text_out_pos_ = 0;
    text_ttt_ = kReserved;
  }
}

void Connection::HandleLogout() {
  Bhs req;
  std::memcpy(req.b.data(), hdr_, kBhsLength);
  AdvanceCmdSn(req.Get32(24), req.immediate());
  uint8_t reason = req.b[1] & 0x7f;
  uint16_t cid = req.Get16(20);
  uint8_t response = 0;
  if (reason == 2) {
    response = 2;  // connection recovery is not supported (ERL0)
  } else if (reason == 1 && cid != cid_) {
    response = 1;  // CID not found
  } else if (reason > 2) {
    SendReject(RejectReason::kProtocolError, hdr_);
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
    rx_stopped_ = true;
    close_after_flush_ = true;
    for (auto& up : pool_) {
      Task* t = up.get();
      if (t->state == TaskState::kInCore) {
        t->aborted.store(true, std::memory_order_relaxed);
        t->tmf_aborted = true;
      } else if (t->state == TaskState::kHeld || t->state == TaskState::kCollecting) {
        ReleaseTask(t);
      }
    }
    held_.clear();
  }
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
        env::EventLoop::NowMs() - c->last_rx_ms_ >= kNopIntervalMs) {
      // Idle: ping the initiator (RFC 7143 11.19, ITT reserved, TTT ours).
      c->nop_ttt_ = (c->ttt_gen_++ << 10) | 0x3ff;
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
// Task management (RFC 7143 11.5-11.6, 4.2.3.5)

void Connection::AbortTask(Task* t, int tmf_slot) {
  switch (t->state) {
    case TaskState::kInCore:
      t->aborted.store(true, std::memory_order_relaxed);
      if (!t->tmf_aborted) {
        t->tmf_aborted = true;
        if (tmf_slot >= 0) {
          t->tmf_slot = tmf_slot;
          tmfs_[tmf_slot].waiting++;
        }
      }
      break;
    case TaskState::kHeld:
      // Its CmdSN was received: keep it held so ExpCmdSN still passes it; DrainHeld drops it.
      t->tmf_aborted = true;
      break;
    case TaskState::kCollecting:
      ReleaseTask(t);
      break;
    case TaskState::kSending:  // response already queued: sent before the TMF response
    case TaskState::kFree:
      break;
  }
}

void Connection::TmfTaskDone(Task* t) {
  int slot = t->tmf_slot;
  t->tmf_slot = -1;
  if (slot < 0 || slot >= static_cast<int>(tmfs_.size())) return;
  PendingTmf& p = tmfs_[slot];
  if (!p.used || p.waiting == 0) return;
  if (--p.waiting == 0) {
    p.used = false;
    if (!closed_ && phase_ == Phase::kFullFeature) {
      SendTmfResponse(p.itt, p.response);
      ScheduleFlush();
    }
  }
}

void Connection::SendTmfResponse(uint32_t itt, uint8_t response) {
  Bhs h;
  h.set_opcode(Opcode::kTaskMgmtResponse);
  h.b[1] = kFlagF;
  h.b[2] = response;
  h.set_itt(itt);
  FillSeq(&h, true);
  QueuePdu(h, nullptr, 0, true, nullptr);
}

void Connection::HandleTmf() {
  Bhs req;
  std::memcpy(req.b.data(), hdr_, kBhsLength);
  uint32_t cmd_sn = req.Get32(24);
  if (!req.immediate() &&
      session_->window.Check(cmd_sn, false) == CmdSnWindow::Verdict::kDrop) {
    return;  // outside the window: ignored (RFC 7143 4.2.2.1)
  }
  AdvanceCmdSn(cmd_sn, req.immediate());
  auto function = static_cast<scsi::TmfFunction>(req.b[1] & 0x7f);
  uint32_t itt = req.itt();
  uint32_t rtt = req.Get32(20);
  uint32_t ref_cmd_sn = req.Get32(32);
  uint64_t lun_raw = req.lun_raw();
  uint64_t lun = DecodeLun(lun_raw);
  const std::shared_ptr<core::Target>& target = session_->target();
  std::shared_ptr<scsi::LogicalUnit> lu = target ? target->FindLun(lun) : nullptr;

  // A pending record for responses that wait on tasks still in the core.
  int slot = -1;
  for (size_t i = 0; i < tmfs_.size(); i++) {
    if (!tmfs_[i].used) {
      slot = static_cast<int>(i);
      break;
    }
  }
  if (slot < 0) {
    tmfs_.emplace_back();
    slot = static_cast<int>(tmfs_.size() - 1);
  }
  PendingTmf& p = tmfs_[slot];
  p.used = true;
  p.itt = itt;
  p.waiting = 0;
  p.response = kTmfComplete;

  auto abort_matching = [&](bool all_luns) {
    for (auto& up : pool_) {
      Task* t = up.get();
      if (t->state == TaskState::kFree || t->state == TaskState::kSending) continue;
      if (!all_luns && t->lun_raw != lun_raw && DecodeLun(t->lun_raw) != lun) continue;
      AbortTask(t, slot);
    }
  };

  switch (function) {
    case scsi::TmfFunction::kAbortTask: {
      Task* t = FindTask(rtt);
      if (t && t->state == TaskState::kSending) {
        // Its response is already queued (sent before this one): nothing left to abort.
        p.response = kTmfNoTask;
      } else if (t && t->state != TaskState::kFree) {
        AbortTask(t, slot);
      } else if (!SnLt(ref_cmd_sn, cmd_sn) ||
                 session_->window.Check(ref_cmd_sn, false) == CmdSnWindow::Verdict::kDrop) {
        // RFC 7143 11.5.1 c): not found and RefCmdSN outside the window.
        p.response = kTmfNoTask;
      }
      // b): not found but RefCmdSN in the window and before this TMF: Function complete.
      break;
    }
    case scsi::TmfFunction::kAbortTaskSet:
    case scsi::TmfFunction::kClearTaskSet:
      if (!lu) {
        p.response = kTmfNoLun;
        break;
      }
      abort_matching(false);
      if (function == scsi::TmfFunction::kClearTaskSet) {
        lu->AddUnitAttentionAll(scsi::asc::kCommandsClearedByAnotherInitiator,
                                session_->mutable_nexus()->id);
      }
      break;
    case scsi::TmfFunction::kLogicalUnitReset:
      if (!lu) {
        p.response = kTmfNoLun;
        break;
      }
      abort_matching(false);
      scsi::ResetLogicalUnit(lu.get(), session_->mutable_nexus());
      break;
    case scsi::TmfFunction::kTargetWarmReset:
      abort_matching(true);
      if (target) {
        std::shared_ptr<const core::LunMap> luns = target->luns();
        if (luns) {
          for (const auto& [n, l] : *luns) {
            if (l) scsi::ResetLogicalUnit(l.get(), session_->mutable_nexus());
          }
        }
      }
      break;
    case scsi::TmfFunction::kTaskReassign:
      p.response = kTmfReassignNotSupported;  // ERL0: no allegiance reassignment
      break;
    case scsi::TmfFunction::kClearAca:
    case scsi::TmfFunction::kTargetColdReset:
    default:
      p.response = kTmfNotSupported;
      break;
  }
  if (p.waiting == 0) {
    p.used = false;
    SendTmfResponse(itt, p.response);
  }
}

// ---------------------------------------------------------------------------------------
// Transmit

void Connection::FillSeq(Bhs* h, bool advance_stat_sn) {
  h->Put32(24, advance_stat_sn ? stat_sn_++ : stat_sn_);
  if (session_) {
    h->Put32(28, session_->window.exp_cmd_sn());
    h->Put32(32, session_->window.MaxCmdSn());
  }
}

size_t Connection::StageReserve(size_t n) {
  size_t off = stage_.size();
  stage_.resize(off + n);
  return off;
}

void Connection::PushItem(const TxItem& item) {
  if (tx_count_ == txq_.size()) {
    std::vector<TxItem> bigger(txq_.size() * 2);
    for (size_t i = 0; i < tx_count_; i++) bigger[i] = txq_[(tx_head_ + i) % txq_.size()];
    txq_.swap(bigger);
    tx_head_ = 0;
  }
  txq_[(tx_head_ + tx_count_) % txq_.size()] = item;
  tx_count_++;
}

void Connection::QueuePdu(const Bhs& bhs_in, const uint8_t* data, uint32_t len, bool copy,
                          Task* release) {
  if (closed_) {
    if (release) ReleaseTask(release);
    return;
  }
  size_t hlen = kBhsLength + (header_digest_ ? kDigestLength : 0);
  uint32_t pad = Pad4(len) - len;
  size_t tlen = pad + (data_digest_ && len ? kDigestLength : 0);
  size_t total = hlen + (copy ? len + tlen : 0);
  size_t off = StageReserve(total);
  uint8_t* p = stage_.data() + off;
  std::memcpy(p, bhs_in.b.data(), kBhsLength);
  PutBe24(p + 5, len);
  if (header_digest_) PutDigest(p + kBhsLength, DigestFinal(DigestUpdate(kDigestInit, p, kBhsLength)));
  uint8_t trailer[8] = {};
  if (data_digest_ && len) {
    uint32_t st = DigestUpdate(kDigestInit, data, len);
    if (pad) st = DigestUpdate(st, trailer, pad);
    PutDigest(trailer + pad, DigestFinal(st));
  }
  if (copy) {
    if (len) std::memcpy(p + hlen, data, len);
    std::memcpy(p + hlen + len, trailer, tlen);
    PushItem({nullptr, static_cast<uint32_t>(off), static_cast<uint32_t>(total), release});
    return;
  }
  PushItem({nullptr, static_cast<uint32_t>(off), static_cast<uint32_t>(hlen), nullptr});
  if (len) PushItem({data, 0, len, tlen ? nullptr : release});
  if (tlen) {
    size_t toff = StageReserve(tlen);
    std::memcpy(stage_.data() + toff, trailer, tlen);
    PushItem({nullptr, static_cast<uint32_t>(toff), static_cast<uint32_t>(tlen), release});
  } else if (!len && release) {
    // Header only: attach the release to it.
    txq_[(tx_head_ + tx_count_ - 1) % txq_.size()].release = release;
  }
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

void Connection::ScheduleFlush() {
  if (closed_ || in_events_ || flush_posted_) return;
  flush_posted_ = true;
  loop_->PostCompletion(&flush_completion_);
}

void Connection::SetWantWrite(bool on) {
  if (want_write_ == on || closed_) return;
  want_write_ = on;
  uint32_t ev = (paused_ ? 0u : kEvIn) | (on ? kEvOut : 0u);
  Status s = loop_->Modify(fd_, ev, this);
  (void)s;
}

void Connection::Flush() {
  while (tx_count_ > 0 && !closed_) {
    iovec iov[kMaxIov];
    size_t n = 0;
    size_t total = 0;
    for (size_t i = 0; i < tx_count_ && n < kMaxIov; i++) {
      const TxItem& it = txq_[(tx_head_ + i) % txq_.size()];
      const uint8_t* base = it.ext ? it.ext : stage_.data() + it.off;
      size_t skip = i == 0 ? tx_head_written_ : 0;
      iov[n].iov_base = const_cast<uint8_t*>(base + skip);
      iov[n].iov_len = it.len - skip;
      total += iov[n].iov_len;
      n++;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    ssize_t w = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetWantWrite(true);
        return;
      }
      Close("write error");
      return;
    }
    size_t done = static_cast<size_t>(w);
    while (done > 0 && tx_count_ > 0) {
      TxItem& it = txq_[tx_head_];
      size_t rest = it.len - tx_head_written_;
      if (done < rest) {
        tx_head_written_ += done;
        done = 0;
        break;
      }
      done -= rest;
      tx_head_written_ = 0;
      Task* t = it.release;
      tx_head_ = (tx_head_ + 1) % txq_.size();
      tx_count_--;
      if (t) ReleaseTask(t);
    }
    if (static_cast<size_t>(w) < total) {
      SetWantWrite(true);
      return;
    }
  }
  if (closed_) return;
  if (tx_count_ == 0) {
    stage_.clear();
    tx_head_ = 0;
    SetWantWrite(false);
    if (close_after_flush_) Close("done");
  } else if (tx_head_written_ == 0) {
    // Compact the staging area when its unsent part is a small tail of a large buffer.
    size_t min_off = stage_.size();
    for (size_t i = 0; i < tx_count_; i++) {
      const TxItem& it = txq_[(tx_head_ + i) % txq_.size()];
      if (!it.ext) min_off = std::min<size_t>(min_off, it.off);
    }
    if (min_off > (1u << 20) && min_off > stage_.size() / 2) {
      stage_.erase(stage_.begin(), stage_.begin() + static_cast<long>(min_off));
      for (size_t i = 0; i < tx_count_; i++) {
        TxItem& it = txq_[(tx_head_ + i) % txq_.size()];
        if (!it.ext) it.off -= static_cast<uint32_t>(min_off);
      }
    }
  }
}

}  // namespace modtgt::iscsi
