// SPDX-License-Identifier: Apache-2.0
// Text for log lines and listings: socket addresses, and strings that came from the wire
// made safe to log (an initiator chooses its name and its CHAP user name; neither may break
// a log line or a terminal).
// Pure functions; thread-safe.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

namespace modtgt::iscsi {

// "127.0.0.1:3260", "[::1]:3260"; "?" for null or a family other than IPv4/IPv6. An
// IPv4-mapped IPv6 address is shown as IPv4 ("10.0.0.1:3260").
std::string FormatSockaddr(const sockaddr* sa);
// The host part only ("127.0.0.1", "::1"), IPv4-mapped IPv6 as IPv4 ("10.0.0.1"): the key
// the per-address connection limits count on. "?" for anything else.
std::string FormatHost(const sockaddr* sa);
// `s` quoted for a log line: printable ASCII kept, anything else as \xHH, cut to `max`
// bytes of input (then "..." follows the closing quote).
std::string LogQuote(std::string_view s, size_t max = 255);

}  // namespace modtgt::iscsi
