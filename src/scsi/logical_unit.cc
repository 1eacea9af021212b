// SPDX-License-Identifier: Apache-2.0
// LogicalUnit state: unit attentions per I_T nexus (SAM-5 5.14) and nexus loss.
#include "scsi/logical_unit.h"

#include "modtgt/module.h"

namespace modtgt::scsi {
namespace {
// Bound on queued unit attentions per nexus; older conditions are kept (SAM-5 5.14 allows
// a logical unit to report fewer conditions than occurred).
constexpr size_t kMaxUaPerNexus = 16;
}  // namespace

LogicalUnit::LogicalUnit(LuConfig config, const DeviceType* type,
                         std::unique_ptr<Backend> backend, std::string target_name)
    : config_(std::move(config)),
      type_(type),
      backend_(std::move(backend)),
      target_name_(std::move(target_name)),
      alua_(std::make_shared<AluaAgent>(this)) {
  wce.store(config_.write_cache);
  for (auto& slot : known_nexus_) slot.store(0, std::memory_order_relaxed);
  if (backend_) {
    // SBC-4 4.10 / SPC-4 5.14: a capacity change is reported to every I_T nexus.
    backend_->SetSizeChangedCallback([this] {
      if (announce_capacity_.load()) AddUnitAttentionAll(asc::kCapacityDataHasChanged);
    });
    // A lost cluster lock moves this gateway's ALUA group out of active/optimized at once.
    backend_->SetEventCallback([this](int event) {
      if (event == MODTGT_EVENT_LOCK_LOST) alua_->OnLockLost();
    });
  }
}

LogicalUnit::~LogicalUnit() {
  alua_->Detach();
  if (backend_) {
    backend_->SetSizeChangedCallback(nullptr);
    backend_->SetEventCallback(nullptr);
  }
}

::modtgt::Status LogicalUnit::Resize(uint64_t bytes) {
  if (bytes == 0 || bytes % config_.block_size != 0) {
    return ::modtgt::Status::InvalidArgument("size " + std::to_string(bytes) +
                                   " is not a positive multiple of the block size " +
                                   std::to_string(config_.block_size));
  }
  BackendReconfig rc;
  rc.size = bytes;
  return Reconfigure(rc);
}

::modtgt::Status LogicalUnit::Reconfigure(const BackendReconfig& rc, bool announce_capacity) {
  if (!backend_) return ::modtgt::Status::InvalidArgument("this logical unit has no backing store");
  announce_capacity_.store(announce_capacity);
  ::modtgt::Status s = backend_->Reconfigure(rc);
  announce_capacity_.store(true);
  return s;
}

void LogicalUnit::CarryStateFrom(LogicalUnit& old) {
  {
    std::scoped_lock lock(old.mutex_, mutex_);
    pr = old.pr;
    // Same identity, same saved state: the new LU saves where the old one did.
    pr_persistence = old.pr_persistence;
    // The fast-path flag follows the reservation, or dispatch would skip the conflict check.
    UpdateReservationActiveLocked();
  }
  d_sense.store(old.d_sense.load());
  swp.store(old.swp.load());
  // A failed sanitize leaves the medium in failure mode whatever the configuration (a
  // running sanitize operation stays with the old LU and its backend until it ends).
  sanitize_failed.store(old.sanitize_failed.load());
  sanitize_failed_ause.store(old.sanitize_failed_ause.load());
  if (old.admin_offline()) SetOffline(true, old.offline_reason());
}

void LogicalUnit::SetOffline(bool admin, std::string reason) {
  std::lock_guard<std::mutex> l(offline_mu_);
  admin_offline_ = admin;
  offline_reason_ = std::move(reason);
  offline_.store(true, std::memory_order_relaxed);
}

void LogicalUnit::SetOnline() {
  std::lock_guard<std::mutex> l(offline_mu_);
  admin_offline_ = false;
  offline_reason_.clear();
  offline_.store(false, std::memory_order_relaxed);
}

bool LogicalUnit::admin_offline() const {
  std::lock_guard<std::mutex> l(offline_mu_);
  return admin_offline_;
}

std::string LogicalUnit::offline_reason() const {
  std::lock_guard<std::mutex> l(offline_mu_);
  return offline_reason_;
}

bool LogicalUnit::KnownFast(uint64_t id) const {
  return id != 0 && known_nexus_[id % kKnownSlots].load(std::memory_order_acquire) == id;
}

void LogicalUnit::PushUaLocked(NexusLuState& st, Asc code) {
  for (const Asc& a : st.unit_attentions) {
    if (a == code) return;  // already pending: report it once
  }
  if (st.unit_attentions.size() >= kMaxUaPerNexus) return;
  st.unit_attentions.push_back(code);
  ua_total_.fetch_add(1, std::memory_order_release);
}

NexusLuState& LogicalUnit::NexusStateLocked(const Nexus& nexus) {
  auto [it, inserted] = nexus_states_.try_emplace(nexus.id);
  if (inserted) {
    it->second.initiator_port = nexus.initiator_port;
    it->second.target_port = nexus.target_port;
    PushUaLocked(it->second, asc::kPowerOnResetOccurred);
    if (nexus.id != 0) known_nexus_[nexus.id % kKnownSlots].store(nexus.id, std::memory_order_release);
  }
  return it->second;
}

void LogicalUnit::AddUnitAttentionLocked(uint64_t nexus_id, Asc code) {
  auto it = nexus_states_.find(nexus_id);
  // A nexus not seen yet will get POWER ON, RESET when it first shows up, which reports
  // (and supersedes) this condition.
  if (it != nexus_states_.end()) PushUaLocked(it->second, code);
}

void LogicalUnit::AddUnitAttentionAllLocked(Asc code, uint64_t except_nexus) {
  for (auto& [id, st] : nexus_states_) {
    if (id != except_nexus || except_nexus == 0) PushUaLocked(st, code);
  }
}

void LogicalUnit::AddUnitAttentionPortsLocked(const std::string& initiator_port,
                                              const std::string& target_port, Asc code) {
  for (auto& [id, st] : nexus_states_) {
    if (st.initiator_port == initiator_port && st.target_port == target_port) {
      PushUaLocked(st, code);
    }
  }
}

void LogicalUnit::AddUnitAttentionAll(Asc code, uint64_t except_nexus) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddUnitAttentionAllLocked(code, except_nexus);
}

void LogicalUnit::AddUnitAttention(uint64_t nexus_id, Asc code) {
  std::lock_guard<std::mutex> lock(mutex_);
  AddUnitAttentionLocked(nexus_id, code);
}

bool LogicalUnit::TakeUnitAttention(const Nexus& nexus, Asc* code) {
  // Fast path: the nexus has a state entry and no UA is queued for anyone.
  if (ua_total_.load(std::memory_order_acquire) == 0 && KnownFast(nexus.id)) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  NexusLuState& st = NexusStateLocked(nexus);
  if (st.unit_attentions.empty()) return false;
  *code = st.unit_attentions.front();
  st.unit_attentions.pop_front();
  ua_total_.fetch_sub(1, std::memory_order_release);
  return true;
}

bool LogicalUnit::HasUnitAttention(const Nexus& nexus) {
  if (ua_total_.load(std::memory_order_acquire) == 0 && KnownFast(nexus.id)) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  return !NexusStateLocked(nexus).unit_attentions.empty();
}

void LogicalUnit::NexusGone(const Nexus& nexus) {
  std::lock_guard<std::mutex> lock(mutex_);
  // SPC-2 reservations do not survive the loss of their I_T nexus (SPC-2 5.5.1); PR
  // registrations and reservations do (SPC-4 5.13.1).
  if (spc2_reservation_holder == nexus.id) {
    spc2_reservation_holder = 0;
    UpdateReservationActiveLocked();
  }
  auto it = nexus_states_.find(nexus.id);
  if (it != nexus_states_.end()) {
    if (it->second.prevent_removal) prevent_count.fetch_sub(1);
    ua_total_.fetch_sub(static_cast<uint32_t>(it->second.unit_attentions.size()),
                        std::memory_order_release);
    nexus_states_.erase(it);
  }
  if (nexus.id != 0) {
    uint64_t expected = nexus.id;
    known_nexus_[nexus.id % kKnownSlots].compare_exchange_strong(expected, 0);
  }
}

}  // namespace modtgt::scsi
