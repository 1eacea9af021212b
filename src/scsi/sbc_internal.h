// SPDX-License-Identifier: Apache-2.0
// What the SBC emulation's files share, and nothing else includes: the CDB decoding and
// checks every block command makes, the backend I/O set-up, the command handlers the table
// in sbc.cc points at, the step driver (sbc_provisioning.cc) and the LBA range lock
// (sbc_range_lock.cc). The public face of SBC is scsi/sbc.h and SbcDeviceType().
//
// The files:
//   sbc.cc              the table, READ/WRITE (the hot path), PRE-FETCH, SYNCHRONIZE CACHE
//   sbc_capacity.cc     READ CAPACITY (10/16), READ DEFECT DATA
//   sbc_compare.cc      VERIFY, WRITE AND VERIFY, COMPARE AND WRITE, ORWRITE
//   sbc_provisioning.cc WRITE SAME, UNMAP, GET LBA STATUS, and the step driver
//   sbc_range_lock.cc   the LBA range lock of the COMPARE AND WRITE / ORWRITE emulation
//   sbc_sanitize.cc     SANITIZE and the sanitize operation that outlives its command
//
// Threading: everything runs on the command's owning loop, except the range lock's table,
// which has its own mutex.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "common/byteorder.h"
#include "scsi/command.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc.h"
#include "scsi/sense.h"
#include "scsi/spec.h"

namespace modtgt::scsi::sbc_internal {

// ---- CDB decoding ----

struct LbaRange {
  uint64_t lba = 0;
  uint32_t blocks = 0;
  uint16_t length_byte = 0;  // where the transfer length field starts (for field pointers)
};

// READ/WRITE/VERIFY/WRITE AND VERIFY/ORWRITE/PRE-FETCH/SYNCHRONIZE CACHE layouts by CDB
// size (scsi/spec.h Rw6Cdb ... Rw16Cdb): 6, 10, 12, 16 bytes.
inline LbaRange DecodeRange(const uint8_t* cdb, int size) {
  LbaRange r;
  switch (size) {
    case 6: {  // READ (6)/WRITE (6): 21-bit LBA; transfer length 0 means 256 (SBC-4 5.15)
      const uint8_t* lba = cdb + offsetof(Rw6Cdb, logical_block_address);
      r.lba = static_cast<uint64_t>(lba[0] & 0x1f) << 16 | GetBe16(lba + 1);
      const uint8_t n = cdb[offsetof(Rw6Cdb, transfer_length)];
      r.blocks = n ? n : 256;
      r.length_byte = offsetof(Rw6Cdb, transfer_length);
      break;
    }
    case 10:
      r.lba = GetBe32(cdb + offsetof(Rw10Cdb, logical_block_address));
      r.blocks = GetBe16(cdb + offsetof(Rw10Cdb, transfer_length));
      r.length_byte = offsetof(Rw10Cdb, transfer_length);
      break;
    case 12:
      r.lba = GetBe32(cdb + offsetof(Rw12Cdb, logical_block_address));
      r.blocks = GetBe32(cdb + offsetof(Rw12Cdb, transfer_length));
      r.length_byte = offsetof(Rw12Cdb, transfer_length);
      break;
    default:  // 16
      r.lba = GetBe64(cdb + offsetof(Rw16Cdb, logical_block_address));
      r.blocks = GetBe32(cdb + offsetof(Rw16Cdb, transfer_length));
      r.length_byte = offsetof(Rw16Cdb, transfer_length);
      break;
  }
  return r;
}

// The CDB size of an opcode by its group code (SPC-4 4.2.5.1), for the READ/WRITE family.
inline int CdbSizeOf(uint8_t opcode) {
  switch (opcode >> 5) {
    case 0: return 6;
    case 1:
    case 2: return 10;
    case 5: return 12;
    default: return 16;
  }
}

// ---- Common checks; each sets CHECK CONDITION and returns false on failure ----

// SBC-4 4.5: the range [lba, lba + blocks) must lie within the medium. An LBA equal to
// the capacity with zero blocks is allowed (libiscsi Unmap.ZeroBlocks). No overflow:
// compares against nb - lba only once lba <= nb is known.
inline bool CheckRange(Command* cmd, uint64_t lba, uint64_t blocks) {
  uint64_t nb = cmd->lu->num_blocks();
  if (lba > nb || blocks > nb - lba) {
    SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
    return false;
  }
  return true;
}

// RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT (byte 1 bits 7-5) must be zero: protection
// information is not supported (SBC-4 4.22.2: "... shall terminate the command with
// ILLEGAL REQUEST / INVALID FIELD IN CDB").
inline bool CheckNoProtect(Command* cmd) {
  if (cmd->cdb[1] & kCdbProtectMask) {
    SetInvalidField(cmd, true, 1, 7);
    return false;
  }
  return true;
}

// SBC-4 6.6.4 (Block Limits VPD): a TRANSFER LENGTH above MAXIMUM TRANSFER LENGTH is
// ILLEGAL REQUEST / INVALID FIELD IN CDB. Checked before the LBA range, like every other
// CDB field check: the CDB is invalid whatever the medium size (as Linux LIO does), so
// an oversized transfer near the end of the medium is not reported as LBA OUT OF RANGE.
inline bool CheckTransferLength(Command* cmd, const LbaRange& r) {
  if (r.blocks > SbcMaxTransferBlocks(*cmd->lu)) {
    SetInvalidField(cmd, true, r.length_byte);
    return false;
  }
  return true;
}

// Bytes of Data-Out usable for a command that wants `needed` bytes: the FCP-4/iSCSI rule
// is to move no more than min(EDTL, SPDTL).
inline uint64_t DataOutAvailable(const Command* cmd, uint64_t needed) {
  return std::min<uint64_t>({needed, cmd->expected_length, cmd->data.size()});
}

// Index of the first differing byte in [a, a+n) vs [b, b+n), or n if equal.
uint64_t FirstMismatch(const uint8_t* a, const uint8_t* b, uint64_t n);

// Checks a write-type CDB (READ/WRITE layouts) and works out the range to write: the
// CDB's, shortened to the Data-Out that arrived (FCP-4 9.4.2). Sets data_out_needed.
// Returns false with the command completed when there is nothing (more) to do.
bool PrepareWrite(Command* cmd, LbaRange* out);

// ---- Backend I/O ----

// Fills cmd->io for one backend I/O of `length` bytes at byte `offset`, with data in
// [buf, buf + buf_len) (none when buf is null), continuing in `done`.
inline void SetupIo(Command* cmd, IoOp op, uint64_t offset, uint64_t length, uint8_t* buf,
                    uint64_t buf_len, uint32_t flags, void (*done)(Command*)) {
  cmd->io.op = op;
  cmd->io.flags = flags;
  cmd->io.offset = offset;
  cmd->io.length = length;
  cmd->io.status = 0;
  cmd->io.zeros_ok = false;
  cmd->io.zeros = false;
  if (buf) {
    cmd->io.iov[0].iov_base = buf;
    cmd->io.iov[0].iov_len = buf_len;
    cmd->io.iovcnt = 1;
  } else {
    cmd->io.iov[0] = {};
    cmd->io.iovcnt = 0;
  }
  cmd->io.iov[1] = {};
  cmd->io.done = done;
}

// The usual last step: maps the backend status and finishes.
void IoFinish(Command* cmd);

// ---- The step driver (sbc_provisioning.cc) ----

// Runs a sequential multi-I/O emulation: step(cmd) prepares cmd->io for the next I/O
// and returns true, or completes the command and returns false; the driver submits each
// I/O, stops at the first error or abort, and loops instead of recursing when a backend
// completes inline. Per-command state lives in cmd->sbc.
void StepStart(Command* cmd, SbcState::StepFn step);

// ---- The LBA range lock (sbc_range_lock.cc) ----

// Takes [cmd->sbc.lba, + cmd->sbc.blocks) of cmd's LU for cmd and runs resume(cmd), now
// or (on the command's owning loop) once the conflicting holders release it.
void LockRangeThen(Command* cmd, SbcState::ResumeFn resume);
// Releases cmd's range and resumes the waiters it unblocks. A no-op without a lock.
void UnlockRange(Command* cmd);
// Entries in the lock table (LUs with a range held or waited for).
size_t RangeLockEntries();

// ---- Handlers (the table in sbc.cc) ----

// sbc.cc
void Read(Command* cmd);
void Write(Command* cmd);
void WriteAtomic(Command* cmd);
void PreFetch(Command* cmd);
void SynchronizeCache(Command* cmd);
// sbc_capacity.cc
void ReadCapacity10(Command* cmd);
void ReadCapacity16(Command* cmd);
void ReadDefectData(Command* cmd);
// sbc_compare.cc
void Verify(Command* cmd);
void WriteAndVerify(Command* cmd);
void CompareAndWrite(Command* cmd);
void OrWrite(Command* cmd);
// sbc_sanitize.cc
void Sanitize(Command* cmd);
bool CanBlockErase(const LogicalUnit& lu);
// sbc_provisioning.cc
void WriteSame(Command* cmd);
void Unmap(Command* cmd);
void GetLbaStatus(Command* cmd);

}  // namespace modtgt::scsi::sbc_internal
