// SPDX-License-Identifier: Apache-2.0
// ModuleRegistry: loads backing-store modules (bs_*.so) with dlopen, checks their
// descriptor against the ABI (include/modtgt/module.h), keeps their state and users, and
// opens Devices (scsi::Backend over a module) for LUNs.
//
// Threading: thread-safe (internal mutex). Loading and opening run on the admin thread; a
// module's lifecycle callbacks are serialised per module. See core/device.h for the I/O side.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "modtgt/module.h"
#include "scsi/backend.h"

namespace modtgt::core {

enum class ModuleState { kLoading, kReady, kError, kUnloading };
const char* ModuleStateName(ModuleState s);

struct ModuleInfo {
  std::string kind;          // "backing-store"
  std::string name;          // "rdwr"
  std::string subtype;
  std::string path;          // file path
  std::string version;       // module's own version
  uint32_t abi_version = 0;  // what the module was built against
  ModuleState state = ModuleState::kLoading;
  std::string error;         // when kError
  std::string description;
  std::string cfg_desc;
  std::vector<std::string> capabilities;  // "read", "write", "flush", "unmap", ...
  uint32_t nr_threads = 0;
  uint32_t device_type = 0;          // default peripheral type (MODTGT_DEVTYPE_*), ABI 1.1
  uint32_t default_block_size = 0;   // 0 = 512
  bool has_reconfig = false;
  bool has_lock = false;             // the cluster lock group (lock/unlock/...)
  std::vector<std::string> users;         // "tid 1 lun 1"
};

// What the admin gave for one LUN's backing store.
struct DeviceConfig {
  std::string bstype;      // module name
  std::string cfgstring;   // --backing-store path or "subtype/config"
  std::string bsopts;
  uint32_t oflags = 0;     // MODTGT_OFLAG_*
  uint32_t block_size = 512;
  bool readonly = false;
  uint64_t size = 0;       // 0 = the module decides
  bool write_cache = true;
  uint32_t hw_max_sectors = 0;    // --hw-max-sectors (blocks per command), 0 = default
  uint32_t max_data_area_mb = 0;  // --control max_data_area_mb, 0 = default
  std::string wwn;                // --wwn, "" = derived
  std::string user;        // "tid 1 lun 1", for listings and unload refusals
};

// The entry named `name` in a module listing (ModuleRegistry::List()), or nullptr.
const ModuleInfo* FindModuleInfo(const std::vector<ModuleInfo>& modules, const std::string& name);

class ModuleRegistry {
 public:
  ModuleRegistry();
  // Drops the registry's references. A module whose devices are still open stays mapped
  // until the last of them is destroyed; the others get unload() and dlclose() now.
  ~ModuleRegistry();
  ModuleRegistry(const ModuleRegistry&) = delete;
  ModuleRegistry& operator=(const ModuleRegistry&) = delete;

  // Loads the backing stores of module root `dir`: every dir/backing-store/bs_*.so, or,
  // when `only` is not empty, just bs_NAME.so for each NAME in it. An unknown NAME is an
  // error naming it and listing what exists (nothing is loaded then). With `only`, a
  // refused module is an error (the others are still loaded); without it, refusals are
  // logged and skipped. A module whose load() fails is not an error here: it stays
  // listed in state kError (see List()). A missing folder is NotFound.
  Status LoadDirectory(const std::string& dir, const std::vector<std::string>& only);
  // Loads one module file. Refusals (not ELF, unresolved dependency, no entry symbol,
  // NULL descriptor, struct too small, ABI mismatch, wrong kind, missing mandatory
  // callback, invalid or duplicate name/subtype) return an error and leave nothing
  // behind. A module whose load() fails is kept in state kError and the error is
  // returned; calling LoadFile again with the same file retries load() (kReady on
  // success). A new file whose name matches a module in kError replaces it. Loading a
  // ready module's file again is AlreadyExists.
  Status LoadFile(const std::string& path);
  // Unloads a module by name: refused (Busy, naming them) while devices use it;
  // otherwise unload() + dlclose(). NotFound for an unknown name.
  Status Unload(const std::string& name);
  // Live reload (DESIGN.md "Modules" rule 6) of the ready module `name` from `new_path`
  // (empty: its own path, read again from disk, so a file replaced there takes effect):
  // holds new commands to its devices (queued inside each Device, loops never block),
  // drains in-flight I/O (up to `drain_timeout`), closes every device, unload() + dlclose,
  // dlopen + check + load() the new file (it must be the same module name), reopens every
  // device with reopen=1 and resumes the held commands. On any failure (refused file,
  // different name, duplicate subtype, load() error, an open() failing) the old code is
  // loaded again from the file it came from (even if the path was replaced meanwhile) and
  // the devices reopened on it; the error returned names the failure and the rollback.
  // Errors: NotFound (no such module), Unavailable (not ready), Busy (I/O did not drain;
  // nothing changed), or the failure's own code. REQUIRES: the admin thread (the module's
  // lifecycle callbacks run on it); never a loop thread.
  Status Reload(const std::string& name, const std::string& new_path,
                std::chrono::milliseconds drain_timeout = std::chrono::seconds(30));
  // Every module, in load order.
  std::vector<ModuleInfo> List() const;

  // Validates cfg with the module's check_config, no side effects. Errors: NotFound
  // (unknown bstype), Unavailable (module not ready), or the module's reason.
  Status CheckConfig(const DeviceConfig& cfg);
  // Runs CheckConfig, then opens a core::Device (module open()). The module gains cfg.user
  // as a user until the Backend is destroyed. On failure nothing stays open. `previous`:
  // the backend of the LU this device replaces (a rebuild), if any; a core::Device of the
  // same module hands the new device the storage the host keeps for the LUN (ABI 1.3
  // dev_keep_fd), so the rebuilt LU has the same data.
  Result<std::unique_ptr<scsi::Backend>> OpenDevice(const DeviceConfig& cfg,
                                                    const scsi::Backend* previous = nullptr);

  // The host services table given to every module. Static storage, thread-safe.
  static const modtgt_host* HostTable();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::core
