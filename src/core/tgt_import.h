// SPDX-License-Identifier: Apache-2.0
// tgt-admin's targets.conf (targets.conf(5)) as a modtgt configuration: what
// `modtgtadm --import-tgt FILE` applies. The CLI parses the file's syntax (includes and all,
// cli/tgt_conf.h) into a tree of directives; this turns the tree into the SavedConfig the
// daemon should have, which core::ApplyConfig then validates and applies all or nothing
// (or only checks, for --dry-run), exactly as `system restore` does.
//
// The result is what `tgt-admin -e` makes of the file on tgtd:
//   - targets in file name order; an existing target of the same name keeps its tid and
//     becomes what the file says; a new one gets the next tid after the largest (or its
//     controller_tid); running targets the file does not name are removed;
//   - LUNs numbered as tgt-admin numbers them (backing-store before direct-store, each in
//     path order, the first free number from 1, a block's own "lun" reserved, a target-level
//     "lun" for all), with the target-level LUN directives as defaults for every LUN;
//   - ACLs (ALL unless initiator-address is given), CHAP accounts and their bindings
//     (incoming, outgoing, discovery), the iSCSI parameters and the state;
//   - accounts are added or get the file's secret; accounts the file does not name stay.
// Directives with no modtgt equivalent are listed (TgtImport::unmapped) with the reason and
// otherwise ignored; a directive that makes the configuration impossible (an iSER driver,
// a device type modtgt does not emulate, a bad value) is an error. Nothing named in the
// file is run: direct-store does not read the device's inquiry data (tgt-admin runs
// sg_inq), the device becomes a plain backing store.
//
// Threading: pure functions; thread-compatible.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "core/module_registry.h"
#include "core/saved_config.h"

namespace modtgt::core {

// One directive of the tree: "key value", or a block "<key value> ... </key>".
struct ConfNode {
  std::string key;
  std::string value;
  std::string where;  // "targets.conf:12"
  bool is_block = false;
  std::vector<ConfNode> block;
};

// Reads the tree the CLI sends ({"directives": [...]}, cli/tgt_conf.h), strictly: unknown
// fields, wrong types, more than 8 levels or 20000 nodes are InvalidArgument.
Result<std::vector<ConfNode>> ConfTreeFromJson(const nlohmann::json& j);

struct TgtImportNote {
  std::string where;
  std::string directive;  // "iSNSServerIP 192.0.2.1"
  std::string reason;
};

struct TgtImport {
  SavedConfig config;                  // the configuration the daemon should have
  std::vector<TgtImportNote> unmapped;  // directives that change nothing, and why
};

// Builds the configuration: `current` (Snapshot of the running daemon) with the file's
// targets and accounts. `modules` are the loaded backing stores (for the LUNs' plans).
// InvalidArgument listing every problem ("FILE:LINE: ...", one per line).
Result<TgtImport> ImportTgtConf(const std::vector<ConfNode>& tree, const SavedConfig& current,
                                const std::vector<ModuleInfo>& modules);

// tgt's backing-store type names as modtgt's modules: "aio" is "uring" (both the kernel's
// asynchronous I/O); the others as they are. Unsupported for tgt types with no modtgt
// module (sg, bsg, ssc, smc, sheepdog, glfs).
Result<std::string> TgtBstype(const std::string& name);
// tgtadm's --device-type: "disk" and "cd" as they are; tape, ssc, changer, osd and pt are
// Unsupported (modtgt emulates disks and CD/DVD drives).
Result<std::string> TgtDeviceType(const std::string& name);

}  // namespace modtgt::core
