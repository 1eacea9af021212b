// SPDX-License-Identifier: Apache-2.0
// The saved configuration through the admin (docs/operations.md):
//   --mode system --op dump            the running configuration, as the state file holds it
//   --mode system --op restore         make the daemon what a configuration file says: every
//       config_text|config, dry_run?,  part validated first, then applied all or nothing
//       force?                         (core::ApplyConfig); dry_run only reports
//   --mode portal --op new             listen on one more portal (--param portal=ADDR:PORT)
#include <optional>
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/config_apply.h"
#include "core/config_store.h"
#include "core/saved_config.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

using nlohmann::json;

Outcome SystemDump(AdminContext* ctx, const Request& r) {
  Error err;
  bool secrets = false;
  if (!r.OnlyFields({"show_secrets"}, &err) || !r.Bool("show_secrets", &secrets, &err)) return err;
  core::SavedConfig c = core::Snapshot(ctx->objects());
  // config: the object; config_text: the state file's own text (what modtgtadm prints).
  // CHAP secrets only when asked (show_secrets); a restore of a dump without them keeps
  // the running accounts' secrets.
  json result = {{"config", core::SavedConfigJson(c, secrets)},
                 {"config_text", core::SerializeSavedConfig(c, secrets)},
                 {"secrets_shown", secrets}};
  if (ctx->config != nullptr && ctx->config->enabled()) {
    core::ConfigStore::State st = ctx->config->state();
    result["file"] = {{"path", ctx->config->path()},
                      {"saves", st.saves},
                      {"last_save_unix", st.last_save_unix},
                      {"last_error", st.last_error}};
  } else {
    result["file"] = nullptr;
  }
  return result;
}

Outcome SystemRestore(AdminContext* ctx, const Request& r) {
  Error err;
  std::string text;
  bool dry_run = false, force = false;
  if (!r.OnlyFields({"config_text", "config", "dry_run", "force"}, &err) ||
      !r.String("config_text", false, &text, &err) || !r.Bool("dry_run", &dry_run, &err) ||
      !r.Bool("force", &force, &err)) {
    return err;
  }
  if (r.Has("config_text") == r.Has("config")) {
    return Invalid("give the configuration as config_text (the file's text) or config (an "
                   "object), one of them");
  }
  Result<core::SavedConfig> desired = r.Has("config_text")
                                          ? core::ParseSavedConfig(text)
                                          : core::SavedConfigFromJson(r.Raw("config"));
  if (!desired.ok()) return Invalid("the configuration is not valid: " + desired.status().message());
  core::ApplyReport report;
  Status s = core::ApplyConfig(*desired, ctx->objects(),
                               dry_run ? core::ApplyMode::kDryRun : core::ApplyMode::kRestore,
                               force, &report);
  if (!s.ok()) {
    Error e = FromStatus(s, ErrorCode::kNoSuchModule, ErrorCode::kTargetExists);
    e.message = (dry_run ? "the configuration would be refused; nothing changed:\n"
                         : "restore refused; nothing changed:\n") +
                e.message;
    return e;
  }
  if (!dry_run) {
    LOG_INFO("admin: configuration restored (%zu change(s))", report.actions.size());
  }
  return json{{"dry_run", dry_run}, {"actions", report.actions}};
}

// The fields of a portal request (portal=ADDR:PORT, lld, default iscsi), checked, and a
// transport registry to act on; an Error otherwise.
static std::optional<Error> PortalFields(AdminContext* ctx, const Request& r, std::string* portal,
                                         std::string* lld) {
  Error err;
  *lld = "iscsi";
  if (!r.OnlyFields({"portal"}, &err) || !r.String("portal", true, portal, &err) ||
      !r.String("lld", false, lld, &err)) {
    return err;
  }
  if (portal->empty() || portal->size() > 300) return Invalid("field 'portal' must be ADDR:PORT");
  if (ctx->transports == nullptr) return Error{ErrorCode::kInternal, "no transport registry"};
  return std::nullopt;
}

Outcome PortalNew(AdminContext* ctx, const Request& r) {
  std::string portal, lld;
  if (std::optional<Error> bad = PortalFields(ctx, r, &portal, &lld)) return *bad;
  Result<std::vector<std::string>> bound = ctx->transports->AddPortals(lld, {portal});
  if (!bound.ok()) {
    return Error{ErrorCode::kInvalidRequest, "cannot listen on " + portal + ": " + bound.status().message()};
  }
  LOG_INFO("admin: %s portal %s added", lld.c_str(), portal.c_str());
  return json{{"lld", lld}, {"portal", portal}, {"bound", *bound}};
}

// --mode portal --op delete --param portal=ADDR:PORT: stops listening there (a bound
// address, or a configured one such as 0.0.0.0:3260) and forgets the portal; sessions that
// came in through it go on.
Outcome PortalDelete(AdminContext* ctx, const Request& r) {
  std::string portal, lld;
  if (std::optional<Error> bad = PortalFields(ctx, r, &portal, &lld)) return *bad;
  Result<std::string> closed = ctx->transports->RemovePortal(lld, portal);
  if (!closed.ok()) {
    if (closed.status().code() == Code::kNotFound) {
      return Error{ErrorCode::kNoSuchPortal,
                   closed.status().message() + " (see --mode portal --op show)"};
    }
    return FromStatus(closed.status(), ErrorCode::kNoSuchPortal, ErrorCode::kInvalidRequest);
  }
  LOG_INFO("admin: %s portal %s removed", lld.c_str(), closed->c_str());
  return json{{"lld", lld}, {"portal", *closed}};
}

}  // namespace modtgt::admin
