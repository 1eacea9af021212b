// SPDX-License-Identifier: Apache-2.0
// TaskManagement (tmf.cc) over loopback TCP: ABORT TASK of an unknown task, LOGICAL UNIT
// RESET, TASK REASSIGN (not supported at ERL0), ABORT TASK of a command held for CmdSN
// order, and TARGET WARM / COLD RESET reaching another session of the target.
#include "iscsi/tmf.h"

#include <gtest/gtest.h>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using namespace loopback;  // NOLINT: the test fixture

class TmfTest : public TransportTest {
 protected:
  // Logs c in with ISID isid (another I_T nexus than Ready's) and clears the power-on UA.
  void ReadyIsid(Client* c, uint64_t isid) {
    ASSERT_TRUE(c->ok());
    RxPdu r;
    ASSERT_TRUE(c->Login(NormalKeys(), &r, isid));
    ASSERT_EQ(r.bhs.b[36], 0) << "login status class";
    uint8_t tur[16] = {};
    ASSERT_TRUE(c->Send(c->Command(tur, 0, false, false)));
    ASSERT_TRUE(c->Recv(&r));
    EXPECT_EQ(r.bhs.b[3], 0x02);  // the power-on UA
  }
  // Sends cdb (no data) and returns its SCSI Response.
  RxPdu Run(Client* c, const uint8_t* cdb) {
    RxPdu rsp;
    EXPECT_TRUE(c->Send(c->Command(cdb, 0, false, false)));
    EXPECT_TRUE(c->Recv(&rsp));
    EXPECT_EQ(rsp.op(), 0x21);
    return rsp;
  }
  // The ASC/ASCQ of a CHECK CONDITION response (fixed format sense after its 2-byte length).
  static uint16_t Asc(const RxPdu& rsp) {
    if (rsp.bhs.b[3] != 0x02 || rsp.data.size() < 2 + 14) return 0;
    return static_cast<uint16_t>(rsp.data[2 + 12] << 8 | rsp.data[2 + 13]);
  }
  // Sends TARGET WARM (6) or COLD (7) RESET on c and expects "function complete".
  void TargetReset(Client* c, uint8_t function) {
    Bhs tmf;
    tmf.b[0] = 0x42;  // TMF, immediate
    tmf.b[1] = static_cast<uint8_t>(0x80 | function);
    tmf.set_itt(0x700 + function);
    tmf.Put32(20, 0xffffffff);
    tmf.Put32(24, c->cmd_sn);
    ASSERT_TRUE(c->Send(tmf));
    RxPdu rsp;
    ASSERT_TRUE(c->Recv(&rsp));
    EXPECT_EQ(rsp.op(), 0x22);
    EXPECT_EQ(rsp.bhs.itt(), 0x700u + function);
    EXPECT_EQ(rsp.bhs.b[2], 0) << "function complete";
  }
};

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

TEST_F(TmfTest, TargetWarmResetReachesEveryNexusOfTheTarget) {
  Client a(port_), b(port_);
  Ready(&a);
  ReadyIsid(&b, 0x800000000002ULL);
  // b holds an SPC-2 reservation and has a READ held for CmdSN order.
  const uint8_t reserve6[16] = {0x16};
  EXPECT_EQ(Run(&b, reserve6).bhs.b[3], 0x00);
  uint32_t gap = 0;
  Bhs held;
  SendReadAhead(&b, 0, &gap, &held);
  ExpectPingAnswered(&b, 0x801);  // b's READ is in the session before a resets the target

  TargetReset(&a, 6);
  // Both nexuses, the one that asked included, get SCSI BUS RESET OCCURRED (29/02).
  const uint8_t tur[16] = {};
  EXPECT_EQ(Asc(Run(&a, tur)), 0x2902);
  // b's reservation is gone: a may reserve now (after its UA).
  EXPECT_EQ(Run(&a, reserve6).bhs.b[3], 0x00);
  // b's held READ was aborted: filling the gap answers only the filler.
  Bhs fill = b.Command(tur, 0, false, false);
  fill.Put32(24, gap);
  b.cmd_sn--;  // the filler took the gap's CmdSN, not a new one
  ASSERT_TRUE(b.Send(fill));
  RxPdu rsp;
  ASSERT_TRUE(b.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), fill.itt());
  EXPECT_EQ(Asc(rsp), 0x2902) << "b's unit attention";
  ExpectPingAnswered(&b, 0x802);  // no late response to the aborted READ came first
  // b now meets a's reservation (SYNCHRONIZE CACHE (10): not allowed to others, SPC-2 5.5.1).
  const uint8_t sync10[16] = {0x35};
  EXPECT_EQ(Run(&b, sync10).bhs.b[3], 0x18) << "RESERVATION CONFLICT";
}

TEST_F(TmfTest, TargetColdResetDropsEveryConnectionAfterItsResponse) {
  Client a(port_), b(port_);
  Ready(&a);
  ReadyIsid(&b, 0x800000000002ULL);
  const uint8_t reserve6[16] = {0x16};
  EXPECT_EQ(Run(&b, reserve6).bhs.b[3], 0x00);
  TargetReset(&a, 7);  // the response arrives...
  RxPdu rsp;
  EXPECT_FALSE(a.Recv(&rsp)) << "...then a's connection is closed";
  EXPECT_FALSE(b.Recv(&rsp)) << "b's connection is closed too";
  // A new nexus finds the target reset: no reservation, the power-on UA.
  Client c(port_);
  ReadyIsid(&c, 0x800000000003ULL);
  EXPECT_EQ(Run(&c, reserve6).bhs.b[3], 0x00);
}

TEST_F(TmfTest, TargetResetLeavesOtherTargetsAlone) {
  // A second target on the same transport: its nexus sees no unit attention.
  auto backend = std::make_unique<modtgt::testing::MemBackend>(1 << 20);
  scsi::LuConfig cfg;
  auto lu2 = std::make_shared<scsi::LogicalUnit>(cfg, &scsi::SbcDeviceType(), std::move(backend),
                                                 "iqn.2026-01.test:other");
  auto t2 = std::make_shared<core::Target>(2, "iqn.2026-01.test:other");
  ASSERT_TRUE(t2->AddLun(lu2).ok());
  ASSERT_TRUE(t2->BindAddress("ALL").ok());
  ASSERT_TRUE(registry_.Add(t2).ok());
  Client a(port_), o(port_);
  Ready(&a);
  auto keys = NormalKeys();
  for (auto& [k, v] : keys) {
    if (k == "TargetName") v = "iqn.2026-01.test:other";
  }
  RxPdu r;
  ASSERT_TRUE(o.Login(keys, &r, 0x800000000002ULL));
  ASSERT_EQ(r.bhs.b[36], 0);
  const uint8_t tur[16] = {};
  EXPECT_EQ(Asc(Run(&o, tur)), 0x2900);  // its own power-on UA
  TargetReset(&a, 7);
  RxPdu rsp;
  EXPECT_FALSE(a.Recv(&rsp));
  EXPECT_EQ(Run(&o, tur).bhs.b[3], 0x00) << "the other target's nexus is untouched";
}

}  // namespace
}  // namespace modtgt::iscsi
