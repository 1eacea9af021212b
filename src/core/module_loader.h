// SPDX-License-Identifier: Apache-2.0
// Module loading internals (for core/module_registry.cc): dlopen a backing-store module
// file, run its entry point with the host services table, check its descriptor against the
// ABI (DESIGN.md "Modules" rule 2, STYLE.md 6.1) and copy it, and run its load(). The
// registry (module_registry.h) keeps what these return: state, error, users.
//
// Threading: called with the registry's mutex held (admin thread).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "core/device.h"
#include "modtgt/module.h"

namespace modtgt::core {

// The host services every module gets (module.h struct modtgt_host; module_host.cc).
const modtgt_host* ModuleHostTable();

// dlopens `path` (or, when fd >= 0 and the path no longer names that file, the file open
// on fd: how a rollback finds the old code after the path was replaced), runs the entry
// point and validates the descriptor. No registry side effect; load() has not run. Takes
// ownership of fd. Refusals (not ELF, unresolved dependency with the dlerror text, no
// entry symbol, a descriptor the ABI rules refuse) are InvalidArgument naming the file.
Result<std::shared_ptr<LoadedModule>> OpenModuleFile(const std::string& path, int fd);

// Checks a descriptor returned by modtgt_module_init (the ABI rules: struct_size,
// abi_version, kind, names, mandatory callbacks, the lock group, device type and block
// size, nr_threads) and copies it into *out: min(sizeof, struct_size) bytes, the rest zero.
// InvalidArgument naming `file` and what is wrong.
Status ValidateDescriptor(const std::string& file, const modtgt_backing_store* d,
                          modtgt_backing_store* out);

// Runs load() (if any) and sets the module's state (kReady, or kError with the module's
// reason, which the returned Status also carries).
Status RunLoad(LoadedModule* m);

// Small helpers shared with the registry.
std::string Canonical(const std::string& path);   // realpath, or path itself
std::string BaseName(const std::string& path);
std::string JoinNames(const std::vector<std::string>& v, const char* sep);
// A Status of code `c` carrying `msg`.
Status WithMessage(Code c, std::string msg);
// True while a file of that name is mapped into the process.
bool StillMapped(const std::string& path);

}  // namespace modtgt::core
