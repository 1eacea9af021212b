// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc_provisioning.cc: WRITE SAME (emulated chunk by chunk, native,
// with UNMAP, NDOB), UNMAP and GET LBA STATUS.
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


// An LU over a backend that reports its allocation per 512-byte unit (finer than the
// 4 KiB physical block the LU presents), on a loop thread (asynchronous completions).
class SbcLbaStatusTest : public SbcTest {
 protected:
  void Make(uint64_t blocks, bool thin_cfg = true, bool async = true) {
    MemBackendCaps caps;
    caps.unmap = true;
    caps.thin = true;
    caps.lba_status = true;
    caps.alloc_unit = 512;
    MakeLu(blocks, 512, caps, thin_cfg, async);
  }
  struct Desc {
    uint64_t lba;
    uint32_t blocks;
    uint8_t state;
    bool operator==(const Desc& o) const {
      return lba == o.lba && blocks == o.blocks && state == o.state;
    }
  };
  std::vector<Desc> Status(uint64_t lba, uint32_t alloc = 4096) {
    Command* c = Run(SaIn16(0x12, lba, alloc));
    EXPECT_EQ(c->status, Status::kGood);
    std::vector<Desc> out;
    const uint8_t* p = c->data.data();
    const uint32_t n = std::min<uint32_t>(c->data_in_length, GetBe32(p) + 4);
    for (uint32_t off = 8; off + 16 <= n; off += 16) {
      out.push_back({GetBe64(p + off), GetBe32(p + off + 8), static_cast<uint8_t>(p[off + 12] & 0xf)});
    }
    return out;
  }
  void Unmap(uint64_t lba, uint32_t n) {
    auto p = UnmapParams({{lba, n}});
    ExpectGood(Run(UnmapCdb(static_cast<uint16_t>(p.size())), p));
  }
};

TEST_F(SbcLbaStatusTest, ReportsTheStoresAllocationInWholePhysicalBlocks) {
  Make(1024);
  backend_->Fill(0, 1024 * 512, 0x11);  // everything allocated
  Unmap(16, 8);   // one whole physical block: deallocated
  Unmap(100, 4);  // half of the physical block 96-103: still mapped
  Unmap(512, 512);
  auto d = Status(0);
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0], (Desc{0, 16, 0}));
  EXPECT_EQ(d[1], (Desc{16, 8, 1}));
  EXPECT_EQ(d[2], (Desc{24, 512 - 24, 0}));
  EXPECT_EQ(d[3], (Desc{512, 512, 1}));
  // The first descriptor starts at the STARTING LOGICAL BLOCK ADDRESS, also inside a
  // physical block; the answer is the same for every LBA of that block.
  d = Status(19);
  ASSERT_GE(d.size(), 1u);
  EXPECT_EQ(d[0], (Desc{19, 5, 1}));
  d = Status(101);
  ASSERT_GE(d.size(), 1u);
  EXPECT_EQ(d[0], (Desc{101, 512 - 101, 0}));
}

// libiscsi GetLBAStatus.UnmapSingle's first loop: unmap one physical block after another;
// the next one stays mapped.
TEST_F(SbcLbaStatusTest, UnmappingOnePhysicalBlockLeavesTheNextMapped) {
  Make(1024);
  backend_->Fill(0, 264 * 512, 0x41);
  for (uint64_t i = 0; i + 8 <= 256; i += 8) {
    Unmap(i, 8);
    auto here = Status(i, 24);
    ASSERT_EQ(here.size(), 1u);
    EXPECT_EQ(here[0].lba, i);
    EXPECT_EQ(here[0].state, 1) << i;
    auto next = Status(i + 8, 24);
    ASSERT_EQ(next.size(), 1u);
    EXPECT_EQ(next[0].lba, i + 8);
    EXPECT_EQ(next[0].state, 0) << i;
  }
}

TEST_F(SbcLbaStatusTest, StopsWhenTheAllocationLengthIsFull) {
  Make(1024);
  for (uint64_t lba = 0; lba < 1024; lba += 16) backend_->Fill(lba * 512, 8 * 512, 1);
  auto d = Status(0, 8 + 3 * 16);  // room for three descriptors
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0], (Desc{0, 8, 0}));
  EXPECT_EQ(d[1], (Desc{8, 8, 1}));
  EXPECT_EQ(d[2], (Desc{16, 8, 0}));
  // Many runs: at most 64 descriptors, contiguous from the starting LBA.
  d = Status(0, 65536);
  ASSERT_EQ(d.size(), 64u);
  for (size_t i = 1; i < d.size(); ++i) EXPECT_EQ(d[i].lba, d[i - 1].lba + d[i - 1].blocks);
}

TEST_F(SbcLbaStatusTest, EverythingMappedWithoutThinProvisioning) {
  Make(1024, /*thin_cfg=*/false);
  auto d = Status(5);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], (Desc{5, 1019, 0}));
  EXPECT_EQ(backend_->CountOps(IoOp::kLbaStatus), 0u);
}

TEST_F(SbcLbaStatusTest, AFullyDeallocatedMediumIsOneDescriptorToTheEnd) {
  Make(1021);  // not a whole number of physical blocks: the last one is cut short
  auto d = Status(0);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], (Desc{0, 1021, 1}));
  EXPECT_EQ(backend_->CountOps(IoOp::kLbaStatus), 1u);
}

TEST_F(SbcLbaStatusTest, ABackendErrorFailsTheCommand) {
  Make(1024);
  backend_->FailNext(IoOp::kLbaStatus, MODTGT_STS_READ_ERROR);
  ExpectCheck(Run(SaIn16(0x12, 0, 4096)), kMedium, 0x1100);
}

// A backend answering nonsense (a zero length) cannot make the command loop forever: each
// query still moves on by one physical block, and the number of queries is bounded.
class ZeroLengthStatusBackend : public PlainBackend {
 public:
  uint64_t size_bytes() const override { return 1u << 30; }
  bool has_unmap() const override { return true; }
  bool has_lba_status() const override { return true; }
  void Submit(Command* cmd) override {
    ++queries;
    cmd->io.extent = LbaExtent{};
    IoDone(cmd, MODTGT_STS_OK);
  }
  int queries = 0;
};

TEST_F(SbcTest, GetLbaStatusSurvivesANonsenseBackend) {
  auto be = std::make_unique<ZeroLengthStatusBackend>();
  auto* raw = be.get();
  MakeLuWith(std::move(be), 512, /*thin_cfg=*/true, /*async=*/false);
  Command* c = Run(SaIn16(0x12, 0, 4096));
  ExpectGood(c);
  EXPECT_EQ(raw->queries, 256);
  EXPECT_EQ(GetBe32(c->data.data()), 20u);  // one merged "mapped" descriptor
  EXPECT_EQ(GetBe32(c->data.data() + 16), 256u * 8);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
