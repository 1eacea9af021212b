// SPDX-License-Identifier: Apache-2.0
// ALUA (SPC-4 5.15): the per-LU agent, the ALUA thread, the access-state checks, REPORT
// TARGET PORT GROUPS and SET TARGET PORT GROUPS. See alua.h.
#include "scsi/alua.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "common/byteorder.h"
#include "common/log.h"
#include "modtgt/module.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

// ---------------------------------------------------------------------------------------
// The ALUA thread: transitions (lock-group calls block on the cluster) and a refresh of
// every lock-group LU's lock view once a second.

struct Job {
  std::weak_ptr<AluaAgent> agent;
  AluaState want = AluaState::kActiveOptimized;
  Command* cmd = nullptr;  // SET TARGET PORT GROUPS to complete, or null (implicit)
};

void StpgDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    SetCheckCondition(cmd, SenseKey::kHardwareError, asc::kSetTargetPortGroupsFailed);
  }
  Complete(cmd);
}

void FinishStpg(Command* cmd, bool ok) {
  cmd->io = IoRequest{};
  cmd->io.done = &StpgDone;
  IoDone(cmd, ok ? MODTGT_STS_OK : MODTGT_STS_WRITE_ERROR);
}

class AluaThread {
 public:
  void Post(Job job) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) {
      if (job.cmd) FinishStpg(job.cmd, false);
      return;
    }
    StartLocked();
    jobs_.push_back(std::move(job));
    cv_.notify_one();
  }
  void Register(std::weak_ptr<AluaAgent> agent) {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    StartLocked();
    agents_.push_back(std::move(agent));
    cv_.notify_one();
  }
  void Stop() {
    std::deque<Job> dropped;
    {
      std::lock_guard<std::mutex> l(mu_);
      stopped_ = true;
      dropped.swap(jobs_);
      cv_.notify_one();
    }
    for (Job& j : dropped) {
      if (j.cmd) FinishStpg(j.cmd, false);
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void StartLocked() {
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  void Run() {
    auto next_refresh = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> l(mu_);
    while (!stopped_) {
      if (!jobs_.empty()) {
        Job j = std::move(jobs_.front());
        jobs_.pop_front();
        l.unlock();
        RunJob(j);
        l.lock();
        continue;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_refresh) {
        next_refresh = now + std::chrono::seconds(1);
        std::vector<std::shared_ptr<AluaAgent>> live;
        for (auto it = agents_.begin(); it != agents_.end();) {
          if (std::shared_ptr<AluaAgent> a = it->lock()) {
            live.push_back(std::move(a));
            ++it;
          } else {
            it = agents_.erase(it);
          }
        }
        l.unlock();
        for (auto& a : live) a->Refresh();
        live.clear();
        l.lock();
        continue;
      }
      cv_.wait_until(l, next_refresh);
    }
  }
  static void RunJob(Job& j);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;                          // GUARDED_BY(mu_)
  std::vector<std::weak_ptr<AluaAgent>> agents_;  // GUARDED_BY(mu_)
  bool stopped_ = false;                          // GUARDED_BY(mu_)
  std::thread thread_;
};

// Leaked on purpose: no static destruction order to get wrong (StopAluaThread joins it).
AluaThread& Thread() {
  static AluaThread* t = new AluaThread();
  return *t;
}

bool HasLockGroup(const LogicalUnit& lu) {
  return lu.backend() != nullptr && lu.backend()->has_lock_group();
}

// Commands that read or write the medium: what an implicit transition is for. TEST UNIT
// READY and READ CAPACITY do not move the lock (multipath's path checkers send them on
// every path).
bool IsDataCommand(const OpInfo& op) {
  if (op.flags & kOpWritesMedium) return true;
  switch (op.opcode) {
    case kRead6: case kRead10: case kRead12: case kRead16:
    case kVerify10: case kVerify12: case kVerify16:
    case kPreFetch10: case kPreFetch16:
    case kSynchronizeCache10: case kSynchronizeCache16:
      return true;
    case kServiceActionIn16:
      return op.service_action == kSaGetLbaStatus;
    default:
      return false;
  }
}

// SPC-4 5.15.2.4.4-6: the commands each state still accepts. Standby also answers READ
// CAPACITY (SPC-4 lets a device server support more than the listed commands; LIO does
// the same): the Linux kernel sizes a disk when it attaches it, and a standby path sized
// 0 is one dm-multipath's tools discard (size mismatch), so the path could never take
// over (tests/e2e/test-kernel-multipath-rbd.sh).
bool AllowedIn(AluaState s, const OpInfo& op) {
  const uint8_t opc = op.opcode;
  const bool common = opc == kInquiry || opc == kReportLuns || opc == kRequestSense ||
                      opc == kMaintenanceIn || opc == kReadBuffer || opc == kWriteBuffer;
  const bool stpg = opc == kMaintenanceOut && op.service_action == kSaSetTargetPortGroups;
  switch (s) {
    case AluaState::kActiveOptimized:
    case AluaState::kActiveNonOptimized:
      return true;
    case AluaState::kStandby:
      return common || stpg || opc == kLogSelect || opc == kLogSense ||
             opc == kModeSelect6 || opc == kModeSelect10 || opc == kModeSense6 ||
             opc == kModeSense10 || opc == kReceiveDiagnosticResults ||
             opc == kSendDiagnostic || opc == kPersistentReserveIn ||
             opc == kPersistentReserveOut || opc == kReadCapacity10 ||
             (opc == kServiceActionIn16 && op.service_action == kSaReadCapacity16);
    case AluaState::kUnavailable:
      return common || stpg;
    case AluaState::kTransitioning:
      return common;
  }
  return false;
}

}  // namespace

void AluaThread::RunJob(Job& j) {
  std::shared_ptr<AluaAgent> a = j.agent.lock();
  if (!a) {
    if (j.cmd) FinishStpg(j.cmd, false);
    return;
  }
  a->RunTransition(j.want, j.cmd);
}

// ---------------------------------------------------------------------------------------
// Names and configuration

const char* AluaStateName(AluaState s) {
  switch (s) {
    case AluaState::kActiveOptimized: return "active/optimized";
    case AluaState::kActiveNonOptimized: return "active/non-optimized";
    case AluaState::kStandby: return "standby";
    case AluaState::kUnavailable: return "unavailable";
    case AluaState::kTransitioning: return "transitioning";
  }
  return "unknown";
}

bool ParseAluaState(const std::string& t, AluaState* out) {
  if (t == "ao" || t == "active/optimized") {
    *out = AluaState::kActiveOptimized;
  } else if (t == "ano" || t == "active/non-optimized" || t == "nonoptimized") {
    *out = AluaState::kActiveNonOptimized;
  } else if (t == "standby") {
    *out = AluaState::kStandby;
  } else if (t == "unavailable") {
    *out = AluaState::kUnavailable;
  } else {
    return false;
  }
  return true;
}

::modtgt::Status ValidateAluaConfig(const AluaConfig& cfg) {
  if (!cfg.enabled()) return ::modtgt::Status::OK();
  for (size_t i = 0; i < cfg.peers.size(); ++i) {
    if (cfg.peers[i] == 0) return ::modtgt::Status::InvalidArgument("ALUA peer group ids are 1..65535");
    if (cfg.peers[i] == cfg.group) {
      return ::modtgt::Status::InvalidArgument("ALUA peer group " + std::to_string(cfg.group) +
                                               " is this gateway's own group");
    }
    for (size_t k = 0; k < i; ++k) {
      if (cfg.peers[k] == cfg.peers[i]) {
        return ::modtgt::Status::InvalidArgument("ALUA peer group " +
                                                 std::to_string(cfg.peers[i]) + " named twice");
      }
    }
  }
  if (cfg.peers.size() > 255) return ::modtgt::Status::InvalidArgument("at most 255 ALUA peer groups");
  if (!cfg.implicit && !cfg.explicit_) {
    return ::modtgt::Status::InvalidArgument("ALUA needs implicit or explicit transitions (or both)");
  }
  if (cfg.nonholder != AluaState::kStandby && cfg.nonholder != AluaState::kActiveNonOptimized) {
    return ::modtgt::Status::InvalidArgument("alua_nonholder is standby or nonoptimized");
  }
  if (cfg.nonholder == AluaState::kActiveNonOptimized && !cfg.implicit) {
    return ::modtgt::Status::InvalidArgument(
        "alua_nonholder=nonoptimized needs implicit ALUA (I/O on a non-optimized path takes "
        "the lock)");
  }
  return ::modtgt::Status::OK();
}

std::string DescribeAluaConfig(const AluaConfig& cfg) {
  if (!cfg.enabled()) return "off";
  std::string s;
  for (const char* k : {"group", "peers", "mode", "nonholder"}) {
    if (!s.empty()) s += " ";
    s += std::string(k) + "=" + AluaParamText(cfg, k);
  }
  return s;
}

namespace {

bool ParseGroupId(const std::string& t, uint16_t* out) {
  if (t.empty() || t.size() > 5 || t.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  const unsigned long v = std::stoul(t);
  if (v > 65535) return false;
  *out = static_cast<uint16_t>(v);
  return true;
}

}  // namespace

::modtgt::Status SetAluaParam(const std::string& key, const std::string& value,
                              AluaConfig* cfg) {
  if (key == "group") {
    uint16_t g = 0;
    if (!ParseGroupId(value, &g)) {
      return ::modtgt::Status::InvalidArgument("alua group '" + value +
                                               "' is not a number 0..65535");
    }
    cfg->group = g;
  } else if (key == "peers") {
    std::vector<uint16_t> peers;
    size_t at = 0;
    while (at < value.size()) {
      size_t end = value.find_first_of(":,", at);
      if (end == std::string::npos) end = value.size();
      uint16_t g = 0;
      if (!ParseGroupId(value.substr(at, end - at), &g) || g == 0) {
        return ::modtgt::Status::InvalidArgument("alua peers '" + value +
                                                 "': group ids 1..65535 separated by ':'");
      }
      peers.push_back(g);
      at = end + 1;
    }
    cfg->peers = std::move(peers);
  } else if (key == "mode") {
    if (value == "implicit") {
      cfg->implicit = true, cfg->explicit_ = false;
    } else if (value == "explicit") {
      cfg->implicit = false, cfg->explicit_ = true;
    } else if (value == "both") {
      cfg->implicit = true, cfg->explicit_ = true;
    } else {
      return ::modtgt::Status::InvalidArgument("alua mode '" + value +
                                               "' is not implicit, explicit or both");
    }
  } else if (key == "nonholder") {
    if (value == "standby") {
      cfg->nonholder = AluaState::kStandby;
    } else if (value == "nonoptimized") {
      cfg->nonholder = AluaState::kActiveNonOptimized;
    } else {
      return ::modtgt::Status::InvalidArgument("alua nonholder '" + value +
                                               "' is not standby or nonoptimized");
    }
  } else {
    return ::modtgt::Status::InvalidArgument("unknown ALUA setting '" + key +
                                             "' (group, peers, mode, nonholder)");
  }
  return ::modtgt::Status::OK();
}

std::string AluaParamText(const AluaConfig& cfg, const std::string& key) {
  if (key == "group") return std::to_string(cfg.group);
  if (key == "peers") {
    std::string s;
    for (size_t i = 0; i < cfg.peers.size(); ++i) {
      if (i) s += ":";
      s += std::to_string(cfg.peers[i]);
    }
    return s;
  }
  if (key == "mode") {
    return cfg.implicit && cfg.explicit_ ? "both" : cfg.implicit ? "implicit" : "explicit";
  }
  if (key == "nonholder") {
    return cfg.nonholder == AluaState::kStandby ? "standby" : "nonoptimized";
  }
  return "";
}

// ---------------------------------------------------------------------------------------
// AluaAgent

void AluaAgent::Configure(const AluaConfig& cfg) {
  LogicalUnit* lu = lu_.load();
  bool was_enabled;
  {
    std::lock_guard<std::mutex> l(cfg_mu_);
    was_enabled = cfg_.enabled();
    cfg_ = cfg;
    std::sort(cfg_.peers.begin(), cfg_.peers.end());
    nonholder_.store(static_cast<uint8_t>(cfg.nonholder));
    group_.store(cfg.group);
  }
  if (!cfg.enabled() || lu == nullptr) return;
  if (HasLockGroup(*lu)) {
    if (!was_enabled) {
      // Until the first refresh knows better: not the holder.
      state_.store(static_cast<uint8_t>(cfg.nonholder), std::memory_order_release);
      settled_.store(static_cast<uint8_t>(cfg.nonholder));
    }
    if (!registered_.exchange(true)) Thread().Register(weak_from_this());
  } else if (!was_enabled) {
    state_.store(static_cast<uint8_t>(AluaState::kActiveOptimized), std::memory_order_release);
    settled_.store(static_cast<uint8_t>(AluaState::kActiveOptimized));
  }
}

AluaConfig AluaAgent::config() const {
  std::lock_guard<std::mutex> l(cfg_mu_);
  return cfg_;
}

uint8_t AluaAgent::tpgs() const {
  std::lock_guard<std::mutex> l(cfg_mu_);
  if (!cfg_.enabled()) return 0;
  return static_cast<uint8_t>((cfg_.implicit ? 1 : 0) | (cfg_.explicit_ ? 2 : 0));
}

AluaState AluaAgent::PeerState(uint16_t peer) const {
  const auto nonholder = static_cast<AluaState>(nonholder_.load());
  LogicalUnit* lu = lu_.load();
  if (lu != nullptr && HasLockGroup(*lu)) {
    return holder() == peer ? AluaState::kActiveOptimized : nonholder;
  }
  // No lock: the peers are whatever this gateway is not.
  return state() == AluaState::kActiveOptimized ? nonholder : AluaState::kActiveOptimized;
}

void AluaAgent::SetState(AluaState s, uint64_t except_nexus, uint8_t status_code) {
  state_.store(static_cast<uint8_t>(s), std::memory_order_release);
  if (s == AluaState::kTransitioning) return;  // announced when it settles
  status_code_.store(status_code);
  const auto before = static_cast<AluaState>(settled_.exchange(static_cast<uint8_t>(s)));
  if (before == s) return;
  LogicalUnit* lu = lu_.load();
  if (lu == nullptr) return;
  LOG_INFO("%s LUN %llu: ALUA group %u is now %s (was %s)", lu->target_name().c_str(),
           static_cast<unsigned long long>(lu->lun()), group(), AluaStateName(s),
           AluaStateName(before));
  lu->AddUnitAttentionAll(asc::kAsymmetricAccessStateChanged, except_nexus);
}

void AluaAgent::OnLockLost() {
  if (!enabled()) return;
  holder_.store(0);
  const auto st = state();
  if (st == AluaState::kActiveOptimized || st == AluaState::kActiveNonOptimized) {
    SetState(static_cast<AluaState>(nonholder_.load()), 0, 2);
  }
}

void AluaAgent::RequestTransition(AluaState want, Command* cmd) {
  LogicalUnit* lu = lu_.load();
  if (lu == nullptr) {
    if (cmd) FinishStpg(cmd, false);
    return;
  }
  const uint64_t except = cmd && cmd->nexus ? cmd->nexus->id : 0;
  const uint8_t code = cmd ? 1 : 2;
  if (!HasLockGroup(*lu)) {
    SetState(want, except, code);
    if (cmd) FinishStpg(cmd, true);
    return;
  }
  // Lock-group calls block: mark the transition and hand it to the ALUA thread.
  if (busy_.exchange(true)) {
    if (cmd) FinishStpg(cmd, false);  // one transition at a time
    return;
  }
  if (want == AluaState::kActiveOptimized) SetState(AluaState::kTransitioning);
  Thread().Post(Job{weak_from_this(), want, cmd});
}

void AluaAgent::RunTransition(AluaState want, Command* cmd) {
  std::lock_guard<std::mutex> l(lu_mu_);
  LogicalUnit* lu = lu_.load();
  bool ok = false;
  if (lu != nullptr && lu->backend() != nullptr) {
    Backend* b = lu->backend();
    const uint64_t except = cmd && cmd->nexus ? cmd->nexus->id : 0;
    const uint8_t code = cmd ? 1 : 2;
    const auto nonholder = static_cast<AluaState>(nonholder_.load());
    int rc;
    if (want == AluaState::kActiveOptimized) {
      rc = b->LockAcquire(group());
      ok = rc == MODTGT_STS_OK;
      if (ok) holder_.store(group());
      SetState(ok ? AluaState::kActiveOptimized : nonholder, except, code);
      if (!ok) {
        LOG_WARN("%s LUN %llu: ALUA group %u could not take the cluster lock (status %d)",
                 lu->target_name().c_str(), static_cast<unsigned long long>(lu->lun()),
                 group(), rc);
      }
    } else {
      // Any other state: this gateway gives the lock up (if it holds it).
      rc = b->LockState() == MODTGT_LOCK_LOCKED ? b->LockRelease() : MODTGT_STS_OK;
      ok = rc == MODTGT_STS_OK;
      if (ok && holder() == group()) holder_.store(0);
      if (ok) SetState(want, except, code);
    }
  }
  busy_.store(false, std::memory_order_release);
  if (cmd) FinishStpg(cmd, ok);
}

void AluaAgent::Refresh() {
  std::lock_guard<std::mutex> l(lu_mu_);
  LogicalUnit* lu = lu_.load();
  if (lu == nullptr || !enabled() || busy_.load() || !HasLockGroup(*lu)) return;
  Backend* b = lu->backend();
  uint16_t tag = 0;
  holder_.store(b->LockHolderTag(&tag) == MODTGT_STS_OK ? tag : 0);
  const int st = b->LockState();
  const AluaState now = state();
  if (st == MODTGT_LOCK_LOCKED) {
    holder_.store(group());
    if (now != AluaState::kActiveOptimized) SetState(AluaState::kActiveOptimized, 0, 2);
  } else if (st == MODTGT_LOCK_UNLOCKED) {
    if (now == AluaState::kActiveOptimized || now == AluaState::kTransitioning) {
      SetState(static_cast<AluaState>(nonholder_.load()), 0, 2);
    }
  }
}

void AluaAgent::Detach() {
  std::lock_guard<std::mutex> l(lu_mu_);
  lu_.store(nullptr);
}

// ---------------------------------------------------------------------------------------
// Dispatch's check and the handlers

bool AluaRefuses(Command* cmd, const OpInfo& op) {
  LogicalUnit* lu = cmd->lu.get();
  AluaAgent& a = lu->alua();
  if (!a.enabled()) return false;
  const AluaState s = a.state();
  const bool lock = HasLockGroup(*lu);
  const bool data = IsDataCommand(op);
  if (s == AluaState::kActiveOptimized) return false;
  if (s == AluaState::kActiveNonOptimized && !(lock && data)) return false;
  if (s != AluaState::kActiveNonOptimized && AllowedIn(s, op)) return false;
  Asc code = asc::kLunNotAccessibleTransition;
  if (lock && data && a.tpgs() & 1 &&
      (s == AluaState::kActiveNonOptimized || s == AluaState::kStandby)) {
    // Implicit ALUA: I/O on this path moves the lock here; the initiator retries.
    a.RequestTransition(AluaState::kActiveOptimized, nullptr);
  } else if (s == AluaState::kStandby) {
    code = asc::kLunNotAccessibleStandby;
  } else if (s == AluaState::kUnavailable) {
    code = asc::kLunNotAccessibleUnavailable;
  } else if (s == AluaState::kActiveNonOptimized) {
    code = asc::kLunNotAccessibleStandby;  // no lock and no implicit ALUA: nothing to write with
  }
  SetCheckCondition(cmd, SenseKey::kNotReady, code);
  Complete(cmd);
  return true;
}

uint16_t RelativeTargetPort(const Command& cmd) {
  if (cmd.lu && cmd.lu->alua().enabled()) return cmd.lu->alua().group();
  return cmd.nexus ? cmd.nexus->relative_port_id : 1;
}

namespace {

// One target port group descriptor (SPC-4 6.27.2) with its one target port.
void AddGroup(std::vector<uint8_t>& v, uint16_t id, AluaState s, uint8_t status_code,
              bool pref) {
  // Supported states: T_SUP, U_SUP, S_SUP, AN_SUP, AO_SUP.
  constexpr uint8_t kSupported = 0x80 | 0x08 | 0x04 | 0x02 | 0x01;
  const size_t at = v.size();
  v.resize(at + 12, 0);
  v[at] = static_cast<uint8_t>((pref ? 0x80 : 0) | static_cast<uint8_t>(s));
  v[at + 1] = kSupported;
  PutBe16(&v[at + 2], id);
  v[at + 5] = status_code;
  v[at + 7] = 1;               // TARGET PORT COUNT
  PutBe16(&v[at + 10], id);    // RELATIVE TARGET PORT IDENTIFIER
}

}  // namespace

void ReportTargetPortGroups(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const uint8_t format = cdb[1] >> 5;
  const uint32_t alloc = GetBe32(cdb + 6);
  AluaAgent& a = cmd->lu->alua();
  if (!a.enabled()) return Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
  if (format > 1) return FailField(cmd, true, 1, 7);
  const AluaConfig cfg = a.config();
  const size_t header = format == 1 ? 8 : 4;
  std::vector<uint8_t> v(header, 0);
  AddGroup(v, cfg.group, a.state(), a.status_code(), false);
  for (uint16_t p : cfg.peers) AddGroup(v, p, a.PeerState(p), 0, false);
  PutBe32(v.data(), static_cast<uint32_t>(v.size() - 4));
  if (format == 1) {
    v[4] = 0x10;  // FORMAT TYPE 001b
    v[5] = 30;    // IMPLICIT TRANSITION TIME, seconds (a lock break and acquisition)
  }
  FinishDataIn(cmd, v, alloc);
}

void SetTargetPortGroups(Command* cmd) {
  AluaAgent& a = cmd->lu->alua();
  const uint32_t plen = GetBe32(cmd->cdb + 6);
  if (!a.enabled() || !(a.tpgs() & 2)) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
  }
  cmd->data_out_needed = plen;
  if (plen == 0) return Complete(cmd);
  if (plen < 4 || (plen - 4) % 4 != 0 || cmd->data.size() < plen) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
  }
  const AluaConfig cfg = a.config();
  const uint8_t* p = cmd->data.data();
  bool have_local = false;
  AluaState local_want = a.state();
  bool peer_active = false;
  for (uint32_t off = 4; off < plen; off += 4) {
    const auto st = static_cast<AluaState>(p[off] & 0x0f);
    const uint16_t id = GetBe16(p + off + 2);
    if (st != AluaState::kActiveOptimized && st != AluaState::kActiveNonOptimized &&
        st != AluaState::kStandby && st != AluaState::kUnavailable) {
      return FailField(cmd, false, static_cast<uint16_t>(off), 3);
    }
    if (id == cfg.group) {
      if (have_local) return FailField(cmd, false, static_cast<uint16_t>(off + 2));
      have_local = true;
      local_want = st;
    } else if (std::find(cfg.peers.begin(), cfg.peers.end(), id) != cfg.peers.end()) {
      // Another gateway's group: this gateway cannot move it; asking for it to be
      // active/optimized makes this one give the lock up.
      if (st == AluaState::kActiveOptimized) peer_active = true;
    } else {
      return FailField(cmd, false, static_cast<uint16_t>(off + 2));
    }
  }
  if (have_local && peer_active && local_want == AluaState::kActiveOptimized) {
    return FailField(cmd, false, 4);  // two active/optimized groups at once
  }
  if (!have_local && peer_active) {
    local_want = static_cast<AluaState>(a.config().nonholder);
    have_local = true;
  }
  if (!have_local || local_want == a.state()) return Complete(cmd);
  a.RequestTransition(local_want, cmd);
}

void StopAluaThread() { Thread().Stop(); }

}  // namespace modtgt::scsi
