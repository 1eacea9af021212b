// SPDX-License-Identifier: Apache-2.0
// Command statistics across the daemon: where the counters live and how they are read.
//
//   per LU       scsi::LogicalUnit::stats, recorded by the transport for every command
//   per session  kept by the transport's session, listed in SessionInfo::stats
//   per portal   PortalStats below: the transport takes the counters of each portal it
//                listens on and records every command that came in through it
//
// CollectStats takes one consistent-enough reading of all of them (each counter is read
// once; they are not frozen together), for `--op stat` and the Prometheus endpoint
// (PrometheusText).
//
// Threading: PortalStats is thread-safe (internal mutex on the admin path only; the
// counters it hands out are recorded without it). The functions are pure.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "scsi/io_stats.h"

namespace modtgt::core {

class TargetRegistry;
class TransportRegistry;

class PortalStats {
 public:
  // The counters of portal `address` ("127.0.0.1:3260") of transport `transport`, created
  // on first use. They stay valid as long as the caller holds them.
  std::shared_ptr<scsi::IoCounters> For(const std::string& transport, const std::string& address);
  // The portal was closed: its counters are no longer listed.
  void Forget(const std::string& transport, const std::string& address);

  struct Entry {
    std::string transport;
    std::string address;
    scsi::IoCountersSnapshot stats;
  };
  std::vector<Entry> List() const;  // by transport, then address

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<scsi::IoCounters>> counters_;
};

struct LunStats {
  int tid = 0;
  std::string target;
  uint64_t lun = 0;
  scsi::IoCountersSnapshot stats;
};

struct SessionStats {
  int tid = 0;
  std::string target;
  uint64_t sid = 0;  // the I_T nexus id (tgtadm's --sid)
  std::string initiator;
  std::string transport;
  scsi::IoCountersSnapshot stats;
};

struct StatsReport {
  std::vector<LunStats> luns;          // by tid, then LUN
  std::vector<SessionStats> sessions;  // by tid, then sid
  std::vector<PortalStats::Entry> portals;
  // Sums over the LUs (every command of every session reached one LU or none: commands to
  // a LUN that does not exist count in the sessions and portals only).
  scsi::IoCountersSnapshot total;
};

// Reads every counter. `tid` >= 1 restricts LUs and sessions to that target (portals are
// then left out); `lun` >= 0 restricts LUs to that LUN. Any pointer may be null.
StatsReport CollectStats(const TargetRegistry* targets, const TransportRegistry* transports,
                         const PortalStats* portals, int tid = 0, int64_t lun = -1);

// The Prometheus text exposition format (version 0.0.4) of a report: counters
// modtgt_{lun,session,portal}_{commands,bytes,errors}_total and the histogram
// modtgt_{lun,session,portal}_latency_seconds.
std::string PrometheusText(const StatsReport& report);

}  // namespace modtgt::core
