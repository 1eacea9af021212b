// SPDX-License-Identifier: Apache-2.0
// The saved configuration: everything an administrator configured, as one value that the
// state file holds (docs/operations.md, "The state file"), `system dump` prints and
// `system restore` / a restart / SIGHUP apply (core/config_apply.h).
//
//   SavedConfig      schema version, modules, portals, targets (ACLs, LUNs)
//   SavedLun         one LUN as the admin made it: backing store, identity, parameters
//   ParseSavedConfig the file's JSON (strict: unknown keys, wrong types, duplicate keys and
//                    a schema it does not know are refused, naming the place)
//   SavedConfigJson  the inverse, in a stable order (a dump of an unchanged daemon is
//                    byte-identical)
//   SavedLunFromLu   a running LU (and the device config it was created with) as saved
//   LunRequestFrom   a saved LUN as the admin request that recreates it (it then goes
//                    through the same validation, core::CheckLun, as logicalunit new)
//
// Threading: plain values and pure functions; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "core/lun_factory.h"
#include "core/target.h"
#include "scsi/alua.h"
#include "scsi/logical_unit.h"

namespace modtgt::core {

// The state file's format version. A file with another schema is refused at start (a
// newer daemon's file) rather than misread.
inline constexpr int kConfigSchema = 1;
// Largest state file read.
inline constexpr size_t kMaxConfigBytes = 64u << 20;

struct SavedLun {
  uint64_t lun = 0;
  std::string device_type = "disk";  // "disk" | "cd"
  std::string bstype;
  std::string cfgstring;             // what the module is given (--backing-store / --cfgstring)
  std::string bsopts;
  std::string bsoflags;              // "direct,sync" form
  uint32_t block_size = 512;
  uint64_t size = 0;                 // bytes; 0 = the module decides (e.g. the file's size)
  std::string wwn;
  uint32_t hw_max_sectors = 0;       // VPD 0xB0 MAXIMUM TRANSFER LENGTH (blocks)
  std::string control;               // "max_data_area_mb=N" (targetcli control tuples)
  bool readonly = false;
  bool removable = false;
  bool thin_provisioning = false;
  bool write_cache = true;           // the current WCE (MODE SELECT or --params)
  std::string vendor_id;
  std::string product_id;
  std::string product_rev;
  std::string scsi_sn;               // VPD 0x80
  std::string scsi_id;               // T10 vendor-specific designator part
  uint64_t naa = 0;                  // NAA-6 designator (VPD 0x83), high 64 bits
  bool online = true;                // false: taken offline by the admin (online=0)
  bool sense_format = false;         // D_SENSE: descriptor-format sense (tgtadm sense_format=1)

  bool operator==(const SavedLun&) const = default;
};

// CHAP accounts bound to a target or to discovery (AccountRegistry::Binding).
struct SavedChap {
  std::vector<std::string> incoming;  // sorted
  std::string outgoing;               // "" = none

  bool operator==(const SavedChap&) const = default;
};

struct SavedTarget {
  int tid = 0;
  std::string name;
  std::string alias;
  std::vector<std::string> acl_addresses;  // canonical (CanonicalAclAddress)
  std::vector<std::string> acl_names;
  SavedChap chap;
  scsi::AluaConfig alua;                   // ALUA target port group (group 0 = off)
  // The target's iSCSI parameters (core/target_params.h), keys in catalog spelling,
  // canonical values: only those the administrator set.
  std::map<std::string, std::string> iscsi;
  std::string state = "ready";             // "ready" | "offline"
  std::vector<SavedLun> luns;              // by LUN number

  bool operator==(const SavedTarget&) const = default;
};

// A CHAP account. A dump shows no secret unless asked (has_secret false then); a restore
// of such an account keeps the running account's secret.
struct SavedAccount {
  std::string user;
  std::string secret;
  bool has_secret = true;

  bool operator==(const SavedAccount&) const = default;
};

// A module to load: by name from the module folder, or from an explicit file.
struct SavedModule {
  std::string name;
  std::string path;  // empty: <module dir>/{backing-store,transport}/<prefix>NAME.so

  bool operator==(const SavedModule&) const = default;
};

struct SavedConfig {
  int schema = kConfigSchema;
  // Modules loaded when the configuration was saved. Present (even empty) once a daemon
  // has saved: the module list is then authoritative at start unless --bstype / --lld
  // name others.
  bool has_modules = false;
  std::vector<SavedModule> backing_stores;
  std::vector<SavedModule> transports;
  // Configured portals ("ADDR:PORT", port 0 allowed) by transport name.
  bool has_portals = false;
  std::map<std::string, std::vector<std::string>> portals;
  std::vector<SavedTarget> targets;  // by tid
  std::vector<SavedAccount> accounts;  // by user
  SavedChap discovery;                 // accounts bound to discovery sessions
  // The system (tgtadm --mode sys --op update): "ready" or "offline" (no login is
  // accepted), and the debug switch.
  std::string system_state = "ready";
  bool debug = false;

  bool operator==(const SavedConfig&) const = default;
};

// Parses and checks the structure (types, ranges, unknown and duplicate keys, unique tids,
// target names and LUN numbers). InvalidArgument with the place: "targets[0].luns[2].size:
// must be a non-negative integer". Does not check that modules exist or that backing
// stores open (core/config_apply.h does).
Result<SavedConfig> ParseSavedConfig(std::string_view text);
Result<SavedConfig> SavedConfigFromJson(const nlohmann::json& j);
// With secrets false, accounts carry no secret (what `system dump` shows unless asked).
nlohmann::json SavedConfigJson(const SavedConfig& c, bool secrets = true);
// SavedConfigJson(c).dump(2) plus a newline: the file's text.
std::string SerializeSavedConfig(const SavedConfig& c, bool secrets = true);

// "0x" + 16 lowercase hex digits.
std::string NaaText(uint64_t naa);

// A running LU as saved. `dev` is the device config recorded with the target.
SavedLun SavedLunFromLu(const scsi::LogicalUnit& lu, const DeviceConfig& dev);
// A validated plan as saved (an LU about to be created, or one that stays offline).
SavedLun SavedLunFromPlan(const LunPlan& plan);
// The logicalunit new request that recreates `lun` (every identity field explicit).
LunRequest LunRequestFrom(const SavedLun& lun);

}  // namespace modtgt::core
