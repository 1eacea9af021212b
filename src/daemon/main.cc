// SPDX-License-Identifier: Apache-2.0
// modtgtd: the daemon. Parses the command line, starts the event loops, loads the modules
// (backing stores, and the transports: lld_*.so, none is compiled in), opens the portals
// and the admin socket, then waits for SIGTERM/SIGINT and shuts down in
// order: stop accepting admin requests and connections, finish or abort in-flight
// commands, close the sessions, stop the loops, exit 0.
//
// This is the only code not linked into the tests.

#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "admin/server.h"
#include "common/log.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"
#include "daemon/module_dir.h"
#include "env/event_loop.h"
#include "modtgt/version.h"

namespace modtgt {
namespace {

constexpr char kDefaultSocket[] = "/run/modtgt/modtgtd.sock";

struct Options {
  bool foreground = false;
  std::vector<std::string> portals;
  std::string socket_path;
  std::string module_dir = MODTGT_MODULE_DIR;
  bool module_dir_given = false;
  std::string module_dir_why;  // for the log: where module_dir came from
  std::vector<std::string> bstypes;
  std::vector<std::string> llds;
  int threads = 0;
  LogLevel log_level = LogLevel::kInfo;
};

void Usage(FILE* out) {
  std::fprintf(out,
               "Usage: modtgtd [OPTIONS]\n"
               "  -f, --foreground          stay in the foreground\n"
               "      --iscsi portal=ADDR:PORT\n"
               "                            listen on ADDR:PORT (repeatable; IPv6 as [ADDR]:PORT;\n"
               "                            port 0 picks a free port). Default 0.0.0.0:3260 and [::]:3260\n"
               "      --socket PATH         admin socket (default %s, or $MODTGT_SOCKET)\n"
               "      --module-dir DIR      module folder (default %s)\n"
               "                            (without it: build/lib/modtgt when run from the\n"
               "                            build tree, else that default, else <prefix>/lib/modtgt\n"
               "                            beside this modtgtd)\n"
               "      --bstype NAME[,NAME]  backing-store modules to load (default: all found)\n"
               "      --lld NAME[,NAME]     transport modules to load (default: all found)\n"
               "  -t, --threads N           event loops (default: one per core)\n"
               "  -d, --debug               log level debug\n"
               "      --log-level LEVEL     error, warn, info (default) or debug\n"
               "  -V, --version             print the version\n"
               "  -h, --help                this text\n",
               kDefaultSocket, MODTGT_MODULE_DIR);
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

// Returns false (after printing why) on a bad command line.
bool ParseOptions(int argc, char** argv, Options* o) {
  enum { kIscsi = 256, kSocket, kModuleDir, kBstype, kLld, kLogLevel };
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
      {"version", no_argument, nullptr, 'V'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  if (const char* env = std::getenv("MODTGT_SOCKET"); env && *env) o->socket_path = env;
  int c;
  while ((c = getopt_long(argc, argv, "ft:dVh", kLong, nullptr)) != -1) {
    switch (c) {
      case 'f':
        o->foreground = true;
        break;
      case kIscsi: {
        // tgtd syntax: --iscsi portal=ADDR:PORT[,portal=...]
        for (const std::string& kv : SplitCommas(optarg)) {
          if (kv.rfind("portal=", 0) != 0) {
            std::fprintf(stderr, "modtgtd: unknown --iscsi option '%s' (expected portal=ADDR:PORT)\n",
                         kv.c_str());
            return false;
          }
          o->portals.push_back(kv.substr(7));
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
  if (o->socket_path.empty()) o->socket_path = kDefaultSocket;
  if (o->module_dir_given) {
    o->module_dir_why = "--module-dir";
  } else {
    daemon::ModuleDirChoice c = daemon::FindModuleDir(daemon::SelfExe(), MODTGT_MODULE_DIR);
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
  if (o->portals.empty()) o->portals = {"0.0.0.0:3260", "[::]:3260"};
  if (o->threads == 0) {
    unsigned n = std::thread::hardware_concurrency();
    o->threads = n ? static_cast<int>(n) : 1;
  }
  return true;
}

// Forks; the parent waits until the child reports readiness on a pipe and exits with the
// child's verdict, so `modtgtd && modtgtadm ...` works. Returns the write end in the child.
int Daemonize() {
  int fds[2];
  if (pipe(fds) < 0) {
    std::perror("modtgtd: pipe");
    std::exit(1);
  }
  pid_t pid = fork();
  if (pid < 0) {
    std::perror("modtgtd: fork");
    std::exit(1);
  }
  if (pid > 0) {
    close(fds[1]);
    char ok = 0;
    ssize_t n = read(fds[0], &ok, 1);
    std::exit(n == 1 && ok == 1 ? 0 : 1);
  }
  close(fds[0]);
  setsid();
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    if (isatty(STDOUT_FILENO)) dup2(devnull, STDOUT_FILENO);
    if (isatty(STDERR_FILENO)) dup2(devnull, STDERR_FILENO);
    if (devnull > 2) close(devnull);
  }
  return fds[1];
}

int Run(const Options& opt) {
  SetLogLevel(opt.log_level);
  int ready_fd = opt.foreground ? -1 : Daemonize();

  // Signals are taken synchronously by the main thread; every other thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  LOG_INFO("modtgtd %s starting: %d event loop(s), modules from %s (%s)",
           MODTGT_PACKAGE_VERSION, opt.threads, opt.module_dir.c_str(), opt.module_dir_why.c_str());

  std::vector<std::unique_ptr<env::EventLoop>> loops;
  std::vector<env::EventLoop*> loop_ptrs;
  for (int i = 0; i < opt.threads; i++) {
    auto loop = std::make_unique<env::EventLoop>(i);
    Status s = loop->Init();
    if (!s.ok()) {
      LOG_ERROR("cannot create event loop: %s", s.ToString().c_str());
      return 1;
    }
    loop_ptrs.push_back(loop.get());
    loops.push_back(std::move(loop));
  }

  core::ModuleRegistry modules;
  if (Status s = modules.LoadDirectory(opt.module_dir, opt.bstypes); !s.ok()) {
    LOG_ERROR("%s", s.ToString().c_str());
    return 1;
  }
  for (const core::ModuleInfo& m : modules.List()) {
    if (m.state == core::ModuleState::kError) {
      LOG_WARN("module %s (%s) failed to start: %s", m.name.c_str(), m.path.c_str(), m.error.c_str());
    } else {
      LOG_INFO("module %s %s loaded from %s", m.name.c_str(), m.version.c_str(), m.path.c_str());
    }
  }

  core::TargetRegistry targets;

  std::vector<std::thread> loop_threads;
  for (auto& l : loops) loop_threads.emplace_back([p = l.get()] { p->Run(); });
  auto stop_loops = [&] {
    for (auto& l : loops) l->Stop();
    for (auto& t : loop_threads) t.join();
  };

  // Transports run on the loops, so those are running before any transport is created.
  core::TransportContext tctx;
  tctx.loops = loop_ptrs;
  tctx.targets = &targets;
  core::TransportRegistry transports(tctx, opt.module_dir);
  auto fail_start = [&] {
    transports.ShutdownAll(/*unmap=*/false);
    stop_loops();
    return 1;
  };
  if (Status s = transports.LoadAtStart(opt.llds); !s.ok()) {
    LOG_ERROR("%s", s.ToString().c_str());
    return fail_start();
  }
  bool iscsi_loaded = false;
  for (const core::TransportInfo& t : transports.List()) {
    if (t.state != core::ModuleState::kReady) {
      LOG_ERROR("transport %s (%s) failed to start: %s", t.name.c_str(), t.path.c_str(),
                t.error.c_str());
      // Named on the command line: the admin asked for it, so it is fatal.
      if (std::find(opt.llds.begin(), opt.llds.end(), t.name) != opt.llds.end()) {
        return fail_start();
      }
    } else if (t.name == "iscsi") {
      iscsi_loaded = true;
    }
  }
  if (transports.List().empty()) {
    LOG_WARN("no transport module in %s/transport: no portal is open (modtgtadm --mode "
             "system --op lldload --lld NAME)", opt.module_dir.c_str());
  }
  if (!iscsi_loaded) {
    LOG_WARN("the iscsi transport is not loaded; its portals open when it is (lldload)");
  }
  // --iscsi portal=... belong to the iscsi transport; remembered across lldunload/lldload.
  Result<std::vector<std::string>> bound = transports.AddPortals("iscsi", opt.portals);
  if (!bound.ok()) {
    LOG_ERROR("cannot listen: %s", bound.status().ToString().c_str());
    return fail_start();
  }
  for (const std::string& b : bound.value()) LOG_INFO("iSCSI portal listening on %s", b.c_str());

  admin::AdminContext actx;
  actx.targets = &targets;
  actx.modules = &modules;
  actx.transports = &transports;
  actx.module_dir = opt.module_dir;
  actx.version = MODTGT_PACKAGE_VERSION;
  actx.threads = static_cast<int>(loops.size());
  admin::AdminServer admin_server(actx);
  if (Status s = admin_server.Listen(opt.socket_path); !s.ok()) {
    LOG_ERROR("cannot open the admin socket %s: %s", opt.socket_path.c_str(), s.ToString().c_str());
    return fail_start();
  }
  std::thread admin_thread([&] { admin_server.Run(); });
  LOG_INFO("ready; admin socket %s", opt.socket_path.c_str());

  if (ready_fd >= 0) {
    char ok = 1;
    ssize_t n = write(ready_fd, &ok, 1);
    (void)n;
    close(ready_fd);
  }

  int sig = 0;
  for (;;) {
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      LOG_INFO("SIGHUP ignored (configuration is changed with modtgtadm)");
      continue;
    }
    break;
  }
  LOG_INFO("signal %d (%s): shutting down", sig, strsignal(sig));

  admin_server.Stop();
  admin_thread.join();
  // Sessions close before the targets go. The transport code stays mapped until the
  // process exits: the loops are still running and own timers the module created.
  transports.ShutdownAll(/*unmap=*/false);
  // Targets and LUNs go before the modules whose devices they hold.
  for (const auto& t : targets.List()) {
    Status s = targets.Remove(t->tid(), /*force=*/true);
    (void)s;
  }
  stop_loops();
  unlink(opt.socket_path.c_str());
  LOG_INFO("stopped");
  return 0;
}

}  // namespace
}  // namespace modtgt

int main(int argc, char** argv) {
  modtgt::Options opt;
  if (!modtgt::ParseOptions(argc, argv, &opt)) return 2;
  return modtgt::Run(opt);
}
