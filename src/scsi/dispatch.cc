// SPDX-License-Identifier: Apache-2.0
// scsi::Submit: the command path from transport to handler (SAM-5 5.14 unit attentions,
// SPC-4 5.13 reservations, CDB validation, backend takeover), and the completion path
// back to the owning loop.
#include "scsi/dispatch.h"

#include "scsi/alua.h"

#include <cstring>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/logical_unit.h"
#include "scsi/mmc.h"
#include "scsi/sbc.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

// The SPC entries, for commands addressed to a LUN that does not exist.
const DeviceType& NoLunType() {
  static const DeviceType* type = new DeviceType("no-lun", kPeripheralUnknown, SpcOps());
  return *type;
}

// CDB length implied by the opcode's group code (SPC-4 4.2.5.1), 0 if unknown.
uint32_t GroupCdbLength(const uint8_t* cdb, uint8_t cdb_len) {
  switch (cdb[0] >> 5) {
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 4: return 16;
    case 5: return 12;
    case 3:
      if (cdb[0] == kVariableLengthCdb) return cdb_len >= 8 ? 8u + cdb[7] : 8u;
      return 0;
    default: return 0;
  }
}

// Commands whose state lives in the SCSI layer (LogicalUnit: unit attentions, the LUN
// map, reservations): never offered to a module's handle_cmd.
bool NeverTakenOver(uint8_t opcode) {
  switch (opcode) {
    case kRequestSense:
    case kReportLuns:
    case kReserve6:
    case kRelease6:
    case kReserve10:
    case kRelease10:
    case kPersistentReserveIn:
    case kPersistentReserveOut:
      return true;
    default:
      return false;
  }
}

void SubmitEnabled(Command* cmd);
void Deliver(Command* cmd);
bool EnterTaskSet(LogicalUnit* lu, Command* cmd);
void ReleaseBlocked(LogicalUnit* lu, bool ordered_done);

void RunCompletion(env::Completion* c) {
  Command* cmd = static_cast<Command*>(c);
  cmd->owner->CommandDone(cmd);
}

void RunIoDone(env::Completion* c) {
  Command* cmd = static_cast<Command*>(c);
  cmd->io.done(cmd);
}

// Checks that do not depend on the LU state: CDB length and CONTROL byte. Returns false
// with sense set on a malformed CDB.
bool CheckCdb(Command* cmd, const OpInfo& op) {
  uint32_t need = op.cdb_length ? op.cdb_length : GroupCdbLength(cmd->cdb, cmd->cdb_len);
  if (cmd->cdb[0] == kVariableLengthCdb) need = GroupCdbLength(cmd->cdb, cmd->cdb_len);
  if (need == 0 || need > cmd->cdb_len || need > kMaxCdbLength) {
    SetInvalidField(cmd, true, 0);
    return false;
  }
  // SAM-5 5.2 CONTROL byte: NACA (bit 2) and LINK (bit 0) are not supported. For the
  // variable-length CDB the CONTROL byte is byte 1 (SPC-4 4.2.4).
  uint16_t control = cmd->cdb[0] == kVariableLengthCdb ? 1 : static_cast<uint16_t>(need - 1);
  uint8_t c = cmd->cdb[control];
  if (c & kControlNaca) {
    SetInvalidField(cmd, true, control, 2);
    return false;
  }
  if (c & kControlLink) {
    SetInvalidField(cmd, true, control, 0);
    return false;
  }
  return true;
}

// Looks up the handler and runs it, after the checks that depend on the entry.
void Execute(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const DeviceType* type = lu->type();
  uint16_t sa = ServiceActionOf(cmd->cdb, cmd->cdb_len);
  const OpInfo* op = type->FindFor(*lu, cmd->cdb[0], sa);
  if (op == nullptr) {
    if (type->HasServiceActions(cmd->cdb[0])) {
      // The opcode exists with other service actions (SPC-4 4.2.5.2), or this LU does not
      // offer this one (OpInfo::supported).
      uint16_t byte = cmd->cdb[0] == kVariableLengthCdb ? 8 : 1;
      SetInvalidField(cmd, true, byte, cmd->cdb[0] == kVariableLengthCdb ? -1 : 4);
    } else {
      SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
    }
    Complete(cmd);
    return;
  }
  if (op->handler == nullptr) {
    SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
    Complete(cmd);
    return;
  }
  op->handler(cmd);
}

void TakeoverDone(Command* cmd) {
  switch (cmd->io.status) {
    case MODTGT_STS_NOT_HANDLED:
      cmd->status = Status::kGood;
      cmd->sense_len = 0;
      cmd->data_in_length = 0;
      cmd->data_zero = false;
      cmd->io = IoRequest{};
      Execute(cmd);
      return;
    case MODTGT_STS_SENSE_SET:
      break;
    default:
      SetStatusFromIo(cmd, cmd->io.status);
      // MODTGT_STS_ZEROS (ABI 1.6): the Data-In the module set reads as zeros.
      if (cmd->io.zeros && cmd->is_good()) cmd->data_zero = true;
      break;
  }
  Complete(cmd);
}

}  // namespace

void Complete(Command* cmd) {
  // Rare path: an ORDERED command is in this LU's task set. Queued commands are enabled
  // after cmd is handed over; the LU is kept alive here because the owner may drop cmd's
  // reference as soon as it has it.
  std::shared_ptr<LogicalUnit> release_lu;
  bool ordered_done = false;
  if (LogicalUnit* lu = cmd->lu.get()) {
    lu->inflight.fetch_sub(1);
    ordered_done = cmd->attr == TaskAttribute::kOrdered;
    if (ordered_done || lu->order_active.load() != 0) release_lu = cmd->lu;
  }
  if (release_lu) {
    Deliver(cmd);
    ReleaseBlocked(release_lu.get(), ordered_done);
    return;
  }
  Deliver(cmd);
}

namespace {

// Hands a finished command to its owner on the owning loop.
void Deliver(Command* cmd) {
  env::EventLoop* loop = cmd->owner->loop();
  if (loop == nullptr || loop->InLoopThread()) {
    cmd->owner->CommandDone(cmd);
    return;
  }
  cmd->run = &RunCompletion;
  loop->PostCompletion(cmd);
}

}  // namespace

void IoDone(Command* cmd, int status) {
  if (status == MODTGT_STS_ZEROS) {
    // Module ABI 1.6: the range reads as zeros and the backend did not write the buffer.
    IoRequest& io = cmd->io;
    if (io.zeros_ok) {
      io.zeros = true;
    } else {
      for (int i = 0; i < io.iovcnt; i++) std::memset(io.iov[i].iov_base, 0, io.iov[i].iov_len);
    }
    status = MODTGT_STS_OK;
  }
  cmd->io.status = status;
  env::EventLoop* loop = cmd->owner->loop();
  if (loop == nullptr || loop->InLoopThread()) {
    cmd->io.done(cmd);
    return;
  }
  cmd->run = &RunIoDone;
  loop->PostCompletion(cmd);
}

void Submit(Command* cmd) {
  cmd->status = Status::kGood;
  cmd->sense_len = 0;
  cmd->data_in_length = 0;
  cmd->data_zero = false;
  cmd->lu.reset();
  if (cmd->cdb_len == 0 || cmd->cdb_len > kMaxCdbLength) {
    cmd->cdb_len = cmd->cdb_len ? static_cast<uint8_t>(kMaxCdbLength) : 0;
    SetInvalidField(cmd, true, 0);
    Complete(cmd);
    return;
  }
  if (cmd->nexus && cmd->nexus->target) cmd->lu = cmd->nexus->target->FindLun(cmd->lun);
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t opcode = cmd->cdb[0];

  if (lu == nullptr) {
    // SAM-5 5.8.3 / SPC-4 6.6.2: INQUIRY reports PERIPHERAL QUALIFIER 3; REPORT LUNS and
    // REQUEST SENSE work; anything else is LOGICAL UNIT NOT SUPPORTED.
    const OpInfo* op = NoLunType().Find(opcode, ServiceActionOf(cmd->cdb, cmd->cdb_len));
    if (op && (op->flags & kOpNoLun) && op->handler && CheckCdb(cmd, *op)) {
      op->handler(cmd);
      return;
    }
    if (cmd->status == Status::kGood) {
      SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kLunNotSupported);
    }
    Complete(cmd);
    return;
  }
  lu->inflight.fetch_add(1);  // seq_cst: pairs with EnterTaskSet's order_active checks
  if (!EnterTaskSet(lu, cmd)) return;  // released later by ReleaseBlocked
  SubmitEnabled(cmd);
}

namespace {

// The part of Submit after the command entered the enabled state (SAM-5 8.6).
void SubmitEnabled(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t opcode = cmd->cdb[0];
  const OpInfo* op = lu->type()->FindFor(*lu, opcode, ServiceActionOf(cmd->cdb, cmd->cdb_len));

  // SAM-5 5.14 / SPC-4 5.14: a pending unit attention is reported (and cleared) by any
  // command except INQUIRY, REPORT LUNS and REQUEST SENSE (REQUEST SENSE reports it as
  // parameter data instead).
  if (op == nullptr || !(op->flags & kOpNoUnitAttention)) {
    Asc ua;
    if (cmd->nexus && lu->TakeUnitAttention(*cmd->nexus, &ua)) {
      SetCheckCondition(cmd, SenseKey::kUnitAttention, ua);
      Complete(cmd);
      return;
    }
  }

  if (op != nullptr) {
    if (!CheckCdb(cmd, *op)) {
      Complete(cmd);
      return;
    }
    // SPC-4 5.15.2.4: this gateway's ALUA state (standby, unavailable, transitioning).
    if (AluaRefuses(cmd, *op)) return;
    if (SanitizeRefuses(cmd, *op)) {
      Complete(cmd);
      return;
    }
    if (cmd->nexus && lu->reservation_active.load(std::memory_order_acquire) &&
        ReservationConflict(lu, *cmd->nexus, *op, cmd->cdb, cmd->cdb_len)) {
      cmd->status = Status::kReservationConflict;
      Complete(cmd);
      return;
    }
    if (op->flags & kOpNeedsMedium) {
      // An offline LU (its store failed to open, or the admin took it offline).
      if (lu->offline()) {
        SetCheckCondition(cmd, SenseKey::kNotReady, asc::kLunNotReadyManualIntervention);
        Complete(cmd);
        return;
      }
      if (MediumRemovable(*lu) && !lu->medium_present.load(std::memory_order_relaxed)) {
        SetCheckCondition(cmd, SenseKey::kNotReady, NoMediumAsc(*lu));
        Complete(cmd);
        return;
      }
    }
    if ((op->flags & kOpWritesMedium) &&
        (lu->readonly() || lu->swp.load(std::memory_order_relaxed))) {
      SetCheckCondition(cmd, SenseKey::kDataProtect, asc::kWriteProtected);
      Complete(cmd);
      return;
    }
  }

  Backend* backend = lu->backend();
  if (backend && backend->has_handle_cmd() && !NeverTakenOver(opcode)) {
    cmd->io = IoRequest{};
    cmd->io.op = IoOp::kHandleCmd;
    cmd->io.zeros_ok = true;  // the Data-In goes to the transport as is
    cmd->io.done = &TakeoverDone;
    backend->Submit(cmd);
    return;
  }
  Execute(cmd);
}

void RunReleased(env::Completion* c) { SubmitEnabled(static_cast<Command*>(c)); }

// SAM-5 8.6 task attributes. Returns true when cmd is enabled now; otherwise it is queued
// on lu->order_blocked and ReleaseBlocked() enables it on its own loop later.
// REQUIRES: lu->inflight already counts cmd.
bool EnterTaskSet(LogicalUnit* lu, Command* cmd) {
  if (cmd->attr == TaskAttribute::kHeadOfQueue) return true;
  const bool ordered = cmd->attr == TaskAttribute::kOrdered;
  if (!ordered && lu->order_active.load() == 0) return true;  // the common case: no lock
  std::lock_guard<std::mutex> l(lu->mutex());
  if (ordered) {
    lu->order_active.fetch_add(1);
    // Older commands still running: everything counted in inflight except the queued
    // ones and this command.
    const uint32_t older = lu->inflight.load() - static_cast<uint32_t>(lu->order_blocked.size()) - 1;
    if (lu->order_blocked.empty() && !lu->ordered_running && older == 0) {
      lu->ordered_running = true;
      return true;
    }
  } else if (lu->order_blocked.empty() && !lu->ordered_running) {
    return true;
  }
  lu->order_blocked.push_back(cmd);
  return false;
}

// Called after a command of lu completed: enables queued commands whose turn came.
void ReleaseBlocked(LogicalUnit* lu, bool ordered_done) {
  std::vector<Command*> enabled;
  {
    std::lock_guard<std::mutex> l(lu->mutex());
    if (ordered_done) {
      lu->ordered_running = false;
      lu->order_active.fetch_sub(1);
    }
    while (!lu->order_blocked.empty() && !lu->ordered_running) {
      Command* front = lu->order_blocked.front();
      if (front->attr == TaskAttribute::kOrdered) {
        const uint32_t older =
            lu->inflight.load() - static_cast<uint32_t>(lu->order_blocked.size());
        if (older != 0) break;
        lu->ordered_running = true;
      }
      lu->order_blocked.pop_front();
      enabled.push_back(front);
    }
  }
  for (Command* c : enabled) {
    env::EventLoop* loop = c->owner->loop();
    if (loop == nullptr) {  // tests without loops
      SubmitEnabled(c);
      continue;
    }
    c->run = &RunReleased;
    loop->PostCompletion(c);
  }
}

}  // namespace

void ResetLogicalUnit(LogicalUnit* lu, const Nexus* by, ResetKind kind) {
  std::lock_guard<std::mutex> lock(lu->mutex());
  // SAM-5 6.3.2, 6.3.3: a hard reset or a LUN reset releases SPC-2 reservations (PR
  // survive) and prevent state, and establishes a unit attention for every I_T nexus --
  // the one that asked for the reset included (as Linux LIO does; libiscsi MultipathIO.Reset expects the UA on every
  // path).
  lu->spc2_reservation_holder = 0;
  lu->UpdateReservationActiveLocked();
  for (auto& [id, st] : lu->nexus_states_locked()) st.prevent_removal = false;
  lu->prevent_count.store(0);
  switch (kind) {
    case ResetKind::kLogicalUnit:
      lu->AddUnitAttentionAllLocked(asc::kLunResetOccurred);
      break;
    case ResetKind::kTargetWarm:
      lu->AddUnitAttentionAllLocked(asc::kBusResetOccurred);
      break;
    case ResetKind::kTargetCold:
      lu->AddUnitAttentionAllLocked(asc::kPowerOnOccurred);
      break;
  }
  // (A nexus that never talked to this LU gets the power-on UA when it first does.)
  (void)by;
}

}  // namespace modtgt::scsi
