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
  bool tgtadm;        // one of tgtadm's own options (abbreviations resolve to these first)
};

// tgtadm's options (tgtadm.c long_options, all of them) plus modtgt's. Fields match the
// admin protocol.
constexpr OptionSpec kOptions[] = {
    {"debug", 'd', Kind::kFlag, nullptr, true},
    {"help", 'h', Kind::kFlag, nullptr, true},
    {"version", 'V', Kind::kFlag, nullptr, true},
    {"lld", 'L', Kind::kString, "lld", true},
    {"op", 'o', Kind::kString, "op", true},
    {"mode", 'm', Kind::kString, "mode", true},
    {"tid", 't', Kind::kInt, "tid", true},
    {"sid", 's', Kind::kInt, "sid", true},
    {"cid", 'c', Kind::kInt, "cid", true},
    {"lun", 'l', Kind::kInt, "lun", true},
    {"name", 'n', Kind::kString, "name", true},
    {"value", 'v', Kind::kString, "value", true},
    {"backing-store", 'b', Kind::kString, "backing_store", true},
    {"bstype", 'E', Kind::kString, "bstype", true},
    {"bsopts", 'S', Kind::kString, "bsopts", true},
    {"bsoflags", 'f', Kind::kString, "bsoflags", true},
    {"blocksize", 'y', Kind::kInt, "blocksize", true},
    {"targetname", 'T', Kind::kString, "targetname", true},
    {"initiator-address", 'I', Kind::kString, "initiator_address", true},
    {"initiator-name", 'Q', Kind::kString, "initiator_name", true},
    {"user", 'u', Kind::kString, "user", true},
    {"password", 'p', Kind::kString, "password", true},
    {"host", 'H', Kind::kString, nullptr, true},
    {"force", 'F', Kind::kFlag, "force", true},
    {"params", 'P', Kind::kString, nullptr, true},
    {"bus", 'B', Kind::kString, nullptr, true},
    {"device-type", 'Y', Kind::kString, "device_type", true},
    {"outgoing", 'O', Kind::kFlag, "outgoing", true},
    {"control-port", 'C', Kind::kInt, nullptr, true},
    // modtgt's
    {"cfgstring", 0, Kind::kString, "cfgstring", false},
    {"size", 0, Kind::kString, "size", false},
    {"wwn", 0, Kind::kString, "wwn", false},
    {"hw-max-sectors", 0, Kind::kInt, "hw_max_sectors", false},
    {"control", 0, Kind::kString, nullptr, false},
    {"alias", 0, Kind::kString, "alias", false},
    {"path", 0, Kind::kString, "path", false},
    {"show-secrets", 0, Kind::kFlag, "show_secrets", false},
    {"file", 0, Kind::kString, nullptr, false},
    {"import-tgt", 0, Kind::kString, nullptr, false},
    {"dry-run", 0, Kind::kFlag, "dry_run", false},
    {"json", 0, Kind::kFlag, nullptr, false},
    {"socket", 0, Kind::kString, nullptr, false},
};

// getopt_long's rules: an exact name, else a prefix naming one option. A prefix several
// options share is ambiguous, unless exactly one of them is tgtadm's own (so tgtadm's
// accepted abbreviations keep working beside modtgt's longer list).
Result<const OptionSpec*> FindLong(const std::string& name) {
  for (const auto& o : kOptions) {
    if (name == o.long_name) return &o;
  }
  std::vector<const OptionSpec*> all, tgt;
  for (const auto& o : kOptions) {
    if (std::string(o.long_name).compare(0, name.size(), name) == 0) {
      all.push_back(&o);
      if (o.tgtadm) tgt.push_back(&o);
    }
  }
  if (all.size() == 1) return all[0];
  if (tgt.size() == 1) return tgt[0];
  if (all.empty()) return Status::InvalidArgument("unknown option --" + name);
  std::string names;
  for (const auto* o : all) names += (names.empty() ? "--" : ", --") + std::string(o->long_name);
  return Status::InvalidArgument("option --" + name + " is ambiguous (" + names + ")");
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

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// tgtadm's mode names and their short forms (tgtadm.c str_to_mode).
std::string CanonicalMode(const std::string& m) {
  if (m == "sys") return "system";
  if (m == "tgt") return "target";
  if (m == "lu") return "logicalunit";
  if (m == "pt") return "portal";
  if (m == "sess") return "session";
  if (m == "connection") return "conn";
  return m;
}

struct Parsed {
  CliOptions opts;
  std::string params;          // -P as given (its meaning depends on the mode)
  bool have_params = false;
  int64_t control_port = -1;   // -C
};

Status Apply(const OptionSpec& o, const std::string& value, Parsed* p) {
  CliOptions* opts = &p->opts;
  std::string name = std::string("--") + o.long_name;
  std::string key = o.long_name;
  if (key == "json") {
    opts->json_output = true;
  } else if (key == "help") {
    opts->help = true;
  } else if (key == "version") {
    opts->version = true;
  } else if (key == "debug") {
    opts->debug = true;
  } else if (key == "socket") {
    if (value.empty()) return Status::InvalidArgument("--socket needs a path");
    opts->socket_path = value;
  } else if (key == "file") {
    if (value.empty()) return Status::InvalidArgument("--file needs a path");
    opts->file = value;
  } else if (key == "import-tgt") {
    if (value.empty()) return Status::InvalidArgument("--import-tgt needs a targets.conf file");
    opts->import_tgt = value;
  } else if (key == "host" || key == "bus") {
    return Status::Unsupported(name +
                               " binds a SCSI host of tgt's kernel-side LLDs; modtgt serves "
                               "iSCSI and admits initiators by --initiator-address / "
                               "--initiator-name");
  } else if (key == "control-port") {
    int64_t v = 0;
    if (!ParseInt(value, &v) || v < 0 || v > 65535) {
      return Status::InvalidArgument("--control-port needs a number from 0 to 65535, not '" + value + "'");
    }
    p->control_port = v;
  } else if (key == "params") {
    p->params = value;
    p->have_params = true;
  } else if (key == "control") {
    auto pairs = admin::ParseParamList(value);
    if (!pairs.ok()) return Status::InvalidArgument(name + ": " + pairs.status().message());
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : *pairs) {
      if (params.contains(k)) return Status::InvalidArgument(name + ": '" + k + "' given twice");
      params[k] = v;
    }
    opts->request["control"] = std::move(params);
  } else if (o.kind == Kind::kFlag) {
    opts->request[o.field] = true;
  } else if (o.kind == Kind::kInt) {
    int64_t v = 0;
    if (!ParseInt(value, &v)) {
      return Status::InvalidArgument(name + " needs a number, not '" + value + "'");
    }
    opts->request[o.field] = v;
  } else if (key == "mode") {
    opts->request["mode"] = CanonicalMode(Lower(value));
  } else if (key == "op" || key == "lld") {
    opts->request[o.field] = Lower(value);
  } else {
    opts->request[o.field] = value;
  }
  return Status::OK();
}

// -P/--params: in portal mode tgtadm's "portal=ADDR:PORT", elsewhere the k=v list.
Status ApplyParams(Parsed* p) {
  if (!p->have_params) return Status::OK();
  nlohmann::json& r = p->opts.request;
  auto pairs = admin::ParseParamList(p->params);
  if (!pairs.ok()) return Status::InvalidArgument("--params: " + pairs.status().message());
  if (r.value("mode", "") == "portal") {
    for (const auto& [k, v] : *pairs) {
      if (k != "portal") {
        return Status::InvalidArgument("--params: unknown key '" + k + "' (portal=ADDR:PORT)");
      }
      if (r.contains("portal")) return Status::InvalidArgument("--params: portal given twice");
      r["portal"] = v;
    }
    return Status::OK();
  }
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : *pairs) {
    if (params.contains(k)) return Status::InvalidArgument("--params: '" + k + "' given twice");
    params[k] = v;
  }
  r["params"] = std::move(params);
  return Status::OK();
}

// What tgtadm checks before talking to the daemon; the daemon validates again.
Status CheckRequired(const nlohmann::json& r) {
  const std::string mode = r["mode"];
  const std::string op = r["op"];
  auto need = [&](const char* field, const char* option) -> Status {
    if (!r.contains(field)) {
      return Status::InvalidArgument(std::string(option) + " is required for --mode " + mode +
                                     " --op " + op);
    }
    return Status::OK();
  };
  auto need_target = [&]() -> Status {
    if (!r.contains("tid") && !r.contains("targetname")) {
      return Status::InvalidArgument("--tid is required for --mode " + mode + " --op " + op);
    }
    return Status::OK();
  };
  if (mode == "target") {
    if (op == "new") {
      MODTGT_RETURN_IF_ERROR(need("tid", "--tid"));
      MODTGT_RETURN_IF_ERROR(need("targetname", "--targetname"));
    } else if (op == "delete" || op == "bind" || op == "unbind" || op == "update" || op == "stat") {
      MODTGT_RETURN_IF_ERROR(need_target());
      if ((op == "bind" || op == "unbind") && !r.contains("initiator_address") &&
          !r.contains("initiator_name")) {
        return Status::InvalidArgument("--initiator-address or --initiator-name is required for "
                                       "--op " + op);
      }
      if (op == "update" && !r.contains("params") && !(r.contains("name") && r.contains("value"))) {
        return Status::InvalidArgument("--name and --value (or --params) are required for --mode "
                                       "target --op update");
      }
    }
  } else if (mode == "system" && (op == "bsload" || op == "bsunload" || op == "bsreload")) {
    if (!r.contains("bstype") && !(op == "bsload" && r.contains("path"))) {
      return Status::InvalidArgument("--bstype is required for --mode system --op " + op);
    }
    if (r.contains("path") && op == "bsunload") {
      return Status::InvalidArgument("--path is not used by --op bsunload");
    }
  } else if (mode == "system" && op == "update") {
    MODTGT_RETURN_IF_ERROR(need("name", "--name"));
    MODTGT_RETURN_IF_ERROR(need("value", "--value"));
  } else if (mode == "account") {
    if (op == "new") {
      MODTGT_RETURN_IF_ERROR(need("user", "--user"));
      MODTGT_RETURN_IF_ERROR(need("password", "--password"));
    } else if (op == "delete" || op == "bind" || op == "unbind") {
      MODTGT_RETURN_IF_ERROR(need("user", "--user"));
    }
  } else if (mode == "portal" && (op == "new" || op == "delete")) {
    MODTGT_RETURN_IF_ERROR(need("portal", "--params portal=ADDR:PORT"));
  } else if (mode == "conn" && op == "delete") {
    MODTGT_RETURN_IF_ERROR(need_target());
    MODTGT_RETURN_IF_ERROR(need("sid", "--sid"));
    MODTGT_RETURN_IF_ERROR(need("cid", "--cid"));
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
    } else if (op == "delete" || op == "update" || op == "eject" || op == "load" || op == "stat") {
      MODTGT_RETURN_IF_ERROR(need("lun", "--lun"));
    }
    if (op == "update" && !r.contains("params") && !r.contains("size")) {
      return Status::InvalidArgument("--params or --size is required for --mode logicalunit "
                                     "--op update");
    }
  }
  return Status::OK();
}

}  // namespace

Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const char* env_socket) {
  CliContext ctx;
  ctx.env_socket = env_socket;
  return ParseArgs(args, ctx);
}

Result<CliOptions> ParseArgs(const std::vector<std::string>& args, const CliContext& ctx) {
  Parsed p;
  CliOptions& opts = p.opts;
  std::set<std::string> seen;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const OptionSpec* spec = nullptr;
    std::string value;
    bool has_inline_value = false;
    bool short_form = false;
    if (a.size() > 2 && a[0] == '-' && a[1] == '-') {
      std::string name = a.substr(2);
      size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_inline_value = true;
      }
      Result<const OptionSpec*> found = FindLong(name);
      if (!found.ok()) return found.status();
      spec = *found;
    } else if (a.size() >= 2 && a[0] == '-' && a[1] != '-') {
      spec = FindShort(a[1]);
      if (spec == nullptr) return Status::InvalidArgument("unknown option " + a.substr(0, 2));
      short_form = true;
      if (a.size() > 2) {
        value = a.substr(2);
        has_inline_value = true;
      }
    } else {
      return Status::InvalidArgument("unexpected argument '" + a + "'");
    }
    std::string opt_name = std::string("--") + spec->long_name;
    if (spec->kind == Kind::kFlag) {
      // tgtadm's short -F and -O take an argument (its getopt string says "F:" and "O:"),
      // which it ignores: "-F 1" and "-F1" work there, so they work here; a bare -F too.
      const bool swallows = short_form && (spec->short_name == 'F' || spec->short_name == 'O');
      if (has_inline_value && !swallows) return Status::InvalidArgument(opt_name + " takes no value");
      if (swallows && !has_inline_value && i + 1 < args.size() && !args[i + 1].empty() &&
          args[i + 1][0] != '-') {
        ++i;
      }
    } else if (!has_inline_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument(opt_name + " needs a value");
      value = args[++i];
    }
    // Repeating an option is a mistake in scripts: refused, except under the tgtadm name,
    // where the last one wins as with tgtadm's getopt.
    if (spec->kind != Kind::kFlag && !seen.insert(spec->long_name).second && !ctx.as_tgtadm) {
      return Status::InvalidArgument(opt_name + " given twice");
    }
    MODTGT_RETURN_IF_ERROR(Apply(*spec, value, &p));
  }
  const char* env = ctx.env_socket;
  if (opts.socket_path.empty()) {
    std::string base = (env != nullptr && *env) ? env : admin::kDefaultSocketPath;
    // tgtadm -C N: the N-th daemon of this host; modtgtd --socket BASE.N is that one.
    opts.socket_path = p.control_port > 0 ? base + "." + std::to_string(p.control_port) : base;
  }
  if (opts.help || opts.version) return opts;

  nlohmann::json& r = opts.request;
  if (!opts.import_tgt.empty()) {
    // --import-tgt FILE [--dry-run] [--force]: a request of its own.
    for (const auto& [k, v] : r.items()) {
      if (k != "dry_run" && k != "force" && k != "lld") {
        return Status::InvalidArgument("--import-tgt takes only --dry-run and --force (not the "
                                       "option for '" + k + "')");
      }
    }
    if (p.have_params) return Status::InvalidArgument("--import-tgt takes no --params");
    r["mode"] = "system";
    r["op"] = "import";
    r.erase("lld");
    return opts;
  }
  if (!r.contains("lld")) r["lld"] = "iscsi";
  // lldload/lldunload/lldreload and the lld mode name any transport module; every other op
  // is iSCSI's.
  const bool lld_op = (r.contains("op") && r["op"].is_string() &&
                       r["op"].get<std::string>().rfind("lld", 0) == 0) ||
                      r.value("mode", "") == "lld";
  if (r["lld"] != "iscsi" && !lld_op) {
    return Status::InvalidArgument("--lld " + r["lld"].get<std::string>() +
                                   ": only iscsi is supported");
  }
  if (!r.contains("mode")) return Status::InvalidArgument("--mode is required");
  if (!r.contains("op")) return Status::InvalidArgument("--op is required");
  MODTGT_RETURN_IF_ERROR(ApplyParams(&p));
  // tgtadm: account bind/unbind without --tid is the discovery binding (its GLOBAL_TID).
  if (r["mode"] == "account" && (r["op"] == "bind" || r["op"] == "unbind") && !r.contains("tid")) {
    r["tid"] = 0;
  }
  MODTGT_RETURN_IF_ERROR(CheckRequired(r));
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
       modtgtadm --import-tgt FILE [--dry-run] [--force]
Administers a running modtgtd in tgtadm's syntax (also as `tgtadm`, through a link of that
name). Long options may be shortened to any unambiguous prefix, as with tgtadm.

  -L, --lld NAME                  transport (default iscsi); for lldload/lldunload/lldreload
                                  and --mode lld the transport module to act on
  -m, --mode MODE                 system (sys) | target (tgt) | logicalunit (lu) | account |
                                  portal (pt) | session (sess) | conn (connection) | lld
  -o, --op OP                     new | delete | show | bind | unbind | update | stat |
                                  start | stop (--mode lld) |
                                  check (validate a logicalunit new, create nothing) |
                                  eject | load (cd medium, with --force to override a
                                  PREVENT) |
                                  bsload | bsunload | bsreload (with --bstype) |
                                  lldload | lldunload | lldreload (with --lld) |
                                  dump (the running configuration) |
                                  restore (with --file: apply a configuration, all or
                                  nothing; --dry-run only checks it)
  -t, --tid N                     target id (--mode account: 0 or none is discovery)
  -T, --targetname IQN            target name
  -l, --lun N                     logical unit number (0..16383; no LUN 0 is implied)
  -s, --sid N                     session id (the I_T nexus number target show prints)
  -c, --cid N                     connection id (--mode conn)
  -n, --name KEY, -v, --value V   --op update: a target's iSCSI parameter (MaxRecvDataSegment-
                                  Length, HeaderDigest, ..., state, TargetAlias) or a system
                                  setting (State ready|offline, debug on|off)
  -b, --backing-store PATH        backing store path or "subtype/config"; a relative
                                  path naming an existing file here is made absolute
  -E, --bstype NAME               backing-store module (default rdwr; tgt's aio is uring);
                                  for bsload also a module file path
      --path FILE                 bsload/bsreload: the module file
  -S, --bsopts OPTS               module options
  -f, --bsoflags FLAGS            direct, sync (comma or colon separated)
  -y, --blocksize N               512, 1024, 2048 or 4096
  -Y, --device-type TYPE          disk or cd (tgt's tape, changer, osd, pt: not emulated)
  -P, --params k=v,...            --mode logicalunit: readonly, removable, thin_provisioning,
                                  online, sense_format, mode_page (the caching page),
                                  wce, vendor_id, product_id, product_rev, scsi_sn, scsi_id,
                                  naa, size, max_transfer_blocks, path (a cd's medium);
                                  --mode target --op update: iSCSI parameters;
                                  --mode portal: portal=ADDR:PORT
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
  -I, --initiator-address ADDR    ALL, an IPv4/IPv6 address or ADDR/PREFIXLEN
  -Q, --initiator-name NAME       initiator iSCSI name
  -u, --user NAME                 --mode account: the CHAP user name
  -p, --password SECRET           --mode account --op new: its secret (12 to 255 bytes);
                                  "-" reads it from the first line of standard input
  -O, --outgoing                  --mode account --op bind|unbind: the target's own account
                                  for mutual CHAP (one per target; --tid 0: discovery)
      --show-secrets              --mode system --op dump: include the CHAP secrets
      --file FILE                 --op restore: the configuration file (as dump prints)
      --import-tgt FILE           apply tgt-admin's targets.conf (includes and all), all or
                                  nothing; lists the directives with no modtgt equivalent
      --dry-run                   --op restore, --import-tgt: check and list the changes,
                                  change nothing
  -F, --force                     delete a target with sessions / a busy LUN; lldunload,
                                  --mode lld --op stop, --mode system --op delete: log the
                                  initiators out first; eject/load: even while an initiator
                                  prevents medium removal; restore/import: replace in use
      --json                      print the daemon's result as JSON
      --socket PATH               admin socket (default $MODTGT_SOCKET or /run/modtgt/modtgtd.sock)
  -C, --control-port N            tgtadm's daemon number: the admin socket path with ".N"
                                  appended (0: the socket itself); --socket wins
  -d, --debug                     print the request sent to modtgtd on stderr
  -V, --version                   print the version
  -h, --help                      this text

Examples:
  modtgtadm --lld iscsi --mode target --op new --tid 1 --targetname iqn.2026-01.org.example:disk1
  modtgtadm --lld iscsi --mode target --op bind --tid 1 --initiator-address ALL
  modtgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 1 --backing-store /srv/disk.img
  modtgtadm --mode target --op update --tid 1 --name MaxRecvDataSegmentLength --value 65536
  modtgtadm --mode logicalunit --op update --tid 1 --lun 1 --params sense_format=1,readonly=1
  modtgtadm --lld iscsi --mode logicalunit --op new --tid 1 --lun 2 --bstype ram \
            --cfgstring ram/scratch --size 10G --wwn 7b1f0b2c-disk2 --control hw_block_size=4096
  modtgtadm --mode logicalunit --op check --tid 1 --lun 3 --cfgstring rdwr//srv/missing.img
  modtgtadm --mode logicalunit --op update --tid 1 --lun 2 --size 20G
  modtgtadm --mode logicalunit --op load --tid 1 --lun 4 --cfgstring optical//srv/disc.iso
  modtgtadm --lld iscsi --mode target --op show
  modtgtadm --mode conn --op show --tid 1
  modtgtadm --mode system --op stat --json
  modtgtadm --mode system --op bsload --bstype rdwr
  modtgtadm --mode system --op bsreload --bstype rdwr --path /opt/new/bs_rdwr.so
  modtgtadm --mode system --op lldunload --lld iscsi --force
  modtgtadm --mode system --op dump > saved.json
  modtgtadm --mode system --op restore --file saved.json --dry-run
  modtgtadm --import-tgt /etc/tgt/targets.conf --dry-run
  modtgtadm --mode portal --op new --param portal=192.0.2.10:3260
  modtgtadm --mode account --op new --user initiator1 --password - < secret.txt
  modtgtadm --mode account --op bind --tid 1 --user initiator1

Exit status: 0 success, 2 invalid request, 3 no such target, 4 target exists, 5 no such LUN,
6 LUN exists, 7 busy, 8 no such module, 9 module error, 10 permission, 11 internal,
12 unsupported, 13 no such ACL, 14 ACL exists, 15 no such account, 16 account exists,
17 no such session, 18 no such connection, 19 no such portal,
20 cannot connect to modtgtd, 21 bad reply.
)";
}

}  // namespace modtgt::cli
