// SPDX-License-Identifier: Apache-2.0
#include "core/config_apply.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "common/log.h"
#include "core/lun_ops.h"
#include "modtgt/module.h"

namespace modtgt::core {

namespace {

std::string Canon(const std::string& path) {
  char buf[PATH_MAX];
  return realpath(path.c_str(), buf) != nullptr ? std::string(buf) : path;
}

std::string TargetPlace(const SavedTarget& t) {
  return "target " + std::to_string(t.tid) + " " + t.name;
}
std::string LunPlace(const SavedTarget& t, uint64_t lun) {
  return TargetPlace(t) + " LUN " + std::to_string(lun);
}

// The names of the fields in which a and b differ.
std::vector<std::string> DiffFields(const SavedLun& a, const SavedLun& b) {
  std::vector<std::string> d;
  auto cmp = [&](const char* name, bool same) {
    if (!same) d.push_back(name);
  };
  cmp("device_type", a.device_type == b.device_type);
  cmp("bstype", a.bstype == b.bstype);
  cmp("cfgstring", a.cfgstring == b.cfgstring);
  cmp("bsopts", a.bsopts == b.bsopts);
  cmp("bsoflags", a.bsoflags == b.bsoflags);
  cmp("block_size", a.block_size == b.block_size);
  cmp("size", a.size == b.size);
  cmp("wwn", a.wwn == b.wwn);
  cmp("hw_max_sectors", a.hw_max_sectors == b.hw_max_sectors);
  cmp("control", a.control == b.control);
  cmp("readonly", a.readonly == b.readonly);
  cmp("removable", a.removable == b.removable);
  cmp("thin_provisioning", a.thin_provisioning == b.thin_provisioning);
  cmp("write_cache", a.write_cache == b.write_cache);
  cmp("vendor_id", a.vendor_id == b.vendor_id);
  cmp("product_id", a.product_id == b.product_id);
  cmp("product_rev", a.product_rev == b.product_rev);
  cmp("scsi_sn", a.scsi_sn == b.scsi_sn);
  cmp("scsi_id", a.scsi_id == b.scsi_id);
  cmp("naa", a.naa == b.naa);
  cmp("online", a.online == b.online);
  cmp("sense_format", a.sense_format == b.sense_format);
  return d;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

// The fields logicalunit update changes on a live LU (UpdateLun); any other difference
// means a new LU.
const std::set<std::string> kLiveFields = {"size",       "readonly",   "removable",
                                           "thin_provisioning", "write_cache", "vendor_id",
                                           "product_id", "product_rev", "hw_max_sectors",
                                           "online", "sense_format"};

// The parameter updates that turn `cur` into `want` (only kLiveFields differ).
LunUpdate LiveUpdate(const SavedLun& cur, const SavedLun& want) {
  LunUpdate u;
  auto b = [](bool v) { return std::string(v ? "1" : "0"); };
  if (cur.size != want.size && want.size != 0) u.size = std::to_string(want.size);
  if (cur.readonly != want.readonly) u.params.emplace_back("readonly", b(want.readonly));
  if (cur.removable != want.removable) u.params.emplace_back("removable", b(want.removable));
  if (cur.thin_provisioning != want.thin_provisioning) {
    u.params.emplace_back("thin_provisioning", b(want.thin_provisioning));
  }
  if (cur.write_cache != want.write_cache) u.params.emplace_back("write_cache", b(want.write_cache));
  if (cur.vendor_id != want.vendor_id) u.params.emplace_back("vendor_id", want.vendor_id);
  if (cur.product_id != want.product_id) u.params.emplace_back("product_id", want.product_id);
  if (cur.product_rev != want.product_rev) u.params.emplace_back("product_rev", want.product_rev);
  if (cur.hw_max_sectors != want.hw_max_sectors) {
    u.params.emplace_back("max_transfer_blocks", std::to_string(want.hw_max_sectors));
  }
  if (cur.sense_format != want.sense_format) {
    u.params.emplace_back("sense_format", b(want.sense_format));
  }
  return u;
}

bool ValidInitiatorName(const std::string& n) {
  return !n.empty() && n.size() <= 223 && n.find_first_of(" \t\r\n") == std::string::npos;
}

// What happens to one desired LUN.
struct LunStep {
  enum Kind { kKeep, kAdd, kUpdate, kReplace } kind = kKeep;
  const SavedTarget* target = nullptr;
  const SavedLun* want = nullptr;
  const SavedLun* cur = nullptr;
  LunPlan plan;
  Status check;  // CheckLun's verdict on the module and its config (kStart: offline if bad)
};

// The work of one restore, and the undo of what phase A did.
class Applier {
 public:
  Applier(const SavedConfig& desired, const CoreObjects& objs, ApplyMode mode, bool force,
          ApplyReport* report)
      : want_(desired), objs_(objs), mode_(mode), force_(force), report_(report) {}

  Status Run() {
    cur_ = starting() ? SavedConfig{} : Snapshot(objs_);
    if (!ParseTargetState(want_.system_state).ok()) {
      Problem("system: bad state '" + want_.system_state + "'");
    }
    if (cur_.system_state != want_.system_state || cur_.debug != want_.debug) {
      if (!starting() || want_.system_state != "ready" || want_.debug) {
        Action("set the system " + want_.system_state + (want_.debug ? ", debug on" : ", debug off"));
      }
    }
    ValidateAccounts();
    ValidateTargets();
    if (!starting()) PlanModules();
    PlanLuns();
    PlanRemovals();
    if (!starting()) PlanPortals();
    if (!problems_.empty()) return Status::InvalidArgument(Join(problems_, "\n"));
    if (mode_ == ApplyMode::kDryRun || mode_ == ApplyMode::kCheck) return Status::OK();
    Status s = PhaseA();
    if (!s.ok()) {
      Undo();
      return s;
    }
    PhaseB();
    return Status::OK();
  }

 private:
  // Start-up (or its check): onto an empty daemon, store failures become offline LUNs.
  bool starting() const { return mode_ == ApplyMode::kStart || mode_ == ApplyMode::kCheck; }
  void Problem(std::string p) { problems_.push_back(std::move(p)); }
  void Action(std::string a) {
    if (report_ != nullptr) report_->actions.push_back(std::move(a));
  }

  const SavedTarget* CurTarget(int tid) const {
    for (const auto& t : cur_.targets) {
      if (t.tid == tid) return &t;
    }
    return nullptr;
  }
  static const SavedLun* FindLun(const SavedTarget* t, uint64_t lun) {
    if (t == nullptr) return nullptr;
    for (const auto& l : t->luns) {
      if (l.lun == lun) return &l;
    }
    return nullptr;
  }
  int SessionsOf(int tid) const {
    std::shared_ptr<Target> t = objs_.targets->FindByTid(tid);
    return t ? t->sessions.load() : 0;
  }
  // A change that removes or replaces something of target tid is refused while
  // initiators are logged in, unless forced.
  void NeedQuiet(int tid, const std::string& what) {
    int n = SessionsOf(tid);
    if (n > 0 && !force_) {
      Problem(what + ": target " + std::to_string(tid) + " has " + std::to_string(n) +
              " logged-in session(s) (--force closes them)");
    }
    if (n > 0) close_sessions_.insert(tid);
  }

  // Accounts: valid names and secrets (a secret left out, as a dump shows them, keeps the
  // running account's), and every binding names an account of the file.
  void ValidateAccounts() {
    std::set<std::string> users;
    for (const auto& a : want_.accounts) {
      users.insert(a.user);
      std::string secret = a.secret;
      if (!a.has_secret) {
        Result<std::string> cur = objs_.accounts != nullptr ? objs_.accounts->Secret(a.user)
                                                           : Result<std::string>(Status::NotFound(""));
        if (!cur.ok()) {
          Problem("account " + a.user + ": no secret in the file and no such account running");
          continue;
        }
        secret = *cur;
      }
      Status s = CheckAccount(a.user, secret);
      if (!s.ok()) Problem("account " + a.user + ": " + s.message());
      secrets_[a.user] = secret;
    }
    if ((!want_.accounts.empty() || !want_.discovery.incoming.empty() ||
         !want_.discovery.outgoing.empty()) &&
        objs_.accounts == nullptr) {
      Problem("CHAP accounts are configured but this daemon has no account registry");
    }
    auto check = [&](const SavedChap& chap, const std::string& where) {
      for (const auto& u : chap.incoming) {
        if (!users.count(u)) Problem(where + ": CHAP user " + u + " is not an account of the file");
      }
      if (!chap.outgoing.empty() && !users.count(chap.outgoing)) {
        Problem(where + ": outgoing CHAP user " + chap.outgoing + " is not an account of the file");
      }
    };
    check(want_.discovery, "discovery");
    for (const auto& t : want_.targets) check(t.chap, TargetPlace(t));
    // Changed? (The running secrets against the resolved ones; the bindings.)
    std::map<std::string, std::string> running;
    for (const auto& a : cur_.accounts) running[a.user] = a.secret;
    accounts_changed_ = running != secrets_ || cur_.discovery != want_.discovery;
    for (const auto& t : want_.targets) {
      const SavedTarget* ct = CurTarget(t.tid);
      accounts_changed_ |= (ct == nullptr ? SavedChap{} : ct->chap) != t.chap;
    }
    if (accounts_changed_) {
      Action("set the CHAP accounts and their bindings (" + std::to_string(want_.accounts.size()) +
             " account(s))");
    }
  }

  void ValidateTargets() {
    for (const auto& t : want_.targets) {
      Status s = ValidateIscsiName(t.name);
      if (!s.ok()) Problem(TargetPlace(t) + ": " + s.message());
      if (t.alias.size() > 255) Problem(TargetPlace(t) + ": alias longer than 255 characters");
      Status alua = scsi::ValidateAluaConfig(t.alua);
      if (!alua.ok()) Problem(TargetPlace(t) + " ALUA: " + alua.message());
      for (const auto& a : t.acl_addresses) {
        Result<std::string> c = CanonicalAclAddress(a);
        if (!c.ok()) Problem(TargetPlace(t) + " ACL: " + c.status().message());
      }
      for (const auto& n : t.acl_names) {
        if (!ValidInitiatorName(n)) Problem(TargetPlace(t) + " ACL: invalid initiator name '" + n + "'");
      }
      TargetParams params;
      for (const auto& [k, v] : t.iscsi) {
        Status ps = params.Set(k, v);
        if (!ps.ok()) Problem(TargetPlace(t) + " iSCSI parameter: " + ps.message());
      }
      if (!ParseTargetState(t.state).ok()) Problem(TargetPlace(t) + ": bad state '" + t.state + "'");
      const SavedTarget* ct = CurTarget(t.tid);
      if (ct == nullptr) {
        // A new tid must not take the name of a target that stays.
        for (const auto& other : cur_.targets) {
          bool stays = false;
          for (const auto& w : want_.targets) stays |= w.tid == other.tid && w.name == other.name;
          if (stays && other.name == t.name) {
            Problem(TargetPlace(t) + ": the name is target " + std::to_string(other.tid) + "'s");
          }
        }
        Action("create " + TargetPlace(t));
      } else if (ct->name != t.name) {
        NeedQuiet(t.tid, TargetPlace(t));
        Action("replace target " + std::to_string(t.tid) + " " + ct->name + " by " + t.name);
        replaced_targets_.insert(t.tid);
      } else {
        if (ct->iscsi != t.iscsi) Action("set the iSCSI parameters of " + TargetPlace(t));
        if (ct->state != t.state) Action("set " + TargetPlace(t) + " " + t.state);
      }
    }
  }

  void PlanModules() {
    std::vector<ModuleInfo> loaded = objs_.modules->List();
    for (const auto& m : want_.backing_stores) {
      if (FindModuleInfo(loaded, m.name) != nullptr) continue;
      std::string path = SavedModulePath(m, objs_.module_dir, false);
      if (access(path.c_str(), R_OK) != 0) {
        Problem("backing-store module " + m.name + ": no file " + path);
        continue;
      }
      modules_to_load_.push_back(path);
      Action("load backing-store module " + m.name + " from " + path);
    }
    for (const auto& m : loaded) {
      bool wanted = false;
      for (const auto& w : want_.backing_stores) wanted |= w.name == m.name;
      if (!wanted && want_.has_modules) modules_to_unload_.push_back(m.name);
    }
  }

  void PlanLuns() {
    std::vector<ModuleInfo> modules = objs_.modules->List();
    for (const auto& t : want_.targets) {
      const SavedTarget* ct = replaced_targets_.count(t.tid) ? nullptr : CurTarget(t.tid);
      for (const auto& l : t.luns) {
        LunStep step;
        step.target = &t;
        step.want = &l;
        step.cur = FindLun(ct, l.lun);
        Result<LunPlan> plan = PlanLun(t.tid, t.name, LunRequestFrom(l), modules);
        if (!plan.ok()) {
          Problem(LunPlace(t, l.lun) + ": " + plan.status().message());
          continue;
        }
        SavedLun derived = SavedLunFromPlan(*plan);
        derived.online = l.online;
        std::vector<std::string> diff = DiffFields(derived, l);
        if (!diff.empty()) {
          Problem(LunPlace(t, l.lun) + ": saved fields disagree with what they derive (" +
                  Join(diff, ", ") + ")");
          continue;
        }
        step.plan = std::move(*plan);
        if (step.cur != nullptr && *step.cur == l) {
          step.kind = LunStep::kKeep;
        } else if (step.cur != nullptr) {
          std::vector<std::string> d = DiffFields(*step.cur, l);
          bool live = true;
          for (const auto& f : d) live &= kLiveFields.count(f) > 0;
          step.kind = live ? LunStep::kUpdate : LunStep::kReplace;
          if (!live) NeedQuiet(t.tid, LunPlace(t, l.lun));
          Action((live ? "update " : "replace ") + LunPlace(t, l.lun) + " (" + Join(d, ", ") + ")");
        } else {
          step.kind = LunStep::kAdd;
          Action("create " + LunPlace(t, l.lun) + " (" + l.bstype + " " + l.cfgstring + ")");
        }
        if (step.kind == LunStep::kAdd || step.kind == LunStep::kReplace) {
          bool module_pending = false;
          for (const auto& p : modules_to_load_) {
            module_pending |= p.find("/bs_" + l.bstype + ".so") != std::string::npos;
          }
          if (FindModuleInfo(modules, l.bstype) == nullptr) {
            step.check = module_pending ? Status::OK()
                                        : Status::NotFound("no backing-store module '" + l.bstype +
                                                           "' is loaded");
          } else {
            Status s = objs_.modules->CheckConfig(step.plan.device);
            if (!s.ok()) {
              step.check = Status::ModuleError("bstype " + l.bstype + ", backing store " +
                                               l.cfgstring + ": " + s.message());
            }
          }
          if (!step.check.ok() && !starting()) {
            Problem(LunPlace(t, l.lun) + ": " + step.check.message());
          } else if (!step.check.ok() && mode_ == ApplyMode::kCheck && report_ != nullptr) {
            report_->offline.push_back("tid " + std::to_string(t.tid) + " lun " +
                                       std::to_string(l.lun) + ": " + step.check.message());
          }
        }
        steps_.push_back(std::move(step));
      }
    }
  }

  void PlanRemovals() {
    for (const auto& ct : cur_.targets) {
      const SavedTarget* wt = nullptr;
      for (const auto& t : want_.targets) {
        if (t.tid == ct.tid) wt = &t;
      }
      if (wt == nullptr) {
        NeedQuiet(ct.tid, TargetPlace(ct));
        Action("delete " + TargetPlace(ct));
        removed_targets_.push_back(ct.tid);
        continue;
      }
      if (replaced_targets_.count(ct.tid)) continue;
      for (const auto& cl : ct.luns) {
        if (FindLun(wt, cl.lun) == nullptr) {
          NeedQuiet(ct.tid, LunPlace(ct, cl.lun));
          Action("delete " + LunPlace(ct, cl.lun));
          removed_luns_.emplace_back(ct.tid, cl.lun);
        }
      }
    }
  }

  void PlanPortals() {
    if (objs_.transports == nullptr || !want_.has_portals) return;
    std::map<std::string, std::vector<std::string>> cur = objs_.transports->ConfiguredPortals();
    for (const auto& [name, list] : want_.portals) {
      for (const auto& p : list) {
        const auto& have = cur[name];
        if (std::find(have.begin(), have.end(), p) == have.end()) {
          portals_to_add_.emplace_back(name, p);
          Action("listen on " + name + " portal " + p);
        }
      }
    }
    for (const auto& [name, list] : cur) {
      auto it = want_.portals.find(name);
      for (const auto& p : list) {
        if (it == want_.portals.end() ||
            std::find(it->second.begin(), it->second.end(), p) == it->second.end()) {
          Problem(name + " portal " + p + ": closing a portal at run time is not supported yet; "
                  "restart modtgtd to drop it");
        }
      }
    }
  }

  // ---- Phase A: everything that can fail, each step with its undo ----
  Status PhaseA() {
    for (const auto& path : modules_to_load_) {
      Status s = objs_.modules->LoadFile(path);
      if (!s.ok()) return Status::ModuleError("loading " + path + ": " + s.message());
      std::vector<ModuleInfo> list = objs_.modules->List();
      std::string name;
      for (const auto& m : list) {
        if (m.path == Canon(path)) name = m.name;
      }
      undo_.push_back([this, name] { (void)objs_.modules->Unload(name); });
    }
    // New targets (and replacements, built aside).
    for (const auto& t : want_.targets) {
      if (CurTarget(t.tid) != nullptr && !replaced_targets_.count(t.tid)) continue;
      auto target = std::make_shared<Target>(t.tid, t.name);
      target->set_alias(t.alias);
      target->set_iscsi_params(ParamsOf(t));
      target->set_state(*ParseTargetState(t.state));
      MODTGT_RETURN_IF_ERROR(target->SetAlua(t.alua));
      MODTGT_RETURN_IF_ERROR(SetAcl(target.get(), t));
      if (replaced_targets_.count(t.tid)) {
        built_targets_[t.tid] = target;
      } else {
        MODTGT_RETURN_IF_ERROR(objs_.targets->Add(target));
        undo_.push_back([this, tid = t.tid] { (void)objs_.targets->Remove(tid, true); });
      }
      new_targets_[t.tid] = target;
    }
    // LUNs.
    for (LunStep& step : steps_) {
      const SavedTarget& t = *step.target;
      std::shared_ptr<Target> target = new_targets_.count(t.tid) ? new_targets_[t.tid]
                                                                 : objs_.targets->FindByTid(t.tid);
      if (target == nullptr) return Status::Internal("target " + std::to_string(t.tid) + " vanished");
      switch (step.kind) {
        case LunStep::kKeep:
          break;
        case LunStep::kAdd:
          MODTGT_RETURN_IF_ERROR(AddOne(target.get(), step));
          break;
        case LunStep::kUpdate:
          MODTGT_RETURN_IF_ERROR(UpdateOne(target.get(), step));
          break;
        case LunStep::kReplace: {
          // Opened now, swapped in by phase B.
          auto lu = CreateLun(step.plan, target->name(), [this](const DeviceConfig& cfg) {
            return objs_.modules->OpenDevice(cfg);
          });
          if (!lu.ok()) {
            return Status::ModuleError(LunPlace(t, step.want->lun) + ": " + lu.status().message());
          }
          if (!step.want->online) (*lu)->SetOffline(true, "taken offline by the administrator (online=0)");
          replacements_.push_back({target, *lu, step.plan.device});
          break;
        }
      }
    }
    for (const auto& [name, portal] : portals_to_add_) {
      Result<std::vector<std::string>> b = objs_.transports->AddPortals(name, {portal});
      if (!b.ok()) return Status::Unavailable(name + " portal " + portal + ": " + b.status().message());
    }
    return Status::OK();
  }

  // The target's parameters (validated before: every key and value is good).
  static TargetParams ParamsOf(const SavedTarget& t) {
    TargetParams p;
    for (const auto& [k, v] : t.iscsi) (void)p.Set(k, v);
    return p;
  }

  Status SetAcl(Target* target, const SavedTarget& t) {
    for (const auto& a : t.acl_addresses) MODTGT_RETURN_IF_ERROR(target->BindAddress(a));
    for (const auto& n : t.acl_names) MODTGT_RETURN_IF_ERROR(target->BindName(n));
    return Status::OK();
  }

  Status AddOne(Target* target, const LunStep& step) {
    const SavedTarget& t = *step.target;
    const SavedLun& l = *step.want;
    Result<std::shared_ptr<scsi::LogicalUnit>> lu =
        step.check.ok() ? AddLun(target, step.plan, objs_.modules)
                        : Result<std::shared_ptr<scsi::LogicalUnit>>(step.check);
    if (!lu.ok() && mode_ == ApplyMode::kStart && lu.status().code() != Code::kAlreadyExists) {
      // Never dropped: kept offline with the reason, back with online=1 once fixed.
      std::string reason = lu.status().message();
      lu = AddOfflineLun(target, step.plan, reason);
      if (lu.ok() && report_ != nullptr) {
        report_->offline.push_back("tid " + std::to_string(t.tid) + " lun " + std::to_string(l.lun) +
                                   ": " + reason);
      }
      LOG_WARN("%s is offline: %s", LunPlace(t, l.lun).c_str(), reason.c_str());
    }
    if (!lu.ok()) return Status(lu.status().code() == Code::kModuleError
                                    ? Status::ModuleError(LunPlace(t, l.lun) + ": " + lu.status().message())
                                    : Status::InvalidArgument(LunPlace(t, l.lun) + ": " +
                                                              lu.status().message()));
    if (!l.online && !(*lu)->offline()) {
      (*lu)->SetOffline(true, "taken offline by the administrator (online=0)");
    }
    undo_.push_back([target, n = l.lun] { (void)target->RemoveLun(n); });
    return Status::OK();
  }

  Status UpdateOne(Target* target, const LunStep& step) {
    const SavedLun& cur = *step.cur;
    const SavedLun& want = *step.want;
    LunUpdate u = LiveUpdate(cur, want);
    if (!u.params.empty() || !u.size.empty()) {
      Result<LunUpdateResult> r = UpdateLun(target, want.lun, u, objs_.modules);
      if (!r.ok()) return Status(r.status().code() == Code::kModuleError
                                     ? Status::ModuleError(LunPlace(*step.target, want.lun) + ": " + r.status().message())
                                     : Status::Busy(LunPlace(*step.target, want.lun) + ": " + r.status().message()));
      LunUpdate back = LiveUpdate(want, cur);
      undo_.push_back([this, target, n = want.lun, back] {
        (void)UpdateLun(target, n, back, objs_.modules);
      });
    }
    if (cur.online != want.online) {
      LunUpdate o;
      o.params = {{"online", want.online ? "1" : "0"}};
      Result<LunUpdateResult> r = UpdateLun(target, want.lun, o, objs_.modules);
      if (!r.ok()) return Status::ModuleError(LunPlace(*step.target, want.lun) + ": " + r.status().message());
      LunUpdate back;
      back.params = {{"online", cur.online ? "1" : "0"}};
      undo_.push_back([this, target, n = want.lun, back] {
        (void)UpdateLun(target, n, back, objs_.modules);
      });
    }
    return Status::OK();
  }

  void Undo() {
    while (!undo_.empty()) {
      undo_.back()();
      undo_.pop_back();
    }
  }

  // ---- Phase B: nothing here fails (every conflict was checked before) ----
  void PhaseB() {
    for (int tid : close_sessions_) {
      if (objs_.transports != nullptr) objs_.transports->CloseTargetSessions(tid);
    }
    for (const auto& t : want_.targets) {
      if (new_targets_.count(t.tid)) continue;
      std::shared_ptr<Target> target = objs_.targets->FindByTid(t.tid);
      if (target == nullptr) continue;
      if (target->alias() != t.alias) target->set_alias(t.alias);
      target->set_iscsi_params(ParamsOf(t));
      target->set_state(*ParseTargetState(t.state));
      if (!(target->alua() == t.alua)) (void)target->SetAlua(t.alua);  // validated above
      SyncAcl(target.get(), t);
    }
    objs_.targets->set_system_state(*ParseTargetState(want_.system_state));
    objs_.targets->set_debug(want_.debug);
    for (auto& r : replacements_) {
      r.target->SetLunDeviceConfig(r.lu->lun(), r.device);
      (void)r.target->ReplaceLun(r.lu);
    }
    for (const auto& [tid, lun] : removed_luns_) {
      if (auto t = objs_.targets->FindByTid(tid)) (void)DeleteLun(t.get(), lun);
    }
    for (int tid : removed_targets_) {
      RemoveTarget(tid, /*delete_luns=*/true);
      if (objs_.accounts != nullptr) objs_.accounts->ForgetTarget(tid);
    }
    for (const auto& [tid, target] : built_targets_) {
      RemoveTarget(tid);
      Status s = objs_.targets->Add(target);
      if (!s.ok()) LOG_ERROR("restore: target %d: %s", tid, s.ToString().c_str());
    }
    SetAccounts();
    for (const auto& name : modules_to_unload_) {
      Status s = objs_.modules->Unload(name);
      if (s.ok()) {
        Action("unload backing-store module " + name);
      } else {
        Action("backing-store module " + name + " stays loaded: " + s.message());
      }
    }
  }

  // The accounts and every binding become the file's (validated before: nothing fails).
  void SetAccounts() {
    AccountRegistry* reg = objs_.accounts;
    if (reg == nullptr || !accounts_changed_) return;
    for (const auto& u : reg->Users()) (void)reg->Remove(u, /*force=*/true);
    for (int tid : reg->BoundTids()) reg->ForgetTarget(tid);
    for (const auto& [user, secret] : secrets_) (void)reg->Add(user, secret);
    auto bind = [&](int tid, const SavedChap& chap) {
      for (const auto& u : chap.incoming) (void)reg->Bind(tid, u, false);
      if (!chap.outgoing.empty()) (void)reg->Bind(tid, chap.outgoing, true);
    };
    bind(kDiscoveryTid, want_.discovery);
    for (const auto& t : want_.targets) bind(t.tid, t.chap);
  }

  // delete_luns: the target is gone from the file, its LUs' saved persistent reservations
  // go too; otherwise (a target rebuilt in place) they stay for the new LUs.
  void RemoveTarget(int tid, bool delete_luns = false) {
    std::shared_ptr<Target> t = objs_.targets->FindByTid(tid);
    if (t == nullptr) return;
    (void)objs_.targets->Remove(tid, /*force=*/true);
    for (uint64_t lun : t->ListLuns()) {
      if (delete_luns) {
        (void)DeleteLun(t.get(), lun);
      } else {
        (void)t->RemoveLun(lun);
      }
    }
  }

  static void SyncAcl(Target* target, const SavedTarget& t) {
    std::set<std::string> want_addr;
    for (const auto& a : t.acl_addresses) {
      Result<std::string> c = CanonicalAclAddress(a);
      want_addr.insert(c.ok() ? *c : a);
    }
    for (const auto& a : target->bound_addresses()) {
      if (!want_addr.count(a)) (void)target->UnbindAddress(a);
    }
    std::vector<std::string> have = target->bound_addresses();
    for (const auto& a : want_addr) {
      if (std::find(have.begin(), have.end(), a) == have.end()) (void)target->BindAddress(a);
    }
    std::set<std::string> want_names(t.acl_names.begin(), t.acl_names.end());
    for (const auto& n : target->bound_names()) {
      if (!want_names.count(n)) (void)target->UnbindName(n);
    }
    std::vector<std::string> names = target->bound_names();
    for (const auto& n : want_names) {
      if (std::find(names.begin(), names.end(), n) == names.end()) (void)target->BindName(n);
    }
  }

  struct Replacement {
    std::shared_ptr<Target> target;
    std::shared_ptr<scsi::LogicalUnit> lu;
    DeviceConfig device;
  };

  const SavedConfig& want_;
  const CoreObjects& objs_;
  const ApplyMode mode_;
  const bool force_;
  ApplyReport* report_;
  SavedConfig cur_;
  std::vector<std::string> problems_;
  std::vector<LunStep> steps_;
  std::vector<std::string> modules_to_load_;
  std::vector<std::string> modules_to_unload_;
  std::set<int> replaced_targets_;
  std::set<int> close_sessions_;
  std::vector<int> removed_targets_;
  std::vector<std::pair<int, uint64_t>> removed_luns_;
  std::vector<std::pair<std::string, std::string>> portals_to_add_;
  std::map<int, std::shared_ptr<Target>> new_targets_;    // created by this apply
  std::map<int, std::shared_ptr<Target>> built_targets_;  // replacements, swapped in phase B
  std::vector<Replacement> replacements_;
  std::vector<std::function<void()>> undo_;
  std::map<std::string, std::string> secrets_;  // the accounts to set, secrets resolved
  bool accounts_changed_ = false;
};

}  // namespace

std::string SavedModulePath(const SavedModule& m, const std::string& module_dir, bool transport) {
  if (!m.path.empty()) return m.path;
  return transport ? module_dir + "/transport/lld_" + m.name + ".so"
                   : module_dir + "/backing-store/bs_" + m.name + ".so";
}

SavedConfig Snapshot(const CoreObjects& objs) {
  SavedConfig c;
  c.has_modules = true;
  if (objs.modules != nullptr) {
    for (const auto& m : objs.modules->List()) {
      SavedModule s{m.name, ""};
      if (Canon(SavedModulePath(s, objs.module_dir, false)) != m.path) s.path = m.path;
      c.backing_stores.push_back(std::move(s));
    }
  }
  if (objs.transports != nullptr) {
    for (const auto& t : objs.transports->List()) {
      SavedModule s{t.name, ""};
      if (Canon(SavedModulePath(s, objs.module_dir, true)) != Canon(t.path)) s.path = t.path;
      c.transports.push_back(std::move(s));
    }
    c.has_portals = true;
    c.portals = objs.transports->ConfiguredPortals();
  }
  if (objs.accounts != nullptr) {
    for (const auto& user : objs.accounts->Users()) {
      Result<std::string> secret = objs.accounts->Secret(user);
      c.accounts.push_back(SavedAccount{user, secret.ok() ? *secret : "", secret.ok()});
    }
    AccountRegistry::Binding d = objs.accounts->BindingOf(kDiscoveryTid);
    c.discovery = SavedChap{d.incoming, d.outgoing};
  }
  c.system_state = TargetStateName(objs.targets->system_state());
  c.debug = objs.targets->debug();
  for (const auto& target : objs.targets->List()) {
    SavedTarget t;
    t.tid = target->tid();
    t.name = target->name();
    t.alias = target->alias();
    t.alua = target->alua();
    t.acl_addresses = target->bound_addresses();
    t.acl_names = target->bound_names();
    t.iscsi = target->iscsi_params().values();
    t.state = TargetStateName(target->state());
    if (objs.accounts != nullptr) {
      AccountRegistry::Binding b = objs.accounts->BindingOf(t.tid);
      t.chap = SavedChap{b.incoming, b.outgoing};
    }
    for (const auto& [n, lu] : *target->luns()) {
      DeviceConfig dev;
      if (!target->GetLunDeviceConfig(n, &dev)) continue;  // not made by the admin
      t.luns.push_back(SavedLunFromLu(*lu, dev));
    }
    c.targets.push_back(std::move(t));
  }
  return c;
}

Status ApplyConfig(const SavedConfig& desired, const CoreObjects& objs, ApplyMode mode, bool force,
                   ApplyReport* report) {
  if (objs.targets == nullptr || objs.modules == nullptr) {
    return Status::Internal("no target or module registry");
  }
  Applier a(desired, objs, mode, force, report);
  return a.Run();
}

}  // namespace modtgt::core
