// SPDX-License-Identifier: Apache-2.0
// Reads a backend completes with MODTGT_STS_ZEROS (module ABI 1.6, "the range reads as
// zeros", the buffer not written), through every user of read data in src/scsi: READ
// (the transport sends the Data-In from the zero buffer: Command::data_zero), the command
// takeover (handle_cmd), and the users that need the bytes themselves, which scsi::IoDone
// zero-fills: COMPARE AND WRITE, VERIFY with BYTCHK, WRITE AND VERIFY, ORWRITE (here), MMC
// READ and EXTENDED COPY (mmc_test.cc, xcopy_test.cc). The fake backend leaves 0xEE
// garbage in the buffer of such a read, so a user that took the bytes as they are fails.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "modtgt/module.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "sbc_fixture.h"

namespace modtgt::scsi::sbctest {
namespace {

MemBackendCaps ZeroReads() {
  MemBackendCaps caps;
  caps.zero_reads = true;
  return caps;
}

TEST(ZeroBuffer, IsSharedReadOnlyAndZero) {
  const uint8_t* z = ZeroBuffer();
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(z, ZeroBuffer());
  for (size_t i = 0; i < kZeroBufferBytes; i++) ASSERT_EQ(z[i], 0) << i;
}

TEST(IoDone, ZerosIsFilledForAUserThatDidNotAskOtherwise) {
  testing::FakeOwner owner;
  Command cmd;
  cmd.owner = &owner;
  std::vector<uint8_t> a(700, 0xee), b(300, 0xee);
  cmd.io.op = IoOp::kRead;
  cmd.io.iov[0] = iovec{a.data(), a.size()};
  cmd.io.iov[1] = iovec{b.data(), b.size()};
  cmd.io.iovcnt = 2;
  static int done_status;
  done_status = -1;
  cmd.io.done = [](Command* c) { done_status = c->io.status; };
  IoDone(&cmd, MODTGT_STS_ZEROS);
  EXPECT_EQ(done_status, MODTGT_STS_OK);
  EXPECT_FALSE(cmd.io.zeros);
  EXPECT_EQ(a, std::vector<uint8_t>(700, 0));
  EXPECT_EQ(b, std::vector<uint8_t>(300, 0));

  // A user that takes zeros as a flag: nothing is written.
  std::fill(a.begin(), a.end(), 0xee);
  cmd.io.zeros_ok = true;
  IoDone(&cmd, MODTGT_STS_ZEROS);
  EXPECT_EQ(done_status, MODTGT_STS_OK);
  EXPECT_TRUE(cmd.io.zeros);
  EXPECT_EQ(a, std::vector<uint8_t>(700, 0xee));
}

TEST_F(SbcTest, ReadOfZerosIsFlaggedForTheTransportAndNotFilled) {
  MakeLu(1024, 512, ZeroReads());
  Command* c = Run(Cdb10(0x28, 8, 4));
  ExpectGood(c);
  EXPECT_EQ(c->data_in_length, 4u * 512);
  EXPECT_TRUE(c->data_zero);
  // The store did not write the buffer, and the core did not fill it either.
  EXPECT_EQ(c->data.data()[0], 0xee);

  // Data that is not all zeros comes back as bytes, unflagged.
  auto data = Pattern(512, 9);
  backend_->WriteBytes(9 * 512, data.data(), data.size());
  Command* r = Run(Cdb16(0x88, 8, 4));
  ExpectGood(r);
  EXPECT_FALSE(r->data_zero);
  EXPECT_EQ(std::vector<uint8_t>(r->data.data() + 512, r->data.data() + 1024), data);

  // Through scsi::Submit as well (the flag is cleared for each command).
  Command* s = Submitted(Cdb10(0x28, 100, 2));
  ExpectGood(s);
  EXPECT_TRUE(s->data_zero);
  EXPECT_EQ(s->data_in_length, 1024u);
}

TEST_F(SbcTest, CompareAndWriteComparesZerosTheStoreDidNotWrite) {
  MakeLu(1024, 512, ZeroReads());
  const uint32_t n = kMaxCompareAndWriteBlocks;
  std::vector<uint8_t> out(2 * n * 512, 0);
  std::fill(out.begin() + n * 512, out.end(), 'B');
  ExpectGood(Run(CawCdb(7, static_cast<uint8_t>(n)), out));
  EXPECT_EQ(backend_->ReadBytes(7 * 512, n * 512), std::vector<uint8_t>(n * 512, 'B'));
  // A compare of zeros against real zeros with one byte off: the offset is that byte's.
  std::vector<uint8_t> bad(2 * n * 512, 0);
  bad[5] = 1;
  Command* c = Run(CawCdb(20, static_cast<uint8_t>(n)), bad);
  ExpectCheck(c, kMiscompare, 0x1d00);
  EXPECT_EQ(Info(c), 5u);
}

TEST_F(SbcTest, VerifyAndWriteAndVerifyCompareZerosTheStoreDidNotWrite) {
  MakeLu(1024, 512, ZeroReads());
  std::vector<uint8_t> zeros(3 * 512, 0);
  ExpectGood(Run(Cdb10(0x2f, 30, 3, 0x02), zeros));                            // BYTCHK 01b
  ExpectGood(Run(Cdb10(0x2f, 30, 3, 0x06), std::vector<uint8_t>(512, 0)));     // BYTCHK 11b
  ExpectGood(Run(Cdb10(0x2e, 40, 3, 0x02), zeros));  // WRITE AND VERIFY of zeros
  EXPECT_EQ(backend_->CountOps(IoOp::kRead), 3u);
}

TEST_F(SbcTest, OrWriteCombinesWithZerosTheStoreDidNotWrite) {
  MakeLu(1024, 512, ZeroReads());
  ExpectGood(Run(Cdb16(0x8b, 3, 2), std::vector<uint8_t>(1024, 0xf0)));
  EXPECT_EQ(backend_->ReadBytes(3 * 512, 1024), std::vector<uint8_t>(1024, 0xf0));
}

// A handle_cmd (tcmu-style takeover) that answers READ (10) itself with ZEROS.
class TakeoverZeros : public PlainBackend {
 public:
  uint64_t size_bytes() const override { return 1 << 20; }
  bool has_handle_cmd() const override { return true; }
  void Submit(Command* cmd) override {
    if (cmd->io.op != IoOp::kHandleCmd || cmd->cdb[0] != 0x28) {
      IoDone(cmd, cmd->io.op == IoOp::kHandleCmd ? MODTGT_STS_NOT_HANDLED : MODTGT_STS_OK);
      return;
    }
    cmd->data.Resize(cmd->expected_length);  // as core::Device::Dispatch does
    std::memset(cmd->data.data(), 0xee, cmd->data.size());
    cmd->data_in_length = 2048;
    IoDone(cmd, MODTGT_STS_ZEROS);
  }
};

TEST_F(SbcTest, HandleCmdZerosAreFlaggedForTheTransport) {
  MakeLuWith(std::make_unique<TakeoverZeros>(), 512, false, false);
  Command* c = Submitted(Cdb10(0x28, 0, 4), {}, 2048);
  ExpectGood(c);
  EXPECT_EQ(c->data_in_length, 2048u);
  EXPECT_TRUE(c->data_zero);
  // Another command through the same path, handled by the core: not flagged.
  Command* tur = Submitted({0x00, 0, 0, 0, 0, 0}, {}, 0);
  ExpectGood(tur);
  EXPECT_FALSE(tur->data_zero);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
