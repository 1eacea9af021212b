// SPDX-License-Identifier: Apache-2.0
// TaskManagement (tmf.cc) over loopback TCP: ABORT TASK of an unknown task, LOGICAL UNIT
// RESET, TASK REASSIGN (not supported at ERL0), and ABORT TASK of a command held for
// CmdSN order.
#include "iscsi/tmf.h"

#include <gtest/gtest.h>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using namespace loopback;  // NOLINT: the test fixture

class TmfTest : public TransportTest {};

TEST_F(TmfTest, AbortTaskForUnknownTaskAndLunReset) {
  Client c(port_);
  Ready(&c);
  Bhs tmf;
  tmf.b[0] = 0x42;      // TMF, immediate
  tmf.b[1] = 0x80 | 1;  // ABORT TASK
  tmf.set_itt(0x500);
  tmf.Put32(20, 0x777);  // referenced task tag: unknown
  tmf.Put32(24, c.cmd_sn);
  tmf.Put32(32, c.cmd_sn + 50);  // RefCmdSN outside the window
  ASSERT_TRUE(c.Send(tmf));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x22);
  EXPECT_EQ(rsp.bhs.itt(), 0x500u);
  EXPECT_EQ(rsp.bhs.b[2], 1);  // task does not exist
  tmf.b[1] = 0x80 | 5;         // LOGICAL UNIT RESET
  tmf.set_itt(0x501);
  ASSERT_TRUE(c.Send(tmf));
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.bhs.b[2], 0);
  tmf.b[1] = 0x80 | 8;  // TASK REASSIGN
  tmf.set_itt(0x502);
  ASSERT_TRUE(c.Send(tmf));
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.bhs.b[2], 4);
}

TEST_F(TmfTest, AbortTaskOfAHeldCommandDropsItSilently) {
  Client c(port_);
  Ready(&c);
  // A READ one CmdSN ahead of ExpCmdSN waits in the session's held queue.
  uint32_t gap = 0;
  Bhs held;
  SendReadAhead(&c, 0, &gap, &held);
  Bhs tmf;
  tmf.b[0] = 0x42;      // TMF, immediate
  tmf.b[1] = 0x80 | 1;  // ABORT TASK
  tmf.set_itt(0x600);
  tmf.Put32(20, held.itt());
  tmf.Put32(24, c.cmd_sn);
  tmf.Put32(32, held.Get32(24));
  ASSERT_TRUE(c.Send(tmf));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x22);
  EXPECT_EQ(rsp.bhs.itt(), 0x600u);
  EXPECT_EQ(rsp.bhs.b[2], 0);  // function complete
  // Filling the gap lets ExpCmdSN pass the aborted command, which gets no response.
  uint8_t tur[16] = {};
  Bhs fill = c.Command(tur, 0, false, false);
  fill.Put32(24, gap);
  ASSERT_TRUE(c.Send(fill));
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), fill.itt());
  // The next PDU is the answer to this ping, not a late response to the aborted READ.
  ExpectPingAnswered(&c, 0x601, &rsp);
  EXPECT_EQ(rsp.bhs.Get32(28), gap + 2) << "ExpCmdSN moved past the aborted command";
}

}  // namespace
}  // namespace modtgt::iscsi
