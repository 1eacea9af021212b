// SPDX-License-Identifier: Apache-2.0
// Module loading (DESIGN.md "Modules", STYLE.md 6.1): dlopen, check the descriptor against
// the ABI, copy it, run load().
#include "core/module_loader.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "common/log.h"

namespace modtgt::core {
namespace {

constexpr uint32_t kMaxNrThreads = 256;
constexpr size_t kMaxNameLength = 32;
// A descriptor must at least reach the last mandatory field (write).
constexpr size_t kMinDescriptorSize =
    offsetof(modtgt_backing_store, write) + sizeof(modtgt_backing_store::write);

std::string AbiString(uint32_t v) {
  return std::to_string(MODTGT_ABI_MAJOR_OF(v)) + "." + std::to_string(MODTGT_ABI_MINOR_OF(v));
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

}  // namespace

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
  // A capability bit means what the module's own ABI said it means: bits defined by a
  // later minor are not taken from an older module.
  if (MODTGT_ABI_MINOR_OF(abi) < 2) out->caps &= MODTGT_CAP_THIN;

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

std::string Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return path;
}

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string JoinNames(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); i++) {
    if (i) out += sep;
    out += v[i];
  }
  return out;
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
    d = init(ModuleHostTable());
  }
  MODTGT_RETURN_IF_ERROR(ValidateDescriptor(file, d, &m->desc));
  m->name = m->desc.name;
  m->subtype = m->desc.subtype ? m->desc.subtype : m->name;
  m->log_prefix = m->name + ": ";
  return m;
}

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

bool StillMapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

}  // namespace modtgt::core
