// SPDX-License-Identifier: Apache-2.0
// The iSCSI transport's settings: what it negotiates (TargetLimits, params.h) and what a
// remote peer may make it hold (ResourceLimits), set by the transport options
// `modtgtd --iscsi KEY=VALUE[,KEY=VALUE...]` (core::TransportContext::options["iscsi"]).
// Every key, its range and default is in one table (kOptions in options.cc), which the
// parser, `modtgtd --help` (by hand: the daemon cannot include this layer) and
// docs/iscsi.md follow; tests/unit/iscsi/options_test.cc checks the help text and the
// document name every key.
//
// Pure values and functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "iscsi/params.h"

namespace modtgt::iscsi {

// What initiators can make the transport hold, and the answer when a limit is reached.
struct ResourceLimits {
  // Sessions at once, normal and discovery (and those still ending). A login beyond it
  // fails with Out of Resources (0x0302).
  uint32_t max_sessions = 1024;
  // TCP connections at once, logged in or not. Beyond it a new connection is closed at
  // once (logged, at most once a second).
  uint32_t max_connections = 4096;
  // Connections from one initiator address (IPv4-mapped IPv6 counts as IPv4).
  uint32_t max_connections_per_address = 256;
  // Connections that have not completed their login yet, in all and from one address. At
  // either limit the quietest such connection (the longest without a login PDU; of that
  // address, or of the address with the most for the global limit) is dropped to make
  // room: a flood of idle connections cannot lock a real initiator out, whose login talks
  // every round trip and finishes in milliseconds.
  uint32_t max_pending_logins = 1024;
  uint32_t max_pending_logins_per_address = 64;
  // A connection that has not completed its login this long after it was accepted is
  // dropped.
  uint32_t login_timeout_ms = 15000;
  // Commands a session may have outstanding (the CmdSN window, RFC 7143 4.2.2.1).
  uint32_t max_cmds_per_session = 128;
  // Largest write (Expected Data Transfer Length) accepted; larger ones fail with CHECK
  // CONDITION. Reads are bounded by the LU's MAXIMUM TRANSFER LENGTH (scsi/spc.h).
  uint32_t max_write_length = 64u << 20;
  // Data buffers a session may hold for commands in flight (the sum of their transfer
  // lengths). Beyond it the connection stops reading until commands complete; a single
  // command always goes through. Idle pooled buffers above a quarter of it are freed.
  uint64_t max_session_data = 256u << 20;
};

// Everything the transport options set.
struct TransportSettings {
  TargetLimits negotiation;
  ResourceLimits resources;
};

// One transport option, for the parser and the documentation.
struct OptionInfo {
  const char* key;
  uint64_t min;
  uint64_t max;
  uint64_t default_value;
  const char* unit;  // "", "s", "bytes"
  const char* help;
};
// Every option, in the order `modtgtd --help` lists them.
const std::vector<OptionInfo>& TransportOptions();

// Applies key=value options over the defaults. Values are decimal (or 0x hex) integers in
// the option's range. kInvalidArgument naming the key (and its range, or the known keys)
// for an unknown key, a bad value or a key given twice.
Result<TransportSettings> ParseTransportOptions(
    const std::vector<std::pair<std::string, std::string>>& options);

}  // namespace modtgt::iscsi
