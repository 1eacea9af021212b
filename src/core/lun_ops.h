// SPDX-License-Identifier: Apache-2.0
// LUN operations: the changes an administrator makes to a target's logical units, as one
// place that keeps the LU, its recorded device configuration and its carried-over state in
// step. The admin handlers (src/admin) only parse requests and render replies around these;
// the saved configuration replays through the same calls.
//
//   CheckLun      validate a new LU's request: plan + module check_config, no side effect
//   AddLun        open the device of a validated plan, build the LU, record its config
//   UpdateLun     --params / --size on a live LU: resize, write cache, or rebuild
//   AddOfflineLun keep an LU whose store cannot open, offline (NOT READY) with the reason
//   DeleteLun     take an LU out for good (its saved persistent reservations go too)
//   EjectMedium   take the medium out of a cd LU
//   LoadMedium    put a medium (back) into a cd LU
//
// Errors (Status codes, which the admin maps to its error names): kInvalidArgument for a
// bad parameter (the message names it), kNotFound for a LUN that does not exist,
// kUnsupported for a change this LU cannot take, kBusy when I/O or a prevent stands in the
// way, kModuleError when the backing-store module refused (its reason in the message). On
// any error the LU is as it was.
//
// Threading: admin thread (one change at a time per target); the LU and Target objects
// they touch are themselves thread-safe, so I/O goes on meanwhile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/lun_factory.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "scsi/logical_unit.h"

namespace modtgt::core {

// Validates a request for a new LU of `target` with no side effects: the plan (PlanLun with
// the loaded modules), the module it names, and the module's check_config. kAlreadyExists
// if the LUN number is taken, kInvalidArgument for a bad parameter, kNotFound when no
// module of that bstype is loaded, kModuleError when check_config refuses.
Result<LunPlan> CheckLun(const Target& target, const LunRequest& req, ModuleRegistry* modules);

// Opens the device of `plan` (ModuleRegistry::OpenDevice), builds the LU (CreateLun),
// records plan.device with the target and adds the LU. kAlreadyExists if the number is
// taken (nothing opened then), kInvalidArgument for a device smaller than one block,
// kModuleError when the module refuses to open it.
Result<std::shared_ptr<scsi::LogicalUnit>> AddLun(Target* target, const LunPlan& plan,
                                                  ModuleRegistry* modules);

// Adds LU plan.lu.lun to `target` offline: on a placeholder backend (the plan's size, no
// I/O) that the SCSI layer never reaches, answering NOT READY / MANUAL INTERVENTION
// REQUIRED, with `reason` (shown by logicalunit show). Its configuration is recorded like
// any LU's, so it is saved and comes back online with logicalunit update --params
// online=1 once its store can open. kAlreadyExists if the number is taken.
Result<std::shared_ptr<scsi::LogicalUnit>> AddOfflineLun(Target* target, const LunPlan& plan,
                                                         const std::string& reason);

// Deletes LU `lun` of `target` for good: takes it out of the LUN map (Target::RemoveLun)
// and removes its saved persistent-reservation state (Target::ForgetPrState), so a LUN
// created later at the same place starts without it. kNotFound if there is no such LUN.
// (A rollback or a shutdown uses Target::RemoveLun, which keeps the saved state.)
Result<std::shared_ptr<scsi::LogicalUnit>> DeleteLun(Target* target, uint64_t lun);

// True if `lu` is on the placeholder backend of AddOfflineLun (its store never opened).
bool StoreUnavailable(const scsi::LogicalUnit& lu);

// logicalunit update: what may change on a live LU.
struct LunUpdate {
  std::vector<std::pair<std::string, std::string>> params;  // --params k=v (ApplyLunParams)
  std::string size;                                          // --size text ("" = not given)
};

struct LunUpdateResult {
  std::shared_ptr<scsi::LogicalUnit> lu;  // the LU now in the target (a new one if rebuilt)
  bool rebuilt = false;
  bool resized = false;
  uint64_t old_size = 0;
  uint64_t new_size = 0;
};

// Applies `update` to LU `lun` of `target`:
// - a new size (--size, or params size=; both must agree) resizes the live LU through the
//   module's reconfig (LogicalUnit::Resize: every nexus gets CAPACITY DATA HAS CHANGED);
//   kUnsupported if the module has no reconfig;
// - a write-cache change alone is applied live (as MODE SELECT would be; other nexuses get
//   MODE PARAMETERS CHANGED);
// - readonly, removable, thin_provisioning, the inquiry strings and max_transfer_blocks
//   rebuild the LU on a newly opened device with the same identity, carrying over the LU's
//   state (LogicalUnit::CarryStateFrom: persistent reservations, mode page settings), and
//   swap it in (Target::ReplaceLun);
// - identity (scsi_sn, scsi_id, naa) never changes on a live LU: kInvalidArgument;
// - online=0 takes the LU offline (NOT READY, saved as such); online=1 brings it back, and
//   for an LU whose store could not be opened (AddOfflineLun) opens it now with the
//   recorded configuration and swaps the LU in (kModuleError with the reason if it still
//   cannot: the LU stays offline, its reason updated).
// The resize comes first, so a refusal leaves the LU exactly as it was. kUnsupported for
// an LU with no recorded device configuration (not created by the admin).
Result<LunUpdateResult> UpdateLun(Target* target, uint64_t lun, const LunUpdate& update,
                                  ModuleRegistry* modules);

// Finds LU `lun` of a cd (MMC) LU: kNotFound, or kInvalidArgument for a disk.
Result<std::shared_ptr<scsi::LogicalUnit>> FindCdLun(const Target& target, uint64_t lun);

// Ejects the medium of cd LU `lun` (scsi::EjectMedium): kBusy while an initiator prevents
// removal, unless force.
Status EjectMedium(Target* target, uint64_t lun, bool force);

// Loads a medium into cd LU `lun`: `cfgstring` ("optical/PATH", whose subtype must be the
// LU's module's) through the module's reconfig, or with an empty cfgstring the current one
// again. Records the new cfgstring (and the medium's own size) with the target.
Status LoadMedium(Target* target, uint64_t lun, const std::string& cfgstring, bool force,
                  ModuleRegistry* modules);

}  // namespace modtgt::core
