// SPDX-License-Identifier: Apache-2.0
#include "iscsi/describe.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>

namespace modtgt::iscsi {

std::string FormatHost(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa == nullptr) return "?";
  if (sa->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return host;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      in_addr v4;
      std::memcpy(&v4, &a->sin6_addr.s6_addr[12], sizeof(v4));
      inet_ntop(AF_INET, &v4, host, sizeof(host));
    } else {
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    }
    return host;
  }
  return "?";
}

std::string FormatSockaddr(const sockaddr* sa) {
  if (sa == nullptr || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) return "?";
  const std::string host = FormatHost(sa);
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(sa)->sin_port);
  } else {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(sa)->sin6_port);
  }
  // An IPv6 host (a colon in it) goes in brackets; IPv4-mapped ones are shown as IPv4.
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string LogQuote(std::string_view s, size_t max) {
  std::string out = "'";
  size_t n = s.size() < max ? s.size() : max;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  out.push_back('\'');
  if (n < s.size()) out += "...";
  return out;
}

}  // namespace modtgt::iscsi
