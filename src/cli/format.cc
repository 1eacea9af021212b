// SPDX-License-Identifier: Apache-2.0
// modtgtadm output formatting. See format.h.
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

const char* YesNo(bool b) { return b ? "Yes" : "No"; }

void Line(std::string* out, int indent, const std::string& text) {
  out->append(static_cast<size_t>(indent) * 4, ' ');
  out->append(text);
  out->push_back('\n');
}

void FormatLun(const json& lu, int indent, std::string* out) {
  Line(out, indent, "LUN: " + std::to_string(U64(lu, "lun")));
  int in = indent + 1;
  // tgtadm's names: "disk", "cd/dvd".
  std::string type = Str(lu, "device_type", Str(lu, "type", "disk"));
  Line(out, in, "Type: " + (type == "cd" ? std::string("cd/dvd") : type));
  Line(out, in, "SCSI ID: " + Str(lu, "scsi_id"));
  Line(out, in, "SCSI SN: " + Str(lu, "scsi_sn"));
  Line(out, in, "NAA: " + Str(lu, "naa"));
  uint64_t size = U64(lu, "size_bytes");
  // tgtadm prints decimal megabytes.
  Line(out, in, "Size: " + std::to_string(size / 1000000) + " MB (" + std::to_string(size) +
                    " bytes), Block size: " + std::to_string(U64(lu, "block_size")));
  Line(out, in, "Vendor: " + Str(lu, "vendor_id") + ", Product: " + Str(lu, "product_id") +
                    ", Revision: " + Str(lu, "product_rev"));
  const bool online = !lu.is_object() || !lu.contains("online") || Bool(lu, "online");
  Line(out, in, std::string("Online: ") + YesNo(online));
  if (!online) Line(out, in, "Offline reason: " + Str(lu, "offline_reason"));
  if (lu.is_object() && lu.contains("alua_state")) {
    Line(out, in, "ALUA state: " + Str(lu, "alua_state") + " (lock holder group " +
                      std::to_string(U64(lu, "alua_holder")) + ")");
  }
  Line(out, in, std::string("Removable media: ") + YesNo(Bool(lu, "removable")));
  Line(out, in, std::string("Readonly: ") + YesNo(Bool(lu, "readonly")));
  Line(out, in, std::string("Thin-provisioning: ") + YesNo(Bool(lu, "thin_provisioning")));
  Line(out, in, std::string("Write cache: ") + YesNo(Bool(lu, "write_cache")));
  if (lu.is_object() && lu.contains("medium_present")) {
    Line(out, in, std::string("Medium present: ") + YesNo(Bool(lu, "medium_present")));
  }
  std::string wwn = Str(lu, "wwn");
  if (!wwn.empty()) Line(out, in, "WWN: " + wwn);
  Line(out, in, "Max transfer length: " + std::to_string(U64(lu, "hw_max_sectors")) +
                    " blocks (hw_max_sectors; 0 = default)");
  uint64_t data_area = U64(lu, "max_data_area_mb");
  if (data_area != 0) Line(out, in, "Max data area: " + std::to_string(data_area) + " MB");
  Line(out, in, "Backing store type: " + Str(lu, "bstype", "None"));
  Line(out, in, "Backing store path: " + Str(lu, "backing_store", "None"));
  Line(out, in, "Backing store flags: " + Str(lu, "bsoflags"));
  std::string bsopts = Str(lu, "bsopts");
  if (!bsopts.empty()) Line(out, in, "Backing store options: " + bsopts);
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

void FormatTarget(const json& t, std::string* out) {
  Line(out, 0, "Target " + std::to_string(U64(t, "tid")) + ": " + Str(t, "name"));
  Line(out, 1, "System information:");
  Line(out, 2, "Driver: iscsi");
  Line(out, 2, "State: ready");
  std::string alias = Str(t, "alias");
  if (!alias.empty()) Line(out, 2, "Alias: " + alias);
  const std::string alua = Str(t, "alua");
  if (!alua.empty() && alua != "off") Line(out, 2, "ALUA: " + alua);
  Line(out, 1, "I_T nexus information:");
  for (const json& n : Arr(t, "nexuses")) {
    Line(out, 2, "I_T nexus: " + std::to_string(U64(n, "nexus_id")));
    Line(out, 3, "Initiator: " + Str(n, "initiator") + " ISID: " + Str(n, "isid") +
                     " TSIH: " + std::to_string(U64(n, "tsih")));
    for (const json& c : Arr(n, "connections")) {
      Line(out, 3, "Connection: " + (c.is_string() ? c.get<std::string>() : c.dump()));
    }
  }
  Line(out, 1, "LUN information:");
  for (const json& lu : Arr(t, "luns")) FormatLun(lu, 2, out);
  Line(out, 1, "Account information:");
  for (const json& a : Arr(t, "accounts")) {
    Line(out, 2, a.is_string() ? a.get<std::string>() : a.dump());
  }
  Line(out, 1, "ACL information:");
  const json& acl = t.is_object() && t.contains("acl") ? t.at("acl") : json::object();
  for (const json& a : Arr(acl, "addresses")) {
    if (a.is_string()) Line(out, 2, a.get<std::string>());
  }
  for (const json& n : Arr(acl, "names")) {
    if (n.is_string()) Line(out, 2, "Initiator name: " + n.get<std::string>());
  }
}

void FormatSystem(const json& r, std::string* out) {
  Line(out, 0, "System information:");
  Line(out, 1, "Version: " + Str(r, "version"));
  Line(out, 1, "Daemon pid: " + std::to_string(U64(r, "pid")));
  Line(out, 1, "Threads: " + std::to_string(U64(r, "threads")));
  Line(out, 1, "State: ready");
  Line(out, 0, "Portals:");
  for (const json& p : Arr(r, "portals")) {
    if (p.is_string()) Line(out, 1, p.get<std::string>());
  }
  Line(out, 0, "LLDs:");
  for (const json& t : Arr(r, "transports")) {
    std::string s = Str(t, "name") + ": " + Str(t, "state");
    std::string err = Str(t, "error");
    if (!err.empty()) s += " (" + err + ")";
    std::string ver = Str(t, "version");
    if (!ver.empty()) s += ", version " + ver;
    Line(out, 1, s);
    std::string path = Str(t, "path");
    if (!path.empty()) Line(out, 2, "Path: " + path);
    std::string portals;
    for (const json& p : Arr(t, "portals")) {
      if (p.is_string()) portals += (portals.empty() ? "" : ", ") + p.get<std::string>();
    }
    if (!portals.empty()) Line(out, 2, "Portals: " + portals);
    Line(out, 2, "Sessions: " + std::to_string(Arr(t, "sessions").size()));
  }
  Line(out, 0, "Backing stores:");
  for (const json& m : Arr(r, "modules")) {
    if (Str(m, "kind", "backing-store") == "transport") continue;  // listed under LLDs
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
    std::string caps;
    for (const json& c : Arr(m, "capabilities")) {
      if (c.is_string()) caps += (caps.empty() ? "" : ", ") + c.get<std::string>();
    }
    if (!caps.empty()) Line(out, 2, "Capabilities: " + caps);
    std::string users;
    for (const json& u : Arr(m, "users")) {
      if (u.is_string()) users += (users.empty() ? "" : ", ") + u.get<std::string>();
    }
    if (!users.empty()) Line(out, 2, "Users: " + users);
  }
  Line(out, 0, "Targets:");
  for (const json& t : Arr(r, "targets")) {
    Line(out, 1, "Target " + std::to_string(U64(t, "tid")) + ": " + Str(t, "name") + " (" +
                     std::to_string(U64(t, "luns")) + " LUNs, " +
                     std::to_string(U64(t, "sessions")) + " sessions)");
  }
}

}  // namespace

std::string FormatResult(const json& request, const json& result) {
  std::string mode = Str(request, "mode");
  std::string op = Str(request, "op");
  std::string out;
  if (op != "show") {
    if (mode == "system" && (op == "bsload" || op == "bsreload") && result.is_object() &&
        result.contains("module") && result.at("module").is_object()) {
      const json& m = result.at("module");
      return "Backing store " + Str(m, "name") + " " + (op == "bsload" ? "loaded" : "reloaded") +
             ": " + Str(m, "state") + ", version " + Str(m, "version") + " (" + Str(m, "path") +
             ")\n";
    }
    if (mode == "logicalunit" && op == "check") return "ok\n";
    if (mode == "system" && op == "dump") {
      // The running configuration, as the state file holds it.
      if (result.contains("config_text") && result.at("config_text").is_string()) {
        return result.at("config_text").get<std::string>();
      }
      const json& c = result.contains("config") ? result.at("config") : json::object();
      return c.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
    }
    if (mode == "system" && op == "restore") {
      const bool dry = Bool(result, "dry_run");
      std::string text;
      for (const json& a : Arr(result, "actions")) {
        if (a.is_string()) text += (dry ? "would " : "") + a.get<std::string>() + "\n";
      }
      if (text.empty()) text = "nothing to change\n";
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
      const json& lu = result.contains("lun") ? result.at("lun") : json::object();
      std::string text;
      if (request.contains("params") && request.at("params").is_object() &&
          request.at("params").contains("online")) {
        return "LUN " + std::to_string(U64(lu, "lun")) +
               (Bool(lu, "online") ? " online\n" : " offline: " + Str(lu, "offline_reason") + "\n");
      }
      if (result.contains("resized") && result.at("resized").is_object()) {
        const json& rs = result.at("resized");
        text += "LUN " + std::to_string(U64(lu, "lun")) + " resized from " +
                std::to_string(U64(rs, "from")) + " to " + std::to_string(U64(rs, "to")) +
                " bytes\n";
      }
      if (Bool(result, "rebuilt")) {
        text += "LUN " + std::to_string(U64(lu, "lun")) + " rebuilt with the new parameters\n";
      }
      return text;
    }
    if (mode == "logicalunit" && (op == "eject" || op == "load")) {
      const json& lu = result.contains("lun") ? result.at("lun") : json::object();
      return "LUN " + std::to_string(U64(lu, "lun")) +
             (op == "eject" ? ": medium ejected\n" : ": medium " + Str(lu, "cfgstring") + " loaded\n");
    }
    return "";
  }
  if (mode == "system") {
    FormatSystem(result, &out);
  } else if (mode == "target") {
    for (const json& t : Arr(result, "targets")) FormatTarget(t, &out);
  } else if (mode == "logicalunit") {
    Line(&out, 0, "Target " + std::to_string(U64(result, "tid")) + ":");
    for (const json& lu : Arr(result, "luns")) FormatLun(lu, 1, &out);
  } else if (mode == "account") {
    // tgtadm: "Account list:" and one user per line.
    Line(&out, 0, "Account list:");
    for (const json& a : Arr(result, "accounts")) {
      std::string line = Str(a, "user");
      std::string where;
      for (const json& b : Arr(a, "bound")) {
        if (b.is_string()) where += (where.empty() ? "" : ", ") + b.get<std::string>();
      }
      Line(&out, 1, line + (where.empty() ? "" : "  (" + where + ")"));
    }
  } else if (mode == "portal") {
    for (const json& p : Arr(result, "portals")) {
      if (p.is_string()) Line(&out, 0, "Portal: " + p.get<std::string>());
    }
  } else {
    out = result.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return out;
}

}  // namespace modtgt::cli
