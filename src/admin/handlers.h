// SPDX-License-Identifier: Apache-2.0
// The admin protocol's request handlers, one per mode and op (internal to src/admin):
// system_handlers.cc, config_handlers.cc, target_handlers.cc, lun_handlers.cc; handlers.cc routes a request to
// them (and lld_handlers.cc handles the transport ops). Each reads its fields through
// Request (request.h), calls the core, and returns the reply's result object or an Error.
//
// Threading: admin thread.
#pragma once

#include "admin/request.h"
#include "admin/server.h"

namespace modtgt::admin {

// --mode system
Outcome SystemShow(AdminContext* ctx, const Request& r);
Outcome SystemBsLoad(AdminContext* ctx, const Request& r);
Outcome SystemBsReload(AdminContext* ctx, const Request& r);
Outcome SystemBsUnload(AdminContext* ctx, const Request& r);
// --mode system, the saved configuration (config_handlers.cc)
Outcome SystemDump(AdminContext* ctx, const Request& r);
Outcome SystemRestore(AdminContext* ctx, const Request& r);
// --mode target, --mode portal
Outcome TargetNew(AdminContext* ctx, const Request& r);
Outcome TargetDelete(AdminContext* ctx, const Request& r);
Outcome TargetShow(AdminContext* ctx, const Request& r);
Outcome TargetBind(AdminContext* ctx, const Request& r, bool bind);
Outcome TargetUpdate(AdminContext* ctx, const Request& r);
Outcome PortalShow(AdminContext* ctx, const Request& r);
Outcome PortalNew(AdminContext* ctx, const Request& r);
Outcome PortalDelete(AdminContext* ctx, const Request& r);
// --mode system: update (State, debug), delete (stops the daemon) (system_handlers.cc)
Outcome SystemUpdate(AdminContext* ctx, const Request& r);
Outcome SystemDelete(AdminContext* ctx, const Request& r);
// --op stat: --mode system, target, logicalunit (stat_handlers.cc)
Outcome SystemStat(AdminContext* ctx, const Request& r);
Outcome TargetStat(AdminContext* ctx, const Request& r);
Outcome LunStat(AdminContext* ctx, const Request& r);
// --mode session, conn, lld (session_handlers.cc)
Outcome SessionShow(AdminContext* ctx, const Request& r);
Outcome ConnShow(AdminContext* ctx, const Request& r);
Outcome ConnDelete(AdminContext* ctx, const Request& r);
Outcome LldShow(AdminContext* ctx, const Request& r);
// --mode system --op import: tgt-admin's targets.conf (import_handlers.cc)
Outcome SystemImport(AdminContext* ctx, const Request& r);
// --mode account (account_handlers.cc)
Outcome AccountNew(AdminContext* ctx, const Request& r);
Outcome AccountDelete(AdminContext* ctx, const Request& r);
Outcome AccountBind(AdminContext* ctx, const Request& r, bool bind);
Outcome AccountShow(AdminContext* ctx, const Request& r);
// --mode logicalunit
Outcome LunNew(AdminContext* ctx, const Request& r);
Outcome LunCheck(AdminContext* ctx, const Request& r);
Outcome LunDelete(AdminContext* ctx, const Request& r);
Outcome LunShow(AdminContext* ctx, const Request& r);
Outcome LunUpdate(AdminContext* ctx, const Request& r);
Outcome LunEject(AdminContext* ctx, const Request& r);
Outcome LunLoad(AdminContext* ctx, const Request& r);

}  // namespace modtgt::admin
