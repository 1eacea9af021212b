// SPDX-License-Identifier: Apache-2.0
// Applying a saved configuration (core/saved_config.h) to the running daemon, and taking
// one from it. The three users:
//   - start-up: the state file onto an empty daemon, before any portal opens; a LUN
//     whose store cannot open comes back offline with its reason, never dropped;
//   - `system restore --file F [--dry-run]` and SIGHUP: the daemon becomes what the file
//     says, all or nothing;
//   - `system dump`: Snapshot().
//
// ApplyConfig validates the whole configuration first (every target name, ACL rule and
// LUN through the same checks as the admin ops: PlanLun, the module's check_config), then
// applies it in two phases: first every step that can fail (load modules, open devices,
// create targets and LUNs, resize/update LUNs, open portals), each with its undo, so a
// failure rolls back what was done; then the steps that cannot fail (ACLs, aliases, LUN
// swaps, removals). A restore that would remove or replace a target or LUN of a target
// with logged-in initiators is refused unless forced (forced: their sessions are closed).
//
// Threading: admin thread (or the main thread at start-up), one at a time.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "core/accounts.h"
#include "core/module_registry.h"
#include "core/saved_config.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::core {

// The running objects a configuration describes.
struct CoreObjects {
  TargetRegistry* targets = nullptr;
  ModuleRegistry* modules = nullptr;
  TransportRegistry* transports = nullptr;  // may be null (tests): no portals then
  std::string module_dir;
  AccountRegistry* accounts = nullptr;      // may be null (tests): no CHAP accounts then
};

// The running configuration: targets, ACLs, LUNs (as created, with their current size,
// write cache and online state), the loaded modules and the configured portals.
SavedConfig Snapshot(const CoreObjects& objs);

enum class ApplyMode {
  kStart,    // onto an empty daemon; a LUN whose store cannot open is added offline
  kRestore,  // all or nothing
  kDryRun,   // kRestore's checks only: nothing changes
  kCheck,    // kStart's checks only (modtgtd --check-config): a LUN that would come back
             // offline is reported in ApplyReport::offline, not refused; nothing changes
};

struct ApplyReport {
  std::vector<std::string> actions;  // what was (or, dry run, would be) done, in order
  std::vector<std::string> offline;  // kStart: "tid 1 lun 2: <reason>"
};

// Makes the daemon's configuration `desired` (see above). On a refusal, nothing changed and
// the Status lists every problem found ("target 1 iqn... LUN 2: ..."), one per line. With
// kStart the module list and portals are the caller's (the command line may override
// them): only targets, ACLs and LUNs are applied.
Status ApplyConfig(const SavedConfig& desired, const CoreObjects& objs, ApplyMode mode, bool force,
                   ApplyReport* report);

// The file a saved module is loaded from.
std::string SavedModulePath(const SavedModule& m, const std::string& module_dir, bool transport);

}  // namespace modtgt::core
