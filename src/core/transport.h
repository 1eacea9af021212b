// SPDX-License-Identifier: Apache-2.0
// core::Transport: what the core and the admin see of a transport (LLD), and the entry
// point of a transport module (lld_NAME.so in <module dir>/transport/).
//
// Transport modules are in-tree only and pinned to the exact daemon version (DESIGN.md,
// "Modules"): unlike backing stores they are C++ code built against the daemon's headers
// and they link the same libmodtgt-core.so as modtgtd, so C++ types (this interface,
// TargetRegistry, env::EventLoop) cross the boundary. The loader (core/transport_registry.h)
// checks the module's entry struct, whose layout never changes, BEFORE any C++ type is
// exchanged: a module built for another daemon version is refused naming both versions.
//
// Threading: Transport's methods are thread-safe; they are called from the daemon's main
// thread and the admin thread. Each transport runs its connections on the event loops it
// was given. After Shutdown() returns, the transport must not touch any loop again and
// must leave no thread, timer or posted closure behind (its code is about to be dlclosed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "scsi/io_stats.h"

namespace modtgt::env {
class EventLoop;
}

namespace modtgt::core {

class AccountRegistry;
class PortalStats;
class TargetRegistry;

// One connection of a session (tgtadm --mode conn --op show).
struct ConnectionInfo {
  uint32_t cid = 0;
  std::string peer;       // "127.0.0.1:51234" ([v6]:port for IPv6)
  std::string peer_ip;    // "127.0.0.1" (tgt's "IP Address")
  std::string local;      // the portal address it came in on, "127.0.0.1:3260"
};

// One logged-in session of a transport (for listings, unload refusals, target delete).
struct SessionInfo {
  std::string transport;   // "iscsi" (set by TransportRegistry::Sessions)
  uint64_t nexus_id = 0;
  int tid = 0;
  std::string target_name;
  std::string initiator_name;
  std::string isid;        // 12 hex digits (iSCSI)
  uint16_t tsih = 0;
  std::vector<std::string> connections;  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
  std::vector<ConnectionInfo> conns;     // the same, as fields
  std::string initiator_alias;           // InitiatorAlias, "" if none
  scsi::IoCountersSnapshot stats;        // the session's commands so far
};

// What the daemon hands a transport when it is created. The pointers outlive the
// transport (the registry destroys transports before the loops and the targets).
struct TransportContext {
  std::vector<env::EventLoop*> loops;  // at least one
  TargetRegistry* targets = nullptr;
  // CHAP accounts and their bindings (core/accounts.h); may be null: no authentication.
  AccountRegistry* accounts = nullptr;
  // Per-portal command counters (core/stats.h); may be null: portals are not counted.
  PortalStats* portal_stats = nullptr;
  // Transport settings by transport name, in command-line order: options["iscsi"] holds
  // the KEY=VALUE pairs of `modtgtd --iscsi KEY=VALUE` other than portal= (the portals go
  // through AddPortal). A transport refuses to start on a key or value it does not accept.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> options;
};

class Transport {
 public:
  virtual ~Transport();
  // "iscsi": the module's name (lld_NAME.so).
  virtual std::string name() const = 0;
  // Listens on "ADDR:PORT" ("0.0.0.0:3260", "127.0.0.1:0", "[::1]:0"); port 0 picks a free
  // port. Returns the bound "ADDR:PORT".
  virtual Result<std::string> AddPortal(const std::string& portal) = 0;
  virtual std::vector<std::string> portals() const = 0;  // bound addresses
  // Stops listening on the bound portal `portal` ("ADDR:PORT" as portals() gives it); the
  // sessions that came in through it go on. NotFound when no such portal is bound.
  virtual Status RemovePortal(const std::string& portal) {
    return Status::Unsupported("transport " + name() + " cannot close a portal at run time");
  }
  // Closes every portal for good: no new connection is accepted; logged-in sessions go
  // on. Used before asking initiators to log out (forced unload), so they cannot log
  // straight back in; Shutdown() follows.
  virtual void StopListening() = 0;
  virtual std::vector<SessionInfo> Sessions() const = 0;
  // Logged-in sessions (Sessions().size(), cheaper where a transport can).
  virtual size_t ActiveSessions() const { return Sessions().size(); }
  // Closes the sessions of target tid (target delete --force). May wait (bounded).
  virtual void CloseTargetSessions(int tid) = 0;
  // Closes connection `cid` of the session whose I_T nexus is `nexus_id` (tgtadm --mode
  // conn --op delete --sid S --cid C); a session left without connections ends. NotFound
  // when there is no such session or connection. Does not wait.
  virtual Status CloseConnection(uint64_t nexus_id, uint32_t cid) {
    return Status::Unsupported("transport " + name() + " cannot close one connection");
  }
  // Asks the initiators of target tid's sessions (tid < 0: every session) to log out within
  // `seconds` (iSCSI: RFC 7143 11.9.1 Async Message, AsyncEvent 1). Does not wait.
  virtual void RequestLogout(int tid, uint16_t seconds) = 0;
  // Stops accepting, finishes or aborts in-flight commands, closes every connection.
  // Returns when all connections are gone. Idempotent.
  virtual void Shutdown() = 0;
};

// ---- The module entry point ----
//
// A transport module exports exactly one symbol, kTransportEntrySymbol, a function
// returning a pointer to a static TransportEntry. The loader reads struct_size and
// daemon_version (plain C, layout frozen) and refuses the module unless daemon_version is
// exactly the daemon's MODTGT_PACKAGE_VERSION and struct_size matches; only then does it
// call create().
inline constexpr char kTransportEntrySymbol[] = "modtgt_transport_entry";

struct TransportEntry {
  uint32_t struct_size;        // sizeof(TransportEntry) when the module was built
  const char* daemon_version;  // MODTGT_PACKAGE_VERSION the module was built with
  const char* name;            // "iscsi": must match the file name lld_NAME.so
  const char* description;     // one line, for listings
  // Creates the transport. On failure returns nullptr and sets *error (kInvalidArgument
  // when the settings in ctx->options are wrong: the daemon's command line is then at
  // fault). Called on the main or admin thread; ctx and its pointers outlive the transport.
  Transport* (*create)(const TransportContext* ctx, Status* error);
};

using TransportEntryFn = const TransportEntry* (*)();

}  // namespace modtgt::core
