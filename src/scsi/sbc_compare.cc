// SPDX-License-Identifier: Apache-2.0
// SBC-4 commands that compare data: VERIFY (10/12/16), WRITE AND VERIFY (10/12/16),
// COMPARE AND WRITE, and ORWRITE (16), which reads, combines and writes like COMPARE AND
// WRITE does. Each runs two or three backend I/Os in a row, continuing in cmd->io.done on
// the owning loop, with its state in cmd->sbc. The emulated COMPARE AND WRITE and ORWRITE
// hold their LBA range (sbc_range_lock.cc) from the read to the write.
#include <cstddef>
#include <cstdint>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc_internal.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi::sbc_internal {
namespace {

// BYTCHK (byte 1 bits 2-1) of VERIFY and WRITE AND VERIFY.
uint8_t Bytchk(const Command* cmd) {
  return static_cast<uint8_t>((cmd->cdb[1] & kCdbBytchkMask) >> kCdbBytchkShift);
}

// Sets MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION with INFORMATION = offset, the
// offset of the first byte that did not compare (SBC-4 5.3, 5.33).
void SetMiscompare(Command* cmd, uint64_t offset) {
  SetCheckConditionInfo(cmd, SenseKey::kMiscompare, asc::kMiscompareDuringVerify, offset);
}

// Reads cmd->sbc's range into cmd->data at `at` (growing the buffer to at + the range)
// and continues with `done`.
void ReadRangeInto(Command* cmd, uint64_t at, void (*done)(Command*)) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->sbc.blocks * bs;
  cmd->data.Resize(at + n);
  SetupIo(cmd, IoOp::kRead, cmd->sbc.lba * bs, n, cmd->data.data() + at, n, 0, done);
  cmd->lu->backend()->Submit(cmd);
}

// Writes [0, range) of cmd->data to cmd->sbc's range with cmd->sbc.write_flags.
void WriteRange(Command* cmd, void (*done)(Command*)) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->sbc.blocks * bs;
  SetupIo(cmd, IoOp::kWrite, cmd->sbc.lba * bs, n, cmd->data.data(), n, cmd->sbc.write_flags,
          done);
  cmd->lu->backend()->Submit(cmd);
}

// ---- WRITE AND VERIFY (10/12/16): SBC-4 5.42-5.44 ----
// The written bytes [0, n) are compared with what the medium returns, read into [n, 2n).

void WriteVerifyReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  const uint64_t n = cmd->sbc.blocks * cmd->lu->block_size();
  const uint64_t off = FirstMismatch(cmd->data.data(), cmd->data.data() + n, n);
  if (off != n) SetMiscompare(cmd, off);
  Complete(cmd);
}

void WriteVerifyWriteDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  ReadRangeInto(cmd, cmd->sbc.blocks * cmd->lu->block_size(), &WriteVerifyReadDone);
}

// ---- VERIFY (10/12/16): SBC-4 5.33-5.35 ----

// Compare step: Data-Out in [0, compare_bytes), medium in [compare_bytes, + n).
void VerifyCompareDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  const uint64_t cmp_len = cmd->sbc.compare_bytes;
  const uint64_t n = cmd->sbc.blocks * cmd->lu->block_size();
  const uint8_t* out = cmd->data.data();
  const uint8_t* medium = cmd->data.data() + cmp_len;
  uint64_t off = n;
  if (cmp_len == n) {
    off = FirstMismatch(out, medium, n);
  } else {
    // BYTCHK 11b: the single Data-Out block is compared with every block.
    for (uint64_t pos = 0; pos < n; pos += cmp_len) {
      uint64_t m = FirstMismatch(out, medium + pos, cmp_len);
      if (m != cmp_len) {
        off = pos + m;
        break;
      }
    }
  }
  if (off != n) SetMiscompare(cmd, off);
  Complete(cmd);
}

// ---- COMPARE AND WRITE: SBC-4 5.3 ----
// Data-Out: n blocks to compare, then n blocks to write; the medium is read into the
// third n-byte part of cmd->data.

void CawWriteDone(Command* cmd) {
  UnlockRange(cmd);
  IoFinish(cmd);
}

void CawReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK || cmd->aborted.load(std::memory_order_relaxed)) {
    UnlockRange(cmd);
    if (cmd->io.status == MODTGT_STS_OK) cmd->status = Status::kTaskAborted;
    IoFinish(cmd);
    return;
  }
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->sbc.blocks * bs;
  const uint8_t* compare = cmd->data.data();
  const uint8_t* medium = cmd->data.data() + 2 * n;
  const uint64_t off = FirstMismatch(compare, medium, n);
  if (off != n) {
    UnlockRange(cmd);
    SetMiscompare(cmd, off);
    Complete(cmd);
    return;
  }
  SetupIo(cmd, IoOp::kWrite, cmd->sbc.lba * bs, n, cmd->data.data() + n, n,
          cmd->sbc.write_flags, &CawWriteDone);
  cmd->lu->backend()->Submit(cmd);
}

void CawLocked(Command* cmd) {
  ReadRangeInto(cmd, 2 * cmd->sbc.blocks * cmd->lu->block_size(), &CawReadDone);
}

// A native caw() reported MISCOMPARE without an offset: read the range to find it.
void CawNativeLocateDone(Command* cmd) {
  const uint64_t n = cmd->sbc.blocks * cmd->lu->block_size();
  uint64_t off = 0;
  if (cmd->io.status == MODTGT_STS_OK) {
    off = FirstMismatch(cmd->data.data(), cmd->data.data() + 2 * n, n);
    if (off == n) off = 0;  // changed since: the offset is unknown
  }
  cmd->status = Status::kGood;
  SetMiscompare(cmd, off);
  Complete(cmd);
}

void CawNativeDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_MISCOMPARE) {
    IoFinish(cmd);
    return;
  }
  ReadRangeInto(cmd, 2 * cmd->sbc.blocks * cmd->lu->block_size(), &CawNativeLocateDone);
}

// ---- ORWRITE (16): SBC-4 5.14 (read, OR with the Data-Out, write; atomic) ----
// Data-Out in [0, n), medium read into [n, 2n).

void OrWriteWriteDone(Command* cmd) {
  UnlockRange(cmd);
  IoFinish(cmd);
}

void OrWriteReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    UnlockRange(cmd);
    IoFinish(cmd);
    return;
  }
  const uint64_t n = cmd->sbc.blocks * cmd->lu->block_size();
  uint8_t* out = cmd->data.data();
  const uint8_t* medium = out + n;
  for (uint64_t i = 0; i < n; ++i) out[i] |= medium[i];
  WriteRange(cmd, &OrWriteWriteDone);
}

void OrWriteLocked(Command* cmd) {
  ReadRangeInto(cmd, cmd->sbc.blocks * cmd->lu->block_size(), &OrWriteReadDone);
}

}  // namespace

void WriteAndVerify(Command* cmd) {
  // BYTCHK 00b verifies the medium, 01b compares with the Data-Out; the other values are
  // reserved for WRITE AND VERIFY (SBC-4 5.42).
  if (Bytchk(cmd) > 1) {
    SetInvalidField(cmd, true, 1, 2);
    Complete(cmd);
    return;
  }
  LbaRange r;
  if (!PrepareWrite(cmd, &r)) return;
  cmd->sbc.lba = r.lba;
  cmd->sbc.blocks = r.blocks;
  cmd->sbc.write_flags = 0;
  // Either way the written data is read back and compared: a medium that does not
  // return what was written fails the verification.
  WriteRange(cmd, &WriteVerifyWriteDone);
}

void Verify(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const LbaRange r = DecodeRange(cmd->cdb, CdbSizeOf(cmd->cdb[0]));
  const uint8_t bytchk = Bytchk(cmd);
  if (!CheckNoProtect(cmd)) {
    Complete(cmd);
    return;
  }
  if (bytchk == 2) {
    SetInvalidField(cmd, true, 1, 2);
    Complete(cmd);
    return;
  }
  if (!CheckTransferLength(cmd, r) || !CheckRange(cmd, r.lba, r.blocks)) {
    Complete(cmd);
    return;
  }
  const uint32_t bs = lu->block_size();
  const uint64_t n = static_cast<uint64_t>(r.blocks) * bs;
  if (n == 0) {
    Complete(cmd);
    return;
  }
  cmd->sbc.lba = r.lba;
  cmd->sbc.blocks = r.blocks;
  if (bytchk == 0) {
    // Medium verification: the blocks must be readable.
    ReadRangeInto(cmd, 0, &IoFinish);
    return;
  }
  const uint64_t cmp_len = bytchk == 1 ? n : bs;
  cmd->data_out_needed = static_cast<uint32_t>(cmp_len);
  if (DataOutAvailable(cmd, cmp_len) != cmp_len) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidFieldInInformationUnit);
    return;
  }
  cmd->sbc.compare_bytes = cmp_len;
  ReadRangeInto(cmd, cmp_len, &VerifyCompareDone);
}

void CompareAndWrite(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint64_t lba = GetBe64(cmd->cdb + offsetof(CompareAndWriteCdb, logical_block_address));
  constexpr uint16_t kBlocksByte = offsetof(CompareAndWriteCdb, number_of_logical_blocks);
  const uint32_t blocks = cmd->cdb[kBlocksByte];
  const uint32_t bs = lu->block_size();
  if (!CheckNoProtect(cmd)) {
    Complete(cmd);
    return;
  }
  if (blocks > kMaxCompareAndWriteBlocks) {
    SetInvalidField(cmd, true, kBlocksByte);
    Complete(cmd);
    return;
  }
  if (!CheckRange(cmd, lba, blocks)) {
    Complete(cmd);
    return;
  }
  const uint64_t n = static_cast<uint64_t>(blocks) * bs;
  cmd->data_out_needed = static_cast<uint32_t>(2 * n);
  if (blocks == 0) {
    // SBC-4 5.3: zero blocks is not an error -- unless Data-Out came with it (libiscsi's
    // 256-block COMPARE AND WRITE wraps the one-byte field to 0 and expects a failure).
    if (cmd->expected_length != 0) SetInvalidField(cmd, true, kBlocksByte);
    Complete(cmd);
    return;
  }
  // The Data-Out must be exactly the compare and write instances (libiscsi
  // CompareAndWrite.InvalidDataOutSize).
  if (cmd->expected_length != 2 * n || cmd->data.size() < 2 * n) {
    SetInvalidField(cmd, true, kBlocksByte);
    Complete(cmd);
    return;
  }
  const uint32_t fua = (cmd->cdb[1] & kCdbFua) ? MODTGT_IO_FUA : 0;
  cmd->sbc.lba = lba;
  cmd->sbc.blocks = blocks;
  cmd->sbc.write_flags = fua;
  Backend* backend = lu->backend();
  if (backend->has_caw()) {
    SetupIo(cmd, IoOp::kCaw, lba * bs, n, cmd->data.data(), 2 * n, fua, &CawNativeDone);
    backend->Submit(cmd);
    return;
  }
  LockRangeThen(cmd, &CawLocked);
}

void OrWrite(Command* cmd) {
  LbaRange r;
  if (!PrepareWrite(cmd, &r)) return;
  cmd->sbc.lba = r.lba;
  cmd->sbc.blocks = r.blocks;
  cmd->sbc.write_flags = (cmd->cdb[1] & kCdbFua) ? MODTGT_IO_FUA : 0;
  LockRangeThen(cmd, &OrWriteLocked);
}

}  // namespace modtgt::scsi::sbc_internal
