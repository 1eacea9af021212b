// SPDX-License-Identifier: Apache-2.0
// --op stat (tgtadm's): the command counters (core/stats.h).
//   --mode system --op stat                    every LU, session and portal, and the total
//   --mode target --op stat --tid T            the target's LUs and sessions
//   --mode logicalunit --op stat --tid T --lun L   one LU
#include <string>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "core/lun_factory.h"
#include "core/stats.h"
#include "core/target.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

json ReportJson(const core::StatsReport& r) {
  json luns = json::array();
  for (const auto& l : r.luns) {
    luns.push_back({{"tid", l.tid}, {"target", l.target}, {"lun", l.lun}, {"stats", CountersJson(l.stats)}});
  }
  json sessions = json::array();
  for (const auto& s : r.sessions) {
    sessions.push_back({{"tid", s.tid},
                        {"target", s.target},
                        {"sid", s.sid},
                        {"initiator", s.initiator},
                        {"transport", s.transport},
                        {"stats", CountersJson(s.stats)}});
  }
  json portals = json::array();
  for (const auto& p : r.portals) {
    portals.push_back({{"transport", p.transport}, {"portal", p.address}, {"stats", CountersJson(p.stats)}});
  }
  return {{"luns", std::move(luns)},
          {"sessions", std::move(sessions)},
          {"portals", std::move(portals)},
          {"total", CountersJson(r.total)}};
}

}  // namespace

Outcome SystemStat(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  return ReportJson(core::CollectStats(ctx->targets, ctx->transports, ctx->portal_stats));
}

Outcome TargetStat(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  if (!r.OnlyFields({"tid", "targetname"}, &err) || !LookupTarget(ctx, r, &t, &err)) return err;
  json j = ReportJson(core::CollectStats(ctx->targets, ctx->transports, nullptr, t->tid()));
  j["tid"] = t->tid();
  return j;
}

Outcome LunStat(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  if (!r.OnlyFields({"tid", "targetname", "lun"}, &err) ||
      !r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), &lun, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  if (t->FindLun(static_cast<uint64_t>(lun)) == nullptr) {
    return Error{ErrorCode::kNoSuchLun,
                 "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
  }
  json j = ReportJson(core::CollectStats(ctx->targets, nullptr, nullptr, t->tid(), lun));
  j["tid"] = t->tid();
  j["lun"] = lun;
  return j;
}

}  // namespace modtgt::admin
