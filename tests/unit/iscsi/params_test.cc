// SPDX-License-Identifier: Apache-2.0
#include "iscsi/params.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace modtgt::iscsi {
namespace {

Result<KeyValues> Parse(const std::string& s) {
  return ParseKeyValues(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ParseKeyValues, ParsesPairsInOrder) {
  auto r = Parse(std::string("InitiatorName=iqn.2024-01.x:y\0SessionType=Normal\0", 49));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, "InitiatorName");
  EXPECT_EQ((*r)[0].second, "iqn.2024-01.x:y");
  EXPECT_EQ((*r)[1].first, "SessionType");
  EXPECT_EQ((*r)[1].second, "Normal");
}

TEST(ParseKeyValues, EmptyInputIsEmptyList) {
  auto r = ParseKeyValues(nullptr, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(ParseKeyValues, AcceptsMissingTrailingNul) {
  auto r = Parse("A=1");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].second, "1");
}

TEST(ParseKeyValues, ValueMayContainEqualsAndBeEmpty) {
  auto r = Parse(std::string("CHAP_C=0xab=cd\0TargetAlias=\0", 28));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].second, "0xab=cd");
  EXPECT_EQ((*r)[1].second, "");
}

TEST(ParseKeyValues, ToleratesTrailingNulPadding) {
  auto r = Parse(std::string("A=1\0\0\0\0", 7));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1u);
}

TEST(ParseKeyValues, ExtensionKeysAllowed) {
  auto r = Parse(std::string("X-com.example.Foo=1\0X#Bar=2\0", 28));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST(ParseKeyValues, RejectsPairWithoutEquals) {
  EXPECT_FALSE(Parse(std::string("A=1\0Garbage\0", 12)).ok());
}

TEST(ParseKeyValues, RejectsEmptyKey) { EXPECT_FALSE(Parse(std::string("=1\0", 3)).ok()); }

TEST(ParseKeyValues, RejectsEmptyPairInTheMiddle) {
  EXPECT_FALSE(Parse(std::string("A=1\0\0B=2\0", 9)).ok());
}

TEST(ParseKeyValues, KeyLengthLimitIs63) {
  std::string k63(63, 'K');
  std::string ok = k63 + "=1";
  EXPECT_TRUE(Parse(ok).ok());
  std::string bad = k63 + "K=1";
  EXPECT_FALSE(Parse(bad).ok());
}

TEST(ParseKeyValues, ValueLengthLimitIs8192) {
  std::string ok = "CHAP_R=" + std::string(8192, 'a');
  EXPECT_TRUE(Parse(ok).ok());
  std::string bad = "CHAP_R=" + std::string(8193, 'a');
  EXPECT_FALSE(Parse(bad).ok());
}

TEST(ParseKeyValues, RejectsInvalidKeyCharacters) {
  EXPECT_FALSE(Parse("Bad Key=1").ok());
  EXPECT_FALSE(Parse("Bad\x01Key=1").ok());
  EXPECT_FALSE(Parse("K\xc3\xa9=1").ok());
}

TEST(AppendKeyValues, RoundTrips) {
  KeyValues in = {{"HeaderDigest", "CRC32C,None"}, {"MaxBurstLength", "262144"}, {"X", ""}};
  std::vector<uint8_t> buf;
  AppendKeyValues(in, &buf);
  const std::string expect("HeaderDigest=CRC32C,None\0MaxBurstLength=262144\0X=\0", 50);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), expect);
  auto r = ParseKeyValues(buf.data(), buf.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, in);
}

TEST(AppendKeyValues, Appends) {
  std::vector<uint8_t> buf = {'Z'};
  AppendKeyValues({{"A", "B"}}, &buf);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), std::string("ZA=B\0", 5));
}

TEST(ParseNumber, DecimalAndHex) {
  uint64_t n = 7;
  EXPECT_TRUE(ParseNumber("0", &n));
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(ParseNumber("262144", &n));
  EXPECT_EQ(n, 262144u);
  EXPECT_TRUE(ParseNumber("0x1F", &n));
  EXPECT_EQ(n, 31u);
  EXPECT_TRUE(ParseNumber("0Xff", &n));
  EXPECT_EQ(n, 255u);
  EXPECT_TRUE(ParseNumber("18446744073709551615", &n));
  EXPECT_EQ(n, UINT64_MAX);
  n = 7;
  for (const char* bad : {"", "0x", "-1", "+1", " 1", "1 ", "1a", "0xg", "18446744073709551616",
                          "0x10000000000000000", "None"}) {
    EXPECT_FALSE(ParseNumber(bad, &n)) << bad;
    EXPECT_EQ(n, 7u) << bad;
  }
}

std::vector<uint8_t> Decoded(const std::string& v, size_t max = 1024) {
  std::vector<uint8_t> out;
  EXPECT_TRUE(DecodeBinaryValue(v, max, &out)) << v;
  return out;
}

TEST(BinaryValue, Hex) {
  EXPECT_EQ(Decoded("0x00ff10"), (std::vector<uint8_t>{0x00, 0xff, 0x10}));
  EXPECT_EQ(Decoded("0XAbCd"), (std::vector<uint8_t>{0xab, 0xcd}));
  // An odd count of digits: a leading zero nibble is implied.
  EXPECT_EQ(Decoded("0xabc"), (std::vector<uint8_t>{0x0a, 0xbc}));
  EXPECT_EQ(Decoded("0x1"), (std::vector<uint8_t>{0x01}));
}

TEST(BinaryValue, Base64WithAndWithoutPadding) {
  // RFC 4648 section 10 test vectors.
  EXPECT_EQ(Decoded("0bZg=="), (std::vector<uint8_t>{'f'}));
  EXPECT_EQ(Decoded("0bZm8="), (std::vector<uint8_t>{'f', 'o'}));
  EXPECT_EQ(Decoded("0bZm9v"), (std::vector<uint8_t>{'f', 'o', 'o'}));
  EXPECT_EQ(Decoded("0BZm9vYg=="), (std::vector<uint8_t>{'f', 'o', 'o', 'b'}));
  EXPECT_EQ(Decoded("0bZm9vYmE="), (std::vector<uint8_t>{'f', 'o', 'o', 'b', 'a'}));
  EXPECT_EQ(Decoded("0bZm9vYmFy"), (std::vector<uint8_t>{'f', 'o', 'o', 'b', 'a', 'r'}));
  EXPECT_EQ(Decoded("0bZm9vYg"), (std::vector<uint8_t>{'f', 'o', 'o', 'b'}));
  EXPECT_EQ(Decoded("0b+/+/"), (std::vector<uint8_t>{0xfb, 0xff, 0xbf}));
}

TEST(BinaryValue, RefusesMalformedAndOverlong) {
  std::vector<uint8_t> out;
  for (const char* bad : {"", "0", "0x", "0b", "x00", "00", "0y00", "0x0g", "0x 0", "0bZ",
                          "0bZm9v=", "0bZg===", "0b=", "0bZm!v", "0bZg=a", "0x-1"}) {
    EXPECT_FALSE(DecodeBinaryValue(bad, 1024, &out)) << bad;
  }
  EXPECT_TRUE(DecodeBinaryValue("0x" + std::string(8, 'a'), 4, &out));
  EXPECT_FALSE(DecodeBinaryValue("0x" + std::string(9, 'a'), 4, &out));
  EXPECT_FALSE(DecodeBinaryValue("0x" + std::string(10, 'a'), 4, &out));
  EXPECT_TRUE(DecodeBinaryValue("0bAAAAAA==", 4, &out));
  EXPECT_FALSE(DecodeBinaryValue("0bAAAAAAA=", 4, &out));
}

TEST(BinaryValue, HexEncodeRoundTrips) {
  const std::vector<uint8_t> in = {0x00, 0x7f, 0x80, 0xff, 0x12};
  const std::string hex = EncodeHex(in.data(), in.size());
  EXPECT_EQ(hex, "0x007f80ff12");
  EXPECT_EQ(Decoded(hex), in);
  EXPECT_EQ(EncodeHex(nullptr, 0), "0x");
}

}  // namespace
}  // namespace modtgt::iscsi
