// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc.cc: READ/WRITE (6/10/12/16) against an in-memory backend with
// the behaviours libiscsi's iscsi-test-cu checks (ranges, zero lengths, residuals, FUA,
// transfer length limits), SYNCHRONIZE CACHE, PRE-FETCH, and the SBC opcode table.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/sbc.h"
#include "sbc_fixture.h"

namespace modtgt::scsi::sbctest {
namespace {

// ---------------- READ / WRITE ----------------

TEST_F(SbcTest, Write10ThenRead10RoundTrips) {
  MakeLu();
  auto data = Pattern(3 * 512, 1);
  Command* w = Run(Cdb10(0x2a, 5, 3), data);
  ExpectGood(w);
  EXPECT_EQ(w->data_out_needed, 3u * 512);
  EXPECT_EQ(backend_->ReadBytes(5 * 512, 3 * 512), data);
  Command* r = Run(Cdb10(0x28, 5, 3));
  ExpectGood(r);
  ASSERT_EQ(r->data_in_length, 3u * 512);
  EXPECT_EQ(0, std::memcmp(r->data.data(), data.data(), data.size()));
}

TEST_F(SbcTest, Read12Read16Write12Write16UseTheirLayouts) {
  MakeLu();
  auto a = Pattern(512, 3);
  ExpectGood(Run(Cdb12(0xaa, 7, 1), a));
  ExpectGood(Run(Cdb16(0x8a, 9, 1), a));
  EXPECT_EQ(backend_->ReadBytes(7 * 512, 512), a);
  EXPECT_EQ(backend_->ReadBytes(9 * 512, 512), a);
  Command* r12 = Run(Cdb12(0xa8, 7, 1));
  Command* r16 = Run(Cdb16(0x88, 9, 1));
  ExpectGood(r12);
  ExpectGood(r16);
  EXPECT_EQ(0, std::memcmp(r12->data.data(), a.data(), 512));
  EXPECT_EQ(0, std::memcmp(r16->data.data(), a.data(), 512));
}

TEST_F(SbcTest, Read6ZeroLengthMeans256Blocks) {
  MakeLu();
  Command* r = Run(Cdb6(0x08, 10, 0));
  ExpectGood(r);
  EXPECT_EQ(r->data_in_length, 256u * 512);
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].offset, 10u * 512);
  EXPECT_EQ(log[0].length, 256u * 512);
}

TEST_F(SbcTest, Write6UsesTwentyOneBitLba) {
  MakeLu(4096);
  auto a = Pattern(512, 9);
  ExpectGood(Run(Cdb6(0x0a, 0x0fff, 1), a));
  EXPECT_EQ(backend_->ReadBytes(0x0fffull * 512, 512), a);
}

TEST_F(SbcTest, ReadPastCapacityFailsWithLbaOutOfRange) {
  MakeLu(1024);
  ExpectCheck(Run(Cdb10(0x28, 1024, 1)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb10(0x28, 1020, 5)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb6(0x08, 1024, 1)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb12(0xa8, 0xffffffffu, 1)), kIllegal, kLbaOor);
  // 64-bit wrap-around: lba + blocks overflows.
  ExpectCheck(Run(Cdb16(0x88, 0xffffffffffffffffull, 2)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb16(0x88, 0x8000000000000000ull, 1)), kIllegal, kLbaOor);
  ExpectGood(Run(Cdb10(0x28, 1023, 1)));
  EXPECT_EQ(backend_->CountOps(IoOp::kRead), 1u);
}

TEST_F(SbcTest, WritePastCapacityWritesNothing) {
  MakeLu(16);
  ExpectCheck(Run(Cdb16(0x8a, 15, 2), Pattern(1024, 1)), kIllegal, kLbaOor);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
}

TEST_F(SbcTest, ZeroBlocksIsGoodWithoutIoButRangeIsStillChecked) {
  MakeLu(1024);
  ExpectGood(Run(Cdb10(0x28, 0, 0)));
  ExpectGood(Run(Cdb10(0x2a, 1024, 0)));  // LBA == capacity with 0 blocks is fine
  ExpectGood(Run(Cdb16(0x88, 1024, 0)));
  EXPECT_TRUE(backend_->log().empty());
  ExpectCheck(Run(Cdb10(0x28, 1025, 0)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb16(0x8a, 0xffffffffffffffffull, 0)), kIllegal, kLbaOor);
}

TEST_F(SbcTest, WriteFuaReachesTheBackendAndDpoIsAccepted) {
  MakeLu();
  ExpectGood(Run(Cdb10(0x2a, 0, 1, 0x08), Pattern(512, 0)));
  ExpectGood(Run(Cdb16(0x8a, 0, 1, 0x10), Pattern(512, 0)));  // DPO only
  ExpectGood(Run(Cdb10(0x28, 0, 1, 0x18)));                    // READ DPO+FUA
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].flags, MODTGT_IO_FUA);
  EXPECT_EQ(log[1].flags, 0u);
}

TEST_F(SbcTest, ProtectFieldsAreRejectedWithoutProtectionInformation) {
  MakeLu();
  for (uint8_t prot = 1; prot < 8; ++prot) {
    Command* c = Run(Cdb10(0x28, 0, 1, static_cast<uint8_t>(prot << 5)));
    ExpectCheck(c, kIllegal, kInvalidCdb);
    EXPECT_EQ(c->sense[15], 0xc8 | 7);  // SKSV, C/D, BPV, bit 7
    EXPECT_EQ(GetBe16(c->sense + 16), 1);
  }
  ExpectCheck(Run(Cdb16(0x8a, 0, 1, 0x20), Pattern(512, 0)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb12(0xaf, 0, 1, 0x40)), kIllegal, kInvalidCdb);
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcTest, TransferLengthAboveMaximumIsInvalidField) {
  auto be = std::make_unique<SizeOnlyBackend>(1ull << 40);
  SizeOnlyBackend* raw = be.get();
  MakeLuWith(std::move(be), 512, false, false);
  // Enforced = advertised (VPD 0xB0 MAXIMUM TRANSFER LENGTH), 64 MiB by default.
  const uint32_t max = SbcMaxTransferBlocks(*lu_);
  EXPECT_EQ(max, MaxTransferBlocks(*lu_));
  EXPECT_EQ(max, kDefaultMaxTransferBytes / 512);
  ExpectCheck(Run(Cdb16(0x88, 0, max + 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb16(0x8a, 0, max + 1), Pattern(512, 0)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb16(0x8f, 0, max + 1)), kIllegal, kInvalidCdb);  // VERIFY too
  EXPECT_EQ(raw->submits, 0);
  ExpectGood(Run(Cdb16(0x88, 0, max), {}, 512));  // the maximum itself is fine
  EXPECT_EQ(raw->submits, 1);
}

// The transfer length is a CDB field check and comes before the LBA range check: an
// oversized transfer on a small medium is INVALID FIELD IN CDB, not LBA OUT OF RANGE.
TEST_F(SbcTest, TransferLengthIsCheckedBeforeTheLbaRange) {
  MakeLu(1u << 11);  // 1 MiB, far below the maximum transfer length
  const uint32_t max = SbcMaxTransferBlocks(*lu_);
  ASSERT_GT(max, lu_->num_blocks());
  ExpectCheck(Run(Cdb16(0x88, 0, max + 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb16(0x8a, 0, max + 1), Pattern(512, 0)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb16(0x88, 0, max)), kIllegal, kLbaOor);
  EXPECT_TRUE(backend_->log().empty());
}

// A configured maximum is advertised and enforced as is (clamped to the transport's 64 MiB).
TEST_F(SbcTest, ConfiguredMaximumTransferLengthIsEnforced) {
  LuConfig cfg;
  cfg.max_transfer_blocks = 16;
  auto be = std::make_unique<MemBackend>(1024 * 512, MemBackendCaps{}, false);
  backend_ = be.get();
  lu_ = std::make_shared<LogicalUnit>(cfg, &SbcDeviceType(), std::move(be), "iqn.test:t");
  owner_ = std::make_unique<FakeOwner>();
  EXPECT_EQ(SbcMaxTransferBlocks(*lu_), 16u);
  ExpectGood(Run(Cdb10(0x28, 0, 16)));
  ExpectCheck(Run(Cdb10(0x28, 0, 17)), kIllegal, kInvalidCdb);
  cfg.max_transfer_blocks = 0xffffffffu;
  LogicalUnit big(cfg, &SbcDeviceType(), std::make_unique<SizeOnlyBackend>(1ull << 40), "t");
  EXPECT_EQ(SbcMaxTransferBlocks(big), kMaxTransferBytes / 512);
}

TEST_F(SbcTest, ReadReadsOnlyWhatTheInitiatorExpectsButReportsTheCdbLength) {
  MakeLu();
  Command* r = Run(Cdb10(0x28, 0, 1), {}, 200);  // EDTL 200 < one block
  ExpectGood(r);
  EXPECT_EQ(r->data_in_length, 512u);  // transport reports overflow 512 - 200
  Command* z = Run(Cdb10(0x28, 0, 2), {}, 0);
  ExpectGood(z);
  EXPECT_EQ(z->data_in_length, 1024u);
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 1u);  // EDTL 0 moved nothing
  EXPECT_EQ(log[0].length, 512u);
}

// libiscsi iSCSIResiduals.Write10Residuals: EDTL < SPDTL writes only EDTL bytes (whole
// blocks) or rejects the command without writing; EDTL > SPDTL writes SPDTL bytes.
TEST_F(SbcTest, WriteWithShortDataOutWritesOnlyWhatArrived) {
  MakeLu();
  backend_->Fill(0, 4 * 512, 'a');
  auto b = std::vector<uint8_t>(512, 'b');
  Command* w = Run(Cdb10(0x2a, 0, 2), b, 512);
  ExpectGood(w);
  EXPECT_EQ(w->data_out_needed, 1024u);
  EXPECT_EQ(backend_->ReadBytes(0, 512), b);
  EXPECT_EQ(backend_->ReadBytes(512, 512), std::vector<uint8_t>(512, 'a'));
}

TEST_F(SbcTest, WriteWithPartialBlockDataOutIsRejectedWithoutWriting) {
  MakeLu();
  backend_->Fill(0, 512, 'a');
  Command* w = Run(Cdb10(0x2a, 0, 1), std::vector<uint8_t>(200, 'b'), 200);
  ExpectCheck(w, kIllegal, 0x0e03);
  EXPECT_EQ(w->data_out_needed, 512u);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
  EXPECT_EQ(backend_->ReadBytes(0, 512), std::vector<uint8_t>(512, 'a'));
  // EDTL 0: nothing to write, GOOD (the transport reports the overflow).
  ExpectGood(Run(Cdb10(0x2a, 0, 1), {}, 0));
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
}

TEST_F(SbcTest, WriteWithLongDataOutWritesOnlyTheCdbLength) {
  MakeLu();
  backend_->Fill(0, 2 * 512, 'a');
  Command* w = Run(Cdb10(0x2a, 0, 1), std::vector<uint8_t>(1024, 'b'));
  ExpectGood(w);
  EXPECT_EQ(w->data_out_needed, 512u);
  EXPECT_EQ(backend_->ReadBytes(512, 512), std::vector<uint8_t>(512, 'a'));
}

TEST_F(SbcTest, BackendErrorsMapToSense) {
  MakeLu();
  backend_->FailNext(IoOp::kRead, MODTGT_STS_READ_ERROR);
  Command* r = Run(Cdb10(0x28, 0, 1));
  ExpectCheck(r, kMedium, 0x1100);
  EXPECT_EQ(r->data_in_length, 0u);
  backend_->FailNext(IoOp::kWrite, MODTGT_STS_WRITE_ERROR);
  ExpectCheck(Run(Cdb10(0x2a, 0, 1), Pattern(512, 0)), kMedium, 0x0c00);
}

TEST_F(SbcTest, AsyncBackendCompletesOnTheOwningLoop) {
  MakeLu(1024, 512, {}, false, /*async=*/true);
  auto data = Pattern(8 * 512, 5);
  ExpectGood(Run(Cdb10(0x2a, 100, 8), data));
  Command* r = Run(Cdb10(0x28, 100, 8));
  ExpectGood(r);
  EXPECT_EQ(0, std::memcmp(r->data.data(), data.data(), data.size()));
}

// ---------------- SYNCHRONIZE CACHE / PRE-FETCH ----------------

TEST_F(SbcTest, SynchronizeCacheFlushesWhenTheBackendCan) {
  MakeLu();
  ExpectGood(Run(Cdb10(0x35, 0, 0)));
  ExpectGood(Run(Cdb16(0x91, 10, 5, 0x02)));  // IMMED
  EXPECT_EQ(backend_->CountOps(IoOp::kFlush), 2u);
  ExpectCheck(Run(Cdb10(0x35, 1024, 1)), kIllegal, kLbaOor);
  EXPECT_EQ(backend_->CountOps(IoOp::kFlush), 2u);
}

TEST_F(SbcTest, SynchronizeCacheWithoutFlushSucceeds) {
  MemBackendCaps caps;
  caps.flush = false;
  MakeLu(1024, 512, caps);
  ExpectGood(Run(Cdb10(0x35, 0, 0)));
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcTest, PreFetchChecksTheRangeAndReturnsGood) {
  MakeLu();
  ExpectGood(Run(Cdb10(0x34, 0, 256, 0x02)));
  ExpectGood(Run(Cdb16(0x90, 1024 - 256, 256)));
  ExpectCheck(Run(Cdb10(0x34, 1024, 1)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb16(0x90, 0xffffffffffffffffull, 1)), kIllegal, kLbaOor);
}

// ---------------- The opcode table ----------------

TEST(SbcTable, EveryEntryHasItsCdbLengthAndUsageOpcode) {
  const DeviceType& t = SbcDeviceType();
  EXPECT_EQ(t.peripheral_type(), 0x00);
  struct Want {
    uint8_t op;
    uint16_t sa;
    uint8_t len;
  };
  for (Want w : std::vector<Want>{{0x08, 0, 6},    {0x0a, 0, 6},     {0x25, 0, 10}, {0x28, 0, 10},
                                  {0x2a, 0, 10},   {0x2e, 0, 10},    {0x2f, 0, 10}, {0x34, 0, 10},
                                  {0x35, 0, 10},   {0x37, 0, 10},    {0x41, 0, 10}, {0x42, 0, 10},
                                  {0x88, 0, 16},   {0x89, 0, 16},    {0x8a, 0, 16}, {0x8b, 0, 16},
                                  {0x8e, 0, 16},   {0x8f, 0, 16},    {0x90, 0, 16}, {0x91, 0, 16},
                                  {0x93, 0, 16},   {0x9e, 0x10, 16}, {0x9e, 0x12, 16},
                                  {0xa8, 0, 12},   {0xaa, 0, 12},    {0xae, 0, 12}, {0xaf, 0, 12},
                                  {0xb7, 0, 12}}) {
    const OpInfo* op = t.Find(w.op, w.sa);
    ASSERT_NE(op, nullptr) << std::hex << int(w.op);
    EXPECT_NE(op->handler, nullptr);
    EXPECT_EQ(op->cdb_length, w.len) << std::hex << int(w.op);
    EXPECT_EQ(op->usage[0], w.op);
    EXPECT_EQ(op->usage[w.len - 1], 0x07) << std::hex << int(w.op);  // CONTROL
    for (size_t i = w.len; i < op->usage.size(); ++i) EXPECT_EQ(op->usage[i], 0);
  }
  // libiscsi Read*/Write*.DpoFua: DPO and FUA are reported as supported.
  for (uint8_t op : {0x28, 0x2a, 0x88, 0x8a, 0xa8, 0xaa}) {
    EXPECT_EQ(t.Find(op, 0)->usage[1] & 0x18, 0x18);
  }
  EXPECT_TRUE(t.Find(0x2a, 0)->flags & kOpWritesMedium);
  EXPECT_FALSE(t.Find(0x28, 0)->flags & kOpWritesMedium);
  EXPECT_TRUE(t.Find(0x42, 0)->flags & kOpWritesMedium);
  EXPECT_TRUE(t.Find(0x89, 0)->flags & kOpWritesMedium);
}


// ---------------- WRITE ATOMIC (16) ----------------

std::vector<uint8_t> WriteAtomicCdb(uint64_t lba, uint16_t blocks, uint8_t byte1 = 0,
                                    uint16_t boundary = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = kWriteAtomic16;
  c[1] = byte1;
  PutBe64(&c[2], lba);
  PutBe16(&c[10], boundary);
  PutBe16(&c[12], blocks);
  return c;
}

class SbcAtomicTest : public SbcTest {
 protected:
  void Make(AtomicLimits limits, uint32_t bs = 512) {
    MemBackendCaps caps;
    caps.atomic = limits;
    MakeLu(4096, bs, caps);
  }
};

TEST_F(SbcTest, WriteAtomicIsNotOfferedWithoutAtomicStorage) {
  MakeLu();
  ExpectCheck(Submitted(WriteAtomicCdb(0, 1), Pattern(512, 1)), kIllegal, kInvalidOpcode);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
  auto bl = Vpd(0xb0);
  ASSERT_EQ(bl.size(), 64u);
  EXPECT_EQ(GetBe32(&bl[44]), 0u);  // MAXIMUM ATOMIC TRANSFER LENGTH
  EXPECT_EQ(GetBe32(&bl[48]), 0u);  // ATOMIC ALIGNMENT
  EXPECT_EQ(GetBe32(&bl[52]), 0u);  // ATOMIC TRANSFER LENGTH GRANULARITY
  // REPORT SUPPORTED OPERATION CODES leaves it out.
  Command* r = Submitted({0xa3, 0x0c, 0x01, kWriteAtomic16, 0, 0, 0, 0, 0x10, 0, 0, 0});
  ExpectGood(r);
  EXPECT_EQ(r->data.data()[1] & 0x07, 0x01);  // SUPPORT: not supported
}

TEST_F(SbcAtomicTest, AdvertisesAndEnforcesTheStoresLimits) {
  Make({.max_bytes = 64 * 1024, .align_bytes = 4096, .granularity_bytes = 4096});
  auto bl = Vpd(0xb0);
  EXPECT_EQ(GetBe32(&bl[44]), 128u);
  EXPECT_EQ(GetBe32(&bl[48]), 8u);
  EXPECT_EQ(GetBe32(&bl[52]), 8u);
  EXPECT_EQ(GetBe32(&bl[56]), 0u);  // no atomic boundary
  EXPECT_EQ(GetBe32(&bl[60]), 0u);
  Command* r = Submitted({0xa3, 0x0c, 0x01, kWriteAtomic16, 0, 0, 0, 0, 0x10, 0, 0, 0});
  ExpectGood(r);
  EXPECT_EQ(r->data.data()[1] & 0x07, 0x03);

  auto data = Pattern(16 * 512, 9);
  Command* w = Submitted(WriteAtomicCdb(8, 16, kCdbFua), data);
  ExpectGood(w);
  EXPECT_EQ(backend_->ReadBytes(8 * 512, data.size()), data);
  auto log = backend_->log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back().op, IoOp::kWrite);
  EXPECT_EQ(log.back().flags, MODTGT_IO_ATOMIC | MODTGT_IO_FUA);
  EXPECT_EQ(log.back().length, data.size());

  const size_t writes = backend_->CountOps(IoOp::kWrite);
  ExpectCheck(Submitted(WriteAtomicCdb(0, 136), Pattern(136 * 512, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Submitted(WriteAtomicCdb(0, 12), Pattern(12 * 512, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Submitted(WriteAtomicCdb(4, 8), Pattern(8 * 512, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Submitted(WriteAtomicCdb(0, 8, 0, 8), Pattern(8 * 512, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Submitted(WriteAtomicCdb(0, 8, 0x20), Pattern(8 * 512, 1)), kIllegal, kInvalidCdb);
  // Past the end is LBA OUT OF RANGE before any length check.
  ExpectCheck(Submitted(WriteAtomicCdb(4096 - 8, 512), Pattern(512 * 512, 1)), kIllegal, kLbaOor);
  ExpectCheck(Submitted(WriteAtomicCdb(4096 + 8, 0)), kIllegal, kLbaOor);
  // A partial atomic write is not written at all.
  ExpectCheck(Submitted(WriteAtomicCdb(0, 16), Pattern(8 * 512, 1)), kIllegal, 0x0e03);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), writes);
  // Zero blocks: GOOD, nothing written.
  ExpectGood(Submitted(WriteAtomicCdb(0, 0)));
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), writes);
}

TEST_F(SbcAtomicTest, LimitsAreConvertedToWholeBlocks) {
  // Byte limits below one block: any block-aligned write of up to max.
  Make({.max_bytes = 8192, .align_bytes = 0, .granularity_bytes = 0});
  EXPECT_EQ(AtomicLimitsOf(*lu_).max_blocks, 16u);
  EXPECT_EQ(AtomicLimitsOf(*lu_).alignment, 1u);
  EXPECT_EQ(AtomicLimitsOf(*lu_).granularity, 1u);
  // Larger than the maximum transfer length: clamped to it.
  Make({.max_bytes = 1u << 30});
  EXPECT_EQ(AtomicLimitsOf(*lu_).max_blocks, MaxTransferBlocks(*lu_));
  // Not expressible in 4 KiB blocks: none.
  Make({.max_bytes = 64 * 1024, .align_bytes = 6144}, 4096);
  EXPECT_EQ(AtomicLimitsOf(*lu_).max_blocks, 0u);
  Make({.max_bytes = 2048}, 4096);
  EXPECT_EQ(AtomicLimitsOf(*lu_).max_blocks, 0u);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
