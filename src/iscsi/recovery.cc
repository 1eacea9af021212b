// SPDX-License-Identifier: Apache-2.0
// Error recovery on a connection (RFC 7143 6.7, 7, 11.16): at ErrorRecoveryLevel >= 1 the
// responses kept for SNACK until the initiator's ExpStatSN acknowledges them, and their
// retransmission (Data/R2T, Status and R-Data SNACK); at level 2 a task taken over from a
// failed connection (TASK REASSIGN). Recovery R2Ts for lost Data-Out are in scsi_task.cc.
#include <algorithm>

#include "common/log.h"
#include "iscsi/connection.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;

// SNACK types (RFC 7143 11.16.1).
constexpr uint8_t kSnackData = 0;  // Data/R2T
constexpr uint8_t kSnackStatus = 1;
constexpr uint8_t kSnackRData = 3;

// True if sn is in [beg, beg + run), run 0 meaning "to the end".
bool InRun(uint32_t sn, uint32_t beg, uint32_t run) {
  return SnGe(sn, beg) && (run == 0 || SnLt(sn, beg + run));
}

}  // namespace

void Connection::Sent(Task* t) {
  const uint32_t erl = session_->error_recovery_level();
  // ERL >= 1: the response stays for SNACK until acknowledged; on a closed connection only
  // connection recovery (ERL 2) can still use it.
  if (t->state == TaskState::kSending && t->conn == this && erl >= 1 && (!closed_ || erl >= 2)) {
    t->state = TaskState::kSent;
    retained_.push_back(t);
    return;
  }
  session_->ReleaseTask(t);
}

void Connection::AckStatSn(uint32_t exp_stat_sn) {
  exp_stat_sn_ = exp_stat_sn;
  while (!retained_.empty()) {
    Task* t = retained_.front();
    if (t->state != TaskState::kSent || t->conn != this) {
      retained_.pop_front();  // freed, aborted or reassigned meanwhile
      continue;
    }
    if (!SnLt(t->stat_sn, exp_stat_sn)) return;
    retained_.pop_front();
    session_->ReleaseTask(t);
  }
}

void Connection::HandleSnack() {
  Bhs req = RxBhs();
  const uint8_t type = req.b[1] & 0x0f;
  const uint32_t beg = req.Get32(40);
  const uint32_t run = req.Get32(44);
  Task* t = nullptr;
  if (type == kSnackData || type == kSnackRData) {
    t = session_->tasks().Find(req.itt());
    if (t == nullptr || t->conn != this) {
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
    }
  }
  const bool answered =
      t != nullptr && t->read && (t->state == TaskState::kSending || t->state == TaskState::kSent);
  switch (type) {
    case kSnackData:
      if (answered) {
        RetransmitDataIn(t, beg, run);
        return;
      }
      if (t->write && t->state == TaskState::kCollecting) {
        // R2T SNACK: the outstanding R2Ts numbered in the run go again, unchanged.
        for (const R2t& r : t->r2ts) {
          if (!r.used || !InRun(r.sn, beg, run)) continue;
          Bhs h;
          h.set_opcode(Opcode::kR2t);
          h.b[1] = 0x80;
          h.set_lun_raw(t->lun_raw);
          h.set_itt(t->itt);
          h.Put32(20, r.ttt);
          FillSeq(&h, false);
          h.Put32(36, r.sn);
          h.Put32(40, r.offset);
          h.Put32(44, r.length);
          QueuePdu(h, nullptr, 0, true, nullptr);
        }
        return;
      }
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
    case kSnackStatus:
      // Responses already acknowledged are gone; the ones still queued will arrive.
      for (Task* r : retained_) {
        if (r->state == TaskState::kSent && r->conn == this && InRun(r->stat_sn, beg, run)) {
          RetransmitStatus(r);
        }
      }
      return;
    case kSnackRData:
      // Resegmentation (RFC 7143 11.16.3): every Data-In again, cut to the current
      // MaxRecvDataSegmentLength, with the status.
      if (answered && beg == 0 && run == 0) {
        t->data_in_segment = max_xmit_;
        RetransmitDataIn(t, 0, 0);
        return;
      }
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
    default:  // DataACK: the target never asks for one (no A bit)
      SendReject(RejectReason::kProtocolError, rx_.header());
      return;
  }
}

void Connection::RetransmitDataIn(Task* t, uint32_t beg, uint32_t run) {
  const uint32_t n =
      std::min(std::min(t->data_in_length, t->edtl), static_cast<uint32_t>(t->data.size()));
  const uint32_t seg = std::max<uint32_t>(t->data_in_segment, 512);
  const uint32_t max_burst = session_->transfer().max_burst;
  uint32_t off = 0;
  uint32_t sn = 0;
  while (off < n) {
    DataInSlice s = NextDataIn(off, n, seg, max_burst);
    bool last = s.offset + s.length == n;
    if (InRun(sn, beg, run)) {
      SendDataIn(t, s, sn, last, last && t->status_in_data ? t->stat_sn : kReserved, true);
    }
    off += s.length;
    sn++;
  }
}

void Connection::RetransmitStatus(Task* t) {
  if (t->status_in_data) {
    // The last Data-In carries the status; count them as they were cut (an R-Data SNACK
    // may have cut them anew).
    const uint32_t n =
        std::min(std::min(t->data_in_length, t->edtl), static_cast<uint32_t>(t->data.size()));
    const uint32_t seg = std::max<uint32_t>(t->data_in_segment, 512);
    uint32_t count = 0;
    for (uint32_t off = 0; off < n; count++) {
      off += NextDataIn(off, n, seg, session_->transfer().max_burst).length;
    }
    if (count > 0) RetransmitDataIn(t, count - 1, 1);
  } else {
    SendScsiResponse(t, t->stat_sn);
  }
}

void Connection::TakeReassigned(Task* t, uint32_t exp_data_sn) {
  t->conn = this;
  LOG_INFO("iscsi: task ITT 0x%x reassigned to %s", t->itt, Describe().c_str());
  switch (t->state) {
    case TaskState::kHeld:
      break;  // delivered here when its CmdSN comes
    case TaskState::kCollecting:
      if (!t->delivered) {
        if (!t->budget_wait) Deliver(t);
        break;
      }
      // RFC 7143 6.2.2: the Data-Out not received yet is asked for with new R2Ts.
      if (!t->data_error) SendR2ts(t);
      CheckDataDone(t);
      break;
    case TaskState::kInCore:
      in_core_++;  // its response comes here
      break;
    case TaskState::kDone:
    case TaskState::kSent:
      // Its response may never have reached the initiator: sent again, here, the Data-In
      // from the initiator's ExpDataSN.
      // Cut as before, the Data-In resume at ExpDataSN; cut otherwise (another
      // MaxRecvDataSegmentLength here), they all go again.
      SendCommandResponse(t, t->read && t->data_in_segment == max_xmit_ ? exp_data_sn : 0);
      break;
    case TaskState::kFree:
    case TaskState::kSending:
      break;
  }
  ScheduleFlush();
}

}  // namespace modtgt::iscsi
