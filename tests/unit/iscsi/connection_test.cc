// SPDX-License-Identifier: Apache-2.0
// Connection, over loopback TCP against an in-memory LU: NOP, Reject of an unknown
// opcode, digests checked and generated, logout and session reinstatement, an oversized
// data segment.
#include "iscsi/connection.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using namespace loopback;  // NOLINT: the test fixture

class ConnectionTest : public TransportTest {};

TEST_F(ConnectionTest, NopPingEchoesDataAndUnknownOpcodeIsRejected) {
  Client c(port_);
  Ready(&c);
  Bhs nop = c.NopOut(0x1234);
  std::vector<uint8_t> ping = {'p', 'i', 'n', 'g', '!'};
  ASSERT_TRUE(c.Send(nop, ping));
  RxPdu in;
  ASSERT_TRUE(c.Recv(&in));
  EXPECT_EQ(in.op(), 0x20);
  EXPECT_EQ(in.bhs.itt(), 0x1234u);
  EXPECT_EQ(in.data, ping);
  Bhs bad;
  bad.b[0] = 0x40 | 0x1c;  // not an initiator opcode
  bad.b[1] = 0x80;
  bad.set_itt(0x99);
  ASSERT_TRUE(c.Send(bad));
  RxPdu rej;
  ASSERT_TRUE(c.Recv(&rej));
  EXPECT_EQ(rej.op(), 0x3f);
  EXPECT_EQ(rej.bhs.b[2], 0x05);
  ASSERT_EQ(rej.data.size(), kBhsLength);
  EXPECT_EQ(rej.data[0] & 0x3f, 0x1c);
}

TEST_F(ConnectionTest, DigestsAreCheckedAndGenerated) {
  Client c(port_);
  Ready(&c, /*digests=*/true);
  std::vector<RxPdu> pdus;
  Read(&c, 1, 3, 3 * kBlock, &pdus);  // Recv checks both digests
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].data, backend_->ReadBytes(kBlock, 3 * kBlock));
  // A corrupted header digest drops the connection.
  uint8_t tur[16] = {};
  Bhs h = c.Command(tur, 0, false, false);
  h.set_data_segment_length(0);
  uint8_t bad[kBhsLength + 4];
  std::memcpy(bad, h.b.data(), kBhsLength);
  PutDigest(bad + kBhsLength, Crc32c(h.b.data(), kBhsLength) ^ 1);
  ASSERT_TRUE(c.SendRaw(bad, sizeof(bad)));
  EXPECT_TRUE(c.Closed());
}

TEST_F(ConnectionTest, LogoutClosesSessionAndReinstatementReplacesOld) {
  Client a(port_);
  Ready(&a);
  Client b(port_);
  RxPdu r;
  ASSERT_TRUE(b.Login(NormalKeys(), &r));  // same initiator name + ISID: reinstatement
  ASSERT_EQ(r.bhs.b[36], 0);
  EXPECT_TRUE(a.Closed());
  // The old connection finishes (its session ended) before the count drops to one.
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(1, 10000));
  EXPECT_EQ(transport_->Sessions().size(), 1u);
  Bhs lo;
  lo.b[0] = 0x46;
  lo.b[1] = 0x80;  // close the session
  lo.set_itt(0x42);
  lo.Put32(24, b.cmd_sn);
  ASSERT_TRUE(b.Send(lo));
  RxPdu rsp;
  ASSERT_TRUE(b.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x26);
  EXPECT_EQ(rsp.bhs.b[2], 0);
  EXPECT_TRUE(b.Closed());
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(0, 10000));
  EXPECT_EQ(target_->sessions.load(), 0);
  EXPECT_TRUE(transport_->Sessions().empty());
}

TEST_F(ConnectionTest, OversizedDataSegmentDropsConnection) {
  Client c(port_);
  Ready(&c);
  Bhs nop = c.NopOut(1);
  nop.set_data_segment_length(8u << 20);  // far above MaxRecvDataSegmentLength
  ASSERT_TRUE(c.SendRaw(nop.b.data(), kBhsLength));
  EXPECT_TRUE(c.Closed());
}

}  // namespace
}  // namespace modtgt::iscsi
