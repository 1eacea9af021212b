// SPDX-License-Identifier: Apache-2.0
// The backing-store module registry (DESIGN.md "Modules"): load, unload, live reload, list,
// and device opening. Loading itself (dlopen + ABI checks) is core/module_loader.cc; the
// host services table is core/module_host.cc.
#include "core/module_registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "common/log.h"
#include "core/device.h"
#include "core/module_loader.h"
#include "scsi/sense.h"

namespace modtgt::core {

const char* ModuleStateName(ModuleState s) {
  switch (s) {
    case ModuleState::kLoading:
      return "loading";
    case ModuleState::kReady:
      return "ready";
    case ModuleState::kError:
      return "error";
    case ModuleState::kUnloading:
      return "unloading";
  }
  return "unknown";
}

struct ModuleRegistry::Impl {
  // Serialises LoadFile/Unload and guards `modules`.
  mutable std::mutex mu;
  std::vector<std::shared_ptr<LoadedModule>> modules;  // GUARDED_BY(mu), load order

  // REQUIRES: mu held.
  std::vector<std::string> NamesLocked() const {
    std::vector<std::string> names;
    for (const auto& m : modules) names.push_back(m->name);
    return names;
  }

  // The module named cfg.bstype (or, with no bstype, the one whose subtype prefixes the
  // cfgstring "subtype/..."), if it is ready.
  Result<std::shared_ptr<LoadedModule>> FindReady(const DeviceConfig& cfg) const {
    std::lock_guard<std::mutex> l(mu);
    std::shared_ptr<LoadedModule> found;
    for (const auto& m : modules) {
      if (!cfg.bstype.empty() ? m->name == cfg.bstype
                              : cfg.cfgstring.compare(0, m->subtype.size() + 1, m->subtype + "/") == 0) {
        found = m;
        break;
      }
    }
    if (!found) {
      std::vector<std::string> names = NamesLocked();
      std::string loaded = names.empty() ? "none" : JoinNames(names, ", ");
      if (cfg.bstype.empty()) {
        return Status::InvalidArgument("no backing store type given and no module's subtype matches '" +
                                       cfg.cfgstring + "' (loaded: " + loaded + ")");
      }
      return Status::NotFound("unknown backing store type '" + cfg.bstype + "' (loaded: " +
                              loaded + ")");
    }
    std::string err;
    ModuleState st = found->GetState(&err);
    if (st != ModuleState::kReady) {
      return Status::Unavailable("backing store '" + found->name + "' is not ready (state " +
                                 ModuleStateName(st) + (err.empty() ? "" : ": " + err) + ")");
    }
    return found;
  }
};

ModuleRegistry::ModuleRegistry() : impl_(std::make_unique<Impl>()) {}

ModuleRegistry::~ModuleRegistry() {
  std::vector<std::shared_ptr<LoadedModule>> modules;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    modules.swap(impl_->modules);
  }
  // Unload in reverse load order (modules still used by devices stay mapped until then).
  while (!modules.empty()) modules.pop_back();
}

const modtgt_host* ModuleRegistry::HostTable() { return ModuleHostTable(); }


Status ModuleRegistry::LoadFile(const std::string& path_in) {
  std::lock_guard<std::mutex> l(impl_->mu);
  const std::string path = Canonical(path_in);
  const std::string file = BaseName(path);

  for (const auto& m : impl_->modules) {
    if (m->path != path) continue;
    std::string err;
    if (m->GetState(&err) == ModuleState::kError) {
      LOG_INFO("retrying load() of module '%s' (%s)", m->name.c_str(), path.c_str());
      return RunLoad(m.get());
    }
    return Status::AlreadyExists("module '" + m->name + "' (" + path + ") is already loaded");
  }

  auto opened = OpenModuleFile(path, -1);
  if (!opened.ok()) return opened.status();
  std::shared_ptr<LoadedModule> m = std::move(opened.value());

  // Names and subtypes are unique. A module in state error with the same name gives way
  // to the new file (it never started, so nothing uses it).
  std::vector<std::shared_ptr<LoadedModule>> replaced;
  for (const auto& e : impl_->modules) {
    const bool same_name = e->name == m->name;
    const bool same_subtype = e->subtype == m->subtype;
    if (!same_name && !same_subtype) continue;
    std::string err;
    if (same_name && e->GetState(&err) == ModuleState::kError) {
      replaced.push_back(e);
      continue;
    }
    if (same_name) {
      return Status::AlreadyExists("duplicate backing store name '" + m->name + "': module " +
                                   file + " and the loaded " + e->path);
    }
    return Status::AlreadyExists("duplicate backing store subtype '" + m->subtype +
                                 "': module " + file + " ('" + m->name + "') and the loaded '" +
                                 e->name + "' (" + e->path + ")");
  }
  for (const auto& r : replaced) {
    LOG_INFO("module '%s' from %s replaces the failed one from %s", m->name.c_str(),
             path.c_str(), r->path.c_str());
    impl_->modules.erase(std::find(impl_->modules.begin(), impl_->modules.end(), r));
  }
  impl_->modules.push_back(m);
  return RunLoad(m.get());
}

Status ModuleRegistry::LoadDirectory(const std::string& dir,
                                     const std::vector<std::string>& only) {
  const std::string bsdir = dir + "/backing-store";
  DIR* dp = opendir(bsdir.c_str());
  if (dp == nullptr) {
    return Status::NotFound("cannot read module folder " + bsdir + ": " + std::strerror(errno));
  }
  std::map<std::string, std::string> found;  // name -> path, sorted
  while (dirent* e = readdir(dp)) {
    std::string f = e->d_name;
    if (f.size() > 6 && f.compare(0, 3, "bs_") == 0 && f.compare(f.size() - 3, 3, ".so") == 0) {
      found[f.substr(3, f.size() - 6)] = bsdir + "/" + f;
    }
  }
  closedir(dp);

  std::vector<std::string> names;
  if (only.empty()) {
    for (const auto& [name, path] : found) names.push_back(name);
  } else {
    std::vector<std::string> available;
    for (const auto& [name, path] : found) available.push_back(name);
    for (const std::string& n : only) {
      if (!found.count(n)) {
        return Status::InvalidArgument("unknown backing store '" + n + "': " + bsdir + " has " +
                                       (available.empty() ? "none" : JoinNames(available, ", ")));
      }
      if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    }
  }

  std::vector<std::string> refusals;
  auto listed = [this](const std::string& path, bool ready_only) {
    std::lock_guard<std::mutex> l(impl_->mu);
    const std::string canon = Canonical(path);
    for (const auto& m : impl_->modules) {
      if (m->path == canon && (!ready_only || m->GetState(nullptr) == ModuleState::kReady)) {
        return true;
      }
    }
    return false;
  };
  for (const std::string& n : names) {
    const std::string& path = found[n];
    if (listed(path, /*ready_only=*/true)) continue;  // loaded by an earlier call
    Status s = LoadFile(path);
    if (s.ok()) continue;
    if (listed(path, /*ready_only=*/false)) {  // load() failed: kept in state error

      LOG_WARN("%s", s.message().c_str());
      continue;
    }
    LOG_ERROR("%s", s.message().c_str());
    refusals.push_back(s.message());
  }
  if (!only.empty() && !refusals.empty()) return Status::InvalidArgument(JoinNames(refusals, "; "));
  return Status::OK();
}

Status ModuleRegistry::Unload(const std::string& name) {
  std::shared_ptr<LoadedModule> victim;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    auto it = std::find_if(impl_->modules.begin(), impl_->modules.end(),
                           [&](const auto& m) { return m->name == name; });
    if (it == impl_->modules.end()) {
      return Status::NotFound("no backing store module named '" + name + "' is loaded");
    }
    std::vector<std::string> users = (*it)->UserList();
    if (!users.empty()) {
      return Status::Busy("module '" + name + "' is in use by: " + JoinNames(users, ", "));
    }
    {
      std::lock_guard<std::mutex> ml((*it)->mu);
      (*it)->state = ModuleState::kUnloading;
    }
    victim = std::move(*it);
    impl_->modules.erase(it);
  }
  victim.reset();  // unload() + dlclose(), unless an OpenDevice in progress still holds it
  return Status::OK();
}

Status ModuleRegistry::Reload(const std::string& name, const std::string& new_path,
                              std::chrono::milliseconds drain_timeout) {
  // No device of the module is destroyed while it is being reloaded (device.h).
  std::lock_guard<std::mutex> lifecycle(DeviceLifecycleMutex());
  std::lock_guard<std::mutex> l(impl_->mu);
  auto it = std::find_if(impl_->modules.begin(), impl_->modules.end(),
                         [&](const auto& m) { return m->name == name; });
  if (it == impl_->modules.end()) {
    return Status::NotFound("no backing store module named '" + name + "' is loaded");
  }
  std::shared_ptr<LoadedModule> old = *it;
  std::string err;
  const ModuleState st = old->GetState(&err);
  if (st != ModuleState::kReady) {
    return Status::Unavailable("module '" + name + "' is not ready (state " +
                               ModuleStateName(st) + (err.empty() ? "" : ": " + err) +
                               "); bsload retries it, bsunload removes it");
  }
  const std::string path = new_path.empty() ? old->path : Canonical(new_path);
  const size_t index = static_cast<size_t>(it - impl_->modules.begin());
  const std::vector<Device*> devs = old->DeviceList();
  LOG_INFO("reloading module '%s' from %s (%zu device(s))", name.c_str(), path.c_str(),
           devs.size());

  // 1. Quiesce: every device queues new commands first, then each drains.
  for (Device* d : devs) (void)d->Hold(std::chrono::milliseconds(0));
  const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
  for (Device* d : devs) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Status s = d->Hold(std::max(left, std::chrono::milliseconds(0)));
    if (!s.ok()) {
      for (Device* r : devs) r->Resume();
      return Status::Busy("reload of '" + name + "' abandoned, nothing changed: " + s.message());
    }
  }
  {
    std::lock_guard<std::mutex> ml(old->mu);
    old->state = ModuleState::kUnloading;
  }
  // 2. Close the devices and drop the old code (unload() + dlclose), keeping its file open
  // for a rollback.
  for (Device* d : devs) d->CloseForReload();
  const std::string old_path = old->path;
  const int rollback_fd = old->fd >= 0 ? fcntl(old->fd, F_DUPFD_CLOEXEC, 0) : -1;
  impl_->modules.erase(impl_->modules.begin() + static_cast<std::ptrdiff_t>(index));
  old.reset();
  if (StillMapped(old_path)) {
    LOG_WARN("module '%s' is still mapped after dlclose (STB_GNU_UNIQUE symbols or a "
             "library holding it?): its old code stays in memory",
             name.c_str());
  }
  auto insert = [&](std::shared_ptr<LoadedModule> m) {
    impl_->modules.insert(
        impl_->modules.begin() + static_cast<std::ptrdiff_t>(
                                     std::min(index, impl_->modules.size())),
        std::move(m));
  };

  // 3. The new file: open, check, load().
  Status failure;
  std::shared_ptr<LoadedModule> fresh;
  {
    auto opened = OpenModuleFile(path, -1);
    if (!opened.ok()) {
      failure = opened.status();
    } else {
      fresh = std::move(opened.value());
      if (fresh->name != name) {
        failure = Status::InvalidArgument("module file " + path + " is backing store '" +
                                          fresh->name + "', not '" + name + "'");
      }
      for (const auto& e : impl_->modules) {
        if (failure.ok() && e->subtype == fresh->subtype) {
          failure = Status::AlreadyExists("duplicate backing store subtype '" + fresh->subtype +
                                          "': module " + fresh->file_name + " and the loaded '" +
                                          e->name + "' (" + e->path + ")");
        }
      }
      if (failure.ok()) failure = RunLoad(fresh.get());
    }
  }
  // 4. Reopen every device on it.
  std::vector<Device*> reopened;
  if (failure.ok()) {
    for (Device* d : devs) {
      Status s = d->Reopen(fresh);
      if (!s.ok()) {
        failure = s;
        break;
      }
      reopened.push_back(d);
    }
  }
  if (failure.ok()) {
    if (rollback_fd >= 0) close(rollback_fd);
    insert(fresh);
    size_t held = 0;
    for (Device* d : devs) {
      held += d->held_count();
      d->Resume();
    }
    LOG_INFO("module '%s' reloaded from %s (version %s; %zu held command(s) resumed)",
             name.c_str(), path.c_str(), fresh->desc.version ? fresh->desc.version : "?", held);
    return Status::OK();
  }

  // 5. Roll back to the old code.
  LOG_ERROR("reload of module '%s' from %s failed: %s; rolling back to %s", name.c_str(),
            path.c_str(), failure.message().c_str(), old_path.c_str());
  for (Device* d : reopened) d->CloseForReload();
  fresh.reset();
  std::string rollback_error;
  std::shared_ptr<LoadedModule> back;
  auto again = OpenModuleFile(old_path, rollback_fd);
  if (!again.ok()) {
    rollback_error = again.status().message();
  } else {
    back = std::move(again.value());
    Status s = RunLoad(back.get());
    if (!s.ok()) rollback_error = s.message();
    insert(back);  // listed even in state error, with its reason
  }
  size_t failed = 0;
  for (Device* d : devs) {
    Status s = rollback_error.empty() ? d->Reopen(back) : Status::Unavailable(rollback_error);
    if (s.ok()) {
      d->Resume();
    } else {
      LOG_ERROR("module '%s': device %s cannot be reopened on the old code: %s", name.c_str(),
                d->user().c_str(), s.message().c_str());
      if (rollback_error.empty()) rollback_error = s.message();
      d->Fail();
      failed++;
    }
  }
  std::string msg = "reload of '" + name + "' from " + path + " failed: " + failure.message();
  if (failed == 0) {
    msg += "; rolled back to the previous code (" + old_path + "), every device serving";
  } else {
    msg += "; ROLLBACK FAILED (" + rollback_error + "): " + std::to_string(failed) +
           " device(s) now fail their I/O";
  }
  return WithMessage(failure.code(), msg);
}

const ModuleInfo* FindModuleInfo(const std::vector<ModuleInfo>& modules, const std::string& name) {
  for (const auto& m : modules) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::vector<ModuleInfo> ModuleRegistry::List() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<ModuleInfo> out;
  for (const auto& m : impl_->modules) {
    ModuleInfo i;
    i.kind = "backing-store";
    i.name = m->name;
    i.subtype = m->subtype;
    i.path = m->path;
    const modtgt_backing_store& d = m->desc;
    i.version = d.version ? d.version : "";
    i.abi_version = d.abi_version;
    i.state = m->GetState(&i.error);
    i.description = d.description ? d.description : "";
    i.cfg_desc = d.cfg_desc ? d.cfg_desc : "";
    i.capabilities = {"read", "write"};
    if (d.flush) i.capabilities.push_back("flush");
    if (d.unmap) i.capabilities.push_back("unmap");
    if (d.write_same) i.capabilities.push_back("write_same");
    if (d.caw) i.capabilities.push_back("caw");
    if (d.handle_cmd) i.capabilities.push_back("handle_cmd");
    if (d.check_config) i.capabilities.push_back("check_config");
    if (d.caps & MODTGT_CAP_THIN) i.capabilities.push_back("thin");
    if (d.reconfig) i.capabilities.push_back("reconfig");
    if (d.lock) i.capabilities.push_back("lock");
    i.nr_threads = d.nr_threads;
    i.device_type = d.device_type;
    i.default_block_size = d.default_block_size;
    i.has_reconfig = d.reconfig != nullptr;
    i.has_lock = d.lock != nullptr;
    i.users = m->UserList();
    out.push_back(std::move(i));
  }
  return out;
}

namespace {

// Generic checks, then the module's check_config. No side effects.
Status CheckWithModule(LoadedModule* m, const DeviceConfig& cfg) {
  if (cfg.block_size < 512 || cfg.block_size > 65536 ||
      (cfg.block_size & (cfg.block_size - 1)) != 0) {
    return Status::InvalidArgument("invalid block size " + std::to_string(cfg.block_size) +
                                   ": use a power of two from 512 to 65536");
  }
  if (cfg.size % cfg.block_size != 0) {
    return Status::InvalidArgument("size " + std::to_string(cfg.size) +
                                   " is not a multiple of the block size " +
                                   std::to_string(cfg.block_size));
  }
  if (m->desc.check_config == nullptr) return Status::OK();
  modtgt_dev tmp;
  FillDevConfig(cfg, m->subtype, &tmp);
  int rc;
  std::string reason;
  {
    std::lock_guard<std::mutex> g(m->call_mu);
    CalloutScope scope(m);
    rc = m->desc.check_config(&tmp.config);
    if (rc != 0) reason = TakeCalloutError("check_config() failed and gave no reason");
  }
  if (rc != 0) {
    return ModuleErrorStatus(rc, "invalid configuration for backing store '" + m->name +
                                     "': " + reason);
  }
  return Status::OK();
}

}  // namespace

Status ModuleRegistry::CheckConfig(const DeviceConfig& cfg) {
  auto m = impl_->FindReady(cfg);
  if (!m.ok()) return m.status();
  return CheckWithModule(m->get(), cfg);
}

Result<std::unique_ptr<scsi::Backend>> ModuleRegistry::OpenDevice(const DeviceConfig& cfg,
                                                                  const scsi::Backend* previous) {
  auto m = impl_->FindReady(cfg);
  if (!m.ok()) return m.status();
  MODTGT_RETURN_IF_ERROR(CheckWithModule(m->get(), cfg));
  auto dev = std::make_unique<Device>(*m, cfg);
  const auto* before = dynamic_cast<const Device*>(previous);
  if (before != nullptr && before->module_name() == dev->module_name()) {
    dev->InheritKeptStorage(*before);
  }
  MODTGT_RETURN_IF_ERROR(dev->Open());  // on failure ~Device closes what Open opened
  std::unique_ptr<scsi::Backend> backend = std::move(dev);
  return backend;
}

}  // namespace modtgt::core
