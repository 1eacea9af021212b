// SPDX-License-Identifier: Apache-2.0
// IscsiTransport over loopback TCP: asking initiators to log out (Async Message), closing
// a target's sessions, forced unload (stop listening, then shut down), and the connection
// and session limits.
#include "iscsi/transport.h"

#include <gtest/gtest.h>

#include <poll.h>

#include <chrono>
#include <memory>
#include <thread>
#include <vector>

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

// ---- Limits ----

// Polls cond (every 10 ms, up to 10 s).
template <typename F>
bool Eventually(F cond) {
  for (int i = 0; i < 1000; i++) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class LimitsTest : public TransportTest {
 protected:
  TransportSettings Settings() override {
    TransportSettings s;
    s.resources.max_pending_logins_per_address = 4;
    s.resources.max_pending_logins = 6;
    s.resources.max_connections_per_address = 8;
    s.resources.max_connections = 12;
    s.resources.max_sessions = 3;
    return s;
  }
  // Idle connections (never a byte sent) from `source`.
  void Idle(const char* source, int n, std::vector<std::unique_ptr<Client>>* out) {
    for (int i = 0; i < n; i++) {
      out->push_back(std::make_unique<Client>(port_, source));
      ASSERT_TRUE(out->back()->ok()) << source;
    }
  }
  // How many of them the target has closed (each Closed() waits at most 5 s).
  static int ClosedCount(std::vector<std::unique_ptr<Client>>& cs) {
    int n = 0;
    for (auto& c : cs) {
      pollfd pfd{c->fd_, POLLIN, 0};
      if (poll(&pfd, 1, 0) == 1 && c->Closed()) n++;
    }
    return n;
  }
};

TEST_F(LimitsTest, IdleConnectionsFromOneAddressCannotLockOutALogin) {
  std::vector<std::unique_ptr<Client>> idle;
  Idle("127.0.0.2", 8, &idle);
  // At most 4 wait in login from that address: the quietest others were dropped for room.
  ASSERT_TRUE(Eventually([&] { return transport_->ConnectionCountForTest() == 4; }))
      << transport_->ConnectionCountForTest();
  EXPECT_EQ(transport_->PendingLoginCountForTest(), 4u);
  EXPECT_TRUE(Eventually([&] { return ClosedCount(idle) == 4; }));
  // A real initiator from that same address, and one from another, still log in.
  Client same(port_, "127.0.0.2");
  Ready(&same);
  Client other(port_);
  RxPdu r;
  ASSERT_TRUE(other.Login(NormalKeys(), &r, 0x800000000002ULL));
  EXPECT_EQ(r.bhs.b[36], 0);
  EXPECT_EQ(transport_->Sessions().size(), 2u);
}

TEST_F(LimitsTest, IdleConnectionsFromManyAddressesAreCappedInAll) {
  std::vector<std::unique_ptr<Client>> idle;
  Idle("127.0.0.2", 3, &idle);
  Idle("127.0.0.3", 3, &idle);
  Idle("127.0.0.4", 3, &idle);
  ASSERT_TRUE(Eventually([&] { return transport_->PendingLoginCountForTest() <= 6; }));
  ASSERT_TRUE(Eventually([&] { return transport_->ConnectionCountForTest() == 6; }));
  Client c(port_, "127.0.0.5");
  Ready(&c);
}

TEST_F(LimitsTest, SessionsBeyondTheLimitAreOutOfResources) {
  std::vector<std::unique_ptr<Client>> clients;
  for (uint64_t i = 0; i < 3; i++) {
    clients.push_back(std::make_unique<Client>(port_));
    RxPdu r;
    ASSERT_TRUE(clients.back()->Login(NormalKeys(), &r, 0x800000000010ULL + i));
    ASSERT_EQ(r.bhs.b[36], 0);
  }
  Client c(port_);
  RxPdu r;
  ASSERT_TRUE(c.Login(NormalKeys(), &r, 0x800000000020ULL));
  EXPECT_EQ(r.bhs.b[36], 0x03);  // Out of Resources (RFC 7143 11.13.5)
  EXPECT_EQ(r.bhs.b[37], 0x02);
  EXPECT_TRUE(c.Closed());
  // A reinstatement replaces one: allowed at the limit.
  Client again(port_);
  ASSERT_TRUE(again.Login(NormalKeys(), &r, 0x800000000010ULL));
  EXPECT_EQ(r.bhs.b[36], 0);
  for (size_t i = 1; i < clients.size(); i++) ExpectPingAnswered(clients[i].get(), 0x99);
}

class ConnectionCapTest : public LimitsTest {
 protected:
  TransportSettings Settings() override {
    TransportSettings s;
    s.resources.max_connections_per_address = 2;
    s.resources.max_connections = 3;
    return s;
  }
};

TEST_F(ConnectionCapTest, ConnectionsBeyondTheLimitsAreClosedAtOnce) {
  std::vector<std::unique_ptr<Client>> held;
  Idle("127.0.0.2", 2, &held);
  ASSERT_TRUE(Eventually([&] { return transport_->ConnectionCountForTest() == 2; }));
  Client third(port_, "127.0.0.2");  // per address
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE(third.Closed());
  Idle("127.0.0.3", 1, &held);
  ASSERT_TRUE(Eventually([&] { return transport_->ConnectionCountForTest() == 3; }));
  Client fourth(port_, "127.0.0.4");  // in all
  ASSERT_TRUE(fourth.ok());
  EXPECT_TRUE(fourth.Closed());
  EXPECT_EQ(ClosedCount(held), 0) << "a connection within the limits was closed";
  // Room again once one goes.
  held.pop_back();
  ASSERT_TRUE(Eventually([&] { return transport_->ConnectionCountForTest() == 2; }));
  Client c(port_);
  Ready(&c);
}

class LoginTimeoutTest : public TransportTest {
 protected:
  TransportSettings Settings() override {
    TransportSettings s;
    s.resources.login_timeout_ms = 300;
    return s;
  }
};

TEST_F(LoginTimeoutTest, AConnectionThatNeverLogsInIsDropped) {
  Client idle(port_);
  ASSERT_TRUE(idle.ok());
  EXPECT_TRUE(idle.Closed());  // within the 5 s receive limit
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(0, 5000));
  // A login is not cut by it.
  Client c(port_);
  Ready(&c);
  ExpectPingAnswered(&c, 0x5);
}

}  // namespace
}  // namespace modtgt::iscsi
