// SPDX-License-Identifier: Apache-2.0
#include "iscsi/options.h"

#include <set>

#include "iscsi/scsi_task.h"

namespace modtgt::iscsi {
namespace {

constexpr uint64_t kMiB = 1u << 20;

// One row: the public description and where the value goes.
struct Row {
  OptionInfo info;
  uint64_t (*get)(const TransportSettings&);
  void (*set)(TransportSettings*, uint64_t);
};

#define MODTGT_FIELD(path) \
  [](const TransportSettings& s) -> uint64_t { return s.path; }, \
      [](TransportSettings* s, uint64_t v) { s->path = static_cast<decltype(s->path)>(v); }

const std::vector<Row>& Rows() {
  static const std::vector<Row> rows = {
      {{"max_sessions", 1, 65535, 0, "", "sessions at once (normal and discovery)"},
       MODTGT_FIELD(resources.max_sessions)},
      {{"max_connections", 1, 1u << 20, 0, "", "TCP connections at once"},
       MODTGT_FIELD(resources.max_connections)},
      {{"max_connections_per_address", 1, 1u << 20, 0, "",
        "connections from one initiator address"},
       MODTGT_FIELD(resources.max_connections_per_address)},
      {{"max_pending_logins", 1, 1u << 20, 0, "",
        "connections not logged in yet (the oldest is dropped beyond it)"},
       MODTGT_FIELD(resources.max_pending_logins)},
      {{"max_pending_logins_per_address", 1, 1u << 20, 0, "",
        "the same, from one initiator address"},
       MODTGT_FIELD(resources.max_pending_logins_per_address)},
      {{"login_timeout", 1, 3600, 0, "s", "time to complete a login"},
       [](const TransportSettings& s) -> uint64_t { return s.resources.login_timeout_ms / 1000; },
       [](TransportSettings* s, uint64_t v) {
         s->resources.login_timeout_ms = static_cast<uint32_t>(v * 1000);
       }},
      {{"max_cmds_per_session", 1, 256, 0, "", "commands in flight per session (CmdSN window)"},
       MODTGT_FIELD(resources.max_cmds_per_session)},
      {{"max_session_data", kMiB, 64ull << 30, 0, "bytes",
        "data buffers of the commands in flight per session"},
       MODTGT_FIELD(resources.max_session_data)},
      {{"max_write_length", 512, 64 * kMiB, 0, "bytes", "largest write command"},
       MODTGT_FIELD(resources.max_write_length)},
      {{"max_recv_data_segment_length", 512, 16777215, 0, "bytes",
        "MaxRecvDataSegmentLength declared (largest data segment received)"},
       MODTGT_FIELD(negotiation.max_recv_data_segment)},
      {{"max_burst_length", 512, 16777215, 0, "bytes", "MaxBurstLength offered"},
       MODTGT_FIELD(negotiation.max_burst_length)},
      {{"first_burst_length", 512, 16777215, 0, "bytes", "FirstBurstLength offered"},
       MODTGT_FIELD(negotiation.first_burst_length)},
      {{"max_outstanding_r2t", 1, kMaxR2tPerTask, 0, "", "MaxOutstandingR2T offered"},
       MODTGT_FIELD(negotiation.max_outstanding_r2t)},
      {{"max_connections_per_session", 1, 16, 0, "", "MaxConnections offered (MC/S)"},
       MODTGT_FIELD(negotiation.max_connections)},
      {{"error_recovery_level", 0, 2, 0, "", "highest ErrorRecoveryLevel offered"},
       MODTGT_FIELD(negotiation.error_recovery_level)},
  };
  return rows;
}

#undef MODTGT_FIELD

}  // namespace

const std::vector<OptionInfo>& TransportOptions() {
  static const std::vector<OptionInfo> infos = [] {
    std::vector<OptionInfo> v;
    const TransportSettings defaults;
    for (const Row& r : Rows()) {
      OptionInfo i = r.info;
      i.default_value = r.get(defaults);
      v.push_back(i);
    }
    return v;
  }();
  return infos;
}

Result<TransportSettings> ParseTransportOptions(
    const std::vector<std::pair<std::string, std::string>>& options) {
  TransportSettings s;
  std::set<std::string> seen;
  for (const auto& [key, value] : options) {
    const Row* row = nullptr;
    for (const Row& r : Rows()) {
      if (key == r.info.key) row = &r;
    }
    if (row == nullptr) {
      std::string known;
      for (const Row& r : Rows()) known += (known.empty() ? "" : ", ") + std::string(r.info.key);
      return Status::InvalidArgument("unknown iscsi option '" + key + "' (known: portal, " +
                                     known + ")");
    }
    if (!seen.insert(key).second) {
      return Status::InvalidArgument("iscsi option '" + key + "' given twice");
    }
    uint64_t n = 0;
    if (!ParseNumber(value, &n) || n < row->info.min || n > row->info.max) {
      return Status::InvalidArgument("iscsi option " + key + "='" + value +
                                     "': want an integer from " + std::to_string(row->info.min) +
                                     " to " + std::to_string(row->info.max));
    }
    row->set(&s, n);
  }
  return s;
}

}  // namespace modtgt::iscsi
