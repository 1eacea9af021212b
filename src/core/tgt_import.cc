// SPDX-License-Identifier: Apache-2.0
// targets.conf as a modtgt configuration. See tgt_import.h.
#include "core/tgt_import.h"

#include <strings.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/key_value_list.h"
#include "core/accounts.h"
#include "core/lun_factory.h"
#include "core/target.h"
#include "core/target_params.h"

namespace modtgt::core {

namespace {

using nlohmann::json;

constexpr int kMaxTreeDepth = 8;
constexpr size_t kMaxTreeNodes = 20000;

Status ReadNodes(const json& list, int depth, size_t* count, std::vector<ConfNode>* out,
                 const std::string& place) {
  if (!list.is_array()) return Status::InvalidArgument(place + ": must be an array");
  if (depth > kMaxTreeDepth) return Status::InvalidArgument(place + ": nested too deep");
  for (size_t i = 0; i < list.size(); i++) {
    const json& n = list[i];
    const std::string p = place + "[" + std::to_string(i) + "]";
    if (!n.is_object()) return Status::InvalidArgument(p + ": must be an object");
    if (++*count > kMaxTreeNodes) return Status::InvalidArgument("more than 20000 directives");
    ConfNode node;
    for (const auto& [k, v] : n.items()) {
      if (k == "key" || k == "value" || k == "where") {
        if (!v.is_string()) return Status::InvalidArgument(p + "." + k + ": must be a string");
        std::string s = v.get<std::string>();
        if (s.find('\0') != std::string::npos) return Status::InvalidArgument(p + "." + k + ": NUL byte");
        (k == "key" ? node.key : k == "value" ? node.value : node.where) = std::move(s);
      } else if (k == "block") {
        node.is_block = true;
        MODTGT_RETURN_IF_ERROR(ReadNodes(v, depth + 1, count, &node.block, p + ".block"));
      } else {
        return Status::InvalidArgument(p + "." + k + ": unknown field");
      }
    }
    if (node.key.empty()) return Status::InvalidArgument(p + ".key: missing or empty");
    out->push_back(std::move(node));
  }
  return Status::OK();
}

std::string Where(const ConfNode& n) { return n.where.empty() ? "(file)" : n.where; }
std::string Text(const ConfNode& n) {
  return n.is_block ? "<" + n.key + " " + n.value + ">" : n.key + (n.value.empty() ? "" : " " + n.value);
}

// tgt-admin's per-target iSCSI keys (its regex), besides "state".
const std::set<std::string> kIscsiKeys = {
    "MaxRecvDataSegmentLength", "MaxXmitDataSegmentLength", "HeaderDigest", "DataDigest",
    "InitialR2T", "MaxOutstandingR2T", "ImmediateData", "FirstBurstLength", "MaxBurstLength",
    "DataPDUInOrder", "DataSequenceInOrder", "ErrorRecoveryLevel", "IFMarker", "OFMarker",
    "DefaultTime2Wait", "DefaultTime2Retain", "OFMarkInt", "IFMarkInt", "MaxConnections"};

// The LUN-level directives: inside a <backing-store>/<direct-store> block, or at target
// level as the default of every LUN.
const std::set<std::string> kLunKeys = {
    "write-cache", "scsi_id",   "scsi_sn",     "vendor_id",    "product_id",     "product_rev",
    "sense_format", "removable", "online",     "path",         "mode_page",      "readonly",
    "device-type", "bs-type",   "bsopts",      "bsoflags",     "block-size",     "allow-in-use",
    "lbppbe",      "la_lba",    "optimal_xfer_gran", "optimal_xfer_len", "params", "lun"};

bool ParseNumber(const std::string& s, uint64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

// The directives of one target (duplicate <target X> blocks merged), by key in file order.
using Options = std::map<std::string, std::vector<const ConfNode*>>;

class Importer {
 public:
  Importer(const SavedConfig& current, const std::vector<ModuleInfo>& modules)
      : cur_(current), modules_(modules) {}

  Result<TgtImport> Run(const std::vector<ConfNode>& tree) {
    out_.config = cur_;
    std::map<std::string, Options> targets;  // sorted by name, as tgt-admin's Perl sort
    std::map<std::string, std::string> target_where;
    for (const ConfNode& n : tree) {
      if (n.key == "target") {
        if (!n.is_block) {
          Error(n, "target must be a block: <target IQN> ... </target>");
          continue;
        }
        if (n.value.empty()) {
          Error(n, "<target> without a name");
          continue;
        }
        if (!target_where.count(n.value)) target_where[n.value] = Where(n);
        Options& o = targets[n.value];
        for (const ConfNode& c : n.block) o[c.key].push_back(&c);
      } else {
        Global(n);
      }
    }
    if (!driver_ok_) {
      return Status::InvalidArgument(Join(errors_));
    }
    // tids: an existing target keeps its own; a new one gets controller_tid or the next.
    int next_tid = 0;
    for (const auto& t : cur_.targets) next_tid = std::max(next_tid, t.tid);
    std::set<int> used;
    std::vector<SavedTarget> result;
    for (const auto& [name, opts] : targets) {
      const SavedTarget* existing = FindCurrent(name);
      int tid = 0;
      auto ct = opts.find("controller_tid");
      if (existing != nullptr) {
        tid = existing->tid;
        if (ct != opts.end()) {
          Note(*ct->second[0], "target " + name + " exists already with tid " + std::to_string(tid) +
                                   "; it keeps it");
        }
      } else if (ct != opts.end()) {
        uint64_t n = 0;
        if (!ParseNumber(ct->second[0]->value, &n) || n < 1 || n > 0x7fffffff) {
          Error(*ct->second[0], "controller_tid '" + ct->second[0]->value + "' is not a tid (1..2147483647)");
          continue;
        }
        tid = static_cast<int>(n);
        next_tid = tid;
      } else {
        tid = ++next_tid;
      }
      if (!used.insert(tid).second) {
        Error(*opts.begin()->second[0], "target " + name + ": tid " + std::to_string(tid) +
                                             " is already another target's of the file");
        continue;
      }
      result.push_back(Target(name, tid, opts, target_where[name]));
    }
    // A running target that the file does not name, whose tid a new target takes: that is
    // a replacement; ApplyConfig handles both.
    std::sort(result.begin(), result.end(),
              [](const SavedTarget& a, const SavedTarget& b) { return a.tid < b.tid; });
    out_.config.targets = std::move(result);
    FinishAccounts();
    if (!errors_.empty()) return Status::InvalidArgument(Join(errors_));
    return std::move(out_);
  }

 private:
  static std::string Join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : "\n") + x;
    return s;
  }
  void Error(const ConfNode& n, const std::string& what) { errors_.push_back(Where(n) + ": " + what); }
  // A target-level LUN directive is looked at once per LUN: listed once.
  void Note(const ConfNode& n, const std::string& reason) {
    for (const auto& u : out_.unmapped) {
      if (u.where == Where(n) && u.directive == Text(n) && u.reason == reason) return;
    }
    out_.unmapped.push_back({Where(n), Text(n), reason});
  }

  const SavedTarget* FindCurrent(const std::string& name) const {
    for (const auto& t : cur_.targets) {
      if (strcasecmp(t.name.c_str(), name.c_str()) == 0) return &t;
    }
    return nullptr;
  }

  void Global(const ConfNode& n) {
    if (n.key == "default-driver") {
      if (n.value != "iscsi") {
        Error(n, "default-driver " + n.value + ": modtgt's transport is iscsi (it has no iSER)");
        driver_ok_ = false;
      }
    } else if (n.key == "ignore-errors") {
      Note(n, "the import is all or nothing: nothing is applied when something fails");
    } else if (n.key == "control-port") {
      Note(n, "modtgtadm reaches the daemon through its admin socket (--socket, or -C N as "
              "the socket path with .N appended)");
    } else if (n.key == "iSNS" || n.key == "iSNSServerIP" || n.key == "iSNSServerPort" ||
               n.key == "iSNSAccessControl") {
      Note(n, "modtgt has no iSNS client (initiators find targets with SendTargets)");
    } else if (n.key == "incomingdiscoveryuser" || n.key == "outgoingdiscoveryuser") {
      std::string user;
      if (Account(n, &user)) {
        if (n.key == "incomingdiscoveryuser") {
          discovery_in_.insert(user);
        } else if (discovery_out_.empty()) {
          discovery_out_ = user;
        } else {
          Note(n, "only one outgoing discovery user: " + discovery_out_ + " is used");
        }
        discovery_set_ = true;
      }
    } else if (kLunKeys.count(n.key) || n.key == "backing-store" || n.key == "direct-store") {
      Note(n, "a LUN directive outside any <target> block applies to nothing");
    } else {
      Note(n, "unknown directive (ignored, as tgt-admin ignores it)");
    }
  }

  // "USER PASSWORD": records the account. False (with an error) when malformed.
  bool Account(const ConfNode& n, std::string* user) {
    // tgt-admin splits on single spaces and takes the first two fields.
    std::vector<std::string> f;
    size_t start = 0;
    while (start <= n.value.size()) {
      size_t sp = n.value.find(' ', start);
      if (sp == std::string::npos) sp = n.value.size();
      f.push_back(n.value.substr(start, sp - start));
      start = sp + 1;
    }
    if (f.size() < 2 || f[0].empty() || f[1].empty()) {
      Error(n, n.key + " needs a user and a password");
      return false;
    }
    if (f.size() > 2) {
      Note(n, "only the first two words are the user and the password (as tgt-admin reads them)");
    }
    Status s = CheckAccount(f[0], f[1]);
    if (!s.ok()) {
      Error(n, n.key + " " + f[0] + ": " + s.message());
      return false;
    }
    auto it = accounts_.find(f[0]);
    if (it != accounts_.end() && it->second != f[1]) {
      Error(n, "user " + f[0] + " is given two different passwords");
      return false;
    }
    accounts_[f[0]] = f[1];
    *user = f[0];
    return true;
  }

  // The value of a LUN directive for one LUN: its own (block) or the target's.
  struct LunOpts {
    std::map<std::string, std::vector<const ConfNode*>> own;
    const Options* target = nullptr;
    std::vector<const ConfNode*> Get(const std::string& key) const {
      auto it = own.find(key);
      if (it != own.end()) return it->second;
      auto jt = target->find(key);
      if (jt != target->end()) return jt->second;
      return {};
    }
  };

  SavedTarget Target(const std::string& name, int tid, const Options& opts, const std::string& where) {
    SavedTarget t;
    t.tid = tid;
    t.name = name;
    if (const SavedTarget* ex = FindCurrent(name)) t.alias = ex->alias;
    bool any_address = false;
    TargetParams params;
    for (const auto& [key, nodes] : opts) {
      const ConfNode& first = *nodes[0];
      if (key == "driver") {
        if (first.value != "iscsi") Error(first, "driver " + first.value + ": modtgt has no iSER transport");
      } else if (key == "initiator-address") {
        any_address = true;
        for (const ConfNode* n : nodes) {
          Result<std::string> c = CanonicalAclAddress(n->value);
          if (!c.ok()) {
            Error(*n, c.status().message());
          } else if (std::find(t.acl_addresses.begin(), t.acl_addresses.end(), *c) == t.acl_addresses.end()) {
            t.acl_addresses.push_back(*c);
          }
        }
      } else if (key == "initiator-name") {
        for (const ConfNode* n : nodes) {
          if (n->value.empty() || n->value.size() > 223) {
            Error(*n, "initiator-name '" + n->value + "' is not an iSCSI name");
          } else if (std::find(t.acl_names.begin(), t.acl_names.end(), n->value) == t.acl_names.end()) {
            t.acl_names.push_back(n->value);
          }
        }
      } else if (key == "incominguser") {
        for (const ConfNode* n : nodes) {
          std::string user;
          if (Account(*n, &user) &&
              std::find(t.chap.incoming.begin(), t.chap.incoming.end(), user) == t.chap.incoming.end()) {
            t.chap.incoming.push_back(user);
          }
        }
        std::sort(t.chap.incoming.begin(), t.chap.incoming.end());
      } else if (key == "outgoinguser") {
        std::string user;
        if (Account(first, &user)) t.chap.outgoing = user;
        for (size_t i = 1; i < nodes.size(); i++) {
          Note(*nodes[i], "only one outgoing user per target: the first is used (as tgt-admin)");
        }
      } else if (kIscsiKeys.count(key) || key.rfind("state", 0) == 0) {
        for (size_t i = 1; i < nodes.size(); i++) {
          Note(*nodes[i], "given more than once: the first value is used (as tgt-admin)");
        }
        if (key.rfind("state", 0) == 0) {
          Result<TargetState> s = ParseTargetState(first.value);
          if (!s.ok()) {
            Error(first, s.status().message());
          } else {
            t.state = TargetStateName(*s);
          }
          continue;
        }
        Status s = params.Set(key, first.value);
        if (s.code() == Code::kUnsupported) {
          Note(first, "not applied: " + s.message());
        } else if (!s.ok()) {
          Error(first, s.message());
        }
      } else if (key == "controller_tid" || key == "backing-store" || key == "direct-store" ||
                 kLunKeys.count(key)) {
        // tid handled by the caller; LUNs and their defaults below.
      } else {
        for (const ConfNode* n : nodes) Note(*n, "unknown directive (ignored, as tgt-admin ignores it)");
      }
    }
    t.iscsi = params.values();
    if (!any_address) t.acl_addresses.insert(t.acl_addresses.begin(), "ALL");
    Luns(&t, opts, where);
    return t;
  }

  // LUN numbering and contents, as tgt-admin.
  void Luns(SavedTarget* t, const Options& opts, const std::string& where) {
    struct Store {
      const ConfNode* node;
      bool direct;
      std::string path;
    };
    std::vector<Store> stores;
    for (const char* kind : {"backing-store", "direct-store"}) {
      auto it = opts.find(kind);
      if (it == opts.end()) continue;
      std::map<std::string, const ConfNode*> by_path;  // sorted, one LUN per path
      for (const ConfNode* n : it->second) {
        if (n->value.empty()) {
          Error(*n, std::string(kind) + " without a path");
          continue;
        }
        if (by_path.count(n->value)) {
          Note(*n, "the same " + std::string(kind) + " twice: one LUN (as tgt-admin)");
          if (n->is_block) by_path[n->value] = n;
          continue;
        }
        by_path[n->value] = n;
      }
      for (const auto& [path, n] : by_path) stores.push_back({n, std::string(kind) == "direct-store", path});
    }
    // A block's own "lun" is reserved before the others are numbered.
    std::set<uint64_t> taken;
    std::vector<LunOpts> lun_opts(stores.size());
    for (size_t i = 0; i < stores.size(); i++) {
      lun_opts[i].target = &opts;
      if (!stores[i].node->is_block) continue;
      for (const ConfNode& c : stores[i].node->block) {
        if (c.is_block) {
          Note(c, "a block inside a LUN block applies to nothing");
          continue;
        }
        if (!kLunKeys.count(c.key)) {
          Note(c, "unknown LUN directive (ignored, as tgt-admin ignores it)");
          continue;
        }
        lun_opts[i].own[c.key].push_back(&c);
      }
      auto l = lun_opts[i].own.find("lun");
      uint64_t n = 0;
      if (l != lun_opts[i].own.end() && ParseNumber(l->second[0]->value, &n)) taken.insert(n);
    }
    auto target_lun = opts.find("lun");
    std::map<uint64_t, const Store*> numbered;
    for (size_t i = 0; i < stores.size(); i++) {
      const Store& st = stores[i];
      const LunOpts& lo = lun_opts[i];
      uint64_t lun = 0;
      auto own_lun = lo.own.find("lun");
      if (own_lun != lo.own.end()) {
        if (!ParseNumber(own_lun->second[0]->value, &lun) || lun > kMaxLun) {
          Error(*own_lun->second[0], "lun '" + own_lun->second[0]->value + "' is not a LUN number (0.." +
                                         std::to_string(kMaxLun) + ")");
          continue;
        }
      } else {
        lun = 1;
        while (taken.count(lun)) lun++;
        taken.insert(lun);
      }
      if (target_lun != opts.end()) {
        if (!ParseNumber(target_lun->second[0]->value, &lun) || lun > kMaxLun) {
          Error(*target_lun->second[0], "lun '" + target_lun->second[0]->value + "' is not a LUN number");
          continue;
        }
      }
      if (numbered.count(lun)) {
        Error(*st.node, "LUN " + std::to_string(lun) + " is given to both " + numbered[lun]->path +
                            " and " + st.path);
        continue;
      }
      numbered[lun] = &st;
      std::optional<SavedLun> l = Lun(*t, lun, st.path, st.direct, *st.node, lo);
      if (l) t->luns.push_back(std::move(*l));
    }
    std::sort(t->luns.begin(), t->luns.end(), [](const SavedLun& a, const SavedLun& b) { return a.lun < b.lun; });
    (void)where;
  }

  std::optional<SavedLun> Lun(const SavedTarget& t, uint64_t lun, const std::string& path, bool direct,
                              const ConfNode& store, const LunOpts& lo) {
    const size_t errors_before = errors_.size();
    LunRequest req;
    req.lun = lun;
    req.backing_store = path;
    bool online = true;
    std::vector<std::pair<std::string, std::string>> params;
    // The write cache: tgt-admin turns "write-cache off" into the caching mode page with WCE
    // clear and sends nothing for "on" (tgt's default); a mode_page of page 8 sets it too.
    std::string wce;
    if (direct) {
      Note(store, "direct-store: the device is exported as a backing store; its vendor, product, "
                  "revision and serial are not read from it (the import runs no command: "
                  "tgt-admin runs sg_inq)");
    }
    auto one = [&](const std::string& key) -> const ConfNode* {
      std::vector<const ConfNode*> v = lo.Get(key);
      if (v.empty()) return nullptr;
      for (size_t i = 1; i < v.size(); i++) Note(*v[i], "given more than once: the first is used");
      return v[0];
    };
    if (const ConfNode* n = one("device-type")) {
      Result<std::string> d = TgtDeviceType(n->value);
      if (!d.ok()) {
        Error(*n, d.status().message());
      } else {
        req.device_type = *d;
      }
    }
    if (const ConfNode* n = one("bs-type")) {
      Result<std::string> b = TgtBstype(n->value);
      if (!b.ok()) {
        Error(*n, b.status().message());
      } else {
        req.bstype = *b;
        if (*b != n->value) Note(*n, "bs-type " + n->value + " is modtgt's " + *b + " module");
      }
    }
    if (const ConfNode* n = one("bsopts")) req.bsopts = n->value;
    if (const ConfNode* n = one("bsoflags")) req.bsoflags = n->value;
    if (const ConfNode* n = one("block-size")) {
      uint64_t bs = 0;
      if (!ParseNumber(n->value, &bs) || bs > 65536) {
        Error(*n, "block-size '" + n->value + "' is not a number");
      } else {
        req.block_size = static_cast<uint32_t>(bs);
      }
    }
    if (const ConfNode* n = one("write-cache")) {
      if (n->value == "off") {
        wce = "0";
      } else if (n->value == "on" || n->value.empty()) {
        // tgt-admin sends nothing: the default (on) or a mode_page decides.
      } else {
        Note(*n, "unknown value (on or off): the write cache stays on (as tgt-admin)");
      }
    }
    for (const char* key : {"scsi_id", "scsi_sn", "vendor_id", "product_id", "product_rev",
                            "sense_format", "removable", "readonly"}) {
      if (const ConfNode* n = one(key)) params.emplace_back(key, n->value);
    }
    if (const ConfNode* n = one("online")) {
      if (n->value == "0" || n->value == "1") {
        online = n->value == "1";
      } else {
        Error(*n, "online '" + n->value + "': 0 or 1");
      }
    }
    if (const ConfNode* n = one("path")) {
      if (req.device_type == "cd") {
        req.backing_store = n->value;  // the medium tgtadm's path= loads
      } else {
        Note(*n, "path: the backing store of a disk LUN is its backing-store line");
      }
    }
    for (const ConfNode* n : lo.Get("mode_page")) {
      Result<ModePageText> mp = ParseModePage(n->value);
      if (!mp.ok()) {
        Error(*n, "mode_page: " + mp.status().message());
      } else if (mp->page == 8 && mp->subpage == 0 && mp->bytes.size() == 18) {
        wce = (mp->bytes[0] & 0x04) ? "1" : "0";
      } else {
        Note(*n, "mode page " + std::to_string(mp->page) + ":" + std::to_string(mp->subpage) +
                     " is not applied: modtgt builds its mode pages itself (only the caching "
                     "page's WCE is taken)");
      }
    }
    for (const char* key : {"lbppbe", "la_lba", "optimal_xfer_gran", "optimal_xfer_len"}) {
      for (const ConfNode* n : lo.Get(key)) {
        Note(*n, "not applied: modtgt takes the block limits and the physical block exponent "
                 "from the backing-store module");
      }
    }
    for (const ConfNode* n : lo.Get("allow-in-use")) {
      Note(*n, "modtgt does not check whether a device is in use: nothing to allow");
    }
    for (const ConfNode* n : lo.Get("params")) {
      Result<KeyValueList> kv = SplitParams(n->value);
      if (!kv.ok()) {
        Error(*n, "params: " + kv.status().message());
        continue;
      }
      for (auto& [k, v] : *kv) {
        if (k == "online") {
          if (v == "0" || v == "1") {
            online = v == "1";
          } else {
            Error(*n, "params online='" + v + "': 0 or 1");
          }
        } else if (k == "path") {
          if (req.device_type == "cd") {
            req.backing_store = v;
          } else {
            Note(*n, "params path: the backing store of a disk LUN is its backing-store line");
          }
        } else {
          params.emplace_back(k, v);
        }
      }
    }
    if (!wce.empty()) params.emplace_back("wce", wce);
    // A later value of a key replaces an earlier one (tgtadm applies them in turn).
    std::vector<std::pair<std::string, std::string>> last;
    for (auto& kv : params) {
      auto it = std::find_if(last.begin(), last.end(), [&](const auto& x) { return x.first == kv.first; });
      if (it != last.end()) {
        it->second = kv.second;
      } else {
        last.push_back(kv);
      }
    }
    req.params = std::move(last);
    if (errors_.size() != errors_before) return std::nullopt;
    Result<LunPlan> plan = PlanLun(t.tid, t.name, req, modules_);
    if (!plan.ok()) {
      if (plan.status().code() == Code::kUnsupported) {
        Error(store, "LUN " + std::to_string(lun) + ": " + plan.status().message());
      } else {
        Error(store, "LUN " + std::to_string(lun) + " (" + path + "): " + plan.status().message());
      }
      return std::nullopt;
    }
    SavedLun l = SavedLunFromPlan(*plan);
    l.online = online;
    return l;
  }

  // targets.conf's params: a key=value list whose values may be in double quotes.
  static Result<KeyValueList> SplitParams(const std::string& s) {
    Result<KeyValueList> kv = SplitKeyValueList(s);
    if (!kv.ok()) return kv;
    for (auto& [k, v] : *kv) {
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    }
    return kv;
  }

  void FinishAccounts() {
    std::map<std::string, SavedAccount> accounts;
    for (const auto& a : cur_.accounts) accounts[a.user] = a;
    for (const auto& [user, secret] : accounts_) accounts[user] = SavedAccount{user, secret, true};
    out_.config.accounts.clear();
    for (auto& [user, a] : accounts) out_.config.accounts.push_back(std::move(a));
    if (discovery_set_) {
      for (const auto& u : discovery_in_) {
        if (std::find(out_.config.discovery.incoming.begin(), out_.config.discovery.incoming.end(), u) ==
            out_.config.discovery.incoming.end()) {
          out_.config.discovery.incoming.push_back(u);
        }
      }
      std::sort(out_.config.discovery.incoming.begin(), out_.config.discovery.incoming.end());
      if (!discovery_out_.empty()) out_.config.discovery.outgoing = discovery_out_;
    }
  }

  const SavedConfig& cur_;
  const std::vector<ModuleInfo>& modules_;
  TgtImport out_;
  std::vector<std::string> errors_;
  bool driver_ok_ = true;
  std::map<std::string, std::string> accounts_;  // from the file
  std::set<std::string> discovery_in_;
  std::string discovery_out_;
  bool discovery_set_ = false;
};

}  // namespace

Result<std::vector<ConfNode>> ConfTreeFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return Status::InvalidArgument("the targets.conf tree must be an object");
  std::vector<ConfNode> out;
  size_t count = 0;
  for (const auto& [k, v] : j.items()) {
    if (k != "directives") return Status::InvalidArgument("unknown field '" + k + "' in the tree");
    MODTGT_RETURN_IF_ERROR(ReadNodes(v, 0, &count, &out, "directives"));
  }
  return out;
}

Result<TgtImport> ImportTgtConf(const std::vector<ConfNode>& tree, const SavedConfig& current,
                                const std::vector<ModuleInfo>& modules) {
  Importer im(current, modules);
  return im.Run(tree);
}

Result<std::string> TgtBstype(const std::string& name) {
  if (name == "aio") return std::string("uring");
  if (name == "sg" || name == "bsg" || name == "ssc" || name == "smc" || name == "sheepdog" ||
      name == "glfs") {
    return Status::Unsupported("bs-type " + name + ": modtgt has no such backing store (its "
                               "modules: rdwr, uring, ram, null, optical, rbd)");
  }
  if (name == "mmc") return std::string("rdwr");  // tgt's cd store: a file, as rdwr reads it
  return name;
}

Result<std::string> TgtDeviceType(const std::string& name) {
  if (name == "disk" || name == "cd") return name;
  if (name == "tape" || name == "ssc" || name == "changer" || name == "osd" || name == "pt") {
    return Status::Unsupported("device type " + name +
                               ": modtgt emulates disks (disk) and CD/DVD drives (cd) only");
  }
  return Status::InvalidArgument("unknown device type '" + name + "' (disk or cd)");
}

}  // namespace modtgt::core
