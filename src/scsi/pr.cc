// SPDX-License-Identifier: Apache-2.0
// Persistent reservations (SPC-4 5.13, 6.13 PERSISTENT RESERVE IN, 6.14 PERSISTENT
// RESERVE OUT) and the reservation conflict rules used by dispatch.
//
// Registrations are keyed by I_T nexus ports (initiator port + target port, or any target
// port with ALL_TG_PT), so they survive the loss of the nexus that made them. All state
// lives in LogicalUnit behind its mutex. APTPL (SPC-4 5.13.5): the last REGISTER's APTPL
// bit decides whether the state survives a restart; while it is set, every change is saved
// through the LU's PrPersistence before the command's status goes out (docs/reservations.md).
#include <algorithm>
#include <cstring>
#include <mutex>

#include "common/byteorder.h"
#include "common/log.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

bool ValidType(uint8_t t) {
  return t == kPrTypeWriteExclusive || t == kPrTypeExclusiveAccess ||
         t == kPrTypeWriteExclusiveRegistrantsOnly || t == kPrTypeExclusiveAccessRegistrantsOnly ||
         t == kPrTypeWriteExclusiveAllRegistrants || t == kPrTypeExclusiveAccessAllRegistrants;
}
bool AllRegistrants(uint8_t t) {
  return t == kPrTypeWriteExclusiveAllRegistrants || t == kPrTypeExclusiveAccessAllRegistrants;
}
bool RegistrantsOnly(uint8_t t) {
  return t == kPrTypeWriteExclusiveRegistrantsOnly || t == kPrTypeExclusiveAccessRegistrantsOnly;
}

bool Matches(const PrRegistration& r, const std::string& iport, const std::string& tport) {
  return r.initiator_port == iport && (r.all_tg_pt || r.target_port == tport);
}

PrRegistration* FindReg(LogicalUnit* lu, const Nexus& n) {
  for (auto& r : lu->pr.registrations) {
    if (Matches(r, n.initiator_port, n.target_port)) return &r;
  }
  return nullptr;
}

// REQUIRES: lu->mutex() held.
bool IsHolder(LogicalUnit* lu, const Nexus& n) {
  if (!lu->pr.reserved) return false;
  if (AllRegistrants(lu->pr.type)) return FindReg(lu, n) != nullptr;
  return lu->pr.holder_initiator_port == n.initiator_port &&
         lu->pr.holder_target_port == n.target_port;
}

// REQUIRES: lu->mutex() held.
void ReleaseReservation(LogicalUnit* lu) {
  lu->pr.reserved = false;
  lu->pr.type = 0;
  lu->pr.holder_initiator_port.clear();
  lu->pr.holder_target_port.clear();
  lu->UpdateReservationActiveLocked();
}

// Queues code to every registered I_T nexus except `except`'s ports.
// REQUIRES: lu->mutex() held.
void UaToRegistrants(LogicalUnit* lu, const Nexus& except, Asc code) {
  for (const auto& r : lu->pr.registrations) {
    for (auto& [id, st] : lu->nexus_states_locked()) {
      if (id == except.id) continue;
      if (Matches(r, st.initiator_port, st.target_port)) {
        lu->AddUnitAttentionLocked(id, code);
      }
    }
  }
}

// Removes registration at index i, handling the reservation it may hold (SPC-4 5.13.11.3).
// REQUIRES: lu->mutex() held.
void RemoveRegistration(LogicalUnit* lu, size_t i, const Nexus& by, bool notify_release) {
  PrRegistration r = lu->pr.registrations[i];
  lu->pr.registrations.erase(lu->pr.registrations.begin() + static_cast<long>(i));
  if (!lu->pr.reserved) return;
  if (AllRegistrants(lu->pr.type)) {
    if (lu->pr.registrations.empty()) ReleaseReservation(lu);
    return;
  }
  if (r.initiator_port == lu->pr.holder_initiator_port &&
      (r.all_tg_pt || r.target_port == lu->pr.holder_target_port)) {
    uint8_t type = lu->pr.type;
    ReleaseReservation(lu);
    if (notify_release && RegistrantsOnly(type)) {
      UaToRegistrants(lu, by, asc::kReservationsReleased);
    }
  }
}

// Parameter list of PERSISTENT RESERVE OUT (SPC-4 6.14.3), except REGISTER AND MOVE.
struct ProutParams {
  uint64_t key = 0;
  uint64_t sa_key = 0;
  bool spec_i_pt = false;
  bool all_tg_pt = false;
  bool aptpl = false;
};

void ProutLocked(Command* cmd, LogicalUnit* lu, const Nexus& nexus, uint8_t sa, uint8_t type,
                 const ProutParams& prm);
void ProutApplyLocked(Command* cmd, LogicalUnit* lu, const Nexus& nexus, uint8_t sa, uint8_t type,
                      const ProutParams& prm);

void Conflict(Command* cmd) {
  cmd->status = Status::kReservationConflict;
  cmd->sense_len = 0;
}

void PutTransportId(uint8_t* p, const std::string& port, size_t len) {
  // SPC-4 7.6.4.6 iSCSI TransportID, FORMAT CODE 01b (initiator port: name,i,0xISID).
  p[0] = 0x40 | 0x05;
  PutBe16(p + 2, static_cast<uint16_t>(len - 4));
  std::memcpy(p + 4, port.data(), port.size());
}

size_t TransportIdLength(const std::string& port) {
  size_t n = port.size() + 1;  // NUL terminated
  n = (n + 3) & ~size_t{3};
  if (n < 20) n = 20;
  return 4 + n;
}

}  // namespace

bool ReservationConflict(LogicalUnit* lu, const Nexus& nexus, const OpInfo& op,
                         const uint8_t* cdb, uint8_t cdb_len) {
  if (op.flags & kOpConflictExempt) return false;
  const uint8_t opcode = op.opcode;
  const bool prevent_off = opcode == kPreventAllowMediumRemoval && cdb_len >= 5 && (cdb[4] & 0x03) == 0;
  std::lock_guard<std::mutex> lock(lu->mutex());
  if (lu->spc2_reservation_holder != 0 && lu->spc2_reservation_holder != nexus.id) {
    // SPC-2 5.5.1: only these are allowed from other I_T nexuses. TEST UNIT READY is
    // allowed too: initiators (libiscsi's login) send it right after login and give up
    // on anything but GOOD or a unit attention.
    switch (opcode) {
      case kTestUnitReady:
      case kRequestSense:
      case kInquiry:
      case kRelease6:  // a no-op for a non-holder
      case kRelease10:
      case kLogSense:
      case kReportLuns:
      case kMaintenanceIn:  // REPORT TARGET PORT GROUPS, REPORT SUPPORTED OPERATION CODES...
        return false;
      default:
        return !prevent_off;
    }
  }
  if (!lu->pr.reserved || IsHolder(lu, nexus)) return false;
  // Registrants-only and all-registrants types: every registered I_T nexus has access.
  if ((RegistrantsOnly(lu->pr.type) || AllRegistrants(lu->pr.type)) && FindReg(lu, nexus)) {
    return false;
  }
  // SPC-4 5.13.1 table 44 (and SBC-3 4.17): commands allowed from a non-holder.
  bool always_allowed = false;
  switch (opcode) {
    case kTestUnitReady:
    case kRequestSense:
    case kInquiry:
    case kReadCapacity10:
    case kLogSense:
    case kPersistentReserveIn:
    case kPersistentReserveOut:  // service action rules apply in the handler
    case kReportLuns:
    case kMaintenanceIn:
      always_allowed = true;
      break;
    case kServiceActionIn16:
      always_allowed = op.has_service_action && op.service_action == kSaReadCapacity16;
      break;
    case kPreventAllowMediumRemoval:
      always_allowed = prevent_off;
      break;
    default:
      break;
  }
  if (always_allowed) return false;
  const uint8_t type = lu->pr.type;
  const bool exclusive_access = type == kPrTypeExclusiveAccess || type == kPrTypeExclusiveAccessRegistrantsOnly || type == kPrTypeExclusiveAccessAllRegistrants;
  if (exclusive_access) return true;
  // Write Exclusive types: reads allowed, anything that changes the medium or LU state
  // conflicts.
  if (op.flags & kOpWritesMedium) return true;
  switch (opcode) {
    case kFormatUnit:
    case kModeSelect6:
    case kModeSelect10:
    case kReserve6:
    case kReserve10:
    case kRelease6:
    case kRelease10:
    case kPreventAllowMediumRemoval:  // PREVENT != 0
    case kSynchronizeCache10:
    case kSynchronizeCache16:
    case kWriteBuffer:
    case kLogSelect:
    case kThirdPartyCopyOut:  // EXTENDED COPY: Conflict (SPC-4 5.13.1 table)
      return true;
    default:
      return false;
  }
}

// SPC-4 6.13 PERSISTENT RESERVE IN.
void PersistentReserveIn(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t* cdb = cmd->cdb;
  const uint8_t sa = cdb[1] & 0x1f;
  const uint32_t alloc = GetBe16(cdb + 7);
  if (sa > kSaReadFullStatus) {
    SetInvalidField(cmd, true, 1, 4);
    Complete(cmd);
    return;
  }
  std::vector<uint8_t> out;
  {
    std::lock_guard<std::mutex> lock(lu->mutex());
    switch (sa) {
      case kSaReadKeys: {
        out.resize(8 + 8 * lu->pr.registrations.size());
        PutBe32(out.data(), lu->pr.generation);
        PutBe32(out.data() + 4, static_cast<uint32_t>(8 * lu->pr.registrations.size()));
        size_t off = 8;
        for (const auto& r : lu->pr.registrations) {
          PutBe64(out.data() + off, r.key);
          off += 8;
        }
        break;
      }
      case kSaReadReservation: {
        out.assign(lu->pr.reserved ? 24 : 8, 0);
        PutBe32(out.data(), lu->pr.generation);
        if (lu->pr.reserved) {
          PutBe32(out.data() + 4, 16);
          uint64_t key = 0;
          if (!AllRegistrants(lu->pr.type)) {
            for (const auto& r : lu->pr.registrations) {
              if (r.initiator_port == lu->pr.holder_initiator_port &&
                  (r.all_tg_pt || r.target_port == lu->pr.holder_target_port)) {
                key = r.key;
                break;
              }
            }
          }
          PutBe64(out.data() + 8, key);
          out[21] = lu->pr.type & 0x0f;  // SCOPE 0 (LU_SCOPE)
        }
        break;
      }
      case kSaReportCapabilities: {  // SPC-4 6.13.4
        out.assign(8, 0);
        PutBe16(out.data(), 8);
        // ATP_C: ALL_TG_PT supported; PTPL_C when the LU has somewhere to persist to;
        // SIP_C, CRH = 0.
        out[2] = static_cast<uint8_t>(0x04 | (lu->pr_persistence ? 0x01 : 0));
        // TMV: the type mask is valid; PTPL_A: APTPL is in force.
        out[3] = static_cast<uint8_t>(0x80 | (lu->pr.aptpl ? 0x01 : 0));
        out[4] = 0x80 | 0x40 | 0x20 | 0x08 | 0x02;  // WR_EX_AR EX_AC_RO WR_EX_RO EX_AC WR_EX
        out[5] = 0x01;                              // EX_AC_AR
        break;
      }
      case kSaReadFullStatus: {  // SPC-4 6.13.5
        out.assign(8, 0);
        PutBe32(out.data(), lu->pr.generation);
        for (const auto& r : lu->pr.registrations) {
          size_t tid_len = TransportIdLength(r.initiator_port);
          size_t off = out.size();
          out.resize(off + 24 + tid_len, 0);
          uint8_t* d = out.data() + off;
          PutBe64(d, r.key);
          bool holder = lu->pr.reserved &&
                        (AllRegistrants(lu->pr.type) ||
                         (r.initiator_port == lu->pr.holder_initiator_port &&
                          (r.all_tg_pt || r.target_port == lu->pr.holder_target_port)));
          d[12] = (r.all_tg_pt ? 0x02 : 0) | (holder ? 0x01 : 0);
          if (holder) d[13] = lu->pr.type & 0x0f;
          PutBe16(d + 18, r.relative_port_id);
          PutBe32(d + 20, static_cast<uint32_t>(tid_len));
          PutTransportId(d + 24, r.initiator_port, tid_len);
        }
        PutBe32(out.data() + 4, static_cast<uint32_t>(out.size() - 8));
        break;
      }
      default:
        break;
    }
  }
  uint32_t n = static_cast<uint32_t>(std::min<size_t>(out.size(), alloc));
  cmd->data.Resize(n);
  if (n) std::memcpy(cmd->data.data(), out.data(), n);
  cmd->data_in_length = n;
  Complete(cmd);
}

// SPC-4 6.14 PERSISTENT RESERVE OUT.
void PersistentReserveOut(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const Nexus& nexus = *cmd->nexus;
  const uint8_t* cdb = cmd->cdb;
  const uint8_t sa = cdb[1] & 0x1f;
  const uint8_t scope = cdb[2] >> 4;
  const uint8_t type = cdb[2] & 0x0f;
  const uint32_t plen = GetBe32(cdb + 5);
  cmd->data_out_needed = plen;

  if (sa > kSaRegisterAndIgnoreExistingKey) {  // REGISTER AND MOVE is not supported
    SetInvalidField(cmd, true, 1, 4);
    Complete(cmd);
    return;
  }
  // SPC-4 6.14.3: the basic parameter list is 24 bytes (more only with SPEC_I_PT).
  if (plen != sizeof(ProutParameterList)) {
    SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    Complete(cmd);
    return;
  }
  if (cmd->data.size() < plen) {
    SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    Complete(cmd);
    return;
  }
  const uint8_t* p = cmd->data.data();
  ProutParams prm;
  using L = ProutParameterList;
  prm.key = GetBe64(p + offsetof(L, reservation_key));
  prm.sa_key = GetBe64(p + offsetof(L, service_action_reservation_key));
  prm.spec_i_pt = p[offsetof(L, flags)] & kProutSpecIPt;
  prm.all_tg_pt = p[offsetof(L, flags)] & kProutAllTgPt;
  prm.aptpl = p[offsetof(L, flags)] & kProutAptpl;

  // SPC-4 6.15.3: APTPL counts only for REGISTER and REGISTER AND IGNORE EXISTING KEY;
  // other service actions ignore it. An LU with nowhere to persist to refuses it (PTPL_C 0).
  const bool registers = sa == kSaRegister || sa == kSaRegisterAndIgnoreExistingKey;
  if (!registers) prm.aptpl = false;
  bool can_persist = false;
  {
    std::lock_guard<std::mutex> lock(lu->mutex());
    can_persist = lu->pr_persistence != nullptr;
  }
  if (prm.aptpl && !can_persist) {
    SetInvalidField(cmd, false, offsetof(L, flags), 0);
    Complete(cmd);
    return;
  }
  if (prm.spec_i_pt) {  // SIP_C = 0
    SetInvalidField(cmd, false, offsetof(L, flags), 3);
    Complete(cmd);
    return;
  }
  const bool needs_type =
      sa == kSaReserve || sa == kSaRelease || sa == kSaPreempt || sa == kSaPreemptAndAbort;
  if (needs_type && scope != 0) {
    SetInvalidField(cmd, true, 2, 7);
    Complete(cmd);
    return;
  }
  if (needs_type && !ValidType(type) && !(sa == kSaPreempt || sa == kSaPreemptAndAbort)) {
    SetInvalidField(cmd, true, 2, 3);
    Complete(cmd);
    return;
  }

  ProutLocked(cmd, lu, nexus, sa, type, prm);
  Complete(cmd);
}

namespace {

// REQUIRES: nothing held; takes lu->mutex(). Sets cmd's status, does not complete it.
// Applies the service action; then, if APTPL was or is now in force and the state changed,
// saves it before the status goes out. If the save fails the state is put back as it was
// (a unit attention the change queued stays) and the command ends with HARDWARE ERROR,
// INTERNAL TARGET FAILURE: the initiator is never told GOOD for a change a restart would
// not find.
void ProutLocked(Command* cmd, LogicalUnit* lu, const Nexus& nexus, uint8_t sa, uint8_t type,
                 const ProutParams& prm) {
  std::lock_guard<std::mutex> lock(lu->mutex());
  const PersistentReservations before = lu->pr;
  ProutApplyLocked(cmd, lu, nexus, sa, type, prm);
  const bool registers = sa == kSaRegister || sa == kSaRegisterAndIgnoreExistingKey;
  // SPC-4 5.13.5: the most recent APTPL of a successful REGISTER decides. A REGISTER of
  // key 0 from an unregistered nexus changes nothing (SPC-4 5.13.7), APTPL included.
  if (registers && cmd->status == Status::kGood && !(before == lu->pr && prm.sa_key == 0)) {
    lu->pr.aptpl = prm.aptpl;
  }
  if (lu->pr == before || !(before.aptpl || lu->pr.aptpl) || !lu->pr_persistence) return;
  ::modtgt::Status s = lu->pr_persistence->Save(*lu, lu->pr);
  if (s.ok()) return;
  LOG_ERROR("persistent reservations of %s LUN %llu not saved, the change is refused: %s",
            lu->target_name().c_str(), static_cast<unsigned long long>(lu->lun()),
            s.ToString().c_str());
  lu->pr = before;
  lu->UpdateReservationActiveLocked();
  SetCheckCondition(cmd, SenseKey::kHardwareError, asc::kInternalTargetFailure);
}

// REQUIRES: lu->mutex() held.
void ProutApplyLocked(Command* cmd, LogicalUnit* lu, const Nexus& nexus, uint8_t sa, uint8_t type,
                      const ProutParams& prm) {
  // An SPC-2 reservation by another nexus is handled by dispatch; RESERVE/RELEASE(6/10)
  // are refused while registrations exist (SPC-4 5.13.3).
  PrRegistration* reg = FindReg(lu, nexus);

  switch (sa) {
    case kSaRegister:
    case kSaRegisterAndIgnoreExistingKey: {
      // SPC-4 5.13.7.
      if (sa == kSaRegister && (reg ? reg->key != prm.key : prm.key != 0)) {
        Conflict(cmd);
        break;
      }
      if (reg == nullptr) {
        if (prm.sa_key != 0) {
          PrRegistration r;
          r.key = prm.sa_key;
          r.initiator_port = nexus.initiator_port;
          r.target_port = nexus.target_port;
          r.relative_port_id = nexus.relative_port_id;
          r.all_tg_pt = prm.all_tg_pt;
          lu->pr.registrations.push_back(std::move(r));
          ++lu->pr.generation;
        }
        break;
      }
      if (prm.sa_key == 0) {
        // Unregister (SPC-4 5.13.11.3).
        size_t i = static_cast<size_t>(reg - lu->pr.registrations.data());
        RemoveRegistration(lu, i, nexus, /*notify_release=*/true);
      } else {
        reg->key = prm.sa_key;
      }
      ++lu->pr.generation;
      break;
    }
    case kSaReserve: {
      // SPC-4 5.13.9.
      if (reg == nullptr || reg->key != prm.key) {
        Conflict(cmd);
        break;
      }
      if (lu->pr.reserved) {
        if (!IsHolder(lu, nexus) || lu->pr.type != type) Conflict(cmd);
        break;
      }
      lu->pr.reserved = true;
      lu->pr.type = type;
      lu->pr.holder_initiator_port = nexus.initiator_port;
      lu->pr.holder_target_port = nexus.target_port;
      lu->UpdateReservationActiveLocked();
      break;
    }
    case kSaRelease: {
      // SPC-4 5.13.11.2.
      if (reg == nullptr || reg->key != prm.key) {
        Conflict(cmd);
        break;
      }
      if (!lu->pr.reserved || !IsHolder(lu, nexus)) break;
      if (lu->pr.type != type) {
        SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kInvalidReleaseOfPersistentReservation);
        break;
      }
      uint8_t old = lu->pr.type;
      ReleaseReservation(lu);
      // Registrants-only and all-registrants: the other registrants learn of it; the
      // releasing nexus itself does not get a unit attention.
      if (old != kPrTypeWriteExclusive && old != kPrTypeExclusiveAccess) {
        UaToRegistrants(lu, nexus, asc::kReservationsReleased);
      }
      break;
    }
    case kSaClear: {
      // SPC-4 5.13.11.2.6.
      if (reg == nullptr || reg->key != prm.key) {
        Conflict(cmd);
        break;
      }
      UaToRegistrants(lu, nexus, asc::kReservationsPreempted);
      lu->pr.registrations.clear();
      ReleaseReservation(lu);
      ++lu->pr.generation;
      break;
    }
    case kSaPreempt:
    case kSaPreemptAndAbort: {
      // SPC-4 5.13.11.4. PREEMPT AND ABORT acts as PREEMPT: the transport aborts no tasks.
      if (reg == nullptr || reg->key != prm.key) {
        Conflict(cmd);
        break;
      }
      const bool reserved = lu->pr.reserved;
      const bool all_reg = reserved && AllRegistrants(lu->pr.type);
      uint64_t holder_key = 0;
      if (reserved && !all_reg) {
        for (const auto& r : lu->pr.registrations) {
          if (r.initiator_port == lu->pr.holder_initiator_port &&
              (r.all_tg_pt || r.target_port == lu->pr.holder_target_port)) {
            holder_key = r.key;
            break;
          }
        }
      }
      const bool takes_reservation =
          reserved && ((all_reg && prm.sa_key == 0) || (!all_reg && prm.sa_key == holder_key));
      if (takes_reservation && !ValidType(type)) {
        SetInvalidField(cmd, true, 2, 3);
        break;
      }
      if (!takes_reservation && prm.sa_key == 0) {
        SetInvalidField(cmd, false, 8);
        break;
      }
      // Remove the preempted registrations (all others for all-registrants with key 0).
      std::vector<PrRegistration> removed;
      std::vector<PrRegistration> kept;
      for (auto& r : lu->pr.registrations) {
        bool self = Matches(r, nexus.initiator_port, nexus.target_port);
        bool hit = (all_reg && prm.sa_key == 0) ? !self : (r.key == prm.sa_key && !self);
        (hit ? removed : kept).push_back(r);
      }
      if (removed.empty() && !takes_reservation) {
        Conflict(cmd);
        break;
      }
      for (const auto& r : removed) {
        for (auto& [id, st] : lu->nexus_states_locked()) {
          if (id != nexus.id && Matches(r, st.initiator_port, st.target_port)) {
            lu->AddUnitAttentionLocked(id, asc::kRegistrationsPreempted);
          }
        }
      }
      lu->pr.registrations = std::move(kept);
      if (takes_reservation) {
        const uint8_t old_type = lu->pr.type;
        lu->pr.reserved = true;
        lu->pr.type = type;
        lu->pr.holder_initiator_port = nexus.initiator_port;
        lu->pr.holder_target_port = nexus.target_port;
        lu->UpdateReservationActiveLocked();
        if (old_type != type) {
          // The remaining registrants lose their view of the old reservation.
          UaToRegistrants(lu, nexus, asc::kReservationsReleased);
        }
      } else if (all_reg && lu->pr.registrations.empty()) {
        ReleaseReservation(lu);
      }
      ++lu->pr.generation;
      break;
    }
    default:
      SetInvalidField(cmd, true, 1, 4);
      break;
  }
}

}  // namespace
}  // namespace modtgt::scsi
