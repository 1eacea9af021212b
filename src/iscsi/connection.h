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
// Files: connection.cc (life cycle, events, PDU dispatch, NOP, Text, Logout, transmit
// glue), connection_login.cc (login hand-off, joining a session), scsi_task.cc (SCSI
// commands and their data) and recovery.cc (ERL 1/2: SNACK, kept responses, reassigned
// tasks).
//
// Threading: a Connection belongs to one event loop, the loop of its session (session.h).
// Every method runs on that loop. A connection joining a session on another loop moves
// there once, at the end of its login (MoveToLoop); loop() is atomic for that. Other threads reach it by posting to loop() while
// holding a shared_ptr.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <deque>
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
  // discarded; then the session ends (if this was its last connection) and the host is told
  // (ConnectionFinished). At ErrorRecoveryLevel 2, while another connection of the session
  // is open, the tasks are kept instead for reassignment (Session::OrphanTasks).
  void Close(const char* why);
  // Closes the socket and ends its tasks whatever the ErrorRecoveryLevel (a Logout with
  // "close the connection" or "close the session").
  void CloseAndEndTasks(const char* why);
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
  // Thread-safe: the loop can change once, when a joining connection moves to its
  // session's loop during login (MoveToLoop).
  env::EventLoop* loop() const { return loop_.load(std::memory_order_acquire); }
  uint16_t cid() const { return cid_; }
  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
  std::string Describe() const;
  // The same as fields (tgtadm --mode conn --op show).
  core::ConnectionInfo Info() const;

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
  // TASK REASSIGN (ERL 2, RFC 7143 6.2.2, 11.5.1): t, an orphan, now has allegiance to this
  // connection and goes on where it stopped: a held or undelivered task is delivered, a
  // write asks again for the data it lacks (recovery R2Ts), a command in the core answers
  // here, a finished one sends its response again, its Data-In from exp_data_sn.
  void TakeReassigned(Task* t, uint32_t exp_data_sn);
  // After the current output: stop reading and close (failed login, logout, ERL0 errors,
  // TARGET COLD RESET).
  void CloseAfterFlush();
  // The transport's sessions (a target reset reaches the target's other sessions).
  SessionTable* session_table() const { return host_->sessions(); }

  // env::EventHandler
  void OnEvents(uint32_t events) override;
  // LoginEnvironment
  std::shared_ptr<core::Target> FindTarget(const std::string& name) override;
  const TargetLimits& limits() override;
  const sockaddr* peer_address() override { return reinterpret_cast<const sockaddr*>(&peer_); }
  const sockaddr* local_address() override { return reinterpret_cast<const sockaddr*>(&local_); }
  uint16_t portal_group_tag() override { return tpgt_; }
  LoginStatus PrepareSession(const Login& login, uint16_t* tsih) override;
  LoginStatus Admission(const core::Target* target) override;

  // The counters of the portal the connection came in on (core/stats.h); may stay null.
  void set_portal_stats(std::shared_ptr<scsi::IoCounters> c) { portal_stats_ = std::move(c); }
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
  // Logout of this connection: no new command; the commands in the core are answered,
  // then the Logout Response goes out and the connection closes. keep_tasks: removed for
  // recovery (reason 2), its tasks become orphans for reassignment.
  void BeginLogout(uint32_t itt, bool keep_tasks);
  void MaybeSendLogoutResponse();
  void SendLogoutResponse(uint32_t itt, uint8_t response);
  // A joining connection (TSIH != 0) whose session lives on another loop moves there
  // (after the first login PDU; reading is paused until it is registered there).
  void MoveToLoop(env::EventLoop* to);
  // On the session's loop: the joining connection enters the session (RFC 7143 6.3.5:
  // MaxConnections; a CID in use is a connection reinstatement, the old one closes) and
  // its held final login response goes out, or is turned into a failure.
  void FinishJoin();
  // ---- Error recovery (connection.cc, recovery part) ----
  // SNACK (RFC 7143 11.16, ERL >= 1): Data/R2T, Status, R-Data.
  void HandleSnack();
  // The initiator's ExpStatSN moved: responses it acknowledges are no longer kept.
  void AckStatSn(uint32_t exp_stat_sn);
  // Sends again the Data-In PDUs of t numbered [beg, beg + run) (run 0: to the last), the
  // one with the status with its original StatSN.
  void RetransmitDataIn(Task* t, uint32_t beg, uint32_t run);
  // Sends again t's response (the SCSI Response or the Data-In carrying the status).
  void RetransmitStatus(Task* t);
  // Sets StatSN (advancing it for a response that carries one), ExpCmdSN and MaxCmdSN.
  void FillSeq(Bhs* bhs, bool advance_stat_sn);
  // Transmitter::Queue, or (closed) an immediate release.
  void QueuePdu(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy, Task* release);
  // Transmitter::QueueZeros (a Data-In whose bytes read as zeros), or an immediate release.
  void QueueZeroPdu(const Bhs& bhs, uint32_t len, Task* release);
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
  // Sends t's Data-In (those numbered from_data_sn on) and status.
  void SendCommandResponse(Task* t, uint32_t from_data_sn = 0);
  // One Data-In PDU of t: slice s numbered data_sn; `last` carries the status when
  // t->status_in_data. stat_sn: the StatSN to use for that status (retransmission), or
  // kReserved for the next one. copy: the data is copied (retransmission).
  void SendDataIn(Task* t, const DataInSlice& s, uint32_t data_sn, bool last, uint32_t stat_sn,
                  bool copy);
  // stat_sn as in SendDataIn.
  void SendScsiResponse(Task* t, uint32_t stat_sn = 0xffffffffu);
  // Counts a finished command in its LU's, session's and portal's statistics.
  void CountCommand(const Task* t, bool aborted);

  ConnectionHost* const host_;
  std::atomic<env::EventLoop*> loop_;
  int fd_;
  const uint16_t tpgt_;
  sockaddr_storage peer_{};
  sockaddr_storage local_{};
  std::shared_ptr<scsi::IoCounters> portal_stats_;

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
  bool moving_ = false;  // MoveToLoop in progress
  bool joining_ = false;  // the login joins session_ (TSIH != 0); FinishJoin completes it
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

  // Logout (BeginLogout)
  bool logout_pending_ = false;
  uint32_t logout_itt_ = 0;
  bool end_tasks_ = false;  // CloseAndEndTasks: no recovery for its tasks

  // ERL >= 1: tasks whose response was written, kept for SNACK until acknowledged, in
  // StatSN order (entries of tasks freed or moved meanwhile are skipped).
  std::deque<Task*> retained_;

  // Keepalive
  uint64_t nop_timer_ = 0;
  bool nop_outstanding_ = false;
  uint32_t nop_ttt_ = 0;
};

}  // namespace modtgt::iscsi
