// SPDX-License-Identifier: Apache-2.0
// IscsiTransport over loopback TCP: asking initiators to log out (Async Message), closing
// a target's sessions, and forced unload (stop listening, then shut down).
#include "iscsi/transport.h"

#include <gtest/gtest.h>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using namespace loopback;  // NOLINT: the test fixture

TEST_F(TransportTest, RequestLogoutSendsAsyncMessage) {
  Client c(port_);
  Ready(&c);
  transport_->RequestLogout(-1, 7);
  RxPdu m;
  ASSERT_TRUE(c.Recv(&m));
  EXPECT_EQ(m.op(), 0x32);
  EXPECT_EQ(m.bhs.b[36], 1);           // AsyncEvent: target requests logout
  EXPECT_EQ(m.bhs.Get16(42), 7);       // Parameter3: Time2Wait
  transport_->CloseTargetSessions(1);  // waits until the session is gone
  EXPECT_TRUE(transport_->Sessions().empty());
  EXPECT_TRUE(c.Closed());
}

// Forced lldunload: the portals close first (no re-login), the sessions go on until they
// log out or are closed.
TEST_F(TransportTest, StopListeningKeepsSessionsButRefusesNewConnections) {
  core::Transport* t = transport_.get();  // used through the core's interface
  EXPECT_EQ(t->name(), "iscsi");
  Client c(port_);
  Ready(&c);
  ASSERT_EQ(t->ActiveSessions(), 1u);
  t->StopListening();
  EXPECT_TRUE(t->portals().empty());
  Client late(port_);
  EXPECT_FALSE(late.ok()) << "a connection was accepted after StopListening";
  // The logged-in session still answers a ping.
  ExpectPingAnswered(&c, 0x4321);
  EXPECT_EQ(t->ActiveSessions(), 1u) << "the logged-in session was dropped";
  t->Shutdown();
  EXPECT_EQ(t->ActiveSessions(), 0u);
  EXPECT_TRUE(c.Closed());
}

}  // namespace
}  // namespace modtgt::iscsi
