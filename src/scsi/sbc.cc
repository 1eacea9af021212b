// SPDX-License-Identifier: Apache-2.0
// SBC-4 block commands (direct-access device): the device type's opcode table, the checks
// shared by every block command, and the hot path, READ and WRITE (6/10/12/16), with
// PRE-FETCH and SYNCHRONIZE CACHE. Each handler decodes and checks its CDB, then either
// answers at once or issues I/O to the LU's Backend and continues in cmd->io.done on the
// owning loop. The other commands are in sbc_capacity.cc, sbc_compare.cc and
// sbc_provisioning.cc (see sbc_internal.h).
#include "scsi/sbc.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc_internal.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"
#include "scsi/xcopy.h"

namespace modtgt::scsi {
namespace sbc_internal {

uint64_t FirstMismatch(const uint8_t* a, const uint8_t* b, uint64_t n) {
  if (std::memcmp(a, b, n) == 0) return n;
  uint64_t i = 0;
  while (a[i] == b[i]) ++i;
  return i;
}

void IoFinish(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) SetStatusFromIo(cmd, cmd->io.status);
  Complete(cmd);
}

// ---- READ (6/10/12/16): SBC-4 5.15-5.18 ----

namespace {

void ReadDone(Command* cmd) {
  if (cmd->io.status != MODTGT_STS_OK) {
    cmd->data_in_length = 0;
    SetStatusFromIo(cmd, cmd->io.status);
  } else if (cmd->io.zeros) {
    cmd->data_zero = true;  // MODTGT_STS_ZEROS: the transport sends from ZeroBuffer()
  }
  Complete(cmd);
}

}  // namespace

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
  cmd->io.zeros_ok = true;  // the Data-In may come from the zero buffer (ReadDone)
  lu->backend()->Submit(cmd);
}

// ---- WRITE (6/10/12/16): SBC-4 5.38-5.41 ----

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
  // without writing anything (option b, which libiscsi's iSCSIResiduals tests accept).
  // EDTL > SPDTL: write the CDB's amount.
  const uint64_t have = DataOutAvailable(cmd, bytes);
  if (have % bs != 0) {
    Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidFieldInInformationUnit);
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
  const uint32_t flags =
      (CdbSizeOf(cmd->cdb[0]) != 6 && (cmd->cdb[1] & kCdbFua)) ? MODTGT_IO_FUA : 0;
  SetupIo(cmd, IoOp::kWrite, r.lba * bs, len, cmd->data.data(), len, flags, &IoFinish);
  lu->backend()->Submit(cmd);
}

// ---- WRITE ATOMIC (16): SBC-4 5.48 ----
// All or nothing: the write goes to the backend as one I/O flagged MODTGT_IO_ATOMIC,
// whose module promised (MODTGT_CAP_ATOMIC_WRITE + its declared limits) that after it
// completes or fails, every block of the range holds all old or all new data. Offered
// only where AtomicLimitsOf(lu) has a maximum (the table's OnlyIf).
void WriteAtomic(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint8_t* cdb = cmd->cdb;
  const uint64_t lba = GetBe64(cdb + offsetof(WriteAtomic16Cdb, logical_block_address));
  const uint32_t blocks = GetBe16(cdb + offsetof(WriteAtomic16Cdb, transfer_length));
  const uint32_t bs = lu->block_size();
  if (!CheckNoProtect(cmd)) return Complete(cmd);
  // No ATOMIC BOUNDARY: MAXIMUM ATOMIC BOUNDARY SIZE is 0 in VPD 0xB0.
  if (GetBe16(cdb + offsetof(WriteAtomic16Cdb, atomic_boundary)) != 0) {
    return FailField(cmd, true, offsetof(WriteAtomic16Cdb, atomic_boundary));
  }
  cmd->data_out_needed = blocks * bs;
  // The range first: a transfer that runs off the medium is LBA OUT OF RANGE whatever its
  // length (libiscsi WriteAtomic16.BeyondEol writes twice the granularity there).
  if (!CheckRange(cmd, lba, blocks)) return Complete(cmd);
  if (blocks == 0) return Complete(cmd);  // SBC-4 5.48: not an error
  const AtomicBlockLimits limits = AtomicLimitsOf(*lu);
  if (blocks > limits.max_blocks || blocks % limits.granularity != 0) {
    return FailField(cmd, true, offsetof(WriteAtomic16Cdb, transfer_length));
  }
  if (lba % limits.alignment != 0) {
    return FailField(cmd, true, offsetof(WriteAtomic16Cdb, logical_block_address));
  }
  // A part of an atomic write is not atomic: less Data-Out than the CDB says is refused
  // without writing anything (FCP-4 9.4.2 option b).
  const uint64_t bytes = uint64_t{blocks} * bs;
  if (DataOutAvailable(cmd, bytes) < bytes) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kInvalidFieldInInformationUnit);
  }
  const uint32_t flags = MODTGT_IO_ATOMIC | ((cdb[1] & kCdbFua) ? MODTGT_IO_FUA : 0);
  SetupIo(cmd, IoOp::kWrite, lba * bs, bytes, cmd->data.data(), bytes, flags, &IoFinish);
  lu->backend()->Submit(cmd);
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

// ---- The table ----

namespace {

bool HasAtomicWrites(const LogicalUnit& lu) { return AtomicLimitsOf(lu).max_blocks != 0; }

std::vector<OpInfo> SbcOps() {
  constexpr uint32_t kR = kOpNeedsMedium;
  constexpr uint32_t kW = kOpNeedsMedium | kOpWritesMedium;
  constexpr uint8_t F = 0xff;
  constexpr uint8_t G = 0x3f;  // GROUP NUMBER (accepted, not used)
  constexpr uint8_t C = 0x07;  // CONTROL
  // CDB usage bitmaps: SPC-4 6.35.3; a bit is set where the device server looks at the
  // CDB bit. PROTECT fields are not set: protection information is not supported.
  return {
      Op(kRead6, &Read, kR, "READ(6)", {kRead6, 0x1f, F, F, F, C}),
      Op(kWrite6, &Write, kW, "WRITE(6)", {kWrite6, 0x1f, F, F, F, C}),
      Op(kReadCapacity10, &ReadCapacity10, kR, "READ CAPACITY(10)",
         {kReadCapacity10, 0, F, F, F, F, 0, 0, 0x01, C}),
      Op(kRead10, &Read, kR, "READ(10)", {kRead10, 0x18, F, F, F, F, G, F, F, C}),
      Op(kWrite10, &Write, kW, "WRITE(10)", {kWrite10, 0x18, F, F, F, F, G, F, F, C}),
      Op(kWriteAndVerify10, &WriteAndVerify, kW, "WRITE AND VERIFY(10)",
         {kWriteAndVerify10, 0x16, F, F, F, F, G, F, F, C}),
      Op(kVerify10, &Verify, kR, "VERIFY(10)", {kVerify10, 0x16, F, F, F, F, G, F, F, C}),
      Op(kPreFetch10, &PreFetch, kR, "PRE-FETCH(10)",
         {kPreFetch10, 0x02, F, F, F, F, G, F, F, C}),
      Op(kSynchronizeCache10, &SynchronizeCache, kR, "SYNCHRONIZE CACHE(10)",
         {kSynchronizeCache10, 0x02, F, F, F, F, G, F, F, C}),
      Op(kReadDefectData10, &ReadDefectData, kR, "READ DEFECT DATA(10)",
         {kReadDefectData10, 0, 0x1f, 0, 0, 0, 0, F, F, C}),
      Op(kWriteSame10, &WriteSame, kW, "WRITE SAME(10)",
         {kWriteSame10, 0x18, F, F, F, F, G, F, F, C}),
      Op(kUnmap, &Unmap, kW, "UNMAP", {kUnmap, 0x01, 0, 0, 0, 0, G, F, F, C}),
      Op(kRead16, &Read, kR, "READ(16)",
         {kRead16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kCompareAndWrite, &CompareAndWrite, kW, "COMPARE AND WRITE",
         {kCompareAndWrite, 0x18, F, F, F, F, F, F, F, F, 0, 0, 0, F, G, C}),
      Op(kWrite16, &Write, kW, "WRITE(16)",
         {kWrite16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kOrWrite16, &OrWrite, kW, "ORWRITE(16)",
         {kOrWrite16, 0x18, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kWriteAndVerify16, &WriteAndVerify, kW, "WRITE AND VERIFY(16)",
         {kWriteAndVerify16, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kVerify16, &Verify, kR, "VERIFY(16)",
         {kVerify16, 0x16, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kPreFetch16, &PreFetch, kR, "PRE-FETCH(16)",
         {kPreFetch16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kSynchronizeCache16, &SynchronizeCache, kR, "SYNCHRONIZE CACHE(16)",
         {kSynchronizeCache16, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      Op(kWriteSame16, &WriteSame, kW, "WRITE SAME(16)",
         {kWriteSame16, 0x19, F, F, F, F, F, F, F, F, F, F, F, F, G, C}),
      // SPC-4 third-party copy: the copy manager copies between block devices.
      Op({kThirdPartyCopyOut, kSaExtendedCopyLid1}, &ExtendedCopy, 0, "EXTENDED COPY(LID1)",
         {kThirdPartyCopyOut, kSaExtendedCopyLid1, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}),
      Op({kThirdPartyCopyIn, kSaCopyStatusLid1}, &ReceiveCopyResults, 0,
         "RECEIVE COPY RESULTS/COPY STATUS(LID1)",
         {kThirdPartyCopyIn, kSaCopyStatusLid1, F, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}),
      Op({kThirdPartyCopyIn, kSaOperatingParameters}, &ReceiveCopyResults, 0,
         "RECEIVE COPY RESULTS/OPERATING PARAMETERS",
         {kThirdPartyCopyIn, kSaOperatingParameters, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, C}),
      Op({kSanitize, kSaSanitizeOverwrite}, &Sanitize, kW, "SANITIZE/OVERWRITE",
         {kSanitize, 0xa0, 0, 0, 0, 0, 0, F, F, C}),
      OnlyIf(&CanBlockErase, Op({kSanitize, kSaSanitizeBlockErase}, &Sanitize, kW,
                                "SANITIZE/BLOCK ERASE", {kSanitize, 0xa0, 0, 0, 0, 0, 0, F, F, C})),
      Op({kSanitize, kSaSanitizeExitFailureMode}, &Sanitize, kW, "SANITIZE/EXIT FAILURE MODE",
         {kSanitize, 0xa0, 0, 0, 0, 0, 0, F, F, C}),
      OnlyIf(&HasAtomicWrites,
             Op(kWriteAtomic16, &WriteAtomic, kW, "WRITE ATOMIC(16)",
                {kWriteAtomic16, 0x18, F, F, F, F, F, F, F, F, 0, 0, F, F, G, C})),
      Op({kServiceActionIn16, kSaReadCapacity16}, &ReadCapacity16, kR, "READ CAPACITY(16)",
         {kServiceActionIn16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0x01, C}),
      Op({kServiceActionIn16, kSaGetLbaStatus}, &GetLbaStatus, kR, "GET LBA STATUS",
         {kServiceActionIn16, 0x1f, F, F, F, F, F, F, F, F, F, F, F, F, 0, C}),
      Op(kRead12, &Read, kR, "READ(12)", {kRead12, 0x18, F, F, F, F, F, F, F, F, G, C}),
      Op(kWrite12, &Write, kW, "WRITE(12)", {kWrite12, 0x18, F, F, F, F, F, F, F, F, G, C}),
      Op(kWriteAndVerify12, &WriteAndVerify, kW, "WRITE AND VERIFY(12)",
         {kWriteAndVerify12, 0x16, F, F, F, F, F, F, F, F, G, C}),
      Op(kVerify12, &Verify, kR, "VERIFY(12)",
         {kVerify12, 0x16, F, F, F, F, F, F, F, F, G, C}),
      Op(kReadDefectData12, &ReadDefectData, kR, "READ DEFECT DATA(12)",
         {kReadDefectData12, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, C}),
  };
}

}  // namespace
}  // namespace sbc_internal

uint32_t SbcMaxTransferBlocks(const LogicalUnit& lu) { return MaxTransferBlocks(lu); }

bool SbcLbpEnabled(const LogicalUnit& lu) {
  const Backend* b = lu.backend();
  return b != nullptr && b->has_unmap() && lu.config().thin_provisioning;
}

bool SbcLbprz(const LogicalUnit& lu) { return SbcLbpEnabled(lu) && lu.backend()->thin(); }

size_t SbcRangeLockEntriesForTest() { return sbc_internal::RangeLockEntries(); }

const DeviceType& SbcDeviceType() {
  static const DeviceType* type = [] {
    std::vector<OpInfo> ops = SpcOps();
    std::vector<OpInfo> sbc = sbc_internal::SbcOps();
    ops.insert(ops.end(), sbc.begin(), sbc.end());
    return new DeviceType("sbc", kPeripheralDirectAccess, std::move(ops));
  }();
  return *type;
}

}  // namespace modtgt::scsi
