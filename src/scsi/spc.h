// SPDX-License-Identifier: Apache-2.0
// SPC-4 commands shared by every device type (INQUIRY and VPD pages, MODE SENSE/SELECT,
// REPORT LUNS, REQUEST SENSE, TEST UNIT READY, REPORT SUPPORTED OPERATION CODES, START STOP
// UNIT, PREVENT ALLOW MEDIUM REMOVAL, RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT): spc.cc,
// with MODE SENSE/SELECT in spc_mode.cc and persistent reservations in pr.cc.
// Handlers run on the command's owning loop; they take the LU mutex where they touch
// shared LU state.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "scsi/command.h"
#include "scsi/device_type.h"

namespace modtgt::scsi {

// The SPC entries every device type's table starts from (named, not positional).
std::vector<OpInfo> SpcOps();

class LogicalUnit;

// Limits advertised in the Block Limits VPD page (SBC-3 6.5.3) that the SBC handlers must
// enforce (they are here so both sides use the same numbers).
inline constexpr uint32_t kMaxCompareAndWriteBlocks = 1;
inline constexpr uint32_t kMaxUnmapBlockDescriptors = 256;  // finite on purpose
inline constexpr uint32_t kMaxUnmapLbaCount = 0xffffffffu;  // no limit
inline constexpr uint64_t kMaxWriteSameBlocks = 0x400000;   // 4 Mi blocks
// MAXIMUM TRANSFER LENGTH (VPD 0xB0) in blocks, advertised and enforced alike:
// LuConfig::max_transfer_blocks, or kDefaultMaxTransferBytes by default, never more than
// kMaxTransferBytes. 64 MiB is the largest write the iSCSI transport accepts
// (iscsi::Connection::kMaxWriteLength) and it covers libiscsi's largest single transfer
// (WriteSame16.Unmap writes 65536 blocks of 512 bytes = 32 MiB in one WRITE (16)).
inline constexpr uint32_t kDefaultMaxTransferBytes = 64u << 20;
inline constexpr uint32_t kMaxTransferBytes = 64u << 20;
// OPTIMAL TRANSFER LENGTH (VPD 0xB0): 1 MiB, or the maximum if that is smaller.
inline constexpr uint32_t kOptimalTransferBytes = 1u << 20;
uint32_t MaxTransferBlocks(const LogicalUnit& lu);
// READ CAPACITY (16) LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT: the LU presents 4 KiB
// physical blocks (0 when the logical block is 4 KiB or larger).
inline constexpr uint32_t kPhysicalBlockBytes = 4096;
uint8_t PhysicalBlockExponent(const LogicalUnit& lu);
// WRITE ATOMIC (16) limits in logical blocks (Block Limits VPD MAXIMUM ATOMIC TRANSFER
// LENGTH, ATOMIC ALIGNMENT, ATOMIC TRANSFER LENGTH GRANULARITY), advertised and enforced
// alike: the backend's AtomicLimits in blocks, clamped to MaxTransferBlocks(lu).
// max_blocks 0: the LU has no atomic writes (and does not offer WRITE ATOMIC (16)), also
// when the backend's limits cannot be expressed in whole blocks.
struct AtomicBlockLimits {
  uint32_t max_blocks = 0;
  uint32_t alignment = 1;
  uint32_t granularity = 1;
};
AtomicBlockLimits AtomicLimitsOf(const LogicalUnit& lu);

// The LU's NAA IEEE Registered Extended designator (NAA 6, 16 bytes) that VPD page 0x83
// reports with association "logical unit": from LuConfig::naa, or derived from the target
// name and LUN. What EXTENDED COPY identifies copy targets by.
std::array<uint8_t, 16> LuNaaDesignator(const LogicalUnit& lu);

// MODE SENSE (6/10) / MODE SELECT (6/10) (SPC-4 6.9-6.12), implemented in spc_mode.cc.
// One handler each for both CDB sizes.
void ModeSense(Command* cmd);
void ModeSelect(Command* cmd);

// PERSISTENT RESERVE IN / OUT (SPC-4 6.13, 6.14), implemented in pr.cc. One handler per
// opcode; the service action is decoded inside.
void PersistentReserveIn(Command* cmd);
void PersistentReserveOut(Command* cmd);

// True if an SPC-2 reservation (SPC-2 5.5.1) or a persistent reservation (SPC-4 5.13.1,
// table "SPC commands that are allowed in the presence of various reservations") held by
// another I_T nexus forbids cmd (whose entry is op) from nexus. Takes lu->mutex().
bool ReservationConflict(LogicalUnit* lu, const Nexus& nexus, const OpInfo& op,
                         const uint8_t* cdb, uint8_t cdb_len);

}  // namespace modtgt::scsi
