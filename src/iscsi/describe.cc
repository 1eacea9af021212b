// SPDX-License-Identifier: Apache-2.0
#include "iscsi/describe.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>
#include <cstring>

namespace modtgt::iscsi {

std::string FormatSockaddr(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa == nullptr) return "?";
  if (sa->sa_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    return std::string(host) + ":" + std::to_string(ntohs(a->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a->sin6_port));
  }
  return "?";
}

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
