// SPDX-License-Identifier: Apache-2.0
// Sessions: serial number arithmetic, the CmdSN window, port names, the SessionTable, the
// transfer parameters the data path uses, and (over loopback TCP) CmdSN ordering: commands
// held until the gap before them fills, commands outside the window ignored.
#include "iscsi/session.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/target.h"
#include "loopback.h"

namespace modtgt::iscsi {
namespace {

TEST(SerialNumber, ComparesAcrossWrap) {
  EXPECT_TRUE(SnLt(1, 2));
  EXPECT_FALSE(SnLt(2, 2));
  EXPECT_TRUE(SnLt(0xfffffff0u, 5));  // wrapped: 5 is "after" 0xfffffff0
  EXPECT_TRUE(SnGt(5, 0xfffffff0u));
  EXPECT_TRUE(SnLe(7, 7));
  EXPECT_TRUE(SnGe(0, 0xffffffffu));
  EXPECT_EQ(SnMax(0xfffffffeu, 3), 3u);
  EXPECT_EQ(SnMax(3, 0xfffffffeu), 3u);
}

TEST(CmdSnWindow, DeliversInOrderHoldsAheadDropsOutside) {
  CmdSnWindow w(10, 4);  // accepts 10..13
  EXPECT_EQ(w.MaxCmdSn(), 13u);
  EXPECT_EQ(w.Check(10, false), CmdSnWindow::Verdict::kDeliver);
  EXPECT_EQ(w.Check(12, false), CmdSnWindow::Verdict::kHold);
  EXPECT_EQ(w.Check(13, false), CmdSnWindow::Verdict::kHold);
  EXPECT_EQ(w.Check(14, false), CmdSnWindow::Verdict::kDrop);   // beyond MaxCmdSN
  EXPECT_EQ(w.Check(9, false), CmdSnWindow::Verdict::kDrop);    // duplicate
  EXPECT_EQ(w.Check(9, true), CmdSnWindow::Verdict::kDeliver);  // immediate bypasses
}

TEST(CmdSnWindow, MaxCmdSnTracksOutstandingAndNeverShrinks) {
  CmdSnWindow w(1, 2);
  EXPECT_EQ(w.MaxCmdSn(), 2u);
  w.Acquire();
  w.Advance();  // CmdSN 1 taken
  w.Acquire();
  w.Advance();  // CmdSN 2 taken: window full
  EXPECT_EQ(w.exp_cmd_sn(), 3u);
  EXPECT_EQ(w.MaxCmdSn(), 2u);  // ExpCmdSN - 1: closed
  EXPECT_EQ(w.Check(3, false), CmdSnWindow::Verdict::kDrop);
  w.Release();
  EXPECT_EQ(w.MaxCmdSn(), 3u);
  EXPECT_EQ(w.Check(3, false), CmdSnWindow::Verdict::kDeliver);
  w.Release();
  EXPECT_EQ(w.MaxCmdSn(), 4u);
  w.Release();  // extra release is harmless
  EXPECT_EQ(w.MaxCmdSn(), 4u);
}

TEST(CmdSnWindow, WrapsAround) {
  CmdSnWindow w(0xffffffffu, 4);
  EXPECT_EQ(w.MaxCmdSn(), 2u);
  EXPECT_EQ(w.Check(0xffffffffu, false), CmdSnWindow::Verdict::kDeliver);
  EXPECT_EQ(w.Check(1, false), CmdSnWindow::Verdict::kHold);
  EXPECT_EQ(w.Check(3, false), CmdSnWindow::Verdict::kDrop);
  w.Acquire();
  w.Advance();
  EXPECT_EQ(w.exp_cmd_sn(), 0u);
  EXPECT_EQ(w.Check(0, false), CmdSnWindow::Verdict::kDeliver);
}

TEST(SessionNames, PortNamesUseSpcTransportIdForm) {
  EXPECT_EQ(IsidHex(0x800000000001ULL), "800000000001");
  EXPECT_EQ(InitiatorPortName("iqn.a", 0x23d000000001ULL), "iqn.a,i,0x23d000000001");
  EXPECT_EQ(TargetPortName("iqn.t", 1), "iqn.t,t,0x0001");
}

TEST(SessionTable, CreatesUniqueTsihsAndCountsTargetSessions) {
  auto target = std::make_shared<core::Target>(1, "iqn.2024-01.test:t1");
  SessionTable table;
  SessionParams p;
  p.initiator_name = "iqn.2024-01.test:i1";
  auto s1 = table.Create(1, target, p, {}, nullptr, "c1", nullptr);
  auto s2 = table.Create(2, target, p, {}, nullptr, "c2", nullptr);
  ASSERT_TRUE(s1 && s2);
  EXPECT_NE(s1->tsih(), 0);
  EXPECT_NE(s1->tsih(), s2->tsih());
  EXPECT_NE(s1->nexus().id, s2->nexus().id);
  EXPECT_EQ(s1->nexus().initiator_port, "iqn.2024-01.test:i1,i,0x000000000001");
  EXPECT_EQ(s1->nexus().target_port, "iqn.2024-01.test:t1,t,0x0001");
  EXPECT_EQ(target->sessions.load(), 2);
  EXPECT_TRUE(table.Exists(s1->tsih()));
  std::vector<SessionInfo> list = table.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].tid, 1);
  table.Remove(s1.get());
  EXPECT_FALSE(table.Exists(s1->tsih()));
  s1->End();
  EXPECT_EQ(target->sessions.load(), 1);
  s1->End();  // idempotent
  EXPECT_EQ(target->sessions.load(), 1);
}

TEST(SessionTable, SameInitiatorAndIsidReinstates) {
  auto target = std::make_shared<core::Target>(1, "iqn.2024-01.test:t1");
  SessionTable table;
  SessionParams p;
  p.initiator_name = "iqn.2024-01.test:i1";
  auto s1 = table.Create(7, target, p, {}, nullptr, "c1", nullptr);
  SessionTable::Entry old;
  auto s2 = table.Create(7, target, p, {}, nullptr, "c2", &old);
  ASSERT_TRUE(s2);
  EXPECT_EQ(old.session, s1);  // RFC 7143 6.3.5: the old session is handed back to close
  // The old one is closing: not listed, not joinable, but in the table until its nexus
  // has ended.
  EXPECT_TRUE(old.closing);
  EXPECT_FALSE(table.Exists(s1->tsih()));
  EXPECT_TRUE(table.Exists(s2->tsih()));
  EXPECT_EQ(table.List().size(), 1u);
  EXPECT_EQ(table.size(), 2u);
  table.Remove(s1.get());
  EXPECT_EQ(table.size(), 1u);
  // A different ISID is a new session, not a reinstatement.
  SessionTable::Entry none;
  auto s3 = table.Create(8, target, p, {}, nullptr, "c3", &none);
  EXPECT_EQ(none.session, nullptr);
  EXPECT_EQ(table.size(), 2u);
  // Discovery sessions are not listed.
  SessionParams d = p;
  d.discovery = true;
  auto s4 = table.Create(9, nullptr, d, {}, nullptr, "c4", nullptr);
  EXPECT_EQ(table.List().size(), 2u);
  EXPECT_EQ(table.ForTarget(1).size(), 2u);
}

TEST(SessionTable, SameInitiatorFindsOtherSessionsClosingOnesIncluded) {
  auto t1 = std::make_shared<core::Target>(1, "iqn.2024-01.test:t1");
  auto t2 = std::make_shared<core::Target>(2, "iqn.2024-01.test:t2");
  SessionTable table;
  SessionParams p;
  p.initiator_name = "iqn.2024-01.test:i1";
  SessionParams other = p;
  other.initiator_name = "iqn.2024-01.test:i2";
  auto a = table.Create(1, t1, p, {}, nullptr, "a", nullptr);
  auto b = table.Create(2, t1, p, {}, nullptr, "b", nullptr);
  auto c = table.Create(3, t2, p, {}, nullptr, "c", nullptr);       // other target
  auto d = table.Create(4, t1, other, {}, nullptr, "d", nullptr);   // other initiator
  SessionParams disc = p;
  disc.discovery = true;
  auto e = table.Create(5, nullptr, disc, {}, nullptr, "e", nullptr);  // no nexus
  table.MarkClosing(a.get());
  SessionParams upper = p;
  upper.initiator_name = "IQN.2024-01.TEST:I1";  // iSCSI names compare case-insensitively
  auto n = table.Create(6, t1, upper, {}, nullptr, "n", nullptr);
  auto same = table.SameInitiator(upper.initiator_name, t1.get(), n.get());
  ASSERT_EQ(same.size(), 2u);
  EXPECT_EQ(same[0].session, a);
  EXPECT_TRUE(same[0].closing);
  EXPECT_EQ(same[1].session, b);
  EXPECT_FALSE(same[1].closing);
  EXPECT_TRUE(table.SameInitiator(p.initiator_name, nullptr, nullptr).empty());
}

TEST(SessionTable, MaxSessionsRefusesBeyondButNotAReinstatement) {
  auto t = std::make_shared<core::Target>(1, "iqn.2024-01.test:t1");
  SessionTable table;
  table.set_max_sessions(2);
  SessionParams p;
  p.initiator_name = "iqn.2024-01.test:i1";
  auto a = table.Create(1, t, p, {}, nullptr, "a", nullptr);
  auto b = table.Create(2, t, p, {}, nullptr, "b", nullptr);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(table.Create(3, t, p, {}, nullptr, "c", nullptr), nullptr);
  // Reinstating ISID 1 replaces a session: allowed.
  SessionTable::Entry old;
  auto a2 = table.Create(1, t, p, {}, nullptr, "a2", &old);
  ASSERT_TRUE(a2);
  EXPECT_EQ(old.session, a);
  // The reinstated one still counts until it has ended (3 in the table now).
  EXPECT_EQ(table.size(), 3u);
  table.Remove(a.get());
  EXPECT_EQ(table.Create(3, t, p, {}, nullptr, "c", nullptr), nullptr);  // b and a2
  table.Remove(b.get());
  EXPECT_NE(table.Create(3, t, p, {}, nullptr, "c", nullptr), nullptr);
}

TEST(Session, WhenEndedRunsAtEndOrAtOnce) {
  auto t = std::make_shared<core::Target>(1, "iqn.2024-01.test:t1");
  SessionParams p;
  p.initiator_name = "iqn.2024-01.test:i1";
  Session s(1, 1, t, p, 99);
  EXPECT_EQ(t->sessions.load(), 1);
  int ran = 0;
  s.WhenEnded([&] { ran++; });
  EXPECT_EQ(ran, 0);
  EXPECT_FALSE(s.ended());
  s.End();
  EXPECT_EQ(ran, 1);
  EXPECT_TRUE(s.ended());
  EXPECT_EQ(t->sessions.load(), 0);
  s.WhenEnded([&] { ran++; });  // already ended: now
  EXPECT_EQ(ran, 2);
  s.End();  // idempotent
  EXPECT_EQ(ran, 2);
}

TEST(TransferParams, NegotiatedValuesAreMadeSafeForTheDataPath) {
  SessionParams p;
  p.max_burst_length = 100;
  p.first_burst_length = 0;
  p.max_outstanding_r2t = 0;
  p.immediate_data = false;
  p.initial_r2t = false;
  TransferParams t = MakeTransferParams(p);
  EXPECT_EQ(t.max_burst, 512u);
  EXPECT_EQ(t.first_burst, 512u);
  EXPECT_EQ(t.max_r2t, 1u);
  EXPECT_FALSE(t.immediate_data);
  EXPECT_FALSE(t.initial_r2t);
  p.max_burst_length = 1u << 20;
  p.first_burst_length = 65536;
  p.max_outstanding_r2t = 1000;
  t = MakeTransferParams(p);
  EXPECT_EQ(t.max_burst, 1u << 20);
  EXPECT_EQ(t.first_burst, 65536u);
  EXPECT_EQ(t.max_r2t, kMaxR2tPerTask);
  // A session keeps what it was created with.
  Session s(1, 1, nullptr, p, 1);
  EXPECT_EQ(s.transfer().max_r2t, kMaxR2tPerTask);
  EXPECT_FALSE(s.tasks().allocated());  // the pool comes with full feature phase
}

// ---- CmdSN order over a real connection ----

using namespace loopback;  // NOLINT: the test fixture

class SessionTest : public TransportTest {};

TEST_F(SessionTest, CommandAheadOfExpCmdSnWaitsForTheGap) {
  Client c(port_);
  Ready(&c);
  uint32_t gap = 0;
  Bhs later;
  SendReadAhead(&c, 8, &gap, &later);  // CmdSN gap + 1: held
  uint8_t tur[16] = {};
  Bhs first = c.Command(tur, 0, false, false);
  first.Put32(24, gap);
  ASSERT_TRUE(c.Send(first));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), first.itt()) << "the command that filled the gap goes first";
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x25);
  EXPECT_EQ(rsp.bhs.itt(), later.itt());
  EXPECT_EQ(rsp.bhs.b[1], 0x81);  // F + S: status collapsed, no residual
  EXPECT_EQ(rsp.data, backend_->ReadBytes(8 * kBlock, kBlock));
  EXPECT_EQ(rsp.bhs.Get32(28), gap + 2);  // ExpCmdSN past both
}

TEST_F(SessionTest, CommandOutsideTheWindowIsIgnored) {
  Client c(port_);
  Ready(&c);
  uint8_t tur[16] = {};
  Bhs beyond = c.Command(tur, 0, false, false);
  beyond.Put32(24, c.max_cmd_sn + 1000);  // beyond MaxCmdSN: silently ignored
  ASSERT_TRUE(c.Send(beyond));
  Bhs old = c.Command(tur, 0, false, false);
  old.Put32(24, 1);  // before ExpCmdSN (a duplicate): silently ignored
  ASSERT_TRUE(c.Send(old));
  // Neither got an answer: the next PDU is the answer to this ping.
  ExpectPingAnswered(&c, 0x77);
}

}  // namespace
}  // namespace modtgt::iscsi
