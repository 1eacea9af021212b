// SPDX-License-Identifier: Apache-2.0
// --mode system: show, and the backing-store module ops bsload, bsreload, bsunload. (The
// transport ops lldload/lldunload/lldreload are lld_handlers.cc.)
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

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

}  // namespace

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
  // tgtadm's system facts: the state and debug switch, the device types (modtgt emulates
  // disks and CD/DVD drives), no iSNS client.
  j["state"] = core::TargetStateName(ctx->targets->system_state());
  j["debug"] = ctx->targets->debug();
  j["device_types"] = json::array({"disk", "cd/dvd"});
  j["isns"] = false;
  // tgtadm's "LLDs:" lines: every transport, loaded or not ("stopped").
  json llds = json::array();
  if (ctx->transports != nullptr) {
    std::vector<std::string> listed;
    for (const auto& t : ctx->transports->List()) {
      llds.push_back({{"name", t.name}, {"state", core::ModuleStateName(t.state)}, {"error", t.error}});
      listed.push_back(t.name);
    }
    for (const auto& n : ctx->transports->KnownNames()) {
      if (std::find(listed.begin(), listed.end(), n) == listed.end()) {
        llds.push_back({{"name", n}, {"state", "stopped"}, {"error", ""}});
      }
    }
  }
  j["llds"] = std::move(llds);
  j["metrics"] = ctx->metrics_address.empty() ? json(nullptr) : json(ctx->metrics_address);
  return j;
}

// --mode system --op update --name KEY --value VALUE: State (ready | offline: while offline
// no login is accepted, discovery included), debug (on | off). tgt's iSNS keys are refused:
// modtgt has no iSNS client.
Outcome SystemUpdate(AdminContext* ctx, const Request& r) {
  Error err;
  std::string name, value;
  if (!r.OnlyFields({"name", "value"}, &err) || !r.String("name", true, &name, &err) ||
      !r.String("value", true, &value, &err)) {
    return err;
  }
  if (core::IsIsnsKey(name)) {
    return Error{ErrorCode::kUnsupported, name + ": modtgt has no iSNS client (targets are "
                                                 "found with SendTargets discovery)"};
  }
  if (strcasecmp(name.c_str(), "State") == 0) {
    Result<core::TargetState> s = core::ParseTargetState(value);
    if (!s.ok()) return Invalid("State: " + s.status().message());
    ctx->targets->set_system_state(*s);
    LOG_INFO("admin: system state %s", value.c_str());
  } else if (strcasecmp(name.c_str(), "debug") == 0) {
    if (value != "on" && value != "off") return Invalid("debug: must be on or off");
    ctx->targets->set_debug(value == "on");
    LOG_INFO("admin: debug %s", value.c_str());
  } else {
    return Invalid("unknown system parameter '" + name + "' (State, debug)");
  }
  return json{{"state", core::TargetStateName(ctx->targets->system_state())},
              {"debug", ctx->targets->debug()}};
}

// --mode system --op delete [--force]: stops the daemon as SIGTERM would (the
// configuration stays saved: everything comes back at the next start). Refused (busy)
// while initiators are logged in, unless forced.
Outcome SystemDelete(AdminContext* ctx, const Request& r) {
  Error err;
  bool force = false;
  if (!r.OnlyFields({"force"}, &err) || !r.Bool("force", &force, &err)) return err;
  if (!ctx->request_stop) {
    return Error{ErrorCode::kUnsupported, "this daemon cannot be stopped from the admin socket"};
  }
  size_t sessions = ctx->transports ? ctx->transports->Sessions().size() : 0;
  if (sessions > 0 && !force) {
    return Error{ErrorCode::kBusy, std::to_string(sessions) +
                                       " session(s) logged in; log them out first or use --force"};
  }
  LOG_INFO("admin: stop requested (--mode system --op delete)");
  ctx->request_stop();
  return json{{"stopping", true}};
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
  bool from_module_dir = false;
  if (path.empty()) {
    // A failed module is retried from the file it was loaded from.
    if (FindModule(ctx, name, &listed) && listed.state == core::ModuleState::kError) {
      path = listed.path;
    } else {
      path = ctx->module_dir + "/backing-store/bs_" + name + ".so";
      from_module_dir = true;
    }
  }
  if (access(path.c_str(), F_OK) != 0) {
    if (from_module_dir) {
      // Packages split modules with an extra library off (modtgt-uring, modtgt-rbd):
      // say what is missing and what provides it.
      return Error{ErrorCode::kNoSuchModule,
                   "backing store '" + name + "' is not installed (no bs_" + name + ".so in " +
                       ctx->module_dir + "/backing-store; install modtgt-" + name + ")"};
    }
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

}  // namespace modtgt::admin
