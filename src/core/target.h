// SPDX-License-Identifier: Apache-2.0
// Target and TargetRegistry: targets (IQN, tid, alias), their LUN maps and ACLs.
//
// Threading: thread-safe. The LUN map is read on every command without a global lock: it is
// an immutable snapshot (shared_ptr<const LunMap>) swapped atomically on change, so readers
// only pay an atomic load. ACL and registry changes take per-object mutexes (admin path).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/status.h"
#include "core/module_registry.h"
#include "core/target_params.h"
#include "core/pr_state.h"
#include "scsi/logical_unit.h"
#include "scsi/xcopy.h"

namespace modtgt::core {

using LunMap = std::map<uint64_t, std::shared_ptr<scsi::LogicalUnit>>;

class Target : public scsi::TargetView {
 public:
  Target(int tid, std::string name);
  int tid() const { return tid_; }
  const std::string& name() const { return name_; }

  std::string alias() const;
  void set_alias(std::string alias);
  // ALUA (scsi/alua.h): this gateway's target port group, applied to every LU of the
  // target, now and when added later. SetAlua validates first (InvalidArgument, nothing
  // changed).
  scsi::AluaConfig alua() const;
  Status SetAlua(const scsi::AluaConfig& cfg);

  // scsi::TargetView
  std::shared_ptr<scsi::LogicalUnit> FindLun(uint64_t lun) const override;
  std::vector<uint64_t> ListLuns() const override;
  // The registry the target is in (set by TargetRegistry::Add, cleared by Remove): what
  // EXTENDED COPY resolves copy targets of other targets through.
  const scsi::CopyTargetResolver* copy_target_resolver() const override {
    return copy_targets_.load(std::memory_order_acquire);
  }
  std::shared_ptr<const LunMap> luns() const;

  // Adds lu; existing LUs get REPORTED LUNS DATA HAS CHANGED. Fails if the number is taken.
  Status AddLun(std::shared_ptr<scsi::LogicalUnit> lu);
  // The same, recording the backing-store configuration the LU was created with in the
  // same step (see SetLunDeviceConfig); on failure nothing is recorded.
  Status AddLun(std::shared_ptr<scsi::LogicalUnit> lu, DeviceConfig cfg);
  // Removes and returns the LU; the remaining LUs get REPORTED LUNS DATA HAS CHANGED.
  Result<std::shared_ptr<scsi::LogicalUnit>> RemoveLun(uint64_t lun);
  // Replaces an LU with one of the same number (e.g. after --op update changed its config).
  // Fails with kNotFound when no LU has that number.
  Status ReplaceLun(std::shared_ptr<scsi::LogicalUnit> lu);

  // The backing-store configuration an LU was created with (for show, update and the saved
  // configuration). Set by the admin path next to AddLun/ReplaceLun; erased by RemoveLun.
  void SetLunDeviceConfig(uint64_t lun, DeviceConfig cfg);
  // False (and *cfg untouched) when none was recorded for lun.
  bool GetLunDeviceConfig(uint64_t lun, DeviceConfig* cfg) const;

  // ---- ACL (tgtadm --op bind/unbind) ----
  // addr: "ALL", an IPv4/IPv6 address, or a CIDR prefix "10.0.0.0/8".
  Status BindAddress(const std::string& addr);
  Status UnbindAddress(const std::string& addr);
  Status BindName(const std::string& initiator_name);
  Status UnbindName(const std::string& initiator_name);
  std::vector<std::string> bound_addresses() const;
  std::vector<std::string> bound_names() const;
  // True if an initiator with this address and name may log in: at least one bound address
  // rule matches (or none is bound but a name rule is), and if any name is bound, the name
  // is among them. A target with no ACL at all admits nobody (tgt's default).
  bool AllowsInitiator(const sockaddr* peer, const std::string& initiator_name) const;

  // ---- iSCSI parameters (tgtadm --op update --name KEY --value VALUE) ----
  // The target's side of the login negotiation, for sessions that log in afterwards.
  TargetParams iscsi_params() const;
  void set_iscsi_params(TargetParams params);
  // Validates and sets one key (TargetParams::Set); on error nothing changes.
  Status SetIscsiParam(std::string_view key, std::string_view value);

  // ---- State (tgtadm -n state -v ready|offline) ----
  // An offline target refuses new logins (Service Unavailable); logged-in sessions go on.
  TargetState state() const {
    return offline_.load(std::memory_order_relaxed) ? TargetState::kOffline : TargetState::kReady;
  }
  void set_state(TargetState s) {
    offline_.store(s == TargetState::kOffline, std::memory_order_relaxed);
  }

  // Live sessions count, maintained by the transport (for show and delete refusal).
  std::atomic<int> sessions{0};

  // ---- Persistent reservations with APTPL (core/pr_state.h) ----
  // Where this target's LUs save them: set by TargetRegistry::Add from the registry (null:
  // nowhere, APTPL refused). Every LU added or swapped in is attached to it (restoring its
  // saved state) before it serves commands.
  std::shared_ptr<PrStateDir> pr_state() const { return pr_state_.load(); }
  // lu was deleted by the administrator (not merely taken out for a rollback or at
  // shutdown): its saved state is removed. No-op without a store.
  void ForgetPrState(scsi::LogicalUnit* lu);

 private:
  const int tid_;
  const std::string name_;
  mutable std::mutex mu_;
  std::string alias_;                       // GUARDED_BY(mu_)
  scsi::AluaConfig alua_;                   // GUARDED_BY(mu_)
  std::vector<std::string> acl_addresses_;  // GUARDED_BY(mu_)
  std::vector<std::string> acl_names_;      // GUARDED_BY(mu_)
  std::map<uint64_t, DeviceConfig> lun_devices_;  // GUARDED_BY(mu_)
  TargetParams iscsi_params_;               // GUARDED_BY(mu_)
  std::atomic<bool> offline_{false};
  std::atomic<std::shared_ptr<const LunMap>> luns_;
  std::atomic<const scsi::CopyTargetResolver*> copy_targets_{nullptr};
  std::atomic<std::shared_ptr<PrStateDir>> pr_state_;
  // Attaches every LU of the target to store (TargetRegistry::Add).
  void SetPrState(std::shared_ptr<PrStateDir> store);
  friend class TargetRegistry;
  // AddLun; cfg (may be null) is recorded in the same critical section.
  Status InsertLun(std::shared_ptr<scsi::LogicalUnit> lu, DeviceConfig* cfg);
};

class AccountRegistry;

class TargetRegistry : public scsi::CopyTargetResolver {
 public:
  // Fails with kAlreadyExists on a duplicate tid or name (names compare case-insensitively),
  // kInvalidArgument on a bad name or a tid < 1.
  Status Add(std::shared_ptr<Target> target);
  // Fails with kBusy while sessions exist unless force, kNotFound for an unknown tid.
  Status Remove(int tid, bool force);
  std::shared_ptr<Target> FindByTid(int tid) const;
  std::shared_ptr<Target> FindByName(const std::string& name) const;
  std::vector<std::shared_ptr<Target>> List() const;  // by tid

  // The system state (tgtadm --mode sys --op update --name State --value ready|offline):
  // while offline every login is refused (Service Unavailable), discovery included;
  // logged-in sessions go on.
  TargetState system_state() const {
    return system_offline_.load(std::memory_order_relaxed) ? TargetState::kOffline
                                                           : TargetState::kReady;
  }
  void set_system_state(TargetState s) {
    system_offline_.store(s == TargetState::kOffline, std::memory_order_relaxed);
  }
  // The administrator's debug switch (tgtadm --mode sys --op update --name debug --value
  // on|off): on, the daemon logs at debug level; off, at the level it started with. Kept
  // with the system state so the saved configuration has one place for both.
  bool debug() const { return debug_.load(std::memory_order_relaxed); }
  void set_debug(bool on);
  // scsi::CopyTargetResolver (copy_targets.cc): an LU of the nexus's own target, or of a
  // registered target whose ACL admits the nexus's initiator name and address and that
  // asks for no CHAP authentication (a session of another target cannot prove it knows
  // that target's secret).
  std::shared_ptr<scsi::LogicalUnit> ResolveCopyTarget(const scsi::Nexus& nexus,
                                                       const uint8_t* naa,
                                                       size_t len) const override;
  // The CHAP accounts the resolver consults (the daemon sets them once, before any
  // session; null: no target asks for authentication). Must outlive the registry's use.
  void set_accounts(const AccountRegistry* accounts) {
    accounts_.store(accounts, std::memory_order_release);
  }
  // Where the LUs of targets added from now on save persistent reservations with APTPL
  // (the daemon sets it once, before the saved configuration is replayed; null: nowhere).
  void set_pr_state(std::shared_ptr<PrStateDir> store) {
    std::lock_guard<std::mutex> lock(mu_);
    pr_state_ = std::move(store);
  }

 private:
  std::atomic<bool> system_offline_{false};
  std::atomic<bool> debug_{false};
  LogLevel base_log_level_ = GetLogLevel();  // the level before the switch was turned on
  mutable std::mutex mu_;
  std::map<int, std::shared_ptr<Target>> targets_;  // GUARDED_BY(mu_)
  std::atomic<const AccountRegistry*> accounts_{nullptr};
  std::shared_ptr<PrStateDir> pr_state_;  // GUARDED_BY(mu_)
};

// Checks an iSCSI name (RFC 3720 3.2.6: "iqn." / "eui." / "naa." forms, lowercase).
Status ValidateIscsiName(const std::string& name);

// ACL address rules. Parses "ALL", an IPv4/IPv6 address (IPv6 optionally in brackets) or a
// CIDR prefix "ADDR/LEN" into its canonical text (inet_ntop form, host bits cleared,
// IPv4-mapped IPv6 turned into IPv4). kInvalidArgument on anything else.
Result<std::string> CanonicalAclAddress(const std::string& addr);
// True if the canonical rule (from CanonicalAclAddress) matches peer (AF_INET or AF_INET6;
// an IPv4-mapped IPv6 peer is matched as IPv4). Anything else never matches.
bool AclAddressMatches(const std::string& rule, const sockaddr* peer);

}  // namespace modtgt::core
