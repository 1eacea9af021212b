// SPDX-License-Identifier: Apache-2.0
// LUN factory: turns the administrator's parameters for a logical unit (tgtadm's --lun,
// --backing-store, --bstype, --bsopts, --bsoflags, --blocksize, --params k=v,...; and the
// targetcli-style --cfgstring SUBTYPE/CONFIG, --size, --wwn, --hw-max-sectors, --control
// k=v,..., --device-type) into a scsi::LogicalUnit. Validation comes first and has no side effects (PlanLun); the device is
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
  // --cfgstring SUBTYPE/CONFIG (targetcli / tcmu-runner): exactly one of backing_store and
  // cfgstring is given. It must contain '/' and no ':'; with module information (see
  // PlanLun) SUBTYPE must be the subtype of the module named by bstype, and an empty
  // bstype is taken from the module whose subtype is SUBTYPE.
  std::string cfgstring;
  std::string bstype;          // --bstype; empty = "rdwr" (or from cfgstring's subtype)
  std::string bsopts;          // --bsopts
  std::string bsoflags;        // --bsoflags "direct", "sync", "direct,sync" ("" = none)
  uint32_t block_size = 0;     // --blocksize; 0 = 512
  // --params in order: readonly, removable, thin_provisioning, vendor_id, product_id,
  // product_rev, scsi_sn, scsi_id, naa, wce / write_cache, size, max_transfer_blocks.
  std::vector<std::pair<std::string, std::string>> params;
  // targetcli-style options. Empty / 0 = not given.
  std::string size;             // --size: bytes or with a unit (ParseSize)
  std::string wwn;              // --wwn: unit serial number (VPD 0x80) and NAA source
  uint64_t hw_max_sectors = 0;  // --hw-max-sectors: VPD 0xB0 MAXIMUM TRANSFER LENGTH
  // --control k=v,...: max_data_area_mb (1..2048), hw_block_size (512/1024/2048/4096).
  std::vector<std::pair<std::string, std::string>> control;
  std::string device_type;      // --device-type "disk" | "cd"; "" = the module's default
};

// A validated request: the LU config (with identity filled in) and the device config.
struct LunPlan {
  scsi::LuConfig lu;
  DeviceConfig device;
  uint32_t device_type = 0;  // SPC peripheral type: MODTGT_DEVTYPE_DISK or MODTGT_DEVTYPE_CDROM
  // The control mode page's D_SENSE at creation (tgtadm's sense_format=1: descriptor-format
  // sense data); MODE SELECT may change it later.
  bool d_sense = false;
};

// A mode page as tgtadm's --params mode_page= gives it: "PAGE:SUBPAGE:LENGTH:B0:B1:...",
// numbers in decimal or 0x-hex, B0.. the page's bytes after its header (byte 2 on).
struct ModePageText {
  uint8_t page = 0;
  uint8_t subpage = 0;
  std::vector<uint8_t> bytes;  // LENGTH bytes
};
// InvalidArgument naming what is wrong (not a number, a byte over 255, a LENGTH that is not
// the number of bytes given).
Result<ModePageText> ParseModePage(const std::string& text);

// Validates req for target `target_name` (tid) with no side effects. kInvalidArgument with a
// message naming the parameter on any error.
//
// `modules` is what is known about the loaded modules (ModuleRegistry::List()); the 3-argument
// form knows none. With it: an empty bstype with a cfgstring is resolved from the subtype
// (InvalidArgument when no module has it), a cfgstring subtype that does not match the
// named module is refused, and the module's device_type / default_block_size give the
// defaults. Without it the subtype itself is taken as the bstype.
//
// Device type: "disk" (SBC) or "cd" (MMC: removable, read-only, 2048-byte blocks or the
// module's default_block_size; another explicit block size or readonly=0 is refused).
// Identity: --wwn sets the serial (VPD 0x80) and the NAA (NaaFromWwn) unless scsi_sn / naa
// are given (a scsi_sn different from the wwn is refused). Transfer length: --hw-max-sectors
// (or params max_transfer_blocks; both must agree) capped by max_data_area_mb.
Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req);
Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req,
                        const std::vector<ModuleInfo>& modules);

// targetcli's sizes: decimal digits with an optional unit k/K/m/M/g/G/t/T (powers of 1024)
// and an optional trailing B/b ("512", "512B", "64M", "64MB", "16kB", "1T"). InvalidArgument
// naming the text for anything else, 0, or an overflow.
Result<uint64_t> ParseSize(const std::string& s);

// Checks a config string "SUBTYPE/CONFIG" (targetcli / tcmu-runner rules): it must contain
// '/', must not contain ':', SUBTYPE must be non-empty. Returns SUBTYPE.
Result<std::string> CfgStringSubtype(const std::string& cfgstring);

// Checks a --wwn value: 1..36 printable ASCII characters, no space (it is the VPD 0x80
// unit serial number).
Status CheckWwn(const std::string& wwn);

// NAA-6 high 64 bits derived from a wwn (as LIO derives the NAA from the unit serial):
// NAA 6, company id 0x001405, the 36 vendor-specific bits from FNV-1a 64 of the wwn.
uint64_t NaaFromWwn(const std::string& wwn);

// Applies --params (k=v pairs) on top of an existing plan (PlanLun and logicalunit update).
// Besides modtgt's keys it takes tgtadm's: sense_format=0|1 (D_SENSE), and mode_page= for
// the caching page (8, subpage 0, 18 bytes: its WCE bit is the write cache; the page's
// other fields are modtgt's own). Other mode pages, tgt's block-limit overrides (lbppbe,
// la_lba, optimal_xfer_gran, optimal_xfer_len) and the media changer keys are refused with
// kUnsupported naming the reason.
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

// Opens the device of a validated plan and builds the LU (SBC disk, or MMC for a cd plan). Fails with the
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
