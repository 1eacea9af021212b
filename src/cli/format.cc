// SPDX-License-Identifier: Apache-2.0
// modtgtadm output formatting. See format.h. The layouts are tgtadm 1.0.x's, line for line
// (docs/tgt-compat.md lists where the values differ and why); what only modtgt knows comes
// in extra lines a tgtadm parser skips: "Key: value" lines inside a LUN block after tgtadm's
// own, and whole sections after tgtadm's in `system show`.
#include "cli/format.h"

#include <cinttypes>
#include <cstdio>
#include <string>

namespace modtgt::cli {

namespace {

using nlohmann::json;

std::string Str(const json& j, const char* key, const std::string& dflt = "") {
  if (!j.is_object() || !j.contains(key)) return dflt;
  const json& v = j.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return dflt;
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t U64(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return 0;
  const json& v = j.at(key);
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) {
    int64_t n = v.get<int64_t>();
    return n < 0 ? 0 : static_cast<uint64_t>(n);
  }
  return 0;
}

bool Bool(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j.at(key).is_boolean() && j.at(key).get<bool>();
}

const json& Arr(const json& j, const char* key) {
  static const json kEmpty = json::array();
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_array()) return kEmpty;
  return j.at(key);
}

const json& Obj(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_object()) return kEmpty;
  return j.at(key);
}

const char* YesNo(bool b) { return b ? "Yes" : "No"; }

void Line(std::string* out, int indent, const std::string& text) {
  out->append(static_cast<size_t>(indent) * 4, ' ');
  out->append(text);
  out->push_back('\n');
}

std::string Join(const json& list) {
  std::string s;
  for (const json& v : list) {
    if (v.is_string()) s += (s.empty() ? "" : ", ") + v.get<std::string>();
  }
  return s;
}

// tgtadm's "Size: N MB": its own rounding of the byte count to decimal megabytes.
uint64_t TgtMegabytes(uint64_t bytes) {
  const uint64_t sectors = bytes / 512;
  return (sectors - sectors / 625 + 974) / 1950;
}

// tgtadm's "Backing store flags": "sync", "direct", "sync:direct".
std::string TgtOflags(const std::string& modtgt_flags) {
  const bool sync = modtgt_flags.find("sync") != std::string::npos;
  const bool direct = modtgt_flags.find("direct") != std::string::npos;
  if (sync && direct) return "sync:direct";
  return sync ? "sync" : direct ? "direct" : "";
}

// The LUN block of tgtadm's target show, then modtgt's own lines.
void FormatLun(const json& lu, int indent, std::string* out) {
  Line(out, indent, "LUN: " + std::to_string(U64(lu, "lun")));
  const int in = indent + 1;
  std::string type = Str(lu, "device_type", Str(lu, "type", "disk"));
  Line(out, in, "Type: " + (type == "cd" ? std::string("cd/dvd") : type));
  Line(out, in, "SCSI ID: " + Str(lu, "scsi_id"));
  Line(out, in, "SCSI SN: " + Str(lu, "scsi_sn"));
  const uint64_t size = U64(lu, "size_bytes");
  Line(out, in, "Size: " + std::to_string(TgtMegabytes(size)) +
                    " MB, Block size: " + std::to_string(U64(lu, "block_size")));
  const bool online = !lu.is_object() || !lu.contains("online") || Bool(lu, "online");
  Line(out, in, std::string("Online: ") + YesNo(online));
  Line(out, in, std::string("Removable media: ") + YesNo(Bool(lu, "removable")));
  Line(out, in, std::string("Prevent removal: ") + YesNo(Bool(lu, "prevent_removal")));
  Line(out, in, std::string("Readonly: ") + YesNo(Bool(lu, "readonly")));
  Line(out, in, std::string("SWP: ") + YesNo(Bool(lu, "swp")));
  Line(out, in, std::string("Thin-provisioning: ") + YesNo(Bool(lu, "thin_provisioning")));
  Line(out, in, "Backing store type: " + Str(lu, "bstype", "None"));
  Line(out, in, "Backing store path: " + Str(lu, "backing_store", "None"));
  Line(out, in, "Backing store flags: " + TgtOflags(Str(lu, "bsoflags")));
  // ---- modtgt's own lines ----
  if (!online && !Str(lu, "offline_reason").empty()) {
    Line(out, in, "Offline reason: " + Str(lu, "offline_reason"));
  }
  if (lu.is_object() && lu.contains("alua_state")) {
    Line(out, in, "ALUA state: " + Str(lu, "alua_state") + " (lock holder group " +
                      std::to_string(U64(lu, "alua_holder")) + ")");
  }
  std::string bsopts = Str(lu, "bsopts");
  if (!bsopts.empty()) Line(out, in, "Backing store options: " + bsopts);
  Line(out, in, "Size in bytes: " + std::to_string(size));
  Line(out, in, "Vendor: " + Str(lu, "vendor_id") + ", Product: " + Str(lu, "product_id") +
                    ", Revision: " + Str(lu, "product_rev"));
  Line(out, in, "NAA: " + Str(lu, "naa"));
  Line(out, in, std::string("Write cache: ") + YesNo(Bool(lu, "write_cache")));
  Line(out, in, std::string("Sense format: ") + (U64(lu, "sense_format") ? "descriptor" : "fixed"));
  if (lu.is_object() && lu.contains("medium_present")) {
    Line(out, in, std::string("Medium present: ") + YesNo(Bool(lu, "medium_present")));
  }
  std::string wwn = Str(lu, "wwn");
  if (!wwn.empty()) Line(out, in, "WWN: " + wwn);
  Line(out, in, "Max transfer length: " + std::to_string(U64(lu, "hw_max_sectors")) +
                    " blocks (hw_max_sectors; 0 = default)");
  uint64_t data_area = U64(lu, "max_data_area_mb");
  if (data_area != 0) Line(out, in, "Max data area: " + std::to_string(data_area) + " MB");
  if (lu.is_object() && lu.contains("lock") && lu.at("lock").is_object()) {
    const json& lock = lu.at("lock");
    Line(out, in, std::string("Cluster lock: ") +
                      (Bool(lock, "supported") ? Str(lock, "state") : "not supported"));
  }
  if (lu.is_object() && lu.contains("events") && lu.at("events").is_object()) {
    const json& ev = lu.at("events");
    std::string s = "Events: lock lost " + std::to_string(U64(ev, "lock_lost")) +
                    ", connection lost " + std::to_string(U64(ev, "conn_lost")) +
                    ", restored " + std::to_string(U64(ev, "conn_restored")) +
                    (Bool(ev, "connected") ? ", connected" : ", DISCONNECTED");
    std::string last = Str(ev, "last");
    if (!last.empty()) s += " (last: " + last + ")";
    Line(out, in, s);
  }
}

std::string Alias(const json& s) {
  std::string a = Str(s, "alias");
  return a.empty() ? "none" : a;
}

void FormatTarget(const json& t, std::string* out) {
  Line(out, 0, "Target " + std::to_string(U64(t, "tid")) + ": " + Str(t, "name"));
  Line(out, 1, "System information:");
  Line(out, 2, "Driver: " + Str(t, "driver", "iscsi"));
  Line(out, 2, "State: " + Str(t, "state", "ready"));
  std::string alias = Str(t, "alias");
  if (!alias.empty()) Line(out, 2, "Alias: " + alias);
  const std::string alua = Str(t, "alua");
  if (!alua.empty() && alua != "off") Line(out, 2, "ALUA: " + alua);
  Line(out, 1, "I_T nexus information:");
  for (const json& n : Arr(t, "nexuses")) {
    Line(out, 2, "I_T nexus: " + std::to_string(U64(n, "nexus_id")));
    Line(out, 3, "Initiator: " + Str(n, "initiator") + " alias: " + Alias(n));
    for (const json& c : Arr(n, "conns")) {
      Line(out, 3, "Connection: " + std::to_string(U64(c, "cid")));
      Line(out, 4, "IP Address: " + Str(c, "ip"));
    }
  }
  Line(out, 1, "LUN information:");
  for (const json& lu : Arr(t, "luns")) FormatLun(lu, 2, out);
  Line(out, 1, "Account information:");
  for (const json& a : Arr(t, "accounts")) {
    Line(out, 2, a.is_string() ? a.get<std::string>() : a.dump());
  }
  Line(out, 1, "ACL information:");
  const json& acl = Obj(t, "acl");
  for (const json& a : Arr(acl, "addresses")) {
    if (a.is_string()) Line(out, 2, a.get<std::string>());
  }
  for (const json& n : Arr(acl, "names")) {
    if (n.is_string()) Line(out, 2, n.get<std::string>());
  }
}

// tgtadm --mode target --op show --tid T: the target's parameters, one "key=value" a line.
void FormatTargetParams(const json& t, std::string* out) {
  for (const json& p : Arr(t, "iscsi_params")) {
    out->append(Str(p, "name") + "=" + Str(p, "value") + "\n");
  }
}

void FormatSystem(const json& r, std::string* out) {
  // tgtadm's sections.
  Line(out, 0, "System:");
  Line(out, 1, "State: " + Str(r, "state", "ready"));
  Line(out, 1, std::string("debug: ") + (Bool(r, "debug") ? "on" : "off"));
  Line(out, 0, "LLDs:");
  const json& llds = r.is_object() && r.contains("llds") ? Arr(r, "llds") : Arr(r, "transports");
  for (const json& t : llds) {
    std::string s = Str(t, "name") + ": " + Str(t, "state");
    std::string err = Str(t, "error");
    if (!err.empty()) s += " (" + err + ")";
    Line(out, 1, s);
  }
  Line(out, 0, "Backing stores:");
  for (const json& m : Arr(r, "modules")) {
    if (Str(m, "kind", "backing-store") == "transport") continue;  // listed under LLDs
    Line(out, 1, Str(m, "name"));
  }
  Line(out, 0, "Device types:");
  const json& types = Arr(r, "device_types");
  if (types.empty()) {
    Line(out, 1, "disk");
    Line(out, 1, "cd/dvd");
  }
  for (const json& d : types) {
    if (d.is_string()) Line(out, 1, d.get<std::string>());
  }
  // modtgt has no iSNS client: these say it is off, as tgt's parsers expect to read.
  Line(out, 0, "iSNS:");
  Line(out, 1, "iSNS=Off");
  Line(out, 1, "iSNSServerIP=");
  Line(out, 1, "iSNSServerPort=3205");
  Line(out, 1, "iSNSAccessControl=Off");
  // ---- modtgt's sections ----
  Line(out, 0, "Daemon:");
  Line(out, 1, "Version: " + Str(r, "version"));
  Line(out, 1, "Daemon pid: " + std::to_string(U64(r, "pid")));
  Line(out, 1, "Threads: " + std::to_string(U64(r, "threads")));
  std::string metrics = Str(r, "metrics");
  if (!metrics.empty()) Line(out, 1, "Metrics: http://" + metrics + "/metrics");
  Line(out, 0, "Portals:");
  for (const json& p : Arr(r, "portals")) {
    if (p.is_string()) Line(out, 1, p.get<std::string>());
  }
  Line(out, 0, "Modules:");
  for (const json& t : Arr(r, "transports")) {
    std::string s = Str(t, "name") + ": " + Str(t, "state");
    std::string err = Str(t, "error");
    if (!err.empty()) s += " (" + err + ")";
    std::string ver = Str(t, "version");
    if (!ver.empty()) s += ", version " + ver;
    Line(out, 1, s);
    Line(out, 2, "Kind: transport");
    std::string path = Str(t, "path");
    if (!path.empty()) Line(out, 2, "Path: " + path);
    std::string portals = Join(Arr(t, "portals"));
    if (!portals.empty()) Line(out, 2, "Portals: " + portals);
    Line(out, 2, "Sessions: " + std::to_string(Arr(t, "sessions").size()));
  }
  for (const json& m : Arr(r, "modules")) {
    if (Str(m, "kind", "backing-store") == "transport") continue;
    std::string s = Str(m, "name") + ": " + Str(m, "state");
    std::string err = Str(m, "error");
    if (!err.empty()) s += " (" + err + ")";
    std::string ver = Str(m, "version");
    if (!ver.empty()) s += ", version " + ver;
    uint64_t abi = U64(m, "abi_version");
    if (abi) s += ", abi " + std::to_string(abi >> 16) + "." + std::to_string(abi & 0xffff);
    Line(out, 1, s);
    Line(out, 2, "Kind: " + Str(m, "kind", "backing-store"));
    std::string path = Str(m, "path");
    if (!path.empty()) Line(out, 2, "Path: " + path);
    std::string cfg = Str(m, "cfg_desc");
    if (!cfg.empty()) Line(out, 2, "Config: " + cfg);
    std::string caps = Join(Arr(m, "capabilities"));
    if (!caps.empty()) Line(out, 2, "Capabilities: " + caps);
    std::string users = Join(Arr(m, "users"));
    if (!users.empty()) Line(out, 2, "Users: " + users);
  }
  Line(out, 0, "Targets:");
  for (const json& t : Arr(r, "targets")) {
    Line(out, 1, "Target " + std::to_string(U64(t, "tid")) + ": " + Str(t, "name") + " (" +
                     std::to_string(U64(t, "luns")) + " LUNs, " +
                     std::to_string(U64(t, "sessions")) + " sessions)");
  }
}

// tgtadm --mode conn --op show: "Session: S", its connections, initiator and address.
void FormatConns(const json& r, std::string* out) {
  for (const json& s : Arr(r, "sessions")) {
    Line(out, 0, "Session: " + std::to_string(U64(s, "sid")));
    for (const json& c : Arr(s, "conns")) {
      Line(out, 1, "Connection: " + std::to_string(U64(c, "cid")));
      Line(out, 2, "Initiator: " + Str(s, "initiator"));
      Line(out, 2, "IP Address: " + Str(c, "ip"));
    }
  }
}

// --mode session --op show (tgtadm answers "invalid request" for iSCSI; modtgt lists them).
void FormatSessions(const json& r, std::string* out) {
  for (const json& s : Arr(r, "sessions")) {
    Line(out, 0, "Session: " + std::to_string(U64(s, "sid")));
    Line(out, 1, "Target: " + std::to_string(U64(s, "tid")) + " " + Str(s, "target"));
    Line(out, 1, "Initiator: " + Str(s, "initiator") + " alias: " + Alias(s));
    Line(out, 1, "ISID: " + Str(s, "isid") + ", TSIH: " + std::to_string(U64(s, "tsih")));
    for (const json& c : Arr(s, "conns")) {
      Line(out, 1, "Connection: " + std::to_string(U64(c, "cid")));
      Line(out, 2, "IP Address: " + Str(c, "ip"));
      Line(out, 2, "Address: " + Str(c, "peer") + " -> " + Str(c, "local"));
    }
  }
}

void FormatLlds(const json& r, std::string* out) {
  Line(out, 0, "LLDs:");
  for (const json& l : Arr(r, "llds")) {
    std::string s = Str(l, "name") + ": " + Str(l, "state");
    std::string err = Str(l, "error");
    if (!err.empty()) s += " (" + err + ")";
    Line(out, 1, s);
    for (const json& t : Arr(l, "targets")) {
      Line(out, 2, "Target " + std::to_string(U64(t, "tid")) + ": " + Str(t, "name"));
    }
  }
}

std::string Cell(uint64_t v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), " %*" PRIu64, width, v);
  return buf;
}

std::string Column(const std::string& s, int width) {
  std::string out = s.size() < static_cast<size_t>(width) ? std::string(width - s.size(), ' ') : "";
  return out + s;
}

// One row of tgtadm's stat table: tgt, lun, sid, then bytes/commands read (submitted and
// done: modtgt counts finished commands, so both are the same), written, errors.
std::string StatRow(const std::string& tid, const std::string& lun, const std::string& sid,
                    const json& c) {
  std::string row = Column(tid, 3) + " " + Column(lun, 3) + " " + Column(sid, 3);
  for (int i = 0; i < 2; i++) row += Cell(U64(c, "read_bytes"), 12) + Cell(U64(c, "read_cmds"), 6);
  for (int i = 0; i < 2; i++) row += Cell(U64(c, "write_bytes"), 12) + Cell(U64(c, "write_cmds"), 6);
  return row + Cell(U64(c, "errors"), 4) + "\n";
}

// Latency: "N cmds, mean M us, 50% <= X us, 99% <= Y us".
std::string LatencySummary(const json& c) {
  const uint64_t n = U64(c, "commands");
  if (n == 0) return "no commands";
  std::string s = std::to_string(n) + " commands, mean " +
                  std::to_string(U64(c, "latency_us_sum") / n) + " us";
  uint64_t seen = 0;
  bool p50 = false, p99 = false;
  for (const json& b : Arr(c, "latency_buckets")) {
    seen += U64(b, "count");
    const std::string bound = b.is_object() && b.contains("le_us") && b.at("le_us").is_number()
                                  ? "<= " + std::to_string(U64(b, "le_us")) + " us"
                                  : "> 8 s";
    if (!p50 && seen * 2 >= n) {
      s += ", 50% " + bound;
      p50 = true;
    }
    if (!p99 && seen * 100 >= n * 99) {
      s += ", 99% " + bound;
      p99 = true;
    }
  }
  return s;
}

void FormatStats(const json& r, std::string* out) {
  out->append("tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) "
              "wr_done(bytes,cmds) errs\n");
  for (const json& l : Arr(r, "luns")) {
    out->append(StatRow(std::to_string(U64(l, "tid")), std::to_string(U64(l, "lun")), "-",
                        Obj(l, "stats")));
  }
  for (const json& s : Arr(r, "sessions")) {
    out->append(StatRow(std::to_string(U64(s, "tid")), "-", std::to_string(U64(s, "sid")),
                        Obj(s, "stats")));
  }
  // ---- modtgt's own lines ----
  const json& portals = Arr(r, "portals");
  if (!portals.empty()) {
    Line(out, 0, "Portals:");
    for (const json& p : portals) {
      const json& c = Obj(p, "stats");
      Line(out, 1, Str(p, "transport") + " " + Str(p, "portal") + ": read " +
                       std::to_string(U64(c, "read_bytes")) + " bytes (" +
                       std::to_string(U64(c, "read_cmds")) + " cmds), written " +
                       std::to_string(U64(c, "write_bytes")) + " bytes (" +
                       std::to_string(U64(c, "write_cmds")) + " cmds), other " +
                       std::to_string(U64(c, "other_cmds")) + " cmds, errors " +
                       std::to_string(U64(c, "errors")));
    }
  }
  Line(out, 0, "Latency:");
  for (const json& l : Arr(r, "luns")) {
    Line(out, 1, "tid " + std::to_string(U64(l, "tid")) + " lun " + std::to_string(U64(l, "lun")) +
                     ": " + LatencySummary(Obj(l, "stats")));
  }
  for (const json& s : Arr(r, "sessions")) {
    Line(out, 1, "tid " + std::to_string(U64(s, "tid")) + " sid " + std::to_string(U64(s, "sid")) +
                     ": " + LatencySummary(Obj(s, "stats")));
  }
  if (r.is_object() && r.contains("total")) {
    Line(out, 1, "total: " + LatencySummary(Obj(r, "total")));
  }
}

// The text after a change, or "" when tgtadm prints nothing.
std::string FormatChange(const json& request, const json& result) {
  const std::string mode = Str(request, "mode");
  const std::string op = Str(request, "op");
  if (mode == "system" && (op == "bsload" || op == "bsreload") && result.is_object() &&
      result.contains("module") && result.at("module").is_object()) {
    const json& m = result.at("module");
    return "Backing store " + Str(m, "name") + " " + (op == "bsload" ? "loaded" : "reloaded") +
           ": " + Str(m, "state") + ", version " + Str(m, "version") + " (" + Str(m, "path") + ")\n";
  }
  if (mode == "logicalunit" && op == "check") return "ok\n";
  if (mode == "system" && op == "dump") {
    // The running configuration, as the state file holds it.
    if (result.contains("config_text") && result.at("config_text").is_string()) {
      return result.at("config_text").get<std::string>();
    }
    return Obj(result, "config").dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  }
  if (mode == "system" && (op == "restore" || op == "import")) {
    const bool dry = Bool(result, "dry_run");
    std::string text;
    for (const json& a : Arr(result, "actions")) {
      if (a.is_string()) text += (dry ? "would " : "") + a.get<std::string>() + "\n";
    }
    if (text.empty()) text = "nothing to change\n";
    for (const json& u : Arr(result, "unmapped")) {
      text += "not mapped: " + Str(u, "where") + ": " + Str(u, "directive") + ": " +
              Str(u, "reason") + "\n";
    }
    return text + (dry ? "dry run: nothing changed\n" : "");
  }
  if (mode == "portal" && op == "new") {
    std::string text = "Portal " + Str(result, "portal") + " added";
    for (const json& b : Arr(result, "bound")) {
      if (b.is_string()) text += ", listening on " + b.get<std::string>();
    }
    return text + "\n";
  }
  if (mode == "logicalunit" && op == "update") {
    const json& lu = Obj(result, "lun");
    std::string text;
    if (Obj(request, "params").contains("online")) {
      return "LUN " + std::to_string(U64(lu, "lun")) +
             (Bool(lu, "online") ? " online\n" : " offline: " + Str(lu, "offline_reason") + "\n");
    }
    if (result.is_object() && result.contains("resized") && result.at("resized").is_object()) {
      const json& rs = result.at("resized");
      text += "LUN " + std::to_string(U64(lu, "lun")) + " resized from " +
              std::to_string(U64(rs, "from")) + " to " + std::to_string(U64(rs, "to")) + " bytes\n";
    }
    if (Bool(result, "rebuilt")) {
      text += "LUN " + std::to_string(U64(lu, "lun")) + " rebuilt with the new parameters\n";
    }
    return text;
  }
  if (mode == "logicalunit" && (op == "eject" || op == "load")) {
    const json& lu = Obj(result, "lun");
    return "LUN " + std::to_string(U64(lu, "lun")) +
           (op == "eject" ? ": medium ejected\n" : ": medium " + Str(lu, "cfgstring") + " loaded\n");
  }
  return "";
}

}  // namespace

std::string FormatResult(const json& request, const json& result) {
  const std::string mode = Str(request, "mode");
  const std::string op = Str(request, "op");
  std::string out;
  if (op == "stat") {
    FormatStats(result, &out);
    return out;
  }
  if (op != "show") return FormatChange(request, result);
  if (mode == "system") {
    FormatSystem(result, &out);
  } else if (mode == "target") {
    const bool one = request.is_object() && (request.contains("tid") || request.contains("targetname"));
    for (const json& t : Arr(result, "targets")) {
      if (one) {
        FormatTargetParams(t, &out);
      } else {
        FormatTarget(t, &out);
      }
    }
  } else if (mode == "logicalunit") {
    Line(&out, 0, "Target " + std::to_string(U64(result, "tid")) + ":");
    for (const json& lu : Arr(result, "luns")) FormatLun(lu, 1, &out);
  } else if (mode == "account") {
    // tgtadm: "Account list:" and one user a line; nothing at all without accounts. Where
    // each is bound is in --json (a tgtadm parser reads every indented line as a user).
    const json& accounts = Arr(result, "accounts");
    if (!accounts.empty()) Line(&out, 0, "Account list:");
    for (const json& a : accounts) Line(&out, 1, Str(a, "user"));
  } else if (mode == "portal") {
    // tgtadm: "Portal: ADDR:PORT,TPGT" (modtgt's portal group tag is 1).
    for (const json& p : Arr(result, "portals")) {
      if (p.is_string()) Line(&out, 0, "Portal: " + p.get<std::string>() + ",1");
    }
  } else if (mode == "conn") {
    FormatConns(result, &out);
  } else if (mode == "session") {
    FormatSessions(result, &out);
  } else if (mode == "lld") {
    FormatLlds(result, &out);
  } else {
    out = result.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return out;
}

}  // namespace modtgt::cli
