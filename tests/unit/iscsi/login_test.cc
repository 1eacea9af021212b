// SPDX-License-Identifier: Apache-2.0
// Login state machine (src/iscsi/login.cc).
#include "iscsi/login.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cctype>
#include <ostream>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <string>

#include "core/target.h"

namespace modtgt::iscsi {
namespace {

constexpr char kTargetName[] = "iqn.2024-01.org.modtgt:disk1";
constexpr char kInitiator[] = "iqn.2024-01.org.example:host1";
constexpr uint16_t kNewTsih = 0x1234;

class FakeEnv : public LoginEnvironment {
 public:
  FakeEnv() {
    target = std::make_shared<core::Target>(1, kTargetName);
    EXPECT_TRUE(target->BindAddress("ALL").ok());
    std::memset(&peer, 0, sizeof(peer));
    peer.sin_family = AF_INET;
    peer.sin_port = htons(51234);
    inet_pton(AF_INET, "127.0.0.1", &peer.sin_addr);
    local = peer;
    local.sin_port = htons(3260);
  }
  std::shared_ptr<core::Target> FindTarget(const std::string& name) override {
    return name == kTargetName ? target : nullptr;
  }
  const TargetLimits& limits() override { return lim; }
  const sockaddr* peer_address() override { return reinterpret_cast<sockaddr*>(&peer); }
  const sockaddr* local_address() override { return reinterpret_cast<sockaddr*>(&local); }
  uint16_t portal_group_tag() override { return tpgt; }
  LoginStatus PrepareSession(const Login& login, uint16_t* tsih) override {
    ++prepare_calls;
    prepared_params = login.session_params();
    prepared_conn = login.connection_params();
    if (prepare_status != LoginStatus::kSuccess) return prepare_status;
    *tsih = kNewTsih;
    return LoginStatus::kSuccess;
  }
  bool AuthenticationRequired(const core::Target*) override { return auth_required; }
  std::unique_ptr<Authenticator> NewAuthenticator(const std::string& method, const core::Target*,
                                                  const std::string&) override;

  std::shared_ptr<core::Target> target;
  TargetLimits lim;
  sockaddr_in peer;
  sockaddr_in local;
  uint16_t tpgt = 1;
  int prepare_calls = 0;
  LoginStatus prepare_status = LoginStatus::kSuccess;
  SessionParams prepared_params;
  ConnectionParams prepared_conn;
  bool auth_required = false;
  bool chap_enabled = false;
};

// A two-round stand-in for CHAP, proving the security-stage seam: round one expects
// CHAP_A and answers a challenge, round two expects CHAP_R=good.
class FakeChap : public Authenticator {
 public:
  LoginStatus Step(const KeyValues& keys, KeyValues* out) override {
    for (const auto& [k, v] : keys) {
      if (k == "CHAP_A" && round_ == 0) {
        out->emplace_back("CHAP_A", "5");
        out->emplace_back("CHAP_C", "0x0102");
        round_ = 1;
      } else if (k == "CHAP_R" && round_ == 1) {
        if (v != "good") return LoginStatus::kAuthenticationFailure;
        done_ = true;
      } else if (k != "CHAP_N") {
        return LoginStatus::kAuthenticationFailure;
      }
    }
    return LoginStatus::kSuccess;
  }
  bool done() const override { return done_; }

 private:
  int round_ = 0;
  bool done_ = false;
};

std::unique_ptr<Authenticator> FakeEnv::NewAuthenticator(const std::string& method,
                                                         const core::Target*,
                                                         const std::string&) {
  if (method == "CHAP" && chap_enabled) return std::make_unique<FakeChap>();
  return nullptr;
}

// Flags byte of a Login Request/Response (RFC 7143 11.12): T C . . CSG NSG.
uint8_t Flags(bool t, bool c, int csg, int nsg) {
  return static_cast<uint8_t>((t ? 0x80 : 0) | (c ? 0x40 : 0) | (csg << 2) | nsg);
}

constexpr uint8_t kIsid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};

Pdu Request(uint8_t flags, const KeyValues& kvs, uint16_t tsih = 0, uint32_t itt = 7) {
  Pdu p;
  p.bhs.b[0] = 0x40 | 0x03;  // immediate Login Request
  p.bhs.b[1] = flags;
  p.bhs.b[2] = 0;  // Version-max
  p.bhs.b[3] = 0;  // Version-min
  std::memcpy(&p.bhs.b[8], kIsid, 6);
  p.bhs.Put16(14, tsih);
  p.bhs.set_itt(itt);
  p.bhs.Put16(20, 3);          // CID
  p.bhs.Put32(24, 100);        // CmdSN
  p.bhs.Put32(28, 55);         // ExpStatSN
  AppendKeyValues(kvs, &p.data);
  p.bhs.set_data_segment_length(static_cast<uint32_t>(p.data.size()));
  return p;
}

std::map<std::string, std::string> Answer(const Pdu& resp) {
  std::map<std::string, std::string> m;
  auto r = ParseKeyValues(resp.data.data(), resp.data.size());
  EXPECT_TRUE(r.ok());
  if (!r.ok()) return m;
  for (auto& [k, v] : *r) {
    EXPECT_TRUE(m.emplace(k, v).second) << "duplicate key in answer: " << k;
  }
  return m;
}

uint16_t StatusOf(const Pdu& resp) { return static_cast<uint16_t>(resp.bhs.b[36] << 8 | resp.bhs.b[37]); }

KeyValues Names() {
  return {{"InitiatorName", kInitiator}, {"TargetName", kTargetName}, {"SessionType", "Normal"}};
}

KeyValues With(KeyValues a, const KeyValues& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class LoginTest : public ::testing::Test {
 protected:
  // Runs a one-PDU operational-stage login straight to FFP with `keys` (plus the names).
  LoginStep OpLogin(const KeyValues& keys, Pdu* resp) {
    return login.Step(Request(Flags(true, false, 1, 3), With(Names(), keys)), resp);
  }
  FakeEnv env;
  Login login{&env};
};

TEST_F(LoginTest, SecurityThenOperationalThenFullFeature) {
  Pdu resp;
  KeyValues sec = With(Names(), {{"AuthMethod", "CHAP,None"}, {"InitiatorAlias", "host1"}});
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), sec, 0, 11), &resp), LoginStep::kContinue);
  EXPECT_EQ(resp.bhs.opcode(), Opcode::kLoginResponse);
  EXPECT_EQ(resp.bhs.b[1], Flags(true, false, 0, 1));
  EXPECT_EQ(resp.bhs.b[2], 0);  // Version-max
  EXPECT_EQ(resp.bhs.b[3], 0);  // Version-active
  EXPECT_EQ(0, std::memcmp(&resp.bhs.b[8], kIsid, 6));
  EXPECT_EQ(resp.bhs.Get16(14), 0);  // TSIH only in the final response
  EXPECT_EQ(resp.bhs.itt(), 11u);
  EXPECT_EQ(StatusOf(resp), 0);
  EXPECT_EQ(resp.bhs.data_segment_length(), resp.data.size());
  auto a = Answer(resp);
  EXPECT_EQ(a["AuthMethod"], "None");
  EXPECT_EQ(a["TargetPortalGroupTag"], "1");
  EXPECT_EQ(a.count("TargetAlias"), 0u);  // no alias set
  EXPECT_EQ(a.count("InitiatorName"), 0u);  // declarative keys are not answered

  KeyValues op = With(Names(), {{"HeaderDigest", "CRC32C,None"},
                                {"DataDigest", "None"},
                                {"MaxRecvDataSegmentLength", "65536"},
                                {"MaxBurstLength", "524288"},
                                {"FirstBurstLength", "131072"}});
  ASSERT_EQ(login.Step(Request(Flags(true, false, 1, 3), op, 0, 12), &resp), LoginStep::kComplete);
  EXPECT_EQ(resp.bhs.b[1], Flags(true, false, 1, 3));
  EXPECT_EQ(resp.bhs.Get16(14), kNewTsih);
  EXPECT_EQ(resp.bhs.itt(), 12u);
  EXPECT_EQ(StatusOf(resp), 0);
  a = Answer(resp);
  EXPECT_EQ(a["HeaderDigest"], "CRC32C");
  EXPECT_EQ(a["DataDigest"], "None");
  EXPECT_EQ(a["MaxRecvDataSegmentLength"], "262144");  // ours, declared
  EXPECT_EQ(a["MaxBurstLength"], "524288");
  EXPECT_EQ(a["FirstBurstLength"], "131072");
  EXPECT_EQ(env.prepare_calls, 1);

  const SessionParams& sp = login.session_params();
  const ConnectionParams& cp = login.connection_params();
  EXPECT_EQ(sp.initiator_name, kInitiator);
  EXPECT_EQ(sp.initiator_alias, "host1");
  EXPECT_EQ(sp.target_name, kTargetName);
  EXPECT_FALSE(sp.discovery);
  EXPECT_EQ(sp.max_burst_length, 524288u);
  EXPECT_EQ(sp.first_burst_length, 131072u);
  EXPECT_TRUE(cp.header_digest);
  EXPECT_FALSE(cp.data_digest);
  EXPECT_EQ(cp.max_recv_data_segment, 262144u);
  EXPECT_EQ(cp.max_xmit_data_segment, 65536u);
  EXPECT_EQ(env.prepared_params.max_burst_length, 524288u);  // visible in PrepareSession
  EXPECT_EQ(login.isid(), 0x801234560001ull);
  EXPECT_EQ(login.tsih(), 0);
  EXPECT_EQ(login.cid(), 3);
  EXPECT_EQ(login.initial_cmd_sn(), 100u);
  EXPECT_EQ(login.exp_stat_sn(), 55u);
  EXPECT_EQ(login.target(), env.target);
  EXPECT_EQ(login.status(), LoginStatus::kSuccess);

  // The login is over: anything more is an error, never a crash.
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), op), &resp), LoginStep::kFailed);
}

TEST_F(LoginTest, TargetAliasSentWhenSet) {
  env.target->set_alias("fast disk");
  Pdu resp;
  ASSERT_EQ(OpLogin({}, &resp), LoginStep::kComplete);
  EXPECT_EQ(Answer(resp)["TargetAlias"], "fast disk");
  EXPECT_EQ(login.session_params().target_alias, "fast disk");
}

TEST_F(LoginTest, DefaultsApplyToKeysNotOffered) {
  Pdu resp;
  ASSERT_EQ(OpLogin({}, &resp), LoginStep::kComplete);
  auto a = Answer(resp);
  EXPECT_EQ(a["MaxRecvDataSegmentLength"], "262144");  // always declared
  EXPECT_EQ(a["TargetPortalGroupTag"], "1");
  const SessionParams& sp = login.session_params();
  EXPECT_TRUE(sp.initial_r2t);
  EXPECT_TRUE(sp.immediate_data);
  EXPECT_EQ(sp.max_burst_length, 262144u);
  EXPECT_EQ(sp.first_burst_length, 65536u);
  EXPECT_EQ(sp.max_connections, 1u);
  EXPECT_EQ(sp.default_time2wait, 2u);
  EXPECT_EQ(sp.default_time2retain, 20u);
  EXPECT_EQ(sp.max_outstanding_r2t, 1u);
  EXPECT_EQ(sp.error_recovery_level, 0u);
  EXPECT_EQ(login.connection_params().max_xmit_data_segment, 8192u);  // RFC default
  EXPECT_FALSE(login.connection_params().header_digest);
}

TEST_F(LoginTest, SkippingOperationalStageKeepsRfcDefaultSegmentLength) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 3), With(Names(), {{"AuthMethod", "None"}})),
                       &resp),
            LoginStep::kComplete);
  EXPECT_EQ(Answer(resp).count("MaxRecvDataSegmentLength"), 0u);
  // We never declared ours, so both directions stay at 8192 (RFC 7143 13.12).
  EXPECT_EQ(login.connection_params().max_recv_data_segment, 8192u);
  EXPECT_EQ(login.connection_params().max_xmit_data_segment, 8192u);
}

struct NegotiationCase {
  const char* key;
  const char* offer;
  const char* answer;  // nullptr: no answer expected
};
// Readable test names in gtest/ctest output ("HeaderDigest=CRC32C,None") instead of the
// default dump of the struct's bytes (which includes pointer values).
void PrintTo(const NegotiationCase& c, std::ostream* os) { *os << c.key << "=" << c.offer; }

class NegotiationTest : public LoginTest,
                        public ::testing::WithParamInterface<NegotiationCase> {};

TEST_P(NegotiationTest, AnswersPerRfc7143Section13) {
  const NegotiationCase& c = GetParam();
  Pdu resp;
  ASSERT_EQ(OpLogin({{c.key, c.offer}}, &resp), LoginStep::kComplete)
      << c.key << "=" << c.offer;
  auto a = Answer(resp);
  if (c.answer == nullptr) {
    EXPECT_EQ(a.count(c.key), 0u) << c.key;
  } else {
    EXPECT_EQ(a[c.key], c.answer) << c.key << "=" << c.offer;
  }
}

// Our limits are the TargetLimits defaults: MRDSL 262144, MaxBurst 1 MiB, FirstBurst
// 256 KiB, MaxOutstandingR2T 16, MaxConnections 4, ErrorRecoveryLevel 2, digests allowed, InitialR2T No
// preferred, ImmediateData Yes.
INSTANTIATE_TEST_SUITE_P(
    Keys, NegotiationTest,
    ::testing::Values(
        NegotiationCase{"HeaderDigest", "CRC32C,None", "CRC32C"},
        NegotiationCase{"HeaderDigest", "None,CRC32C", "None"},
        NegotiationCase{"HeaderDigest", "Foo,CRC32C", "CRC32C"},
        NegotiationCase{"HeaderDigest", "Foo", "Reject"},
        NegotiationCase{"DataDigest", "CRC32C", "CRC32C"},
        NegotiationCase{"DataDigest", "None", "None"},
        NegotiationCase{"MaxConnections", "8", "4"},
        NegotiationCase{"MaxConnections", "2", "2"},
        NegotiationCase{"MaxConnections", "0", "Reject"},
        NegotiationCase{"MaxConnections", "65536", "Reject"},
        NegotiationCase{"InitialR2T", "No", "No"},
        NegotiationCase{"InitialR2T", "Yes", "Yes"},
        NegotiationCase{"InitialR2T", "Maybe", "Reject"},
        NegotiationCase{"ImmediateData", "Yes", "Yes"},
        NegotiationCase{"ImmediateData", "No", "No"},
        NegotiationCase{"ImmediateData", "yes", "Reject"},
        NegotiationCase{"MaxRecvDataSegmentLength", "8192", "262144"},
        NegotiationCase{"MaxBurstLength", "16776192", "1048576"},
        NegotiationCase{"MaxBurstLength", "4096", "4096"},
        NegotiationCase{"MaxBurstLength", "511", "Reject"},
        NegotiationCase{"MaxBurstLength", "16777216", "Reject"},
        NegotiationCase{"MaxBurstLength", "0x1000", "4096"},
        NegotiationCase{"MaxBurstLength", "12ab", "Reject"},
        NegotiationCase{"MaxBurstLength", "", "Reject"},
        NegotiationCase{"MaxBurstLength", "99999999999999999999999", "Reject"},
        NegotiationCase{"FirstBurstLength", "65536", "65536"},
        NegotiationCase{"FirstBurstLength", "16777215", "262144"},
        NegotiationCase{"FirstBurstLength", "100", "Reject"},
        NegotiationCase{"DefaultTime2Wait", "0", "2"},
        NegotiationCase{"DefaultTime2Wait", "10", "10"},
        NegotiationCase{"DefaultTime2Wait", "3601", "Reject"},
        NegotiationCase{"DefaultTime2Retain", "0", "0"},
        NegotiationCase{"DefaultTime2Retain", "3600", "20"},
        NegotiationCase{"MaxOutstandingR2T", "1", "1"},
        NegotiationCase{"MaxOutstandingR2T", "64", "16"},
        NegotiationCase{"MaxOutstandingR2T", "0", "Reject"},
        NegotiationCase{"DataPDUInOrder", "No", "Yes"},
        NegotiationCase{"DataPDUInOrder", "Yes", "Yes"},
        NegotiationCase{"DataSequenceInOrder", "No", "Yes"},
        NegotiationCase{"DataSequenceInOrder", "X", "Reject"},
        NegotiationCase{"ErrorRecoveryLevel", "2", "2"},
        NegotiationCase{"ErrorRecoveryLevel", "1", "1"},
        NegotiationCase{"ErrorRecoveryLevel", "3", "Reject"},
        NegotiationCase{"IFMarker", "No", "No"},
        NegotiationCase{"OFMarker", "Yes", "No"},
        NegotiationCase{"OFMarkInt", "2048~8192", "Reject"},
        NegotiationCase{"IFMarkInt", "2048", "Reject"},
        NegotiationCase{"TaskReporting", "FastAbort,RFC3720", "RFC3720"},
        NegotiationCase{"TaskReporting", "FastAbort", "Reject"},
        NegotiationCase{"iSCSIProtocolLevel", "2", "1"},
        NegotiationCase{"SendTargets", "All", "Reject"},
        NegotiationCase{"X-com.example.Magic", "1", "NotUnderstood"},
        NegotiationCase{"FooBar", "1", "NotUnderstood"},
        NegotiationCase{"FooBar", "NotUnderstood", nullptr},
        NegotiationCase{"InitiatorAlias", "h", nullptr}),
    [](const ::testing::TestParamInfo<NegotiationCase>& i) {
      std::string name = std::to_string(i.index) + "_" + i.param.key;
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST_F(LoginTest, NegotiatedValuesReachSessionParams) {
  Pdu resp;
  ASSERT_EQ(OpLogin({{"InitialR2T", "No"},
                     {"ImmediateData", "No"},
                     {"MaxOutstandingR2T", "4"},
                     {"DefaultTime2Wait", "5"},
                     {"DefaultTime2Retain", "3"},
                     {"DataDigest", "CRC32C"}},
                    &resp),
            LoginStep::kComplete);
  const SessionParams& sp = login.session_params();
  EXPECT_FALSE(sp.initial_r2t);
  EXPECT_FALSE(sp.immediate_data);
  EXPECT_EQ(sp.max_outstanding_r2t, 4u);
  EXPECT_EQ(sp.default_time2wait, 5u);
  EXPECT_EQ(sp.default_time2retain, 3u);
  EXPECT_TRUE(login.connection_params().data_digest);
}

TEST_F(LoginTest, InitialR2TIsOrWithOurPreference) {
  env.lim.initial_r2t = true;
  Pdu resp;
  ASSERT_EQ(OpLogin({{"InitialR2T", "No"}}, &resp), LoginStep::kComplete);
  EXPECT_EQ(Answer(resp)["InitialR2T"], "Yes");
  EXPECT_TRUE(login.session_params().initial_r2t);
}

TEST_F(LoginTest, ImmediateDataIsAndWithOurPreference) {
  env.lim.immediate_data = false;
  Pdu resp;
  ASSERT_EQ(OpLogin({{"ImmediateData", "Yes"}}, &resp), LoginStep::kComplete);
  EXPECT_EQ(Answer(resp)["ImmediateData"], "No");
  EXPECT_FALSE(login.session_params().immediate_data);
}

TEST_F(LoginTest, DigestsNotAllowedFallBackToNone) {
  env.lim.allow_header_digest = false;
  Pdu resp;
  ASSERT_EQ(OpLogin({{"HeaderDigest", "CRC32C,None"}}, &resp), LoginStep::kComplete);
  EXPECT_EQ(Answer(resp)["HeaderDigest"], "None");
  EXPECT_FALSE(login.connection_params().header_digest);
}

TEST_F(LoginTest, FirstBurstNeverExceedsMaxBurstInSameText) {
  Pdu resp;
  ASSERT_EQ(OpLogin({{"FirstBurstLength", "262144"}, {"MaxBurstLength", "16384"}}, &resp),
            LoginStep::kComplete);
  auto a = Answer(resp);
  EXPECT_EQ(a["MaxBurstLength"], "16384");
  EXPECT_EQ(a["FirstBurstLength"], "16384");
  EXPECT_EQ(login.session_params().first_burst_length, 16384u);
}

TEST_F(LoginTest, FirstBurstClampedToMaxBurstNegotiatedLater) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 1, 0),
                               With(Names(), {{"FirstBurstLength", "65536"}})),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(resp.bhs.b[1], Flags(false, false, 1, 0));
  ASSERT_EQ(login.Step(Request(Flags(true, false, 1, 3), {{"MaxBurstLength", "8192"}}), &resp),
            LoginStep::kComplete);
  EXPECT_EQ(login.session_params().first_burst_length, 8192u);
  EXPECT_EQ(login.session_params().max_burst_length, 8192u);
}

TEST_F(LoginTest, InvalidMaxRecvDataSegmentLengthFailsLogin) {
  Pdu resp;
  EXPECT_EQ(OpLogin({{"MaxRecvDataSegmentLength", "511"}}, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
  Login l2(&env);
  EXPECT_EQ(l2.Step(Request(Flags(true, false, 1, 3),
                            With(Names(), {{"MaxRecvDataSegmentLength", "16777216"}})),
                    &resp),
            LoginStep::kFailed);
}

TEST_F(LoginTest, MaxRecvDataSegmentLengthBoundsAccepted) {
  Pdu resp;
  ASSERT_EQ(OpLogin({{"MaxRecvDataSegmentLength", "16777215"}}, &resp), LoginStep::kComplete);
  EXPECT_EQ(login.connection_params().max_xmit_data_segment, 16777215u);
}

TEST_F(LoginTest, MultiPduTextWithContinueBit) {
  KeyValues all = With(Names(), {{"HeaderDigest", "None"}, {"MaxBurstLength", "65536"}});
  std::vector<uint8_t> text;
  AppendKeyValues(all, &text);
  // Split in three pieces, cutting through the middle of keys and values.
  const size_t cut1 = 10, cut2 = text.size() - 7;
  Pdu p1 = Request(Flags(false, true, 1, 0), {});
  p1.data.assign(text.begin(), text.begin() + cut1);
  Pdu p2 = Request(Flags(false, true, 1, 0), {});
  p2.data.assign(text.begin() + cut1, text.begin() + cut2);
  Pdu p3 = Request(Flags(true, false, 1, 3), {});
  p3.data.assign(text.begin() + cut2, text.end());

  Pdu resp;
  ASSERT_EQ(login.Step(p1, &resp), LoginStep::kContinue);
  EXPECT_TRUE(resp.data.empty());
  EXPECT_EQ(resp.bhs.b[1], Flags(false, false, 1, 0));
  EXPECT_EQ(StatusOf(resp), 0);
  ASSERT_EQ(login.Step(p2, &resp), LoginStep::kContinue);
  EXPECT_TRUE(resp.data.empty());
  ASSERT_EQ(login.Step(p3, &resp), LoginStep::kComplete);
  auto a = Answer(resp);
  EXPECT_EQ(a["HeaderDigest"], "None");
  EXPECT_EQ(a["MaxBurstLength"], "65536");
  EXPECT_EQ(login.session_params().initiator_name, kInitiator);
}

TEST_F(LoginTest, MissingInitiatorNameIsDetectedAfterWholeContinuedText) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, true, 1, 0), {{"TargetName", kTargetName}}), &resp),
            LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), {{"SessionType", "Normal"}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0207);
}

TEST_F(LoginTest, TooManyContinuationPdusFails) {
  Pdu resp;
  for (size_t i = 0; i < kMaxLoginTextPdus; ++i) {
    ASSERT_EQ(login.Step(Request(Flags(false, true, 1, 0), {{"X-a" + std::to_string(i), "1"}}),
                         &resp),
              LoginStep::kContinue);
  }
  EXPECT_EQ(login.Step(Request(Flags(false, true, 1, 0), {{"X-last", "1"}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp) >> 8, 2);
}

TEST_F(LoginTest, DataSegmentOver8192Fails) {
  Pdu req = Request(Flags(true, false, 1, 3), Names());
  req.data.resize(8193, 'a');
  Pdu resp;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
  EXPECT_TRUE(resp.data.empty());
}

TEST_F(LoginTest, LongAnswerIsSentInContinuedResponses) {
  // Many unknown keys, each answered NotUnderstood, make an answer longer than 8192 bytes.
  Pdu resp;
  KeyValues first = Names();
  int n = 0;
  for (int pdu = 0; pdu < 4; ++pdu) {
    KeyValues kvs = pdu == 0 ? first : KeyValues{};
    std::vector<uint8_t> probe;
    while (true) {
      KeyValues one = {{"X-" + std::string(50, 'k') + std::to_string(n), "1"}};
      probe.clear();
      AppendKeyValues(kvs, &probe);
      AppendKeyValues(one, &probe);
      if (probe.size() > kLoginMaxDataSegment) break;
      kvs.push_back(one[0]);
      ++n;
    }
    const bool last = pdu == 3;
    ASSERT_EQ(login.Step(Request(Flags(last, !last, 1, last ? 3 : 0), kvs), &resp),
              LoginStep::kContinue);
  }
  // The first part of the answer, with C=1 and T=0.
  size_t total = resp.data.size();
  EXPECT_EQ(resp.data.size(), kLoginMaxDataSegment);
  EXPECT_EQ(resp.bhs.b[1], Flags(false, true, 1, 0));
  EXPECT_EQ(env.prepare_calls, 1);
  std::vector<uint8_t> answer = resp.data;
  LoginStep step = LoginStep::kContinue;
  int rounds = 0;
  while (step == LoginStep::kContinue && rounds++ < 20) {
    step = login.Step(Request(Flags(true, false, 1, 3), {}), &resp);
    ASSERT_NE(step, LoginStep::kFailed);
    answer.insert(answer.end(), resp.data.begin(), resp.data.end());
    total += resp.data.size();
  }
  EXPECT_EQ(step, LoginStep::kComplete);
  EXPECT_EQ(resp.bhs.b[1], Flags(true, false, 1, 3));
  EXPECT_EQ(resp.bhs.Get16(14), kNewTsih);
  auto r = ParseKeyValues(answer.data(), answer.size());
  ASSERT_TRUE(r.ok());
  int not_understood = 0;
  for (auto& [k, v] : *r) not_understood += v == "NotUnderstood";
  EXPECT_EQ(not_understood, n);
  EXPECT_GT(total, 3 * kLoginMaxDataSegment);
}

TEST_F(LoginTest, UnknownTargetIsNotFound) {
  Pdu resp;
  KeyValues kvs = {{"InitiatorName", kInitiator}, {"TargetName", "iqn.2024-01.org.none:x"}};
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), kvs), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0203);
  EXPECT_EQ(login.status(), LoginStatus::kNotFound);
  EXPECT_EQ(resp.bhs.b[1] & 0xc0, 0);  // T and C clear on failure
  EXPECT_TRUE(resp.data.empty());
  EXPECT_EQ(resp.bhs.itt(), 7u);
}

TEST_F(LoginTest, AclRefusalIsAuthorizationFailure) {
  ASSERT_TRUE(env.target->BindName("iqn.2024-01.org.example:other").ok());
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0202);
}

TEST_F(LoginTest, AclAdmitsBoundName) {
  ASSERT_TRUE(env.target->BindName(kInitiator).ok());
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
}

TEST_F(LoginTest, AclAddressMismatchIsAuthorizationFailure) {
  auto t = std::make_shared<core::Target>(2, kTargetName);
  ASSERT_TRUE(t->BindAddress("10.0.0.0/8").ok());
  env.target = t;
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0202);
}

TEST_F(LoginTest, MissingInitiatorNameIsMissingParameter) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), {{"TargetName", kTargetName}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0207);
}

TEST_F(LoginTest, MissingTargetNameInNormalSessionIsMissingParameter) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), {{"InitiatorName", kInitiator}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0207);
}

TEST_F(LoginTest, ChapOnlyInitiatorGetsAuthenticationFailure) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(false, false, 0, 0), With(Names(), {{"AuthMethod", "CHAP"}})),
                       &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
}

TEST_F(LoginTest, UnsupportedSessionType) {
  Pdu resp;
  KeyValues kvs = {{"InitiatorName", kInitiator}, {"SessionType", "Weird"}};
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), kvs), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0209);
}

TEST_F(LoginTest, UnsupportedVersion) {
  Pdu req = Request(Flags(true, false, 0, 1), Names());
  req.bhs.b[2] = 2;
  req.bhs.b[3] = 1;  // Version-min 1: we only speak 0
  Pdu resp;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0205);
  EXPECT_EQ(resp.bhs.b[2], 0);
  EXPECT_EQ(resp.bhs.b[3], 0);
}

TEST_F(LoginTest, VersionMaxAboveZeroIsFine) {
  Pdu req = Request(Flags(true, false, 1, 3), Names());
  req.bhs.b[2] = 5;  // Version-max 5, Version-min 0
  Pdu resp;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kComplete);
  EXPECT_EQ(resp.bhs.b[3], 0);  // Version-active
}

TEST_F(LoginTest, DiscoverySession) {
  Pdu resp;
  KeyValues kvs = {{"InitiatorName", kInitiator}, {"SessionType", "Discovery"},
                   {"AuthMethod", "None"}};
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), kvs), &resp), LoginStep::kContinue);
  auto a = Answer(resp);
  EXPECT_EQ(a["AuthMethod"], "None");
  EXPECT_EQ(a.count("TargetPortalGroupTag"), 0u);
  ASSERT_EQ(login.Step(Request(Flags(true, false, 1, 3),
                               {{"SessionType", "Discovery"},
                                {"MaxRecvDataSegmentLength", "32768"}}),
                       &resp),
            LoginStep::kComplete);
  EXPECT_TRUE(login.session_params().discovery);
  EXPECT_EQ(login.target(), nullptr);
  EXPECT_EQ(login.connection_params().max_xmit_data_segment, 32768u);
  EXPECT_EQ(resp.bhs.Get16(14), kNewTsih);
}

TEST_F(LoginTest, DiscoveryIgnoresAclsAndTargetName) {
  ASSERT_TRUE(env.target->BindName("iqn.2024-01.org.example:other").ok());
  Pdu resp;
  KeyValues kvs = {{"InitiatorName", kInitiator}, {"SessionType", "Discovery"},
                   {"TargetName", "iqn.2024-01.org.none:x"}};
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), kvs), &resp), LoginStep::kComplete);
}

TEST_F(LoginTest, SessionTypeChangeIsAnError) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), {{"SessionType", "Discovery"}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, RepeatedSameNamesAcrossStagesAreAccepted) {
  // libiscsi sends the names again in the operational stage.
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), Names()), &resp), LoginStep::kComplete);
}

TEST_F(LoginTest, PrepareSessionFailureIsReported) {
  env.prepare_status = LoginStatus::kSessionDoesNotExist;
  Pdu resp;
  EXPECT_EQ(OpLogin({}, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x020a);
  EXPECT_EQ(env.prepare_calls, 1);
}

TEST_F(LoginTest, PrepareSessionNotCalledBeforeFullFeature) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
  ASSERT_EQ(login.Step(Request(Flags(false, false, 1, 0), {{"HeaderDigest", "None"}}), &resp),
            LoginStep::kContinue);
  EXPECT_EQ(env.prepare_calls, 0);
  EXPECT_EQ(resp.bhs.b[1], Flags(false, false, 1, 0));
  EXPECT_EQ(Answer(resp)["MaxRecvDataSegmentLength"], "262144");
  ASSERT_EQ(login.Step(Request(Flags(true, false, 1, 3), {}), &resp), LoginStep::kComplete);
  EXPECT_EQ(Answer(resp).count("MaxRecvDataSegmentLength"), 0u);  // declared once
  EXPECT_EQ(env.prepare_calls, 1);
}

// ---- malformed logins: the right status class, never a crash ----

TEST_F(LoginTest, WrongOpcodeFails) {
  Pdu req = Request(Flags(true, false, 0, 1), Names());
  req.bhs.b[0] = 0x01;  // SCSI Command
  Pdu resp;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
  EXPECT_EQ(resp.bhs.opcode(), Opcode::kLoginResponse);
}

TEST_F(LoginTest, TransitAndContinueTogetherFail) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, true, 0, 1), Names()), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, InvalidStageTransitionsFail) {
  struct {
    uint8_t flags;
  } cases[] = {
      {Flags(true, false, 0, 0)},   // NSG not after CSG
      {Flags(true, false, 1, 1)},   // NSG == CSG
      {Flags(true, false, 1, 0)},   // backwards
      {Flags(true, false, 0, 2)},   // reserved NSG
      {Flags(false, false, 3, 0)},  // CSG = FullFeaturePhase
      {Flags(false, false, 2, 0)},  // reserved CSG
  };
  for (const auto& c : cases) {
    Login l(&env);
    Pdu resp;
    EXPECT_EQ(l.Step(Request(c.flags, Names()), &resp), LoginStep::kFailed) << int{c.flags};
    EXPECT_EQ(StatusOf(resp) >> 8, 2);
  }
}

TEST_F(LoginTest, GoingBackToSecurityStageFails) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(false, false, 0, 0), {}), &resp), LoginStep::kFailed);
}

TEST_F(LoginTest, EnteringOperationalStageWithoutTransitFails) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), Names()), &resp), LoginStep::kContinue);
  EXPECT_EQ(resp.bhs.b[1], Flags(false, false, 0, 0));
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), {}), &resp), LoginStep::kFailed);
}

TEST_F(LoginTest, RepeatedKeyInOneTextFails) {
  Pdu resp;
  EXPECT_EQ(OpLogin({{"MaxBurstLength", "4096"}, {"MaxBurstLength", "8192"}}, &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, RenegotiatingAKeyFails) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 1, 0), With(Names(), {{"ImmediateData", "Yes"}})),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), {{"ImmediateData", "No"}}), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, OperationalKeyInSecurityStageFails) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), With(Names(), {{"MaxBurstLength", "4096"}})),
                       &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, SecurityKeyInOperationalStageFails) {
  Pdu resp;
  EXPECT_EQ(OpLogin({{"AuthMethod", "None"}}, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, ChapKeysWithoutChapFail) {
  Pdu resp;
  EXPECT_EQ(login.Step(Request(Flags(false, false, 0, 0), With(Names(), {{"CHAP_A", "5"}})), &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp) >> 8, 2);
}

TEST_F(LoginTest, TargetOnlyKeyFromInitiatorFails) {
  Pdu resp;
  EXPECT_EQ(OpLogin({{"TargetPortalGroupTag", "1"}}, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, MalformedTextFails) {
  Pdu req = Request(Flags(true, false, 1, 3), Names());
  const char junk[] = "NoEqualsSign";
  req.data.insert(req.data.end(), junk, junk + sizeof(junk));
  Pdu resp;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, IsidChangeFails) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kContinue);
  Pdu req = Request(Flags(true, false, 1, 3), {});
  req.bhs.b[13] ^= 1;
  EXPECT_EQ(login.Step(req, &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0200);
}

TEST_F(LoginTest, EndlessLoginIsCut) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 1, 0), Names()), &resp), LoginStep::kContinue);
  LoginStep step = LoginStep::kContinue;
  size_t i = 1;
  for (; i < 1000 && step == LoginStep::kContinue; ++i) {
    step = login.Step(Request(Flags(false, false, 1, 0), {}), &resp);
  }
  EXPECT_EQ(step, LoginStep::kFailed);
  EXPECT_EQ(i, kMaxLoginRequests + 1);
}

// ---- non-leading connection and the authentication seam ----

TEST_F(LoginTest, LeadingOnlyKeysAreIrrelevantOnNonLeadingLogin) {
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 1, 3),
                               With(Names(), {{"MaxBurstLength", "4096"},
                                              {"HeaderDigest", "CRC32C"}}),
                               /*tsih=*/0x55),
                       &resp),
            LoginStep::kComplete);
  auto a = Answer(resp);
  EXPECT_EQ(a["MaxBurstLength"], "Irrelevant");
  EXPECT_EQ(a["HeaderDigest"], "CRC32C");  // connection-only keys still negotiate
  EXPECT_EQ(login.tsih(), 0x55);
}

TEST_F(LoginTest, AuthenticatorSeamRunsUntilDone) {
  env.chap_enabled = true;
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), With(Names(), {{"AuthMethod", "CHAP,None"}})),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(Answer(resp)["AuthMethod"], "CHAP");
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), {{"CHAP_A", "5"}}), &resp),
            LoginStep::kContinue);
  EXPECT_EQ(Answer(resp)["CHAP_C"], "0x0102");
  // T=1 is honoured only once the exchange is done.
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), {{"CHAP_N", "u"}, {"CHAP_R", "good"}}),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(resp.bhs.b[1], Flags(true, false, 0, 1));
  EXPECT_EQ(login.Step(Request(Flags(true, false, 1, 3), {}), &resp), LoginStep::kComplete);
}

TEST_F(LoginTest, ChapKeysWithTheAuthMethodOfferAreOutOfOrder) {
  env.chap_enabled = true;
  Pdu resp;
  // The initiator cannot know the target picks CHAP before it answers the offer.
  EXPECT_EQ(login.Step(Request(Flags(false, false, 0, 0),
                               With(Names(), {{"AuthMethod", "CHAP"}, {"CHAP_A", "5"}})),
                       &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
}

TEST_F(LoginTest, NoneChosenThenRequiredBeforeTransitFails) {
  // AuthMethod=None was accepted, then an account got bound before the initiator left the
  // security stage: the transit is refused.
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), With(Names(), {{"AuthMethod", "None"}})),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(Answer(resp)["AuthMethod"], "None");
  env.auth_required = true;
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), {}), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
}

TEST_F(LoginTest, AuthenticatorFailureEndsLogin) {
  env.chap_enabled = true;
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), With(Names(), {{"AuthMethod", "CHAP"}})),
                       &resp),
            LoginStep::kContinue);
  ASSERT_EQ(login.Step(Request(Flags(false, false, 0, 0), {{"CHAP_A", "5"}}), &resp),
            LoginStep::kContinue);
  EXPECT_EQ(login.Step(Request(Flags(true, false, 0, 1), {{"CHAP_N", "u"}, {"CHAP_R", "bad"}}),
                       &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
}

TEST_F(LoginTest, TransitBeforeAuthenticationDoneStaysInSecurityStage) {
  env.chap_enabled = true;
  env.auth_required = true;
  Pdu resp;
  ASSERT_EQ(login.Step(Request(Flags(true, false, 0, 1), With(Names(), {{"AuthMethod", "CHAP,None"}})),
                       &resp),
            LoginStep::kContinue);
  EXPECT_EQ(resp.bhs.b[1], Flags(false, false, 0, 0));  // T=0: not yet
  EXPECT_EQ(Answer(resp)["AuthMethod"], "CHAP");
}

TEST_F(LoginTest, RequiredAuthenticationCannotBeSkipped) {
  env.auth_required = true;
  Pdu resp;
  EXPECT_EQ(OpLogin({}, &resp), LoginStep::kFailed);  // starts at CSG=1
  EXPECT_EQ(StatusOf(resp), 0x0201);
  Login l2(&env);
  EXPECT_EQ(l2.Step(Request(Flags(true, false, 0, 1), With(Names(), {{"AuthMethod", "None"}})),
                    &resp),
            LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
  Login l3(&env);
  EXPECT_EQ(l3.Step(Request(Flags(true, false, 0, 1), Names()), &resp), LoginStep::kFailed);
  EXPECT_EQ(StatusOf(resp), 0x0201);
}

}  // namespace
}  // namespace modtgt::iscsi
