// SPDX-License-Identifier: Apache-2.0
// HandleRequest: the admin protocol's request handlers (docs/admin-protocol.md). Every field
// is read through checked accessors; a missing or mistyped field gives invalid-request
// naming it. No exception leaves HandleRequest.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <exception>
#include <set>
#include <string>
#include <vector>

#include "admin/protocol.h"
#include "admin/server.h"
#include "common/log.h"
#include "core/device.h"
#include "core/lun_factory.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"
#include "modtgt/module.h"
#include "scsi/mmc.h"
#include "scsi/sense.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;
using Params = std::vector<std::pair<std::string, std::string>>;

// A failed handler step: the reply to send.
struct Error {
  ErrorCode code;
  std::string message;
};

// Either a result object or an Error. Small local stand-in for Result<json>.
class Outcome {
 public:
  Outcome(json result) : ok_(true), result_(std::move(result)) {}  // NOLINT
  Outcome(Error e) : ok_(false), error_(std::move(e)) {}           // NOLINT
  json ToReply() && {
    return ok_ ? OkReply(std::move(result_)) : ErrorReply(error_.code, error_.message);
  }

 private:
  bool ok_;
  json result_;
  Error error_{ErrorCode::kInternal, ""};
};

Error Invalid(std::string msg) { return Error{ErrorCode::kInvalidRequest, std::move(msg)}; }

// Maps a Status from the core to an admin error. `not_found`/`exists` say what the
// NotFound/AlreadyExists codes mean in the caller's context.
Error FromStatus(const Status& s, ErrorCode not_found, ErrorCode exists) {
  switch (s.code()) {
    case Code::kInvalidArgument: return Error{ErrorCode::kInvalidRequest, s.message()};
    case Code::kNotFound: return Error{not_found, s.message()};
    case Code::kAlreadyExists: return Error{exists, s.message()};
    case Code::kPermissionDenied: return Error{ErrorCode::kPermission, s.message()};
    case Code::kBusy: return Error{ErrorCode::kBusy, s.message()};
    default: return Error{ErrorCode::kInternal, s.message()};
  }
}

// Checked access to the request's fields.
class Request {
 public:
  explicit Request(const json& j) : j_(j) {}

  bool Has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  // Each getter returns false and sets *err when the field is required but missing, or is
  // present with the wrong type or out of range.
  bool String(const char* key, bool required, std::string* out, Error* err) const {
    if (!Has(key)) return Missing(key, required, err);
    const json& v = j_.at(key);
    if (!v.is_string()) {
      *err = Invalid(std::string("field '") + key + "' must be a string");
      return false;
    }
    *out = v.get<std::string>();
    if (out->find('\0') != std::string::npos) {
      *err = Invalid(std::string("field '") + key + "' contains a NUL byte");
      return false;
    }
    return true;
  }

  bool Int(const char* key, bool required, int64_t min, int64_t max, int64_t* out,
           Error* err) const {
    if (!Has(key)) return Missing(key, required, err);
    const json& v = j_.at(key);
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(max)) return Range(key, min, max, err);
      *out = static_cast<int64_t>(u);
    } else if (v.is_number_integer()) {
      *out = v.get<int64_t>();
    } else {
      *err = Invalid(std::string("field '") + key + "' must be an integer");
      return false;
    }
    if (*out < min || *out > max) return Range(key, min, max, err);
    return true;
  }

  bool Bool(const char* key, bool* out, Error* err) const {
    if (!Has(key)) return true;  // booleans are always optional
    const json& v = j_.at(key);
    if (!v.is_boolean()) {
      *err = Invalid(std::string("field '") + key + "' must be true or false");
      return false;
    }
    *out = v.get<bool>();
    return true;
  }

  // A size: a string with a unit ("64M", see core::ParseSize) or a JSON integer of bytes.
  bool SizeText(const char* key, std::string* out, Error* err) const {
    if (!Has(key)) return true;
    const json& v = j_.at(key);
    if (v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0)) {
      *out = v.dump();
      return true;
    }
    if (!v.is_string()) {
      *err = Invalid(std::string("field '") + key +
                     "' must be a byte count (integer) or a string such as \"64M\"");
      return false;
    }
    *out = v.get<std::string>();
    if (out->empty()) {
      *err = Invalid(std::string("field '") + key + "' is empty");
      return false;
    }
    return true;
  }

  // "params": an object {"k": "v"|number|bool} or a tgtadm string "k=v,k=v".
  bool ParamList(const char* key, Params* out, Error* err) const {
    if (!Has(key)) return true;
    const json& v = j_.at(key);
    if (v.is_string()) {
      auto parsed = ParseParamList(v.get<std::string>());
      if (!parsed.ok()) {
        *err = Invalid(parsed.status().message());
        return false;
      }
      *out = std::move(parsed.value());
      return true;
    }
    if (!v.is_object()) {
      *err = Invalid(std::string("field '") + key + "' must be an object or a k=v,... string");
      return false;
    }
    for (const auto& [k, val] : v.items()) {
      if (val.is_string()) {
        out->emplace_back(k, val.get<std::string>());
      } else if (val.is_boolean()) {
        out->emplace_back(k, val.get<bool>() ? "1" : "0");
      } else if (val.is_number_integer() || val.is_number_unsigned()) {
        out->emplace_back(k, val.dump());
      } else {
        *err = Invalid(std::string("field '") + key + "." + k +
                       "' must be a string, an integer or a boolean");
        return false;
      }
    }
    return true;
  }

  // Refuses fields not in `allowed` (besides mode, op, lld), catching typos.
  bool OnlyFields(std::initializer_list<const char*> allowed, Error* err) const {
    for (const auto& [k, v] : j_.items()) {
      if (k == "mode" || k == "op" || k == "lld") continue;
      bool found = false;
      for (const char* a : allowed) found = found || k == a;
      if (!found) {
        *err = Invalid("unknown field '" + k + "' for " + j_.value("mode", "") + " " +
                       j_.value("op", ""));
        return false;
      }
    }
    return true;
  }

 private:
  static bool Missing(const char* key, bool required, Error* err) {
    if (!required) return true;
    *err = Invalid(std::string("missing field '") + key + "'");
    return false;
  }
  static bool Range(const char* key, int64_t min, int64_t max, Error* err) {
    *err = Invalid(std::string("field '") + key + "' out of range (" + std::to_string(min) +
                   ".." + std::to_string(max) + ")");
    return false;
  }
  const json& j_;
};

constexpr int64_t kMaxTid = 0x7fffffff;

std::string NaaHex(uint64_t naa) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, naa);
  return buf;
}

const char* LockStateName(int state) {
  switch (state) {
    case MODTGT_LOCK_UNLOCKED: return "unlocked";
    case MODTGT_LOCK_LOCKED: return "locked";
    case MODTGT_LOCK_LOCKING: return "locking";
    default: return "unknown";
  }
}

bool IsCd(const scsi::LogicalUnit& lu) {
  return lu.type() != nullptr && lu.type()->peripheral_type() == MODTGT_DEVTYPE_CDROM;
}

json LunJson(const core::Target& t, const scsi::LogicalUnit& lu) {
  const scsi::LuConfig& c = lu.config();
  const bool cd = IsCd(lu);
  json j;
  j["lun"] = lu.lun();
  j["type"] = cd ? "cd" : "disk";
  j["device_type"] = cd ? "cd" : "disk";
  uint64_t size = lu.backend() ? lu.backend()->size_bytes() : 0;
  j["size_bytes"] = size;
  j["size"] = size;
  j["block_size"] = c.block_size;
  j["blocks"] = c.block_size ? size / c.block_size : 0;
  core::DeviceConfig dev;
  if (t.GetLunDeviceConfig(lu.lun(), &dev)) {
    j["backing_store"] = dev.cfgstring;
    j["cfgstring"] = dev.cfgstring;
    j["bstype"] = dev.bstype;
    j["bsopts"] = dev.bsopts;
    j["bsoflags"] = core::FormatBsOflags(dev.oflags);
    j["wwn"] = dev.wwn;
    j["hw_max_sectors"] = dev.hw_max_sectors;
    j["max_data_area_mb"] = dev.max_data_area_mb;
  } else {
    j["backing_store"] = nullptr;
    j["cfgstring"] = nullptr;
    j["bstype"] = nullptr;
    j["wwn"] = "";
    j["hw_max_sectors"] = c.max_transfer_blocks;
    j["max_data_area_mb"] = 0;
  }
  j["readonly"] = c.readonly;
  j["removable"] = c.removable;
  j["thin_provisioning"] = c.thin_provisioning;
  j["write_cache"] = lu.wce.load();
  if (cd) j["medium_present"] = lu.medium_present.load();
  j["vendor_id"] = c.vendor;
  j["product_id"] = c.product;
  j["product_rev"] = c.revision;
  j["scsi_sn"] = c.serial;
  j["scsi_id"] = c.device_id;
  j["naa"] = NaaHex(c.naa);
  j["max_transfer_blocks"] = c.max_transfer_blocks;
  j["inflight"] = lu.inflight.load();
  // A module-backed device: its cluster lock and the events the module reported.
  auto* device = dynamic_cast<core::Device*>(lu.backend());
  if (device != nullptr) {
    const bool has_lock = device->has_lock();
    j["lock"] = {{"supported", has_lock},
                 {"state", has_lock ? LockStateName(device->GetLockState()) : "unknown"}};
    core::Device::EventCounts ev = device->events();
    j["events"] = {{"lock_lost", ev.lock_lost},
                   {"conn_lost", ev.conn_lost},
                   {"conn_restored", ev.conn_restored},
                   {"connected", ev.connected},
                   {"last", ev.last}};
  }
  return j;
}

std::vector<core::SessionInfo> SessionsOf(AdminContext* ctx, int tid) {
  std::vector<core::SessionInfo> out;
  if (ctx->transports == nullptr) return out;
  for (auto& s : ctx->transports->Sessions()) {
    if (s.tid == tid) out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> Portals(AdminContext* ctx) {
  return ctx->transports ? ctx->transports->Portals() : std::vector<std::string>();
}

json TargetJson(AdminContext* ctx, const core::Target& t) {
  json j;
  j["tid"] = t.tid();
  j["name"] = t.name();
  j["alias"] = t.alias();
  json nexuses = json::array();
  auto sessions = SessionsOf(ctx, t.tid());
  for (const auto& s : sessions) {
    nexuses.push_back({{"nexus_id", s.nexus_id},
                       {"initiator", s.initiator_name},
                       {"isid", s.isid},
                       {"tsih", s.tsih},
                       {"connections", s.connections}});
  }
  j["sessions"] = std::max<int64_t>(t.sessions.load(), static_cast<int64_t>(sessions.size()));
  j["nexuses"] = std::move(nexuses);
  json luns = json::array();
  for (const auto& [n, lu] : *t.luns()) luns.push_back(LunJson(t, *lu));
  j["luns"] = std::move(luns);
  j["acl"] = {{"addresses", t.bound_addresses()}, {"names", t.bound_names()}};
  j["accounts"] = json::array();  // CHAP accounts: not implemented yet
  return j;
}

json ModuleJson(const core::ModuleInfo& m) {
  return {{"kind", m.kind},
          {"name", m.name},
          {"subtype", m.subtype},
          {"path", m.path},
          {"version", m.version},
          {"abi_version", m.abi_version},
          {"abi", std::to_string(m.abi_version >> 16) + "." + std::to_string(m.abi_version & 0xffff)},
          {"state", core::ModuleStateName(m.state)},
          {"error", m.error},
          {"description", m.description},
          {"cfg_desc", m.cfg_desc},
          {"capabilities", m.capabilities},
          {"nr_threads", m.nr_threads},
          {"users", m.users}};
}

// Finds the target named by "tid" (preferred) or "targetname".
bool LookupTarget(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* out,
                  Error* err) {
  int64_t tid = 0;
  std::string name;
  if (!r.Int("tid", false, 1, kMaxTid, &tid, err)) return false;
  if (!r.String("targetname", false, &name, err)) return false;
  if (tid == 0 && name.empty()) {
    *err = Invalid("missing field 'tid'");
    return false;
  }
  std::shared_ptr<core::Target> t =
      tid != 0 ? ctx->targets->FindByTid(static_cast<int>(tid)) : ctx->targets->FindByName(name);
  if (t == nullptr) {
    *err = Error{ErrorCode::kNoSuchTarget,
                 tid != 0 ? "no target " + std::to_string(tid) : "no target named " + name};
    return false;
  }
  if (tid != 0 && !name.empty() && t->name() != name) {
    *err = Invalid("target " + std::to_string(tid) + " is named " + t->name() + ", not " + name);
    return false;
  }
  *out = std::move(t);
  return true;
}

// ---- system ----

Outcome SystemShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  json j;
  j["version"] = ctx->version;
  j["protocol"] = kProtocolVersion;
  j["pid"] = static_cast<int64_t>(getpid());
  j["threads"] = ctx->threads;
  j["module_dir"] = ctx->module_dir;
  j["portals"] = Portals(ctx);
  json mods = json::array();
  if (ctx->modules) {
    for (const auto& m : ctx->modules->List()) mods.push_back(ModuleJson(m));
  }
  j["modules"] = std::move(mods);
  json targets = json::array();
  for (const auto& t : ctx->targets->List()) {
    targets.push_back({{"tid", t->tid()},
                       {"name", t->name()},
                       {"luns", t->luns()->size()},
                       {"sessions", SessionsOf(ctx, t->tid()).size()}});
  }
  j["targets"] = std::move(targets);
  return j;
}

bool ValidModuleName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
         });
}

// The module listed under `name`, if any (copied to *out unless out is null).
bool FindModule(AdminContext* ctx, const std::string& name, core::ModuleInfo* out) {
  if (ctx->modules == nullptr) return false;
  std::vector<core::ModuleInfo> modules = ctx->modules->List();
  const core::ModuleInfo* m = core::FindModuleInfo(modules, name);
  if (m != nullptr && out != nullptr) *out = *m;
  return m != nullptr;
}

// Reads "bstype" and "path" of bsload/bsreload. A bstype containing '/' is a path (tgtadm
// has no --path option). A path must be absolute: the daemon's working folder is not the
// caller's. On return *name may be empty (bsload with only a path).
bool ModuleTarget(const Request& r, bool name_required, std::string* name, std::string* path,
                  Error* err) {
  if (!r.String("bstype", false, name, err) || !r.String("path", false, path, err)) return false;
  if (name->find('/') != std::string::npos) {
    if (!path->empty()) {
      *err = Invalid("give the module file either as bstype or as path, not both");
      return false;
    }
    *path = *name;
    name->clear();
  }
  if (name->empty() && (name_required || path->empty())) {
    *err = Invalid(name_required ? "missing field 'bstype' (the module name)"
                                 : "missing field 'bstype' (a module name or a file path)");
    return false;
  }
  if (!name->empty() && !ValidModuleName(*name)) {
    *err = Invalid("invalid bstype '" + *name + "' (module names are [a-z0-9_]+)");
    return false;
  }
  if (!path->empty() && (*path)[0] != '/') {
    *err = Invalid("module path '" + *path + "' must be absolute");
    return false;
  }
  return true;
}

// --mode system --op bsload --bstype NAME [--path FILE]: loads <module_dir>/backing-store/
// bs_NAME.so, or FILE. Loading a module listed in state error again retries its load().
Outcome SystemBsLoad(AdminContext* ctx, const Request& r) {
  Error err;
  std::string name, path;
  if (!r.OnlyFields({"bstype", "path"}, &err) ||
      !ModuleTarget(r, /*name_required=*/false, &name, &path, &err)) {
    return err;
  }
  if (ctx->modules == nullptr) return Error{ErrorCode::kInternal, "no module registry"};
  core::ModuleInfo listed;
  if (path.empty()) {
    // A failed module is retried from the file it was loaded from.
    if (FindModule(ctx, name, &listed) && listed.state == core::ModuleState::kError) {
      path = listed.path;
    } else {
      path = ctx->module_dir + "/backing-store/bs_" + name + ".so";
    }
  }
  if (access(path.c_str(), F_OK) != 0) {
    return Error{ErrorCode::kNoSuchModule, "no module file " + path};
  }
  char real[PATH_MAX];
  const std::string canonical = realpath(path.c_str(), real) ? real : path;
  Status s = ctx->modules->LoadFile(path);
  // The module now listed for this file (also after a failed load(): state error).
  bool found = false;
  for (auto& m : ctx->modules->List()) {
    if (m.path == canonical) {
      listed = std::move(m);
      found = true;
    }
  }
  if (found && !name.empty() && listed.name != name) {
    if (s.ok() || listed.state == core::ModuleState::kError) (void)ctx->modules->Unload(listed.name);
    return Invalid("module file " + path + " is backing store '" + listed.name + "', not '" +
                   name + "'; nothing loaded");
  }
  if (!s.ok()) {
    if (s.code() == Code::kAlreadyExists) return Error{ErrorCode::kBusy, s.message()};
    return Error{ErrorCode::kModuleError, s.message()};
  }
  LOG_INFO("admin: module %s loaded from %s", listed.name.c_str(), canonical.c_str());
  if (found) return json{{"module", ModuleJson(listed)}};
  return json{{"module", {{"name", name}, {"path", path}}}};
}

// --mode system --op bsreload --bstype NAME [--path FILE]: live reload under the module's
// LUNs (core::ModuleRegistry::Reload); on failure the old code keeps serving and the error
// says so.
Outcome SystemBsReload(AdminContext* ctx, const Request& r) {
  Error err;
  std::string name, path;
  if (!r.OnlyFields({"bstype", "path"}, &err) ||
      !ModuleTarget(r, /*name_required=*/true, &name, &path, &err)) {
    return err;
  }
  if (ctx->modules == nullptr) return Error{ErrorCode::kInternal, "no module registry"};
  if (!path.empty() && access(path.c_str(), F_OK) != 0) {
    return Error{ErrorCode::kNoSuchModule, "no module file " + path};
  }
  Status s = ctx->modules->Reload(name, path);
  if (!s.ok()) {
    switch (s.code()) {
      case Code::kNotFound:
        // A NotFound from the module itself (open() of a LUN) is a module error.
        if (!FindModule(ctx, name, nullptr)) return Error{ErrorCode::kNoSuchModule, s.message()};
        return Error{ErrorCode::kModuleError, s.message()};
      case Code::kBusy: return Error{ErrorCode::kBusy, s.message()};
      default: return Error{ErrorCode::kModuleError, s.message()};
    }
  }
  core::ModuleInfo listed;
  if (!FindModule(ctx, name, &listed)) return Error{ErrorCode::kInternal, "module vanished"};
  LOG_INFO("admin: module %s reloaded from %s (version %s)", name.c_str(), listed.path.c_str(),
           listed.version.c_str());
  return json{{"module", ModuleJson(listed)}};
}

// --mode system --op bsunload --bstype NAME: refused (busy, naming the users) while LUNs
// use the module.
Outcome SystemBsUnload(AdminContext* ctx, const Request& r) {
  Error err;
  std::string name;
  if (!r.OnlyFields({"bstype"}, &err) || !r.String("bstype", true, &name, &err)) return err;
  if (ctx->modules == nullptr) return Error{ErrorCode::kInternal, "no module registry"};
  Status s = ctx->modules->Unload(name);
  if (!s.ok()) {
    switch (s.code()) {
      case Code::kNotFound: return Error{ErrorCode::kNoSuchModule, s.message()};
      case Code::kBusy: return Error{ErrorCode::kBusy, s.message()};
      case Code::kInvalidArgument: return Invalid(s.message());
      default: return Error{ErrorCode::kModuleError, s.message()};
    }
  }
  LOG_INFO("admin: module %s unloaded", name.c_str());
  return json{{"bstype", name}};
}

// ---- target ----

Outcome TargetNew(AdminContext* ctx, const Request& r) {
  Error err;
  int64_t tid = 0;
  std::string name, alias;
  if (!r.OnlyFields({"tid", "targetname", "alias"}, &err) ||
      !r.Int("tid", true, 1, kMaxTid, &tid, &err) ||
      !r.String("targetname", true, &name, &err) || !r.String("alias", false, &alias, &err)) {
    return err;
  }
  auto t = std::make_shared<core::Target>(static_cast<int>(tid), name);
  if (!alias.empty()) t->set_alias(alias);
  Status s = ctx->targets->Add(t);
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchTarget, ErrorCode::kTargetExists);
  LOG_INFO("admin: target %d %s created", t->tid(), t->name().c_str());
  return json{{"tid", t->tid()}, {"name", t->name()}};
}

Outcome TargetDelete(AdminContext* ctx, const Request& r) {
  Error err;
  bool force = false;
  std::shared_ptr<core::Target> t;
  if (!r.OnlyFields({"tid", "targetname", "force"}, &err) || !r.Bool("force", &force, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  size_t sessions = std::max<size_t>(static_cast<size_t>(std::max(0, t->sessions.load())),
                                     SessionsOf(ctx, t->tid()).size());
  if (sessions > 0) {
    if (!force) {
      return Error{ErrorCode::kBusy, "target " + std::to_string(t->tid()) + " has " +
                                         std::to_string(sessions) +
                                         " session(s); log them out first or use --force"};
    }
    if (ctx->transports) ctx->transports->CloseTargetSessions(t->tid());
  }
  Status s = ctx->targets->Remove(t->tid(), force);
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchTarget, ErrorCode::kTargetExists);
  // Drop the LUs now so their devices close (in-flight commands hold their own refs).
  for (uint64_t lun : t->ListLuns()) {
    auto removed = t->RemoveLun(lun);
    (void)removed;
  }
  LOG_INFO("admin: target %d %s deleted", t->tid(), t->name().c_str());
  return json{{"tid", t->tid()}};
}

Outcome TargetShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({"tid", "targetname"}, &err)) return err;
  json targets = json::array();
  if (r.Has("tid") || r.Has("targetname")) {
    std::shared_ptr<core::Target> t;
    if (!LookupTarget(ctx, r, &t, &err)) return err;
    targets.push_back(TargetJson(ctx, *t));
  } else {
    for (const auto& t : ctx->targets->List()) targets.push_back(TargetJson(ctx, *t));
  }
  return json{{"targets", std::move(targets)}};
}

Outcome TargetBind(AdminContext* ctx, const Request& r, bool bind) {
  Error err;
  std::shared_ptr<core::Target> t;
  std::string addr, name;
  if (!r.OnlyFields({"tid", "targetname", "initiator_address", "initiator_name"}, &err) ||
      !r.String("initiator_address", false, &addr, &err) ||
      !r.String("initiator_name", false, &name, &err)) {
    return err;
  }
  if (addr.empty() && name.empty()) {
    return Invalid("missing field 'initiator_address' or 'initiator_name'");
  }
  if (!LookupTarget(ctx, r, &t, &err)) return err;
  // Validate both before changing anything.
  if (!addr.empty()) {
    auto canon = core::CanonicalAclAddress(addr);
    if (!canon.ok()) return Invalid(canon.status().message());
  }
  if (!name.empty() && (name.size() > 223 || name.find_first_of(" \t\r\n") != std::string::npos)) {
    return Invalid("invalid initiator name '" + name + "'");
  }
  if (!addr.empty()) {
    Status s = bind ? t->BindAddress(addr) : t->UnbindAddress(addr);
    if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchAcl, ErrorCode::kAclExists);
  }
  if (!name.empty()) {
    Status s = bind ? t->BindName(name) : t->UnbindName(name);
    if (!s.ok()) {
      if (!addr.empty()) {  // undo the address half so the request is all or nothing
        Status undo = bind ? t->UnbindAddress(addr) : t->BindAddress(addr);
        (void)undo;
      }
      return FromStatus(s, ErrorCode::kNoSuchAcl, ErrorCode::kAclExists);
    }
  }
  return json{{"tid", t->tid()},
              {"acl", {{"addresses", t->bound_addresses()}, {"names", t->bound_names()}}}};
}

// ---- logicalunit ----

Error ModuleFailure(const core::DeviceConfig& dev, const Status& s) {
  return Error{ErrorCode::kModuleError,
               "bstype " + dev.bstype + ", backing store " + dev.cfgstring + ": " + s.message()};
}

// Reads and validates a logicalunit new/check request: the plan, the target, and the
// module's check_config. Nothing is created or opened.
bool PrepareLun(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* t,
                core::LunPlan* plan_out, Error* err) {
  int64_t lun = 0, block_size = 0, hw_max_sectors = 0;
  core::LunRequest req;
  if (!r.OnlyFields({"tid", "targetname", "lun", "backing_store", "cfgstring", "bstype",
                     "bsopts", "bsoflags", "blocksize", "params", "size", "wwn",
                     "hw_max_sectors", "control", "device_type"},
                    err) ||
      !r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), &lun, err) ||
      !r.String("backing_store", false, &req.backing_store, err) ||
      !r.String("cfgstring", false, &req.cfgstring, err) ||
      !r.String("bstype", false, &req.bstype, err) ||
      !r.String("bsopts", false, &req.bsopts, err) ||
      !r.String("bsoflags", false, &req.bsoflags, err) ||
      !r.Int("blocksize", false, 0, 1 << 20, &block_size, err) ||
      !r.ParamList("params", &req.params, err) || !r.SizeText("size", &req.size, err) ||
      !r.String("wwn", false, &req.wwn, err) ||
      !r.Int("hw_max_sectors", false, 1, UINT32_MAX, &hw_max_sectors, err) ||
      !r.ParamList("control", &req.control, err) ||
      !r.String("device_type", false, &req.device_type, err)) {
    return false;
  }
  if (!r.Has("backing_store") && !r.Has("cfgstring")) {
    *err = Invalid("missing field 'backing_store' or 'cfgstring'");
    return false;
  }
  if (r.Has("wwn") && req.wwn.empty()) {
    *err = Invalid("field 'wwn' is empty");
    return false;
  }
  if (!LookupTarget(ctx, r, t, err)) return false;
  req.lun = static_cast<uint64_t>(lun);
  req.block_size = static_cast<uint32_t>(block_size);
  req.hw_max_sectors = static_cast<uint64_t>(hw_max_sectors);
  if ((*t)->FindLun(req.lun) != nullptr) {
    *err = Error{ErrorCode::kLunExists, "LUN " + std::to_string(lun) +
                                            " already exists in target " +
                                            std::to_string((*t)->tid())};
    return false;
  }
  if (ctx->modules == nullptr) {
    *err = Error{ErrorCode::kInternal, "no module registry"};
    return false;
  }
  std::vector<core::ModuleInfo> modules = ctx->modules->List();
  Result<core::LunPlan> plan = core::PlanLun((*t)->tid(), (*t)->name(), req, modules);
  if (!plan.ok()) {
    *err = Invalid(plan.status().message());
    return false;
  }
  if (core::FindModuleInfo(modules, plan->device.bstype) == nullptr) {
    *err = Error{ErrorCode::kNoSuchModule, "no backing-store module '" + plan->device.bstype +
                                               "' is loaded (bstype; see --mode system --op show)"};
    return false;
  }
  Status s = ctx->modules->CheckConfig(plan->device);
  if (!s.ok()) {
    *err = ModuleFailure(plan->device, s);
    return false;
  }
  *plan_out = std::move(*plan);
  return true;
}

Outcome LunNew(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  core::LunPlan plan;
  if (!PrepareLun(ctx, r, &t, &plan, &err)) return err;
  auto lu = core::CreateLun(plan, t->name(), [ctx](const core::DeviceConfig& cfg) {
    return ctx->modules->OpenDevice(cfg);
  });
  if (!lu.ok()) {
    if (lu.status().code() == Code::kInvalidArgument &&
        lu.status().message().find("smaller than one") != std::string::npos) {
      return Invalid(lu.status().message());
    }
    return ModuleFailure(plan.device, lu.status());
  }
  t->SetLunDeviceConfig(plan.lu.lun, plan.device);
  Status s = t->AddLun(*lu);
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchLun, ErrorCode::kLunExists);
  LOG_INFO("admin: tid %d lun %" PRIu64 " created (%s %s)", t->tid(), plan.lu.lun,
           plan.device.bstype.c_str(), plan.device.cfgstring.c_str());
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, **lu)}};
}

// logicalunit check: the validation of logicalunit new (PlanLun + the module's
// check_config), creating nothing.
Outcome LunCheck(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  core::LunPlan plan;
  if (!PrepareLun(ctx, r, &t, &plan, &err)) return err;
  return json{{"tid", t->tid()},
              {"lun", plan.lu.lun},
              {"ok", true},
              {"bstype", plan.device.bstype},
              {"cfgstring", plan.device.cfgstring},
              {"device_type", plan.device_type == MODTGT_DEVTYPE_CDROM ? "cd" : "disk"},
              {"block_size", plan.lu.block_size},
              {"size", plan.device.size},
              {"scsi_sn", plan.lu.serial},
              {"naa", NaaHex(plan.lu.naa)},
              {"max_transfer_blocks", plan.lu.max_transfer_blocks}};
}

Outcome LunDelete(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  bool force = false;
  if (!r.OnlyFields({"tid", "targetname", "lun", "force"}, &err) ||
      !r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), &lun, &err) ||
      !r.Bool("force", &force, &err) || !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  auto lu = t->FindLun(static_cast<uint64_t>(lun));
  if (lu == nullptr) {
    return Error{ErrorCode::kNoSuchLun,
                 "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
  }
  if (!force && lu->inflight.load() > 0) {
    return Error{ErrorCode::kBusy, "LUN " + std::to_string(lun) + " has commands in flight; " +
                                       "retry or use --force"};
  }
  auto removed = t->RemoveLun(static_cast<uint64_t>(lun));
  if (!removed.ok()) return FromStatus(removed.status(), ErrorCode::kNoSuchLun, ErrorCode::kLunExists);
  LOG_INFO("admin: tid %d lun %" PRId64 " deleted", t->tid(), lun);
  return json{{"tid", t->tid()}, {"lun", lun}};
}

Outcome LunShow(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = -1;
  if (!r.OnlyFields({"tid", "targetname", "lun"}, &err) ||
      !r.Int("lun", false, 0, static_cast<int64_t>(core::kMaxLun), &lun, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  json luns = json::array();
  if (lun >= 0) {
    auto lu = t->FindLun(static_cast<uint64_t>(lun));
    if (lu == nullptr) {
      return Error{ErrorCode::kNoSuchLun,
                   "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
    }
    luns.push_back(LunJson(*t, *lu));
  } else {
    for (const auto& [n, lu] : *t->luns()) luns.push_back(LunJson(*t, *lu));
  }
  return json{{"tid", t->tid()}, {"luns", std::move(luns)}};
}

// Maps a failed LogicalUnit::Resize to an admin error. The size was checked (a positive
// block multiple) and the module has reconfig, so any refusal left is the module's own
// (its MODTGT_EINVAL arrives as InvalidArgument): module-error; busy when I/O did not drain.
Error ResizeFailure(const core::DeviceConfig& dev, uint64_t bytes, const Status& s) {
  std::string what = "resize of bstype " + dev.bstype + ", backing store " + dev.cfgstring +
                     " to " + std::to_string(bytes) + " bytes failed: " + s.message();
  if (s.code() == Code::kBusy) return Error{ErrorCode::kBusy, what};
  return Error{ErrorCode::kModuleError, what};
}

// logicalunit update --params k=v,... and/or --size SIZE: a new size resizes the live LU
// through the module's reconfig (LogicalUnit::Resize; every nexus gets CAPACITY DATA HAS
// CHANGED); write cache changes live (MODE SELECT semantics, reaching the module through
// Backend::SetWriteCache); readonly, removable, thin_provisioning, inquiry strings and
// max_transfer_blocks rebuild the LU on a newly opened device (same identity) and swap it in
// with ReplaceLun; identity, block size and the backing store cannot change on a live LUN.
Outcome LunUpdate(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  Params params;
  std::string size_text;
  if (!r.OnlyFields({"tid", "targetname", "lun", "params", "size"}, &err) ||
      !r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), &lun, &err) ||
      !r.ParamList("params", &params, &err) || !r.SizeText("size", &size_text, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  if (params.empty() && size_text.empty()) {
    return Invalid("missing field 'params' or 'size' (nothing to update)");
  }
  auto lu = t->FindLun(static_cast<uint64_t>(lun));
  if (lu == nullptr) {
    return Error{ErrorCode::kNoSuchLun,
                 "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
  }
  core::LunPlan plan;
  plan.lu = lu->config();
  if (!t->GetLunDeviceConfig(lu->lun(), &plan.device)) {
    return Error{ErrorCode::kUnsupported, "LUN " + std::to_string(lun) +
                                              " was not created by the admin; cannot update it"};
  }
  plan.lu.write_cache = lu->wce.load();
  core::LunPlan next = plan;
  Status s = core::ApplyLunParams(params, &next);
  if (!s.ok()) return Invalid(s.message());
  next.device.hw_max_sectors = next.lu.max_transfer_blocks;  // what the module is told
  const scsi::LuConfig& a = plan.lu;
  const scsi::LuConfig& b = next.lu;
  if (a.serial != b.serial || a.naa != b.naa || a.device_id != b.device_id) {
    return Invalid("scsi_sn, scsi_id and naa cannot change on a live LUN; delete and re-create it");
  }
  // A new size: --size, or params size= (both must agree).
  // (A flag next to the value rather than std::optional: g++ 12 warns maybe-uninitialized.)
  bool resize = false;
  uint64_t new_size = 0;
  if (!size_text.empty()) {
    Result<uint64_t> n = core::ParseSize(size_text);
    if (!n.ok()) return Invalid("--size: " + n.status().message());
    resize = true;
    new_size = *n;
  }
  if (next.device.size != plan.device.size) {
    if (resize && new_size != next.device.size) {
      return Invalid("--size and --params size disagree");
    }
    resize = true;
    new_size = next.device.size;
  }
  const uint64_t old_size = lu->backend() ? lu->backend()->size_bytes() : 0;
  if (resize) {
    if (new_size % plan.lu.block_size != 0) {
      return Invalid("size " + std::to_string(new_size) + " is not a multiple of the block size " +
                     std::to_string(plan.lu.block_size));
    }
    if (new_size == old_size) {
      resize = false;  // nothing to do
    } else {
      core::ModuleInfo mi;
      if (FindModule(ctx, plan.device.bstype, &mi) && !mi.has_reconfig) {
        return Error{ErrorCode::kUnsupported,
                     "backing store '" + plan.device.bstype +
                         "' cannot resize a live LUN (the module has no reconfig callback)"};
      }
    }
    next.device.size = resize ? new_size : old_size;
  }
  bool rebuild = a.readonly != b.readonly || a.removable != b.removable ||
                 a.thin_provisioning != b.thin_provisioning || a.vendor != b.vendor ||
                 a.product != b.product || a.revision != b.revision ||
                 a.max_transfer_blocks != b.max_transfer_blocks;
  std::shared_ptr<scsi::LogicalUnit> current = lu;
  if (resize) {
    // Resize first: a refusal leaves the LU exactly as it was.
    s = lu->Resize(new_size);
    if (!s.ok()) return ResizeFailure(plan.device, new_size, s);
    LOG_INFO("admin: tid %d lun %" PRId64 " resized from %" PRIu64 " to %" PRIu64 " bytes",
             t->tid(), lun, old_size, new_size);
    plan.device.size = new_size;
    t->SetLunDeviceConfig(lu->lun(), plan.device);
  }
  if (rebuild) {
    if (ctx->modules == nullptr) return Error{ErrorCode::kInternal, "no module registry"};
    s = ctx->modules->CheckConfig(next.device);
    if (!s.ok()) return ModuleFailure(next.device, s);
    auto fresh = core::CreateLun(next, t->name(), [ctx](const core::DeviceConfig& cfg) {
      return ctx->modules->OpenDevice(cfg);
    });
    if (!fresh.ok()) return ModuleFailure(next.device, fresh.status());
    {
      // Carry the persistent reservations over (SPC-4 5.13: they survive config changes).
      std::scoped_lock lock(lu->mutex(), (*fresh)->mutex());
      (*fresh)->pr_registrations = lu->pr_registrations;
      (*fresh)->pr_generation = lu->pr_generation;
      (*fresh)->pr_reserved = lu->pr_reserved;
      (*fresh)->pr_type = lu->pr_type;
      (*fresh)->pr_holder_initiator_port = lu->pr_holder_initiator_port;
      (*fresh)->pr_holder_target_port = lu->pr_holder_target_port;
      (*fresh)->pr_aptpl = lu->pr_aptpl;
    }
    (*fresh)->d_sense.store(lu->d_sense.load());
    (*fresh)->swp.store(lu->swp.load());
    (*fresh)->wce.store(b.write_cache);
    (*fresh)->backend()->SetWriteCache(b.write_cache);
    s = t->ReplaceLun(*fresh);
    if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchLun, ErrorCode::kLunExists);
    current = *fresh;
  } else if (a.write_cache != b.write_cache) {
    lu->wce.store(b.write_cache);
    if (lu->backend()) lu->backend()->SetWriteCache(b.write_cache);
    // SPC-4 5.14: mode parameters changed by other than this I_T nexus.
    lu->AddUnitAttentionAll(scsi::asc::kModeParametersChanged);
  }
  t->SetLunDeviceConfig(current->lun(), next.device);
  LOG_INFO("admin: tid %d lun %" PRId64 " updated%s", t->tid(), lun,
           rebuild ? " (logical unit rebuilt)" : "");
  json result = {{"tid", t->tid()}, {"rebuilt", rebuild}, {"lun", LunJson(*t, *current)}};
  if (resize) result["resized"] = {{"from", old_size}, {"to", new_size}};
  return result;
}

// Finds the LU of an eject/load request and checks it is a cd.
bool FindCdLun(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* t,
               std::shared_ptr<scsi::LogicalUnit>* lu, Error* err) {
  int64_t lun = 0;
  if (!r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), &lun, err) ||
      !LookupTarget(ctx, r, t, err)) {
    return false;
  }
  *lu = (*t)->FindLun(static_cast<uint64_t>(lun));
  if (*lu == nullptr) {
    *err = Error{ErrorCode::kNoSuchLun,
                 "no LUN " + std::to_string(lun) + " in target " + std::to_string((*t)->tid())};
    return false;
  }
  if (!IsCd(**lu)) {
    *err = Invalid("LUN " + std::to_string(lun) +
                   " is a disk, not a cd: it has no removable medium (--device-type cd)");
    return false;
  }
  return true;
}

// Maps a failed EjectMedium / LoadMedium to an admin error: busy while prevented; with
// `module_called` (load of a new medium) any other refusal is the module's (module-error),
// otherwise invalid-request.
Error MediumFailure(const char* what, const Status& s, bool module_called) {
  std::string msg = std::string(what) + " refused: " + s.message();
  if (s.code() == Code::kBusy) return Error{ErrorCode::kBusy, msg};
  if (s.code() == Code::kInvalidArgument && !module_called) return Invalid(msg);
  return Error{ErrorCode::kModuleError, msg};
}

// logicalunit eject [--force]: removes the medium of a cd LU (scsi::EjectMedium); refused
// with busy while an initiator prevents removal, unless force.
Outcome LunEject(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  std::shared_ptr<scsi::LogicalUnit> lu;
  bool force = false;
  if (!r.OnlyFields({"tid", "targetname", "lun", "force"}, &err) ||
      !r.Bool("force", &force, &err) || !FindCdLun(ctx, r, &t, &lu, &err)) {
    return err;
  }
  Status s = scsi::EjectMedium(lu.get(), force);
  if (!s.ok()) return MediumFailure("eject", s, /*module_called=*/false);
  LOG_INFO("admin: tid %d lun %" PRIu64 " medium ejected%s", t->tid(), lu->lun(),
           force ? " (forced)" : "");
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, *lu)}};
}

// logicalunit load [--cfgstring SUBTYPE/PATH] [--force]: loads or changes the medium of a
// cd LU (scsi::LoadMedium: the module's reconfig CFGSTRING); the subtype must be the
// module's. Without cfgstring the current medium goes back in (after an eject).
Outcome LunLoad(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  std::shared_ptr<scsi::LogicalUnit> lu;
  std::string cfgstring;
  bool force = false;
  if (!r.OnlyFields({"tid", "targetname", "lun", "cfgstring", "force"}, &err) ||
      !r.String("cfgstring", false, &cfgstring, &err) || !r.Bool("force", &force, &err) ||
      !FindCdLun(ctx, r, &t, &lu, &err)) {
    return err;
  }
  if (cfgstring.size() > 4096) return Invalid("cfgstring is longer than 4096 characters");
  core::DeviceConfig dev;
  const bool have_dev = t->GetLunDeviceConfig(lu->lun(), &dev);
  if (!cfgstring.empty()) {
    Result<std::string> subtype = core::CfgStringSubtype(cfgstring);
    if (!subtype.ok()) return Invalid(subtype.status().message());
    core::ModuleInfo mi;
    if (have_dev && FindModule(ctx, dev.bstype, &mi) &&
        mi.subtype != *subtype) {
      return Invalid("cfgstring '" + cfgstring + "' has the subtype '" + *subtype +
                     "', but this LUN's backing store '" + dev.bstype + "' takes '" +
                     mi.subtype + "/...'");
    }
  }
  Status s = scsi::LoadMedium(lu.get(), cfgstring, force);
  if (!s.ok()) return MediumFailure("load", s, /*module_called=*/!cfgstring.empty());
  if (have_dev && !cfgstring.empty()) {
    dev.cfgstring = cfgstring;
    dev.size = 0;  // the new medium's own size
    t->SetLunDeviceConfig(lu->lun(), dev);
  }
  LOG_INFO("admin: tid %d lun %" PRIu64 " medium %s loaded%s", t->tid(), lu->lun(),
           cfgstring.empty() ? "(the previous one)" : cfgstring.c_str(), force ? " (forced)" : "");
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, *lu)}};
}

// ---- portal ----

Outcome PortalShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  return json{{"portals", Portals(ctx)}};
}

Outcome Dispatch(AdminContext* ctx, const json& j) {
  if (!j.is_object()) return Invalid("request must be a JSON object");
  Request r(j);
  Error err;
  std::string mode, op, lld;
  if (!r.String("mode", true, &mode, &err) || !r.String("op", true, &op, &err) ||
      !r.String("lld", false, &lld, &err)) {
    return err;
  }
  if (ctx == nullptr || ctx->targets == nullptr) {
    return Error{ErrorCode::kInternal, "admin context not set up"};
  }
  // Targets and LUNs belong to the core, not to a transport: --lld only has to name a
  // transport this daemon has (loaded, in error, or a module file it can load).
  if (!lld.empty() && (ctx->transports == nullptr || !ctx->transports->Known(lld))) {
    std::string known;
    if (ctx->transports) {
      for (const auto& n : ctx->transports->KnownNames()) known += (known.empty() ? "" : ", ") + n;
    }
    return Error{ErrorCode::kUnsupported, "lld '" + lld + "' is not a transport of this daemon (" +
                                              (known.empty() ? "none" : "known: " + known) + ")"};
  }
  if (mode == "system") {
    if (op == "show") return SystemShow(ctx, r);
    if (op == "bsload") return SystemBsLoad(ctx, r);
    if (op == "bsunload") return SystemBsUnload(ctx, r);
    if (op == "bsreload") return SystemBsReload(ctx, r);
  } else if (mode == "target") {
    if (op == "new") return TargetNew(ctx, r);
    if (op == "delete") return TargetDelete(ctx, r);
    if (op == "show") return TargetShow(ctx, r);
    if (op == "bind") return TargetBind(ctx, r, true);
    if (op == "unbind") return TargetBind(ctx, r, false);
  } else if (mode == "logicalunit") {
    if (op == "new") return LunNew(ctx, r);
    if (op == "delete") return LunDelete(ctx, r);
    if (op == "show") return LunShow(ctx, r);
    if (op == "update") return LunUpdate(ctx, r);
    if (op == "check") return LunCheck(ctx, r);
    if (op == "eject") return LunEject(ctx, r);
    if (op == "load") return LunLoad(ctx, r);
  } else if (mode == "portal") {
    if (op == "show") return PortalShow(ctx, r);
  } else if (mode == "account" || mode == "lld" || mode == "conn" || mode == "session") {
    return Error{ErrorCode::kUnsupported, "mode '" + mode + "' is not implemented yet"};
  } else {
    return Invalid("unknown mode '" + mode + "' (system, target, logicalunit, portal)");
  }
  return Invalid("unknown op '" + op + "' for mode " + mode);
}

}  // namespace

json HandleRequest(AdminContext* ctx, const json& request) {
  // Transport (LLD) ops and the transports in system show: admin/lld_handlers.cc.
  if (IsLldRequest(request)) return HandleLldRequest(ctx, request);
  try {
    return AddTransportsToReply(ctx, request, Dispatch(ctx, request).ToReply());
  } catch (const std::exception& e) {
    LOG_ERROR("admin: request failed with exception: %s", e.what());
    return ErrorReply(ErrorCode::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return ErrorReply(ErrorCode::kInternal, "internal error");
  }
}

}  // namespace modtgt::admin
