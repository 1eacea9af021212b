// SPDX-License-Identifier: Apache-2.0
// LUN factory: turns the administrator's parameters for a logical unit (tgtadm's --lun,
// --backing-store, --bstype, --bsopts, --bsoflags, --blocksize, --params k=v,...) into a
// scsi::LogicalUnit. Validation comes first and has no side effects (PlanLun); the device is
// opened only for a plan that passed (CreateLun), so a bad parameter creates nothing.
//
// Identity is stable across restarts: without scsi_sn / naa the serial number and the NAA-6
// designator are derived from (target name, LUN) with FNV-1a 64, never from time or chance.
//
// LUN numbers: unlike tgt, no LUN 0 "controller" is created automatically. A target may
// hold any LUN numbers (0..16383, SAM-5 flat/peripheral addressing); REPORT LUNS answers a
// target with no LUN 0 per SPC-4 (the well-known-LU rules do not require it).
//
// Threading: pure functions, thread-compatible. CreateLun runs on the admin thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "core/module_registry.h"
#include "scsi/logical_unit.h"

namespace modtgt::core {

// The largest LUN number accepted (14-bit flat space addressing, SAM-5 4.7.7).
inline constexpr uint64_t kMaxLun = 16383;

// What the administrator asked for, as given (strings unparsed where tgtadm takes strings).
struct LunRequest {
  uint64_t lun = 0;
  std::string backing_store;   // --backing-store PATH (or "subtype/config")
  std::string bstype;          // --bstype; empty = "rdwr"
  std::string bsopts;          // --bsopts
  std::string bsoflags;        // --bsoflags "direct", "sync", "direct,sync" ("" = none)
  uint32_t block_size = 0;     // --blocksize; 0 = 512
  // --params in order: readonly, removable, thin_provisioning, vendor_id, product_id,
  // product_rev, scsi_sn, scsi_id, naa, wce / write_cache, size, max_transfer_blocks.
  std::vector<std::pair<std::string, std::string>> params;
};

// A validated request: the LU config (with identity filled in) and the device config.
struct LunPlan {
  scsi::LuConfig lu;
  DeviceConfig device;
};

// Validates req for target `target_name` (tid) with no side effects. kInvalidArgument with a
// message naming the parameter on any error.
Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req);

// Applies --params (k=v pairs) on top of an existing plan (PlanLun and logicalunit update).
// Validates every pair first; on error *plan is unchanged and the message names the key.
// An explicit scsi_sn / naa replaces the derived one; PlanLun derives them afterwards only
// when still empty.
Status ApplyLunParams(const std::vector<std::pair<std::string, std::string>>& params,
                      LunPlan* plan);

// Parses "direct", "sync", "direct,sync" (also ':' separated, as tgtadm) into MODTGT_OFLAG_*.
Result<uint32_t> ParseBsOflags(const std::string& s);
// The inverse, for show: "direct,sync" or "".
std::string FormatBsOflags(uint32_t oflags);

// Opens a device; the production opener is ModuleRegistry::OpenDevice. Tests pass fakes.
using DeviceOpener =
    std::function<Result<std::unique_ptr<scsi::Backend>>(const DeviceConfig& cfg)>;

// Opens the device of a validated plan and builds the LU (SBC disk). Fails with the
// opener's error; nothing is left behind on failure.
Result<std::shared_ptr<scsi::LogicalUnit>> CreateLun(const LunPlan& plan,
                                                     const std::string& target_name,
                                                     const DeviceOpener& open);
// Convenience: PlanLun + ModuleRegistry::CheckConfig + CreateLun with modules->OpenDevice.
Result<std::shared_ptr<scsi::LogicalUnit>> CreateLun(ModuleRegistry* modules, int tid,
                                                     const std::string& target_name,
                                                     const LunRequest& req,
                                                     DeviceConfig* device_out = nullptr);

// FNV-1a 64-bit hash (the fixed hash behind derived identities; never change it: serial
// numbers and NAA designators seen by initiators depend on it).
uint64_t Fnv1a64(const void* data, size_t len, uint64_t seed = 0xcbf29ce484222325ull);
// 16 upper-case hex digits derived from (target_name, lun): VPD 0x80 unit serial number.
std::string DeriveSerial(const std::string& target_name, uint64_t lun);
// NAA-6 (IEEE registered extended) high 64 bits: NAA=6, IEEE company id 0x001405 (the
// OUI LIO uses for software targets), vendor-specific part from the hash of (target, lun).
uint64_t DeriveNaa(const std::string& target_name, uint64_t lun);

}  // namespace modtgt::core
