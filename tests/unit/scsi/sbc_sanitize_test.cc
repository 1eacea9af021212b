// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc_sanitize.cc: SANITIZE OVERWRITE / BLOCK ERASE / EXIT FAILURE
// MODE, CRYPTO ERASE refused, the parameter checks libiscsi's Sanitize tests make, the
// sanitize-in-progress state (NOT READY / SANITIZE IN PROGRESS with a progress indication,
// what still runs), an operation that outlives its aborted command, failure mode, and the
// reservation and VPD interplay. Through scsi::Submit, on a loop thread.
#include <gtest/gtest.h>

#include <vector>

#include "common/byteorder.h"
#include "fakes/io_gate.h"
#include "modtgt/module.h"
#include "sbc_fixture.h"

namespace modtgt::scsi::sbctest {
namespace {

constexpr uint8_t kNotReady = 0x2;
constexpr uint16_t kSanitizeInProgress = 0x041b;
constexpr uint16_t kSanitizeFailed = 0x3103;
constexpr uint32_t kBlocks = 8192;  // 4 MiB: several 1 MiB overwrite chunks

std::vector<uint8_t> SanitizeCdb(uint8_t sa, uint16_t plen, bool immed = false, bool ause = false) {
  std::vector<uint8_t> c(10, 0);
  c[0] = kSanitize;
  c[1] = static_cast<uint8_t>(sa | (immed ? 0x80 : 0) | (ause ? 0x20 : 0));
  PutBe16(&c[7], plen);
  return c;
}

std::vector<uint8_t> OverwriteParams(std::vector<uint8_t> pattern, uint8_t count = 1,
                                     bool invert = false) {
  std::vector<uint8_t> p(4 + pattern.size(), 0);
  p[0] = static_cast<uint8_t>(count | (invert ? 0x80 : 0));
  PutBe16(&p[2], static_cast<uint16_t>(pattern.size()));
  for (size_t i = 0; i < pattern.size(); ++i) p[4 + i] = pattern[i];
  return p;
}

class SanitizeTest : public SbcTest {
 protected:
  // `lba_status`: whether the thin store also reports its allocation.
  void Make(bool thin, bool lba_status = true) {
    MemBackendCaps caps;
    caps.unmap = thin;
    caps.thin = thin;
    caps.lba_status = thin && lba_status;
    MakeLu(kBlocks, 512, caps, /*thin_cfg=*/thin, /*async=*/true);
    backend_->Fill(0, uint64_t{kBlocks} * 512, 0x61);
    backend_->SetBeforeIo([this](const IoRequest& io) {
      if (io.op == IoOp::kWrite || io.op == IoOp::kUnmap) gate_.Pass();
    });
  }
  void TearDown() override {
    gate_.Open();
    SbcTest::TearDown();
  }
  // Submits without waiting for the command to complete; `started_done_` is the owner's
  // count of completed commands just before.
  Command* Start(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out = {}) {
    ExpectGood(Submitted({0x00, 0, 0, 0, 0, 0}));  // creates the target, clears the UA
    started_done_ = owner_->done_count();
    Command* cmd = NewCmd(cdb, out, kNoEdtl);
    cmd->lu.reset();
    cmd->nexus = &nexus_[0];
    owner_->loop()->Post([cmd] { Submit(cmd); });
    return cmd;
  }
  // Polls (through the loop, which runs the operation) until the LU's sanitize operation
  // has ended.
  bool WaitIdle() {
    for (int i = 0; i < 100000 && lu_->sanitizing.load(); ++i) {
      if (!testing::SyncLoop(owner_->loop())) return false;
    }
    return !lu_->sanitizing.load();
  }
  uint16_t Progress(const Command* c) { return GetBe16(c->sense + 16); }
  testing::IoGate gate_;
  int started_done_ = 0;
};

TEST_F(SanitizeTest, OverwriteRepeatsThePatternInEveryBlockAndFlushes) {
  Make(false);
  std::vector<uint8_t> pattern = {1, 2, 3};
  auto p = OverwriteParams(pattern);
  ExpectGood(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p));
  std::vector<uint8_t> block(512);
  for (size_t i = 0; i < block.size(); ++i) block[i] = pattern[i % 3];
  EXPECT_EQ(backend_->ReadBytes(0, 512), block);
  EXPECT_EQ(backend_->ReadBytes((kBlocks - 1) * 512ull, 512), block);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 4u);  // 4 MiB in 1 MiB chunks
  EXPECT_EQ(backend_->CountOps(IoOp::kFlush), 1u);
  EXPECT_FALSE(lu_->sanitizing.load());
}

TEST_F(SanitizeTest, InvertFlipsThePatternBetweenPasses) {
  Make(false);
  auto p = OverwriteParams({0x0f}, /*count=*/2, /*invert=*/true);
  ExpectGood(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p));
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 8u);
  EXPECT_EQ(backend_->ReadBytes(0, 4), (std::vector<uint8_t>(4, 0xf0)));
}

TEST_F(SanitizeTest, BadOverwriteParametersAreRefusedWithoutWriting) {
  Make(false);
  const std::vector<uint8_t> good = OverwriteParams(std::vector<uint8_t>(512, 0xaa));
  std::vector<uint8_t> big(512 + 8, 0);
  for (uint16_t plen = 0; plen < 5; ++plen) {  // a header and at least one pattern byte
    ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, plen), good), kIllegal, kInvalidCdb);
  }
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, 512 + 5), big), kIllegal, kInvalidCdb);
  auto zero_count = good;
  zero_count[0] = 0;
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, 516), zero_count), kIllegal, kInvalidParam);
  auto zero_len = good;
  PutBe16(&zero_len[2], 0);
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, 516), zero_len), kIllegal, kInvalidParam);
  auto too_long = good;
  PutBe16(&too_long[2], 516);
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, 516), too_long), kIllegal, kInvalidParam);
  auto test_mode = good;
  test_mode[0] |= 0x20;
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, 516), test_mode), kIllegal, kInvalidParam);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
}

TEST_F(SanitizeTest, ServiceActionsAndReservedFields) {
  Make(false);
  // Everything but OVERWRITE, BLOCK ERASE (not here: no thin provisioning) and EXIT
  // FAILURE MODE is an invalid field, never an invalid opcode; CRYPTO ERASE included.
  for (uint8_t sa = 0; sa < 0x1f; ++sa) {
    if (sa == kSaSanitizeOverwrite) continue;
    ExpectCheck(Submitted(SanitizeCdb(sa, 0)), kIllegal, kInvalidCdb);
  }
  ExpectGood(Submitted(SanitizeCdb(kSaSanitizeExitFailureMode, 0)));
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeExitFailureMode, 8), std::vector<uint8_t>(8)),
              kIllegal, kInvalidCdb);
  auto cdb = SanitizeCdb(kSaSanitizeExitFailureMode, 0);
  cdb[1] |= 0x40;
  ExpectCheck(Submitted(cdb), kIllegal, kInvalidCdb);
  for (int byte = 2; byte <= 6; ++byte) {
    cdb = SanitizeCdb(kSaSanitizeExitFailureMode, 0);
    cdb[byte] = 1;
    ExpectCheck(Submitted(cdb), kIllegal, kInvalidCdb);
  }
}

TEST_F(SanitizeTest, BlockEraseUnmapsEverythingWhereTheStoreCan) {
  Make(true);
  EXPECT_EQ(Vpd(0xb1)[7] & 0xf0, 0x40);  // WABEREQ 01b, WACEREQ 0
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeBlockErase, 8), std::vector<uint8_t>(8)), kIllegal,
              kInvalidCdb);
  ExpectGood(Submitted(SanitizeCdb(kSaSanitizeBlockErase, 0)));
  EXPECT_EQ(backend_->AllocatedUnits(), 0u);
  EXPECT_EQ(backend_->ReadBytes(12345, 100), std::vector<uint8_t>(100, 0));
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 0u);
}

TEST_F(SanitizeTest, NoBlockEraseWithoutThinProvisioning) {
  Make(false);
  EXPECT_EQ(Vpd(0xb1)[7] & 0xf0, 0x00);
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeBlockErase, 0)), kIllegal, kInvalidCdb);
  // REPORT SUPPORTED OPERATION CODES lists OVERWRITE and EXIT FAILURE MODE only.
  Command* all = Submitted({0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
  ExpectGood(all);
  std::vector<uint16_t> sas;
  const uint8_t* d = all->data.data();
  for (uint32_t off = 4; off + 8 <= all->data_in_length; off += 8) {
    if (d[off] == kSanitize) sas.push_back(GetBe16(d + off + 2));
  }
  EXPECT_EQ(sas, (std::vector<uint16_t>{kSaSanitizeOverwrite, kSaSanitizeExitFailureMode}));
}

// A thin store that cannot report its allocation would answer GET LBA STATUS "mapped" for
// the LBAs a BLOCK ERASE has just deallocated: BLOCK ERASE is not offered there.
TEST_F(SanitizeTest, NoBlockEraseWhereTheStoreCannotReportItsAllocation) {
  Make(true, /*lba_status=*/false);
  EXPECT_EQ(Vpd(0xb1)[7] & 0xf0, 0x00);  // WABEREQ 0
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeBlockErase, 0)), kIllegal, kInvalidCdb);
  EXPECT_EQ(backend_->CountOps(IoOp::kUnmap), 0u);
}

TEST_F(SanitizeTest, WhileInProgressMostCommandsAreNotReadyWithProgress) {
  Make(false);
  auto p = OverwriteParams({0x5a});
  gate_.Close();
  Command* san = Start(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size()), true), p);
  ASSERT_TRUE(gate_.WaitForArrivals(1));
  ASSERT_TRUE(owner_->WaitForDone(started_done_ + 1));
  ExpectGood(san);  // IMMED: GOOD before the operation ends (the first write is held)
  EXPECT_TRUE(lu_->sanitizing.load());
  Command* tur = Submitted({0x00, 0, 0, 0, 0, 0});
  ExpectCheck(tur, kNotReady, kSanitizeInProgress);
  EXPECT_EQ(tur->sense[15] & 0x80, 0x80);  // SKSV: PROGRESS INDICATION
  ExpectCheck(Submitted(Cdb10(0x28, 0, 1)), kNotReady, kSanitizeInProgress);
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p),
              kNotReady, kSanitizeInProgress);
  ExpectGood(Submitted({0x12, 0, 0, 0, 96, 0}));                           // INQUIRY
  ExpectGood(Submitted({0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}));          // REPORT LUNS
  Command* rs = Submitted({0x03, 0, 0, 0, 18, 0});                          // REQUEST SENSE
  ExpectGood(rs);
  EXPECT_EQ(rs->data.data()[2] & 0xf, kNotReady);
  EXPECT_EQ(GetBe16(rs->data.data() + 12), kSanitizeInProgress);
  // A LUN reset does not stop it (SBC-4 4.11.3).
  ResetLogicalUnit(lu_.get(), &nexus_[0]);
  EXPECT_TRUE(lu_->sanitizing.load());
  gate_.Open();
  ASSERT_TRUE(WaitIdle());
  ua_cleared_[0] = false;  // the reset's unit attention
  ExpectGood(Submitted({0x00, 0, 0, 0, 0, 0}));
  EXPECT_EQ(backend_->ReadBytes(777 * 512, 4), (std::vector<uint8_t>(4, 0x5a)));
}

TEST_F(SanitizeTest, ProgressGrowsChunkByChunk) {
  Make(false);
  auto p = OverwriteParams({0x01}, /*count=*/2);  // 8 chunks of 1 MiB in all
  gate_.Close(/*permits=*/2);
  Start(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size()), true), p);
  ASSERT_TRUE(gate_.WaitForArrivals(3));  // two written, the third held
  EXPECT_EQ(lu_->sanitize_progress.load(), 65536 / 4);
  Command* tur = Submitted({0x00, 0, 0, 0, 0, 0});
  ExpectCheck(tur, kNotReady, kSanitizeInProgress);
  EXPECT_EQ(Progress(tur), 65536 / 4);
  gate_.Open();
  ASSERT_TRUE(WaitIdle());
  EXPECT_EQ(lu_->sanitize_progress.load(), 0);  // reset at the end
  ExpectGood(Submitted({0x00, 0, 0, 0, 0, 0}));
}

TEST_F(SanitizeTest, TheOperationOutlivesItsAbortedCommand) {
  Make(false);
  auto p = OverwriteParams({0x77});
  gate_.Close();
  Command* san = Start(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p);
  ASSERT_TRUE(gate_.WaitForArrivals(1));
  EXPECT_EQ(owner_->done_count(), started_done_);  // not IMMED: still waiting
  san->aborted.store(true);  // ABORT TASK / nexus loss: the transport marks it
  gate_.Open();
  ASSERT_TRUE(owner_->WaitForDone(started_done_ + 1));
  EXPECT_EQ(san->status, Status::kTaskAborted);
  ASSERT_TRUE(WaitIdle());
  EXPECT_EQ(backend_->ReadBytes((kBlocks - 1) * 512ull, 4), (std::vector<uint8_t>(4, 0x77)));
  EXPECT_FALSE(lu_->sanitize_failed.load());
}

TEST_F(SanitizeTest, AFailedOperationLeavesFailureModeUntilExitOrSuccess) {
  Make(false);
  auto p = OverwriteParams({0x33});
  const auto cdb = SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size()));
  backend_->FailNext(IoOp::kWrite, MODTGT_STS_WRITE_ERROR);
  ExpectCheck(Submitted(cdb, p), kMedium, kSanitizeFailed);
  EXPECT_TRUE(lu_->sanitize_failed.load());
  ExpectCheck(Submitted(Cdb10(0x28, 0, 1)), kMedium, kSanitizeFailed);
  // AUSE was 0: EXIT FAILURE MODE may not end it; a successful SANITIZE does.
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeExitFailureMode, 0)), kIllegal, kInvalidCdb);
  ExpectGood(Submitted(cdb, p));
  ExpectGood(Submitted(Cdb10(0x28, 0, 1)));
  // With AUSE set, EXIT FAILURE MODE ends it.
  backend_->FailNext(IoOp::kWrite, MODTGT_STS_WRITE_ERROR);
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size()), false,
                                    true), p),
              kMedium, kSanitizeFailed);
  ExpectGood(Submitted(SanitizeCdb(kSaSanitizeExitFailureMode, 0)));
  ExpectGood(Submitted(Cdb10(0x28, 0, 1)));
}

TEST_F(SanitizeTest, AnotherNexusReservationConflicts) {
  Make(true);
  ExpectGood(Submitted({0x16, 0, 0, 0, 0, 0}, {}, kNoEdtl, 1));  // RESERVE (6) by nexus 1
  auto p = OverwriteParams({0x11});
  EXPECT_EQ(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p)->status,
            Status::kReservationConflict);
  EXPECT_EQ(Submitted(SanitizeCdb(kSaSanitizeBlockErase, 0))->status, Status::kReservationConflict);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite) + backend_->CountOps(IoOp::kUnmap), 0u);
}

TEST_F(SanitizeTest, ReadOnlyIsWriteProtected) {
  MemBackendCaps caps;
  auto be = std::make_unique<MemBackend>(kBlocks * 512ull, caps, false);
  backend_ = be.get();
  LuConfig cfg;
  cfg.readonly = true;
  lu_ = std::make_shared<LogicalUnit>(cfg, &SbcDeviceType(), std::move(be), "iqn.test:t");
  owner_ = std::make_unique<FakeOwner>();
  auto p = OverwriteParams({0x11});
  ExpectCheck(Submitted(SanitizeCdb(kSaSanitizeOverwrite, static_cast<uint16_t>(p.size())), p),
              0x7, 0x2700);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
