// SPDX-License-Identifier: Apache-2.0
// AdminServer: the daemon side of the admin protocol (docs/admin-protocol.md). Listens on a
// Unix socket (mode 0600 in a folder it creates 0700; the peer's credentials are checked:
// root, the daemon's user, or members of a configured admin group), reads one JSON request
// per line (at most kMaxRequestBytes), runs it against the targets, LUNs and modules, and
// writes one JSON reply per line; then the connection closes.
//
// Threading: Run() is the admin thread. It serves every client from one epoll loop with
// non-blocking sockets: a client that is idle, slow or sends garbage holds up no other (it
// is dropped at its deadline, 10 s). Requests run on it one at a time (and under
// AdminContext::op_mutex, which a SIGHUP reload shares), so admin operations never race
// each other. The objects it changes are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "core/config_apply.h"

namespace modtgt::core {
class ConfigStore;
class PortalStats;
class TargetRegistry;
class ModuleRegistry;
class TransportRegistry;
}  // namespace modtgt::core

namespace modtgt::admin {

struct AdminContext {
  core::TargetRegistry* targets = nullptr;
  core::ModuleRegistry* modules = nullptr;
  // Transport modules: the admin reaches sessions, portals and transports only through
  // it (never a transport's own types). nullptr in tests without transports: then no
  // --lld is known and there are no sessions or portals.
  core::TransportRegistry* transports = nullptr;
  std::string module_dir;
  std::string version;
  int threads = 0;  // event loops, for system show
  // The group whose members may administer the daemon besides root (-1: none).
  int admin_gid = -1;
  // The state file every successful change is saved to; nullptr (tests) or a disabled
  // store (--no-config): changes are not saved.
  core::ConfigStore* config = nullptr;
  // Serialises admin operations with each other and with a SIGHUP reload (shared by the
  // copies of this context).
  std::shared_ptr<std::mutex> op_mutex = std::make_shared<std::mutex>();

  // CHAP accounts (--mode account); nullptr in tests without them.
  core::AccountRegistry* accounts = nullptr;

  // Per-portal command counters (--op stat); nullptr: portals are not counted.
  core::PortalStats* portal_stats = nullptr;
  // Stops the daemon as SIGTERM would, after the reply is sent (tgtadm --mode system --op
  // delete). Empty (tests): the op is unsupported.
  std::function<void()> request_stop;
  // The Prometheus endpoint's bound address (modtgtd --metrics), "" when off.
  std::string metrics_address;

  core::CoreObjects objects() const {
    return {targets, modules, transports, module_dir, accounts};
  }
};

// Runs one request (already parsed) and returns the reply object. Never throws.
nlohmann::json HandleRequest(AdminContext* ctx, const nlohmann::json& request);

// Transport (LLD) administration, admin/lld_handlers.cc; HandleRequest routes to these.
// True for --mode system --op lldload | lldunload | lldreload.
bool IsLldRequest(const nlohmann::json& request);
// Runs an lld request: {"lld": NAME, "force": bool, "path": FILE (lldload/lldreload)}.
// Never throws.
nlohmann::json HandleLldRequest(AdminContext* ctx, const nlohmann::json& request);
// For a successful --mode system --op show: adds every transport module to
// result.modules (kind "transport") and result.transports. Other replies pass unchanged.
nlohmann::json AddTransportsToReply(AdminContext* ctx, const nlohmann::json& request,
                                    nlohmann::json reply);

class AdminServer {
 public:
  explicit AdminServer(AdminContext ctx);
  ~AdminServer();
  // Creates the socket (removing a stale one), mode 0600.
  Status Listen(const std::string& path);
  // Serves requests until Stop(). Blocks.
  void Run();
  // Thread-safe.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::admin
