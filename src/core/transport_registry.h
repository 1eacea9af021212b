// SPDX-License-Identifier: Apache-2.0
// TransportRegistry: loads transport modules (lld_NAME.so from <module dir>/transport/),
// checks their entry point (core/transport.h: exact daemon version), creates their
// core::Transport, binds their portals, and unloads them (refused while sessions are
// logged in unless forced: the initiators are then asked to log out first).
//
// The portals given for a transport (--iscsi portal=...) are remembered by name, so
// after an unload, loading the transport again listens on the same addresses (a port 0
// portal gets a new port; Load returns the bound ones).
//
// Threading: thread-safe (internal mutex held for bookkeeping, not while a transport
// runs a blocking call). Load/Unload/Reload run on the admin thread (or the main thread at
// start-up and shutdown). A Transport* from Get() stays valid until that transport is
// unloaded, which only the admin thread (or ShutdownAll) does.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/module_registry.h"
#include "core/transport.h"

namespace modtgt::core {

struct TransportInfo {
  std::string kind = "transport";
  std::string name;         // "iscsi"
  std::string path;         // file
  std::string version;      // the daemon version the module was built for
  std::string description;
  ModuleState state = ModuleState::kLoading;
  std::string error;        // when kError
  Code error_code = Code::kOk;  // when kError: kInvalidArgument for bad settings
  std::vector<std::string> configured_portals;  // as given ("127.0.0.1:0")
  std::vector<std::string> portals;             // bound now
  std::vector<SessionInfo> sessions;
  size_t targets = 0;       // targets reachable through it (every target, today)
  // "portal 127.0.0.1:3260", "session iqn.a (isid 0x..., tsih 1) on tid 1"
  std::vector<std::string> users;
};

class TransportRegistry {
 public:
  // `module_dir` is the module root (the files are module_dir/transport/lld_*.so).
  TransportRegistry(TransportContext ctx, std::string module_dir);
  // Shuts down and unloads every transport (ShutdownAll).
  ~TransportRegistry();
  TransportRegistry(const TransportRegistry&) = delete;
  TransportRegistry& operator=(const TransportRegistry&) = delete;

  // The file of transport `name` in `module_dir`.
  static std::string FileFor(const std::string& module_dir, const std::string& name);

  // Start-up: loads every lld_*.so found, or, when `only` is not empty, just those names.
  // An unknown name is InvalidArgument naming it and listing what exists (nothing is
  // loaded then). A module that is refused or fails to start is NOT an error here: it stays
  // listed in state kError with the reason (the daemon serves the others).
  Status LoadAtStart(const std::vector<std::string>& only);
  // Remembers `portals` for transport `name` and, if it is loaded, listens on them now.
  // Returns the bound addresses (empty if the transport is not loaded).
  Result<std::vector<std::string>> AddPortals(const std::string& name,
                                              const std::vector<std::string>& portals);
  // Stops listening on a portal of transport `name` and forgets it (it is not listened on
  // after an lldload, nor saved). `portal` is a bound address ("127.0.0.1:3260", as
  // Portals() lists it) or a configured one ("0.0.0.0:3260"). Returns the address closed.
  // NotFound when the transport has no such portal.
  Result<std::string> RemovePortal(const std::string& name, const std::string& portal);
  // Closes one connection of the session whose I_T nexus is `nexus_id` (Transport::
  // CloseConnection). NotFound for an unknown session or connection.
  Status CloseConnection(uint64_t nexus_id, uint32_t cid);
  // Loads transport `name` (path empty: FileFor(module dir, name)), or retries one in
  // kError, then listens on its remembered portals. Returns the bound portals. Refusals
  // (no file, not ELF, unresolved dependency — with the dlerror text —, no entry symbol,
  // version mismatch naming both versions, name mismatch, create() failure, a portal that
  // cannot be bound) leave the transport listed in kError with the reason, and return it.
  // AlreadyExists if it is loaded and ready.
  Result<std::vector<std::string>> Load(const std::string& name, const std::string& path = "");
  // Unloads transport `name`: NotFound if unknown. With logged-in sessions and !force:
  // Busy, naming them. With force: asks the initiators to log out (Async Message), waits
  // up to `logout_wait_ms` for them, closes what remains, then Shutdown, delete, dlclose.
  // A transport in kError is simply dropped. `detail` (optional) gets what was done.
  Status Unload(const std::string& name, bool force, std::string* detail = nullptr,
                int logout_wait_ms = 5000);
  // Unload (same rules) then Load from `path` (empty: the same file). If the new file
  // fails, loads the old one again and returns the new file's error.
  Result<std::vector<std::string>> Reload(const std::string& name, const std::string& path,
                                          bool force);
  // The ready transport `name`, or nullptr.
  Transport* Get(const std::string& name) const;
  // True if `name` is a transport of this daemon: listed (ready or in error) or a module
  // file for it is in the module folder. What the admin's --lld NAME is checked against.
  bool Known(const std::string& name) const;
  // The names of the transports listed and of the module files found, sorted, unique.
  std::vector<std::string> KnownNames() const;

  // ---- Across every ready transport (what the admin sees; no transport type leaks) ----
  // Logged-in sessions, each with SessionInfo::transport set.
  std::vector<SessionInfo> Sessions() const;
  // Bound portal addresses.
  std::vector<std::string> Portals() const;
  // Closes the sessions of target tid on every transport (target delete --force).
  void CloseTargetSessions(int tid);
  // Every transport (ready or in error), in load order.
  std::vector<TransportInfo> List() const;
  // The configured portals of every transport name (also of one not loaded now).
  std::map<std::string, std::vector<std::string>> ConfiguredPortals() const;
  // Shuts down and unloads every transport (sessions are closed). Idempotent.
  // With unmap=false the module files stay mapped (the daemon is exiting: timers or
  // closures a module left on the loops must not run unmapped code while the loops stop).
  void ShutdownAll(bool unmap = true);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::core
