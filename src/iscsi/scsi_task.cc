// SPDX-License-Identifier: Apache-2.0
// The SCSI data path of a connection (RFC 7143 11.3-11.8): SCSI Command PDUs become Tasks,
// their Data-Out is collected into the command's buffer (immediate, unsolicited, and
// solicited by R2Ts), complete tasks go to scsi::Submit, and finished ones go back as
// Data-In (status collapsed into the last one when possible) or a SCSI Response.
#include <time.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "iscsi/connection.h"
#include "scsi/dispatch.h"
#include "scsi/sense.h"
#include "scsi/spc.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;

// BHS byte 1 flags.
constexpr uint8_t kFlagF = 0x80;
constexpr uint8_t kCmdR = 0x40;
constexpr uint8_t kCmdW = 0x20;
constexpr uint8_t kResidOverflow = 0x04;
constexpr uint8_t kResidUnderflow = 0x02;
constexpr uint8_t kDataInS = 0x01;

// For the command statistics' latency (vDSO clock read, no system call).
uint64_t MonotonicUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Pure helpers

Residual ComputeResidual(uint32_t expected, uint32_t actual) {
  Residual r;
  if (actual < expected) {
    r.underflow = true;
    r.count = expected - actual;
  } else if (actual > expected) {
    r.overflow = true;
    r.count = actual - expected;
  }
  return r;
}

uint32_t BufferCharge(uint32_t edtl) { return std::min<uint32_t>(edtl, scsi::kMaxTransferBytes); }

DataInSlice NextDataIn(uint32_t offset, uint32_t total, uint32_t max_segment, uint32_t max_burst) {
  DataInSlice s;
  s.offset = offset;
  uint32_t burst_end = (offset / max_burst + 1) * max_burst;       // next sequence boundary
  if (burst_end < offset || burst_end > total) burst_end = total;  // overflow guard
  s.length = std::min(max_segment, burst_end - offset);
  s.final = offset + s.length == burst_end;
  return s;
}

// ---------------------------------------------------------------------------------------
// SCSI Command (RFC 7143 11.3)

bool Connection::BeginScsiCommand() {
  Bhs bhs = RxBhs();
  uint32_t dsl = bhs.data_segment_length();
  uint8_t flags = bhs.flags();
  uint32_t edtl = bhs.Get32(20);
  if (!session_ || session_->discovery()) {
    // RFC 7143 4.3: a discovery session carries only Text and Logout.
    return false;
  }
  const TransferParams& tp = session_->transfer();
  bool write = flags & kCmdW;
  bool bad = false;
  if (dsl > 0 && (!write || !tp.immediate_data || dsl > edtl || dsl > tp.first_burst)) bad = true;
  if (!(flags & kFlagF) && (!write || tp.initial_r2t)) bad = true;  // unsolicited data not allowed
  if (bad) return false;
  Task* t = session_->tasks().Alloc();
  if (!t) return false;  // cannot happen: CanTake pauses first
  t->start_us = MonotonicUs();
  t->conn = this;
  t->itt = bhs.itt();
  t->cmd_sn = bhs.Get32(24);
  t->edtl = edtl;
  t->immediate = bhs.immediate();
  t->read = flags & kCmdR;
  t->write = write;
  t->lun_raw = bhs.lun_raw();
  t->attr = static_cast<scsi::TaskAttribute>(flags & 0x07);
  if (static_cast<uint8_t>(t->attr) > 4) t->attr = scsi::TaskAttribute::kSimple;
  std::memcpy(t->cdb, rx_.header() + 32, 16);
  t->cdb_len = 16;
  // Extended CDB AHS (RFC 7143 11.2.1.2, type 1).
  size_t ahs_len = rx_.ahs_length();
  const uint8_t* a = rx_.header() + kBhsLength;
  size_t pos = 0;
  while (pos + 4 <= ahs_len) {
    uint16_t len = GetBe16(a + pos);
    uint8_t type = a[pos + 2];
    size_t entry = Pad4(3u + len);
    if (pos + entry > ahs_len || len == 0) {
      t->fail_early = true;
      break;
    }
    if (type == 1) {
      size_t extra = len - 1u;  // first byte is reserved
      if (16 + extra > scsi::kMaxCdbLength) {
        t->fail_early = true;
      } else {
        std::memcpy(t->cdb + 16, a + pos + 4, extra);
        t->cdb_len = static_cast<uint8_t>(16 + extra);
      }
    }
    pos += entry;
  }
  if (t->read && t->write) t->fail_early = true;  // bidirectional commands: not supported
  if (write && edtl > host_->resources().max_write_length) t->fail_early = true;
  if (write && !t->fail_early && !(flags & kFlagF)) {
    // Unsolicited Data-Out follows (up to FirstBurstLength) and may arrive before the task
    // is delivered: room for it now; the whole EDTL once the data budget grants it
    // (Deliver).
    t->data.Resize(std::min(edtl, std::max(tp.first_burst, dsl)));
  } else {
    t->data.Resize(dsl);
  }
  cur_task_ = t;
  return true;
}

void Connection::FinishScsiCommand(bool data_digest_ok) {
  Bhs bhs = RxBhs();
  Task* t = cur_task_;
  cur_task_ = nullptr;
  if (!t || cur_discard_) {
    // Malformed command, or a command in a discovery session (RFC 7143 4.3): Reject; the
    // CmdSN counts as received.
    SendReject(RejectReason::kProtocolError, rx_.header());
    session_->AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
    if (t) session_->ReleaseTask(t);
    return;
  }
  if (!data_digest_ok) {
    // RFC 7143 7.8: Reject with Data-Digest-Error; the command is not taken (its CmdSN
    // neither). At ERL 0 the connection ends; at ERL >= 1 the initiator retries the
    // command with the same ITT and CmdSN (RFC 7143 6.2.1, 6.7).
    session_->ReleaseTask(t);
    SendReject(RejectReason::kDataDigestError, rx_.header());
    if (session_->error_recovery_level() == 0) CloseAfterFlush();
    return;
  }
  uint32_t dsl = bhs.data_segment_length();
  CmdSnWindow& window = session_->window();
  CmdSnWindow::Verdict v = window.Check(t->cmd_sn, t->immediate);
  if (v == CmdSnWindow::Verdict::kDrop) {
    LOG_DEBUG("iscsi: dropping command CmdSN %u outside [%u, %u]", t->cmd_sn, window.exp_cmd_sn(),
              window.MaxCmdSn());
    session_->ReleaseTask(t);
    return;
  }
  if (session_->tasks().Find(t->itt)) {
    // RFC 7143 11.17.1: the ITT names a task still in progress.
    session_->ReleaseTask(t);
    SendReject(RejectReason::kTaskInProgress, rx_.header());
    session_->AdvanceCmdSn(bhs.Get32(24), bhs.immediate());
    return;
  }
  session_->tasks().Insert(t);
  t->received = dsl;
  if (t->write && !t->fail_early) {
    bool unsolicited = !(bhs.flags() & kFlagF);
    t->unsol_end =
        unsolicited ? std::min(t->edtl, std::max(session_->transfer().first_burst, dsl)) : dsl;
    t->unsol_next = dsl;
    t->unsol_open = unsolicited && t->unsol_end > dsl;
    t->next_r2t_offset = t->unsol_end;
  }
  session_->Admit(t, v);
}

void Connection::Deliver(Task* t) {
  // The session's data budget: a task whose buffer does not fit waits in the session's
  // queue (input keeps flowing: the Data-Out of granted writes must get through) and comes
  // back here when enough is released.
  if (!t->granted && !session_->Grant(t)) return;
  if (t->write && !t->fail_early) t->data.Resize(t->edtl);  // keeps the data already in
  t->delivered = true;
  if (t->fail_early) {
    t->status = scsi::Status::kCheckCondition;
    t->sense_len = static_cast<uint8_t>(scsi::BuildSense(t->sense, sizeof(t->sense), false,
                                                         scsi::SenseKey::kIllegalRequest,
                                                         scsi::asc::kInvalidFieldInCdb));
    t->state = TaskState::kInCore;  // SendCommandResponse expects a finished command
    SendCommandResponse(t);
    return;
  }
  if (!t->write) {
    SubmitTask(t);
    return;
  }
  if (!t->data_error) SendR2ts(t);
  CheckDataDone(t);
}

// ---------------------------------------------------------------------------------------
// R2T and Data-Out (RFC 7143 11.7-11.8)

void Connection::SendR2ts(Task* t) {
  const TransferParams& tp = session_->transfer();
  while (t->r2t_outstanding < tp.max_r2t &&
         (!t->recover.empty() || t->next_r2t_offset < t->edtl)) {
    R2t* r = nullptr;
    for (R2t& x : t->r2ts) {
      if (!x.used) {
        r = &x;
        break;
      }
    }
    if (!r) return;
    uint32_t offset;
    uint32_t len;
    if (!t->recover.empty()) {
      // A recovery R2T (RFC 7143 6.7): data lost to a digest error or to a failed
      // connection is asked for again, in bursts of at most MaxBurstLength.
      auto& range = t->recover.front();
      offset = range.first;
      len = std::min(tp.max_burst, range.second - range.first);
      range.first += len;
      if (range.first >= range.second) t->recover.erase(t->recover.begin());
    } else {
      offset = t->next_r2t_offset;
      len = std::min(tp.max_burst, t->edtl - t->next_r2t_offset);
      t->next_r2t_offset += len;
    }
    r->used = true;
    uint32_t ttt = session_->tasks().NewTtt(t->index);
    r->ttt = ttt;
    r->offset = offset;
    r->length = len;
    r->received = 0;
    r->exp_data_sn = 0;
    r->sn = t->r2t_sn;
    t->r2t_outstanding++;
    // RFC 7143 11.8: R2T. StatSN is not advanced.
    Bhs h;
    h.set_opcode(Opcode::kR2t);
    h.b[1] = kFlagF;
    h.set_lun_raw(t->lun_raw);
    h.set_itt(t->itt);
    h.Put32(20, ttt);
    FillSeq(&h, false);
    h.Put32(36, t->r2t_sn++);
    h.Put32(40, r->offset);
    h.Put32(44, len);
    QueuePdu(h, nullptr, 0, true, nullptr);
  }
}

uint8_t* Connection::BeginDataOut() {
  Bhs bhs = RxBhs();
  uint32_t itt = bhs.itt();
  uint32_t ttt = bhs.Get32(20);
  uint32_t data_sn = bhs.Get32(36);
  uint32_t offset = bhs.Get32(40);
  uint32_t dsl = bhs.data_segment_length();
  if (!session_ || session_->discovery()) return nullptr;
  Task* t = nullptr;
  R2t* r = nullptr;
  bool ok;
  if (ttt != kReserved) {
    t = session_->tasks().FindByTtt(ttt, &r);
    // Unknown TTT, or a task of another connection (allegiance, RFC 7143 3.2.5): Reject
    // after the data.
    if (!t || t->itt != itt || t->conn != this) return nullptr;
    // RFC 7143 11.7.4/11.7.5: DataSN counts from 0 in each R2T sequence; with
    // DataPDUInOrder the offsets are consecutive within the burst.
    ok = data_sn == r->exp_data_sn && offset == r->offset + r->received &&
         dsl <= r->length - r->received;
  } else {
    t = session_->tasks().Find(itt);
    if (!t || !t->write || !t->unsol_open || t->conn != this ||
        (t->state != TaskState::kCollecting && t->state != TaskState::kHeld)) {
      return nullptr;
    }
    ok = data_sn == t->unsol_data_sn && offset == t->unsol_next &&
         dsl <= t->unsol_end - t->unsol_next;
  }
  cur_task_ = t;
  cur_r2t_ = r;
  if (t->data_error) return nullptr;  // already failed: swallow the rest of its data
  if (!ok || static_cast<uint64_t>(offset) + dsl > t->data.size()) {
    // ERL0 has no recovery for a sequence error. Rather than dropping the connection, the
    // task fails (CHECK CONDITION once the initiator has closed its open sequences), which
    // is what libiscsi's iSCSIDataSnInvalid expects.
    LOG_WARN("iscsi: bad Data-Out (DataSN %u, offset %u, %u bytes) for ITT 0x%x", data_sn, offset,
             dsl, itt);
    t->data_error = true;
    return nullptr;
  }
  return t->data.data() + offset;
}

void Connection::FinishDataOut(bool data_digest_ok) {
  Bhs bhs = RxBhs();
  Task* t = cur_task_;
  R2t* r = cur_r2t_;
  cur_task_ = nullptr;
  cur_r2t_ = nullptr;
  if (!t) {
    RejectReason why =
        bhs.Get32(20) != kReserved ? RejectReason::kInvalidPduField : RejectReason::kProtocolError;
    SendReject(why, rx_.header());
    return;
  }
  const bool digest_error = !data_digest_ok;
  if (digest_error && session_->error_recovery_level() == 0) {
    // ERL0: no recovery R2T; Reject and drop the connection (RFC 7143 7.8, 7.12).
    SendReject(RejectReason::kDataDigestError, rx_.header());
    CloseAfterFlush();
    return;
  }
  uint32_t dsl = bhs.data_segment_length();
  bool final = bhs.final();
  bool counted = !cur_discard_;
  if (counted && digest_error) {
    // ERL >= 1 (RFC 7143 6.7, 7.8): the PDU is discarded; its place in the sequence
    // counts, and its range is asked for again with a recovery R2T once the sequence ends.
    uint32_t off = bhs.Get32(40);
    t->recover.emplace_back(off, off + dsl);
    LOG_INFO("iscsi: data digest error in Data-Out (ITT 0x%x, offset %u, %u bytes): asking "
             "for it again",
             t->itt, off, dsl);
  }
  if (counted && !digest_error) t->received += dsl;
  if (r) {
    if (counted) {
      r->received += dsl;
      r->exp_data_sn++;
    }
    if (final || (counted && r->received == r->length)) {
      if (counted && r->received != r->length) t->data_error = true;  // burst ended early
      r->used = false;
      t->r2t_outstanding--;
      if (t->delivered && !t->data_error) SendR2ts(t);
    }
  } else {
    if (counted) {
      t->unsol_next += dsl;
      t->unsol_data_sn++;
    }
    if (final) {
      t->unsol_open = false;
      if (t->unsol_next != t->unsol_end) t->data_error = true;  // short first burst
      if (t->delivered && !t->data_error && !t->recover.empty()) SendR2ts(t);
    }
  }
  CheckDataDone(t);
}

void Connection::CheckDataDone(Task* t) {
  if (!t->delivered || t->state != TaskState::kCollecting) return;
  if (t->data_error) {
    if (t->r2t_outstanding == 0 && !t->unsol_open) {
      // SAM-5: the data transfer failed; ABORTED COMMAND / DATA PHASE ERROR.
      t->status = scsi::Status::kCheckCondition;
      t->sense_len = static_cast<uint8_t>(scsi::BuildSense(
          t->sense, sizeof(t->sense), false, scsi::SenseKey::kAbortedCommand, scsi::Asc{0x4b00}));
      SendCommandResponse(t);
    }
    return;
  }
  if (t->received == t->edtl && t->r2t_outstanding == 0 && !t->unsol_open) SubmitTask(t);
}

// ---------------------------------------------------------------------------------------
// To the core and back

void Connection::SubmitTask(Task* t) {
  t->state = TaskState::kInCore;
  t->unsol_open = false;
  t->lun = DecodeLun(t->lun_raw);
  t->dir = t->write ? scsi::DataDirection::kWrite
                    : (t->read ? scsi::DataDirection::kRead : scsi::DataDirection::kNone);
  t->expected_length = t->edtl;
  t->tag = t->itt;
  t->nexus = session_->mutable_nexus();
  t->owner = session_.get();  // the session hands it back to t->conn (CommandDone)
  in_core_++;
  t->core_counter = &host_->commands_in_core();  // Session::CommandDone counts it out
  t->core_counter->fetch_add(1, std::memory_order_relaxed);
  scsi::Submit(t);
}

void Connection::CommandDone(Task* t) {
  in_core_--;
  CountCommand(t, closed_ || t->tmf_aborted || phase_ == Phase::kLogin);
  if (closed_ || t->tmf_aborted || phase_ == Phase::kLogin) {
    // Aborted: no SCSI response (RFC 7143 4.2.3.4 / SAM-5 task aborted silently).
    session_->tmf().TaskDone(t);
    session_->ReleaseTask(t);
    MaybeFinish();
    return;
  }
  // In full feature phase, or logging out: a Logout waits for these (BeginLogout).
  SendCommandResponse(t);
  MaybeSendLogoutResponse();
  ScheduleFlush();
}

void Connection::CountCommand(const Task* t, bool aborted) {
  const uint64_t in = t->read ? std::min<uint64_t>(std::min(t->data_in_length, t->edtl),
                                                   t->data.size())
                              : 0;
  const uint64_t out = t->write ? t->received : 0;
  const bool error = aborted || t->status != scsi::Status::kGood;
  const uint64_t now = MonotonicUs();
  const uint64_t latency = now > t->start_us ? now - t->start_us : 0;
  const int shard = loop()->index();
  if (t->lu) t->lu->stats.Record(shard, t->read, t->write, in, out, error, latency);
  session_->stats().Record(shard, t->read, t->write, in, out, error, latency);
  if (portal_stats_) portal_stats_->Record(shard, t->read, t->write, in, out, error, latency);
}

// ---------------------------------------------------------------------------------------
// Data-In and SCSI Response (RFC 7143 11.7, 11.4)

void Connection::SendCommandResponse(Task* t, uint32_t from_data_sn) {
  uint32_t n = 0;
  Residual r;
  bool residual_valid = true;
  if (t->read) {
    n = std::min(std::min(t->data_in_length, t->edtl), static_cast<uint32_t>(t->data.size()));
    r = ComputeResidual(t->edtl, t->data_in_length);
  } else if (t->write) {
    // RFC 7143 11.4.5: EDTL against what the CDB needed. libiscsi's Write*Residuals expect
    // the overflow residual even with CHECK CONDITION (INVALID FIELD IN INFORMATION UNIT).
    if (t->is_good() || t->data_out_needed > 0) {
      r = ComputeResidual(t->edtl, t->data_out_needed);
    } else {
      residual_valid = false;
    }
  } else {
    r = ComputeResidual(t->edtl, 0);
  }
  t->resid_flags = 0;
  t->resid_count = 0;
  if (residual_valid) {
    if (r.overflow) t->resid_flags |= kResidOverflow;
    if (r.underflow) t->resid_flags |= kResidUnderflow;
    t->resid_count = r.count;
  }
  bool collapse = n > 0 && t->status == scsi::Status::kGood && t->sense_len == 0;
  t->status_in_data = collapse;
  t->data_in_segment = max_xmit_;
  t->state = TaskState::kSending;
  if (collapse) session_->ReleaseSlot(t);  // MaxCmdSN in the final Data-In counts the slot
  uint32_t max_burst = session_->transfer().max_burst;
  // A reassigned task resumes at the initiator's ExpDataSN, but the status always goes.
  uint32_t count = 0;
  for (uint32_t off = 0; off < n; count++) off += NextDataIn(off, n, max_xmit_, max_burst).length;
  if (collapse && from_data_sn >= count) from_data_sn = count - 1;
  uint32_t off = 0;
  uint32_t sn = 0;
  while (off < n) {
    DataInSlice s = NextDataIn(off, n, max_xmit_, max_burst);
    bool last = s.offset + s.length == n;
    if (sn >= from_data_sn) SendDataIn(t, s, sn, last, kReserved, false);
    off += s.length;
    sn++;
  }
  t->data_sn = sn;
  if (!collapse) SendScsiResponse(t);
}

void Connection::SendDataIn(Task* t, const DataInSlice& s, uint32_t data_sn, bool last,
                            uint32_t stat_sn, bool copy) {
  const bool status = last && t->status_in_data;
  Bhs h;
  h.set_opcode(Opcode::kDataIn);
  uint8_t f = s.final ? kFlagF : 0;
  if (status) {
    f |= kFlagF | kDataInS | t->resid_flags;
    h.b[3] = static_cast<uint8_t>(t->status);
    h.Put32(44, t->resid_count);
  }
  h.b[1] = f;
  h.set_lun_raw(t->lun_raw);
  h.set_itt(t->itt);
  h.Put32(20, kReserved);
  FillSeq(&h, status && stat_sn == kReserved);
  if (status && stat_sn != kReserved) h.Put32(24, stat_sn);  // a retransmission keeps it
  if (status) t->stat_sn = h.Get32(24);
  h.Put32(36, data_sn);
  h.Put32(40, s.offset);
  Task* release = (status && !copy) ? t : nullptr;
  if (t->data_zero) {
    // The store said the range reads as zeros (module ABI 1.6): no buffer was filled.
    QueueZeroPdu(h, s.length, release);
    return;
  }
  QueuePdu(h, t->data.data() + s.offset, s.length, copy, release);
}

void Connection::SendScsiResponse(Task* t, uint32_t stat_sn) {
  session_->ReleaseSlot(t);
  const bool retransmit = stat_sn != kReserved;
  Bhs h;
  h.set_opcode(Opcode::kScsiResponse);
  h.b[1] = kFlagF | t->resid_flags;
  h.b[2] = 0;  // command completed at target
  h.b[3] = static_cast<uint8_t>(t->status);
  h.set_itt(t->itt);
  FillSeq(&h, !retransmit);
  if (retransmit) h.Put32(24, stat_sn);
  t->stat_sn = h.Get32(24);
  h.Put32(36, t->data_sn + t->r2t_sn);  // ExpDataSN: Data-In and R2T PDUs sent
  h.Put32(44, t->resid_count);
  uint8_t sense[2 + scsi::kMaxSenseLength];
  uint32_t len = 0;
  if (t->sense_len > 0) {
    uint32_t sl = std::min<uint32_t>(t->sense_len, scsi::kMaxSenseLength);
    PutBe16(sense, static_cast<uint16_t>(sl));
    std::memcpy(sense + 2, t->sense, sl);
    len = 2 + sl;
  }
  QueuePdu(h, sense, len, true, retransmit ? nullptr : t);
}

}  // namespace modtgt::iscsi
