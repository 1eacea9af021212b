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

// The LU-side effects of a LUN reset (SAM-5 6.3.3): clears SPC-2 reservations, prevent
// state, and queues the BUS DEVICE RESET FUNCTION OCCURRED unit attention for every nexus
// known to the LU, `by` (the nexus that asked, may be null) included. The transport aborts
// its own in-flight commands itself. Thread-safe.
void ResetLogicalUnit(LogicalUnit* lu, const Nexus* by);

// The device types. Built once, immutable.
const DeviceType& SbcDeviceType();

}  // namespace modtgt::scsi
