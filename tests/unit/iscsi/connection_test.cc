// SPDX-License-Identifier: Apache-2.0
// Connection, over loopback TCP against an in-memory LU: NOP, Reject of an unknown
// opcode, digests checked and generated, logout and session reinstatement, an oversized
// data segment; CHAP through the transport (each algorithm, mutual, discovery, refusals
// and what they log); the ACL refusal's log line; a new login waiting for the same
// initiator's closed session to end; output and data-buffer back-pressure.
#include "iscsi/connection.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cstring>
#include <future>
#include <vector>

#include "iscsi/chap.h"
#include "iscsi/params.h"
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

TEST_F(ConnectionTest, DiscoverySessionReinstatementClosesTheOldOne) {
  const std::vector<std::pair<std::string, std::string>> disc = {
      {"InitiatorName", kInitiatorName}, {"SessionType", "Discovery"}};
  Client a(port_);
  RxPdu r;
  ASSERT_TRUE(a.Login(disc, &r));
  ASSERT_EQ(r.bhs.b[36], 0);
  Client b(port_);
  ASSERT_TRUE(b.Login(disc, &r));  // same name and ISID
  ASSERT_EQ(r.bhs.b[36], 0);
  EXPECT_TRUE(a.Closed());
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(1, 10000));
}

TEST_F(ConnectionTest, OversizedDataSegmentDropsConnection) {
  Client c(port_);
  Ready(&c);
  Bhs nop = c.NopOut(1);
  nop.set_data_segment_length(8u << 20);  // far above MaxRecvDataSegmentLength
  ASSERT_TRUE(c.SendRaw(nop.b.data(), kBhsLength));
  EXPECT_TRUE(c.Closed());
}

// ---- CHAP through the transport ----

constexpr char kUser[] = "initiator-user";
constexpr char kSecret[] = "initiator-secret-1";
constexpr char kTargetUser[] = "target-user";
constexpr char kTargetSecret[] = "target-secret-22";

using KeyList = std::vector<std::pair<std::string, std::string>>;

uint16_t Status(const RxPdu& r) { return static_cast<uint16_t>(r.bhs.b[36] << 8 | r.bhs.b[37]); }

class ChapLoginTest : public TransportTest {
 protected:
  void SetUp() override {
    TransportTest::SetUp();
    ASSERT_TRUE(accounts_.Add(kUser, kSecret).ok());
    ASSERT_TRUE(accounts_.Add(kTargetUser, kTargetSecret).ok());
  }

  // The security stage as open-iscsi runs it: AuthMethod offer, CHAP_A, then CHAP_N/CHAP_R
  // (and CHAP_I/CHAP_C for mutual CHAP). Returns the status of the last response; *last
  // holds it. mutual_ok tells whether the target's CHAP_R checked out.
  uint16_t Security(Client* c, const KeyList& names, const std::string& algs,
                    const std::string& user, const std::string& secret, bool mutual,
                    RxPdu* last, bool* mutual_ok = nullptr) {
    KeyList first = names;
    first.emplace_back("AuthMethod", "CHAP,None");
    EXPECT_TRUE(c->LoginStep(0x81, first, last));  // T, CSG 0, NSG 1
    if (Status(*last) != 0) return Status(*last);
    auto a = Client::ParseKeys(last->data);
    EXPECT_EQ(a["AuthMethod"], "CHAP");
    EXPECT_EQ(last->bhs.b[1] & 0x80, 0) << "the target must not leave the security stage yet";
    EXPECT_TRUE(c->LoginStep(0x01, {{"CHAP_A", algs}}, last));
    if (Status(*last) != 0) return Status(*last);
    a = Client::ParseKeys(last->data);
    uint64_t n = 0, id = 0;
    ChapAlgorithm alg{};
    EXPECT_TRUE(ParseNumber(a["CHAP_A"], &n) && ChapAlgorithmFromNumber(n, &alg));
    EXPECT_TRUE(ParseNumber(a["CHAP_I"], &id) && id <= 255);
    std::vector<uint8_t> challenge, r;
    EXPECT_TRUE(DecodeBinaryValue(a["CHAP_C"], 1024, &challenge));
    EXPECT_TRUE(ChapResponse(alg, static_cast<uint8_t>(id), secret, challenge, &r));
    KeyList resp = {{"CHAP_N", user}, {"CHAP_R", EncodeHex(r.data(), r.size())}};
    std::vector<uint8_t> mine(32);
    for (size_t i = 0; i < mine.size(); i++) mine[i] = static_cast<uint8_t>(0x5a + i);
    if (mutual) {
      resp.emplace_back("CHAP_I", "200");
      resp.emplace_back("CHAP_C", EncodeHex(mine.data(), mine.size()));
    }
    EXPECT_TRUE(c->LoginStep(0x81, resp, last));
    if (Status(*last) != 0) return Status(*last);
    a = Client::ParseKeys(last->data);
    if (mutual_ok != nullptr) {
      std::vector<uint8_t> want;
      EXPECT_TRUE(ChapResponse(alg, 200, kTargetSecret, mine, &want));
      *mutual_ok = a["CHAP_N"] == kTargetUser && a["CHAP_R"] == EncodeHex(want.data(), want.size());
    } else {
      EXPECT_EQ(a.count("CHAP_R"), 0u);
    }
    EXPECT_EQ(last->bhs.b[1] & 0x83, 0x81) << "T=1 NSG=1 once CHAP is done";
    return 0;
  }

  // Security stage then the operational stage to full feature phase; then TEST UNIT READY.
  void LoginWithChap(Client* c, const std::string& algs, bool mutual) {
    RxPdu r;
    KeyList names = {{"InitiatorName", kInitiatorName}, {"TargetName", kTargetName},
                     {"SessionType", "Normal"}};
    bool mutual_ok = false;
    ASSERT_EQ(Security(c, names, algs, kUser, kSecret, mutual, &r, mutual ? &mutual_ok : nullptr),
              0);
    if (mutual) {
      EXPECT_TRUE(mutual_ok) << "the target's CHAP_R does not check out";
    }
    KeyList ops = NormalKeys();
    ops.erase(ops.begin(), ops.begin() + 3);  // the names went in the first request
    ASSERT_TRUE(c->LoginStep(0x87, ops, &r));
    ASSERT_EQ(Status(r), 0);
    ASSERT_EQ(r.bhs.b[1] & 0x83, 0x83) << "full feature phase";
    uint8_t tur[16] = {};
    ASSERT_TRUE(c->Send(c->Command(tur, 0, false, false)));
    RxPdu rsp;
    ASSERT_TRUE(c->Recv(&rsp));
    EXPECT_EQ(rsp.op(), 0x21);
  }
};

TEST_F(ChapLoginTest, EachAlgorithmLogsInAndServes) {
  ASSERT_TRUE(accounts_.Bind(1, kUser, false).ok());
  for (const char* algs : {"5", "6", "7", "8", "8,7,6,5"}) {
    SCOPED_TRACE(algs);
    Client c(port_);
    LoginWithChap(&c, algs, /*mutual=*/false);
  }
}

TEST_F(ChapLoginTest, MutualChapAnswersWithTheOutgoingAccount) {
  ASSERT_TRUE(accounts_.Bind(1, kUser, false).ok());
  ASSERT_TRUE(accounts_.Bind(1, kTargetUser, true).ok());
  for (const char* algs : {"5", "7", "8"}) {
    SCOPED_TRACE(algs);
    Client c(port_);
    LoginWithChap(&c, algs, /*mutual=*/true);
  }
}

TEST_F(ChapLoginTest, RefusalsAreAuthenticationFailuresAndLogWhoNotTheSecret) {
  ASSERT_TRUE(accounts_.Bind(1, kUser, false).ok());
  KeyList names = {{"InitiatorName", kInitiatorName}, {"TargetName", kTargetName},
                   {"SessionType", "Normal"}};
  ::testing::internal::CaptureStderr();
  {
    Client c(port_);
    RxPdu r;
    EXPECT_EQ(Security(&c, names, "5", kUser, "wrong-secret-here", false, &r), 0x0201);
    EXPECT_TRUE(c.Closed());
  }
  {
    // Mutual CHAP asked of a target with no outgoing account.
    Client c(port_);
    RxPdu r;
    EXPECT_EQ(Security(&c, names, "5", kUser, kSecret, true, &r), 0x0201);
  }
  {
    // Only None offered, and skipping the security stage.
    Client c(port_);
    RxPdu r;
    KeyList none = names;
    none.emplace_back("AuthMethod", "None");
    ASSERT_TRUE(c.LoginStep(0x81, none, &r));
    EXPECT_EQ(Status(r), 0x0201);
    Client d(port_);
    ASSERT_TRUE(d.Login(NormalKeys(), &r));
    EXPECT_EQ(Status(r), 0x0201);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("0x0201 (authentication failure)"), std::string::npos) << log;
  EXPECT_NE(log.find("user 'initiator-user': wrong response"), std::string::npos) << log;
  EXPECT_NE(log.find(std::string("initiator '") + kInitiatorName + "' from 127.0.0.1:"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(std::string("to target ") + kTargetName), std::string::npos) << log;
  EXPECT_NE(log.find("no outgoing account"), std::string::npos) << log;
  EXPECT_NE(log.find("CHAP is required"), std::string::npos) << log;
  EXPECT_EQ(log.find(kSecret), std::string::npos) << "a secret in the log";
  EXPECT_EQ(log.find("wrong-secret-here"), std::string::npos) << "a secret in the log";
  EXPECT_EQ(log.find(kTargetSecret), std::string::npos) << "a secret in the log";
  EXPECT_EQ(target_->sessions.load(), 0);
}

TEST_F(ChapLoginTest, NoAccountBoundMeansNoneEvenWhenChapIsOffered) {
  Client c(port_);
  RxPdu r;
  KeyList first = {{"InitiatorName", kInitiatorName}, {"TargetName", kTargetName},
                   {"AuthMethod", "CHAP,None"}};
  ASSERT_TRUE(c.LoginStep(0x81, first, &r));
  ASSERT_EQ(Status(r), 0);
  EXPECT_EQ(Client::ParseKeys(r.data)["AuthMethod"], "None");
  EXPECT_EQ(r.bhs.b[1] & 0x83, 0x81);
  // An initiator that insists on CHAP is refused: there is nobody to check it against.
  Client d(port_);
  first.back().second = "CHAP";
  ASSERT_TRUE(d.LoginStep(0x81, first, &r));
  EXPECT_EQ(Status(r), 0x0201);
}

TEST_F(ChapLoginTest, DiscoveryHasItsOwnBinding) {
  ASSERT_TRUE(accounts_.Bind(core::kDiscoveryTid, kUser, false).ok());
  KeyList disc = {{"InitiatorName", kInitiatorName}, {"SessionType", "Discovery"}};
  {
    Client c(port_);
    RxPdu r;
    ASSERT_TRUE(c.Login({{"InitiatorName", kInitiatorName}, {"SessionType", "Discovery"}}, &r));
    EXPECT_EQ(Status(r), 0x0201) << "discovery without CHAP";
  }
  {
    Client c(port_);
    RxPdu r;
    ASSERT_EQ(Security(&c, disc, "7", kUser, kSecret, false, &r), 0);
    ASSERT_TRUE(c.LoginStep(0x87, {{"MaxRecvDataSegmentLength", "8192"}}, &r));
    ASSERT_EQ(Status(r), 0);
    EXPECT_EQ(r.bhs.b[1] & 0x83, 0x83);
  }
  // The target itself has no binding: a normal session needs no CHAP.
  Client n(port_);
  Ready(&n);
}

TEST_F(ConnectionTest, AclRefusalIsLoggedWithTheRules) {
  ASSERT_TRUE(target_->UnbindAddress("ALL").ok());
  ASSERT_TRUE(target_->BindAddress("10.9.9.0/24").ok());
  ASSERT_TRUE(target_->BindAddress("fd00::/8").ok());
  ::testing::internal::CaptureStderr();
  Client c(port_);
  RxPdu r;
  ASSERT_TRUE(c.Login(NormalKeys(), &r));
  EXPECT_EQ(Status(r), 0x0202);
  EXPECT_TRUE(c.Closed());
  ASSERT_TRUE(target_->UnbindAddress("10.9.9.0/24").ok());
  ASSERT_TRUE(target_->UnbindAddress("fd00::/8").ok());
  ASSERT_TRUE(target_->BindName("iqn.2024-01.org.modtgt:someone-else").ok());
  Client d(port_);
  ASSERT_TRUE(d.Login(NormalKeys(), &r));
  EXPECT_EQ(Status(r), 0x0202);
  ASSERT_TRUE(target_->UnbindName("iqn.2024-01.org.modtgt:someone-else").ok());
  Client e(port_);
  ASSERT_TRUE(e.Login(NormalKeys(), &r));
  EXPECT_EQ(Status(r), 0x0202);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(log.find("0x0202 (authorization failure)"), std::string::npos) << log;
  EXPECT_NE(log.find("address 127.0.0.1 matches none of the target's address rules "
                     "('10.9.9.0/24', 'fd00::/8')"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find(std::string("initiator name '") + kInitiatorName +
                     "' is not among the target's initiator names "
                     "('iqn.2024-01.org.modtgt:someone-else')"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("the target has no ACL, so nobody may log in"), std::string::npos) << log;
}

// ---- A new login and the same initiator's earlier sessions (ITNexusLoss) ----

// Blocks a loop until released (a loop busy elsewhere, as under load).
class LoopBlocker {
 public:
  explicit LoopBlocker(env::EventLoop* loop) {
    std::shared_future<void> go = release_.get_future().share();
    loop->Post([go, this] {
      running_.set_value();
      go.wait();
    });
    running_.get_future().wait();
  }
  ~LoopBlocker() { Release(); }
  void Release() {
    if (!released_) release_.set_value();
    released_ = true;
  }

 private:
  std::promise<void> running_;
  std::promise<void> release_;
  bool released_ = false;
};

// Bytes waiting to be read on the client's socket.
int Pending(const Client& c) {
  int n = 0;
  ioctl(c.fd_, FIONREAD, &n);
  return n;
}

TEST_F(ConnectionTest, NewLoginWaitsUntilTheInitiatorsClosedSessionHasEnded) {
  // Connections go round robin from loop1_: a goes to loop2_ (after a filler on loop1_),
  // and b, the new login, to loop1_ (where the listener is, so it is accepted).
  Client filler(port_);
  ASSERT_TRUE(filler.ok());
  Client a(port_);
  Ready(&a);
  ASSERT_EQ(target_->sessions.load(), 1);
  {
    // a's loop is busy when a closes its connection and the same initiator logs in again
    // with another ISID: the old nexus must be gone before the new login completes.
    LoopBlocker busy(loop2_.loop());
    ::close(a.fd_);
    a.fd_ = -1;
    Client b(port_);
    ASSERT_TRUE(b.ok());
    Bhs h;
    h.b[0] = 0x43;
    h.b[1] = 0x87;
    h.b[8] = 0x80;
    h.b[13] = 0x02;  // ISID ...02: not a reinstatement
    h.set_itt(1);
    ASSERT_TRUE(b.Send(h, Client::Keys(NormalKeys())));
    // The target has the request, but its answer waits for loop2_ (a's session still
    // holds a nexus): nothing may arrive while it is blocked. A read with a timeout is the
    // only way to see that nothing comes.
    pollfd pfd{b.fd_, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 300), 0) << "the login completed before the old nexus ended";
    EXPECT_EQ(Pending(b), 0);
    EXPECT_EQ(target_->sessions.load(), 2);  // the old nexus is still there
    busy.Release();
    RxPdu r;
    ASSERT_TRUE(b.Recv(&r));
    EXPECT_EQ(Status(r), 0);
    EXPECT_EQ(r.bhs.b[1] & 0x83, 0x83);
    // By the time the initiator has its final response, the old nexus has ended.
    EXPECT_EQ(target_->sessions.load(), 1);
    EXPECT_EQ(transport_->Sessions().size(), 1u);
  }
}

TEST_F(ConnectionTest, ALiveSessionOfTheSameInitiatorDoesNotHoldALogin) {
  Client a(port_);
  Ready(&a);
  Client b(port_);
  RxPdu r;
  ASSERT_TRUE(b.Login(NormalKeys(), &r, 0x800000000002ULL));  // another ISID
  EXPECT_EQ(Status(r), 0);
  EXPECT_EQ(target_->sessions.load(), 2);
  ExpectPingAnswered(&a, 0x77);  // a is untouched
}

// ---- Back-pressure ----

TEST_F(ConnectionTest, AnInitiatorThatDoesNotReadStopsBeingRead) {
  Client c(port_);
  Ready(&c);
  int small = 64 * 1024;
  setsockopt(c.fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  // Pings with 8 KiB of data each, never reading the answers: the target's output queue
  // fills, it stops reading, and our sends block.
  const std::vector<uint8_t> data(8192, 0x6b);
  size_t sent = 0;
  uint32_t pings = 0;
  for (;;) {
    Bhs h = c.NopOut(0x1000 + pings);
    h.set_data_segment_length(static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> out(h.b.begin(), h.b.end());
    out.insert(out.end(), data.begin(), data.end());
    pollfd pfd{c.fd_, POLLOUT, 0};
    // Writable within 0.5 s, or the target has stopped reading (a slow target only stops
    // us early: the bound below is what fails).
    if (poll(&pfd, 1, 500) != 1) break;
    ASSERT_TRUE(c.SendRaw(out.data(), out.size()));
    sent += out.size();
    pings++;
    ASSERT_LT(sent, 256u << 20) << "the target kept reading what it could not answer";
  }
  // Bounded: its queue limit plus the socket buffers, far below what was offered.
  EXPECT_LT(sent, Connection::kTxHighWater + (32u << 20));
  // Reading resumes once we read: every ping is answered, in order.
  for (uint32_t i = 0; i < pings; i++) {
    RxPdu in;
    ASSERT_TRUE(c.Recv(&in)) << "ping " << i << " of " << pings;
    ASSERT_EQ(in.op(), 0x20);
    ASSERT_EQ(in.bhs.itt(), 0x1000 + i);
  }
  ExpectPingAnswered(&c, 0x55);
}

class AsyncConnectionTest : public ConnectionTest {
 protected:
  bool AsyncBackend() override { return true; }
};

// RFC 7143 11.14: a Logout does not discard the responses of commands still running: the
// READ held in the backend answers first, then the Logout Response, then the close.
TEST_F(AsyncConnectionTest, LogoutWaitsForTheResponsesOfRunningCommands) {
  Client c(port_);
  Ready(&c);
  std::promise<void> in_io;
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  std::atomic<bool> first{true};
  backend_->SetBeforeIo([&](const scsi::IoRequest&) {
    if (first.exchange(false)) {
      in_io.set_value();
      go.wait();
    }
  });
  uint8_t cdb[16] = {0x28};
  PutBe32(cdb + 2, 8);
  PutBe16(cdb + 7, 4);
  Bhs read = c.Command(cdb, 4 * kBlock, true, false);
  ASSERT_TRUE(c.Send(read));
  in_io.get_future().wait();  // the READ is in the backend
  Bhs lo;
  lo.b[0] = 0x46;
  lo.b[1] = 0x80;  // close the session
  lo.set_itt(0x4242);
  lo.Put32(24, c.cmd_sn);
  ASSERT_TRUE(c.Send(lo));
  // Nothing may come while the READ is held (the old code answered the Logout at once).
  pollfd pfd{c.fd_, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 200), 0) << "the target answered while the READ was still running";
  release.set_value();
  backend_->SetBeforeIo(nullptr);
  RxPdu p;
  std::vector<uint8_t> data;
  for (;;) {
    ASSERT_TRUE(c.Recv(&p));
    ASSERT_EQ(p.op(), 0x25) << "Data-In before anything else";
    EXPECT_EQ(p.bhs.itt(), read.itt());
    data.insert(data.end(), p.data.begin(), p.data.end());
    if (p.bhs.b[1] & 0x01) break;
  }
  EXPECT_EQ(p.bhs.b[3], 0);  // GOOD
  ASSERT_EQ(data.size(), 4u * kBlock);
  uint32_t first_word;
  std::memcpy(&first_word, data.data(), 4);
  EXPECT_EQ(first_word, 8u * kBlock);  // the medium holds its own offsets
  const uint32_t read_stat_sn = p.bhs.Get32(24);
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x26);
  EXPECT_EQ(rsp.bhs.itt(), 0x4242u);
  EXPECT_EQ(rsp.bhs.b[2], 0);
  EXPECT_EQ(rsp.bhs.Get32(24), read_stat_sn + 1);
  EXPECT_TRUE(c.Closed());
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(0, 10000));
}

// ERL 2: a session whose only connection fails with a write half done stays (listed,
// joinable) for connection recovery; the transport's shutdown ends it cleanly.
TEST_F(ConnectionTest, Erl2SessionWaitsForRecoveryAndShutdownEndsIt) {
  KeyList keys = NormalKeys();
  for (auto& [k, v] : keys) {
    if (k == "ErrorRecoveryLevel") v = "2";
    if (k == "ImmediateData") v = "No";
  }
  {
    Client c(port_);
    ReadyWith(&c, keys, false);
    uint8_t cdb[16] = {0x2a};
    PutBe16(cdb + 7, 8);
    ASSERT_TRUE(c.Send(c.Command(cdb, 8 * kBlock, false, true)));
    RxPdu r2t;
    ASSERT_TRUE(c.Recv(&r2t));
    ASSERT_EQ(r2t.op(), 0x31);
  }  // the connection drops with the write waiting for its data
  ASSERT_TRUE(transport_->WaitForConnectionsForTest(0, 10000));
  EXPECT_EQ(transport_->Sessions().size(), 1u) << "the session waits for recovery";
  EXPECT_EQ(target_->sessions.load(), 1);
  transport_->Shutdown();
  EXPECT_EQ(target_->sessions.load(), 0) << "shutdown ended the waiting session";
  EXPECT_TRUE(transport_->Sessions().empty());
}

class DataBudgetTest : public ConnectionTest {
 protected:
  TransportSettings Settings() override {
    TransportSettings s;
    s.resources.max_session_data = 1u << 20;
    return s;
  }
};

TEST_F(DataBudgetTest, CommandsBeyondTheSessionsDataBudgetWaitForBuffers) {
  Client c(port_);
  KeyList keys = NormalKeys();
  for (auto& [k, v] : keys) {
    if (k == "MaxBurstLength") v = "524288";
    if (k == "ImmediateData") v = "No";
  }
  ReadyWith(&c, keys, false);
  // Three 512 KiB writes: two fit the 1 MiB budget and get their R2T at once; the third
  // waits for a buffer (reading goes on: the first write's Data-Out comes after it).
  const uint32_t len = 512 * 1024;
  std::vector<uint8_t> payload = Pattern(len, 9);
  uint32_t itts[3];
  for (int i = 0; i < 3; i++) {
    uint8_t cdb[16] = {0x2a};
    PutBe32(cdb + 2, 0);
    PutBe16(cdb + 7, static_cast<uint16_t>(len / kBlock));
    Bhs cmd = c.Command(cdb, len, false, true);
    itts[i] = cmd.itt();
    ASSERT_TRUE(c.Send(cmd));
  }
  RxPdu r1, r2;
  ASSERT_TRUE(c.Recv(&r1));
  ASSERT_TRUE(c.Recv(&r2));
  ASSERT_EQ(r1.op(), 0x31);
  ASSERT_EQ(r2.op(), 0x31);
  EXPECT_EQ(r1.bhs.itt(), itts[0]);
  EXPECT_EQ(r2.bhs.itt(), itts[1]);
  ASSERT_TRUE(c.SendBurst(itts[0], r1.bhs.Get32(20), payload, 0, len, 8192));
  // The first write's response comes before the third write's R2T: the third waited.
  RxPdu rsp, r3;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), itts[0]);
  ASSERT_TRUE(c.Recv(&r3));
  ASSERT_EQ(r3.op(), 0x31);
  EXPECT_EQ(r3.bhs.itt(), itts[2]);
  ASSERT_TRUE(c.SendBurst(itts[1], r2.bhs.Get32(20), payload, 0, len, 8192));
  ASSERT_TRUE(c.SendBurst(itts[2], r3.bhs.Get32(20), payload, 0, len, 8192));
  for (int i = 1; i < 3; i++) {
    ASSERT_TRUE(c.Recv(&rsp));
    EXPECT_EQ(rsp.op(), 0x21);
    EXPECT_EQ(rsp.bhs.b[3], 0);
  }
}

}  // namespace
}  // namespace modtgt::iscsi
