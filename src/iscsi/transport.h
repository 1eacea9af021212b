// SPDX-License-Identifier: Apache-2.0
// IscsiTransport: the iSCSI/TCP transport. Listens on portals, accepts connections and
// spreads them across the event loops (round robin), runs login and full feature phase, and
// submits SCSI commands to the core (scsi::Submit) on the connection's loop.
//
// Threading: thread-safe public methods (called from the daemon's main/admin thread);
// each connection and its session state live on one loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "env/event_loop.h"
#include "iscsi/params.h"

namespace modtgt::core {
class TargetRegistry;
}

namespace modtgt::iscsi {

struct SessionInfo {
  uint64_t nexus_id = 0;
  int tid = 0;
  std::string target_name;
  std::string initiator_name;
  std::string isid;        // 12 hex digits
  uint16_t tsih = 0;
  std::vector<std::string> connections;  // "cid 0 127.0.0.1:51234 -> 127.0.0.1:3260"
};

class IscsiTransport {
 public:
  IscsiTransport(std::vector<env::EventLoop*> loops, core::TargetRegistry* targets,
                 TargetLimits limits = TargetLimits());
  ~IscsiTransport();

  // Listens on "ADDR:PORT" ("0.0.0.0:3260", "127.0.0.1:0", "[::1]:0", "[::]:3260");
  // port 0 picks a free port. Returns the bound "ADDR:PORT".
  Result<std::string> AddPortal(const std::string& portal);
  std::vector<std::string> portals() const;  // bound addresses
  std::vector<SessionInfo> Sessions() const;
  // Closes the sessions of target tid (admin target delete --force). Waits (up to 5 s) for
  // them to leave the session table unless called from an event loop thread.
  void CloseTargetSessions(int tid);
  // Asks the initiators of target tid's sessions (tid < 0: every session) to log out within
  // `seconds` (RFC 7143 11.9.1 Async Message, AsyncEvent 1). Does not wait.
  void RequestLogout(int tid, uint16_t seconds);
  // Stops accepting, aborts or finishes in-flight commands, closes every session.
  // Returns when all connections are gone.
  void Shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::iscsi
