// SPDX-License-Identifier: Apache-2.0
// modtgtadm's command line: tgtadm's syntax (--lld iscsi --mode target --op new --tid 1
// --targetname IQN ...) parsed into one admin-protocol request (docs/admin-protocol.md).
// Every option, short form and abbreviation of tgtadm 1.0.x is taken as tgtadm takes it
// (docs/tgt-compat.md): long options may be shortened to any unambiguous prefix
// ("--param" is --params, "--back" --backing-store), modes have tgtadm's short names
// (sys, tgt, lu, pt, sess, conn), and -C/--control-port N picks the daemon (the admin
// socket path with ".N" appended; 0 is the default socket).
// Pure: no I/O, no globals (not getopt), so tests call it directly.
//
// Threading: thread-compatible.
#pragma once

#include <functional>
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
  bool debug = false;         // --debug / -d: print the request sent on stderr
  std::string socket_path;    // --socket, else -C N, else env_socket, else the default path
  std::string file;           // --file: system restore reads the configuration from it
  std::string import_tgt;     // --import-tgt FILE: tgt-admin's targets.conf to import
};

// How the CLI was started: as modtgtadm, or through the `tgtadm` name (a link named
// tgtadm: a repeated option then keeps its last value, as getopt does for tgtadm, instead
// of being refused).
struct CliContext {
  const char* env_socket = nullptr;  // $MODTGT_SOCKET, or nullptr
  bool as_tgtadm = false;
};

// Parses argv[1..] (args excludes the program name). kInvalidArgument with a message naming
// the option on any error; kUnsupported for a tgtadm option modtgt has no use for
// (--bus/--host: SCSI-host LLDs).
Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const CliContext& ctx);
// As modtgtadm, env_socket being $MODTGT_SOCKET or nullptr.
Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const char* env_socket);

// Relative paths. The daemon runs in its own folder ("/" once forked), so a relative path
// means nothing to it: the CLI makes path-like values absolute against the caller's
// folder before sending them. The rule, for the request fields backing_store (--backing-store),
// the CONFIG of cfgstring SUBTYPE/CONFIG (--cfgstring), and path (--path, or a --bstype
// holding a '/'):
//   - a value starting with '/' is sent as given;
//   - a relative value that names something that exists relative to `cwd` (a file, a
//     device, a folder: `exists` says) becomes cwd + "/" + value (symbolic links are kept,
//     not resolved; a leading "./" is dropped);
//   - anything else is sent as given: names that are not paths (bs_null's "null0", the
//     "scratch" of ram/scratch, an RBD "pool/image") stay names. Such values are returned
//     in *unresolved so the caller can explain a "No such file" error from the daemon.
// `cwd` must be absolute. Pure: the file system is reached only through `exists`.
void ResolveRelativePaths(CliOptions* opts, const std::string& cwd,
                          const std::function<bool(const std::string&)>& exists,
                          std::vector<std::string>* unresolved);

// The usage text for --help.
std::string UsageText();

}  // namespace modtgt::cli
