// SPDX-License-Identifier: Apache-2.0
#include "iscsi/session.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <strings.h>

#include "common/log.h"
#include "iscsi/connection.h"
#include "iscsi/describe.h"

namespace modtgt::iscsi {

namespace {
// Nexus ids are unique for the daemon's lifetime (scsi::Nexus::id), across transports.
std::atomic<uint64_t> g_next_nexus_id{1};
}  // namespace

void CmdSnWindow::Reset(uint32_t exp_cmd_sn, uint32_t depth) {
  exp_ = exp_cmd_sn;
  depth_ = depth ? depth : 1;
  active_ = 0;
  max_ = exp_ - 1 + depth_;
}

CmdSnWindow::Verdict CmdSnWindow::Check(uint32_t cmd_sn, bool immediate) const {
  if (immediate) return Verdict::kDeliver;
  // RFC 7143 4.2.2.1: outside [ExpCmdSN, MaxCmdSN] (MaxCmdSN as last advertised) the
  // target silently ignores it.
  if (SnLt(cmd_sn, exp_) || SnGt(cmd_sn, max_)) return Verdict::kDrop;
  return cmd_sn == exp_ ? Verdict::kDeliver : Verdict::kHold;
}

uint32_t CmdSnWindow::MaxCmdSn() {
  uint32_t free_slots = active_ >= depth_ ? 0 : depth_ - active_;
  // exp - 1 + free: with no free slot MaxCmdSN = ExpCmdSN - 1 (window closed, RFC 7143
  // 4.2.2.1 allows MaxCmdSN = ExpCmdSN - 1).
  max_ = SnMax(max_, exp_ - 1 + free_slots);
  return max_;
}

std::string IsidHex(uint64_t isid) {
  char buf[16];
  snprintf(buf, sizeof(buf), "%012" PRIx64, static_cast<uint64_t>(isid & 0xffffffffffffULL));
  return buf;
}

std::string InitiatorPortName(const std::string& initiator_name, uint64_t isid) {
  return initiator_name + ",i,0x" + IsidHex(isid);
}

std::string TargetPortName(const std::string& target_name, uint16_t tpgt) {
  char buf[8];
  snprintf(buf, sizeof(buf), "%04x", tpgt);
  return target_name + ",t,0x" + buf;
}

TransferParams MakeTransferParams(const SessionParams& params) {
  TransferParams t;
  t.max_burst = std::max<uint32_t>(512, params.max_burst_length);
  t.first_burst = std::max<uint32_t>(512, params.first_burst_length);
  t.max_r2t = std::clamp<uint32_t>(params.max_outstanding_r2t, 1, kMaxR2tPerTask);
  t.immediate_data = params.immediate_data;
  t.initial_r2t = params.initial_r2t;
  return t;
}

Session::Session(uint16_t tsih, uint64_t isid, std::shared_ptr<core::Target> target,
                 SessionParams params, uint64_t nexus_id, env::EventLoop* loop)
    : tsih_(tsih),
      isid_(isid),
      target_(std::move(target)),
      params_(std::move(params)),
      transfer_(MakeTransferParams(params_)),
      loop_(loop) {
  nexus_.id = nexus_id;
  nexus_.initiator_name = params_.initiator_name;
  nexus_.initiator_port = InitiatorPortName(params_.initiator_name, isid_);
  nexus_.relative_port_id = params_.target_portal_group_tag;
  if (target_) {
    nexus_.target_name = target_->name();
    nexus_.target_port = TargetPortName(target_->name(), params_.target_portal_group_tag);
    nexus_.target = target_;
    target_->sessions.fetch_add(1);
  }
}

void Session::End() {
  {
    std::lock_guard<std::mutex> l(end_mu_);
    if (ended_) return;
  }
  if (target_) {
    // SAM-5 6.3.4 I_T nexus loss: each LU drops the nexus's unit attentions and SPC-2
    // reservation (persistent reservations survive; they are keyed on the port names).
    std::shared_ptr<const core::LunMap> luns = target_->luns();
    if (luns) {
      for (const auto& [lun, lu] : *luns) {
        if (lu) lu->NexusGone(nexus_);
      }
    }
    target_->sessions.fetch_sub(1);
  }
  std::vector<std::function<void()>> waiters;
  {
    std::lock_guard<std::mutex> l(end_mu_);
    ended_ = true;
    waiters.swap(end_waiters_);
  }
  for (auto& fn : waiters) fn();
}

bool Session::ended() const {
  std::lock_guard<std::mutex> l(end_mu_);
  return ended_;
}

void Session::WhenEnded(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(end_mu_);
    if (!ended_) {
      end_waiters_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void Session::AddConnection(Connection* conn) { connections_.push_back(conn); }

size_t Session::RemoveConnection(Connection* conn) {
  std::erase(connections_, conn);
  tmf_.ConnectionGone(conn);
  return connections_.size();
}

void Session::CloseConnections(const char* why) {
  std::vector<Connection*> conns = connections_;  // Close may remove entries
  for (Connection* c : conns) c->Close(why);
}

void Session::RequestLogout(uint16_t seconds) {
  for (Connection* c : connections_) c->RequestLogout(seconds);
}

Connection* Session::FindConnection(uint16_t cid) const {
  for (Connection* c : connections_) {
    if (c->cid() == cid && !c->closed()) return c;
  }
  return nullptr;
}

void Session::AdvanceCmdSn(uint32_t cmd_sn, bool immediate) {
  if (immediate) return;
  if (cmd_sn == window_.exp_cmd_sn()) {
    window_.Advance();
    DrainHeld();
  }
}

void Session::Admit(Task* t, CmdSnWindow::Verdict v) {
  if (!t->immediate) {
    window_.Acquire();
    t->counted = true;
  }
  if (v == CmdSnWindow::Verdict::kHold) {
    t->state = TaskState::kHeld;
    tasks_.Hold(t);
    return;
  }
  if (!t->immediate) window_.Advance();
  t->conn->Deliver(t);
  DrainHeld();
}

void Session::DrainHeld() {
  while (tasks_.has_held()) {
    Task* t = tasks_.TakeHeld(window_.exp_cmd_sn());
    if (!t) return;
    window_.Advance();
    t->state = TaskState::kCollecting;
    if (t->tmf_aborted) {
      ReleaseTask(t);
    } else if (t->conn != nullptr) {
      t->conn->Deliver(t);
    }  // an orphan is delivered when a connection takes it (TakeReassigned)
  }
}

void Session::ReleaseSlot(Task* t) {
  if (t->counted) {
    window_.Release();
    t->counted = false;
  }
}

uint32_t Session::Need(const Task* t) { return t->fail_early ? 0 : BufferCharge(t->edtl); }

bool Session::Grant(Task* t) {
  const uint32_t need = Need(t);
  const bool fits = data_in_flight_ == 0 || data_in_flight_ + need <= data_budget_;
  // First come, first served: nothing overtakes a waiting task (task attributes order).
  if (!fits || (!budget_queue_.empty() && !serving_budget_)) {
    if (!t->budget_wait) {
      t->budget_wait = true;
      budget_queue_.push_back(t);
    }
    return false;
  }
  t->granted = true;
  t->charged = need;
  data_in_flight_ += need;
  return true;
}

void Session::ServeBudgetQueue() {
  if (serving_budget_) return;  // a release inside Deliver: the outer loop goes on
  serving_budget_ = true;
  while (!budget_queue_.empty()) {
    Task* t = budget_queue_.front();
    if (data_in_flight_ != 0 && data_in_flight_ + Need(t) > data_budget_) break;
    budget_queue_.erase(budget_queue_.begin());
    t->budget_wait = false;
    // Granted now (serving_budget_ lets it past the queue); an orphan asks again when a
    // connection takes it.
    if (t->conn != nullptr) t->conn->Deliver(t);
  }
  serving_budget_ = false;
}

void Session::ReleaseTask(Task* t) {
  if (t->state == TaskState::kFree) return;
  ReleaseSlot(t);
  if (t->budget_wait) {
    std::erase(budget_queue_, t);
    t->budget_wait = false;
  }
  data_in_flight_ -= t->charged;
  t->charged = 0;
  t->granted = false;
  tasks_.Free(t);
  if (!budget_queue_.empty()) ServeBudgetQueue();
  for (Connection* c : connections_) c->TaskFreed();
}

void Session::DropTasks(Connection* conn) {
  tasks_.ForEach([&](Task* t) {
    if (t->conn != conn) return;
    if (t->state == TaskState::kInCore) {
      t->aborted.store(true, std::memory_order_relaxed);
      t->tmf_aborted = true;
    } else if (t->state != TaskState::kFree && t->state != TaskState::kSending) {
      ReleaseTask(t);  // held, collecting, or a response kept for SNACK (kSent)
    }
  });
  tasks_.ForgetFreedHeld();
}

void Session::DropUnstartedTasks(Connection* conn) {
  tasks_.ForEach([&](Task* t) {
    if (t->conn == conn && (t->state == TaskState::kHeld || t->state == TaskState::kCollecting)) {
      ReleaseTask(t);
    }
  });
  tasks_.ForgetFreedHeld();
}

uint32_t Session::OrphanTasks(Connection* conn) {
  const uint64_t gen = ++orphan_generation_;
  uint32_t in_core = 0;
  bool any = false;
  tasks_.ForEach([&](Task* t) {
    // A response still queued on conn stays conn's: once written it is kept there
    // (kSent) and orphaned when conn closes.
    if (t->conn != conn || t->state == TaskState::kFree || t->state == TaskState::kSending) {
      return;
    }
    if (t->tmf_aborted && t->state != TaskState::kInCore) {
      ReleaseTask(t);
      return;
    }
    any = true;
    t->conn = nullptr;
    t->orphan_generation = gen;
    if (t->state == TaskState::kInCore) in_core++;
    if (t->state == TaskState::kCollecting && t->delivered) {
      // The Data-Out it was waiting for is asked for again on the new connection.
      for (R2t& r : t->r2ts) {
        if (!r.used) continue;
        if (r.received < r.length) t->recover.emplace_back(r.offset + r.received, r.offset + r.length);
        r.used = false;
      }
      t->r2t_outstanding = 0;
    }
    if (t->state == TaskState::kCollecting && t->unsol_open) {
      if (t->unsol_next < t->unsol_end) t->recover.emplace_back(t->unsol_next, t->unsol_end);
      t->unsol_open = false;
    }
  });
  tasks_.ForgetFreedHeld();
  if (any && loop_ != nullptr) {
    // RFC 7143 6.2.2: the tasks wait DefaultTime2Wait + DefaultTime2Retain for a new
    // connection to take them.
    const uint64_t ms =
        (uint64_t{params_.default_time2wait} + params_.default_time2retain) * 1000 + 1;
    std::weak_ptr<Session> w = weak_from_this();
    loop_->AddTimer(ms, [w, gen] {
      if (auto s = w.lock()) s->ExpireOrphans(gen);
    });
  }
  return in_core;
}

uint32_t Session::AdoptOrphans(Connection* conn) {
  uint32_t in_core = 0;
  tasks_.ForEach([&](Task* t) {
    if (t->conn != nullptr || t->state == TaskState::kFree) return;
    t->conn = conn;
    if (t->state == TaskState::kInCore) in_core++;
  });
  return in_core;
}

void Session::EndRetained() {
  if (!retained_ || !connections_.empty() || ended()) return;
  retained_ = false;
  ending_ = true;
  bool in_core = false;
  tasks_.ForEach([&](Task* t) {
    if (t->conn != nullptr || t->state == TaskState::kFree) return;
    if (t->state == TaskState::kInCore) {
      t->aborted.store(true, std::memory_order_relaxed);
      t->tmf_aborted = true;
      in_core = true;
    } else {
      ReleaseTask(t);
    }
  });
  tasks_.ForgetFreedHeld();
  if (in_core) return;  // CommandDone finishes it
  LOG_INFO("iscsi: session tsih %u: no connection recovered it; ending", tsih_);
  End();
  if (table_ != nullptr) table_->Remove(this);
}

void Session::ExpireOrphans(uint64_t generation) {
  tasks_.ForEach([&](Task* t) {
    if (t->conn != nullptr || t->state == TaskState::kFree || t->orphan_generation != generation) {
      return;
    }
    if (t->state == TaskState::kInCore) {
      t->aborted.store(true, std::memory_order_relaxed);
      t->tmf_aborted = true;  // freed when the core hands it back
    } else {
      ReleaseTask(t);
    }
  });
  tasks_.ForgetFreedHeld();
  if (retained_ && connections_.empty()) EndRetained();
}

void Session::CommandDone(scsi::Command* cmd) {
  Task* t = static_cast<Task*>(cmd);
  if (t->core_counter != nullptr) {
    t->core_counter->fetch_sub(1, std::memory_order_relaxed);
    t->core_counter = nullptr;
  }
  if (t->conn != nullptr) {
    t->conn->CommandDone(t);
    return;
  }
  // An orphan (connection recovery): keep the result for the connection that takes it.
  tmf_.TaskDone(t);
  if (t->tmf_aborted) {
    ReleaseTask(t);
  } else {
    t->state = TaskState::kDone;
  }
  if (ending_ && connections_.empty()) {
    bool left = false;
    tasks_.ForEach([&](Task* o) { left = left || (o->conn == nullptr && o->state == TaskState::kInCore); });
    if (!left) {
      ending_ = false;
      End();
      if (table_ != nullptr) table_->Remove(this);
    }
  }
}

std::shared_ptr<Session> SessionTable::Create(uint64_t isid, std::shared_ptr<core::Target> target,
                                              const SessionParams& params,
                                              std::weak_ptr<Connection> conn, env::EventLoop* loop,
                                              std::string connection_desc, Entry* reinstated,
                                              core::ConnectionInfo connection_info) {
  std::lock_guard<std::mutex> l(mu_);
  if (reinstated) *reinstated = Entry();
  // RFC 7143 6.3.5: a leading login with the ISID and initiator name of an existing session
  // to the same target reinstates it (the old one is closed). Discovery sessions are matched
  // among discovery sessions.
  Entry* old = nullptr;
  for (auto& [tsih, e] : by_tsih_) {
    const Session& s = *e.session;
    if (!e.closing && s.isid() == isid && s.params().initiator_name == params.initiator_name &&
        s.discovery() == params.discovery && s.target() == target) {
      old = &e;
      break;
    }
  }
  if (by_tsih_.size() - (old != nullptr ? 1 : 0) >= max_sessions_) {
    LOG_WARN("iscsi: %zu sessions, the most allowed (max_sessions): refusing a login of %s",
             by_tsih_.size(), LogQuote(params.initiator_name).c_str());
    return nullptr;
  }
  if (old != nullptr) {
    LOG_INFO("iscsi: reinstating session tsih %u of %s", old->session->tsih(),
             LogQuote(params.initiator_name).c_str());
    old->closing = true;
    if (reinstated) *reinstated = *old;
  }
  // TSIH: non-zero, unique among live sessions (RFC 7143 11.12.6).
  uint16_t tsih = 0;
  for (int tries = 0; tries < 65536; tries++) {
    uint16_t cand = next_tsih_++;
    if (next_tsih_ == 0) next_tsih_ = 1;
    if (cand != 0 && by_tsih_.find(cand) == by_tsih_.end()) {
      tsih = cand;
      break;
    }
  }
  if (tsih == 0) return nullptr;
  auto s = std::make_shared<Session>(tsih, isid, std::move(target), params,
                                     g_next_nexus_id.fetch_add(1), loop);
  s->set_table(this);
  Entry e;
  e.session = s;
  e.connection = std::move(conn);
  e.loop = loop;
  e.connection_desc = std::move(connection_desc);
  e.connection_info = std::move(connection_info);
  by_tsih_.emplace(tsih, std::move(e));
  return s;
}

void SessionTable::set_max_sessions(size_t n) {
  std::lock_guard<std::mutex> l(mu_);
  max_sessions_ = n;
}

bool SessionTable::Exists(uint16_t tsih) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(tsih);
  return it != by_tsih_.end() && !it->second.closing;
}

void SessionTable::MarkClosing(const Session* session) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(session->tsih());
  if (it != by_tsih_.end() && it->second.session.get() == session) it->second.closing = true;
}

void SessionTable::Remove(const Session* session) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(session->tsih());
  if (it != by_tsih_.end() && it->second.session.get() == session) by_tsih_.erase(it);
}

std::shared_ptr<Session> SessionTable::FindForJoin(uint16_t tsih, uint64_t isid,
                                                    const std::string& initiator_name,
                                                    const core::Target* target,
                                                    env::EventLoop** loop) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(tsih);
  if (it == by_tsih_.end() || it->second.closing) return nullptr;
  const Session& s = *it->second.session;
  if (s.discovery() || s.isid() != isid || s.target().get() != target ||
      strcasecmp(s.params().initiator_name.c_str(), initiator_name.c_str()) != 0) {
    return nullptr;
  }
  if (loop) *loop = it->second.loop;
  return it->second.session;
}

void SessionTable::AddConnectionDesc(const Session* session, const std::string& desc) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(session->tsih());
  if (it != by_tsih_.end() && it->second.session.get() == session) {
    it->second.more_connections.push_back(desc);
  }
}

void SessionTable::RemoveConnectionDesc(const Session* session, const std::string& desc) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_tsih_.find(session->tsih());
  if (it != by_tsih_.end() && it->second.session.get() == session) {
    std::erase(it->second.more_connections, desc);
  }
}

std::vector<SessionInfo> SessionTable::List() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<SessionInfo> out;
  for (const auto& [tsih, e] : by_tsih_) {
    const Session& s = *e.session;
    if (s.discovery() || e.closing) continue;
    SessionInfo info;
    info.nexus_id = s.nexus().id;
    info.tid = s.tid();
    info.target_name = s.nexus().target_name;
    info.initiator_name = s.params().initiator_name;
    info.isid = IsidHex(s.isid());
    info.tsih = tsih;
    info.connections.push_back(e.connection_desc);
    info.conns.push_back(e.connection_info);
    info.initiator_alias = s.params().initiator_alias;
    info.stats = s.stats().Snapshot();
    for (const std::string& d : e.more_connections) info.connections.push_back(d);
    out.push_back(std::move(info));
  }
  return out;
}

std::vector<SessionTable::Entry> SessionTable::ForTarget(int tid) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Entry> out;
  for (const auto& [tsih, e] : by_tsih_) {
    if (tid < 0 || (!e.session->discovery() && e.session->tid() == tid)) out.push_back(e);
  }
  return out;
}

std::vector<SessionTable::Entry> SessionTable::SameInitiator(const std::string& initiator_name,
                                                              const core::Target* target,
                                                              const Session* except) const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Entry> out;
  if (target == nullptr) return out;  // discovery sessions have no I_T nexus
  for (const auto& [tsih, e] : by_tsih_) {
    const Session& s = *e.session;
    // iSCSI names compare case-insensitively (RFC 3722 normalizes them to lower case).
    if (&s != except && !s.discovery() && s.target().get() == target &&
        strcasecmp(s.params().initiator_name.c_str(), initiator_name.c_str()) == 0) {
      out.push_back(e);
    }
  }
  return out;
}

size_t SessionTable::size() const {
  std::lock_guard<std::mutex> l(mu_);
  return by_tsih_.size();
}

}  // namespace modtgt::iscsi
