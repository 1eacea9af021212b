// SPDX-License-Identifier: Apache-2.0
// IscsiTransport: the iSCSI/TCP transport (core::Transport), built as the module
// lld_iscsi.so (entry point in lld_entry.cc). Listens on portals, accepts connections and
// spreads them across the event loops (round robin), runs login and full feature phase, and
// submits SCSI commands to the core (scsi::Submit) on the connection's loop.
//
// Connection limits (ResourceLimits, options.h) are applied at accept: beyond
// max_connections or max_connections_per_address a new connection is closed at once;
// beyond max_pending_logins(_per_address) the oldest connection still in login (of that
// address, or of the address with the most) is dropped to make room.
//
// Threading: thread-safe public methods (called from the daemon's main/admin thread);
// each connection and its session state live on one loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "core/transport.h"
#include "env/event_loop.h"
#include "iscsi/options.h"
#include "iscsi/params.h"

namespace modtgt::iscsi {

// The session listing type is the core's (core/transport.h); kept under this name for the
// iSCSI code and its tests.
using SessionInfo = core::SessionInfo;

class IscsiTransport final : public core::Transport {
 public:
  // accounts (CHAP; may be null: no authentication) and targets outlive the transport.
  IscsiTransport(std::vector<env::EventLoop*> loops, core::TargetRegistry* targets,
                 core::AccountRegistry* accounts = nullptr,
                 TransportSettings settings = TransportSettings());
  ~IscsiTransport() override;

  std::string name() const override { return "iscsi"; }

  // Listens on "ADDR:PORT" ("0.0.0.0:3260", "127.0.0.1:0", "[::1]:0", "[::]:3260");
  // port 0 picks a free port. Returns the bound "ADDR:PORT".
  Result<std::string> AddPortal(const std::string& portal) override;
  std::vector<std::string> portals() const override;  // bound addresses
  Status RemovePortal(const std::string& portal) override;
  void StopListening() override;
  Status CloseConnection(uint64_t nexus_id, uint32_t cid) override;
  // Where each portal's command counters come from (may be null: no portal counters).
  // REQUIRES: before the first AddPortal.
  void SetPortalStats(core::PortalStats* stats);
  std::vector<SessionInfo> Sessions() const override;
  // Closes the sessions of target tid (admin target delete --force). Waits (up to 5 s) for
  // them to leave the session table unless called from an event loop thread.
  void CloseTargetSessions(int tid) override;
  // Asks the initiators of target tid's sessions (tid < 0: every session) to log out within
  // `seconds` (RFC 7143 11.9.1 Async Message, AsyncEvent 1). Does not wait.
  void RequestLogout(int tid, uint16_t seconds) override;
  // Stops accepting, aborts or finishes in-flight commands, closes every session.
  // Returns when all connections are gone.
  void Shutdown() override;

  // Waits until at most `count` connections are left (a connection leaves once it is
  // closed, its commands are back from the core and its session has ended). Returns false
  // if that takes longer than `timeout_ms`. REQUIRES: not on one of the transport's loops.
  bool WaitForConnectionsForTest(size_t count, int timeout_ms);
  // Connections open now, and those of them still in login.
  size_t ConnectionCountForTest() const;
  size_t PendingLoginCountForTest() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::iscsi
