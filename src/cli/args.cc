// SPDX-License-Identifier: Apache-2.0
// modtgtadm argument parsing. See args.h.
#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "admin/protocol.h"

namespace modtgt::cli {

namespace {

enum class Kind { kFlag, kString, kInt };

struct OptionSpec {
  const char* long_name;
  char short_name;  // 0 = none
  Kind kind;
  const char* field;  // request field; nullptr = handled specially
};

// tgtadm's options (tgtadm.c long_options) plus ours. Fields match the admin protocol.
constexpr OptionSpec kOptions[] = {
    {"lld", 'L', Kind::kString, "lld"},
    {"mode", 'm', Kind::kString, "mode"},
    {"op", 'o', Kind::kString, "op"},
    {"tid", 't', Kind::kInt, "tid"},
    {"targetname", 'T', Kind::kString, "targetname"},
    {"lun", 'l', Kind::kInt, "lun"},
    {"backing-store", 'b', Kind::kString, "backing_store"},
    {"bstype", 'E', Kind::kString, "bstype"},
    {"bsopts", 'S', Kind::kString, "bsopts"},
    {"bsoflags", 'f', Kind::kString, "bsoflags"},
    {"blocksize", 'y', Kind::kInt, "blocksize"},
    {"params", 'P', Kind::kString, nullptr},
    {"cfgstring", 0, Kind::kString, "cfgstring"},
    {"size", 0, Kind::kString, "size"},
    {"wwn", 0, Kind::kString, "wwn"},
    {"hw-max-sectors", 0, Kind::kInt, "hw_max_sectors"},
    {"control", 0, Kind::kString, nullptr},
    {"device-type", 0, Kind::kString, "device_type"},
    {"initiator-address", 'I', Kind::kString, "initiator_address"},
    {"initiator-name", 'Q', Kind::kString, "initiator_name"},
    {"alias", 0, Kind::kString, "alias"},
    {"path", 0, Kind::kString, "path"},
    {"param", 0, Kind::kString, nullptr},
    {"user", 'u', Kind::kString, "user"},
    {"password", 'p', Kind::kString, "password"},
    {"outgoing", 'O', Kind::kFlag, "outgoing"},
    {"show-secrets", 0, Kind::kFlag, "show_secrets"},
    {"file", 0, Kind::kString, nullptr},
    {"dry-run", 0, Kind::kFlag, "dry_run"},
    {"force", 'F', Kind::kFlag, "force"},
    {"json", 0, Kind::kFlag, nullptr},
    {"socket", 0, Kind::kString, nullptr},
    {"help", 'h', Kind::kFlag, nullptr},
    {"version", 'V', Kind::kFlag, nullptr},
};

const OptionSpec* FindLong(const std::string& name) {
  for (const auto& o : kOptions) {
    if (name == o.long_name) return &o;
  }
  return nullptr;
}

const OptionSpec* FindShort(char c) {
  for (const auto& o : kOptions) {
    if (o.short_name != 0 && o.short_name == c) return &o;
  }
  return nullptr;
}

bool ParseInt(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  size_t i = 0;
  if (s[0] == '-') i = 1;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k) {
    if (!std::isdigit(static_cast<unsigned char>(s[k]))) return false;
  }
  errno = 0;
  long long v = std::strtoll(s.c_str(), nullptr, 10);
  if (errno != 0) return false;
  *out = v;
  return true;
}

Status Apply(const OptionSpec& o, const std::string& value, CliOptions* opts) {
  std::string name = std::string("--") + o.long_name;
  std::string key = o.long_name;
  if (key == "json") {
    opts->json_output = true;
  } else if (key == "help") {
    opts->help = true;
  } else if (key == "version") {
    opts->version = true;
  } else if (key == "socket") {
    if (value.empty()) return Status::InvalidArgument("--socket needs a path");
    opts->socket_path = value;
  } else if (key == "file") {
    if (value.empty()) return Status::InvalidArgument("--file needs a path");
    opts->file = value;
  } else if (key == "param") {
    // tgtadm: --mode portal --op new|delete --param portal=ADDR:PORT
    auto pairs = admin::ParseParamList(value);
    if (!pairs.ok()) return Status::InvalidArgument(name + ": " + pairs.status().message());
    for (const auto& [k, v] : *pairs) {
      if (k != "portal") {
        return Status::InvalidArgument(name + ": unknown key '" + k + "' (portal=ADDR:PORT)");
      }
      if (opts->request.contains("portal")) return Status::InvalidArgument(name + ": portal given twice");
      opts->request["portal"] = v;
    }
  } else if (key == "params" || key == "control") {
    auto pairs = admin::ParseParamList(value);
    if (!pairs.ok()) return Status::InvalidArgument(name + ": " + pairs.status().message());
    nlohmann::json& params = opts->request[key];
    if (!params.is_object()) params = nlohmann::json::object();
    for (const auto& [k, v] : *pairs) {
      if (params.contains(k)) return Status::InvalidArgument(name + ": '" + k + "' given twice");
      params[k] = v;
    }
  } else if (o.kind == Kind::kFlag) {
    opts->request[o.field] = true;
  } else if (o.kind == Kind::kInt) {
    int64_t v = 0;
    if (!ParseInt(value, &v)) {
      return Status::InvalidArgument(name + " needs a number, not '" + value + "'");
    }
    opts->request[o.field] = v;
  } else {
    if (key == "mode" || key == "op" || key == "lld") {
      std::string lower = value;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      opts->request[o.field] = lower;
    } else {
      opts->request[o.field] = value;
    }
  }
  return Status::OK();
}

}  // namespace

Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const char* env_socket) {
  CliOptions opts;
  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const OptionSpec* spec = nullptr;
    std::string value;
    bool has_inline_value = false;
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline_value = true;
      }
      spec = FindLong(name);
      if (spec == nullptr) return Status::InvalidArgument("unknown option --" + name);
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      spec = FindShort(a[1]);
      if (spec == nullptr) return Status::InvalidArgument("unknown option " + a.substr(0, 2));
      if (a.size() > 2) {
        value = a.substr(2);
        has_inline_value = true;
      }
    } else {
      return Status::InvalidArgument("unexpected argument '" + a + "'");
    }
    std::string opt_name = std::string("--") + spec->long_name;
    if (spec->kind == Kind::kFlag) {
      if (has_inline_value) return Status::InvalidArgument(opt_name + " takes no value");
    } else if (!has_inline_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(opt_name + " needs a value");
      value = args[++i];
    }
    // Repeating an option is a mistake in scripts (tgtadm silently keeps the last one).
    if (spec->kind != Kind::kFlag && !seen.insert(spec->long_name).second) {
      return Status::InvalidArgument(opt_name + " given twice");
    }
    MODTGT_RETURN_IF_ERROR(Apply(*spec, value, &opts));
  }
  if (opts.socket_path.empty()) {
    opts.socket_path = (env_socket != nullptr && *env_socket) ? env_socket
                                                              : admin::kDefaultSocketPath;
  }
  if (opts.help || opts.version) return opts;

  nlohmann::json& r = opts.request;
  if (!r.contains("lld")) r["lld"] = "iscsi";
  // lldload/lldunload/lldreload name any transport module; every other op is iSCSI's.
  const bool lld_op = r.contains("op") && r["op"].is_string() &&
                      r["op"].get<std::string>().rfind("lld", 0) == 0;
  if (r["lld"] != "iscsi" && !lld_op) {
    return Status::InvalidArgument("--lld " + r["lld"].get<std::string>() +
                                   ": only iscsi is supported");
  }
  if (!r.contains("mode")) return Status::InvalidArgument("--mode is required");
  if (!r.contains("op")) return Status::InvalidArgument("--op is required");
  const std::string mode = r["mode"];
  const std::string op = r["op"];
  // What tgtadm checks before talking to the daemon; the daemon validates again.
  auto need = [&](const char* field, const char* option) -> Status {
    if (!r.contains(field)) {
      return Status::InvalidArgument(std::string(option) + " is required for --mode " + mode +
                                     " --op " + op);
    }
    return Status::OK();
  };
  if (mode == "target") {
    if (op == "new") {
      MODTGT_RETURN_IF_ERROR(need("tid", "--tid"));
      MODTGT_RETURN_IF_ERROR(need("targetname", "--targetname"));
    } else if (op == "delete" || op == "bind" || op == "unbind") {
      if (!r.contains("tid") && !r.contains("targetname")) {
        return Status::InvalidArgument("--tid is required for --mode target --op " + op);
      }
      if ((op == "bind" || op == "unbind") && !r.contains("initiator_address") &&
          !r.contains("initiator_name")) {
        return Status::InvalidArgument("--initiator-address or --initiator-name is required for "
                                       "--op " + op);
      }
    }
  } else if (mode == "system" && (op == "bsload" || op == "bsunload" || op == "bsreload")) {
    if (!r.contains("bstype") && !(op == "bsload" && r.contains("path"))) {
      return Status::InvalidArgument("--bstype is required for --mode system --op " + op);
    }
    if (r.contains("path") && op == "bsunload") {
      return Status::InvalidArgument("--path is not used by --op bsunload");
    }
  } else if (mode == "system" && op == "restore") {
    if (opts.file.empty()) {
      return Status::InvalidArgument("--file FILE is required for --mode system --op restore");
    }
  } else if (mode == "account") {
    if (op == "new") {
      MODTGT_RETURN_IF_ERROR(need("user", "--user"));
      MODTGT_RETURN_IF_ERROR(need("password", "--password"));
    } else if (op == "delete") {
      MODTGT_RETURN_IF_ERROR(need("user", "--user"));
    } else if (op == "bind" || op == "unbind") {
      MODTGT_RETURN_IF_ERROR(need("tid", "--tid"));
      MODTGT_RETURN_IF_ERROR(need("user", "--user"));
    }
  } else if (mode == "portal" && op == "new") {
    MODTGT_RETURN_IF_ERROR(need("portal", "--param portal=ADDR:PORT"));
  } else if (mode == "logicalunit") {
    if (!r.contains("tid") && !r.contains("targetname")) {
      return Status::InvalidArgument("--tid is required for --mode logicalunit");
    }
    if (op == "new" || op == "check") {
      MODTGT_RETURN_IF_ERROR(need("lun", "--lun"));
      const bool bs = r.contains("backing_store"), cfg = r.contains("cfgstring");
      if (!bs && !cfg) {
        return Status::InvalidArgument("--backing-store or --cfgstring is required for --mode " +
                                       mode + " --op " + op);
      }
      if (bs && cfg) {
        return Status::InvalidArgument("give either --backing-store or --cfgstring, not both");
      }
    } else if (op == "delete" || op == "update" || op == "eject" || op == "load") {
      MODTGT_RETURN_IF_ERROR(need("lun", "--lun"));
    }
    if (op == "update" && !r.contains("params") && !r.contains("size")) {
      return Status::InvalidArgument("--params or --size is required for --mode logicalunit "
                                     "--op update");
    }
  }
  return opts;
}

void ResolveRelativePaths(CliOptions* opts, const std::string& cwd,
                          const std::function<bool(const std::string&)>& exists,
                          std::vector<std::string>* unresolved) {
  nlohmann::json& r = opts->request;
  // Returns value made absolute, or value itself when it is not a relative existing path.
  auto resolve = [&](const std::string& value) -> std::string {
    if (value.empty() || value[0] == '/') return value;
    std::string rel = value;
    while (rel.size() > 2 && rel.compare(0, 2, "./") == 0) rel.erase(0, 2);
    std::string abs = (cwd == "/" ? "" : cwd) + "/" + (rel == "." ? "" : rel);
    if (exists(abs)) return abs;
    unresolved->push_back(value);
    return value;
  };
  auto field = [&](const char* name, bool whole) {
    if (!r.contains(name) || !r[name].is_string()) return;
    const std::string value = r[name].get<std::string>();
    if (whole) {
      r[name] = resolve(value);
      return;
    }
    // SUBTYPE/CONFIG: only CONFIG is a path (rdwr/disk.img -> rdwr//cwd/disk.img).
    size_t slash = value.find('/');
    if (slash == std::string::npos || slash + 1 >= value.size()) return;
    r[name] = value.substr(0, slash + 1) + resolve(value.substr(slash + 1));
  };
  field("backing_store", true);
  field("cfgstring", false);
  field("path", true);
  if (r.contains("bstype") && r["bstype"].is_string() &&
      r["bstype"].get<std::string>().find('/') != std::string::npos) {
    field("bstype", true);
  }
}

std::string UsageText() {
  return R"(Usage: modtgtadm [OPTIONS] --mode MODE --op OP [ARGS]
Administers a running modtgtd (tgtadm-compatible syntax).

  -L, --lld NAME                  transport (default iscsi); for lldload/lldunload/lldreload
                                  the transport module to act on
  -m, --mode MODE                 system | target | logicalunit | account | portal
  -o, --op OP                     new | delete | show | bind | unbind | update |
                                  check (validate a logicalunit new, create nothing) |
                                  eject | load (cd medium, with --force to override a
                                  PREVENT) |
                                  bsload | bsunload | bsreload (with --bstype) |
                                  lldload | lldunload | lldreload (with --lld) |
                                  dump (the running configuration) |
                                  restore (with --file: apply a configuration, all or
                                  nothing; --dry-run only checks it)
  -t, --tid N                     target id
  -T, --targetname IQN            target name
  -l, --lun N                     logical unit number (0..16383; no LUN 0 is implied)
  -b, --backing-store PATH        backing store path or "subtype/config"; a relative
                                  path naming an existing file here is made absolute
  -E, --bstype NAME               backing-store module (default rdwr); for bsload also
                                  a module file path
      --path FILE                 bsload/bsreload: the module file
  -S, --bsopts OPTS               module options
  -f, --bsoflags FLAGS            direct, sync (comma or colon separated)
  -y, --blocksize N               512, 1024, 2048 or 4096
  -P, --params k=v,...            readonly, removable, thin_provisioning, wce, vendor_id,
                                  product_id, product_rev, scsi_sn, scsi_id, naa, size,
                                  max_transfer_blocks
      --cfgstring SUBTYPE/CONFIG  targetcli-style config string instead of --backing-store
                                  (no ':'; --bstype may be omitted when a loaded module has
                                  SUBTYPE); for --op load: the new medium (optical/PATH;
                                  without it the ejected medium goes back in). A relative
                                  CONFIG naming an existing file here is made absolute
      --size SIZE                 bytes, or with B, k/K/kB/KB, m/M/mB/MB, g/G/gB/GB,
                                  t/T/tB/TB (powers of 1024); a multiple of the block size.
                                  --op update --size resizes a live LUN
      --wwn WWN                   unit serial number (VPD 0x80), source of the NAA (VPD 0x83);
                                  printable ASCII, no spaces, at most 36 characters
      --hw-max-sectors N          MAXIMUM TRANSFER LENGTH in blocks (VPD 0xB0)
      --control k=v,...           max_data_area_mb (1..2048), hw_block_size (512, 1024, 2048,
                                  4096)
      --device-type disk|cd       LUN device type (default: the module's)
  -I, --initiator-address ADDR    ALL, an IPv4/IPv6 address or ADDR/PREFIXLEN
  -Q, --initiator-name NAME       initiator iSCSI name
      --param portal=ADDR:PORT    --mode portal --op new: listen on one more portal
  -u, --user NAME                 --mode account: the CHAP user name
  -p, --password SECRET           --mode account --op new: its secret (12 to 255 bytes);
                                  "-" reads it from the first line of standard input
  -O, --outgoing                  --mode account --op bind|unbind: the target's own account
                                  for mutual CHAP (one per target; --tid 0: discovery)
      --show-secrets              --mode system --op dump: include the CHAP secrets
      --file FILE                 --op restore: the configuration file (as dump prints)
      --dry-run                   --op restore: check and list the changes, change nothing
  -F, --force                     delete a target with sessions / a busy LUN; lldunload:
                                  log the initiators out first; eject/load: even while
                                  an initiator prevents medium removal
      --json                      print the daemon's result as JSON
      --socket PATH               admin socket (default $MODTGT_SOCKET or /run/modtgt/modtgtd.sock)
  -h, --help                      this text

Examples:
  modtgtadm --lld iscsi --mode target --op new --tid 1 --targetname iqn.2026-01.org.example:disk1
  modtgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
  modtgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store /srv/disk.img
  modtgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 2 --bstype ram \
            --cfgstring ram/scratch --size 10G --wwn 7b1f0b2c-disk2 --control hw_block_size=4096
  modtgtadm --mode logicalunit --op check --tid 1 --lun 3 --cfgstring rdwr//srv/missing.img
  modtgtadm --mode logicalunit --op update --tid 1 --lun 2 --size 20G
  modtgtadm --mode logicalunit --op load --tid 1 --lun 4 --cfgstring optical//srv/disc.iso
  modtgtadm --lld iscsi --mode target --op show
  modtgtadm --mode system --op bsload --bstype rdwr
  modtgtadm --mode system --op bsreload --bstype rdwr --path /opt/new/bs_rdwr.so
  modtgtadm --mode system --op lldunload --lld iscsi --force
  modtgtadm --mode system --op dump > saved.json
  modtgtadm --mode system --op restore --file saved.json --dry-run
  modtgtadm --mode portal --op new --param portal=192.0.2.10:3260
  modtgtadm --mode account --op new --user initiator1 --password - < secret.txt
  modtgtadm --mode account --op bind --tid 1 --user initiator1

Exit status: 0 success, 2 invalid request, 3 no such target, 4 target exists, 5 no such LUN,
6 LUN exists, 7 busy, 8 no such module, 9 module error, 10 permission, 11 internal,
12 unsupported, 13 no such ACL, 14 ACL exists, 15 no such account, 16 account exists,
20 cannot connect to modtgtd, 21 bad reply.
)";
}

}  // namespace modtgt::cli
