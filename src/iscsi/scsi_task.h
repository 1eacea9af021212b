// SPDX-License-Identifier: Apache-2.0
// One SCSI task of an iSCSI session (RFC 7143 3.2.2, 11.3-11.8): a pooled scsi::Command plus
// the iSCSI state of its transfer: ITT and CmdSN, the Data-Out it collects (immediate data,
// unsolicited Data-Out up to FirstBurstLength, and bursts solicited by R2Ts), the Data-In it
// sends, task management marks, and the connection it has allegiance to. Also the pure
// arithmetic of the data path (residuals, Data-In slicing), unit tested on its own.
//
// Who does what: the session's TaskSet (task_set.h) holds the pool and finds tasks by ITT
// and TTT; the Session (session.h) orders them by CmdSN; the connection a task has
// allegiance to receives its PDUs and sends its R2Ts, Data-In and response (scsi_task.cc).
//
// Life of a task (TaskState):
//   kFree -> kCollecting        a SCSI Command PDU took it (Data-Out still arriving)
//   kCollecting <-> kHeld       waiting in the session's held queue for its CmdSN turn
//   kCollecting -> kInCore      all data in: scsi::Submit
//   kInCore -> kSending         the core is done: Data-In / SCSI Response queued
//   kSending -> kFree           the last byte of the response was written (or dropped)
//   kSending -> kSent           ErrorRecoveryLevel >= 1: the response is kept for SNACK
//                               (RFC 7143 6.7) until the initiator's ExpStatSN passes it
//   kSent -> kFree              acknowledged (or the session ends)
//   kInCore -> kDone            back from the core while it has no connection (its
//                               connection failed at ERL 2): waits for TASK REASSIGN
// A task aborted while in the core stays kInCore until the core hands it back. A task whose
// connection failed or was logged out for recovery at ERL 2 is an orphan (conn null, any
// state but kFree) until TASK REASSIGN gives it a new connection or DefaultTime2Retain
// ends it.
//
// Threading: a Task belongs to its session's event loop; only its scsi::Command part is
// touched by the core and a backing store while it is kInCore.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "scsi/command.h"

namespace modtgt::iscsi {

class Connection;

// Most R2Ts one task may have outstanding (MaxOutstandingR2T is clamped to this).
inline constexpr uint32_t kMaxR2tPerTask = 16;

enum class TaskState : uint8_t { kFree, kHeld, kCollecting, kInCore, kSending, kSent, kDone };

// One outstanding R2T (RFC 7143 11.8) and the Data-Out burst answering it.
struct R2t {
  bool used = false;
  uint32_t ttt = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
  uint32_t received = 0;
  uint32_t exp_data_sn = 0;
  uint32_t sn = 0;  // its R2TSN (for an R2T SNACK)
};

struct Task : scsi::Command {
  uint32_t index = 0;  // place in the session's pool (the low 10 bits of its TTTs)
  TaskState state = TaskState::kFree;
  Task* next_free = nullptr;
  Connection* conn = nullptr;  // allegiance: the connection that carries its PDUs
  uint32_t itt = 0;
  uint32_t cmd_sn = 0;
  uint32_t edtl = 0;
  uint64_t lun_raw = 0;
  bool immediate = false;
  bool counted = false;  // holds a CmdSN window slot
  bool read = false;
  bool write = false;
  bool delivered = false;    // reached in CmdSN order
  bool tmf_aborted = false;  // aborted by task management: no response
  bool fail_early = false;   // answered without the core (sense already set)
  bool data_error = false;   // a Data-Out sequence error: fail once the sequences close
  int tmf_slot = -1;         // the pending TMF waiting for it (tmf.h), -1: none
  uint32_t charged = 0;      // bytes counted in the session's data in flight
  bool granted = false;      // its buffer fits the session's data budget (Session::Grant)
  bool budget_wait = false;  // in the session's queue for the data budget
  // Data-Out collection (writes)
  uint32_t received = 0;
  uint32_t unsol_end = 0;  // immediate + unsolicited data end offset
  uint32_t unsol_next = 0;
  uint32_t unsol_data_sn = 0;
  bool unsol_open = false;  // unsolicited Data-Out still expected (no F yet)
  uint32_t next_r2t_offset = 0;
  uint32_t r2t_sn = 0;
  uint32_t r2t_outstanding = 0;
  R2t r2ts[kMaxR2tPerTask];
  // Data ranges [offset, end) to ask for again with recovery R2Ts: lost to a data digest
  // error (ERL 1) or outstanding when the connection failed (ERL 2). Empty on the hot path.
  std::vector<std::pair<uint32_t, uint32_t>> recover;
  // Data-In
  uint32_t data_sn = 0;
  // Statistics: when the SCSI Command PDU arrived (microseconds, CLOCK_MONOTONIC).
  uint64_t start_us = 0;
  uint32_t data_in_segment = 0;  // the data segment length the Data-In was cut with
  bool status_in_data = false;   // the status went in the last Data-In (no SCSI Response)
  uint32_t stat_sn = 0;          // the StatSN of its response (kSending, kSent)
  uint8_t resid_flags = 0;       // the O/U flags of its response (BHS byte 1)
  uint32_t resid_count = 0;      // its residual count
  // Commands in the core across the transport (ConnectionHost::commands_in_core), counted
  // from submission until the core hands the task back, whichever connection then owns it.
  std::atomic<int64_t>* core_counter = nullptr;
  uint64_t orphan_generation = 0;  // Session::OrphanTasks round that left it without one
};

// ---- Pure helpers (unit tested) ----

// Residual over/underflow (RFC 7143 11.4.5): `expected` is the EDTL, `actual` what the
// command transferred (reads) or needed (writes).
struct Residual {
  bool overflow = false;
  bool underflow = false;
  uint32_t count = 0;
};
Residual ComputeResidual(uint32_t expected, uint32_t actual);

// One Data-In PDU of a read: `length` bytes at `offset`; `final` sets the F bit, which ends a
// sequence: at every MaxBurstLength boundary and at the end of the data (RFC 7143 11.7.1).
struct DataInSlice {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool final = false;
};
// REQUIRES: offset < total, max_segment > 0, max_burst > 0.
DataInSlice NextDataIn(uint32_t offset, uint32_t total, uint32_t max_segment, uint32_t max_burst);

// The bytes of buffer a command with this EDTL may hold (ResourceLimits::max_session_data):
// never more than its EDTL, nor than the largest transfer the SCSI layer accepts.
uint32_t BufferCharge(uint32_t edtl);

}  // namespace modtgt::iscsi
