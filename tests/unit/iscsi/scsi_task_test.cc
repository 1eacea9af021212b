// SPDX-License-Identifier: Apache-2.0
// scsi_task.cc: the pure data-path helpers (residuals, Data-In splitting) and, over
// loopback TCP, SCSI commands end to end: reads split into Data-In with the status
// collapsed, residuals, writes with immediate data, unsolicited Data-Out and R2Ts, and a
// Data-Out sequence error.
#include "iscsi/scsi_task.h"

#include <gtest/gtest.h>

#include <vector>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using namespace loopback;  // NOLINT: the test fixture

TEST(Residual, UnderOverAndExact) {
  Residual r = ComputeResidual(4096, 512);
  EXPECT_TRUE(r.underflow);
  EXPECT_FALSE(r.overflow);
  EXPECT_EQ(r.count, 3584u);
  r = ComputeResidual(512, 4096);
  EXPECT_TRUE(r.overflow);
  EXPECT_EQ(r.count, 3584u);
  r = ComputeResidual(512, 512);
  EXPECT_FALSE(r.overflow || r.underflow);
  EXPECT_EQ(r.count, 0u);
  r = ComputeResidual(0, 0);
  EXPECT_EQ(r.count, 0u);
}

TEST(DataIn, SplitsBySegmentAndEndsSequencesAtBurstBoundaries) {
  // 20 KiB, 8 KiB segments, 12 KiB bursts: 8K, 4K(F), 8K(F)
  std::vector<DataInSlice> v;
  for (uint32_t off = 0; off < 20480;) {
    DataInSlice s = NextDataIn(off, 20480, 8192, 12288);
    v.push_back(s);
    off += s.length;
  }
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].length, 8192u);
  EXPECT_FALSE(v[0].final);
  EXPECT_EQ(v[1].offset, 8192u);
  EXPECT_EQ(v[1].length, 4096u);
  EXPECT_TRUE(v[1].final);
  EXPECT_EQ(v[2].length, 8192u);
  EXPECT_TRUE(v[2].final);
  DataInSlice one = NextDataIn(0, 100, 8192, 262144);
  EXPECT_EQ(one.length, 100u);
  EXPECT_TRUE(one.final);
}

class ScsiTaskTest : public TransportTest {};

TEST_F(ScsiTaskTest, LoginThenReadSplitsDataInAndCollapsesStatus) {
  Client c(port_);
  Ready(&c);
  ASSERT_EQ(transport_->Sessions().size(), 1u);
  EXPECT_EQ(transport_->Sessions()[0].initiator_name, kInitiatorName);
  EXPECT_EQ(transport_->Sessions()[0].isid, "800000000001");
  EXPECT_EQ(target_->sessions.load(), 1);
  std::vector<RxPdu> pdus;
  Read(&c, 2, 40, 40 * kBlock, &pdus);  // 20 KiB: 8K + 8K(F: 16K burst) + 4K(F, S)
  ASSERT_EQ(pdus.size(), 3u);
  std::vector<uint8_t> all;
  for (size_t i = 0; i < pdus.size(); i++) {
    EXPECT_EQ(pdus[i].op(), 0x25);
    EXPECT_EQ(pdus[i].bhs.Get32(36), i) << "DataSN";
    EXPECT_EQ(pdus[i].bhs.Get32(40), all.size()) << "buffer offset";
    all.insert(all.end(), pdus[i].data.begin(), pdus[i].data.end());
  }
  EXPECT_FALSE(pdus[0].bhs.b[1] & 0x80);
  EXPECT_TRUE(pdus[1].bhs.b[1] & 0x80);  // end of a MaxBurstLength sequence
  EXPECT_EQ(pdus[2].bhs.b[1], 0x81);     // F + S, no residual
  EXPECT_EQ(pdus[2].bhs.b[3], 0x00);
  EXPECT_EQ(all, backend_->ReadBytes(2 * kBlock, 40 * kBlock));
}

// A store whose reads complete with MODTGT_STS_ZEROS (module ABI 1.6): the Data-In goes out
// from the zero buffer, right with and without digests (Client::Recv checks each data
// digest against the bytes received), and the command's buffer (0xEE garbage from the
// fake store) is never sent.
class ZeroReadTaskTest : public TransportTest {
 protected:
  modtgt::testing::MemBackendCaps BackendCaps() override {
    modtgt::testing::MemBackendCaps caps;
    caps.zero_reads = true;
    return caps;
  }
};

TEST_F(ZeroReadTaskTest, ZeroReadsAreZerosOnTheWireWithAndWithoutDigests) {
  backend_->Fill(0, 64 * kBlock, 0);
  for (bool digests : {false, true}) {
    Client c(port_);
    Ready(&c, digests);
    std::vector<RxPdu> pdus;
    Read(&c, 4, 40, 40 * kBlock, &pdus);  // 20 KiB: three Data-In, status collapsed
    ASSERT_EQ(pdus.size(), 3u);
    std::vector<uint8_t> all;
    for (const RxPdu& p : pdus) all.insert(all.end(), p.data.begin(), p.data.end());
    EXPECT_EQ(all, std::vector<uint8_t>(40 * kBlock, 0)) << "digests " << digests;
    EXPECT_EQ(pdus[2].bhs.b[1], 0x81);
    // An odd EDTL (padding, overflow residual), then data that is not all zeros.
    pdus.clear();
    Read(&c, 4, 2, 1001, &pdus);
    ASSERT_EQ(pdus.size(), 1u);
    EXPECT_EQ(pdus[0].data, std::vector<uint8_t>(1001, 0));
    EXPECT_EQ(pdus[0].bhs.Get32(44), 2 * kBlock - 1001);
    pdus.clear();
    Read(&c, 63, 2, 2 * kBlock, &pdus);
    ASSERT_EQ(pdus.size(), 1u);
    EXPECT_EQ(pdus[0].data, backend_->ReadBytes(63 * kBlock, 2 * kBlock));
    EXPECT_NE(pdus[0].data, std::vector<uint8_t>(2 * kBlock, 0));
  }
}

TEST_F(ScsiTaskTest, ReadResidualsUnderflowAndOverflow) {
  Client c(port_);
  Ready(&c);
  std::vector<RxPdu> pdus;
  Read(&c, 0, 1, 4 * kBlock, &pdus);  // EDTL larger than the transfer
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[1], 0x80 | 0x02 | 0x01);  // F U S
  EXPECT_EQ(pdus[0].bhs.Get32(44), 3 * kBlock);
  EXPECT_EQ(pdus[0].data.size(), kBlock);
  pdus.clear();
  Read(&c, 0, 4, 1 * kBlock, &pdus);  // EDTL smaller: send EDTL bytes, overflow
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[1], 0x80 | 0x04 | 0x01);  // F O S
  EXPECT_EQ(pdus[0].bhs.Get32(44), 3 * kBlock);
  EXPECT_EQ(pdus[0].data.size(), kBlock);
}

TEST_F(ScsiTaskTest, WriteWithImmediateDataAndR2t) {
  Client c(port_);
  Ready(&c);
  const uint32_t len = 40 * kBlock;  // 20 KiB: 8K immediate, R2Ts for 12K (burst 16K)
  std::vector<uint8_t> payload(len);
  for (uint32_t i = 0; i < len; i++) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  uint8_t cdb[16] = {0x2a};
  PutBe32(cdb + 2, 100);
  PutBe16(cdb + 7, 40);
  Bhs cmd = c.Command(cdb, len, false, true);
  uint32_t itt = cmd.itt();
  ASSERT_TRUE(c.Send(cmd, std::vector<uint8_t>(payload.begin(), payload.begin() + 8192)));
  RxPdu r2t;
  ASSERT_TRUE(c.Recv(&r2t));
  ASSERT_EQ(r2t.op(), 0x31);
  EXPECT_EQ(r2t.bhs.itt(), itt);
  EXPECT_EQ(r2t.bhs.Get32(36), 0u);     // R2TSN
  EXPECT_EQ(r2t.bhs.Get32(40), 8192u);  // offset
  EXPECT_EQ(r2t.bhs.Get32(44), len - 8192);
  uint32_t ttt = r2t.bhs.Get32(20);
  // Two Data-Outs of 8K and 4K.
  ASSERT_TRUE(c.SendBurst(itt, ttt, payload, 8192, len, 8192));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.b[3], 0x00);
  EXPECT_EQ(rsp.bhs.b[1], 0x80);     // no residual
  EXPECT_EQ(rsp.bhs.Get32(36), 1u);  // ExpDataSN: one R2T
  EXPECT_EQ(backend_->ReadBytes(100 * kBlock, len), payload);
}

TEST_F(ScsiTaskTest, BadDataSnFailsTheCommandAndKeepsTheConnection) {
  Client c(port_);
  Ready(&c);
  std::vector<uint8_t> before = backend_->ReadBytes(0, kBlock);
  uint8_t cdb[16] = {0x2a};
  PutBe32(cdb + 2, 0);
  PutBe16(cdb + 7, 1);
  Bhs cmd = c.Command(cdb, kBlock, false, true);
  ASSERT_TRUE(c.Send(cmd));  // no immediate data: R2T for all
  RxPdu r2t;
  ASSERT_TRUE(c.Recv(&r2t));
  ASSERT_EQ(r2t.op(), 0x31);
  Bhs d;
  d.b[0] = 0x05;
  d.b[1] = 0x80;
  d.set_itt(cmd.itt());
  d.Put32(20, r2t.bhs.Get32(20));
  d.Put32(36, 27);  // wrong DataSN (libiscsi iSCSIDataSnInvalid)
  d.Put32(40, 0);
  ASSERT_TRUE(c.Send(d, std::vector<uint8_t>(kBlock, 0xab)));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), cmd.itt());
  EXPECT_EQ(rsp.bhs.b[3], 0x02);  // CHECK CONDITION
  ASSERT_GE(rsp.data.size(), 2u + 14u);
  EXPECT_EQ(rsp.data[2 + 2] & 0x0f, 0x0b);            // ABORTED COMMAND
  EXPECT_EQ(backend_->ReadBytes(0, kBlock), before);  // nothing written
  // The connection still works.
  std::vector<RxPdu> pdus;
  Read(&c, 0, 1, kBlock, &pdus);
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[3], 0x00);
}

TEST_F(ScsiTaskTest, UnsolicitedDataOutThenR2tForTheRest) {
  Client c(port_);
  std::vector<std::pair<std::string, std::string>> keys = NormalKeys();
  for (auto& [k, v] : keys) {
    if (k == "InitialR2T") v = "No";  // OR with our preference (No): unsolicited data allowed
  }
  ReadyWith(&c, keys, false);
  // 20 KiB, FirstBurstLength 8 KiB: 4 KiB immediate + 4 KiB unsolicited Data-Out (F), then
  // one R2T for the remaining 12 KiB (MaxBurstLength 16 KiB).
  const uint32_t len = 40 * kBlock;
  std::vector<uint8_t> payload = Pattern(len, 1);
  uint8_t cdb[16] = {0x2a};
  PutBe32(cdb + 2, 300);
  PutBe16(cdb + 7, 40);
  Bhs cmd = c.Command(cdb, len, false, true, /*final=*/false);
  ASSERT_TRUE(c.Send(cmd, std::vector<uint8_t>(payload.begin(), payload.begin() + 4096)));
  ASSERT_TRUE(c.SendBurst(cmd.itt(), 0xffffffff, payload, 4096, 8192, 8192));
  RxPdu r2t;
  ASSERT_TRUE(c.Recv(&r2t));
  ASSERT_EQ(r2t.op(), 0x31);
  EXPECT_EQ(r2t.bhs.Get32(40), 8192u);
  EXPECT_EQ(r2t.bhs.Get32(44), len - 8192);
  ASSERT_TRUE(c.SendBurst(cmd.itt(), r2t.bhs.Get32(20), payload, 8192, len, 8192));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.b[3], 0x00);
  EXPECT_EQ(backend_->ReadBytes(300 * kBlock, len), payload);
}

}  // namespace
}  // namespace modtgt::iscsi
