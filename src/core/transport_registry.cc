// SPDX-License-Identifier: Apache-2.0
// TransportRegistry: dlopen/dlclose of transport modules and their lifecycle.
#include "core/transport_registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "core/target.h"
#include "env/event_loop.h"
#include "modtgt/version.h"

namespace modtgt::core {

namespace {

constexpr char kPrefix[] = "lld_";
constexpr char kSuffix[] = ".so";

bool ValidName(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

// Names of the lld_*.so files in dir, sorted.
std::vector<std::string> Scan(const std::string& dir) {
  std::vector<std::string> out;
  DIR* dp = opendir(dir.c_str());
  if (dp == nullptr) return out;
  while (dirent* de = readdir(dp)) {
    std::string f = de->d_name;
    if (f.size() > strlen(kPrefix) + strlen(kSuffix) && f.rfind(kPrefix, 0) == 0 &&
        f.compare(f.size() - strlen(kSuffix), strlen(kSuffix), kSuffix) == 0) {
      out.push_back(f.substr(strlen(kPrefix), f.size() - strlen(kPrefix) - strlen(kSuffix)));
    }
  }
  closedir(dp);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string DescribeSession(const SessionInfo& s) {
  char tsih[16];
  snprintf(tsih, sizeof(tsih), "%u", s.tsih);
  return "session " + s.initiator_name + " (isid " + s.isid + ", tsih " + tsih + ") on tid " +
         std::to_string(s.tid) + " " + s.target_name;
}

// Runs every posted closure queued before now on each loop (twice: a closure may post
// another), so no closure of a transport's code is left in a queue when it is dlclosed.
void LoopBarrier(const std::vector<env::EventLoop*>& loops) {
  for (int round = 0; round < 2; round++) {
    for (env::EventLoop* l : loops) {
      if (l->InLoopThread()) continue;
      auto done = std::make_shared<std::promise<void>>();
      std::future<void> f = done->get_future();
      l->Post([done] { done->set_value(); });
      // A loop always answers eventually; giving up early would let the caller unmap a
      // module whose closures are still queued on that loop.
      while (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
        LOG_WARN("transport: still waiting for event loop %d", l->index());
      }
    }
  }
}

}  // namespace

struct TransportRegistry::Impl {
  struct Entry {
    std::string name;
    std::string path;
    std::string version;
    std::string description;
    ModuleState state = ModuleState::kLoading;
    std::string error;
    Code error_code = Code::kOk;
    void* handle = nullptr;
    std::unique_ptr<Transport> transport;
  };

  TransportContext ctx;
  std::string module_dir;
  mutable std::mutex mu;
  std::vector<std::unique_ptr<Entry>> entries;  // load order
  std::map<std::string, std::vector<std::string>> portals;  // configured, by transport name
  // By transport name: each bound address and the configured portal it came from (they
  // differ for port 0), so a portal can be removed by either.
  std::map<std::string, std::map<std::string, std::string>> bound_from;

  std::string Dir() const { return module_dir + "/transport"; }

  Entry* Find(const std::string& name) const {
    for (const auto& e : entries) {
      if (e->name == name) return e.get();
    }
    return nullptr;
  }

  // Frees the transport and closes the library (the transport must be shut down).
  static void Drop(Entry* e, const std::vector<env::EventLoop*>& loops, bool unmap = true) {
    if (e->transport) {
      e->transport->Shutdown();
      LoopBarrier(loops);
      e->transport.reset();
      // The transport's destructor may itself have posted clean-up to the loops.
      LoopBarrier(loops);
    }
    if (unmap && e->handle != nullptr) {
      dlclose(e->handle);
      e->handle = nullptr;
    }
  }

  // Marks e as failed with `why`, releasing what it held. Returns the error.
  Status Fail(Entry* e, Status why) {
    Drop(e, ctx.loops);
    e->state = ModuleState::kError;
    e->error = why.message();
    e->error_code = why.code();
    LOG_WARN("transport %s (%s): %s", e->name.c_str(), e->path.c_str(), e->error.c_str());
    return why;
  }

  Result<std::vector<std::string>> BindPortals(Entry* e) {
    std::vector<std::string> bound;
    bound_from[e->name].clear();
    for (const std::string& p : portals[e->name]) {
      Result<std::string> b = e->transport->AddPortal(p);
      if (!b.ok()) {
        return Status::Unavailable("transport " + e->name + ": cannot listen on " + p + ": " +
                                   b.status().message());
      }
      bound.push_back(b.value());
      bound_from[e->name][b.value()] = p;
    }
    return bound;
  }

  // dlopens `path` and checks its entry (symbol, version, size, name, create). On success
  // *handle is open and *entry points into it; on failure nothing stays open.
  static Status OpenChecked(const std::string& name, const std::string& path, void** handle,
                            const TransportEntry** entry_out) {
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      const char* err = dlerror();
      return Status::InvalidArgument(std::string("cannot load ") + path + ": " +
                                     (err ? err : "dlopen failed"));
    }
    Status s = CheckEntry(name, path, h, entry_out);
    if (!s.ok()) {
      dlclose(h);
      return s;
    }
    *handle = h;
    return Status::OK();
  }

  static Status CheckEntry(const std::string& name, const std::string& path, void* h,
                           const TransportEntry** entry_out) {
    auto fn = reinterpret_cast<TransportEntryFn>(dlsym(h, kTransportEntrySymbol));
    if (fn == nullptr) {
      return Status::InvalidArgument(path + " is not a transport module: no " +
                                     kTransportEntrySymbol + " symbol");
    }
    const TransportEntry* entry = fn();
    if (entry == nullptr) {
      return Status::InvalidArgument(path + ": " + kTransportEntrySymbol + "() returned NULL");
    }
    // Read the frozen prefix (struct_size, daemon_version) before anything else.
    const char* mv = entry->daemon_version ? entry->daemon_version : "(none)";
    if (std::strcmp(mv, MODTGT_PACKAGE_VERSION) != 0) {
      return Status::InvalidArgument(path + " was built for modtgtd " + mv +
                                     ", this is modtgtd " + MODTGT_PACKAGE_VERSION +
                                     ": transport modules must match the daemon version exactly");
    }
    if (entry->struct_size != sizeof(TransportEntry)) {
      return Status::InvalidArgument(path + ": entry struct is " +
                                     std::to_string(entry->struct_size) + " bytes, expected " +
                                     std::to_string(sizeof(TransportEntry)));
    }
    if (entry->name == nullptr || name != entry->name) {
      return Status::InvalidArgument(path + " declares transport '" +
                                     (entry->name ? entry->name : "(null)") +
                                     "', but the file is named for '" + name + "'");
    }
    if (entry->create == nullptr) return Status::InvalidArgument(path + ": no create callback");
    *entry_out = entry;
    return Status::OK();
  }

  Result<std::vector<std::string>> LoadLocked(const std::string& name, const std::string& path_in) {
    if (!ValidName(name)) {
      return Status::InvalidArgument("bad transport name '" + name + "' (letters, digits, _ and -)");
    }
    Entry* e = Find(name);
    if (e != nullptr && e->state == ModuleState::kReady) {
      return Status::AlreadyExists("transport " + name + " is already loaded (" + e->path + ")");
    }
    const std::string path = path_in.empty() ? FileFor(module_dir, name) : path_in;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      // Nothing to list: a name that has no file is not a module.
      int err = errno;
      std::vector<std::string> found = Scan(Dir());
      return Status::NotFound("no transport module " + path + ": " + strerror(err) +
                              " (found: " + (found.empty() ? "none" : Join(found, ", ")) + ")");
    }
    if (e == nullptr) {
      entries.push_back(std::make_unique<Entry>());
      e = entries.back().get();
      e->name = name;
    }
    e->path = path;
    e->state = ModuleState::kLoading;
    e->error.clear();
    e->version.clear();
    e->description.clear();

    const TransportEntry* entry = nullptr;
    if (Status s = OpenChecked(name, e->path, &e->handle, &entry); !s.ok()) return Fail(e, s);
    e->version = entry->daemon_version;
    e->description = entry->description ? entry->description : "";
    Status err = Status::Unavailable("create() returned NULL");
    Transport* t = entry->create(&ctx, &err);
    if (t == nullptr) {
      if (err.ok()) err = Status::Unavailable("create() returned NULL");
      return Fail(e, err.Prefixed("transport " + name + " failed to start: "));
    }
    e->transport.reset(t);
    Result<std::vector<std::string>> bound = BindPortals(e);
    if (!bound.ok()) return Fail(e, bound.status());
    e->state = ModuleState::kReady;
    LOG_INFO("transport %s %s loaded from %s; portals: %s", name.c_str(), e->version.c_str(),
             e->path.c_str(), Join(bound.value(), ", ").c_str());
    return bound;
  }

  Status UnloadLocked(const std::string& name, bool force, std::string* detail,
                      int logout_wait_ms) {
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const auto& e) { return e->name == name; });
    if (it == entries.end()) {
      std::vector<std::string> names;
      for (const auto& e : entries) names.push_back(e->name);
      return Status::NotFound("no transport " + name + " is loaded (loaded: " +
                              (names.empty() ? "none" : Join(names, ", ")) + ")");
    }
    Entry* e = it->get();
    std::string what;
    if (e->transport) {
      std::vector<SessionInfo> sessions = e->transport->Sessions();
      if (!sessions.empty() && !force) {
        std::vector<std::string> users;
        for (const auto& s : sessions) users.push_back(DescribeSession(s));
        return Status::Busy("transport " + name + " has " + std::to_string(sessions.size()) +
                            " logged-in session(s): " + Join(users, "; ") +
                            " (--force asks the initiators to log out, then unloads)");
      }
      e->state = ModuleState::kUnloading;
      if (!sessions.empty()) {
        // Close the portals first: an initiator that logs out as asked would otherwise
        // reconnect at once (libiscsi does). Then RFC 7143 11.9.1: AsyncEvent 1, the
        // initiator should log out within Parameter3 seconds.
        e->transport->StopListening();
        e->transport->RequestLogout(-1, 2);
        auto deadline =
            std::chrono::steady_clock::now() + std::chrono::milliseconds(logout_wait_ms);
        while (e->transport->ActiveSessions() > 0 && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        size_t left = e->transport->ActiveSessions();
        what = std::to_string(sessions.size() - std::min(left, sessions.size())) +
               " session(s) logged out";
        if (left > 0) what += ", " + std::to_string(left) + " closed";
        LOG_INFO("transport %s: %s before unload", name.c_str(), what.c_str());
      }
    }
    Drop(e, ctx.loops);
    entries.erase(it);
    LOG_INFO("transport %s unloaded", name.c_str());
    if (detail) *detail = what;
    return Status::OK();
  }
};

TransportRegistry::TransportRegistry(TransportContext ctx, std::string module_dir)
    : impl_(std::make_unique<Impl>()) {
  impl_->ctx = std::move(ctx);
  impl_->module_dir = std::move(module_dir);
}

TransportRegistry::~TransportRegistry() { ShutdownAll(); }

std::string TransportRegistry::FileFor(const std::string& module_dir, const std::string& name) {
  return module_dir + "/transport/" + kPrefix + name + kSuffix;
}

Status TransportRegistry::LoadAtStart(const std::vector<std::string>& only) {
  std::vector<std::string> found = Scan(impl_->Dir());
  std::vector<std::string> names = only.empty() ? found : only;
  for (const std::string& n : only) {
    if (std::find(found.begin(), found.end(), n) == found.end()) {
      return Status::InvalidArgument("unknown transport '" + n + "': no " +
                                     FileFor(impl_->module_dir, n) + " (found: " +
                                     (found.empty() ? "none" : Join(found, ", ")) + ")");
    }
  }
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const std::string& n : names) {
    Result<std::vector<std::string>> r = impl_->LoadLocked(n, "");
    (void)r;  // failures stay listed in kError (logged by Fail)
  }
  return Status::OK();
}

Result<std::vector<std::string>> TransportRegistry::AddPortals(
    const std::string& name, const std::vector<std::string>& portals) {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string>& conf = impl_->portals[name];
  std::vector<std::string> bound;
  Impl::Entry* e = impl_->Find(name);
  for (const std::string& p : portals) {
    if (e != nullptr && e->transport) {
      Result<std::string> b = e->transport->AddPortal(p);
      if (!b.ok()) return b.status();
      bound.push_back(b.value());
      impl_->bound_from[name][b.value()] = p;
    }
    conf.push_back(p);
  }
  return bound;
}

Result<std::string> TransportRegistry::RemovePortal(const std::string& name,
                                                    const std::string& portal) {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string>& conf = impl_->portals[name];
  std::map<std::string, std::string>& from = impl_->bound_from[name];
  // `portal` is a bound address, or a configured one (then its bound address, if any).
  std::string configured, bound;
  if (auto it = from.find(portal); it != from.end()) {
    bound = it->first;
    configured = it->second;
  } else if (std::find(conf.begin(), conf.end(), portal) != conf.end()) {
    configured = portal;
    for (const auto& [b, c] : from) {
      if (c == portal) bound = b;
    }
  } else {
    return Status::NotFound("no " + name + " portal " + portal);
  }
  Impl::Entry* e = impl_->Find(name);
  if (!bound.empty() && e != nullptr && e->transport) {
    Status s = e->transport->RemovePortal(bound);
    if (!s.ok() && s.code() != Code::kNotFound) return s;
  }
  from.erase(bound);
  auto cit = std::find(conf.begin(), conf.end(), configured);
  if (cit != conf.end()) conf.erase(cit);
  return bound.empty() ? configured : bound;
}

Status TransportRegistry::CloseConnection(uint64_t nexus_id, uint32_t cid) {
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const auto& e : impl_->entries) {
    if (e->state != ModuleState::kReady || !e->transport) continue;
    for (const SessionInfo& s : e->transport->Sessions()) {
      if (s.nexus_id == nexus_id) return e->transport->CloseConnection(nexus_id, cid);
    }
  }
  return Status::NotFound("no session " + std::to_string(nexus_id));
}

Result<std::vector<std::string>> TransportRegistry::Load(const std::string& name,
                                                         const std::string& path) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->LoadLocked(name, path);
}

Status TransportRegistry::Unload(const std::string& name, bool force, std::string* detail,
                                 int logout_wait_ms) {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->UnloadLocked(name, force, detail, logout_wait_ms);
}

Result<std::vector<std::string>> TransportRegistry::Reload(const std::string& name,
                                                           const std::string& path, bool force) {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl::Entry* e = impl_->Find(name);
  if (e == nullptr) return Status::NotFound("no transport " + name + " is loaded");
  std::string old_path = e->path;
  if (!path.empty() && path != old_path) {
    // Check the new file before touching the running transport.
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      return Status::NotFound("no transport module " + path + ": " + strerror(errno));
    }
    void* h = nullptr;
    const TransportEntry* entry = nullptr;
    MODTGT_RETURN_IF_ERROR(Impl::OpenChecked(name, path, &h, &entry));
    dlclose(h);
  }
  MODTGT_RETURN_IF_ERROR(impl_->UnloadLocked(name, force, nullptr, 5000));
  Result<std::vector<std::string>> r = impl_->LoadLocked(name, path.empty() ? old_path : path);
  if (r.ok() || path.empty() || path == old_path) return r;
  LOG_WARN("transport %s: reload from %s failed (%s); loading %s again", name.c_str(),
           path.c_str(), r.status().message().c_str(), old_path.c_str());
  Result<std::vector<std::string>> back = impl_->LoadLocked(name, old_path);
  (void)back;
  return r.status();
}

Transport* TransportRegistry::Get(const std::string& name) const {
  std::lock_guard<std::mutex> l(impl_->mu);
  Impl::Entry* e = impl_->Find(name);
  return (e != nullptr && e->state == ModuleState::kReady) ? e->transport.get() : nullptr;
}

bool TransportRegistry::Known(const std::string& name) const {
  if (!ValidName(name)) return false;
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    if (impl_->Find(name) != nullptr) return true;
  }
  struct stat st;
  return stat(FileFor(impl_->module_dir, name).c_str(), &st) == 0;
}

std::vector<std::string> TransportRegistry::KnownNames() const {
  std::vector<std::string> names = Scan(impl_->Dir());
  {
    std::lock_guard<std::mutex> l(impl_->mu);
    for (const auto& e : impl_->entries) names.push_back(e->name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<SessionInfo> TransportRegistry::Sessions() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<SessionInfo> out;
  for (const auto& e : impl_->entries) {
    if (e->state != ModuleState::kReady || !e->transport) continue;
    for (SessionInfo& s : e->transport->Sessions()) {
      s.transport = e->name;
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<std::string> TransportRegistry::Portals() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<std::string> out;
  for (const auto& e : impl_->entries) {
    if (e->state != ModuleState::kReady || !e->transport) continue;
    for (std::string& p : e->transport->portals()) out.push_back(std::move(p));
  }
  return out;
}

void TransportRegistry::CloseTargetSessions(int tid) {
  std::lock_guard<std::mutex> l(impl_->mu);
  for (const auto& e : impl_->entries) {
    if (e->state == ModuleState::kReady && e->transport) e->transport->CloseTargetSessions(tid);
  }
}

std::vector<TransportInfo> TransportRegistry::List() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  std::vector<TransportInfo> out;
  size_t ntargets = impl_->ctx.targets ? impl_->ctx.targets->List().size() : 0;
  for (const auto& e : impl_->entries) {
    TransportInfo i;
    i.name = e->name;
    i.path = e->path;
    i.version = e->version;
    i.description = e->description;
    i.state = e->state;
    i.error = e->error;
    i.error_code = e->error_code;
    auto pit = impl_->portals.find(e->name);
    if (pit != impl_->portals.end()) i.configured_portals = pit->second;
    if (e->transport) {
      i.portals = e->transport->portals();
      i.sessions = e->transport->Sessions();
      for (auto& si : i.sessions) si.transport = e->name;
      i.targets = ntargets;
      for (const auto& p : i.portals) i.users.push_back("portal " + p);
      for (const auto& s : i.sessions) i.users.push_back(DescribeSession(s));
    }
    out.push_back(std::move(i));
  }
  return out;
}

std::map<std::string, std::vector<std::string>> TransportRegistry::ConfiguredPortals() const {
  std::lock_guard<std::mutex> l(impl_->mu);
  return impl_->portals;
}

void TransportRegistry::ShutdownAll(bool unmap) {
  std::lock_guard<std::mutex> l(impl_->mu);
  // Reverse load order.
  while (!impl_->entries.empty()) {
    Impl::Drop(impl_->entries.back().get(), impl_->ctx.loops, unmap);
    impl_->entries.pop_back();
  }
}

}  // namespace modtgt::core
