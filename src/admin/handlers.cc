// SPDX-License-Identifier: Apache-2.0
// HandleRequest: routes an admin request (docs/admin-protocol.md) to its handler by mode and
// op (handlers.h). Every field is read through checked accessors (request.h); a missing or
// mistyped field gives invalid-request naming it. No exception leaves HandleRequest.
#include <exception>
#include <mutex>
#include <string>

#include "admin/handlers.h"
#include "admin/protocol.h"
#include "admin/request.h"
#include "admin/server.h"
#include "common/log.h"
#include "core/config_apply.h"
#include "core/config_store.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

Outcome Dispatch(AdminContext* ctx, const json& j) {
  if (!j.is_object()) return Invalid("request must be a JSON object");
  Request r(j);
  Error err;
  std::string mode, op, lld;
  if (!r.String("mode", true, &mode, &err) || !r.String("op", true, &op, &err) ||
      !r.String("lld", false, &lld, &err)) {
    return err;
  }
  if (ctx == nullptr || ctx->targets == nullptr) {
    return Error{ErrorCode::kInternal, "admin context not set up"};
  }
  // Targets and LUNs belong to the core, not to a transport: --lld only has to name a
  // transport this daemon has (loaded, in error, or a module file it can load).
  if (!lld.empty() && (ctx->transports == nullptr || !ctx->transports->Known(lld))) {
    std::string known;
    if (ctx->transports) {
      for (const auto& n : ctx->transports->KnownNames()) known += (known.empty() ? "" : ", ") + n;
    }
    return Error{ErrorCode::kUnsupported, "lld '" + lld + "' is not a transport of this daemon (" +
                                              (known.empty() ? "none" : "known: " + known) + ")"};
  }
  if (mode == "system") {
    if (op == "show") return SystemShow(ctx, r);
    if (op == "bsload") return SystemBsLoad(ctx, r);
    if (op == "bsunload") return SystemBsUnload(ctx, r);
    if (op == "bsreload") return SystemBsReload(ctx, r);
    if (op == "dump") return SystemDump(ctx, r);
    if (op == "restore") return SystemRestore(ctx, r);
    if (op == "import") return SystemImport(ctx, r);
    if (op == "update") return SystemUpdate(ctx, r);
    if (op == "delete") return SystemDelete(ctx, r);
    if (op == "stat") return SystemStat(ctx, r);
  } else if (mode == "target") {
    if (op == "new") return TargetNew(ctx, r);
    if (op == "delete") return TargetDelete(ctx, r);
    if (op == "show") return TargetShow(ctx, r);
    if (op == "bind") return TargetBind(ctx, r, true);
    if (op == "unbind") return TargetBind(ctx, r, false);
    if (op == "update") return TargetUpdate(ctx, r);
    if (op == "stat") return TargetStat(ctx, r);
  } else if (mode == "logicalunit") {
    if (op == "new") return LunNew(ctx, r);
    if (op == "delete") return LunDelete(ctx, r);
    if (op == "show") return LunShow(ctx, r);
    if (op == "update") return LunUpdate(ctx, r);
    if (op == "check") return LunCheck(ctx, r);
    if (op == "eject") return LunEject(ctx, r);
    if (op == "load") return LunLoad(ctx, r);
    if (op == "stat") return LunStat(ctx, r);
  } else if (mode == "portal") {
    if (op == "show") return PortalShow(ctx, r);
    if (op == "new") return PortalNew(ctx, r);
    if (op == "delete") return PortalDelete(ctx, r);
  } else if (mode == "account") {
    if (op == "new") return AccountNew(ctx, r);
    if (op == "delete") return AccountDelete(ctx, r);
    if (op == "bind") return AccountBind(ctx, r, true);
    if (op == "unbind") return AccountBind(ctx, r, false);
    if (op == "show") return AccountShow(ctx, r);
  } else if (mode == "session") {
    if (op == "show") return SessionShow(ctx, r);
  } else if (mode == "conn") {
    if (op == "show") return ConnShow(ctx, r);
    if (op == "delete") return ConnDelete(ctx, r);
  } else if (mode == "lld") {
    if (op == "show") return LldShow(ctx, r);  // start / stop: lld_handlers.cc
  } else {
    return Invalid("unknown mode '" + mode +
                   "' (system, target, logicalunit, account, portal, session, conn, lld)");
  }
  return Invalid("unknown op '" + op + "' for mode " + mode);
}
// True for the ops that change what the saved configuration holds (everything but the
// queries; a dry run changes nothing).
bool Changes(const json& request) {
  const std::string op = request.value("op", "");
  if (op == "show" || op == "dump" || op == "check" || op == "stat") return false;
  if ((op == "restore" || op == "import") && request.value("dry_run", false)) return false;
  return true;
}

// After a successful change: the running configuration goes to the state file. A failure
// to save does not undo the change (it is live); the reply says it was not saved.
json SaveAfter(AdminContext* ctx, const json& request, json reply) {
  if (ctx == nullptr || ctx->config == nullptr || !ctx->config->enabled() ||
      !reply.value("ok", false) || !Changes(request)) {
    return reply;
  }
  Status s = ctx->config->Save(core::Snapshot(ctx->objects()));
  if (!s.ok()) {
    reply["warning"] = "the change is live but the configuration was NOT saved to " +
                       ctx->config->path() + ": " + s.message() +
                       " (it is lost at the next restart unless a later change saves it)";
  }
  return reply;
}

json Handle(AdminContext* ctx, const json& request) {
  // Transport (LLD) ops and the transports in system show: admin/lld_handlers.cc.
  if (IsLldRequest(request)) return HandleLldRequest(ctx, request);
  return AddTransportsToReply(ctx, request, Dispatch(ctx, request).ToReply());
}

}  // namespace

json HandleRequest(AdminContext* ctx, const json& request) {
  try {
    std::unique_lock<std::mutex> serial;
    if (ctx != nullptr && ctx->op_mutex) serial = std::unique_lock<std::mutex>(*ctx->op_mutex);
    return SaveAfter(ctx, request, Handle(ctx, request));
  } catch (const std::exception& e) {
    LOG_ERROR("admin: request failed with exception: %s", e.what());
    return ErrorReply(ErrorCode::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return ErrorReply(ErrorCode::kInternal, "internal error");
  }
}

}  // namespace modtgt::admin