// SPDX-License-Identifier: Apache-2.0
// CHAP (src/iscsi/chap.cc): known-answer vectors for each algorithm, the exchange one-way
// and mutual, and every refusal.
#include "iscsi/chap.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/accounts.h"
#include "iscsi/params.h"

namespace modtgt::iscsi {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string Hex(const std::vector<uint8_t>& v) { return EncodeHex(v.data(), v.size()).substr(2); }

std::string Response(ChapAlgorithm alg, uint8_t id, const std::string& secret,
                     const std::vector<uint8_t>& challenge) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(ChapResponse(alg, id, secret, challenge, &out));
  return Hex(out);
}

// RFC 1994 4.1: the response is H(Identifier || secret || Challenge), so CHAP with id 'a',
// secret "b" and challenge "c" is H("abc"): the published test vectors of each hash apply.
TEST(ChapHash, KnownAnswersAbc) {
  const auto c = Bytes("c");
  // RFC 1321 A.5
  EXPECT_EQ(Response(ChapAlgorithm::kMd5, 'a', "b", c), "900150983cd24fb0d6963f7d28e17f72");
  // FIPS 180-2 Appendix A.1 / B.1
  EXPECT_EQ(Response(ChapAlgorithm::kSha1, 'a', "b", c),
            "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Response(ChapAlgorithm::kSha256, 'a', "b", c),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // FIPS 202 (SHA3-256 of "abc", NIST example values)
  EXPECT_EQ(Response(ChapAlgorithm::kSha3_256, 'a', "b", c),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
}

TEST(ChapHash, KnownAnswersLongerMessages) {
  // RFC 1321 A.5: MD5("message digest"), split as id 'm', secret "essage dig", challenge.
  EXPECT_EQ(Response(ChapAlgorithm::kMd5, 'm', "essage dig", Bytes("est")),
            "f96b697d7cb7938d525a2f31aaf161d0");
  // FIPS 180-2 A.2 / B.2 and the SHA3-256 448-bit example:
  // "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".
  const std::string secret = "bcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomno";
  const auto c = Bytes("pnopq");
  EXPECT_EQ(Response(ChapAlgorithm::kSha1, 'a', secret, c),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(Response(ChapAlgorithm::kSha256, 'a', secret, c),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Response(ChapAlgorithm::kSha3_256, 'a', secret, c),
            "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376");
}

// A CHAP-shaped vector (binary challenge) computed independently with Python's hashlib:
// H(bytes([0x2a]) + b"correct-horse-battery" + bytes(range(0x10, 0x30))).
TEST(ChapHash, IndependentImplementationVectors) {
  std::vector<uint8_t> challenge;
  for (int i = 0x10; i < 0x30; i++) challenge.push_back(static_cast<uint8_t>(i));
  const std::string secret = "correct-horse-battery";
  EXPECT_EQ(Response(ChapAlgorithm::kMd5, 0x2a, secret, challenge),
            "985b117590874df23359fe47dd4c5c43");
  EXPECT_EQ(Response(ChapAlgorithm::kSha1, 0x2a, secret, challenge),
            "bb342fb4734f0c7d41031ed89c7289fd0378710e");
  EXPECT_EQ(Response(ChapAlgorithm::kSha256, 0x2a, secret, challenge),
            "82e9268e8656efa02e05d778c92f4a877e6511ddaad9d2a1fa34e5078c24d134");
  EXPECT_EQ(Response(ChapAlgorithm::kSha3_256, 0x2a, secret, challenge),
            "22470807bf65b4c7a2c4c6ef855e13d3de91d6e484ad3997f9b9288c2de74a92");
}

TEST(ChapHash, DigestLengthsAndNames) {
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kMd5), 16u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha1), 20u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha256), 32u);
  EXPECT_EQ(ChapDigestLength(ChapAlgorithm::kSha3_256), 32u);
  EXPECT_STREQ(ChapAlgorithmName(ChapAlgorithm::kSha3_256), "SHA3-256");
  ChapAlgorithm a;
  EXPECT_FALSE(ChapAlgorithmFromNumber(4, &a));
  EXPECT_FALSE(ChapAlgorithmFromNumber(9, &a));
  ASSERT_TRUE(ChapAlgorithmFromNumber(7, &a));
  EXPECT_EQ(a, ChapAlgorithm::kSha256);
}

TEST(ChapRandom, SystemRandomGivesDifferentChallenges) {
  RandomSource r = SystemRandom();
  std::vector<uint8_t> a(32), b(32);
  ASSERT_TRUE(r(a.data(), a.size()));
  ASSERT_TRUE(r(b.data(), b.size()));
  EXPECT_NE(a, b);
}

// ---- The exchange ----

constexpr char kUser[] = "alice";
constexpr char kSecret[] = "alice-secret-123";
constexpr char kTargetUser[] = "target1";
constexpr char kTargetSecret[] = "target-secret-456";

// Deterministic "random" bytes: 0x40, 0x41, ... so the challenge is known.
RandomSource CountingRandom() {
  auto next = std::make_shared<uint8_t>(0x40);
  return [next](uint8_t* buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = (*next)++;
    return true;
  };
}

class ChapExchange : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(accounts_.Add(kUser, kSecret).ok());
    ASSERT_TRUE(accounts_.Add("bob", "bob-secret-7890").ok());
    ASSERT_TRUE(accounts_.Add(kTargetUser, kTargetSecret).ok());
  }
  std::unique_ptr<ChapAuthenticator> Make(bool outgoing = true) {
    return std::make_unique<ChapAuthenticator>(&accounts_, std::vector<std::string>{kUser},
                                               outgoing ? kTargetUser : "", CountingRandom());
  }
  // Round one; fills the target's algorithm, identifier and challenge.
  void Algorithm(ChapAuthenticator* a, const std::string& offer, ChapAlgorithm* alg, uint8_t* id,
                 std::vector<uint8_t>* challenge) {
    KeyValues out;
    ASSERT_EQ(a->Step({{"CHAP_A", offer}}, &out), LoginStatus::kSuccess) << a->FailureReason();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].first, "CHAP_A");
    uint64_t n = 0;
    ASSERT_TRUE(ParseNumber(out[0].second, &n));
    ASSERT_TRUE(ChapAlgorithmFromNumber(n, alg));
    EXPECT_EQ(out[1].first, "CHAP_I");
    ASSERT_TRUE(ParseNumber(out[1].second, &n));
    ASSERT_LE(n, 255u);
    *id = static_cast<uint8_t>(n);
    EXPECT_EQ(out[2].first, "CHAP_C");
    ASSERT_TRUE(DecodeBinaryValue(out[2].second, kMaxChapBinary, challenge));
    EXPECT_EQ(challenge->size(), kChapChallengeLength);
    EXPECT_FALSE(a->done());
  }
  // An authenticator past round one (offer `offer`): what the target answered.
  struct Started {
    std::unique_ptr<ChapAuthenticator> a;
    ChapAlgorithm alg = ChapAlgorithm::kMd5;
    uint8_t id = 0;
    std::vector<uint8_t> c;
  };
  Started Start(const std::string& offer, bool outgoing = true) {
    Started s;
    s.a = Make(outgoing);
    Algorithm(s.a.get(), offer, &s.alg, &s.id, &s.c);
    return s;
  }
  std::string Answer(const Started& s, const std::string& secret = kSecret) {
    return Answer(s.alg, s.id, s.c, secret);
  }
  std::string Answer(ChapAlgorithm alg, uint8_t id, const std::vector<uint8_t>& challenge,
                     const std::string& secret = kSecret) {
    return "0x" + Response(alg, id, secret, challenge);
  }
  // The reason of a refusal names no secret.
  void ExpectRefused(ChapAuthenticator* a, const KeyValues& keys, const char* words) {
    KeyValues out;
    EXPECT_EQ(a->Step(keys, &out), LoginStatus::kAuthenticationFailure);
    EXPECT_FALSE(a->done());
    const std::string why = a->FailureReason();
    EXPECT_NE(why.find(words), std::string::npos) << why;
    EXPECT_EQ(why.find(kSecret), std::string::npos) << why;
    EXPECT_EQ(why.find(kTargetSecret), std::string::npos) << why;
    // Once failed, it stays failed.
    EXPECT_EQ(a->Step({{"CHAP_A", "5"}}, &out), LoginStatus::kAuthenticationFailure);
  }

  core::AccountRegistry accounts_;
};

TEST_F(ChapExchange, OneWayEachAlgorithm) {
  for (auto want : {ChapAlgorithm::kMd5, ChapAlgorithm::kSha1, ChapAlgorithm::kSha256,
                    ChapAlgorithm::kSha3_256}) {
    Started s = Start(std::to_string(static_cast<int>(want)));
    ASSERT_EQ(s.alg, want);
    KeyValues out;
    ASSERT_EQ(s.a->Step({{"CHAP_N", kUser}, {"CHAP_R", Answer(s)}}, &out), LoginStatus::kSuccess)
        << s.a->FailureReason();
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(s.a->done());
    EXPECT_EQ(s.a->user(), kUser);
    EXPECT_FALSE(s.a->mutual());
    EXPECT_NE(s.a->Summary().find(ChapAlgorithmName(want)), std::string::npos);
  }
}

TEST_F(ChapExchange, InitiatorPreferenceOrderWins) {
  struct Case {
    const char* offer;
    ChapAlgorithm want;
  } cases[] = {{"7,5", ChapAlgorithm::kSha256},
               {"5,7", ChapAlgorithm::kMd5},
               {"99,6,5", ChapAlgorithm::kSha1},
               {"x,0x8,5", ChapAlgorithm::kSha3_256},
               {"8,7,6,5", ChapAlgorithm::kSha3_256}};
  for (const Case& k : cases) EXPECT_EQ(Start(k.offer).alg, k.want) << k.offer;
}

TEST_F(ChapExchange, NoAlgorithmInCommonFails) {
  auto a = Make();
  ExpectRefused(a.get(), {{"CHAP_A", "1,2,3,None"}}, "no algorithm in common");
}

TEST_F(ChapExchange, MutualEachAlgorithm) {
  std::vector<uint8_t> ichallenge;
  for (int i = 0; i < 32; i++) ichallenge.push_back(static_cast<uint8_t>(0xa0 + i));
  for (auto want : {ChapAlgorithm::kMd5, ChapAlgorithm::kSha1, ChapAlgorithm::kSha256,
                    ChapAlgorithm::kSha3_256}) {
    Started s = Start(std::to_string(static_cast<int>(want)));
    KeyValues out;
    ASSERT_EQ(s.a->Step({{"CHAP_N", kUser},
                         {"CHAP_R", Answer(s)},
                         {"CHAP_I", "77"},
                         {"CHAP_C", EncodeHex(ichallenge.data(), ichallenge.size())}},
                        &out),
              LoginStatus::kSuccess)
        << s.a->FailureReason();
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], (std::pair<std::string, std::string>{"CHAP_N", kTargetUser}));
    EXPECT_EQ(out[1].first, "CHAP_R");
    EXPECT_EQ(out[1].second, Answer(s.alg, 77, ichallenge, kTargetSecret));
    EXPECT_TRUE(s.a->done());
    EXPECT_TRUE(s.a->mutual());
  }
}

// Python: hashlib.sha256(bytes([0x05]) + b"target-secret-456" + bytes(range(16))).hexdigest()
TEST_F(ChapExchange, MutualAnswerMatchesIndependentVector) {
  Started s = Start("7");
  KeyValues out;
  ASSERT_EQ(s.a->Step({{"CHAP_N", kUser},
                       {"CHAP_R", Answer(s)},
                       {"CHAP_I", "0x05"},
                       {"CHAP_C", "0bAAECAwQFBgcICQoLDA0ODw=="}},
                      &out),
            LoginStatus::kSuccess)
      << s.a->FailureReason();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].second, "0x10f2d33fc4af39d73dd3ed80594f3eea502a6ae1131d5897d6f1832dcb0ed977");
}

TEST_F(ChapExchange, Base64AndUppercaseHexResponsesAccepted) {
  Started s = Start("5");
  std::vector<uint8_t> r;
  ASSERT_TRUE(ChapResponse(s.alg, s.id, kSecret, s.c, &r));
  // The 16 bytes in base64 (RFC 4648 section 4), encoded here so the test does not lean
  // on the decoder it checks.
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64 = "0b";
  for (size_t i = 0; i < r.size(); i += 3) {
    uint32_t v =
        r[i] << 16 | (i + 1 < r.size() ? r[i + 1] << 8 : 0) | (i + 2 < r.size() ? r[i + 2] : 0);
    b64 += kB64[v >> 18 & 63];
    b64 += kB64[v >> 12 & 63];
    b64 += i + 1 < r.size() ? kB64[v >> 6 & 63] : '=';
    b64 += i + 2 < r.size() ? kB64[v & 63] : '=';
  }
  KeyValues out;
  ASSERT_EQ(s.a->Step({{"CHAP_N", kUser}, {"CHAP_R", b64}}, &out), LoginStatus::kSuccess)
      << b64 << ": " << s.a->FailureReason();
  EXPECT_TRUE(s.a->done());

  Started u = Start("5");
  std::string upper = "0X" + Response(u.alg, u.id, kSecret, u.c);
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  ASSERT_EQ(u.a->Step({{"CHAP_N", kUser}, {"CHAP_R", upper}}, &out), LoginStatus::kSuccess)
      << u.a->FailureReason();
}

TEST_F(ChapExchange, WrongSecretFails) {
  Started s = Start("5");
  const std::string r = Answer(s, "not-the-secret!");
  ExpectRefused(s.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", r}}, "wrong response");
  EXPECT_EQ(s.a->FailureReason().find(r.substr(2)), std::string::npos) << "response logged";
}

TEST_F(ChapExchange, ResponseToAnotherChallengeFails) {
  Started s = Start("5");
  s.c[0] ^= 1;
  ExpectRefused(s.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", Answer(s)}}, "wrong response");
  Started t = Start("5");
  t.id++;
  ExpectRefused(t.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", Answer(t)}}, "wrong response");
}

TEST_F(ChapExchange, WrongLengthResponseFails) {
  Started s = Start("7");
  // An MD5-sized answer to a SHA-256 exchange.
  ExpectRefused(s.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", "0x" + std::string(32, 'a')}},
                "CHAP_R of 16 bytes");
  Started t = Start("5");
  ExpectRefused(t.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", Answer(t) + "00"}},
                "CHAP_R of 17 bytes");
}

TEST_F(ChapExchange, MalformedResponseFails) {
  for (const char* bad : {"", "0x", "0xzz", "abcdef", "0b!!!!", "0y00", "0b====="}) {
    Started s = Start("5");
    ExpectRefused(s.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", bad}}, "not a hex");
  }
}

TEST_F(ChapExchange, UserNotBoundOrTooLongFails) {
  Started s = Start("5");
  // bob has an account but is not bound to this target; his own secret does not help.
  ExpectRefused(s.a.get(), {{"CHAP_N", "bob"}, {"CHAP_R", Answer(s, "bob-secret-7890")}},
                "not bound");
  Started t = Start("5");
  ExpectRefused(t.a.get(), {{"CHAP_N", std::string(256, 'u')}, {"CHAP_R", Answer(t)}},
                "CHAP_N of 256 bytes");
  Started u = Start("5");
  ExpectRefused(u.a.get(), {{"CHAP_N", ""}, {"CHAP_R", Answer(u)}}, "CHAP_N of 0 bytes");
}

TEST_F(ChapExchange, AccountRemovedDuringLoginFails) {
  Started s = Start("5");
  ASSERT_TRUE(accounts_.Remove(kUser, /*force=*/true).ok());
  ExpectRefused(s.a.get(), {{"CHAP_N", kUser}, {"CHAP_R", Answer(s)}}, "no account");
}

TEST_F(ChapExchange, KeysOutOfOrderFail) {
  ExpectRefused(Make().get(), {{"CHAP_N", kUser}, {"CHAP_R", "0x00"}}, "before CHAP_A");
  ExpectRefused(Make().get(), {{"CHAP_A", "5"}, {"CHAP_C", "0x00"}}, "before CHAP_A");
  // CHAP_A again where the response is due; CHAP_R or CHAP_N alone.
  ExpectRefused(Start("5").a.get(), {{"CHAP_A", "5"}}, "out of order");
  Started s = Start("5");
  ExpectRefused(s.a.get(), {{"CHAP_R", Answer(s)}}, "no CHAP_N");
  ExpectRefused(Start("5").a.get(), {{"CHAP_N", kUser}}, "no CHAP_R");
  // A key after the exchange ended.
  Started t = Start("5");
  KeyValues out;
  ASSERT_EQ(t.a->Step({{"CHAP_N", kUser}, {"CHAP_R", Answer(t)}}, &out), LoginStatus::kSuccess);
  EXPECT_EQ(t.a->Step({{"CHAP_N", kUser}}, &out), LoginStatus::kAuthenticationFailure);
  EXPECT_FALSE(t.a->done());
}

class ChapMutual : public ChapExchange {
 protected:
  void Refused(bool outgoing, const std::string& id, const std::string& challenge,
               const char* words) {
    Started s = Start("5", outgoing);
    KeyValues keys = {{"CHAP_N", kUser}, {"CHAP_R", Answer(s)}};
    if (!id.empty()) keys.emplace_back("CHAP_I", id);
    if (challenge == "REFLECT") {
      keys.emplace_back("CHAP_C", EncodeHex(s.c.data(), s.c.size()));
    } else if (!challenge.empty()) {
      keys.emplace_back("CHAP_C", challenge);
    }
    ExpectRefused(s.a.get(), keys, words);
  }
};

TEST_F(ChapMutual, ReflectedChallengeRefused) {
  Refused(true, "1", "REFLECT", "our own challenge");
}

TEST_F(ChapMutual, NoOutgoingAccountRefused) {
  Refused(false, "1", "0x" + std::string(32, '1'), "no outgoing account");
}

TEST_F(ChapMutual, ChallengeLengthLimits) {
  Refused(true, "1", "0x" + std::string(30, '1'), "CHAP_C of 15 bytes");
  Refused(true, "1", "0x" + std::string(2050, '1'), "not a hex");
  Refused(true, "1", "0xnothex", "not a hex");
}

TEST_F(ChapMutual, IdentifierMustBeAByte) {
  Refused(true, "256", "0x" + std::string(32, '1'), "CHAP_I");
  Refused(true, "-1", "0x" + std::string(32, '1'), "CHAP_I");
  Refused(true, "x", "0x" + std::string(32, '1'), "CHAP_I");
}

TEST_F(ChapMutual, HalfAMutualRequestRefused) {
  Refused(true, "1", "", "CHAP_I without CHAP_C");
  Refused(true, "", "0x" + std::string(32, '1'), "CHAP_C without CHAP_I");
}

TEST_F(ChapMutual, SameSecretBothWaysRefused) {
  ASSERT_TRUE(accounts_.Add("twin", kSecret).ok());
  Started s;
  s.a = std::make_unique<ChapAuthenticator>(&accounts_, std::vector<std::string>{kUser}, "twin",
                                            CountingRandom());
  Algorithm(s.a.get(), "5", &s.alg, &s.id, &s.c);
  ExpectRefused(s.a.get(),
                {{"CHAP_N", kUser},
                 {"CHAP_R", Answer(s)},
                 {"CHAP_I", "1"},
                 {"CHAP_C", "0x" + std::string(32, '1')}},
                "same secret");
}

TEST_F(ChapExchange, RandomSourceFailureFails) {
  ChapAuthenticator a(&accounts_, {kUser}, "", [](uint8_t*, size_t) { return false; });
  KeyValues out;
  EXPECT_EQ(a.Step({{"CHAP_A", "5"}}, &out), LoginStatus::kAuthenticationFailure);
  EXPECT_NE(a.FailureReason().find("random"), std::string::npos);
}

}  // namespace
}  // namespace modtgt::iscsi
