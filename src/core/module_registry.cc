// SPDX-License-Identifier: Apache-2.0
// Module loading (DESIGN.md "Modules", STYLE.md 6.1): dlopen, check the descriptor against
// the ABI, copy it, run load(), keep state/error/users; plus the host services table.
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
#include "scsi/sense.h"

namespace modtgt::core {
namespace {

constexpr uint32_t kMaxNrThreads = 256;
constexpr size_t kMaxNameLength = 32;
// A descriptor must at least reach the last mandatory field (write).
constexpr size_t kMinDescriptorSize =
    offsetof(modtgt_backing_store, write) + sizeof(modtgt_backing_store::write);

// ---- Host services (module.h struct modtgt_host) ----

void HostLog(modtgt_log_level level, const char* fmt, ...) {
  int l = static_cast<int>(level);
  if (l < 0) l = 0;
  if (l > 3) l = 3;
  const LogLevel lv = static_cast<LogLevel>(l);
  if (!LogEnabled(lv)) return;
  const LoadedModule* m = CurrentModule();
  va_list ap;
  va_start(ap, fmt);
  LogV(lv, m ? m->log_prefix.c_str() : "module: ", fmt ? fmt : "(null)", ap);
  va_end(ap);
}

void HostError(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  RecordCalloutErrorV(fmt, ap);
  va_end(ap);
}

void HostDevSetPrivate(modtgt_dev* dev, void* priv) {
  if (dev) dev->priv = priv;
}

void* HostDevGetPrivate(modtgt_dev* dev) { return dev ? dev->priv : nullptr; }

const modtgt_dev_config* HostDevGetConfig(modtgt_dev* dev) { return dev ? &dev->config : nullptr; }

void HostDevSetSize(modtgt_dev* dev, uint64_t bytes) {
  if (dev && dev->device) {
    dev->device->SetSizeFromModule(bytes);
  } else if (dev) {
    dev->size.store(bytes);
  }
}

void HostDevReportEvent(modtgt_dev* dev, modtgt_event event, const char* detail) {
  if (dev && dev->device) dev->device->ReportEvent(static_cast<int>(event), detail);
}

Device::IoSlot* SlotOf(void* handle) { return static_cast<Device::IoSlot*>(handle); }

void HostComplete(modtgt_io* io, modtgt_status status) {
  Device::CompleteFromModule(SlotOf(io), static_cast<int>(status));
}

const uint8_t* HostCmdCdb(modtgt_cmd* cmd, size_t* len) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (len) *len = c->cdb_len;
  return c->cdb;
}

struct iovec* HostCmdData(modtgt_cmd* cmd, int* iovcnt) {
  Device::IoSlot* s = SlotOf(cmd);
  if (s->cmd->io.iovcnt > 0) {
    if (iovcnt) *iovcnt = s->cmd->io.iovcnt;
    return s->cmd->io.iov;
  }
  if (iovcnt) *iovcnt = s->data_iov.iov_len ? 1 : 0;
  return &s->data_iov;
}

// CHECK CONDITION with key/asc/ascq, in the format the initiator selected (D_SENSE).
void HostCmdSetSense(modtgt_cmd* cmd, uint8_t key, uint8_t asc, uint8_t ascq) {
  scsi::SetCheckCondition(SlotOf(cmd)->cmd, static_cast<scsi::SenseKey>(key & 0x0f),
                          scsi::Asc{static_cast<uint16_t>(asc << 8 | ascq)});
}

// SAM-5 5.3.1 status codes a module may set without sense data.
void HostCmdSetStatus(modtgt_cmd* cmd, uint8_t st) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  switch (st) {
    case 0x00:  // GOOD
    case 0x04:  // CONDITION MET
    case 0x08:  // BUSY
    case 0x18:  // RESERVATION CONFLICT
    case 0x28:  // TASK SET FULL
    case 0x30:  // ACA ACTIVE
    case 0x40:  // TASK ABORTED
      c->status = static_cast<scsi::Status>(st);
      c->sense_len = 0;
      return;
    default: {
      const LoadedModule* m = CurrentModule();
      LOG_ERROR("%scmd_set_status(0x%02x): not a status without sense; reporting "
                "HARDWARE ERROR", m ? m->log_prefix.c_str() : "", st);
      scsi::SetCheckCondition(c, scsi::SenseKey::kHardwareError,
                              scsi::asc::kInternalTargetFailure);
    }
  }
}

void HostCmdSetSenseEx(modtgt_cmd* cmd, const modtgt_sense* sense) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (sense == nullptr) {
    scsi::SetCheckCondition(c, scsi::SenseKey::kHardwareError, scsi::asc::kInternalTargetFailure);
    return;
  }
  scsi::SenseExtras x;
  x.has_info = (sense->flags & MODTGT_SENSE_INFO) != 0;
  x.info = sense->info;
  x.has_progress = (sense->flags & MODTGT_SENSE_PROGRESS) != 0;
  x.progress = sense->progress;
  x.has_field = (sense->flags & MODTGT_SENSE_FIELD_POINTER) != 0;
  x.field_in_cdb = sense->field_in_cdb != 0;
  x.field_byte = sense->field_pointer;
  x.field_bit = sense->bit_pointer_valid ? (sense->bit_pointer & 7) : -1;
  scsi::SetCheckConditionEx(c, static_cast<scsi::SenseKey>(sense->key & 0x0f),
                            scsi::Asc{static_cast<uint16_t>(sense->asc << 8 | sense->ascq)}, x);
}

int HostCmdSetSenseRaw(modtgt_cmd* cmd, const uint8_t* sense, size_t len) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  if (!scsi::ValidRawSense(sense, len)) return MODTGT_EINVAL;
  std::memcpy(c->sense, sense, len);
  c->sense_len = static_cast<uint8_t>(len);
  c->status = scsi::Status::kCheckCondition;
  return 0;
}

void HostCmdSetDataInLength(modtgt_cmd* cmd, uint32_t bytes) {
  scsi::Command* c = SlotOf(cmd)->cmd;
  c->data_in_length = static_cast<uint32_t>(std::min<size_t>(bytes, c->data.size()));
}

void HostCmdComplete(modtgt_cmd* cmd, modtgt_status status) {
  Device::CompleteFromModule(SlotOf(cmd), static_cast<int>(status));
}

const modtgt_host kHostTable = {
    .struct_size = sizeof(modtgt_host),
    .abi_version = MODTGT_ABI_VERSION,
    .log = &HostLog,
    .error = &HostError,
    .dev_set_private = &HostDevSetPrivate,
    .dev_get_private = &HostDevGetPrivate,
    .dev_get_config = &HostDevGetConfig,
    .dev_set_size = &HostDevSetSize,
    .complete = &HostComplete,
    .cmd_cdb = &HostCmdCdb,
    .cmd_data = &HostCmdData,
    .cmd_set_sense = &HostCmdSetSense,
    .cmd_set_data_in_length = &HostCmdSetDataInLength,
    .cmd_complete = &HostCmdComplete,
    .dev_report_event = &HostDevReportEvent,
    .cmd_set_status = &HostCmdSetStatus,
    .cmd_set_sense_ex = &HostCmdSetSenseEx,
    .cmd_set_sense_raw = &HostCmdSetSenseRaw,
};

// ---- Helpers ----

std::string AbiString(uint32_t v) {
  return std::to_string(MODTGT_ABI_MAJOR_OF(v)) + "." + std::to_string(MODTGT_ABI_MINOR_OF(v));
}

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string DlError() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

bool ValidName(const char* s) {
  if (s == nullptr || *s == 0) return false;
  size_t n = 0;
  for (const char* p = s; *p; p++, n++) {
    if (n >= kMaxNameLength) return false;
    if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return false;
  }
  return true;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
}

// Checks a descriptor returned by modtgt_module_init and copies it into *out
// (min(sizeof, struct_size) bytes; the rest stays zero). Rule 2 of DESIGN.md "Modules".
Status ValidateDescriptor(const std::string& file, const modtgt_backing_store* d,
                          modtgt_backing_store* out) {
  if (d == nullptr) {
    return Status::InvalidArgument("module " + file + " returned a NULL descriptor from " +
                                   MODTGT_MODULE_INIT_SYMBOL);
  }
  const uint32_t size = d->struct_size;
  if (size < offsetof(modtgt_backing_store, kind)) {
    return Status::InvalidArgument("module " + file + " has a " + std::to_string(size) +
                                   "-byte descriptor, too small to hold struct_size and abi_version");
  }
  const uint32_t abi = d->abi_version;
  if (MODTGT_ABI_MAJOR_OF(abi) != MODTGT_ABI_MAJOR) {
    return Status::InvalidArgument("module " + file + " was built for ABI " + AbiString(abi) +
                                   ", this daemon speaks " + AbiString(MODTGT_ABI_VERSION));
  }
  if (MODTGT_ABI_MINOR_OF(abi) > MODTGT_ABI_MINOR) {
    return Status::InvalidArgument("module " + file + " was built for ABI " + AbiString(abi) +
                                   ", newer than this daemon's " + AbiString(MODTGT_ABI_VERSION) +
                                   " (upgrade modtgtd or rebuild the module)");
  }
  if (size < kMinDescriptorSize) {
    return Status::InvalidArgument("module " + file + " has a " + std::to_string(size) +
                                   "-byte descriptor, too small for the mandatory fields (at least " +
                                   std::to_string(kMinDescriptorSize) + " bytes)");
  }
  *out = modtgt_backing_store{};
  std::memcpy(out, d, std::min<size_t>(sizeof(modtgt_backing_store), size));
  out->struct_size = sizeof(modtgt_backing_store);  // the copy is a full, current struct

  if (out->kind != MODTGT_KIND_BACKING_STORE) {
    if (out->kind == MODTGT_KIND_FILTER) {
      return Status::InvalidArgument("module " + file +
                                     " is a filter (kind 2): this daemon does not load filters yet");
    }
    return Status::InvalidArgument("module " + file + " has kind " + std::to_string(out->kind) +
                                   ", expected " + std::to_string(MODTGT_KIND_BACKING_STORE) +
                                   " (backing store)");
  }
  if (!ValidName(out->name)) {
    return Status::InvalidArgument(
        "module " + file + " has an invalid name '" + (out->name ? out->name : "(null)") +
        "': use 1-" + std::to_string(kMaxNameLength) + " characters from [a-z0-9_]");
  }
  const std::string name = out->name;
  if (out->subtype != nullptr && !ValidName(out->subtype)) {
    return Status::InvalidArgument("backing store '" + name + "' (" + file +
                                   ") has an invalid subtype '" + out->subtype +
                                   "': use 1-" + std::to_string(kMaxNameLength) +
                                   " characters from [a-z0-9_]");
  }
  struct {
    const void* fn;
    const char* field;
  } const mandatory[] = {
      {reinterpret_cast<const void*>(out->open), "open"},
      {reinterpret_cast<const void*>(out->close), "close"},
      {reinterpret_cast<const void*>(out->read), "read"},
      {reinterpret_cast<const void*>(out->write), "write"},
  };
  for (const auto& m : mandatory) {
    if (m.fn == nullptr) {
      return Status::InvalidArgument("backing store '" + name + "' has no ." + m.field +
                                     " callback");
    }
  }
  const int lock_fns = (out->lock != nullptr) + (out->unlock != nullptr) +
                       (out->get_lock_tag != nullptr) + (out->get_lock_state != nullptr);
  if (lock_fns != 0 && lock_fns != 4) {
    return Status::InvalidArgument("backing store '" + name +
                                   "' has only part of the lock group: lock, unlock, "
                                   "get_lock_tag and get_lock_state come all four or none");
  }
  if (out->device_type != MODTGT_DEVTYPE_DISK && out->device_type != MODTGT_DEVTYPE_CDROM) {
    return Status::InvalidArgument("backing store '" + name + "' has device_type " +
                                   std::to_string(out->device_type) +
                                   "; this daemon serves 0 (disk) and 5 (cd/dvd)");
  }
  if (out->default_block_size != 0 &&
      (out->default_block_size < 512 || out->default_block_size > 65536 ||
       (out->default_block_size & (out->default_block_size - 1)) != 0)) {
    return Status::InvalidArgument("backing store '" + name + "' has default_block_size " +
                                   std::to_string(out->default_block_size) +
                                   "; use 0 or a power of two from 512 to 65536");
  }
  if ((out->caps & MODTGT_CAP_THIN) && out->unmap == nullptr) {
    return Status::InvalidArgument("backing store '" + name +
                                   "' declares MODTGT_CAP_THIN but has no .unmap callback");
  }
  if (out->nr_threads > kMaxNrThreads) {
    return Status::InvalidArgument("backing store '" + name + "' asks for nr_threads=" +
                                   std::to_string(out->nr_threads) + "; the maximum is " +
                                   std::to_string(kMaxNrThreads));
  }
  return Status::OK();
}

// Runs load() (if any) and sets the state. REQUIRES: the registry mutex held.
Status RunLoad(LoadedModule* m) {
  {
    std::lock_guard<std::mutex> l(m->mu);
    m->state = ModuleState::kLoading;
  }
  int rc = 0;
  std::string reason;
  if (m->desc.load) {
    std::lock_guard<std::mutex> g(m->call_mu);
    CalloutScope scope(m);
    rc = m->desc.load();
    if (rc != 0) reason = TakeCalloutError("load() failed and gave no reason");
  }
  std::lock_guard<std::mutex> l(m->mu);
  if (rc != 0) {
    m->state = ModuleState::kError;
    m->error = reason;
    return ModuleErrorStatus(rc, "module '" + m->name + "' (" + m->file_name +
                                     ") failed to load: " + reason);
  }
  m->state = ModuleState::kReady;
  m->error.clear();
  m->load_succeeded = true;
  return Status::OK();
}

}  // namespace

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
      std::string loaded = names.empty() ? "none" : Join(names, ", ");
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

const modtgt_host* ModuleRegistry::HostTable() { return &kHostTable; }

namespace {

// dlopens `path` (or, when fd >= 0 and the path no longer names that file, the file open
// on fd: how a rollback finds the old code after the path was replaced), runs the entry
// point and validates the descriptor. No registry side effect; load() has not run. Takes
// ownership of fd.
Result<std::shared_ptr<LoadedModule>> OpenModuleFile(const std::string& path, int fd) {
  const std::string file = BaseName(path);
  auto m = std::make_shared<LoadedModule>();  // closes fd and dlcloses on every exit
  m->path = path;
  m->file_name = file;
  m->log_prefix = file + ": ";
  m->fd = fd >= 0 ? fd : open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat fst {};
  if (m->fd >= 0 && fstat(m->fd, &fst) == 0) {
    m->file_dev = fst.st_dev;
    m->file_ino = fst.st_ino;
  }
  // A path without '/' would make dlopen search the library path.
  std::string to_open = path.find('/') == std::string::npos ? "./" + path : path;
  if (fd >= 0) {
    struct stat pst {};
    if (stat(path.c_str(), &pst) != 0 || pst.st_dev != m->file_dev ||
        pst.st_ino != m->file_ino) {
      to_open = "/proc/self/fd/" + std::to_string(fd);
    }
  }
  dlerror();
  void* handle = dlopen(to_open.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    return Status::InvalidArgument("cannot load module " + path + ": " + DlError());
  }
  m->handle = handle;

  dlerror();
  void* sym = dlsym(handle, MODTGT_MODULE_INIT_SYMBOL);
  if (sym == nullptr) {
    return Status::InvalidArgument("module " + file + " has no entry point " +
                                   MODTGT_MODULE_INIT_SYMBOL +
                                   ": not a modtgt module, or the symbol is not exported");
  }
  auto init = reinterpret_cast<modtgt_module_init_fn>(sym);
  const modtgt_backing_store* d;
  {
    CalloutScope scope(m.get());
    d = init(&kHostTable);
  }
  MODTGT_RETURN_IF_ERROR(ValidateDescriptor(file, d, &m->desc));
  m->name = m->desc.name;
  m->subtype = m->desc.subtype ? m->desc.subtype : m->name;
  m->log_prefix = m->name + ": ";
  return m;
}

// A Status of code `c` carrying `msg`.
Status WithMessage(Code c, std::string msg) {
  switch (c) {
    case Code::kNotFound: return Status::NotFound(std::move(msg));
    case Code::kAlreadyExists: return Status::AlreadyExists(std::move(msg));
    case Code::kPermissionDenied: return Status::PermissionDenied(std::move(msg));
    case Code::kBusy: return Status::Busy(std::move(msg));
    case Code::kIoError: return Status::IoError(std::move(msg));
    case Code::kUnavailable: return Status::Unavailable(std::move(msg));
    case Code::kInvalidArgument: return Status::InvalidArgument(std::move(msg));
    default: return Status::Internal(std::move(msg));
  }
}

// True while a file of that name is mapped into the process.
bool StillMapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

}  // namespace

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
                                       (available.empty() ? "none" : Join(available, ", ")));
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
  if (!only.empty() && !refusals.empty()) return Status::InvalidArgument(Join(refusals, "; "));
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
      return Status::Busy("module '" + name + "' is in use by: " + Join(users, ", "));
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

Result<std::unique_ptr<scsi::Backend>> ModuleRegistry::OpenDevice(const DeviceConfig& cfg) {
  auto m = impl_->FindReady(cfg);
  if (!m.ok()) return m.status();
  MODTGT_RETURN_IF_ERROR(CheckWithModule(m->get(), cfg));
  auto dev = std::make_unique<Device>(*m, cfg);
  MODTGT_RETURN_IF_ERROR(dev->Open());  // on failure ~Device closes what Open opened
  std::unique_ptr<scsi::Backend> backend = std::move(dev);
  return backend;
}

}  // namespace modtgt::core
