// SPDX-License-Identifier: Apache-2.0
// JSON views of the core's objects for the admin replies (docs/admin-protocol.md): LUNs,
// targets with their sessions, backing-store modules, transports. Read-only.
//
// Threading: admin thread; the objects read are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "admin/server.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"
#include "scsi/logical_unit.h"

namespace modtgt::admin {

// "0x" and 16 lowercase hex digits.
std::string NaaHex(uint64_t naa);
// True for a cd (MMC) LU.
bool IsCd(const scsi::LogicalUnit& lu);
nlohmann::json LunJson(const core::Target& t, const scsi::LogicalUnit& lu);
// The sessions of target tid on every transport.
std::vector<core::SessionInfo> SessionsOf(AdminContext* ctx, int tid);
// Every transport's bound portals.
std::vector<std::string> Portals(AdminContext* ctx);
nlohmann::json TargetJson(AdminContext* ctx, const core::Target& t);
nlohmann::json ModuleJson(const core::ModuleInfo& m);
nlohmann::json TransportJson(const core::TransportInfo& t);
// A target's effective iSCSI parameters, in tgtadm's order: [{"name": K, "value": V,
// "set": bool (the administrator set it)}].
nlohmann::json TargetParamsJson(const core::Target& t);
// A session as the conn/session modes show it.
nlohmann::json SessionJson(const core::SessionInfo& s);
// Command counters (scsi/io_stats.h).
nlohmann::json CountersJson(const scsi::IoCountersSnapshot& c);

}  // namespace modtgt::admin
