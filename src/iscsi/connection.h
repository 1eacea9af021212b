// SPDX-License-Identifier: Apache-2.0
// One iSCSI/TCP connection (RFC 7143): its socket and events, the login phase (driving
// iscsi::Login and handing the result to a Session), and the full feature phase PDUs it
// receives and sends: SCSI Command, Data-Out/R2T, Data-In and SCSI Response (scsi_task.cc),
// Text (text.h), NOP, Logout, Task Management (tmf.h), Reject, Async Message.
//
// A connection holds only connection-scope state (RFC 7143 13 scopes): the socket, the
// receive framing (Receiver), the transmit queue (Transmitter), the digests and
// MaxRecv/MaxXmitDataSegmentLength, StatSN/ExpStatSN, CID, the NOP keepalive and the login
// phase. Everything session-wide (CmdSN window, tasks, TMF bookkeeping, the negotiated
// session parameters) is the Session's (session.h); each task records the connection it has
// allegiance to, and the session hands it back here.
//
// Files: connection.cc (life cycle, events, PDU dispatch, login hand-off, NOP, Text,
// Logout, transmit glue) and scsi_task.cc (SCSI commands and their data).
//
// Threading: a Connection belongs to one event loop, the loop of its session (session.h).
// Every method runs on that loop. Other threads reach it by posting to loop() while
// holding a shared_ptr.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "env/event_loop.h"
#include "iscsi/login.h"
#include "iscsi/options.h"
#include "iscsi/params.h"
#include "iscsi/pdu.h"
#include "iscsi/receiver.h"
#include "iscsi/scsi_task.h"
#include "iscsi/session.h"
#include "iscsi/text.h"
#include "iscsi/transmitter.h"

namespace modtgt::core {
class AccountRegistry;
class TargetRegistry;
}

namespace modtgt::iscsi {

class Connection;

// What a connection needs from its transport. Implemented by IscsiTransport (and fakes).
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual core::TargetRegistry* targets() = 0;
  // CHAP accounts and their bindings; null: no authentication anywhere.
  virtual core::AccountRegistry* accounts() { return nullptr; }
  virtual const TargetLimits& limits() = 0;
  // What a peer may make a connection hold (options.h); defaults unless overridden.
  virtual const ResourceLimits& resources() {
    static const ResourceLimits kDefaults;
    return kDefaults;
  }
  virtual SessionTable* sessions() = 0;
  // Commands currently in the core, across connections (for Shutdown's drain). Thread-safe.
  virtual std::atomic<int64_t>& commands_in_core() = 0;
  // Called on the connection's loop once it is closed and idle (no command in the core).
  // The host drops its reference later (never inside this call's stack).
  virtual void ConnectionFinished(Connection* conn) = 0;
  // Called on the connection's loop when it enters full feature phase (it no longer counts
  // against the pending-login limits).
  virtual void LoginCompleted(Connection* conn) {}
  // Logs a connection dropped for a limit (e.g. the login timeout). A flood of them must
  // not flood the log: the transport logs at most one a second. Thread-safe.
  virtual void LogDropped(const std::string& what) { LOG_WARN("iscsi: %s", what.c_str()); }
};

class Connection : public env::EventHandler,
                   public LoginEnvironment,
                   private Receiver::Handler,
                   private Transmitter::Handler,
                   private TextExchange::Host,
                   public std::enable_shared_from_this<Connection> {
 public:
  static constexpr uint64_t kNopIntervalMs = 30000;
  // How long a login waits for the same initiator's other I_T nexuses to this target to end
  // when their connections are found closed (see PrepareSession); then it goes on anyway.
  static constexpr uint64_t kNexusWaitMs = 5000;
  // Output queued and not yet written above which no further PDU is read (an initiator
  // that sends without reading cannot make the target buffer without bound).
  static constexpr size_t kTxHighWater = 4u << 20;

  // Takes ownership of fd (a connected, nonblocking TCP socket).
  Connection(ConnectionHost* host, env::EventLoop* loop, int fd, uint16_t tpgt);
  ~Connection() override;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Registers the socket with the loop and arms the login timer. REQUIRES: loop thread, the
  // connection is held by a shared_ptr.
  void Start();
  // Closes the socket at once. Commands still in the core finish in the background and are
  // discarded; then the session ends and the host is told (ConnectionFinished).
  void Close(const char* why);
  // Sends an Async Message asking the initiator to log out within `seconds`
  // (RFC 7143 11.9.1, AsyncEvent 1). No-op outside full feature phase.
  void RequestLogout(uint16_t seconds);

  bool closed() const { return closed_; }
  // When the connection was accepted or last received a login PDU (EventLoop::NowMs).
  // Thread-safe: the transport picks the quietest connection in login to drop for room.
  uint64_t login_activity_ms() const { return login_activity_ms_.load(std::memory_order_relaxed); }
  // Looks at the socket now, as an EPOLLIN would: reads what is buffered and closes the
  // connection if the initiator has closed it (or reset it). A new login of the same
  // initiator calls it (posted to this connection's loop) before its final response.
  void CheckPeer();
  bool full_feature() const { return phase_ == Phase::kFullFeature; }
  uint32_t commands_in_core() const { return in_core_; }
  const std::shared_ptr<Session>& session() const { return session_; }
  env::EventLoop* loop() const { return loop_; }
  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
  std::string Describe() const;

  // ---- Called by the session, on the loop ----
  // t (allegiance: this connection) reached its turn in CmdSN order: collect its Data-Out
  // (R2Ts) or submit it to the core.
  void Deliver(Task* t);
  // t (allegiance: this connection) is back from the core: send its response, or drop it
  // if it was aborted or the connection is gone.
  void CommandDone(Task* t);
  // A task of the session's pool went free: if reading stalled for lack of one, resume.
  void TaskFreed();
  // Queues a Task Management Function Response (RFC 7143 11.6); nothing once the
  // connection has left full feature phase.
  void SendTmfResponse(uint32_t itt, uint8_t response);

  // env::EventHandler
  void OnEvents(uint32_t events) override;
  // LoginEnvironment
  std::shared_ptr<core::Target> FindTarget(const std::string& name) override;
  const TargetLimits& limits() override;
  const sockaddr* peer_address() override { return reinterpret_cast<const sockaddr*>(&peer_); }
  const sockaddr* local_address() override { return reinterpret_cast<const sockaddr*>(&local_); }
  uint16_t portal_group_tag() override { return tpgt_; }
  LoginStatus PrepareSession(const Login& login, uint16_t* tsih) override;
  // CHAP is required when the target (null: discovery) has incoming accounts bound.
  bool AuthenticationRequired(const core::Target* target) override;
  std::unique_ptr<Authenticator> NewAuthenticator(const std::string& method,
                                                  const core::Target* target,
                                                  const std::string& initiator_name) override;

 private:
  enum class Phase : uint8_t { kLogin, kFullFeature, kLogout };

  struct FlushCompletion : env::Completion {
    Connection* conn = nullptr;
  };

  // Receiver::Handler
  bool CanTake(const uint8_t* bhs) override;
  uint8_t* OnHeader(bool header_digest_ok) override;
  void OnPdu(bool data_digest_ok) override;
  // Transmitter::Handler
  void Sent(Task* t) override;
  // TextExchange::Host
  uint32_t NewTextTtt() override;
  void AnswerText(const KeyValues& request, KeyValues* out) override;

  // ---- connection.cc ----
  Bhs RxBhs() const;
  void OnReadable();
  void Pause();
  void Resume();
  // After the current output: stop reading and close (failed login, logout, ERL0 errors).
  void CloseAfterFlush();
  void MaybeFinish();
  void ArmNopTimer();
  void HandleLogin();
  // Sends the final login response and enters full feature phase.
  void CompleteLogin(Pdu resp);
  // The same initiator's other sessions to this target (found by PrepareSession): each is
  // checked on its loop and, if its connection turned out closed, waited for until its
  // nexus ended. NexusCheckDone counts the answers; the last one (or kNexusWaitMs) lets
  // the held final response go.
  void StartNexusChecks(const std::vector<SessionTable::Entry>& others, uint16_t reinstated);
  void NexusCheckDone(uint64_t generation);
  void EnterFullFeature();
  void HandleNopOut();
  void HandleText();
  void HandleLogout();
  // Sets StatSN (advancing it for a response that carries one), ExpCmdSN and MaxCmdSN.
  void FillSeq(Bhs* bhs, bool advance_stat_sn);
  // Transmitter::Queue, or (closed) an immediate release.
  void QueuePdu(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy, Task* release);
  void SendReject(RejectReason reason, const uint8_t* bhs);
  void ScheduleFlush();
  void Flush();
  void SetWantWrite(bool on);
  // ---- scsi_task.cc ----
  // Header time: takes a task and sizes its buffer so immediate data lands in it. Returns
  // false if the PDU's data is to be discarded.
  bool BeginScsiCommand();
  void FinishScsiCommand(bool data_digest_ok);
  // Header time: where this Data-Out's data goes (null: discard it).
  uint8_t* BeginDataOut();
  void FinishDataOut(bool data_digest_ok);
  void CheckDataDone(Task* t);
  void SendR2ts(Task* t);
  void SubmitTask(Task* t);
  void SendCommandResponse(Task* t);
  void SendScsiResponse(Task* t, const Residual& r, bool residual_valid);

  ConnectionHost* const host_;
  env::EventLoop* const loop_;
  int fd_;
  const uint16_t tpgt_;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};

  Phase phase_ = Phase::kLogin;
  bool closed_ = false;
  bool finished_ = false;
  bool started_ = false;
  bool in_events_ = false;
  bool close_after_flush_ = false;
  bool want_write_ = false;
  bool flush_posted_ = false;
  bool parse_pending_ = false;  // resumed: parse the receive buffer from the loop
  FlushCompletion flush_completion_;

  Receiver rx_{this};
  Transmitter tx_{this};

  // Negotiated (connection scope)
  ConnectionParams conn_params_;
  uint32_t max_recv_ = 8192;
  uint32_t max_xmit_ = 8192;
  uint16_t cid_ = 0;
  std::shared_ptr<Session> session_;

  // Login
  std::unique_ptr<Login> login_;
  bool login_started_ = false;
  uint32_t login_cmd_sn_ = 0;
  uint64_t login_timer_ = 0;
  // The final login response held until the nexus checks are answered.
  size_t nexus_checks_ = 0;       // checks not answered yet
  uint64_t nexus_generation_ = 0;
  uint64_t nexus_timer_ = 0;
  bool login_response_held_ = false;
  Pdu held_login_response_;
  bool paused_for_tx_ = false;
  std::atomic<uint64_t> login_activity_ms_{0};

  // Sequence numbers
  uint32_t stat_sn_ = 0;
  uint32_t exp_stat_sn_ = 0;

  // The SCSI Command / Data-Out being received (scsi_task.cc)
  Task* cur_task_ = nullptr;
  R2t* cur_r2t_ = nullptr;
  bool cur_discard_ = false;
  uint32_t in_core_ = 0;  // tasks with allegiance here that are in the core

  TextExchange text_;

  // Keepalive
  uint64_t nop_timer_ = 0;
  bool nop_outstanding_ = false;
  uint32_t nop_ttt_ = 0;
};

}  // namespace modtgt::iscsi
