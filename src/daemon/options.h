// SPDX-License-Identifier: Apache-2.0
// modtgtd's command line.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/log.h"

namespace modtgt::daemon {

struct Options {
  bool foreground = false;
  std::vector<std::string> portals;   // --iscsi portal=..., as given
  // --iscsi KEY=VALUE other than portal=, by transport name ("iscsi"), checked by the
  // transport when it starts (core::TransportContext::options).
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> transport_options;
  std::string socket_path;
  std::string module_dir;
  bool module_dir_given = false;
  std::string module_dir_why;         // for the log: where module_dir came from
  std::vector<std::string> bstypes;   // --bstype; empty: the saved list, else all found
  std::vector<std::string> llds;      // --lld; the same
  int threads = 0;
  LogLevel log_level = LogLevel::kInfo;
  LogTarget log_target = LogTarget::kStderr;
  std::string config_path;            // "" with --no-config
  bool check_config = false;          // --check-config: validate the file and exit
  std::string pidfile;
  std::string metrics;                // --metrics ADDR:PORT: the Prometheus endpoint ("" = off)
  bool metrics_allow_remote = false;  // --metrics-allow-remote: a non-loopback ADDR is allowed
  int admin_gid = -1;                 // --admin-group: may administer besides root
};

// Parses argv. Returns false after printing why (exit status 2). --help and --version
// print and exit(0).
bool ParseOptions(int argc, char** argv, Options* o);

}  // namespace modtgt::daemon
