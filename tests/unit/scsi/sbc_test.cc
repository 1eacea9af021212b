// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc.cc: every SBC handler against an in-memory backend, with
// the behaviours libiscsi's iscsi-test-cu checks (ranges, zero lengths, residuals,
// miscompare offsets, WRITE SAME/UNMAP/COMPARE AND WRITE emulation vs native callouts).
#include "scsi/sbc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/byteorder.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "modtgt/module.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/spc.h"

namespace modtgt::scsi {
namespace {

using testing::FakeOwner;
using testing::LoopThread;
using testing::MemBackend;
using testing::MemBackendCaps;

constexpr uint32_t kNoEdtl = 0xffffffffu;

std::vector<uint8_t> Cdb6(uint8_t op, uint32_t lba, uint8_t n) {
  std::vector<uint8_t> c(6, 0);
  c[0] = op;
  c[1] = static_cast<uint8_t>((lba >> 16) & 0x1f);
  PutBe16(&c[2], static_cast<uint16_t>(lba));
  c[4] = n;
  return c;
}
std::vector<uint8_t> Cdb10(uint8_t op, uint32_t lba, uint16_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe32(&c[2], lba);
  PutBe16(&c[7], n);
  return c;
}
std::vector<uint8_t> Cdb12(uint8_t op, uint32_t lba, uint32_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(12, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe32(&c[2], lba);
  PutBe32(&c[6], n);
  return c;
}
std::vector<uint8_t> Cdb16(uint8_t op, uint64_t lba, uint32_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe64(&c[2], lba);
  PutBe32(&c[10], n);
  return c;
}
std::vector<uint8_t> CawCdb(uint64_t lba, uint8_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x89;
  c[1] = byte1;
  PutBe64(&c[2], lba);
  c[13] = n;
  return c;
}
std::vector<uint8_t> SaIn16(uint8_t sa, uint64_t lba, uint32_t alloc) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x9e;
  c[1] = sa;
  PutBe64(&c[2], lba);
  PutBe32(&c[10], alloc);
  return c;
}
std::vector<uint8_t> UnmapParams(const std::vector<std::pair<uint64_t, uint32_t>>& d) {
  std::vector<uint8_t> p(8 + 16 * d.size(), 0);
  PutBe16(&p[0], static_cast<uint16_t>(p.size() - 2));
  PutBe16(&p[2], static_cast<uint16_t>(16 * d.size()));
  for (size_t i = 0; i < d.size(); ++i) {
    PutBe64(&p[8 + 16 * i], d[i].first);
    PutBe32(&p[8 + 16 * i + 8], d[i].second);
  }
  return p;
}
std::vector<uint8_t> UnmapCdb(uint16_t plen) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x42;
  PutBe16(&c[7], plen);
  return c;
}

// A backend with a large size and no storage: for capacity reporting only.
class SizeOnlyBackend : public Backend {
 public:
  explicit SizeOnlyBackend(uint64_t size) : size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  bool has_flush() const override { return false; }
  bool has_unmap() const override { return false; }
  bool has_write_same() const override { return false; }
  bool has_caw() const override { return false; }
  bool has_handle_cmd() const override { return false; }
  bool thin() const override { return false; }
  void Submit(Command* cmd) override {
    ++submits;
    IoDone(cmd, MODTGT_STS_OK);
  }
  int submits = 0;

 private:
  uint64_t size_;
};

class SbcTest : public ::testing::Test {
 protected:
  void MakeLu(uint64_t blocks = 1024, uint32_t bs = 512, MemBackendCaps caps = {},
              bool thin_cfg = false, bool async = false) {
    auto be = std::make_unique<MemBackend>(blocks * bs, caps, async);
    backend_ = be.get();
    MakeLuWith(std::move(be), bs, thin_cfg, async);
  }
  void MakeLuWith(std::unique_ptr<Backend> be, uint32_t bs, bool thin_cfg, bool async) {
    LuConfig cfg;
    cfg.block_size = bs;
    cfg.thin_provisioning = thin_cfg;
    lu_ = std::make_shared<LogicalUnit>(cfg, &SbcDeviceType(), std::move(be), "iqn.test:t");
    if (async) {
      loop_ = std::make_unique<LoopThread>();
      owner_ = std::make_unique<FakeOwner>(loop_->loop());
    } else {
      owner_ = std::make_unique<FakeOwner>();
    }
  }
  void TearDown() override {
    // Commands must outlive the loop (no posted work may touch a freed command).
    owner_.reset();
    loop_.reset();
    cmds_.clear();
  }

  Command* NewCmd(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out,
                  uint32_t edtl) {
    cmds_.push_back(std::make_unique<Command>());
    Command* cmd = cmds_.back().get();
    std::memcpy(cmd->cdb, cdb.data(), cdb.size());
    cmd->cdb_len = static_cast<uint8_t>(cdb.size());
    cmd->lu = lu_;
    cmd->owner = owner_.get();
    cmd->dir = out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    cmd->data.Resize(out.size());
    if (!out.empty()) std::memcpy(cmd->data.data(), out.data(), out.size());
    cmd->expected_length = edtl == kNoEdtl ? static_cast<uint32_t>(out.size()) : edtl;
    return cmd;
  }

  // Runs one CDB (with optional Data-Out) to completion. For reads without an explicit
  // EDTL, EDTL = 1 MiB (as if the initiator expected everything).
  Command* Run(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out = {},
               uint32_t edtl = kNoEdtl) {
    if (edtl == kNoEdtl && out.empty()) edtl = 1u << 24;
    Command* cmd = NewCmd(cdb, out, edtl);
    EXPECT_TRUE(testing::RunHandler(SbcDeviceType(), cmd, owner_.get()));
    return cmd;
  }

  static uint8_t Key(const Command* c) { return c->sense[2] & 0x0f; }
  static uint16_t AscQ(const Command* c) { return static_cast<uint16_t>(c->sense[12] << 8 | c->sense[13]); }
  static bool InfoValid(const Command* c) { return c->sense[0] & 0x80; }
  static uint32_t Info(const Command* c) { return GetBe32(c->sense + 3); }
  static void ExpectCheck(const Command* c, uint8_t key, uint16_t ascq) {
    ASSERT_EQ(c->status, Status::kCheckCondition);
    ASSERT_GE(c->sense_len, 14);
    EXPECT_EQ(Key(c), key);
    EXPECT_EQ(AscQ(c), ascq);
  }
  static void ExpectGood(const Command* c) {
    EXPECT_EQ(c->status, Status::kGood) << "sense key " << int(c->sense[2] & 0xf) << " asc "
                                        << std::hex << int(c->sense[12]) << "/"
                                        << int(c->sense[13]);
  }

  std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
  }

  std::shared_ptr<LogicalUnit> lu_;
  MemBackend* backend_ = nullptr;
  std::unique_ptr<LoopThread> loop_;
  std::unique_ptr<FakeOwner> owner_;
  std::vector<std::unique_ptr<Command>> cmds_;
};

constexpr uint8_t kIllegal = 0x5;
constexpr uint8_t kMedium = 0x3;
constexpr uint8_t kMiscompare = 0xe;
constexpr uint16_t kLbaOor = 0x2100;
constexpr uint16_t kInvalidCdb = 0x2400;
constexpr uint16_t kInvalidParam = 0x2600;
constexpr uint16_t kParamLen = 0x1a00;
constexpr uint16_t kInvalidOpcode = 0x2000;

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

// ---------------- READ CAPACITY ----------------

TEST_F(SbcTest, ReadCapacity10ReportsLastLbaAndBlockSize) {
  MakeLu(1000, 4096);
  Command* c = Run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ExpectGood(c);
  ASSERT_EQ(c->data_in_length, 8u);
  EXPECT_EQ(GetBe32(c->data.data()), 999u);
  EXPECT_EQ(GetBe32(c->data.data() + 4), 4096u);
  ExpectCheck(Run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}), kIllegal, kInvalidCdb);  // PMI 0, LBA 1
}

TEST_F(SbcTest, ReadCapacity10SaturatesAboveTwoToThe32Blocks) {
  MakeLuWith(std::make_unique<SizeOnlyBackend>((1ull << 33) * 512), 512, false, false);
  Command* c = Run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ExpectGood(c);
  EXPECT_EQ(GetBe32(c->data.data()), 0xffffffffu);
  Command* c16 = Run(SaIn16(0x10, 0, 32));
  ExpectGood(c16);
  EXPECT_EQ(GetBe64(c16->data.data()), (1ull << 33) - 1);
}

TEST_F(SbcTest, ReadCapacity16With512And4096ByteBlocks) {
  for (uint32_t bs : {512u, 4096u}) {
    MakeLu(2048, bs);
    Command* c = Run(SaIn16(0x10, 0, 32));
    ExpectGood(c);
    ASSERT_EQ(c->data_in_length, 32u);
    const uint8_t* p = c->data.data();
    EXPECT_EQ(GetBe64(p), 2047u);
    EXPECT_EQ(GetBe32(p + 8), bs);
    EXPECT_EQ(p[12], 0);  // no protection
    EXPECT_EQ(p[13], bs == 512 ? 3 : 0);  // 4 KiB physical blocks: 2^3 logical per physical
    EXPECT_EQ(p[14], 0);  // no LBPME without unmap
  }
}

TEST_F(SbcTest, ReadCapacity16ReportsProvisioningAndHonoursAllocationLength) {
  MemBackendCaps caps;
  caps.unmap = true;
  caps.thin = true;
  MakeLu(2048, 512, caps);
  EXPECT_EQ(Run(SaIn16(0x10, 0, 32))->data.data()[14], 0);  // not configured thin
  MakeLu(2048, 512, caps, /*thin_cfg=*/true);
  Command* c = Run(SaIn16(0x10, 0, 32));
  ExpectGood(c);
  EXPECT_EQ(c->data.data()[14], 0xc0);  // LBPME | LBPRZ
  for (uint32_t alloc = 0; alloc < 16; ++alloc) {
    Command* t = Run(SaIn16(0x10, 0, alloc));
    ExpectGood(t);
    EXPECT_EQ(t->data_in_length, alloc);
  }
  // Thin by configuration over a backend that is not itself thin: LBPME without LBPRZ.
  caps.thin = false;
  MakeLu(2048, 512, caps, /*thin_cfg=*/true);
  EXPECT_EQ(Run(SaIn16(0x10, 0, 32))->data.data()[14], 0x80);
  // VPD 0xB2 tells the same story (SBC-4 6.6.5): LBPU/LBPWS/LBPWS10 without LBPRZ.
  Command* vpd = Run({0x12, 0x01, 0xb2, 0, 64, 0});
  ExpectGood(vpd);
  EXPECT_EQ(vpd->data.data()[5], 0xe0);
}

// ---------------- WRITE SAME ----------------

TEST_F(SbcTest, WriteSameEmulatedWritesChunkByChunk) {
  MakeLu(1024, 4096);  // 1 MiB chunks = 256 blocks
  auto block = Pattern(4096, 77);
  std::vector<uint8_t> cdb = Cdb10(0x41, 100, 600);
  Command* c = Run(cdb, block);
  ExpectGood(c);
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 3u);  // 256 + 256 + 88 blocks
  EXPECT_EQ(log[0].length, 256u * 4096);
  EXPECT_EQ(log[2].offset, 612u * 4096);
  EXPECT_EQ(log[2].length, 88u * 4096);
  for (int i = 100; i < 700; i += 37) EXPECT_EQ(backend_->ReadBytes(i * 4096ull, 4096), block);
  EXPECT_EQ(backend_->ReadBytes(700 * 4096ull, 4096), std::vector<uint8_t>(4096, 0));
}

TEST_F(SbcTest, WriteSameEmulatedOverAnAsyncBackend) {
  MakeLu(4096, 4096, {}, false, /*async=*/true);
  auto block = Pattern(4096, 1);
  ExpectGood(Run(Cdb16(0x93, 0, 0), block));  // 0 = through the last LBA
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 16u);
  EXPECT_EQ(backend_->ReadBytes(4095 * 4096ull, 4096), block);
}

TEST_F(SbcTest, WriteSameEmulatedStopsAtTheFirstError) {
  MakeLu(1024, 4096);
  backend_->FailNext(IoOp::kWrite, MODTGT_STS_WRITE_ERROR);
  ExpectCheck(Run(Cdb10(0x41, 0, 600), Pattern(4096, 0)), kMedium, 0x0c00);
  EXPECT_EQ(backend_->CountOps(IoOp::kWrite), 1u);
}

TEST_F(SbcTest, WriteSameUsesTheNativeCalloutWhenPresent) {
  MemBackendCaps caps;
  caps.write_same = true;
  MakeLu(1024, 512, caps);
  auto block = Pattern(512, 8);
  ExpectGood(Run(Cdb16(0x93, 10, 20), block));
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].op, IoOp::kWriteSame);
  EXPECT_EQ(log[0].offset, 10u * 512);
  EXPECT_EQ(log[0].length, 20u * 512);
  EXPECT_EQ(backend_->ReadBytes(29 * 512, 512), block);
}

TEST_F(SbcTest, WriteSameUnmapDeallocatesOnThinLusAndIsRefusedOtherwise) {
  MemBackendCaps caps;
  caps.unmap = true;
  caps.thin = true;
  MakeLu(1024, 512, caps, /*thin_cfg=*/true);
  backend_->Fill(0, 1024 * 512, 0xff);
  // libiscsi WriteSame10.UnmapUntilEnd: NUMBER OF LOGICAL BLOCKS 0 with UNMAP.
  ExpectGood(Run(Cdb10(0x41, 1000, 0, 0x08), std::vector<uint8_t>(512, 0xff)));
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].op, IoOp::kUnmap);
  EXPECT_EQ(log[0].length, 24u * 512);
  EXPECT_EQ(backend_->ReadBytes(1000 * 512, 24 * 512), std::vector<uint8_t>(24 * 512, 0));

  // No logical block provisioning (VPD 0xB2 LBPWS = LBPWS10 = 0): the UNMAP bit is refused
  // with INVALID FIELD IN CDB (byte 1 bit 3) and nothing is written, as libiscsi's
  // WriteSame*.UnmapVPD expects and LIO does (SBC-4 table "ANCHOR bit, UNMAP bit": the
  // bit is for LUs that support logical block provisioning management).
  MakeLu(64, 512);
  auto block = Pattern(512, 3);
  backend_->Fill(0, 64 * 512, 0x55);
  Command* c = Run(Cdb10(0x41, 0, 4, 0x08), block);
  ExpectCheck(c, kIllegal, kInvalidCdb);
  EXPECT_EQ(c->sense[15], 0x80 | 0x40 | 0x08 | 3);  // SKSV, C/D, BPV, bit 3
  EXPECT_EQ(c->sense[17], 1);                         // byte 1
  EXPECT_EQ(backend_->CountOps(IoOp::kUnmap), 0u);
  EXPECT_EQ(backend_->ReadBytes(3 * 512, 1), std::vector<uint8_t>(1, 0x55));
}

TEST_F(SbcTest, WriteSameNdobWritesZerosWithoutDataOut) {
  MakeLu(64, 512);
  backend_->Fill(0, 64 * 512, 0x55);
  Command* c = Run(Cdb16(0x93, 4, 2, 0x01), {}, 0);
  ExpectGood(c);
  EXPECT_EQ(c->data_out_needed, 0u);
  EXPECT_EQ(backend_->ReadBytes(4 * 512, 1024), std::vector<uint8_t>(1024, 0));
  EXPECT_EQ(backend_->ReadBytes(6 * 512, 1), std::vector<uint8_t>(1, 0x55));
}

TEST_F(SbcTest, WriteSameRejectsBadDataOutSizeAnchorAndRange) {
  MakeLu(64, 512);
  ExpectCheck(Run(Cdb10(0x41, 0, 1), std::vector<uint8_t>(256, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb10(0x41, 0, 1), std::vector<uint8_t>(1024, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb10(0x41, 0, 1, 0x10), std::vector<uint8_t>(512, 1)), kIllegal, kInvalidCdb);
  ExpectCheck(Run(Cdb10(0x41, 60, 5), std::vector<uint8_t>(512, 1)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb10(0x41, 65, 0), std::vector<uint8_t>(512, 1)), kIllegal, kLbaOor);
  ExpectCheck(Run(Cdb16(0x93, 0xffffffffffffffffull, 0), std::vector<uint8_t>(512, 1)), kIllegal,
              kLbaOor);
  EXPECT_TRUE(backend_->log().empty());
}

// ---------------- UNMAP ----------------

class SbcThinTest : public SbcTest {
 protected:
  void SetUp() override {
    MemBackendCaps caps;
    caps.unmap = true;
    caps.thin = true;
    MakeLu(1024, 512, caps, /*thin_cfg=*/true);
    backend_->Fill(0, 1024 * 512, 0xab);
  }
};

TEST_F(SbcThinTest, UnmapIssuesOneBackendUnmapPerDescriptor) {
  auto p = UnmapParams({{0, 8}, {100, 0}, {500, 24}});
  ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p));
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 2u);  // the zero-length descriptor is skipped
  EXPECT_EQ(log[0].offset, 0u);
  EXPECT_EQ(log[0].length, 8u * 512);
  EXPECT_EQ(log[1].offset, 500u * 512);
  EXPECT_EQ(log[1].length, 24u * 512);
  EXPECT_EQ(backend_->ReadBytes(500 * 512, 24 * 512), std::vector<uint8_t>(24 * 512, 0));
  EXPECT_EQ(backend_->ReadBytes(8 * 512, 1), std::vector<uint8_t>(1, 0xab));
}

TEST_F(SbcThinTest, UnmapZeroBlocksAndEmptyListsAreGood) {
  auto p = UnmapParams({{1024, 0}});  // at end-of-LUN, libiscsi Unmap.ZeroBlocks
  ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p));
  auto none = UnmapParams({});
  ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(none.size())), none));
  ExpectGood(Run(UnmapCdb(0), {}, 0));
  std::vector<std::pair<uint64_t, uint32_t>> many;
  for (int i = 0; i < 256; ++i) many.push_back({static_cast<uint64_t>(i / 2), 0});
  auto pm = UnmapParams(many);
  ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(pm.size())), pm));
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcThinTest, UnmapOutOfRangeUnmapsNothing) {
  auto p = UnmapParams({{0, 8}, {1020, 5}});
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p), kIllegal, kLbaOor);
  auto p2 = UnmapParams({{0xffffffffffffffffull, 2}});
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(p2.size())), p2), kIllegal, kLbaOor);
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcThinTest, UnmapRejectsTooManyDescriptorsAndShortLists) {
  std::vector<std::pair<uint64_t, uint32_t>> many(kMaxUnmapBlockDescriptors + 1, {0, 1});
  auto p = UnmapParams(many);
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p), kIllegal, kInvalidParam);
  ExpectCheck(Run(UnmapCdb(4), {0, 2, 0, 0}), kIllegal, kParamLen);
  auto ok = UnmapParams({{0, 1}});
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(ok.size())), ok, 6), kIllegal, kParamLen);
  ExpectCheck(Run({0x42, 0x01, 0, 0, 0, 0, 0, 0, 24, 0}, ok), kIllegal, kInvalidCdb);  // ANCHOR
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcTest, UnmapIsAnInvalidOpcodeWithoutThinProvisioning) {
  MakeLu();  // no unmap callout
  auto p = UnmapParams({{0, 1}});
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p), kIllegal, kInvalidOpcode);
  MemBackendCaps caps;
  caps.unmap = true;
  caps.thin = true;
  MakeLu(1024, 512, caps, /*thin_cfg=*/false);  // unmap callout, but not configured thin
  ExpectCheck(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p), kIllegal, kInvalidOpcode);
  EXPECT_TRUE(backend_->log().empty());
}

TEST_F(SbcThinTest, UnmapOverAnAsyncBackendRunsDescriptorsInOrder) {
  MemBackendCaps caps;
  caps.unmap = true;
  caps.thin = true;
  MakeLu(1024, 512, caps, /*thin_cfg=*/true, /*async=*/true);
  std::vector<std::pair<uint64_t, uint32_t>> d;
  for (uint64_t i = 0; i < 100; ++i) d.push_back({i * 10, 3});
  auto p = UnmapParams(d);
  ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p));
  auto log = backend_->log();
  ASSERT_EQ(log.size(), 100u);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].offset, i * 10 * 512);
}

// ---------------- GET LBA STATUS ----------------

TEST_F(SbcThinTest, GetLbaStatusStartsAtTheRequestedLba) {
  Command* c = Run(SaIn16(0x12, 17, 24));
  ExpectGood(c);
  ASSERT_EQ(c->data_in_length, 24u);
  const uint8_t* p = c->data.data();
  EXPECT_EQ(GetBe32(p), 20u);
  EXPECT_EQ(GetBe64(p + 8), 17u);
  EXPECT_EQ(GetBe32(p + 16), 1024u - 17);
  EXPECT_EQ(p[20] & 0x0f, 0);  // mapped
  EXPECT_EQ(Run(SaIn16(0x12, 1023, 8))->data_in_length, 8u);
}

TEST_F(SbcThinTest, GetLbaStatusBeyondEndIsLbaOutOfRange) {
  ExpectCheck(Run(SaIn16(0x12, 1024, 24)), kIllegal, kLbaOor);
  ExpectCheck(Run(SaIn16(0x12, 1025, 24)), kIllegal, kLbaOor);
  ExpectCheck(Run(SaIn16(0x12, 0x8000000000000000ull, 24)), kIllegal, kLbaOor);
  ExpectCheck(Run(SaIn16(0x12, 0xffffffffffffffffull, 24)), kIllegal, kLbaOor);
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

// Two emulated COMPARE AND WRITEs of the same 'A' -> 'B' race: the range lock makes one
// win and the other miscompare, never both succeed.
TEST_F(SbcTest, CompareAndWriteEmulationIsAtomicAgainstAnotherCaw) {
  MakeLu(1024, 512, {}, false, /*async=*/true);
  backend_->Fill(0, 512, 'A');
  std::vector<uint8_t> out(1024, 'A');
  std::fill(out.begin() + 512, out.end(), 'B');
  constexpr int kN = 8;
  std::vector<Command*> cs;
  for (int i = 0; i < kN; ++i) cs.push_back(NewCmd(CawCdb(0, 1), out, 1024));
  const int before = owner_->done_count();
  loop_->loop()->Post([&cs] {
    for (Command* c : cs) {
      c->lu->inflight.fetch_add(1);
      SbcDeviceType().Find(0x89, 0)->handler(c);
    }
  });
  ASSERT_TRUE(owner_->WaitForDone(before + kN));
  int good = 0, miscompare = 0;
  for (Command* c : cs) {
    if (c->status == Status::kGood) ++good;
    if (c->status == Status::kCheckCondition && Key(c) == kMiscompare) ++miscompare;
  }
  EXPECT_EQ(good, 1);
  EXPECT_EQ(miscompare, kN - 1);
  EXPECT_EQ(SbcRangeLockEntriesForTest(), 0u);
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

// ---------------- READ DEFECT DATA ----------------

TEST_F(SbcTest, ReadDefectDataReturnsAnEmptyList) {
  MakeLu();
  Command* c10 = Run({0x37, 0, 0x1d, 0, 0, 0, 0, 0, 255, 0});
  ExpectGood(c10);
  ASSERT_EQ(c10->data_in_length, 4u);
  EXPECT_EQ(c10->data.data()[1], 0x1d);
  EXPECT_EQ(GetBe16(c10->data.data() + 2), 0);
  Command* c12 = Run({0xb7, 0x0d, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0});
  ExpectGood(c12);
  ASSERT_EQ(c12->data_in_length, 8u);
  EXPECT_EQ(GetBe32(c12->data.data() + 4), 0u);
  EXPECT_EQ(Run({0x37, 0, 0x1d, 0, 0, 0, 0, 0, 2, 0})->data_in_length, 2u);
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

}  // namespace
}  // namespace modtgt::scsi
