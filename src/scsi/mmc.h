// SPDX-License-Identifier: Apache-2.0
// MMC-6 emulation: a CD/DVD-ROM logical unit (peripheral device type 0x05) over any backing
// store holding an ISO image (2048-byte logical blocks, read only, removable medium):
// READ TOC/PMA/ATIP, GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, READ DISC
// INFORMATION, READ TRACK INFORMATION, MECHANISM STATUS, READ CAPACITY, READ (10/12),
// START STOP UNIT (eject/load), PREVENT ALLOW MEDIUM REMOVAL and the MMC mode pages, next
// to the SPC commands every device type has.
//
// The medium: LogicalUnit::medium_present says whether one is loaded. The administrator
// changes it with EjectMedium / LoadMedium (admin ops `logicalunit eject` / `load`);
// initiators with START STOP UNIT (LOEJ).
//
// Threading: command handlers run on the owning loop. EjectMedium/LoadMedium run on the
// admin thread.
#pragma once

#include <string>

#include "common/status.h"
#include "scsi/device_type.h"

namespace modtgt::scsi {

class LogicalUnit;

// The MMC opcode table (peripheral type 0x05).
const DeviceType& MmcDeviceType();

// Ejects the medium. Refused (Busy, naming the prevention) while any I_T nexus has
// PREVENT ALLOW MEDIUM REMOVAL in force, unless `force`. Every nexus then gets NOT READY
// / MEDIUM NOT PRESENT for media commands (and GET EVENT STATUS NOTIFICATION reports the
// removal). InvalidArgument for a LU that is not removable.
::modtgt::Status EjectMedium(LogicalUnit* lu, bool force);

// Loads (or changes to) the medium named by `cfgstring` ("optical/PATH"): the backend
// switches to it (Backend::Reconfigure, module reconfig CFGSTRING), the medium is present
// and every nexus gets UNIT ATTENTION / NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED
// (28/00). Changing a present medium is refused while prevented, unless `force`. On error
// nothing changed.
::modtgt::Status LoadMedium(LogicalUnit* lu, const std::string& cfgstring, bool force);

}  // namespace modtgt::scsi
