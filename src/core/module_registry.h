// SPDX-License-Identifier: Apache-2.0
// ModuleRegistry: loads backing-store modules (bs_*.so) with dlopen, checks their
// descriptor against the ABI (include/modtgt/module.h), keeps their state and users, and
// opens Devices (scsi::Backend over a module) for LUNs.
//
// Threading: thread-safe (internal mutex). Loading and opening run on the admin thread.
#pragma once

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
  std::string user;        // "tid 1 lun 1", for listings and unload refusals
};

class ModuleRegistry {
 public:
  ModuleRegistry();
  ~ModuleRegistry();

  // Loads every bs_*.so in dir (or only the names in `only`, when not empty; an unknown
  // name is an error). Modules that fail stay listed in state kError.
  Status LoadDirectory(const std::string& dir, const std::vector<std::string>& only);
  // Loads one module file. Refusals (not ELF, no entry symbol, ABI mismatch, missing
  // mandatory callback, duplicate name) return an error and leave nothing behind.
  Status LoadFile(const std::string& path);
  std::vector<ModuleInfo> List() const;

  // Validates cfg with the module's check_config, no side effects.
  Status CheckConfig(const DeviceConfig& cfg);
  // Opens a device; the module gains cfg.user as a user until the Backend is destroyed.
  Result<std::unique_ptr<scsi::Backend>> OpenDevice(const DeviceConfig& cfg);

  // The host services table given to every module.
  static const modtgt_host* HostTable();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace modtgt::core
