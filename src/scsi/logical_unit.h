// SPDX-License-Identifier: Apache-2.0
// LogicalUnit: one SCSI logical unit: its number, device type, backend (opened backing
// store), identity, and the state SPC keeps per LU: unit attentions per I_T nexus, SPC-2
// reservations, persistent reservations, mode page settings and medium state.
//
// Threading: the identity and config are immutable after creation. Mutable state lives
// behind mutex_ (a per-LU lock: there is no global lock on the I/O path); fields read on
// every command without the lock are atomics. Commands for one LU arrive from any loop.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "scsi/alua.h"
#include "scsi/backend.h"
#include "scsi/command.h"
#include "scsi/device_type.h"
#include "scsi/io_stats.h"
#include "scsi/sense.h"

namespace modtgt::scsi {

class CopyTargetResolver;

// Implemented by core::Target: the LUN map as SCSI sees it.
class TargetView {
 public:
  virtual ~TargetView() = default;
  virtual std::shared_ptr<LogicalUnit> FindLun(uint64_t lun) const = 0;
  // Sorted ascending.
  virtual std::vector<uint64_t> ListLuns() const = 0;
  // Where EXTENDED COPY looks up copy targets beyond this target (scsi/xcopy.h); nullptr:
  // only this target's own LUs. The resolver outlives every command.
  virtual const CopyTargetResolver* copy_target_resolver() const { return nullptr; }
};

// Fixed at creation by the admin (tgtadm --params / targetcli options).
struct LuConfig {
  uint64_t lun = 0;
  uint32_t block_size = 512;
  bool readonly = false;
  bool removable = false;
  bool thin_provisioning = false;  // advertise LBPME, UNMAP, WRITE SAME (UNMAP), GET LBA STATUS
  bool write_cache = true;         // initial WCE
  uint32_t max_transfer_blocks = 0;  // VPD 0xB0 MAXIMUM TRANSFER LENGTH; 0 = default
  std::string vendor = "MODTGT";     // 8 chars max
  std::string product = "VIRTUAL-DISK";  // 16 chars max
  std::string revision = "0001";     // 4 chars max
  std::string serial;                // VPD 0x80; derived from target+lun if empty
  uint64_t naa = 0;                  // VPD 0x83 NAA-6 high 64 bits; derived if 0
  std::string device_id;             // T10 vendor-specific part of the T10 designator
};

// One persistent-reservation registration (SPC-4 5.13).
struct PrRegistration {
  uint64_t key = 0;
  std::string initiator_port;  // Nexus::initiator_port
  std::string target_port;     // Nexus::target_port
  uint16_t relative_port_id = 0;
  bool all_tg_pt = false;
  bool operator==(const PrRegistration&) const = default;
};

// The persistent-reservation state of one LU (SPC-4 5.13): what PERSISTENT RESERVE OUT
// changes, PERSISTENT RESERVE IN reports, a rebuild of the LU carries over
// (LogicalUnit::CarryStateFrom) and APTPL keeps across a restart. One struct, so a copy
// or a save cannot leave a field behind.
struct PersistentReservations {
  std::vector<PrRegistration> registrations;
  uint32_t generation = 0;
  bool reserved = false;
  uint8_t type = 0;                 // SPC-4 table: 1 WE, 3 EA, 5 WE-RO, 6 EA-RO, 7 WE-AR, 8 EA-AR
  std::string holder_initiator_port;  // for non all-registrants types
  std::string holder_target_port;
  // The last APTPL a REGISTER (or REGISTER AND IGNORE EXISTING KEY) carried (SPC-4
  // 5.13.5): while set, every change is saved through the LU's PrPersistence.
  bool aptpl = false;
  bool operator==(const PersistentReservations&) const = default;
};

// Where an LU's persistent reservations go while APTPL is set (SPC-4 5.13.5, 6.15.3):
// implemented by the core over a file in the daemon's state folder (core/pr_state.h). An LU
// without one cannot honour APTPL: REPORT CAPABILITIES says PTPL_C 0 and a REGISTER with
// APTPL 1 is refused (INVALID FIELD IN PARAMETER LIST).
//
// Threading: Save is called with the LU's mutex held, on the loop of the PERSISTENT
// RESERVE OUT that made the change, for any LU; implementations are thread-safe.
class PrPersistence {
 public:
  virtual ~PrPersistence() = default;
  // Makes `pr` what a restart of `lu` finds: written durably when pr.aptpl, removed when
  // not. On error nothing a restart would find has changed, and the Status says why.
  virtual ::modtgt::Status Save(const LogicalUnit& lu, const PersistentReservations& pr) = 0;
};

// An EXTENDED COPY (LID1) of one I_T nexus, by LIST IDENTIFIER (SPC-4 6.4.3): in progress
// (its list identifier is taken), or ended and held for RECEIVE COPY RESULTS.
struct CopyListState {
  bool hold = false;       // LIST ID USAGE 00b: RECEIVE COPY RESULTS may ask for it
  bool active = true;      // still copying
  bool failed = false;     // ended with an error (or aborted)
  uint16_t segments_processed = 0;
  uint64_t bytes_copied = 0;
  uint64_t sequence = 0;   // age, to drop the oldest held status first
};

// Per I_T nexus state of this LU.
struct NexusLuState {
  std::deque<Asc> unit_attentions;  // oldest first; reported one per command
  // Deferred sense for REQUEST SENSE (SPC-4 "current sense data"), 0 length = none.
  uint8_t sense_len = 0;
  uint8_t sense[kMaxSenseLength] = {};
  bool prevent_removal = false;  // PREVENT ALLOW MEDIUM REMOVAL by this nexus
  // The nexus's ports (copied from Nexus), so PR code can find the nexuses of a
  // registration (SPC-4 5.13: registrations are keyed by I_T nexus ports).
  std::string initiator_port;
  std::string target_port;
  // EXTENDED COPY lists of this nexus with this LU as their copy manager (xcopy.cc).
  std::map<uint8_t, CopyListState> copy_lists;
};

class LogicalUnit {
 public:
  LogicalUnit(LuConfig config, const DeviceType* type, std::unique_ptr<Backend> backend,
              std::string target_name);
  ~LogicalUnit();

  uint64_t lun() const { return config_.lun; }
  const LuConfig& config() const { return config_; }
  const DeviceType* type() const { return type_; }
  Backend* backend() const { return backend_.get(); }
  const std::string& target_name() const { return target_name_; }
  uint32_t block_size() const { return config_.block_size; }
  uint64_t num_blocks() const { return backend_->size_bytes() / config_.block_size; }
  bool readonly() const { return config_.readonly; }

  // ---- Live reconfiguration (admin thread). ----
  // Resizes the backing store (module reconfig, I/O held meanwhile). Every nexus then gets
  // CAPACITY DATA HAS CHANGED (SBC-4 4.10; raised by the backend's size-changed callback,
  // which also fires when a module changes its size on its own). InvalidArgument for a
  // size that is not a whole number of blocks or is 0; the module's error otherwise.
  ::modtgt::Status Resize(uint64_t bytes);
  // Reconfigures the backend (size and/or config string; Backend::Reconfigure). With
  // announce_capacity = false, a size change it brings raises no CAPACITY DATA HAS CHANGED:
  // the caller reports the change another way (MMC's medium change, 28/00).
  ::modtgt::Status Reconfigure(const BackendReconfig& rc, bool announce_capacity = true);

  // Takes over the state an LU keeps across a rebuild on a new device with the same
  // identity (an admin parameter change): persistent reservations (SPC-4 5.13: they
  // survive configuration changes), the mode page settings D_SENSE and SWP, the sanitize
  // failure mode (SBC-4 4.11.5), and an offline state the administrator set. Every
  // such field is copied here, so a rebuild cannot forget one. Thread-safe (takes both
  // LU mutexes). REQUIRES: this LU is not yet serving commands.
  void CarryStateFrom(LogicalUnit& old);

  // ---- ALUA (scsi/alua.h): this gateway's target port group state for the LU. ----
  AluaAgent& alua() const { return *alua_; }

  // ---- Offline: NOT READY, MANUAL INTERVENTION REQUIRED. Thread-safe. ----
  // An offline LU answers every command that needs its medium (the kOpNeedsMedium ones:
  // reads, writes, TEST UNIT READY, READ CAPACITY, ...) with NOT READY, LOGICAL UNIT NOT
  // READY, MANUAL INTERVENTION REQUIRED (02/04/03); INQUIRY, REPORT LUNS, REQUEST SENSE and
  // the mode pages still answer. Two causes: its backing store could not be opened (the
  // core builds the LU on a placeholder backend, with the reason), or the administrator
  // took it offline (tgtadm's online=0; `admin` true).
  void SetOffline(bool admin, std::string reason);
  // Back online (the admin's online=1 on an LU whose store is open).
  void SetOnline();
  bool offline() const { return offline_.load(std::memory_order_relaxed); }
  bool admin_offline() const;
  std::string offline_reason() const;

  // ---- Unit attentions (SAM-5 5.14). Thread-safe. ----
  // Queues code for every nexus known to this LU except `except` (0 = none).
  void AddUnitAttentionAll(Asc code, uint64_t except_nexus = 0);
  void AddUnitAttention(uint64_t nexus_id, Asc code);
  // If nexus has a pending unit attention, removes the oldest and returns true with it.
  // A nexus seen for the first time gets POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
  bool TakeUnitAttention(const Nexus& nexus, Asc* code);
  bool HasUnitAttention(const Nexus& nexus);
  // Forgets a nexus (session ended): drops its UAs, prevent state and SPC-2 reservation.
  void NexusGone(const Nexus& nexus);
  // REQUIRES: mutex() held. Like AddUnitAttention / AddUnitAttentionAll.
  void AddUnitAttentionLocked(uint64_t nexus_id, Asc code);
  void AddUnitAttentionAllLocked(Asc code, uint64_t except_nexus = 0);
  // REQUIRES: mutex() held. Queues code for every known nexus whose ports match.
  void AddUnitAttentionPortsLocked(const std::string& initiator_port,
                                   const std::string& target_port, Asc code);

  // ---- Mutable state, guarded by mutex() ----
  std::mutex& mutex() { return mutex_; }
  // REQUIRES: mutex() held. Creates the entry (with the power-on UA) on first use.
  NexusLuState& NexusStateLocked(const Nexus& nexus);
  std::map<uint64_t, NexusLuState>& nexus_states_locked() { return nexus_states_; }

  // SPC-2 RESERVE/RELEASE: the holder's nexus id, 0 = none. GUARDED_BY(mutex_)
  uint64_t spc2_reservation_holder = 0;
  // Persistent reservations (SPC-4 5.13). GUARDED_BY(mutex_)
  PersistentReservations pr;
  // Where pr goes while APTPL is set; null: APTPL cannot be honoured. Set by the core
  // before the LU serves commands, cleared when the LU is deleted (so a command still in
  // flight on it cannot write the file again). GUARDED_BY(mutex_)
  std::shared_ptr<PrPersistence> pr_persistence;
  // True while an SPC-2 or persistent reservation exists: lets dispatch skip the conflict
  // check (and the lock) on unreserved LUs. Written under mutex_, read without it.
  std::atomic<bool> reservation_active{false};
  // REQUIRES: mutex() held. Recomputes reservation_active.
  void UpdateReservationActiveLocked() {
    reservation_active.store(spc2_reservation_holder != 0 || pr.reserved,
                             std::memory_order_release);
  }

  // Mode page state (changeable by MODE SELECT). Atomics: read on the I/O path.
  std::atomic<bool> wce{true};       // caching page WCE
  std::atomic<bool> d_sense{false};  // control page D_SENSE: descriptor-format sense
  std::atomic<bool> swp{false};      // control page SWP: software write protect
  std::atomic<bool> medium_present{true};  // removable medium loaded
  std::atomic<int> prevent_count{0};       // nexuses with PREVENT in force
  std::atomic<bool> stopped{false};        // START STOP UNIT START=0 (power condition)

  // SANITIZE (SBC-4 4.11; sbc_sanitize.cc). While `sanitizing`, commands other than
  // INQUIRY, REPORT LUNS, REQUEST SENSE and REPORT SUPPORTED OPERATION CODES answer NOT
  // READY / SANITIZE IN PROGRESS with `sanitize_progress` (1/65536ths). After a failed
  // sanitize operation, `sanitize_failed`: medium access answers MEDIUM ERROR / SANITIZE
  // COMMAND FAILED until a SANITIZE succeeds or, if the failed one had AUSE set
  // (`sanitize_failed_ause`), EXIT FAILURE MODE ends it. Set by the operation (any loop),
  // read lock-free by dispatch.
  std::atomic<bool> sanitizing{false};
  std::atomic<uint16_t> sanitize_progress{0};
  std::atomic<bool> sanitize_failed{false};
  std::atomic<bool> sanitize_failed_ause{false};

  // Per-device-type state (e.g. MMC's tray, disc and pending media events), created by the
  // device type's code on first use and freed with the LU. GUARDED_BY(type_state_mutex()).
  std::mutex& type_state_mutex() const { return type_state_mu_; }
  std::shared_ptr<void>& type_state_locked() const { return type_state_; }

  // In-flight commands, for LUN RESET / drain. Updated by dispatch.
  std::atomic<uint32_t> inflight{0};

  // Command statistics, recorded by the transport when a command finishes (io_stats.h).
  IoCounters stats;

  // Task set ordering (SAM-5 8.6; one task set per LU, TST=000). An ORDERED command is
  // enabled only when every older command has completed, and younger SIMPLE commands wait
  // behind it; HEAD OF QUEUE commands are enabled at once. order_active counts ORDERED
  // commands queued or running: while it is 0 (always, for initiators that only send
  // SIMPLE), commands never take the LU mutex for ordering.
  std::atomic<uint32_t> order_active{0};
  std::deque<Command*> order_blocked;  // GUARDED_BY(mutex_): not yet enabled, oldest first
  bool ordered_running = false;        // GUARDED_BY(mutex_)

 private:
  const LuConfig config_;
  const DeviceType* const type_;
  std::unique_ptr<Backend> backend_;
  const std::string target_name_;
  const std::shared_ptr<AluaAgent> alua_;  // shared with the ALUA thread
  std::mutex mutex_;
  // Cleared by Reconfigure(rc, false) for its duration: the size-changed callback then
  // raises no CAPACITY DATA HAS CHANGED.
  std::atomic<bool> announce_capacity_{true};
  std::atomic<bool> offline_{false};
  mutable std::mutex offline_mu_;
  bool admin_offline_ = false;   // GUARDED_BY(offline_mu_)
  std::string offline_reason_;   // GUARDED_BY(offline_mu_)
  mutable std::mutex type_state_mu_;
  mutable std::shared_ptr<void> type_state_;
  std::map<uint64_t, NexusLuState> nexus_states_;  // GUARDED_BY(mutex_), keyed by Nexus::id
  std::atomic<uint32_t> ua_total_{0};  // fast path: no UA queued anywhere
  // Lock-free "this nexus already has a state entry" hint, hashed by nexus id (0 = empty).
  // A miss only sends the command down the locked slow path.
  static constexpr size_t kKnownSlots = 64;
  std::array<std::atomic<uint64_t>, kKnownSlots> known_nexus_{};
  bool KnownFast(uint64_t id) const;
  // REQUIRES: mutex_ held.
  void PushUaLocked(NexusLuState& st, Asc code);
};

}  // namespace modtgt::scsi
