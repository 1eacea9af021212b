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

}  // namespace
}  // namespace modtgt::iscsi
