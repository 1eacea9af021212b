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
// The drive model (MMC-6 4.1 / 6.39): a tray that is open or closed and a disc that is in
// it or not. The medium is present (LogicalUnit::medium_present, which dispatch checks for
// kOpNeedsMedium commands) when the tray is closed with a disc in it. START STOP UNIT LOEJ
// opens the tray (the disc stays on it: LOEJ+START brings it back); the admin's eject takes
// the disc away (load puts one in and closes the tray). The tray state and the media events
// for GET EVENT STATUS NOTIFICATION live in a table private to mmc.cc keyed by the LU.
//
// Threading: command handlers run on the owning loop. EjectMedium/LoadMedium run on the
// admin thread. The drive state is guarded by a mutex private to mmc.cc, never held while
// calling the backend or while holding the LU mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "scsi/device_type.h"
#include "scsi/sense.h"

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
// nothing changed. An empty `cfgstring` puts the current medium back (after an eject)
// without touching the backend. The 28/00 unit attention stands for a capacity change
// too: the backend's size change during the switch raises no separate CAPACITY DATA HAS
// CHANGED (SBC-4 4.10 does not apply to MMC; Linux sr revalidates on 28/00).
::modtgt::Status LoadMedium(LogicalUnit* lu, const std::string& cfgstring, bool force);

// ---- Used by the SPC code and dispatch for peripheral type 0x05 ----

// True when the LU has a removable medium: LuConfig::removable, or any MMC LU.
bool MediumRemovable(const LogicalUnit& lu);

// The additional sense code for NOT READY without a medium: MEDIUM NOT PRESENT (3A/00)
// for a removable disk; for MMC, 3A/02 TRAY OPEN or 3A/01 TRAY CLOSED (MMC-6 4.1.6.2).
Asc NoMediumAsc(const LogicalUnit& lu);

// MMC mode pages (MMC-6 7): 0x01 Read/Write Error Recovery, 0x1A Power Condition, 0x2A
// CD/DVD Capabilities and Mechanical Status. Writes the page for page control `pc` (0
// current, 1 changeable, 2 default) into d (at least kMmcModePageMax bytes) and returns
// its length, or 0 when `page` is not one of these.
inline constexpr size_t kMmcModePageMax = 32;
size_t MmcModePage(const LogicalUnit& lu, uint8_t page, uint8_t pc, uint8_t* d);

// The profile GET CONFIGURATION reports as current: 0x0010 DVD-ROM for a medium larger
// than a 90-minute CD (kMaxCdBlocks 2048-byte blocks), else 0x0008 CD-ROM; 0 without a
// medium.
inline constexpr uint64_t kMaxCdBlocks = 405000;  // 90 min x 60 s x 75 sectors
uint16_t MmcCurrentProfile(const LogicalUnit& lu);

}  // namespace modtgt::scsi
