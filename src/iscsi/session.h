// SPDX-License-Identifier: Apache-2.0
// iSCSI sessions (RFC 7143 4.1, 4.2.2, 6.3.5): the command sequence window (CmdSN, ExpCmdSN,
// MaxCmdSN with serial number arithmetic, RFC 1982), the Session (its I_T nexus, negotiated
// parameters, the connection that carries it) and the SessionTable (TSIH allocation,
// reinstatement, listing).
//
// Threading:
// - CmdSnWindow: not thread-safe; owned by the session's connection loop.
// - Session: immutable after creation except `window` (touched only on the loop of the
//   session's one connection: MaxConnections=1) and the connection handle, which is guarded
//   by the SessionTable's mutex.
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
#include "iscsi/params.h"
#include "iscsi/transport.h"
#include "scsi/command.h"

namespace modtgt::iscsi {

class Connection;

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

class Session {
 public:
  Session(uint16_t tsih, uint64_t isid, std::shared_ptr<core::Target> target,
          SessionParams params, uint64_t nexus_id);
  ~Session() { End(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  uint16_t tsih() const { return tsih_; }
  uint64_t isid() const { return isid_; }
  bool discovery() const { return params_.discovery; }
  const SessionParams& params() const { return params_; }
  const std::shared_ptr<core::Target>& target() const { return target_; }  // null: discovery
  scsi::Nexus* mutable_nexus() { return &nexus_; }
  const scsi::Nexus& nexus() const { return nexus_; }
  int tid() const { return target_ ? target_->tid() : -1; }

  // Loop-owned by the session's connection.
  CmdSnWindow window;

  // Ends the I_T nexus: every LU of the target forgets it (NexusGone: unit attentions,
  // SPC-2 reservation), and the target's session count drops. Idempotent.
  // REQUIRES: no command of this session is still in the core.
  void End();

 private:
  const uint16_t tsih_;
  const uint64_t isid_;
  const std::shared_ptr<core::Target> target_;
  const SessionParams params_;
  scsi::Nexus nexus_;
  bool ended_ = false;
};

// All live sessions of a transport. Thread-safe.
class SessionTable {
 public:
  struct Entry {
    std::shared_ptr<Session> session;
    std::weak_ptr<Connection> connection;  // the session's one connection
    env::EventLoop* loop = nullptr;
    std::string connection_desc;  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
  };

  // Creates a session for a leading login (TSIH 0): allocates a TSIH, and if a session with
  // the same initiator name, ISID and target exists, removes it from the table and returns
  // its connection in *reinstated so the caller closes it (RFC 7143 6.3.5 session
  // reinstatement). The new session's connection is `conn` on `loop`.
  std::shared_ptr<Session> Create(uint64_t isid, std::shared_ptr<core::Target> target,
                                  const SessionParams& params, std::weak_ptr<Connection> conn,
                                  env::EventLoop* loop, std::string connection_desc,
                                  Entry* reinstated);
  // True if a live session has this TSIH.
  bool Exists(uint16_t tsih) const;
  // Removes `session` (if still present: a reinstated one is already gone).
  void Remove(const Session* session);
  std::vector<SessionInfo> List() const;
  // Entries of target tid (tid < 0: every session).
  std::vector<Entry> ForTarget(int tid) const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<uint16_t, Entry> by_tsih_;  // GUARDED_BY(mu_)
  uint16_t next_tsih_ = 1;            // GUARDED_BY(mu_)
  uint64_t next_nexus_id_ = 1;        // GUARDED_BY(mu_)
};

}  // namespace modtgt::iscsi
