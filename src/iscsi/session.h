// SPDX-License-Identifier: Apache-2.0
// iSCSI sessions (RFC 7143 4.1, 4.2.2, 6.3.5): the command sequence window (CmdSN, ExpCmdSN,
// MaxCmdSN with serial number arithmetic, RFC 1982), the Session and the SessionTable
// (TSIH allocation, reinstatement, listing).
//
// A Session owns everything whose scope is the session rather than one connection
// (RFC 7143 13 gives each negotiated key its scope): the I_T nexus, the negotiated session
// parameters, the CmdSN window, the task set (ITT lookup, the CmdSN-ordered held queue)
// and task management across its tasks. Its connections keep only connection-scope state
// (socket, PDU framing, transmit queue, digests, MaxRecv/MaxXmitDataSegmentLength, StatSN,
// CID, keepalive, login phase); each Task records the connection it has allegiance to.
//
// Design rule: a session and all of its connections live on ONE event loop. A connection
// that joins an existing session (MC/S, a login with its TSIH) is handed to the session's
// loop after its first login PDU (Connection::MoveToLoop). So session state is loop-owned and the I/O path
// takes no lock; the session is also the scsi::CommandOwner of its tasks, so the core
// hands a finished command back to that loop whichever connection carries it.
//
// Threading:
// - CmdSnWindow: not thread-safe; owned by its session's loop.
// - Session: everything but the identity (tsih, isid, target, params, nexus: immutable after
//   creation) is touched only on the session's loop. Construction and End() may happen
//   elsewhere when no connection uses the session.
// - SessionTable: thread-safe (internal mutex). The mutex is taken at login, logout,
//   session end and by admin queries; never on the per-command path.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/target.h"
#include "env/event_loop.h"
#include "iscsi/params.h"
#include "iscsi/task_set.h"
#include "iscsi/tmf.h"
#include "iscsi/transport.h"
#include "scsi/command.h"
#include "scsi/io_stats.h"

namespace modtgt::iscsi {

class Connection;
class SessionTable;

// ---- Serial number arithmetic on 32-bit sequence numbers (RFC 1982, RFC 7143 4.2.2.1) ----
inline bool SnLt(uint32_t a, uint32_t b) {
  return a != b && static_cast<uint32_t>(b - a) < 0x80000000u;
}
inline bool SnGt(uint32_t a, uint32_t b) { return SnLt(b, a); }
inline bool SnLe(uint32_t a, uint32_t b) { return a == b || SnLt(a, b); }
inline bool SnGe(uint32_t a, uint32_t b) { return a == b || SnGt(a, b); }
inline uint32_t SnMax(uint32_t a, uint32_t b) { return SnGt(a, b) ? a : b; }

// The CmdSN window of one session (RFC 7143 4.2.2.1). Non-immediate commands are accepted
// in [ExpCmdSN, MaxCmdSN]; ExpCmdSN advances as commands are delivered in order. MaxCmdSN is
// ExpCmdSN - 1 + depth - (commands accepted and not yet answered), and never moves back,
// so at most `depth` non-immediate commands are outstanding at once.
class CmdSnWindow {
 public:
  enum class Verdict {
    kDeliver,  // CmdSN == ExpCmdSN (or immediate): process now
    kHold,     // inside the window but ahead of ExpCmdSN: hold until the gap fills
    kDrop,     // outside the window (duplicate or beyond MaxCmdSN): ignore silently
  };

  CmdSnWindow() = default;
  CmdSnWindow(uint32_t exp_cmd_sn, uint32_t depth) { Reset(exp_cmd_sn, depth); }
  // REQUIRES: depth >= 1.
  void Reset(uint32_t exp_cmd_sn, uint32_t depth);

  Verdict Check(uint32_t cmd_sn, bool immediate) const;
  // A non-immediate PDU with CmdSN == ExpCmdSN was taken: ExpCmdSN++.
  void Advance() { exp_++; }
  // A non-immediate task now occupies a slot until Release().
  void Acquire() { active_++; }
  void Release() {
    if (active_ > 0) active_--;
  }

  uint32_t exp_cmd_sn() const { return exp_; }
  // Current MaxCmdSN; monotonic across calls.
  uint32_t MaxCmdSn();
  uint32_t active() const { return active_; }
  uint32_t depth() const { return depth_; }

 private:
  uint32_t exp_ = 1;
  uint32_t max_ = 0;
  uint32_t depth_ = 1;
  uint32_t active_ = 0;
};

// Formats "<name>,i,0x<isid 12 hex>" (SPC-4 TransportID form for iSCSI, RFC 7143 10.1).
std::string InitiatorPortName(const std::string& initiator_name, uint64_t isid);
// Formats "<target>,t,0x<tpgt 4 hex>".
std::string TargetPortName(const std::string& target_name, uint16_t tpgt);
// 12 lowercase hex digits.
std::string IsidHex(uint64_t isid);

// The session-wide negotiated values the data path uses (RFC 7143 13: MaxBurstLength,
// FirstBurstLength, MaxOutstandingR2T, ImmediateData, InitialR2T), made safe to compute
// with: bursts of at least 512 bytes, 1..kMaxR2tPerTask R2Ts per task.
struct TransferParams {
  uint32_t max_burst = 262144;
  uint32_t first_burst = 65536;
  uint32_t max_r2t = 1;
  bool immediate_data = true;
  bool initial_r2t = true;
};
TransferParams MakeTransferParams(const SessionParams& params);

class Session : public scsi::CommandOwner, public std::enable_shared_from_this<Session> {
 public:
  // Commands in the CmdSN window (the session's queue depth) by default
  // (ResourceLimits::max_cmds_per_session sets it).
  static constexpr uint32_t kCmdWindow = TaskSet::kQueueDepth;

  // `loop` is the loop the session and its connections live on (null in tests that never
  // submit a command).
  Session(uint16_t tsih, uint64_t isid, std::shared_ptr<core::Target> target, SessionParams params,
          uint64_t nexus_id, env::EventLoop* loop = nullptr);
  ~Session() override { End(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint16_t tsih() const { return tsih_; }
  uint64_t isid() const { return isid_; }
  bool discovery() const { return params_.discovery; }
  const SessionParams& params() const { return params_; }
  const TransferParams& transfer() const { return transfer_; }
  const std::shared_ptr<core::Target>& target() const { return target_; }  // null: discovery
  scsi::Nexus* mutable_nexus() { return &nexus_; }
  const scsi::Nexus& nexus() const { return nexus_; }
  int tid() const { return target_ ? target_->tid() : -1; }

  CmdSnWindow& window() { return window_; }
  TaskSet& tasks() { return tasks_; }
  TaskManagement& tmf() { return tmf_; }
  // The session's command statistics (recorded on its loop, read by the admin).
  scsi::IoCounters& stats() { return stats_; }
  const scsi::IoCounters& stats() const { return stats_; }

  // ---- Connections (on the session's loop) ----
  void AddConnection(Connection* conn);
  // Returns how many connections are left.
  size_t RemoveConnection(Connection* conn);
  const std::vector<Connection*>& connections() const { return connections_; }
  // Closes every connection of the session (on its loop).
  void CloseConnections(const char* why);
  // Asks the initiator to log out (Async Message) on every connection (on its loop).
  void RequestLogout(uint16_t seconds);
  // The open connection with this CID, or null.
  Connection* FindConnection(uint16_t cid) const;
  uint32_t error_recovery_level() const { return params_.error_recovery_level; }

  // ---- CmdSN order (RFC 7143 3.2.2.1) ----
  // A PDU that is not a SCSI Command carried this CmdSN: if it is the next one (and not
  // immediate) ExpCmdSN moves past it, and the held commands that unblocks are delivered.
  void AdvanceCmdSn(uint32_t cmd_sn, bool immediate);
  // Takes a new task whose ITT is in the task set, with verdict v (kDeliver or kHold) from
  // window().Check: a non-immediate task takes a window slot; a task ahead of ExpCmdSN is
  // held; otherwise it is delivered to its connection (Connection::Deliver), followed by
  // the held tasks its CmdSN unblocks.
  void Admit(Task* t, CmdSnWindow::Verdict v);

  // ---- The way back to the pool ----
  // Gives back t's window slot, if it holds one (at its response, so the response's
  // MaxCmdSN counts the slot as free).
  void ReleaseSlot(Task* t);
  // Returns t to the pool (slot, ITT, buffer) and tells every connection a task is free
  // (Connection::TaskFreed: a connection stalled for lack of a task reads again).
  void ReleaseTask(Task* t);
  // conn is closing or logging out: its tasks that are not in the core go back to the
  // pool; those in the core are marked aborted (no response) and come back through
  // CommandDone, never freed under a backing store.
  void DropTasks(Connection* conn);
  // conn is logging out: its tasks that have not reached the core (held, collecting
  // Data-Out) go back to the pool; those in the core keep going and are answered.
  void DropUnstartedTasks(Connection* conn);
  // Connection recovery (ERL 2, RFC 7143 6.2.2): conn failed or was logged out for
  // recovery. Its tasks lose their connection (orphans) and keep their state: Data-Out
  // outstanding becomes ranges to ask for again, a finished command keeps its response.
  // TASK REASSIGN on another connection takes one (Connection::TakeReassigned); those not
  // taken within DefaultTime2Wait + DefaultTime2Retain end. Returns how many of them are in
  // the core (no longer counted by conn).
  uint32_t OrphanTasks(Connection* conn);
  // conn is the last open connection and is closing: it takes every orphan back (so they
  // end with it, and the session ends only once the core has returned them). Returns how
  // many of them are in the core (now counted by conn).
  uint32_t AdoptOrphans(Connection* conn);
  // ERL 2, the session's last connection failed with tasks to recover: the session stays
  // (in the table, joinable by TSIH) until a connection joins it or the orphans expire.
  void Retain() { retained_ = true; }
  void Unretain() { retained_ = false; }
  bool retained() const { return retained_; }
  // Ends a retained session now (expiry, reinstatement, shutdown): its orphans end (those in
  // the core are aborted; the session ends once they are back), then the session ends and
  // leaves the table. Does nothing for a session that is not retained or has connections.
  void EndRetained();
  // The table the session is listed in (SessionTable::Create sets it).
  void set_table(SessionTable* table) { table_ = table; }
  // scsi::CommandOwner: the session's loop; a finished command goes to the connection the
  // task has allegiance to (Connection::CommandDone).
  env::EventLoop* loop() const override { return loop_; }
  void CommandDone(scsi::Command* cmd) override;

  // ---- Data buffers in flight (ResourceLimits::max_session_data) ----
  // Tasks are granted their buffer (BufferCharge of their EDTL, none for a task failed
  // early) in delivery order while the total stays within the budget; one task alone is
  // always granted. A task that does not fit waits in a FIFO queue and is delivered again
  // (Connection::Deliver) when ReleaseTask returns enough. Waiting never stops the input:
  // a granted write's Data-Out may be behind the waiting command in the stream.
  void set_data_budget(uint64_t bytes) { data_budget_ = bytes; }
  uint64_t data_in_flight() const { return data_in_flight_; }
  // True (and the task charged) if t may have its buffer now; false: t waits.
  bool Grant(Task* t);

  // Ends the I_T nexus: every LU of the target forgets it (NexusGone: unit attentions,
  // SPC-2 reservation), and the target's session count drops, then the WhenEnded
  // callbacks run. Idempotent.
  // REQUIRES: no command of this session is still in the core.
  void End();
  bool ended() const;
  // Runs fn once the session has ended: now (on this thread) if it has, else on the thread
  // that ends it (its loop). fn must be cheap and must not call back into the session.
  void WhenEnded(std::function<void()> fn);

 private:
  void DrainHeld();
  // Ends the orphans of round `generation` that no connection has taken.
  void ExpireOrphans(uint64_t generation);
  static uint32_t Need(const Task* t);
  // Delivers the waiting tasks that now fit, in order.
  void ServeBudgetQueue();

  const uint16_t tsih_;
  const uint64_t isid_;
  const std::shared_ptr<core::Target> target_;
  const SessionParams params_;
  const TransferParams transfer_;
  env::EventLoop* const loop_;
  scsi::Nexus nexus_;
  mutable std::mutex end_mu_;
  bool ended_ = false;                               // GUARDED_BY(end_mu_)
  std::vector<std::function<void()>> end_waiters_;  // GUARDED_BY(end_mu_)
  uint64_t data_in_flight_ = 0;
  uint64_t data_budget_ = UINT64_MAX;
  std::vector<Task*> budget_queue_;  // FIFO; tasks with budget_wait set
  bool serving_budget_ = false;

  CmdSnWindow window_;
  TaskSet tasks_;
  TaskManagement tmf_{this};
  std::vector<Connection*> connections_;
  scsi::IoCounters stats_;
  uint64_t orphan_generation_ = 0;
  bool retained_ = false;     // no connection, orphans waiting for one (ERL 2)
  bool ending_ = false;       // EndRetained: ends once the orphans in the core are back
  SessionTable* table_ = nullptr;
};

// All sessions of a transport, from their creation at login until they have ended (their
// I_T nexus is gone): a session whose connection closed stays in the table, marked
// closing, until Session::End, so a new login of the same initiator can wait for it.
// Thread-safe.
class SessionTable {
 public:
  struct Entry {
    std::shared_ptr<Session> session;
    std::weak_ptr<Connection> connection;  // the session's one connection
    env::EventLoop* loop = nullptr;
    std::string connection_desc;  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
    core::ConnectionInfo connection_info;  // the same, as fields
    bool closing = false;         // the connection is closed; the nexus has not ended yet
    std::vector<std::string> more_connections;  // the connections that joined it (MC/S)
  };

  // Sessions at once (ResourceLimits::max_sessions), closing ones included.
  void set_max_sessions(size_t n);

  // Creates a session for a leading login (TSIH 0): allocates a TSIH, and if a live
  // session with the same initiator name, ISID and target exists, marks it closing and
  // returns it in *reinstated so the caller closes it (RFC 7143 6.3.5 session
  // reinstatement). The new session's connection is `conn` on `loop`. Null when
  // max_sessions are in the table (the reinstated one not counted) or no TSIH is free.
  std::shared_ptr<Session> Create(uint64_t isid, std::shared_ptr<core::Target> target,
                                  const SessionParams& params, std::weak_ptr<Connection> conn,
                                  env::EventLoop* loop, std::string connection_desc,
                                  Entry* reinstated, core::ConnectionInfo connection_info = {});
  // The listing's descriptions of the connections that joined a session (MC/S).
  void AddConnectionDesc(const Session* session, const std::string& desc);
  void RemoveConnectionDesc(const Session* session, const std::string& desc);
  // True if a live (not closing) session has this TSIH.
  bool Exists(uint16_t tsih) const;
  // The live session a connection may join (RFC 7143 6.3.5: a login with a non-zero TSIH):
  // same TSIH, initiator name (case-insensitive), ISID and target, not a discovery session.
  // Null (and *status set) otherwise: kSessionDoesNotExist.
  std::shared_ptr<Session> FindForJoin(uint16_t tsih, uint64_t isid,
                                       const std::string& initiator_name,
                                       const core::Target* target, env::EventLoop** loop) const;
  // The session's connection closed: it is no longer listed, joined or reinstated, but
  // stays until Remove.
  void MarkClosing(const Session* session);
  // Removes `session` (once it has ended, or when its login failed).
  void Remove(const Session* session);
  // Live sessions (the admin's listing; not the closing ones).
  std::vector<SessionInfo> List() const;
  // Entries of target tid (tid < 0: every session), closing ones included.
  std::vector<Entry> ForTarget(int tid) const;
  // The other normal sessions (closing ones included) of this initiator name to this
  // target: the I_T nexuses a new login of that initiator waits to see gone if their
  // connection is (Connection::PrepareSession).
  std::vector<Entry> SameInitiator(const std::string& initiator_name,
                                   const core::Target* target, const Session* except) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<uint16_t, Entry> by_tsih_;  // GUARDED_BY(mu_)
  uint16_t next_tsih_ = 1;             // GUARDED_BY(mu_)
  size_t max_sessions_ = 65535;        // GUARDED_BY(mu_)
};

}  // namespace modtgt::iscsi
