// SPDX-License-Identifier: Apache-2.0
// ALUA: asymmetric logical unit access (SPC-4 5.15, SPC-5 5.16) across gateways. Each
// daemon that exports an LU is one target port group (AluaConfig::group) holding one target
// port whose relative target port identifier is the group id; the other gateways' groups
// are named in AluaConfig::peers. For an LU whose backend has a cluster lock group
// (Backend::has_lock_group, e.g. bs_rbd's RBD exclusive lock) the lock decides the states:
// the group whose gateway holds the lock is active/optimized, every other group is
// `nonholder` (standby or active/non-optimized). A transition to active/optimized (SET
// TARGET PORT GROUPS, or I/O on a non-optimized/standby path with implicit ALUA) takes the
// lock through the backend; a lost lock (the backend's LOCK_LOST event, or an I/O answered
// MODTGT_STS_NOT_LOCK_OWNER) moves this group to `nonholder` at once. An LU without a lock
// group keeps the state SET TARGET PORT GROUPS gives it (active/optimized at start).
//
// Every state change raises ASYMMETRIC ACCESS STATE CHANGED (2A/06) on the LU's I_T
// nexuses (except the one whose SET TARGET PORT GROUPS asked for it).
//
// Threading: AluaAgent is thread-safe. State reads are lock-free (dispatch reads them on
// every command of an ALUA LU). Lock-group calls may block on the cluster: they run on one
// process-wide ALUA thread, which also refreshes each lock-group LU's view once a second
// (who holds the lock). A LogicalUnit owns its agent; the ALUA thread holds the agent
// (shared_ptr) and reaches the LU only while the LU is alive (Detach, from the LU's
// destructor, waits for a running job).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "scsi/command.h"

namespace modtgt::scsi {

class LogicalUnit;
struct OpInfo;

// SPC-4 6.27 asymmetric access states (the 4-bit codes of REPORT TARGET PORT GROUPS).
enum class AluaState : uint8_t {
  kActiveOptimized = 0x0,
  kActiveNonOptimized = 0x1,
  kStandby = 0x2,
  kUnavailable = 0x3,
  kTransitioning = 0xf,
};

// "active/optimized", "active/non-optimized", "standby", "unavailable", "transitioning".
const char* AluaStateName(AluaState s);
// Accepts those names and the short forms "ao", "ano", "standby", "unavailable".
bool ParseAluaState(const std::string& text, AluaState* out);

// A target's ALUA configuration (per target, saved with the configuration).
struct AluaConfig {
  uint16_t group = 0;            // this gateway's target port group id; 0 = ALUA off
  std::vector<uint16_t> peers;   // the other gateways' group ids (sorted, no duplicates)
  bool implicit = true;          // INQUIRY TPGS bit 0: the target changes states itself
  bool explicit_ = true;         // TPGS bit 1: SET TARGET PORT GROUPS
  AluaState nonholder = AluaState::kStandby;  // kStandby or kActiveNonOptimized

  bool enabled() const { return group != 0; }
  bool operator==(const AluaConfig&) const = default;
};

// Checks a configuration: group 1..65535 (or 0 = off, which ignores the rest), peers
// distinct from group, at least one of implicit/explicit, nonholder standby or
// active/non-optimized, and active/non-optimized only with implicit ALUA (a gateway
// without the lock writes nothing: I/O on a non-optimized path must take the lock).
::modtgt::Status ValidateAluaConfig(const AluaConfig& cfg);
// "group=G peers=P1,P2 mode=implicit|explicit|both nonholder=standby|nonoptimized" (or
// "off"): for show and logs.
std::string DescribeAluaConfig(const AluaConfig& cfg);
// One setting in text form, as the admin (`--params alua_group=2,...`) and the saved
// configuration give it: key "group" (1..65535, 0 = off), "peers" ("1:3", ids separated by
// ':' or ',' ; "" = none), "mode" (implicit, explicit, both), "nonholder" (standby,
// nonoptimized). InvalidArgument naming the key for anything else (cfg unchanged).
::modtgt::Status SetAluaParam(const std::string& key, const std::string& value, AluaConfig* cfg);
// The text of one key, the inverse of SetAluaParam.
std::string AluaParamText(const AluaConfig& cfg, const std::string& key);

// One LU's ALUA state on this gateway.
class AluaAgent : public std::enable_shared_from_this<AluaAgent> {
 public:
  explicit AluaAgent(LogicalUnit* lu) : lu_(lu) {}

  // Sets the configuration (any thread). Turning ALUA on starts from active/optimized for
  // an LU without a lock group, else from the lock's state (refreshed on the ALUA thread).
  void Configure(const AluaConfig& cfg);
  AluaConfig config() const;
  bool enabled() const { return group_.load(std::memory_order_relaxed) != 0; }
  uint16_t group() const { return group_.load(std::memory_order_relaxed); }
  AluaState state() const { return static_cast<AluaState>(state_.load(std::memory_order_acquire)); }
  // INQUIRY byte 5 TPGS field (0 when ALUA is off).
  uint8_t tpgs() const;
  // The state this gateway reports for another group.
  AluaState PeerState(uint16_t peer) const;
  // The group whose gateway holds the cluster lock as last seen (0 = none or unknown).
  uint16_t holder() const { return holder_.load(std::memory_order_relaxed); }
  // SPC-4 6.27 STATUS CODE of the local group: 0, 1 (altered by SET TARGET PORT GROUPS),
  // 2 (altered by an implicit transition).
  uint8_t status_code() const { return status_code_.load(std::memory_order_relaxed); }

  // Sets the local state; a change raises 2A/06 on every nexus except `except_nexus`.
  void SetState(AluaState s, uint64_t except_nexus = 0, uint8_t status_code = 0);
  // The backend reported (event or I/O status) that this gateway no longer holds the lock.
  void OnLockLost();
  // Starts a transition of the local group to `want` on the ALUA thread. With cmd (SET
  // TARGET PORT GROUPS), cmd completes when it is done (GOOD, or HARDWARE ERROR / SET
  // TARGET PORT GROUPS COMMAND FAILED). Without cmd (implicit), nothing completes and a
  // transition already running makes this a no-op.
  void RequestTransition(AluaState want, Command* cmd);
  // True while a transition runs.
  bool transitioning() const { return busy_.load(std::memory_order_acquire); }

  // Called by the LU's destructor: the ALUA thread stops touching the LU (waits for a job
  // that is running).
  void Detach();

  // ALUA thread only: one refresh of the lock view; one transition (the lock-group calls).
  void Refresh();
  void RunTransition(AluaState want, Command* cmd);

 private:

  mutable std::mutex cfg_mu_;
  AluaConfig cfg_;                       // GUARDED_BY(cfg_mu_)
  std::atomic<uint16_t> group_{0};
  std::atomic<uint8_t> state_{static_cast<uint8_t>(AluaState::kActiveOptimized)};
  // The last state other than transitioning (a change of it is announced with 2A/06).
  std::atomic<uint8_t> settled_{static_cast<uint8_t>(AluaState::kActiveOptimized)};
  std::atomic<uint8_t> nonholder_{static_cast<uint8_t>(AluaState::kStandby)};
  std::atomic<uint16_t> holder_{0};
  std::atomic<uint8_t> status_code_{0};
  std::atomic<bool> busy_{false};
  std::atomic<bool> registered_{false};
  std::mutex lu_mu_;                     // held while a job uses lu_
  std::atomic<LogicalUnit*> lu_;         // written under lu_mu_; null after Detach
};

// ---- What dispatch and the SPC handlers use. ----

// SPC-4 5.15.2.4: true (cmd completed with CHECK CONDITION, NOT READY and 04/0A
// transitioning, 04/0B standby or 04/0C unavailable) when the local group's state does not
// allow op. With implicit ALUA, a data command on a standby or non-optimized path of a
// lock-group LU starts a transition and is answered 04/0A (the initiator retries).
bool AluaRefuses(Command* cmd, const OpInfo& op);
// REPORT TARGET PORT GROUPS (SPC-4 6.27) and SET TARGET PORT GROUPS (SPC-4 6.40).
void ReportTargetPortGroups(Command* cmd);
void SetTargetPortGroups(Command* cmd);
// The relative target port identifier the LU reports on cmd's nexus (VPD 0x83): the group
// id with ALUA on, else the transport's.
uint16_t RelativeTargetPort(const Command& cmd);

// Stops the ALUA thread (daemon shutdown; jobs still queued are dropped, a command they
// carry completes with BUSY). Safe to call when it never started.
void StopAluaThread();

}  // namespace modtgt::scsi
