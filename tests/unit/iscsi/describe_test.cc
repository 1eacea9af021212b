// SPDX-License-Identifier: Apache-2.0
// Addresses and wire strings for log lines (src/iscsi/describe.cc).
#include "iscsi/describe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

namespace modtgt::iscsi {
namespace {

sockaddr_in V4(const char* a, uint16_t port) {
  sockaddr_in s{};
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  inet_pton(AF_INET, a, &s.sin_addr);
  return s;
}

sockaddr_in6 V6(const char* a, uint16_t port) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  inet_pton(AF_INET6, a, &s.sin6_addr);
  return s;
}

const sockaddr* Sa(const void* p) { return static_cast<const sockaddr*>(p); }

TEST(Describe, Addresses) {
  sockaddr_in a = V4("10.1.2.3", 3260);
  sockaddr_in6 b = V6("fd00::1", 51234);
  sockaddr_in6 mapped = V6("::ffff:127.0.0.2", 40000);
  EXPECT_EQ(FormatSockaddr(Sa(&a)), "10.1.2.3:3260");
  EXPECT_EQ(FormatHost(Sa(&a)), "10.1.2.3");
  EXPECT_EQ(FormatSockaddr(Sa(&b)), "[fd00::1]:51234");
  EXPECT_EQ(FormatHost(Sa(&b)), "fd00::1");
  // IPv4-mapped: counted and shown as the IPv4 address it is.
  EXPECT_EQ(FormatSockaddr(Sa(&mapped)), "127.0.0.2:40000");
  EXPECT_EQ(FormatHost(Sa(&mapped)), "127.0.0.2");
  sockaddr other{};
  other.sa_family = AF_UNIX;
  EXPECT_EQ(FormatSockaddr(&other), "?");
  EXPECT_EQ(FormatHost(nullptr), "?");
  EXPECT_EQ(FormatSockaddr(nullptr), "?");
}

TEST(Describe, LogQuoteEscapesAndCuts) {
  EXPECT_EQ(LogQuote("iqn.2024-01.org.example:host1"), "'iqn.2024-01.org.example:host1'");
  EXPECT_EQ(LogQuote(std::string("a\nb\x1b[31m'\\\xff", 11)), "'a\\x0ab\\x1b[31m\\x27\\x5c\\xff'");
  EXPECT_EQ(LogQuote("abcdef", 3), "'abc'...");
  EXPECT_EQ(LogQuote(""), "''");
}

}  // namespace
}  // namespace modtgt::iscsi
