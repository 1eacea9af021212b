// SPDX-License-Identifier: Apache-2.0
// Command statistics. See stats.h.
#include "core/stats.h"

#include <algorithm>
#include <cstdio>

#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::core {

std::shared_ptr<scsi::IoCounters> PortalStats::For(const std::string& transport,
                                                   const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  std::shared_ptr<scsi::IoCounters>& c = counters_[{transport, address}];
  if (c == nullptr) c = std::make_shared<scsi::IoCounters>();
  return c;
}

void PortalStats::Forget(const std::string& transport, const std::string& address) {
  std::lock_guard<std::mutex> l(mu_);
  counters_.erase({transport, address});
}

std::vector<PortalStats::Entry> PortalStats::List() const {
  std::lock_guard<std::mutex> l(mu_);
  std::vector<Entry> out;
  for (const auto& [key, c] : counters_) out.push_back({key.first, key.second, c->Snapshot()});
  return out;
}

StatsReport CollectStats(const TargetRegistry* targets, const TransportRegistry* transports,
                         const PortalStats* portals, int tid, int64_t lun) {
  StatsReport r;
  if (targets != nullptr) {
    for (const auto& t : targets->List()) {
      if (tid > 0 && t->tid() != tid) continue;
      for (const auto& [n, lu] : *t->luns()) {
        if (lun >= 0 && n != static_cast<uint64_t>(lun)) continue;
        LunStats s{t->tid(), t->name(), n, lu->stats.Snapshot()};
        r.total.Add(s.stats);
        r.luns.push_back(std::move(s));
      }
    }
  }
  if (transports != nullptr) {
    for (const SessionInfo& si : transports->Sessions()) {
      if (si.tid <= 0 || (tid > 0 && si.tid != tid)) continue;  // discovery sessions: no I/O
      r.sessions.push_back({si.tid, si.target_name, si.nexus_id, si.initiator_name, si.transport,
                            si.stats});
    }
    std::sort(r.sessions.begin(), r.sessions.end(), [](const SessionStats& a, const SessionStats& b) {
      return a.tid != b.tid ? a.tid < b.tid : a.sid < b.sid;
    });
  }
  if (portals != nullptr && tid <= 0) r.portals = portals->List();
  return r;
}

namespace {

// Label values: backslash, double quote and newline escaped (exposition format 0.0.4).
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

std::string LabelText(const Labels& labels, const std::string& extra_key = "",
                      const std::string& extra_value = "") {
  std::string s = "{";
  for (const auto& [k, v] : labels) {
    if (s.size() > 1) s += ",";
    s += k + "=\"" + Escape(v) + "\"";
  }
  if (!extra_key.empty()) {
    if (s.size() > 1) s += ",";
    s += extra_key + "=\"" + Escape(extra_value) + "\"";
  }
  return s + "}";
}

std::string Seconds(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6f", static_cast<double>(us) / 1e6);
  return buf;
}

// One family (lun, session, portal): its HELP/TYPE lines once, then every series.
void Family(const std::string& kind, const std::vector<std::pair<Labels, scsi::IoCountersSnapshot>>& rows,
            std::string* out) {
  const std::string p = "modtgt_" + kind + "_";
  *out += "# HELP " + p + "commands_total SCSI commands finished, by data direction.\n";
  *out += "# TYPE " + p + "commands_total counter\n";
  for (const auto& [l, c] : rows) {
    *out += p + "commands_total" + LabelText(l, "direction", "read") + " " + std::to_string(c.read_cmds) + "\n";
    *out += p + "commands_total" + LabelText(l, "direction", "write") + " " + std::to_string(c.write_cmds) + "\n";
    *out += p + "commands_total" + LabelText(l, "direction", "none") + " " + std::to_string(c.other_cmds) + "\n";
  }
  *out += "# HELP " + p + "bytes_total Data bytes moved (read: Data-In, write: Data-Out).\n";
  *out += "# TYPE " + p + "bytes_total counter\n";
  for (const auto& [l, c] : rows) {
    *out += p + "bytes_total" + LabelText(l, "direction", "read") + " " + std::to_string(c.read_bytes) + "\n";
    *out += p + "bytes_total" + LabelText(l, "direction", "write") + " " + std::to_string(c.write_bytes) + "\n";
  }
  *out += "# HELP " + p + "errors_total Commands that ended with a status other than GOOD.\n";
  *out += "# TYPE " + p + "errors_total counter\n";
  for (const auto& [l, c] : rows) {
    *out += p + "errors_total" + LabelText(l) + " " + std::to_string(c.errors) + "\n";
  }
  *out += "# HELP " + p + "latency_seconds Time from the command's arrival to its response.\n";
  *out += "# TYPE " + p + "latency_seconds histogram\n";
  for (const auto& [l, c] : rows) {
    uint64_t cumulative = 0;
    for (int i = 0; i < scsi::kLatencyBuckets; i++) {
      cumulative += c.latency[i];
      std::string le = i == scsi::kLatencyBuckets - 1 ? "+Inf" : Seconds(scsi::LatencyBucketBoundUs(i));
      *out += p + "latency_seconds_bucket" + LabelText(l, "le", le) + " " + std::to_string(cumulative) + "\n";
    }
    *out += p + "latency_seconds_sum" + LabelText(l) + " " + Seconds(c.latency_us_sum) + "\n";
    *out += p + "latency_seconds_count" + LabelText(l) + " " + std::to_string(c.commands()) + "\n";
  }
}

}  // namespace

std::string PrometheusText(const StatsReport& report) {
  std::string out;
  std::vector<std::pair<Labels, scsi::IoCountersSnapshot>> rows;
  for (const auto& l : report.luns) {
    rows.push_back({{{"tid", std::to_string(l.tid)}, {"target", l.target}, {"lun", std::to_string(l.lun)}},
                    l.stats});
  }
  Family("lun", rows, &out);
  rows.clear();
  for (const auto& s : report.sessions) {
    rows.push_back({{{"tid", std::to_string(s.tid)},
                     {"target", s.target},
                     {"sid", std::to_string(s.sid)},
                     {"initiator", s.initiator}},
                    s.stats});
  }
  Family("session", rows, &out);
  rows.clear();
  for (const auto& p : report.portals) {
    rows.push_back({{{"transport", p.transport}, {"portal", p.address}}, p.stats});
  }
  Family("portal", rows, &out);
  return out;
}

}  // namespace modtgt::core
