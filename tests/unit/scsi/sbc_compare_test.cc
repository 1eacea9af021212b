// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc_compare.cc: VERIFY, WRITE AND VERIFY, COMPARE AND WRITE
// (emulated and native, miscompare offsets) and ORWRITE.
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

// ---------------- VERIFY / WRITE AND VERIFY ----------------

TEST_F(SbcTest, VerifyWithoutBytchkReadsTheRange) {
  MakeLu();
  Command* v = Run(Cdb10(0x2f, 10, 4));
  ExpectGood(v);
  EXPECT_EQ(v->data_in_length, 0u);
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].op, IoOp::kRead);
  EXPECT_EQ(log[0].offset, 10u * 512);
  ExpectCheck(Run(Cdb16(0x8f, 1023, 2)), kIllegal, kLbaOor);
  ExpectGood(Run(Cdb12(0xaf, 1024, 0)));
  backend_->FailNext(IoOp::kRead, MODTGT_STS_READ_ERROR);
  ExpectCheck(Run(Cdb10(0x2f, 0, 1)), kMedium, 0x1100);
}

TEST_F(SbcTest, VerifyBytchkComparesAndReportsTheFirstMismatchOffset) {
  MakeLu();
  auto data = Pattern(4 * 512, 11);
  backend_->WriteBytes(20 * 512, data.data(), data.size());
  ExpectGood(Run(Cdb10(0x2f, 20, 4, 0x02), data));
  for (uint32_t off : {0u, 777u, 4u * 512 - 1}) {
    auto bad = data;
    bad[off] ^= 'X';
    Command* v = Run(Cdb16(0x8f, 20, 4, 0x02), bad);
    ExpectCheck(v, kMiscompare, 0x1d00);
    EXPECT_TRUE(InfoValid(v));
    EXPECT_EQ(Info(v), off);
  }
}

TEST_F(SbcTest, VerifyBytchk11ComparesOneBlockWithEachBlock) {
  MakeLu();
  auto block = Pattern(512, 2);
  for (int i = 0; i < 3; ++i) backend_->WriteBytes((30 + i) * 512, block.data(), 512);
  ExpectGood(Run(Cdb10(0x2f, 30, 3, 0x06), block));
  backend_->Fill(32 * 512 + 5, 1, 0xee);
  Command* v = Run(Cdb10(0x2f, 30, 3, 0x06), block);
  ExpectCheck(v, kMiscompare, 0x1d00);
  EXPECT_EQ(Info(v), 2u * 512 + 5);
  ExpectCheck(Run(Cdb10(0x2f, 30, 3, 0x04)), kIllegal, kInvalidCdb);  // BYTCHK 10b
}

TEST_F(SbcTest, VerifyBytchkWithShortDataOutIsRejected) {
  MakeLu();
  ExpectCheck(Run(Cdb10(0x2f, 0, 2, 0x02), Pattern(512, 0)), kIllegal, 0x0e03);
}

TEST_F(SbcTest, WriteAndVerifyWritesThenReadsBack) {
  MakeLu();
  auto data = Pattern(2 * 512, 4);
  for (uint8_t op : {0x2e, 0xae, 0x8e}) {
    backend_->ClearLog();
    std::vector<uint8_t> cdb = op == 0x2e ? Cdb10(op, 40, 2, 0x02)
                               : op == 0xae ? Cdb12(op, 40, 2, 0x02)
                                            : Cdb16(op, 40, 2, 0x10);
    ExpectGood(Run(cdb, data));
    EXPECT_EQ(backend_->ReadBytes(40 * 512, data.size()), data);
    auto log = backend_->log();
    ASSERT_EQ(log.size(), 2u);
    EXPECT_EQ(log[0].op, IoOp::kWrite);
    EXPECT_EQ(log[1].op, IoOp::kRead);
  }
  ExpectCheck(Run(Cdb10(0x2e, 40, 2, 0x04), data), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb10(0x2e, 1023, 2), data), kIllegal, kLbaOor);
}

// ---------------- COMPARE AND WRITE ----------------

TEST_F(SbcTest, CompareAndWriteEmulatedWritesOnMatch) {
  MakeLu();
  const uint32_t n = kMaxCompareAndWriteBlocks;
  backend_->Fill(7 * 512, n * 512, 'A');
  std::vector<uint8_t> out(2 * n * 512, 'A');
  std::fill(out.begin() + n * 512, out.end(), 'B');
  Command* c = Run(CawCdb(7, static_cast<uint8_t>(n), 0x08), out);
  ExpectGood(c);
  EXPECT_EQ(c->data_out_needed, 2 * n * 512);
  EXPECT_EQ(backend_->ReadBytes(7 * 512, n * 512), std::vector<uint8_t>(n * 512, 'B'));
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].op, IoOp::kRead);
  EXPECT_EQ(log[1].op, IoOp::kWrite);
  EXPECT_EQ(log[1].flags, MODTGT_IO_FUA);
  EXPECT_EQ(SbcRangeLockEntriesForTest(), 0u);
}

TEST_F(SbcTest, CompareAndWriteEmulatedMiscompareReportsOffsetAndWritesNothing) {
  MakeLu();
  const uint32_t n = kMaxCompareAndWriteBlocks;
  backend_->Fill(0, n * 512, 'A');
  std::vector<uint8_t> out(2 * n * 512, 'A');
  std::fill(out.begin() + n * 512, out.end(), 'B');
  out[n * 512 - 27] = 'C';  // as libiscsi CompareAndWrite.Miscompare
  Command* c = Run(CawCdb(0, static_cast<uint8_t>(n)), out);
  ExpectCheck(c, kMiscompare, 0x1d00);
  EXPECT_TRUE(InfoValid(c));
  EXPECT_EQ(Info(c), n * 512 - 27);
  EXPECT_EQ(backend_->ReadBytes(0, n * 512), std::vector<uint8_t>(n * 512, 'A'));
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
  EXPECT_EQ(SbcRangeLockEntriesForTest(), 0u);
}

TEST_F(SbcTest, CompareAndWriteNativeCalloutAndMiscompareOffset) {
  MemBackendCaps caps;
  caps.caw = true;
  MakeLu(1024, 512, caps);
  backend_->Fill(0, 512, 'A');
  std::vector<uint8_t> out(1024, 'A');
  std::fill(out.begin() + 512, out.end(), 'B');
  ExpectGood(Run(CawCdb(0, 1), out));
  EXPECT_EQ(backend_->ReadBytes(0, 512), std::vector<uint8_t>(512, 'B'));
  EXPECT_EQ(backend_->CountOps(IoOp::kCaw), 1u);
  Command* c = Run(CawCdb(0, 1), out);  // medium is 'B' now: miscompare at byte 0
  ExpectCheck(c, kMiscompare, 0x1d00);
  EXPECT_EQ(Info(c), 0u);
  backend_->Fill(100, 1, 'A');
  std::vector<uint8_t> cmp(1024, 'B');
  Command* c2 = Run(CawCdb(0, 1), cmp);
  ExpectCheck(c2, kMiscompare, 0x1d00);
  EXPECT_EQ(Info(c2), 100u);
}

TEST_F(SbcTest, CompareAndWriteChecksLengthsAndRange) {
  MakeLu(64);
  std::vector<uint8_t> four(4 * 512, 0);
  ExpectCheck(Run(CawCdb(0, 1), four), kIllegal, kInvalidCdb);  // Data-Out too large
  ExpectCheck(Run(CawCdb(0, 1), std::vector<uint8_t>(512, 0)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(CawCdb(64, 1), std::vector<uint8_t>(1024, 0)), kIllegal, kLbaOor);
  if (kMaxCompareAndWriteBlocks < 255) {
    const auto n = static_cast<uint8_t>(kMaxCompareAndWriteBlocks + 1);
    ExpectCheck(Run(CawCdb(0, n), std::vector<uint8_t>(2u * n * 512, 0)), kIllegal, kInvalidCdb);
  }
  ExpectGood(Run(CawCdb(0, 0), {}, 0));
  // 256 blocks wrap the one-byte field to 0: the Data-Out makes it an error.
  ExpectCheck(Run(CawCdb(0, 0), std::vector<uint8_t>(2 * 256 * 512, 0)), kIllegal, kInvalidCdb);
  EXPECT_TRUE(backend_->log().empty());
}

// ---------------- ORWRITE ----------------

TEST_F(SbcTest, OrWriteOrsTheDataIntoTheMedium) {
  MakeLu();
  backend_->Fill(3 * 512, 2 * 512, 0x0f);
  ExpectGood(Run(Cdb16(0x8b, 3, 2), std::vector<uint8_t>(1024, 0xf0)));
  EXPECT_EQ(backend_->ReadBytes(3 * 512, 1024), std::vector<uint8_t>(1024, 0xff));
  ExpectCheck(Run(Cdb16(0x8b, 1023, 2), std::vector<uint8_t>(1024, 1)), kIllegal, kLbaOor);
  ExpectGood(Run(Cdb16(0x8b, 0, 0), {}, 0));
  ExpectCheck(Run(Cdb16(0x8b, 0, 1, 0x20), std::vector<uint8_t>(512, 1)), kIllegal, kInvalidCdb);
  EXPECT_EQ(SbcRangeLockEntriesForTest(), 0u);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
