// SPDX-License-Identifier: Apache-2.0
// SBC-4 block commands (direct-access device). Each handler decodes and checks its CDB,
// then either answers at once or issues I/O to the LU's Backend and continues in
// cmd->io.done on the owning loop. Multi-step emulations (WRITE SAME with write(), UNMAP
// with several descriptors) run one backend I/O after another through a small step
// driver that loops instead of recursing when a backend completes inline.
#include "scsi/sbc.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"

namespace modtgt::scsi {
namespace {

// Operation codes (SBC-4 5, table "Commands for direct access block devices").
constexpr uint8_t kRead6 = 0x08;
constexpr uint8_t kWrite6 = 0x0a;
constexpr uint8_t kReadCapacity10 = 0x25;
constexpr uint8_t kRead10 = 0x28;
constexpr uint8_t kWrite10 = 0x2a;
constexpr uint8_t kWriteAndVerify10 = 0x2e;
constexpr uint8_t kVerify10 = 0x2f;
constexpr uint8_t kPreFetch10 = 0x34;
constexpr uint8_t kSynchronizeCache10 = 0x35;
constexpr uint8_t kReadDefectData10 = 0x37;
constexpr uint8_t kWriteSame10 = 0x41;
constexpr uint8_t kUnmap = 0x42;
constexpr uint8_t kRead16 = 0x88;
constexpr uint8_t kCompareAndWrite = 0x89;
constexpr uint8_t kWrite16 = 0x8a;
constexpr uint8_t kOrWrite16 = 0x8b;
constexpr uint8_t kWriteAndVerify16 = 0x8e;
constexpr uint8_t kVerify16 = 0x8f;
constexpr uint8_t kPreFetch16 = 0x90;
constexpr uint8_t kSynchronizeCache16 = 0x91;
constexpr uint8_t kWriteSame16 = 0x93;
constexpr uint8_t kServiceActionIn16 = 0x9e;
constexpr uint16_t kSaReadCapacity16 = 0x10;
constexpr uint16_t kSaGetLbaStatus = 0x12;
constexpr uint8_t kRead12 = 0xa8;
constexpr uint8_t kWrite12 = 0xaa;
constexpr uint8_t kWriteAndVerify12 = 0xae;
constexpr uint8_t kVerify12 = 0xaf;
constexpr uint8_t kReadDefectData12 = 0xb7;

// ILLEGAL REQUEST / INVALID FIELD IN INFORMATION UNIT (SPC-4 annex: 0x0E/0x03), for a
// Data-Out shorter than the CDB asks for and not a whole number of blocks (FCP-4 9.4.2
// option b, which libiscsi's iSCSIResiduals tests accept).
constexpr Asc kInvalidFieldInInformationUnit{0x0e03};

// CDB byte 1 bit 3 (FUA) of READ/WRITE (10/12/16) and friends.
constexpr uint8_t kFuaBit = 0x08;

// ---- CDB decoding ----

struct LbaRange {
  uint64_t lba = 0;
  uint32_t blocks = 0;
  uint16_t length_byte = 0;  // where the transfer length field starts (for field pointers)
};

// READ/WRITE/VERIFY/WRITE AND VERIFY/ORWRITE/PRE-FETCH/SYNCHRONIZE CACHE layouts by CDB
// size (SBC-4 5.x): 6, 10, 12, 16 bytes.
LbaRange DecodeRange(const uint8_t* cdb, int size) {
  LbaRange r;
  switch (size) {
    case 6:  // READ (6)/WRITE (6): 21-bit LBA; transfer length 0 means 256 (SBC-4 5.17)
      r.lba = static_cast<uint64_t>(cdb[1] & 0x1f) << 16 | GetBe16(cdb + 2);
      r.blocks = cdb[4] ? cdb[4] : 256;
      r.length_byte = 4;
      break;
    case 10:
      r.lba = GetBe32(cdb + 2);
      r.blocks = GetBe16(cdb + 7);
      r.length_byte = 7;
      break;
    case 12:
      r.lba = GetBe32(cdb + 2);
      r.blocks = GetBe32(cdb + 6);
      r.length_byte = 6;
      break;
    default:  // 16
      r.lba = GetBe64(cdb + 2);
      r.blocks = GetBe32(cdb + 10);
      r.length_byte = 10;
      break;
  }
  return r;
}

int CdbSizeOf(uint8_t opcode) {
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
bool CheckRange(Command* cmd, uint64_t lba, uint64_t blocks) {
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
bool CheckNoProtect(Command* cmd) {
  if (cmd->cdb[1] & 0xe0) {
    SetInvalidField(cmd, true, 1, 7);
    return false;
  }
  return true;
}

// SBC-4 6.6.4 (Block Limits VPD): a TRANSFER LENGTH above MAXIMUM TRANSFER LENGTH is
// ILLEGAL REQUEST / INVALID FIELD IN CDB. Checked before the LBA range, like every other
// CDB field check: the CDB is invalid whatever the medium size (as Linux LIO does), so
// an oversized transfer near the end of the medium is not reported as LBA OUT OF RANGE.
bool CheckTransferLength(Command* cmd, const LbaRange& r) {
  if (r.blocks > SbcMaxTransferBlocks(*cmd->lu)) {
    SetInvalidField(cmd, true, r.length_byte);
    return false;
  }
  return true;
}

// Bytes of Data-Out usable for a command that wants `needed` bytes: the FCP-4/iSCSI rule
// is to move no more than min(EDTL, SPDTL).
uint64_t DataOutAvailable(const Command* cmd, uint64_t needed) {
  return std::min<uint64_t>({needed, cmd->expected_length, cmd->data.size()});
}

void FailAndComplete(Command* cmd, SenseKey key, Asc code) {
  SetCheckCondition(cmd, key, code);
  Complete(cmd);
}

// Index of the first differing byte in [a, a+n) vs [b, b+n), or n if equal.
uint64_t FirstMismatch(const uint8_t* a, const uint8_t* b, uint64_t n) {
  if (std::memcmp(a, b, n) == 0) return n;
  uint64_t i = 0;
  while (a[i] == b[i]) ++i;
  return i;
}

void SetupIo(Command* cmd, IoOp op, uint64_t offset, uint64_t length, uint8_t* buf,
             uint64_t buf_len, uint32_t flags, void (*done)(Command*)) {
  cmd->io.op = op;
  cmd->io.flags = flags;
  cmd->io.offset = offset;
  cmd->io.length = length;
  cmd->io.status = 0;
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

// The usual last step: map the backend status and finish.
void IoFinish(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) SetStatusFromIo(cmd, cmd->io.status);
  Complete(cmd);
}

// ---- Step driver for sequential multi-I/O emulations ----
//
// core_scratch[0..1]: the step function's own state; [2]: driver flags; [3]: the step
// function. A step function prepares cmd->io for the next I/O and returns true, or
// completes the command itself and returns false.
using StepFn = bool (*)(Command* cmd);
constexpr uint64_t kStepInSubmit = 1;
constexpr uint64_t kStepCompletedInline = 2;

void StepDone(Command* cmd);

// Checks the I/O just completed; false (command completed) on error or abort.
bool StepResultOk(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    SetStatusFromIo(cmd, cmd->io.status);
    Complete(cmd);
    return false;
  }
  if (cmd->aborted.load(std::memory_order_relaxed)) {
    cmd->status = Status::kTaskAborted;
    Complete(cmd);
    return false;
  }
  return true;
}

void StepContinue(Command* cmd) {
  StepFn next = reinterpret_cast<StepFn>(cmd->core_scratch[3]);
  for (;;) {
    if (!next(cmd)) return;
    cmd->io.done = &StepDone;
    cmd->core_scratch[2] = kStepInSubmit;
    cmd->lu->backend()->Submit(cmd);
    bool inline_done = cmd->core_scratch[2] & kStepCompletedInline;
    cmd->core_scratch[2] = 0;
    // Asynchronous: StepDone continues on the owning loop once this handler returns.
    if (!inline_done) return;
    if (!StepResultOk(cmd)) return;
  }
}

void StepDone(Command* cmd) {
  if (cmd->core_scratch[2] & kStepInSubmit) {
    // Completed before Submit returned: let StepContinue's loop go on (no recursion).
    cmd->core_scratch[2] |= kStepCompletedInline;
    return;
  }
  if (StepResultOk(cmd)) StepContinue(cmd);
}

void StepStart(Command* cmd, StepFn next) {
  cmd->core_scratch[2] = 0;
  cmd->core_scratch[3] = reinterpret_cast<uint64_t>(next);
  StepContinue(cmd);
}

// ---- LBA range locks for COMPARE AND WRITE / ORWRITE emulation ----
//
// Emulated read-compare-write and read-or-write must be atomic with respect to each
// other on the same LU (SBC-4 5.3: "atomic ... with respect to other commands"). The
// table is keyed by LogicalUnit* and kept here because LogicalUnit has no field for it;
// entries vanish when nothing is held or waiting, so a destroyed LU leaves nothing
// behind. Plain WRITEs are not fenced (as in Linux LIO's emulation): that would put a
// lock on the hot path.
// Range state while locked: core_scratch[0] = lba, [1] = blocks, [3] = resume function.
struct HeldRange {
  const Command* owner;
  uint64_t lba;
  uint64_t blocks;
};
struct LuRangeLocks {
  std::vector<HeldRange> held;
  std::vector<Command*> waiters;  // FIFO
};

std::mutex g_range_mu;
std::unordered_map<const LogicalUnit*, LuRangeLocks>& RangeTable() {
  static auto* table = new std::unordered_map<const LogicalUnit*, LuRangeLocks>();
  return *table;
}

bool Overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) { return a < b + bn && b < a + an; }

bool ConflictsLocked(const LuRangeLocks& l, uint64_t lba, uint64_t blocks) {
  for (const HeldRange& h : l.held) {
    if (Overlaps(h.lba, h.blocks, lba, blocks)) return true;
  }
  return false;
}

using ResumeFn = void (*)(Command* cmd);

void RunResume(env::Completion* c) {
  Command* cmd = static_cast<Command*>(c);
  reinterpret_cast<ResumeFn>(cmd->core_scratch[3])(cmd);
}

// Takes [core_scratch[0], +core_scratch[1]) for cmd and runs resume(cmd), now or (on the
// command's owning loop) once the conflicting holders release it.
void LockRangeThen(Command* cmd, ResumeFn resume) {
  cmd->core_scratch[3] = reinterpret_cast<uint64_t>(resume);
  {
    std::lock_guard<std::mutex> lock(g_range_mu);
    LuRangeLocks& l = RangeTable()[cmd->lu.get()];
    if (ConflictsLocked(l, cmd->core_scratch[0], cmd->core_scratch[1]) || !l.waiters.empty()) {
      l.waiters.push_back(cmd);
      return;
    }
    l.held.push_back({cmd, cmd->core_scratch[0], cmd->core_scratch[1]});
  }
  resume(cmd);
}

void UnlockRange(Command* cmd) {
  std::vector<Command*> ready;
  {
    std::lock_guard<std::mutex> lock(g_range_mu);
    auto& table = RangeTable();
    auto it = table.find(cmd->lu.get());
    if (it == table.end()) return;
    LuRangeLocks& l = it->second;
    l.held.erase(std::remove_if(l.held.begin(), l.held.end(),
                                [cmd](const HeldRange& h) { return h.owner == cmd; }),
                 l.held.end());
    // Grant waiters in FIFO order; a waiter that still conflicts blocks those behind it
    // only if they overlap it (checked by adding granted ranges first).
    for (auto w = l.waiters.begin(); w != l.waiters.end();) {
      Command* c = *w;
      if (!ConflictsLocked(l, c->core_scratch[0], c->core_scratch[1])) {
        l.held.push_back({c, c->core_scratch[0], c->core_scratch[1]});
        ready.push_back(c);
        w = l.waiters.erase(w);
      } else {
        ++w;
      }
    }
    if (l.held.empty() && l.waiters.empty()) table.erase(it);
  }
  for (Command* c : ready) {
    env::EventLoop* loop = c->owner ? c->owner->loop() : nullptr;
    if (loop == nullptr) {
      RunResume(c);
    } else {
      c->run = &RunResume;
      loop->PostCompletion(c);
    }
  }
}

// ---- READ (6/10/12/16): SBC-4 5.15-5.18 ----

void ReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    cmd->data_in_length = 0;
    SetStatusFromIo(cmd, cmd->io.status);
  }
  Complete(cmd);
}

void Read(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const int size = CdbSizeOf(cmd->cdb[0]);
  const LbaRange r = DecodeRange(cmd->cdb, size);
  if ((size != 6 && !CheckNoProtect(cmd)) || !CheckTransferLength(cmd, r) ||
      !CheckRange(cmd, r.lba, r.blocks)) {
    Complete(cmd);
    return;
  }
  const uint32_t bs = lu->block_size();
  const uint64_t bytes = static_cast<uint64_t>(r.blocks) * bs;
  // The residual is computed from data_in_length vs EDTL; only what the initiator will
  // receive (EDTL rounded up to whole blocks) is read.
  cmd->data_in_length = static_cast<uint32_t>(bytes);
  uint64_t want = std::min<uint64_t>(bytes, (uint64_t{cmd->expected_length} + bs - 1) / bs * bs);
  if (want == 0) {
    Complete(cmd);
    return;
  }
  cmd->data.Resize(want);
  SetupIo(cmd, IoOp::kRead, r.lba * bs, want, cmd->data.data(), want, 0, &ReadDone);
  lu->backend()->Submit(cmd);
}

// ---- WRITE (6/10/12/16): SBC-4 5.38-5.41; WRITE AND VERIFY: 5.42-5.44 ----

// Checks a write-type CDB and works out the bytes to write (core_scratch[1]); false with
// the command completed when there is nothing (more) to do.
bool PrepareWrite(Command* cmd, LbaRange* out) {
  LogicalUnit* lu = cmd->lu.get();
  const int size = CdbSizeOf(cmd->cdb[0]);
  const LbaRange r = DecodeRange(cmd->cdb, size);
  if ((size != 6 && !CheckNoProtect(cmd)) || !CheckTransferLength(cmd, r) ||
      !CheckRange(cmd, r.lba, r.blocks)) {
    Complete(cmd);
    return false;
  }
  const uint32_t bs = lu->block_size();
  const uint64_t bytes = static_cast<uint64_t>(r.blocks) * bs;
  cmd->data_out_needed = static_cast<uint32_t>(bytes);
  // EDTL < SPDTL: write only what was sent (FCP-4 9.4.2 a), in whole blocks, else reject
  // without writing anything (option b). EDTL > SPDTL: write the CDB's amount.
  const uint64_t have = DataOutAvailable(cmd, bytes);
  if (have % bs != 0) {
    FailAndComplete(cmd, SenseKey::kIllegalRequest, kInvalidFieldInInformationUnit);
    return false;
  }
  if (have == 0) {
    Complete(cmd);
    return false;
  }
  *out = r;
  out->blocks = static_cast<uint32_t>(have / bs);
  return true;
}

void Write(Command* cmd) {
  LbaRange r;
  if (!PrepareWrite(cmd, &r)) return;
  LogicalUnit* lu = cmd->lu.get();
  const uint32_t bs = lu->block_size();
  const uint64_t len = static_cast<uint64_t>(r.blocks) * bs;
  const uint32_t flags = (CdbSizeOf(cmd->cdb[0]) != 6 && (cmd->cdb[1] & kFuaBit)) ? MODTGT_IO_FUA : 0;
  SetupIo(cmd, IoOp::kWrite, r.lba * bs, len, cmd->data.data(), len, flags, &IoFinish);
  lu->backend()->Submit(cmd);
}

// Verification after WRITE AND VERIFY: the written bytes [0, n) are compared with what
// the medium returns, read into [n, 2n).
void WriteVerifyReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  const uint64_t n = cmd->core_scratch[1];
  const uint64_t off = FirstMismatch(cmd->data.data(), cmd->data.data() + n, n);
  if (off != n) {
    SetCheckConditionInfo(cmd, SenseKey::kMiscompare, asc::kMiscompareDuringVerify, off);
  }
  Complete(cmd);
}

void WriteVerifyWriteDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  const uint64_t n = cmd->core_scratch[1];
  const uint64_t offset = cmd->core_scratch[0];
  cmd->data.Resize(2 * n);
  SetupIo(cmd, IoOp::kRead, offset, n, cmd->data.data() + n, n, 0, &WriteVerifyReadDone);
  cmd->lu->backend()->Submit(cmd);
}

void WriteAndVerify(Command* cmd) {
  // BYTCHK (byte 1 bits 2-1): 00b verify the medium, 01b compare with the Data-Out; the
  // other values are reserved for WRITE AND VERIFY (SBC-4 5.42).
  const uint8_t bytchk = (cmd->cdb[1] >> 1) & 0x3;
  if (bytchk > 1) {
    SetInvalidField(cmd, true, 1, 2);
    Complete(cmd);
    return;
  }
  LbaRange r;
  if (!PrepareWrite(cmd, &r)) return;
  LogicalUnit* lu = cmd->lu.get();
  const uint32_t bs = lu->block_size();
  const uint64_t len = static_cast<uint64_t>(r.blocks) * bs;
  cmd->core_scratch[0] = r.lba * bs;
  cmd->core_scratch[1] = len;
  // Either way the written data is read back and compared: a medium that does not
  // return what was written fails the verification.
  SetupIo(cmd, IoOp::kWrite, r.lba * bs, len, cmd->data.data(), len, 0, &WriteVerifyWriteDone);
  lu->backend()->Submit(cmd);
}

// ---- VERIFY (10/12/16): SBC-4 5.33-5.35 ----

void VerifyMediumDone(Command* cmd) { IoFinish(cmd); }

// Compare step: Data-Out in [0, cmp_len), medium in [cmp_len, cmp_len + n).
void VerifyCompareDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    IoFinish(cmd);
    return;
  }
  const uint64_t cmp_len = cmd->core_scratch[0];
  const uint64_t n = cmd->core_scratch[1];
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
  if (off != n) {
    // SBC-4 5.33: INFORMATION = offset of the first byte that did not compare.
    SetCheckConditionInfo(cmd, SenseKey::kMiscompare, asc::kMiscompareDuringVerify, off);
  }
  Complete(cmd);
}

void Verify(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const LbaRange r = DecodeRange(cmd->cdb, CdbSizeOf(cmd->cdb[0]));
  const uint8_t bytchk = (cmd->cdb[1] >> 1) & 0x3;
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
  if (bytchk == 0) {
    // Medium verification: the blocks must be readable.
    cmd->data.Resize(n);
    SetupIo(cmd, IoOp::kRead, r.lba * bs, n, cmd->data.data(), n, 0, &VerifyMediumDone);
    lu->backend()->Submit(cmd);
    return;
  }
  const uint64_t cmp_len = bytchk == 1 ? n : bs;
  cmd->data_out_needed = static_cast<uint32_t>(cmp_len);
  if (DataOutAvailable(cmd, cmp_len) != cmp_len) {
    FailAndComplete(cmd, SenseKey::kIllegalRequest, kInvalidFieldInInformationUnit);
    return;
  }
  cmd->core_scratch[0] = cmp_len;
  cmd->core_scratch[1] = n;
  cmd->data.Resize(cmp_len + n);
  SetupIo(cmd, IoOp::kRead, r.lba * bs, n, cmd->data.data() + cmp_len, n, 0, &VerifyCompareDone);
  lu->backend()->Submit(cmd);
}

// ---- WRITE SAME (10/16): SBC-4 5.45-5.46 ----

// Emulation with write(): core_scratch[0] = next LBA, [1] = blocks left; the data buffer
// holds the block replicated chunk_blocks times.
bool WriteSameNextChunk(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t left = cmd->core_scratch[1];
  if (left == 0) {
    Complete(cmd);
    return false;
  }
  const uint64_t chunk_blocks = cmd->data.size() / bs;
  const uint64_t n = std::min(left, chunk_blocks);
  SetupIo(cmd, IoOp::kWrite, cmd->core_scratch[0] * bs, n * bs, cmd->data.data(), n * bs, 0,
          nullptr);
  cmd->core_scratch[0] += n;
  cmd->core_scratch[1] -= n;
  return true;
}

void WriteSame(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  Backend* backend = lu->backend();
  const bool is16 = cmd->cdb[0] == kWriteSame16;
  const uint8_t flags = cmd->cdb[1];
  const bool anchor = flags & 0x10;
  const bool unmap = flags & 0x08;
  const bool ndob = is16 && (flags & 0x01);
  const uint64_t lba = is16 ? GetBe64(cmd->cdb + 2) : GetBe32(cmd->cdb + 2);
  uint64_t blocks = is16 ? GetBe32(cmd->cdb + 10) : GetBe16(cmd->cdb + 7);
  const uint16_t length_byte = is16 ? 10 : 7;
  const uint32_t bs = lu->block_size();
  const uint64_t nb = lu->num_blocks();

  if (!CheckNoProtect(cmd)) {
    Complete(cmd);
    return;
  }
  // ANCHOR needs ANC_SUP in VPD 0xB2, which is not offered (SBC-4 5.46).
  if (anchor) {
    SetInvalidField(cmd, true, 1, 4);
    Complete(cmd);
    return;
  }
  // UNMAP=1 where VPD 0xB2 says LBPWS/LBPWS10 = 0 (no provisioning, or a backing store
  // without unmap): refused rather than silently written, as LIO does and libiscsi's
  // WriteSame*.UnmapVPD checks (an UNMAP bit honoured only makes sense with LBPME).
  if (unmap && !SbcLbpEnabled(*lu)) {
    SetInvalidField(cmd, true, 1, 3);
    Complete(cmd);
    return;
  }
  if (blocks == 0) {
    // SBC-4: NUMBER OF LOGICAL BLOCKS 0 = through the last LBA (WSNZ is 0 in VPD 0xB0).
    if (lba >= nb) {
      FailAndComplete(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
      return;
    }
    blocks = nb - lba;
  }
  if (!CheckRange(cmd, lba, blocks)) {
    Complete(cmd);
    return;
  }
  if (kMaxWriteSameBlocks != 0 && blocks > kMaxWriteSameBlocks) {
    SetInvalidField(cmd, true, length_byte);
    Complete(cmd);
    return;
  }
  // The Data-Out is exactly one logical block (none with NDOB); anything else is a
  // malformed request (libiscsi WriteSame*.InvalidDataOutSize).
  cmd->data_out_needed = ndob ? 0 : bs;
  if (!ndob && (cmd->expected_length != bs || cmd->data.size() < bs)) {
    SetInvalidField(cmd, true, length_byte);
    Complete(cmd);
    return;
  }
  if (ndob) cmd->data.ResizeZeroed(bs);

  const uint64_t offset = lba * bs;
  const uint64_t length = blocks * bs;
  if (unmap && SbcLbpEnabled(*lu)) {
    SetupIo(cmd, IoOp::kUnmap, offset, length, nullptr, 0, 0, &IoFinish);
    backend->Submit(cmd);
    return;
  }
  if (backend->has_write_same()) {
    SetupIo(cmd, IoOp::kWriteSame, offset, length, cmd->data.data(), bs, 0, &IoFinish);
    backend->Submit(cmd);
    return;
  }
  // Emulate: replicate the block into a bounded buffer and write it chunk by chunk.
  const uint64_t chunk_blocks =
      std::min<uint64_t>(blocks, std::max<uint64_t>(1, kWriteSameChunkBytes / bs));
  cmd->data.Resize(chunk_blocks * bs);
  uint8_t* p = cmd->data.data();
  uint64_t filled = bs;
  while (filled < chunk_blocks * bs) {
    uint64_t n = std::min(filled, chunk_blocks * bs - filled);
    std::memcpy(p + filled, p, n);
    filled += n;
  }
  cmd->core_scratch[0] = lba;
  cmd->core_scratch[1] = blocks;
  StepStart(cmd, &WriteSameNextChunk);
}

// ---- UNMAP: SBC-4 5.32 ----

constexpr size_t kUnmapHeaderLen = 8;
constexpr size_t kUnmapDescriptorLen = 16;

// core_scratch[0] = next descriptor index, [1] = descriptor count.
bool UnmapNextDescriptor(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  while (cmd->core_scratch[0] < cmd->core_scratch[1]) {
    const uint8_t* d =
        cmd->data.data() + kUnmapHeaderLen + cmd->core_scratch[0] * kUnmapDescriptorLen;
    ++cmd->core_scratch[0];
    const uint64_t lba = GetBe64(d);
    const uint32_t blocks = GetBe32(d + 8);
    if (blocks == 0) continue;  // SBC-4 5.32.2: not an error
    SetupIo(cmd, IoOp::kUnmap, lba * bs, static_cast<uint64_t>(blocks) * bs, nullptr, 0, 0,
            nullptr);
    return true;
  }
  Complete(cmd);
  return false;
}

void Unmap(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  if (!SbcLbpEnabled(*lu)) {
    FailAndComplete(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
    return;
  }
  if (cmd->cdb[1] & 0x01) {  // ANCHOR without ANC_SUP
    SetInvalidField(cmd, true, 1, 0);
    Complete(cmd);
    return;
  }
  const uint16_t plen = GetBe16(cmd->cdb + 7);
  cmd->data_out_needed = plen;
  if (plen == 0) {  // "not an error": nothing to unmap
    Complete(cmd);
    return;
  }
  const uint64_t avail = DataOutAvailable(cmd, plen);
  if (plen < kUnmapHeaderLen || avail < kUnmapHeaderLen) {
    FailAndComplete(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    return;
  }
  const uint8_t* p = cmd->data.data();
  const uint16_t bd_len = GetBe16(p + 2);
  // Descriptors that are not wholly present are ignored (SBC-4 5.32.2: a BLOCK
  // DESCRIPTOR DATA LENGTH beyond the parameter list truncates it).
  const uint64_t count = std::min<uint64_t>(bd_len, avail - kUnmapHeaderLen) / kUnmapDescriptorLen;
  if (count > kMaxUnmapBlockDescriptors) {
    SetInvalidField(cmd, false, 2);
    Complete(cmd);
    return;
  }
  // Validate everything before unmapping anything.
  uint64_t total = 0;
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* d = p + kUnmapHeaderLen + i * kUnmapDescriptorLen;
    const uint64_t lba = GetBe64(d);
    const uint32_t blocks = GetBe32(d + 8);
    if (!CheckRange(cmd, lba, blocks)) {
      Complete(cmd);
      return;
    }
    total += blocks;
  }
  if (total > kMaxUnmapLbaCount) {
    SetInvalidField(cmd, false, kUnmapHeaderLen + 8);
    Complete(cmd);
    return;
  }
  cmd->core_scratch[0] = 0;
  cmd->core_scratch[1] = count;
  StepStart(cmd, &UnmapNextDescriptor);
}

// ---- COMPARE AND WRITE: SBC-4 5.3 ----
// Data-Out: n blocks to compare, then n blocks to write. core_scratch[0] = lba,
// [1] = blocks, [2] = FUA flag (emulation only; the step driver is not used here).

void CawMiscompare(Command* cmd, uint64_t offset) {
  SetCheckConditionInfo(cmd, SenseKey::kMiscompare, asc::kMiscompareDuringVerify, offset);
}

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
  const uint64_t n = cmd->core_scratch[1] * bs;
  const uint8_t* compare = cmd->data.data();
  const uint8_t* medium = cmd->data.data() + 2 * n;
  const uint64_t off = FirstMismatch(compare, medium, n);
  if (off != n) {
    UnlockRange(cmd);
    CawMiscompare(cmd, off);
    Complete(cmd);
    return;
  }
  SetupIo(cmd, IoOp::kWrite, cmd->core_scratch[0] * bs, n, cmd->data.data() + n, n,
          static_cast<uint32_t>(cmd->core_scratch[2]), &CawWriteDone);
  cmd->lu->backend()->Submit(cmd);
}

// Reads the COMPARE AND WRITE range into the third n-byte part of cmd->data (after the
// compare and write data) and continues with `done`.
void CawReadMedium(Command* cmd, void (*done)(Command*)) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->core_scratch[1] * bs;
  cmd->data.Resize(3 * n);
  SetupIo(cmd, IoOp::kRead, cmd->core_scratch[0] * bs, n, cmd->data.data() + 2 * n, n, 0, done);
  cmd->lu->backend()->Submit(cmd);
}

void CawLocked(Command* cmd) { CawReadMedium(cmd, &CawReadDone); }

// A native caw() reported MISCOMPARE without an offset: read the range to find it.
void CawNativeLocateDone(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->core_scratch[1] * bs;
  uint64_t off = 0;
  if (cmd->io.status == MODTGT_STS_OK) {
    off = FirstMismatch(cmd->data.data(), cmd->data.data() + 2 * n, n);
    if (off == n) off = 0;  // changed since: the offset is unknown
  }
  cmd->status = Status::kGood;
  CawMiscompare(cmd, off);
  Complete(cmd);
}

void CawNativeDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_MISCOMPARE) {
    IoFinish(cmd);
    return;
  }
  CawReadMedium(cmd, &CawNativeLocateDone);
}

void CompareAndWrite(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint64_t lba = GetBe64(cmd->cdb + 2);
  const uint32_t blocks = cmd->cdb[13];
  const uint32_t bs = lu->block_size();
  if (!CheckNoProtect(cmd)) {
    Complete(cmd);
    return;
  }
  if (blocks > kMaxCompareAndWriteBlocks) {
    SetInvalidField(cmd, true, 13);
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
    if (cmd->expected_length != 0) SetInvalidField(cmd, true, 13);
    Complete(cmd);
    return;
  }
  // The Data-Out must be exactly the compare and write instances (libiscsi
  // CompareAndWrite.InvalidDataOutSize).
  if (cmd->expected_length != 2 * n || cmd->data.size() < 2 * n) {
    SetInvalidField(cmd, true, 13);
    Complete(cmd);
    return;
  }
  const uint32_t fua = (cmd->cdb[1] & kFuaBit) ? MODTGT_IO_FUA : 0;
  cmd->core_scratch[0] = lba;
  cmd->core_scratch[1] = blocks;
  cmd->core_scratch[2] = fua;
  Backend* backend = lu->backend();
  if (backend->has_caw()) {
    SetupIo(cmd, IoOp::kCaw, lba * bs, n, cmd->data.data(), 2 * n, fua, &CawNativeDone);
    backend->Submit(cmd);
    return;
  }
  LockRangeThen(cmd, &CawLocked);
}

// ---- ORWRITE (16): SBC-4 5.14 (read, OR with the Data-Out, write; atomic) ----
// core_scratch[0] = lba, [1] = blocks, [2] = FUA flag. Data-Out in [0, n), medium read
// into [n, 2n).

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
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->core_scratch[1] * bs;
  uint8_t* out = cmd->data.data();
  const uint8_t* medium = out + n;
  for (uint64_t i = 0; i < n; ++i) out[i] |= medium[i];
  SetupIo(cmd, IoOp::kWrite, cmd->core_scratch[0] * bs, n, out, n,
          static_cast<uint32_t>(cmd->core_scratch[2]), &OrWriteWriteDone);
  cmd->lu->backend()->Submit(cmd);
}

void OrWriteLocked(Command* cmd) {
  const uint32_t bs = cmd->lu->block_size();
  const uint64_t n = cmd->core_scratch[1] * bs;
  cmd->data.Resize(2 * n);
  SetupIo(cmd, IoOp::kRead, cmd->core_scratch[0] * bs, n, cmd->data.data() + n, n, 0,
          &OrWriteReadDone);
  cmd->lu->backend()->Submit(cmd);
}

void OrWrite(Command* cmd) {
  LbaRange r;
  if (!PrepareWrite(cmd, &r)) return;
  cmd->core_scratch[0] = r.lba;
  cmd->core_scratch[1] = r.blocks;
  cmd->core_scratch[2] = (cmd->cdb[1] & kFuaBit) ? MODTGT_IO_FUA : 0;
  LockRangeThen(cmd, &OrWriteLocked);
}

// ---- PRE-FETCH (10/16): SBC-4 5.9-5.10 ----
// Nothing is cached, so there is nothing to load: GOOD after the range check (CONDITION
// MET would claim the cache holds the range; libiscsi expects GOOD).
void PreFetch(Command* cmd) {
  const LbaRange r = DecodeRange(cmd->cdb, cmd->cdb[0] == kPreFetch10 ? 10 : 16);
  CheckRange(cmd, r.lba, r.blocks);
  Complete(cmd);
}

// ---- SYNCHRONIZE CACHE (10/16): SBC-4 5.24-5.25 ----
void SynchronizeCache(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const LbaRange r = DecodeRange(cmd->cdb, cmd->cdb[0] == kSynchronizeCache10 ? 10 : 16);
  // NUMBER OF LOGICAL BLOCKS 0 = through the last LBA; IMMED is accepted (the flush
  // completes before status either way).
  if (!CheckRange(cmd, r.lba, r.blocks)) {
    Complete(cmd);
    return;
  }
  Backend* backend = lu->backend();
  if (!backend->has_flush()) {
    Complete(cmd);
    return;
  }
  SetupIo(cmd, IoOp::kFlush, 0, 0, nullptr, 0, 0, &IoFinish);
  backend->Submit(cmd);
}

// ---- READ CAPACITY (10): SBC-4 5.20 ----
void ReadCapacity10(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  // PMI (byte 8 bit 0) is obsolete in SBC-4; with PMI 0 the LBA must be 0 (SBC-3 5.15).
  if (!(cmd->cdb[8] & 0x01) && GetBe32(cmd->cdb + 2) != 0) {
    SetInvalidField(cmd, true, 2);
    Complete(cmd);
    return;
  }
  const uint64_t nb = lu->num_blocks();
  const uint64_t last = nb ? nb - 1 : 0;
  cmd->data.ResizeZeroed(8);
  uint8_t* p = cmd->data.data();
  // RETURNED LOGICAL BLOCK ADDRESS: 0xFFFFFFFF tells the initiator to use READ CAPACITY (16).
  PutBe32(p, last > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(last));
  PutBe32(p + 4, lu->block_size());
  cmd->data_in_length = 8;
  Complete(cmd);
}

// ---- SERVICE ACTION IN (16): READ CAPACITY (16), SBC-4 5.21 ----
void ReadCapacity16(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint32_t alloc = GetBe32(cmd->cdb + 10);
  const uint64_t nb = lu->num_blocks();
  cmd->data.ResizeZeroed(32);
  uint8_t* p = cmd->data.data();
  PutBe64(p, nb ? nb - 1 : 0);
  PutBe32(p + 8, lu->block_size());
  // Byte 12: P_TYPE/PROT_EN = 0 (no protection information). Byte 13: P_I_EXPONENT 0,
  // LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (4 KiB physical blocks). Byte 14: LBPME,
  // LBPRZ, LOWEST ALIGNED LOGICAL BLOCK ADDRESS (0). LBPME/LBPRZ match VPD 0xB2.
  p[13] = PhysicalBlockExponent(*lu) & 0x0f;
  if (SbcLbpEnabled(*lu)) {
    p[14] |= 0x80;
    if (SbcLbprz(*lu)) p[14] |= 0x40;
  }
  cmd->data_in_length = std::min<uint32_t>(alloc, 32);
  Complete(cmd);
}

// ---- SERVICE ACTION IN (16): GET LBA STATUS, SBC-4 5.7 ----
// The backend interface cannot report mappings, so one descriptor says the range from
// the requested LBA to the end (at most 2^32 - 1 blocks) is mapped. The first descriptor
// starts at the requested LBA, as SBC-4 5.7.2 requires.
void GetLbaStatus(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint64_t lba = GetBe64(cmd->cdb + 2);
  const uint32_t alloc = GetBe32(cmd->cdb + 10);
  const uint64_t nb = lu->num_blocks();
  if (lba >= nb) {
    FailAndComplete(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
    return;
  }
  constexpr uint32_t kLen = 8 + 16;
  cmd->data.ResizeZeroed(kLen);
  uint8_t* p = cmd->data.data();
  PutBe32(p, kLen - 4);  // PARAMETER DATA LENGTH
  PutBe64(p + 8, lba);
  PutBe32(p + 16, static_cast<uint32_t>(std::min<uint64_t>(nb - lba, 0xffffffffu)));
  p[20] = 0x00;  // PROVISIONING STATUS: mapped (or unknown)
  cmd->data_in_length = std::min(alloc, kLen);
  Complete(cmd);
}

// ---- READ DEFECT DATA (10/12): SBC-4 5.19-5.20: an empty list ----
void ReadDefectData(Command* cmd) {
  const bool is12 = cmd->cdb[0] == kReadDefectData12;
  // Byte 2 (10) / byte 1 (12): REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT, echoed back.
  const uint8_t req = (is12 ? cmd->cdb[1] : cmd->cdb[2]) & 0x1f;
  const uint32_t alloc = is12 ? GetBe32(cmd->cdb + 6) : GetBe16(cmd->cdb + 7);
  const uint32_t len = is12 ? 8 : 4;
  cmd->data.ResizeZeroed(len);
  cmd->data.data()[1] = req;  // DEFECT LIST LENGTH stays 0
  cmd->data_in_length = std::min(alloc, len);
  Complete(cmd);
}

// ---- The table ----

std::vector<OpInfo> SbcOps() {
  constexpr uint32_t kR = kOpNeedsMedium;
  constexpr uint32_t kW = kOpNeedsMedium | kOpWritesMedium;
  constexpr uint8_t F = 0xff;
  constexpr uint8_t G = 0x3f;  // GROUP NUMBER (accepted, not used)
  constexpr uint8_t C = 0x07;  // CONTROL
  // CDB usage bitmaps: SPC-4 6.35.3; a bit is set where the device server looks at the
  // CDB bit. PROTECT fields are not set: protection information is not supported.
  return {
      Op(kRead6, &Read, kR, {kRead6, 0x1f, F, F, F, C}, "READ(6)"),
      Op(kWrite6, &Write, kW, {kWrite6, 0x1f, F, F, F, C}, "WRITE(6)"),
      Op(kReadCapacity10, &ReadCapacity10, kR, {kReadCapacity10, 0, F, F, F, F, 0, 0, 0x01, C},
         "READ CAPACITY(10)"),
      Op(kRead10, &Read, kR, {kRead10, 0x18, F, F, F, F, G, F, F, C}, "READ(10)"),
      Op(kWrite10, &Write, kW, {kWrite10, 0x18, F, F, F, F, G, F, F, C}, "WRITE(10)"),
      Op(kWriteAndVerify10, &WriteAndVerify, kW, {kWriteAndVerify10, 0x16, F, F, F, F, G, F, F, C},
         "WRITE AND VERIFY(10)"),
      Op(kVerify10, &Verify, kR, {kVerify10, 0x16, F, F, F, F, G, F, F, C}, "VERIFY(10)"),
      Op(kPreFetch10, &PreFetch, kR, {kPreFetch10, 0x02, F, F, F, F, G, F, F, C}, "PRE-FETCH(10)"),
      Op(kSynchronizeCache10, &SynchronizeCache, kR,
         {kSynchronizeCache10, 0x02, F, F, F, F, G, F, F, C}, "SYNCHRONIZE CACHE(10)"),
      Op(kReadDefectData10, &ReadDefectData, kR, {kReadDefectData10, 0, 0x1f, 0, 0, 0, 0, F, F, C},
         "READ DEFECT DATA(10)"),
      Op(kWriteSame10, &WriteSame, kW, {kWriteSame10, 0x18, F, F, F, F, G, F, F, C},
         "WRITE SAME(10)"),
      Op(kUnmap, &Unmap, kW, {kUnmap, 0x01, 0, 0, 0, 0, G, F, F, C}, "UNMAP"),
      Op(kRead16, &Read, kR, {kRead16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "READ(16)"),
      Op(kCompareAndWrite, &CompareAndWrite, kW,
         {kCompareAndWrite, 0x18, F, F, F, F, F, F, F, F, 0, 0, 0, F, G, C}, "COMPARE AND WRITE"),
      Op(kWrite16, &Write, kW, {kWrite16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "WRITE(16)"),
      Op(kOrWrite16, &OrWrite, kW, {kOrWrite16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "ORWRITE(16)"),
      Op(kWriteAndVerify16, &WriteAndVerify, kW,
         {kWriteAndVerify16, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "WRITE AND VERIFY(16)"),
      Op(kVerify16, &Verify, kR, {kVerify16, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "VERIFY(16)"),
      Op(kPreFetch16, &PreFetch, kR, {kPreFetch16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "PRE-FETCH(16)"),
      Op(kSynchronizeCache16, &SynchronizeCache, kR,
         {kSynchronizeCache16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, G, C},
         "SYNCHRONIZE CACHE(16)"),
      Op(kWriteSame16, &WriteSame, kW,
         {kWriteSame16, 0x19, F, F, F, F, F, F, F, F, F, F, F, F, G, C}, "WRITE SAME(16)"),
      SaOp(kServiceActionIn16, kSaReadCapacity16, &ReadCapacity16, kR,
           {kServiceActionIn16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0x01, C},
           "READ CAPACITY(16)"),
      SaOp(kServiceActionIn16, kSaGetLbaStatus, &GetLbaStatus, kR,
           {kServiceActionIn16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0, C},
           "GET LBA STATUS"),
      Op(kRead12, &Read, kR, {kRead12, 0x18, F, F, F, F, F, F, F, F, G, C}, "READ(12)"),
      Op(kWrite12, &Write, kW, {kWrite12, 0x18, F, F, F, F, F, F, F, F, G, C}, "WRITE(12)"),
      Op(kWriteAndVerify12, &WriteAndVerify, kW,
         {kWriteAndVerify12, 0x16, F, F, F, F, F, F, F, F, G, C}, "WRITE AND VERIFY(12)"),
      Op(kVerify12, &Verify, kR, {kVerify12, 0x16, F, F, F, F, F, F, F, F, G, C}, "VERIFY(12)"),
      Op(kReadDefectData12, &ReadDefectData, kR,
         {kReadDefectData12, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, C}, "READ DEFECT DATA(12)"),
  };
}

}  // namespace

uint32_t SbcMaxTransferBlocks(const LogicalUnit& lu) { return MaxTransferBlocks(lu); }

bool SbcLbpEnabled(const LogicalUnit& lu) {
  const Backend* b = lu.backend();
  return b != nullptr && b->has_unmap() && lu.config().thin_provisioning;
}

bool SbcLbprz(const LogicalUnit& lu) { return SbcLbpEnabled(lu) && lu.backend()->thin(); }

size_t SbcRangeLockEntriesForTest() {
  std::lock_guard<std::mutex> lock(g_range_mu);
  return RangeTable().size();
}

const DeviceType& SbcDeviceType() {
  static const DeviceType* type = [] {
    std::vector<OpInfo> ops = SpcOps();
    std::vector<OpInfo> sbc = SbcOps();
    ops.insert(ops.end(), sbc.begin(), sbc.end());
    return new DeviceType("sbc", 0x00, std::move(ops));
  }();
  return *type;
}

}  // namespace modtgt::scsi
