// SPDX-License-Identifier: Apache-2.0
// --mode system --op import: tgt-admin's targets.conf (modtgtadm --import-tgt FILE
// [--dry-run] [--force]). The CLI sends the file's directive tree (cli/tgt_conf.h); the
// core turns it into the configuration the daemon should have (core/tgt_import.h), which is
// applied as `system restore` applies a file: validated whole, then all or nothing.
//   fields: tgt_conf ({"directives": [...]}), dry_run?, force?
//   result: dry_run, actions (done, or that would be done), unmapped (directives with no
//           modtgt equivalent: where, directive, reason), targets (tid, name, luns)
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "common/log.h"
#include "core/config_apply.h"
#include "core/tgt_import.h"

namespace modtgt::admin {

using nlohmann::json;

Outcome SystemImport(AdminContext* ctx, const Request& r) {
  Error err;
  bool dry_run = false, force = false;
  if (!r.OnlyFields({"tgt_conf", "dry_run", "force"}, &err) || !r.Bool("dry_run", &dry_run, &err) ||
      !r.Bool("force", &force, &err)) {
    return err;
  }
  if (!r.Has("tgt_conf")) return Invalid("missing field 'tgt_conf' (the parsed targets.conf)");
  Result<std::vector<core::ConfNode>> tree = core::ConfTreeFromJson(r.Raw("tgt_conf"));
  if (!tree.ok()) return Invalid("field 'tgt_conf': " + tree.status().message());
  if (ctx->modules == nullptr) return Error{ErrorCode::kInternal, "no module registry"};
  core::SavedConfig current = core::Snapshot(ctx->objects());
  Result<core::TgtImport> imp = core::ImportTgtConf(*tree, current, ctx->modules->List());
  if (!imp.ok()) {
    return Error{imp.status().code() == Code::kUnsupported ? ErrorCode::kUnsupported
                                                           : ErrorCode::kInvalidRequest,
                 "the targets.conf cannot be imported; nothing changed:\n" + imp.status().message()};
  }
  core::ApplyReport report;
  Status s = core::ApplyConfig(imp->config, ctx->objects(),
                               dry_run ? core::ApplyMode::kDryRun : core::ApplyMode::kRestore, force,
                               &report);
  if (!s.ok()) {
    Error e = FromStatus(s, ErrorCode::kNoSuchModule, ErrorCode::kTargetExists);
    e.message = std::string(dry_run ? "the import would be refused" : "import refused") +
                "; nothing changed:\n" + e.message;
    return e;
  }
  json unmapped = json::array();
  for (const auto& n : imp->unmapped) {
    unmapped.push_back({{"where", n.where}, {"directive", n.directive}, {"reason", n.reason}});
  }
  json targets = json::array();
  for (const auto& t : imp->config.targets) {
    json luns = json::array();
    for (const auto& l : t.luns) luns.push_back(l.lun);
    targets.push_back({{"tid", t.tid}, {"name", t.name}, {"luns", std::move(luns)}});
  }
  if (!dry_run) {
    LOG_INFO("admin: targets.conf imported (%zu change(s), %zu directive(s) not mapped)",
             report.actions.size(), imp->unmapped.size());
  }
  return json{{"dry_run", dry_run},
              {"actions", report.actions},
              {"unmapped", std::move(unmapped)},
              {"targets", std::move(targets)}};
}

}  // namespace modtgt::admin
