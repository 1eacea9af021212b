// SPDX-License-Identifier: Apache-2.0
// modtgtd: the daemon. Reads the saved configuration (a broken file stops the start here,
// before anything else happens), starts the event loops, loads the modules (backing stores
// and transports: lld_*.so, none is compiled in), restores the targets and LUNs, opens the
// portals and the admin socket, tells the service manager it is ready, then waits for
// signals: SIGHUP re-reads and applies the configuration file, SIGTERM/SIGINT shut down in
// order (stop accepting admin requests and connections, finish or abort in-flight commands,
// close the sessions, stop the loops, exit 0).
//
// This is the only code not linked into the tests.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <set>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "admin/metrics_server.h"
#include "admin/server.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "core/accounts.h"
#include "core/config_apply.h"
#include "core/config_store.h"
#include "core/module_registry.h"
#include "core/stats.h"
#include "core/target.h"
#include "scsi/alua.h"
#include "core/transport_registry.h"
#include "daemon/notify.h"
#include "daemon/options.h"
#include "env/event_loop.h"
#include "modtgt/version.h"

namespace modtgt::daemon {
namespace {

// Forks; the parent waits until the child reports readiness on a pipe and exits with the
// child's verdict (0, or the failed child's own exit status: 2 for a bad command line), so
// `modtgtd && modtgtadm ...` works. Returns the write end in the child,
// which runs in its own session with / as its folder.
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
    if (n == 1 && ok == 1) std::exit(0);
    // The child closed the pipe without being ready: it failed and exits (or has).
    int st = 0;
    if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) != 0) {
      std::exit(WEXITSTATUS(st));
    }
    std::exit(1);
  }
  close(fds[0]);
  setsid();
  if (chdir("/") != 0) std::perror("modtgtd: chdir /");
  int devnull = open("/dev/null", O_RDWR);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    if (isatty(STDOUT_FILENO)) dup2(devnull, STDOUT_FILENO);
    if (isatty(STDERR_FILENO)) dup2(devnull, STDERR_FILENO);
    if (devnull > 2) close(devnull);
  }
  return fds[1];
}

// Every connection is a file descriptor: raise the soft open-files limit to the hard one
// (the transports' connection limits are meant to bind first).
void RaiseOpenFilesLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  const rlim_t before = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
    LOG_INFO("open files limit raised from %llu to %llu", static_cast<unsigned long long>(before),
             static_cast<unsigned long long>(rl.rlim_cur));
  }
}

void Report(const char* what, const Status& s) {
  if (!s.ok()) LOG_WARN("%s: %s", what, s.ToString().c_str());
}

// The backing-store modules: --bstype if given, else the saved list, else every one found.
// A saved module whose file is gone is reported, not fatal: its LUNs come back offline.
Status LoadBackingStores(const Options& opt, const core::SavedConfig& saved,
                         core::ModuleRegistry* modules) {
  if (!opt.bstypes.empty() || !saved.has_modules) {
    return modules->LoadDirectory(opt.module_dir, opt.bstypes);
  }
  for (const core::SavedModule& m : saved.backing_stores) {
    const std::string path = core::SavedModulePath(m, opt.module_dir, /*transport=*/false);
    if (access(path.c_str(), F_OK) != 0) {
      LOG_WARN("backing-store module %s is in the saved configuration but not installed "
               "(no %s); its LUNs stay offline until it is (bsload)",
               m.name.c_str(), path.c_str());
      continue;
    }
    Report(("backing-store module " + m.name).c_str(), modules->LoadFile(path));
  }
  return Status::OK();
}

// The transports, the same way (--lld, the saved list, every one found).
Status LoadTransports(const Options& opt, const core::SavedConfig& saved,
                      core::TransportRegistry* transports) {
  if (!opt.llds.empty() || !saved.has_modules) return transports->LoadAtStart(opt.llds);
  for (const core::SavedModule& m : saved.transports) {
    Result<std::vector<std::string>> r = transports->Load(m.name, m.path);
    if (!r.ok()) LOG_WARN("transport %s: %s", m.name.c_str(), r.status().ToString().c_str());
  }
  return Status::OK();
}

// The portals to listen on: the saved ones and those of the command line (--iscsi), or
// the defaults when there are neither.
std::map<std::string, std::vector<std::string>> PortalsAtStart(const Options& opt,
                                                               const core::SavedConfig& saved) {
  std::map<std::string, std::vector<std::string>> portals;
  if (saved.has_portals) portals = saved.portals;
  std::vector<std::string>& iscsi = portals["iscsi"];
  // A command-line portal the file already has (it was saved from a previous run with the
  // same command line) is that one; the same portal given twice is two portals.
  std::multiset<std::string> unclaimed(iscsi.begin(), iscsi.end());
  for (const std::string& p : opt.portals) {
    auto it = unclaimed.find(p);
    if (it != unclaimed.end()) {
      unclaimed.erase(it);
    } else {
      iscsi.push_back(p);
    }
  }
  if (!saved.has_portals && opt.portals.empty()) iscsi = {"0.0.0.0:3260", "[::]:3260"};
  return portals;
}

// Reads the configuration file: a missing one is a first start (nothing to restore).
Result<core::SavedConfig> ReadConfig(const core::ConfigStore& store) {
  if (!store.enabled()) return core::SavedConfig{};
  Result<core::SavedConfig> c = store.Load();
  if (!c.ok() && c.status().code() == Code::kNotFound) {
    LOG_INFO("no configuration file %s yet: starting empty (it is written at the first change)",
             store.path().c_str());
    return core::SavedConfig{};
  }
  return c;
}

// --check-config: the checks of a start, without starting.
int CheckConfig(const Options& opt) {
  core::ConfigStore store(opt.config_path);
  Result<core::SavedConfig> saved = store.Load();
  if (!saved.ok()) {
    std::fprintf(stderr, "modtgtd: %s\n", saved.status().message().c_str());
    return 1;
  }
  core::ModuleRegistry modules;
  if (Status s = LoadBackingStores(opt, *saved, &modules); !s.ok()) {
    std::fprintf(stderr, "modtgtd: %s\n", s.ToString().c_str());
    return 1;
  }
  core::TargetRegistry targets;
  core::AccountRegistry accounts;
  core::CoreObjects objs{&targets, &modules, nullptr, opt.module_dir, &accounts};
  core::ApplyReport report;
  Status s = core::ApplyConfig(*saved, objs, core::ApplyMode::kCheck, false, &report);
  if (!s.ok()) {
    std::fprintf(stderr, "modtgtd: configuration file %s: it would not start:\n%s\n",
                 opt.config_path.c_str(), s.message().c_str());
    return 1;
  }
  size_t luns = 0;
  for (const auto& t : saved->targets) luns += t.luns.size();
  std::printf("%s: valid (%zu target(s), %zu LUN(s))\n", opt.config_path.c_str(),
              saved->targets.size(), luns);
  for (const auto& o : report.offline) std::printf("  would come back offline: %s\n", o.c_str());
  return 0;
}

// SIGHUP: the file's configuration, all or nothing (as `system restore`); on a refusal the
// running configuration stays.
void Reload(core::ConfigStore* store, admin::AdminContext* actx) {
  (void)Notify("RELOADING=1\nSTATUS=Reloading the configuration");
  LOG_INFO("SIGHUP: reading %s", store->path().c_str());
  {
    std::lock_guard<std::mutex> serial(*actx->op_mutex);
    Result<core::SavedConfig> c = store->Load();
    if (!c.ok()) {
      LOG_ERROR("reload refused, the running configuration stays: %s",
                c.status().message().c_str());
    } else {
      core::ApplyReport report;
      Status s = core::ApplyConfig(*c, actx->objects(), core::ApplyMode::kRestore,
                                   /*force=*/false, &report);
      if (!s.ok()) {
        LOG_ERROR("reload refused, the running configuration stays:\n%s", s.message().c_str());
      } else {
        for (const auto& a : report.actions) LOG_INFO("reload: %s", a.c_str());
        LOG_INFO("reload: %zu change(s) applied", report.actions.size());
      }
    }
  }
  (void)Notify("READY=1\nSTATUS=Serving");
}

int Run(const Options& opt) {
  SetLogLevel(opt.log_level);
  SetLogTarget(opt.log_target);

  // The configuration first: a broken file stops the start before anything else, with a
  // message on the terminal that started us.
  core::ConfigStore store(opt.config_path);
  Result<core::SavedConfig> saved = ReadConfig(store);
  if (!saved.ok()) {
    LOG_ERROR("%s", saved.status().message().c_str());
    return 1;
  }
  store.RemoveStaleTemporaries();

  int ready_fd = opt.foreground ? -1 : Daemonize();
  if (!opt.pidfile.empty()) {
    Status s = WriteFileAtomic(opt.pidfile, std::to_string(getpid()) + "\n");
    if (!s.ok()) {
      LOG_ERROR("cannot write the pid file: %s", s.ToString().c_str());
      return 1;
    }
  }

  // Signals are taken synchronously by the main thread; every other thread blocks them.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  LOG_INFO("modtgtd %s starting: %d event loop(s), modules from %s (%s), configuration %s",
           MODTGT_PACKAGE_VERSION, opt.threads, opt.module_dir.c_str(), opt.module_dir_why.c_str(),
           store.enabled() ? store.path().c_str() : "not saved (--no-config)");
  RaiseOpenFilesLimit();

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
  if (Status s = LoadBackingStores(opt, *saved, &modules); !s.ok()) {
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
  core::AccountRegistry accounts;
  core::PortalStats portal_stats;
  targets.set_accounts(&accounts);  // EXTENDED COPY: no copy target that asks for CHAP
  // Persistent reservations with APTPL live beside the configuration file; with
  // --no-config there is nowhere to keep them and APTPL is refused (docs/reservations.md).
  if (std::string pr_dir = core::PrStateDir::FolderFor(store.path()); !pr_dir.empty()) {
    targets.set_pr_state(std::make_shared<core::PrStateDir>(pr_dir));
    LOG_INFO("persistent reservations with APTPL are kept in %s", pr_dir.c_str());
  } else {
    LOG_INFO("persistent reservations cannot persist through a restart (--no-config): APTPL "
             "is refused");
  }

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
  tctx.accounts = &accounts;
  tctx.portal_stats = &portal_stats;
  tctx.options = opt.transport_options;
  core::TransportRegistry transports(tctx, opt.module_dir);
  // Exit status 1, or 2 when what failed was the command line (settings a transport refused).
  auto fail_start = [&](int status = 1) {
    transports.ShutdownAll(/*unmap=*/false);
    for (const auto& t : targets.List()) (void)targets.Remove(t->tid(), /*force=*/true);
    stop_loops();
    return status;
  };
  if (Status s = LoadTransports(opt, *saved, &transports); !s.ok()) {
    LOG_ERROR("%s", s.ToString().c_str());
    return fail_start();
  }
  bool iscsi_loaded = false;
  for (const core::TransportInfo& t : transports.List()) {
    if (t.state != core::ModuleState::kReady) {
      LOG_ERROR("transport %s (%s) failed to start: %s", t.name.c_str(), t.path.c_str(),
                t.error.c_str());
      // Named on the command line (--lld, or given settings with --NAME KEY=VALUE): the
      // admin asked for it, so it is fatal.
      if (std::find(opt.llds.begin(), opt.llds.end(), t.name) != opt.llds.end() ||
          opt.transport_options.count(t.name) != 0) {
        return fail_start(t.error_code == Code::kInvalidArgument ? 2 : 1);
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

  // The saved targets, ACLs and LUNs, before any portal opens. A LUN whose store cannot
  // open comes back offline with its reason; anything else wrong in the file stops us.
  core::CoreObjects objs{&targets, &modules, &transports, opt.module_dir, &accounts};
  core::ApplyReport report;
  if (Status s = core::ApplyConfig(*saved, objs, core::ApplyMode::kStart, false, &report);
      !s.ok()) {
    LOG_ERROR("configuration file %s cannot be applied; it was left as it is:\n%s",
              store.path().c_str(), s.message().c_str());
    return fail_start();
  }
  if (!saved->targets.empty()) {
    LOG_INFO("restored %zu target(s) from %s%s", saved->targets.size(), store.path().c_str(),
             report.offline.empty() ? ""
                                    : (", " + std::to_string(report.offline.size()) +
                                       " LUN(s) offline").c_str());
  }

  // Then the portals (the saved ones and --iscsi), remembered across lldunload/lldload.
  for (const auto& [name, list] : PortalsAtStart(opt, *saved)) {
    Result<std::vector<std::string>> bound = transports.AddPortals(name, list);
    if (!bound.ok()) {
      LOG_ERROR("cannot listen: %s", bound.status().ToString().c_str());
      return fail_start();
    }
    for (const std::string& b : bound.value()) LOG_INFO("%s portal listening on %s", name.c_str(), b.c_str());
  }

  admin::AdminContext actx;
  actx.targets = &targets;
  actx.modules = &modules;
  actx.transports = &transports;
  actx.module_dir = opt.module_dir;
  actx.version = MODTGT_PACKAGE_VERSION;
  actx.threads = static_cast<int>(loops.size());
  actx.config = &store;
  actx.accounts = &accounts;
  actx.portal_stats = &portal_stats;
  // tgtadm --mode system --op delete: stop as SIGTERM does (the reply goes out first: the
  // main thread stops the admin server only after its current request).
  actx.request_stop = [] { kill(getpid(), SIGTERM); };
  // The Prometheus endpoint (--metrics), on its own thread.
  admin::MetricsServer metrics([&targets, &transports, &portal_stats] {
    return core::PrometheusText(core::CollectStats(&targets, &transports, &portal_stats));
  });
  if (!opt.metrics.empty()) {
    if (Status s = metrics.Start(opt.metrics, opt.metrics_allow_remote); !s.ok()) {
      LOG_ERROR("cannot serve metrics: %s", s.ToString().c_str());
      return fail_start();
    }
    actx.metrics_address = metrics.address();
    LOG_INFO("metrics at http://%s/metrics", metrics.address().c_str());
  }
  actx.admin_gid = opt.admin_gid;
  admin::AdminServer admin_server(actx);
  if (Status s = admin_server.Listen(opt.socket_path); !s.ok()) {
    LOG_ERROR("cannot open the admin socket %s: %s", opt.socket_path.c_str(), s.ToString().c_str());
    return fail_start();
  }
  std::thread admin_thread([&] { admin_server.Run(); });
  LOG_INFO("ready; admin socket %s", opt.socket_path.c_str());

  Report("notify", Notify("READY=1\nSTATUS=Serving\nMAINPID=" + std::to_string(getpid())));
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
      if (store.enabled()) {
        Reload(&store, &actx);
      } else {
        LOG_INFO("SIGHUP ignored: no configuration file (--no-config)");
      }
      continue;
    }
    break;
  }
  LOG_INFO("signal %d (%s): shutting down", sig, strsignal(sig));
  (void)Notify("STOPPING=1");

  admin_server.Stop();
  admin_thread.join();
  metrics.Stop();
  // Sessions close before the targets go. The transport code stays mapped until the
  // process exits: the loops are still running and own timers the module created.
  transports.ShutdownAll(/*unmap=*/false);
  // No ALUA transition or lock refresh runs into a closing device.
  scsi::StopAluaThread();
  // Targets and LUNs go before the modules whose devices they hold.
  for (const auto& t : targets.List()) {
    Status s = targets.Remove(t->tid(), /*force=*/true);
    (void)s;
  }
  stop_loops();
  unlink(opt.socket_path.c_str());
  if (!opt.pidfile.empty()) unlink(opt.pidfile.c_str());
  LOG_INFO("stopped");
  return 0;
}

}  // namespace
}  // namespace modtgt::daemon

int main(int argc, char** argv) {
  modtgt::daemon::Options opt;
  if (!modtgt::daemon::ParseOptions(argc, argv, &opt)) return 2;
  if (opt.check_config) return modtgt::daemon::CheckConfig(opt);
  return modtgt::daemon::Run(opt);
}
