// SPDX-License-Identifier: Apache-2.0
// The SCSI layer's entry points for transports: Submit a command, run task management, and
// build the device types. See docs/architecture.md for the command lifecycle.
//
// Threading: Submit and TaskManagement are called on the command's owning loop.
#pragma once

#include <cstdint>
#include <functional>

#include "scsi/command.h"
#include "scsi/device_type.h"

namespace modtgt::scsi {

class LogicalUnit;

// Executes cmd. cmd->nexus, owner, cdb, lun, dir, expected_length (and data for writes)
// must be set. Finishes by calling cmd->owner->CommandDone(cmd) on the owning loop,
// possibly before Submit returns. Never fails: every error becomes a SCSI status.
void Submit(Command* cmd);

// Finishes cmd (status/sense already set): hands it to its owner on the owning loop.
// Any thread.
void Complete(Command* cmd);

// SAM-5 task management functions and their iSCSI response codes (RFC 7143 11.6.1).
enum class TmfFunction : uint8_t {
  kAbortTask = 1,
  kAbortTaskSet = 2,
  kClearAca = 3,
  kClearTaskSet = 4,
  kLogicalUnitReset = 5,
  kTargetWarmReset = 6,
  kTargetColdReset = 7,
  kTaskReassign = 8,
};

// Which reset an LU goes through; it picks the unit attention (SAM-5 5.14, 6.3):
// - kLogicalUnit: LOGICAL UNIT RESET, BUS DEVICE RESET FUNCTION OCCURRED (29/03);
// - kTargetWarm: iSCSI TARGET WARM RESET, SAM-5's hard reset: SCSI BUS RESET OCCURRED
//   (29/02);
// - kTargetCold: iSCSI TARGET COLD RESET, a power on (RFC 7143 11.5.1): POWER ON
//   OCCURRED (29/01). Its connections are dropped, so a nexus logging in again gets
//   POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (29/00) as any new nexus does.
enum class ResetKind : uint8_t { kLogicalUnit, kTargetWarm, kTargetCold };

// The LU-side effects of a reset (SAM-5 6.3): clears the SPC-2 reservation (persistent
// reservations stay, SPC-4 5.13.1) and the prevent state, and queues the reset's unit
// attention for every nexus known to the LU, `by` (the nexus that asked, may be null)
// included. The transport aborts the commands itself. Thread-safe.
void ResetLogicalUnit(LogicalUnit* lu, const Nexus* by, ResetKind kind = ResetKind::kLogicalUnit);

// The device types. Built once, immutable.
const DeviceType& SbcDeviceType();

}  // namespace modtgt::scsi
