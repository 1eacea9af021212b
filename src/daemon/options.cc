// SPDX-License-Identifier: Apache-2.0
// modtgtd's command line (see Usage()).
#include "daemon/options.h"

#include <getopt.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "admin/metrics_server.h"
#include "core/config_store.h"
#include "daemon/module_dir.h"
#include "modtgt/version.h"

namespace modtgt::daemon {
namespace {

constexpr char kDefaultSocket[] = "/run/modtgt/modtgtd.sock";

void Usage(FILE* out) {
  std::fprintf(out,
               "Usage: modtgtd [OPTIONS]\n"
               "  -f, --foreground          stay in the foreground\n"
               "      --iscsi portal=ADDR:PORT\n"
               "                            listen on ADDR:PORT (repeatable; IPv6 as [ADDR]:PORT;\n"
               "                            port 0 picks a free port), besides the saved ones.\n"
               "                            Default (none given, none saved): 0.0.0.0:3260, [::]:3260\n"
               "      --iscsi KEY=VALUE[,KEY=VALUE...]\n"
               "                            iSCSI limits (docs/iscsi.md); integers, defaults:\n"
               "          max_sessions=1024                    sessions at once\n"
               "          max_connections=4096                 TCP connections at once\n"
               "          max_connections_per_address=256      from one initiator address\n"
               "          max_pending_logins=1024              not logged in yet (the quietest\n"
               "          max_pending_logins_per_address=64    is dropped to make room)\n"
               "          login_timeout=15                     seconds to complete a login\n"
               "          max_cmds_per_session=128             commands in flight per session\n"
               "          max_session_data=268435456           their data buffers, bytes\n"
               "          max_write_length=67108864            largest write command, bytes\n"
               "          max_recv_data_segment_length=262144  MaxRecvDataSegmentLength\n"
               "          max_burst_length=1048576             MaxBurstLength offered\n"
               "          first_burst_length=262144            FirstBurstLength offered\n"
               "          max_outstanding_r2t=16               MaxOutstandingR2T offered\n"
               "          max_connections_per_session=4        MaxConnections offered (MC/S)\n"
               "          error_recovery_level=2               ErrorRecoveryLevel offered\n"
               "      --socket PATH         admin socket (default %s, or $MODTGT_SOCKET)\n"
               "      --module-dir DIR      module folder (default %s)\n"
               "                            (without it: build/lib/modtgt when run from the\n"
               "                            build tree, else that default, else <prefix>/lib/modtgt\n"
               "                            beside this modtgtd)\n"
               "      --bstype NAME[,NAME]  backing-store modules to load (default: the saved\n"
               "                            list, or all found)\n"
               "      --lld NAME[,NAME]     transport modules to load (default: the saved list,\n"
               "                            or all found)\n"
               "  -t, --threads N           event loops (default: one per core)\n"
               "  -d, --debug               log level debug\n"
               "      --log-level LEVEL     error, warn, info (default) or debug\n"
               "      --log-target TARGET   stderr (default) or journal (syslog priority\n"
               "                            prefixes for systemd's journal)\n"
               "      --config PATH         state file: the configuration restored at start and\n"
               "                            saved after every change (default %s)\n"
               "      --no-config           ephemeral: restore nothing, save nothing\n"
               "      --check-config        validate the configuration file and exit (0: it\n"
               "                            would start; LUNs that would come back offline\n"
               "                            are listed)\n"
               "      --pidfile PATH        write the daemon's pid there (removed at exit)\n"
               "      --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics\n"
               "                            (off by default; loopback addresses only, port 0\n"
               "                            picks a free port: see system show)\n"
               "      --metrics-allow-remote  allow a --metrics address that is not loopback\n"
               "                            (the endpoint has no authentication)\n"
               "      --admin-group GROUP   members of GROUP may administer the daemon too (the\n"
               "                            socket becomes 0660, group GROUP); default root only\n"
               "  -V, --version             print the version\n"
               "  -h, --help                this text\n",
               kDefaultSocket, MODTGT_MODULE_DIR, core::kDefaultConfigPath);
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

// Returns false (after printing why) on a bad command line.
bool ParseOptions(int argc, char** argv, Options* o) {
  enum { kIscsi = 256, kSocket, kModuleDir, kBstype, kLld, kLogLevel, kLogTarget, kConfig,
         kNoConfig, kCheckConfig, kPidfile, kMetrics, kMetricsRemote, kAdminGroup };
  static const option kLong[] = {
      {"foreground", no_argument, nullptr, 'f'},
      {"iscsi", required_argument, nullptr, kIscsi},
      {"socket", required_argument, nullptr, kSocket},
      {"module-dir", required_argument, nullptr, kModuleDir},
      {"bstype", required_argument, nullptr, kBstype},
      {"lld", required_argument, nullptr, kLld},
      {"threads", required_argument, nullptr, 't'},
      {"debug", no_argument, nullptr, 'd'},
      {"log-level", required_argument, nullptr, kLogLevel},
      {"log-target", required_argument, nullptr, kLogTarget},
      {"config", required_argument, nullptr, kConfig},
      {"no-config", no_argument, nullptr, kNoConfig},
      {"check-config", no_argument, nullptr, kCheckConfig},
      {"pidfile", required_argument, nullptr, kPidfile},
      {"metrics", required_argument, nullptr, kMetrics},
      {"metrics-allow-remote", no_argument, nullptr, kMetricsRemote},
      {"admin-group", required_argument, nullptr, kAdminGroup},
      {"version", no_argument, nullptr, 'V'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  if (const char* env = std::getenv("MODTGT_SOCKET"); env && *env) o->socket_path = env;
  o->module_dir = MODTGT_MODULE_DIR;
  o->config_path = core::kDefaultConfigPath;
  bool config_given = false, no_config = false;
  int c;
  while ((c = getopt_long(argc, argv, "ft:dVh", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        o->foreground = true;
        break;
      case kIscsi: {
        // tgtd syntax: --iscsi portal=ADDR:PORT[,portal=...]; other KEY=VALUE pairs are the
        // transport's own settings, checked when it starts.
        for (const std::string& kv : SplitCommas(optarg)) {
          size_t eq = kv.find('=');
          if (eq == std::string::npos || eq == 0) {
            std::fprintf(stderr, "modtgtd: --iscsi wants KEY=VALUE (portal=ADDR:PORT, or a "
                                 "limit such as max_sessions=64), not '%s'\n",
                         kv.c_str());
            return false;
          }
          if (kv.compare(0, eq, "portal") == 0) {
            o->portals.push_back(kv.substr(eq + 1));
          } else {
            o->transport_options["iscsi"].emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
          }
        }
        break;
      }
      case kSocket:
        o->socket_path = optarg;
        break;
      case kModuleDir:
        o->module_dir = optarg;
        o->module_dir_given = true;
        break;
      case kBstype:
        for (const std::string& n : SplitCommas(optarg)) o->bstypes.push_back(n);
        break;
      case kLld:
        for (const std::string& n : SplitCommas(optarg)) o->llds.push_back(n);
        break;
      case 't': {
        char* end = nullptr;
        long n = std::strtol(optarg, &end, 10);
        if (!end || *end || n < 1 || n > 256) {
          std::fprintf(stderr, "modtgtd: --threads wants a number from 1 to 256, not '%s'\n", optarg);
          return false;
        }
        o->threads = static_cast<int>(n);
        break;
      }
      case 'd':
        o->log_level = LogLevel::kDebug;
        break;
      case kLogLevel:
        if (!ParseLogLevel(optarg, &o->log_level)) {
          std::fprintf(stderr, "modtgtd: unknown log level '%s'\n", optarg);
          return false;
        }
        break;
      case kLogTarget:
        if (!ParseLogTarget(optarg, &o->log_target)) {
          std::fprintf(stderr, "modtgtd: unknown log target '%s' (stderr or journal)\n", optarg);
          return false;
        }
        break;
      case kConfig:
        if (*optarg == '\0') {
          std::fprintf(stderr, "modtgtd: --config needs a file path\n");
          return false;
        }
        o->config_path = optarg;
        config_given = true;
        break;
      case kNoConfig:
        no_config = true;
        break;
      case kCheckConfig:
        o->check_config = true;
        break;
      case kPidfile:
        o->pidfile = optarg;
        break;
      case kMetrics:
        o->metrics = optarg;
        break;
      case kMetricsRemote:
        o->metrics_allow_remote = true;
        break;
      case kAdminGroup: {
        const group* g = getgrnam(optarg);
        if (g == nullptr) {
          std::fprintf(stderr, "modtgtd: --admin-group: no group '%s'\n", optarg);
          return false;
        }
        o->admin_gid = static_cast<int>(g->gr_gid);
        break;
      }
      case 'V':
        std::printf("modtgtd %s (module ABI %u.%u)\n", MODTGT_PACKAGE_VERSION, MODTGT_ABI_MAJOR,
                    MODTGT_ABI_MINOR);
        std::exit(0);
      case 'h':
        Usage(stdout);
        std::exit(0);
      default:
        Usage(stderr);
        return false;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "modtgtd: unexpected argument '%s'\n", argv[optind]);
    return false;
  }
  if (no_config && config_given) {
    std::fprintf(stderr, "modtgtd: --config and --no-config exclude each other\n");
    return false;
  }
  if (no_config && o->check_config) {
    std::fprintf(stderr, "modtgtd: --check-config checks a configuration file (--config PATH)\n");
    return false;
  }
  if (no_config) o->config_path.clear();
  if (!o->metrics.empty()) {
    Status s = admin::CheckMetricsAddress(o->metrics, o->metrics_allow_remote);
    if (!s.ok()) {
      std::fprintf(stderr, "modtgtd: --metrics: %s\n", s.message().c_str());
      return false;
    }
  } else if (o->metrics_allow_remote) {
    std::fprintf(stderr, "modtgtd: --metrics-allow-remote goes with --metrics ADDR:PORT\n");
    return false;
  }
  if (o->socket_path.empty()) o->socket_path = kDefaultSocket;
  if (o->module_dir_given) {
    o->module_dir_why = "--module-dir";
  } else {
    ModuleDirChoice c = FindModuleDir(SelfExe(), MODTGT_MODULE_DIR);
    if (c.dir.empty()) {
      std::fprintf(stderr,
                   "modtgtd: no module folder found (looked in %s); pass --module-dir DIR, "
                   "the folder holding backing-store/ and transport/\n",
                   c.tried.c_str());
      return false;
    }
    o->module_dir = c.dir;
    o->module_dir_why = c.why;
  }
  if (o->threads == 0) {
    unsigned n = std::thread::hardware_concurrency();
    o->threads = n ? static_cast<int>(n) : 1;
  }
  return true;
}

}  // namespace modtgt::daemon
