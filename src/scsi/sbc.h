// SPDX-License-Identifier: Apache-2.0
// SBC-4 block command emulation (direct-access block device, peripheral type 0x00):
// READ/WRITE (6/10/12/16), VERIFY, WRITE AND VERIFY, WRITE SAME, UNMAP, COMPARE AND
// WRITE, ORWRITE, PRE-FETCH, SYNCHRONIZE CACHE, READ CAPACITY (10/16), GET LBA STATUS,
// READ DEFECT DATA. The table itself is SbcDeviceType() (declared in scsi/dispatch.h); the
// code is in sbc.cc and the sbc_*.cc files next to it (listed in scsi/sbc_internal.h).
//
// This header also holds the block limits that the SPC side reports in VPD pages 0xB0
// (Block Limits) and 0xB2 (Logical Block Provisioning), so the limits advertised and the
// limits enforced come from one place.
//
// Threading: handlers run on the command's owning loop and finish through
// scsi::Complete(). The helpers below are pure functions of the LU's immutable config and
// backend capabilities: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modtgt::scsi {

class LogicalUnit;
struct Command;
struct OpInfo;

// The Block Limits (VPD 0xB0) numbers that these handlers enforce --
// kMaxCompareAndWriteBlocks, kMaxUnmapBlockDescriptors, kMaxUnmapLbaCount,
// kMaxWriteSameBlocks and MaxTransferBlocks(lu) -- live in scsi/spc.h, next to the VPD
// code that advertises them.

// Bytes per backend write when WRITE SAME is emulated with write().
inline constexpr uint32_t kWriteSameChunkBytes = 1u << 20;

// The transfer length READ, WRITE, VERIFY, WRITE AND VERIFY and ORWRITE accept before
// answering ILLEGAL REQUEST / INVALID FIELD IN CDB: exactly the MAXIMUM TRANSFER LENGTH
// that VPD 0xB0 advertises, MaxTransferBlocks(lu) (scsi/spc.h). Kept for callers; equal
// to MaxTransferBlocks(lu).
uint32_t SbcMaxTransferBlocks(const LogicalUnit& lu);

// Logical block provisioning management is enabled (READ CAPACITY (16) LBPME, VPD 0xB2
// LBPU/LBPWS/LBPWS10, UNMAP, WRITE SAME with UNMAP): the administrator asked for thin
// provisioning (LuConfig::thin_provisioning) and the backend can unmap.
bool SbcLbpEnabled(const LogicalUnit& lu);
// LBPRZ (READ CAPACITY (16), VPD 0xB2): unmapped blocks read back as zeros. True when
// SbcLbpEnabled() and Backend::thin() (MODTGT_CAP_THIN guarantees zeros after unmap).
bool SbcLbprz(const LogicalUnit& lu);

// SANITIZE (SBC-4 4.11, sbc_sanitize.cc): true, with cmd's status and sense set, when the
// LU's sanitize state refuses the command whose table entry is op: NOT READY / SANITIZE IN
// PROGRESS (with the progress indication) while a sanitize operation runs, except for
// INQUIRY, REPORT LUNS, REQUEST SENSE and REPORT SUPPORTED OPERATION CODES; MEDIUM ERROR /
// SANITIZE COMMAND FAILED for medium access while in sanitize failure mode (a SANITIZE
// itself goes through). Lock-free; on the command's owning loop.
bool SanitizeRefuses(Command* cmd, const OpInfo& op);
// BLOCK ERASE is offered where unmapping gives zeros: thin provisioning with LBPRZ
// (the Block Device Characteristics VPD page's WABEREQ says so).
bool SbcCanBlockErase(const LogicalUnit& lu);

// The CAW/ORWRITE range-lock table's entry count (for tests: 0 when nothing is held or
// waiting anywhere).
size_t SbcRangeLockEntriesForTest();

}  // namespace modtgt::scsi
