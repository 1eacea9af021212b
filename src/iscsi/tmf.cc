// SPDX-License-Identifier: Apache-2.0
#include "iscsi/tmf.h"

#include "core/target.h"
#include "common/log.h"
#include "iscsi/connection.h"
#include "iscsi/describe.h"
#include "iscsi/session.h"
#include "scsi/dispatch.h"

namespace modtgt::iscsi {

namespace {

// TMF response codes (RFC 7143 11.6.1).
constexpr uint8_t kTmfComplete = 0;
constexpr uint8_t kTmfNoTask = 1;
constexpr uint8_t kTmfNoLun = 2;
constexpr uint8_t kTmfTaskStillAllegiant = 3;
constexpr uint8_t kTmfReassignNotSupported = 4;
constexpr uint8_t kTmfNotSupported = 5;

}  // namespace

void TaskManagement::Abort(Task* t, int slot) {
  switch (t->state) {
    case TaskState::kInCore:
      t->aborted.store(true, std::memory_order_relaxed);
      if (!t->tmf_aborted) {
        t->tmf_aborted = true;
        if (slot >= 0) {
          t->tmf_slot = slot;
          pending_[slot].waiting++;
        }
      }
      break;
    case TaskState::kHeld:
      // Its CmdSN was received: keep it held so ExpCmdSN still passes it; the session drops
      // it when its turn comes.
      t->tmf_aborted = true;
      break;
    case TaskState::kCollecting:
      session_->ReleaseTask(t);
      break;
    case TaskState::kDone:  // an orphan's response that was never sent
      session_->ReleaseTask(t);
      break;
    case TaskState::kSending:  // response already queued: sent before the TMF response
    case TaskState::kSent:     // answered; kept only for SNACK
    case TaskState::kFree:
      break;
  }
}

void TaskManagement::TaskDone(Task* t) {
  int slot = t->tmf_slot;
  t->tmf_slot = -1;
  Release(slot);
}

void TaskManagement::Release(int slot) {
  if (slot < 0 || slot >= static_cast<int>(pending_.size())) return;
  Pending& p = pending_[slot];
  if (!p.used || p.waiting == 0) return;
  if (--p.waiting == 0) {
    p.used = false;
    if (p.conn) Respond(p.conn, p.itt, p.response, p.close_after);
  }
}

void TaskManagement::ConnectionGone(const Connection* conn) {
  for (Pending& p : pending_) {
    if (p.conn == conn) p.conn = nullptr;
  }
}

void TaskManagement::Execute(Connection* conn, const Bhs& req) {
  uint32_t cmd_sn = req.Get32(24);
  if (!req.immediate() && session_->window().Check(cmd_sn, false) == CmdSnWindow::Verdict::kDrop) {
    return;  // outside the window: ignored (RFC 7143 4.2.2.1)
  }
  session_->AdvanceCmdSn(cmd_sn, req.immediate());
  auto function = static_cast<scsi::TmfFunction>(req.b[1] & 0x7f);
  uint32_t itt = req.itt();
  uint32_t rtt = req.Get32(20);
  uint32_t ref_cmd_sn = req.Get32(32);
  uint64_t lun_raw = req.lun_raw();
  uint64_t lun = DecodeLun(lun_raw);
  const std::shared_ptr<core::Target>& target = session_->target();
  std::shared_ptr<scsi::LogicalUnit> lu = target ? target->FindLun(lun) : nullptr;
  TaskSet& tasks = session_->tasks();

  // A pending record for responses that wait on tasks still in the core.
  int slot = -1;
  for (size_t i = 0; i < pending_.size(); i++) {
    if (!pending_[i].used) {
      slot = static_cast<int>(i);
      break;
    }
  }
  if (slot < 0) {
    // Bounded: a record lives only while a task of the pool waits with it (one record per
    // task, tmf_slot), or for this call.
    pending_.emplace_back();
    slot = static_cast<int>(pending_.size() - 1);
  }
  Pending& p = pending_[slot];
  p.used = true;
  p.itt = itt;
  p.waiting = 0;
  p.response = kTmfComplete;
  p.close_after = false;
  p.conn = conn;

  Task* reassign = nullptr;  // TASK REASSIGN: taken over once the response is queued

  // The task set of the I_T nexus is the session's: every connection's tasks.
  auto abort_matching = [&](bool all_luns) {
    tasks.ForEach([&](Task* t) {
      if (t->state == TaskState::kFree || t->state == TaskState::kSending ||
          t->state == TaskState::kSent) {
        return;
      }
      if (!all_luns && t->lun_raw != lun_raw && DecodeLun(t->lun_raw) != lun) return;
      Abort(t, slot);
    });
  };

  switch (function) {
    case scsi::TmfFunction::kAbortTask: {
      Task* t = tasks.Find(rtt);
      if (t && (t->state == TaskState::kSending || t->state == TaskState::kSent)) {
        // Its response is already queued (sent before this one): nothing left to abort.
        p.response = kTmfNoTask;
      } else if (t && t->state != TaskState::kFree) {
        Abort(t, slot);
      } else if (!SnLt(ref_cmd_sn, cmd_sn) ||
                 session_->window().Check(ref_cmd_sn, false) == CmdSnWindow::Verdict::kDrop) {
        // RFC 7143 11.5.1 c): not found and RefCmdSN outside the window.
        p.response = kTmfNoTask;
      }
      // b): not found but RefCmdSN in the window and before this TMF: Function complete.
      break;
    }
    case scsi::TmfFunction::kAbortTaskSet:
    case scsi::TmfFunction::kClearTaskSet:
      if (!lu) {
        p.response = kTmfNoLun;
        break;
      }
      abort_matching(false);
      if (function == scsi::TmfFunction::kClearTaskSet) {
        lu->AddUnitAttentionAll(scsi::asc::kCommandsClearedByAnotherInitiator,
                                session_->mutable_nexus()->id);
      }
      break;
    case scsi::TmfFunction::kLogicalUnitReset:
      if (!lu) {
        p.response = kTmfNoLun;
        break;
      }
      abort_matching(false);
      scsi::ResetLogicalUnit(lu.get(), session_->mutable_nexus());
      break;
    case scsi::TmfFunction::kTargetWarmReset:
    case scsi::TmfFunction::kTargetColdReset: {
      // RFC 7143 11.5.1 and SAM-5 6.3: every task of every I_T nexus of the target is
      // aborted before the response (this session's here, the others' on their own loops,
      // ResetTarget), every LU is reset with the unit attention of a hard reset (warm) or
      // a power on (cold) for every nexus, and a cold reset then drops every connection of
      // the target, this one after its response (Pending::close_after).
      const bool cold = function == scsi::TmfFunction::kTargetColdReset;
      abort_matching(true);
      if (target) ResetTarget(conn, target, cold, slot);
      p.close_after = cold;
      break;
    }
    case scsi::TmfFunction::kTaskReassign: {
      // RFC 7143 6.2.2, 11.5.1: at ERL 2 a task of a failed (or recovery-logged-out)
      // connection moves to the connection this request came on.
      if (session_->error_recovery_level() < 2) {
        p.response = kTmfReassignNotSupported;
        break;
      }
      Task* t = tasks.Find(rtt);
      if (t == nullptr || t->state == TaskState::kFree) {
        p.response = kTmfNoTask;
      } else if (t->conn != nullptr) {
        p.response = kTmfTaskStillAllegiant;
      } else {
        reassign = t;
      }
      break;
    }
    case scsi::TmfFunction::kClearAca:
    default:
      p.response = kTmfNotSupported;
      break;
  }
  if (p.waiting == 0) {
    p.used = false;
    Respond(conn, itt, p.response, p.close_after);
    // The task resumes after the response (ExpDataSN: the next Data-In the initiator wants).
    if (reassign != nullptr) conn->TakeReassigned(reassign, req.Get32(36));
  }
}

void TaskManagement::Respond(Connection* conn, uint32_t itt, uint8_t response, bool close_after) {
  conn->SendTmfResponse(itt, response);
  // RFC 7143 11.5.1: after a TARGET COLD RESET the target drops its connections; this one
  // once its response is written.
  if (close_after) conn->CloseAfterFlush();
}

void TaskManagement::ResetTarget(Connection* conn, const std::shared_ptr<core::Target>& target,
                                 bool cold, int slot) {
  // The other sessions of the target (other loops): their tasks are aborted there. They
  // end silently (control mode page TAS 0); the unit attention tells those initiators.
  // The response waits (Pending::waiting) until each has done so and said so back on this
  // session's loop: once the initiator has it, no other nexus can still start a command
  // the reset should have aborted (one held for CmdSN order, say).
  LOG_INFO("iscsi: TARGET %s RESET of %s by %s%s", cold ? "COLD" : "WARM",
           LogQuote(target->name()).c_str(), LogQuote(session_->nexus().initiator_port).c_str(),
           cold ? ": every connection of the target is closed" : "");
  SessionTable* table = conn->session_table();
  if (table != nullptr) {
    for (const SessionTable::Entry& e : table->ForTarget(target->tid())) {
      if (e.session.get() == session_ || e.loop == nullptr) continue;
      std::weak_ptr<Connection> wc = e.connection;
      std::weak_ptr<Session> self = session_->weak_from_this();
      env::EventLoop* back = session_->loop();
      if (back != nullptr && slot >= 0) pending_[slot].waiting++;
      e.loop->Post([s = e.session, wc, cold, self, back, slot] {
        s->tmf().AbortAllTasks();
        if (cold) {
          if (auto c = wc.lock()) c->Close("TARGET COLD RESET by another session");
        }
        if (back == nullptr || slot < 0) return;
        back->Post([self, slot] {
          if (auto me = self.lock()) me->tmf().Release(slot);
        });
      });
    }
  }
  const scsi::ResetKind kind = cold ? scsi::ResetKind::kTargetCold : scsi::ResetKind::kTargetWarm;
  if (std::shared_ptr<const core::LunMap> luns = target->luns()) {
    for (const auto& [n, l] : *luns) {
      if (l) scsi::ResetLogicalUnit(l.get(), session_->mutable_nexus(), kind);
    }
  }
}

void TaskManagement::AbortAllTasks() {
  session_->tasks().ForEach([&](Task* t) {
    if (t->state == TaskState::kFree || t->state == TaskState::kSending) return;
    Abort(t, -1);
  });
}

}  // namespace modtgt::iscsi
