// SPDX-License-Identifier: Apache-2.0
// text.cc: SendTargets answers (addresses, ACLs), TextExchange (a request continued with
// the C bit, an answer sent in pieces, refusals), and a discovery session's SendTargets
// over loopback TCP.
#include "iscsi/text.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/target.h"
#include "loopback.h"

namespace modtgt::iscsi {
namespace {

constexpr char kInitiator[] = "iqn.2024-01.org.example:host1";

// ---- SendTargets ----

sockaddr_in V4(const char* ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

sockaddr_in6 V6(const char* ip, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

class SendTargetsTest : public ::testing::Test {
 protected:
  SendTargetsTest() {
    a = std::make_shared<core::Target>(1, "iqn.2024-01.org.modtgt:a");
    b = std::make_shared<core::Target>(2, "iqn.2024-01.org.modtgt:b");
    hidden = std::make_shared<core::Target>(3, "iqn.2024-01.org.modtgt:hidden");
    EXPECT_TRUE(a->BindAddress("ALL").ok());
    EXPECT_TRUE(b->BindAddress("ALL").ok());
    EXPECT_TRUE(hidden->BindName("iqn.2024-01.org.example:someone-else").ok());
    targets = {a, b, hidden};
  }
  std::shared_ptr<core::Target> a, b, hidden;
  std::vector<std::shared_ptr<core::Target>> targets;
  sockaddr_in peer4 = V4("127.0.0.1", 40000);
};

TEST_F(SendTargetsTest, AllListsAdmittedTargetsWithIpv4LocalAddress) {
  sockaddr_in local = V4("127.0.0.2", 3260);
  KeyValues out;
  AnswerSendTargets("All", reinterpret_cast<sockaddr*>(&local), 1, targets,
                    reinterpret_cast<sockaddr*>(&peer4), kInitiator, &out);
  KeyValues expect = {{"TargetName", "iqn.2024-01.org.modtgt:a"},
                      {"TargetAddress", "127.0.0.2:3260,1"},
                      {"TargetName", "iqn.2024-01.org.modtgt:b"},
                      {"TargetAddress", "127.0.0.2:3260,1"}};
  EXPECT_EQ(out, expect);
}

TEST_F(SendTargetsTest, Ipv6LocalAddressIsBracketed) {
  sockaddr_in6 local = V6("::1", 3261);
  sockaddr_in6 peer = V6("::1", 50000);
  KeyValues out;
  AnswerSendTargets("iqn.2024-01.org.modtgt:b", reinterpret_cast<sockaddr*>(&local), 7, targets,
                    reinterpret_cast<sockaddr*>(&peer), kInitiator, &out);
  KeyValues expect = {{"TargetName", "iqn.2024-01.org.modtgt:b"},
                      {"TargetAddress", "[::1]:3261,7"}};
  EXPECT_EQ(out, expect);
}

TEST_F(SendTargetsTest, V4MappedAddressIsShownAsIpv4) {
  sockaddr_in6 local = V6("::ffff:127.0.0.1", 3260);
  KeyValues out;
  AnswerSendTargets("iqn.2024-01.org.modtgt:a", reinterpret_cast<sockaddr*>(&local), 1, targets,
                    reinterpret_cast<sockaddr*>(&peer4), kInitiator, &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].second, "127.0.0.1:3260,1");
}

TEST_F(SendTargetsTest, WildcardLocalAddressIsNeverAdvertised) {
  sockaddr_in local = V4("0.0.0.0", 3260);
  KeyValues out;
  AnswerSendTargets("All", reinterpret_cast<sockaddr*>(&local), 1, targets,
                    reinterpret_cast<sockaddr*>(&peer4), kInitiator, &out);
  KeyValues expect = {{"TargetName", "iqn.2024-01.org.modtgt:a"},
                      {"TargetName", "iqn.2024-01.org.modtgt:b"}};
  EXPECT_EQ(out, expect);
}

TEST_F(SendTargetsTest, AclHidesTargetsAndUnknownNameGivesNothing) {
  sockaddr_in local = V4("127.0.0.1", 3260);
  KeyValues out;
  AnswerSendTargets("iqn.2024-01.org.modtgt:hidden", reinterpret_cast<sockaddr*>(&local), 1,
                    targets, reinterpret_cast<sockaddr*>(&peer4), kInitiator, &out);
  EXPECT_TRUE(out.empty());
  AnswerSendTargets("iqn.2024-01.org.modtgt:nope", reinterpret_cast<sockaddr*>(&local), 1, targets,
                    reinterpret_cast<sockaddr*>(&peer4), kInitiator, &out);
  EXPECT_TRUE(out.empty());
  // The permitted initiator does see it.
  AnswerSendTargets("All", reinterpret_cast<sockaddr*>(&local), 1, {hidden},
                    reinterpret_cast<sockaddr*>(&peer4), "iqn.2024-01.org.example:someone-else",
                    &out);
  EXPECT_EQ(out.size(), 2u);
}

// ---- TextExchange ----

class FakeTextHost : public TextExchange::Host {
 public:
  uint32_t NewTextTtt() override { return next_ttt++; }
  void AnswerText(const KeyValues& request, KeyValues* out) override {
    requests.push_back(request);
    for (const auto& kv : answer) out->push_back(kv);
  }
  uint32_t next_ttt = 0x100;
  KeyValues answer = {{"TargetName", "iqn.2024-01.org.modtgt:a"}};
  std::vector<KeyValues> requests;
};

Bhs TextRequest(bool cont, uint32_t ttt) {
  Bhs h;
  h.set_opcode(Opcode::kTextRequest);
  h.b[1] = cont ? 0x40 : 0x80;
  h.set_itt(0x42);
  h.Put32(20, ttt);
  return h;
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string Str(const TextExchange::Reply& r) {
  return std::string(reinterpret_cast<const char*>(r.data), r.len);
}

// After a refused request, a new one stands on its own (nothing of the old one is kept).
void ExpectFreshRequestAnswered(TextExchange* x, FakeTextHost* host) {
  std::string ok("SendTargets=All", 16);
  TextExchange::Reply r = x->Step(TextRequest(false, 0xffffffff), Bytes(ok), 8192, host);
  EXPECT_FALSE(r.reject);
  ASSERT_EQ(host->requests.size(), 1u);
  EXPECT_EQ(host->requests[0], (KeyValues{{"SendTargets", "All"}}));
}

TEST(TextExchange, ShortAnswerIsOneFinalPiece) {
  FakeTextHost host;
  TextExchange x;
  std::string req("SendTargets=All", 16);
  TextExchange::Reply r = x.Step(TextRequest(false, 0xffffffff), Bytes(req), 8192, &host);
  EXPECT_FALSE(r.reject);
  EXPECT_EQ(r.flags, 0x80);
  EXPECT_EQ(r.ttt, 0xffffffffu);
  EXPECT_EQ(Str(r), std::string("TargetName=iqn.2024-01.org.modtgt:a") + '\0');
  ASSERT_EQ(host.requests.size(), 1u);
  EXPECT_EQ(host.requests[0], (KeyValues{{"SendTargets", "All"}}));
  EXPECT_EQ(host.next_ttt, 0x100u) << "no TTT for a one-piece answer";
}

TEST(TextExchange, ContinuedRequestIsAcknowledgedThenAnsweredWhole) {
  FakeTextHost host;
  TextExchange x;
  TextExchange::Reply r = x.Step(TextRequest(true, 0xffffffff), Bytes("SendTar"), 8192, &host);
  EXPECT_FALSE(r.reject);
  EXPECT_EQ(r.flags, 0);  // neither F nor C: an empty acknowledgement
  EXPECT_EQ(r.ttt, 0x100u);
  EXPECT_EQ(r.len, 0u);
  EXPECT_TRUE(host.requests.empty());
  std::string rest("gets=All", 9);
  r = x.Step(TextRequest(false, 0xffffffff), Bytes(rest), 8192, &host);
  EXPECT_EQ(r.flags, 0x80);
  ASSERT_EQ(host.requests.size(), 1u);
  EXPECT_EQ(host.requests[0], (KeyValues{{"SendTargets", "All"}}));
}

TEST(TextExchange, LongAnswerGoesInPiecesAskedForWithOurTtt) {
  FakeTextHost host;
  host.answer = {{"TargetName", std::string(30, 'a')}, {"TargetName", std::string(30, 'b')}};
  TextExchange x;
  std::string req("SendTargets=All", 16);
  TextExchange::Reply r = x.Step(TextRequest(false, 0xffffffff), Bytes(req), 32, &host);
  std::string all = Str(r);
  EXPECT_EQ(r.flags, 0x40);  // C: more to come
  EXPECT_EQ(r.ttt, 0x100u);
  EXPECT_EQ(r.len, 32u);
  r = x.Step(TextRequest(false, 0x100), {}, 32, &host);
  all += Str(r);
  EXPECT_EQ(r.flags, 0x40);
  EXPECT_EQ(r.ttt, 0x101u);
  // A stale TTT is refused.
  TextExchange::Reply bad = x.Step(TextRequest(false, 0x100), {}, 32, &host);
  EXPECT_TRUE(bad.reject);
  EXPECT_EQ(bad.reason, RejectReason::kInvalidPduField);
  r = x.Step(TextRequest(false, 0x101), {}, 32, &host);
  all += Str(r);
  EXPECT_EQ(r.flags, 0x80);
  EXPECT_EQ(r.ttt, 0xffffffffu);
  std::string expect = "TargetName=" + std::string(30, 'a') + std::string(1, '\0') +
                       "TargetName=" + std::string(30, 'b') + std::string(1, '\0');
  EXPECT_EQ(all, expect);
  // The exchange is over: its last TTT asks for nothing more.
  bad = x.Step(TextRequest(false, 0x101), {}, 32, &host);
  EXPECT_TRUE(bad.reject);
  EXPECT_EQ(bad.reason, RejectReason::kInvalidPduField);
}

TEST(TextExchange, MalformedRequestIsAProtocolError) {
  FakeTextHost host;
  TextExchange x;
  std::string req("NoEqualsSign", 13);
  TextExchange::Reply r = x.Step(TextRequest(false, 0xffffffff), Bytes(req), 8192, &host);
  EXPECT_TRUE(r.reject);
  EXPECT_EQ(r.reason, RejectReason::kProtocolError);
  EXPECT_TRUE(host.requests.empty());
  ExpectFreshRequestAnswered(&x, &host);
}

TEST(TextExchange, ContinuedRequestIsBounded) {
  FakeTextHost host;
  TextExchange x;
  const std::vector<uint8_t> piece(8192, 'a');
  size_t sent = 0;
  TextExchange::Reply r;
  // Continuation PDUs up to the limit are acknowledged; the one that crosses it is refused.
  while (sent + piece.size() <= TextExchange::kMaxTextRequest) {
    r = x.Step(TextRequest(true, 0xffffffff), piece, 8192, &host);
    ASSERT_FALSE(r.reject) << "after " << sent << " bytes";
    sent += piece.size();
  }
  r = x.Step(TextRequest(true, 0xffffffff), piece, 8192, &host);
  EXPECT_TRUE(r.reject);
  EXPECT_EQ(r.reason, RejectReason::kProtocolError);
  EXPECT_TRUE(host.requests.empty());
  ExpectFreshRequestAnswered(&x, &host);
}

// ---- Keys in full feature phase (RFC 7143 6.2, 13) ----

TEST(FullFeatureKeys, EachKeyGetsItsAnswer) {
  using K = FfpKeyAnswer::Kind;
  EXPECT_EQ(AnswerFullFeatureKey("SendTargets", "All", true).kind, K::kSendTargets);
  EXPECT_EQ(AnswerFullFeatureKey("SendTargets", "", false).kind, K::kSendTargets);
  EXPECT_EQ(AnswerFullFeatureKey("SendTargets", "iqn.2024-01.org.modtgt:a", true).kind,
            K::kSendTargets);
  FfpKeyAnswer bad = AnswerFullFeatureKey("SendTargets", "Everything please", true);
  EXPECT_EQ(bad.kind, K::kReply);
  EXPECT_EQ(bad.value, "Reject");
  EXPECT_EQ(AnswerFullFeatureKey("X-com.example.Foo", "1", false).value, "NotUnderstood");
  EXPECT_EQ(AnswerFullFeatureKey("NoSuchKey", "1", false).value, "NotUnderstood");
  EXPECT_EQ(AnswerFullFeatureKey("MaxBurstLength", "4096", false).value, "Reject");
  EXPECT_EQ(AnswerFullFeatureKey("MaxBurstLength", "4096", true).value, "Irrelevant");
  EXPECT_EQ(AnswerFullFeatureKey("InitiatorName", "iqn.2024-01.x:y", false).value, "Reject");
  EXPECT_EQ(AnswerFullFeatureKey("CHAP_A", "5", false).value, "Reject");
  EXPECT_EQ(AnswerFullFeatureKey("TargetAddress", "1.2.3.4", false).value, "Reject");
  FfpKeyAnswer alias = AnswerFullFeatureKey("InitiatorAlias", "host", false);
  EXPECT_EQ(alias.kind, K::kNone);
  FfpKeyAnswer mrdsl = AnswerFullFeatureKey("MaxRecvDataSegmentLength", "4096", false);
  EXPECT_EQ(mrdsl.kind, K::kNone);
  EXPECT_EQ(mrdsl.max_xmit, 4096u);
  EXPECT_EQ(AnswerFullFeatureKey("MaxRecvDataSegmentLength", "100", false).value, "Reject");
  EXPECT_EQ(AnswerFullFeatureKey("MaxRecvDataSegmentLength", "x", false).value, "Reject");
}

TEST(FullFeatureKeys, IscsiNames) {
  EXPECT_TRUE(IsIscsiName("iqn.2024-01.org.modtgt:disk-1"));
  EXPECT_TRUE(IsIscsiName("eui.0123456789ABCDEF"));
  EXPECT_TRUE(IsIscsiName("naa.52004567BA64678D"));
  EXPECT_FALSE(IsIscsiName("iqn.2024-01.org.modtgt:Upper"));
  EXPECT_FALSE(IsIscsiName("eui.0123"));
  EXPECT_FALSE(IsIscsiName("All of them"));
  EXPECT_FALSE(IsIscsiName("iqn." + std::string(230, 'a')));
}

TEST(TextExchange, NewIttStartsAFreshRequest) {
  FakeTextHost host;
  TextExchange x;
  Bhs first = TextRequest(true, 0xffffffff);
  first.set_itt(1);
  TextExchange::Reply r = x.Step(first, Bytes("Garbage-that-is-abandoned"), 8192, &host);
  EXPECT_FALSE(r.reject);
  Bhs second = TextRequest(false, 0xffffffff);
  second.set_itt(2);
  std::string req("SendTargets=All", 16);
  r = x.Step(second, Bytes(req), 8192, &host);
  EXPECT_FALSE(r.reject);
  ASSERT_EQ(host.requests.size(), 1u);
  EXPECT_EQ(host.requests[0], (KeyValues{{"SendTargets", "All"}}));
}

// ---- A discovery session over loopback TCP ----

using namespace loopback;  // NOLINT: the test fixture

class TextTest : public TransportTest {};

TEST_F(TextTest, DiscoverySendTargetsUsesLocalAddress) {
  Client c(port_);
  ASSERT_TRUE(c.ok());
  RxPdu r;
  ASSERT_TRUE(c.Login({{"InitiatorName", kInitiatorName},
                       {"SessionType", "Discovery"},
                       {"HeaderDigest", "None"},
                       {"DataDigest", "None"}},
                      &r));
  ASSERT_EQ(r.bhs.b[36], 0);
  EXPECT_TRUE(transport_->Sessions().empty());  // discovery sessions are not listed
  Bhs t;
  t.b[0] = 0x44;
  t.b[1] = 0x80;
  t.set_itt(0x77);
  t.Put32(20, 0xffffffff);
  t.Put32(24, c.cmd_sn);
  ASSERT_TRUE(c.Send(t, Client::Keys({{"SendTargets", "All"}})));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x24);
  EXPECT_EQ(rsp.bhs.b[1], 0x80);
  std::map<std::string, std::string> keys = Client::ParseKeys(rsp.data);
  EXPECT_EQ(keys["TargetName"], kTargetName);
  EXPECT_EQ(keys["TargetAddress"], "127.0.0.1:" + std::to_string(port_) + ",1");
  // A SCSI command in a discovery session is rejected.
  uint8_t tur[16] = {};
  ASSERT_TRUE(c.Send(c.Command(tur, 0, false, false)));
  RxPdu rej;
  ASSERT_TRUE(c.Recv(&rej));
  EXPECT_EQ(rej.op(), 0x3f);
}

}  // namespace
}  // namespace modtgt::iscsi
