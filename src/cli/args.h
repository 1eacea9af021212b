// SPDX-License-Identifier: Apache-2.0
// modtgtadm's command line: tgtadm's syntax (--lld iscsi --mode target --op new --tid 1
// --targetname IQN ...) parsed into one admin-protocol request (docs/admin-protocol.md).
// Pure: no I/O, no globals (not getopt), so tests call it directly.
//
// Threading: thread-compatible.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace modtgt::cli {

struct CliOptions {
  nlohmann::json request = nlohmann::json::object();  // {"mode":..., "op":..., ...}
  bool json_output = false;   // --json
  bool help = false;          // --help / -h: print usage, send nothing
  bool version = false;       // --version / -V
  std::string socket_path;    // --socket, else env_socket, else the default path
  std::string file;           // --file: system restore reads the configuration from it
};

// Parses argv[1..] (args excludes the program name). env_socket is $MODTGT_SOCKET or
// nullptr. kInvalidArgument with a message naming the option on any error.
Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const char* env_socket);

// The usage text for --help.
std::string UsageText();

}  // namespace modtgt::cli
