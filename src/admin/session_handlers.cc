// SPDX-License-Identifier: Apache-2.0
// tgtadm's session, connection and lld modes:
//   --mode session --op show [--tid T] [--sid S]
//   --mode conn --op show [--tid T] [--sid S]
//   --mode conn --op delete --tid T --sid S --cid C   closes one connection (its session
//                                                     ends with it: one connection each)
//   --mode lld --op show                              transports and the targets they serve
// (--mode lld --op start / stop are lldload / lldunload: lld_handlers.cc.)
// A session's id (--sid) is its I_T nexus id, as `target show` prints it ("I_T nexus: N").
#include <algorithm>
#include <cinttypes>
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

constexpr int64_t kMaxSid = INT64_MAX;

// The sessions a show asks for: tid (if given) must name a target; sid filters.
bool SelectSessions(AdminContext* ctx, const Request& r, json* out, Error* err) {
  int64_t sid = 0;
  if (!r.Int("sid", false, 1, kMaxSid, &sid, err)) return false;
  int tid = 0;
  if (r.Has("tid") || r.Has("targetname")) {
    std::shared_ptr<core::Target> t;
    if (!LookupTarget(ctx, r, &t, err)) return false;
    tid = t->tid();
  }
  json list = json::array();
  bool found = false;
  if (ctx->transports != nullptr) {
    for (const auto& s : ctx->transports->Sessions()) {
      if (s.tid <= 0) continue;
      if (tid > 0 && s.tid != tid) continue;
      if (sid > 0 && s.nexus_id != static_cast<uint64_t>(sid)) continue;
      found = true;
      list.push_back(SessionJson(s));
    }
  }
  if (sid > 0 && !found) {
    *err = Error{ErrorCode::kNoSuchSession,
                 "no session " + std::to_string(sid) +
                     (tid > 0 ? " in target " + std::to_string(tid) : std::string())};
    return false;
  }
  *out = std::move(list);
  return true;
}

}  // namespace

Outcome SessionShow(AdminContext* ctx, const Request& r) {
  Error err;
  json list;
  if (!r.OnlyFields({"tid", "targetname", "sid"}, &err) || !SelectSessions(ctx, r, &list, &err)) {
    return err;
  }
  return json{{"sessions", std::move(list)}};
}

Outcome ConnShow(AdminContext* ctx, const Request& r) {
  Error err;
  json list;
  if (!r.OnlyFields({"tid", "targetname", "sid", "cid"}, &err) ||
      !SelectSessions(ctx, r, &list, &err)) {
    return err;
  }
  int64_t cid = -1;
  if (!r.Int("cid", false, 0, UINT32_MAX, &cid, &err)) return err;
  if (cid >= 0) {
    for (auto& s : list) {
      json kept = json::array();
      for (const auto& c : s["conns"]) {
        if (c.value("cid", -1) == cid) kept.push_back(c);
      }
      s["conns"] = std::move(kept);
    }
  }
  return json{{"sessions", std::move(list)}};
}

Outcome ConnDelete(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t sid = 0, cid = 0;
  if (!r.OnlyFields({"tid", "targetname", "sid", "cid"}, &err) ||
      !r.Int("sid", true, 1, kMaxSid, &sid, &err) ||
      !r.Int("cid", true, 0, UINT32_MAX, &cid, &err) || !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  if (ctx->transports == nullptr) return Error{ErrorCode::kInternal, "no transport registry"};
  bool in_target = false;
  for (const auto& s : ctx->transports->Sessions()) {
    if (s.nexus_id == static_cast<uint64_t>(sid)) in_target = s.tid == t->tid();
  }
  if (!in_target) {
    return Error{ErrorCode::kNoSuchSession,
                 "no session " + std::to_string(sid) + " in target " + std::to_string(t->tid())};
  }
  Status s = ctx->transports->CloseConnection(static_cast<uint64_t>(sid), static_cast<uint32_t>(cid));
  // The session was there a moment ago: a NotFound now is about the connection.
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchConnection, ErrorCode::kInvalidRequest);
  LOG_INFO("admin: connection %" PRId64 " of session %" PRId64 " (target %d) closed", cid, sid,
           t->tid());
  return json{{"tid", t->tid()}, {"sid", sid}, {"cid", cid}};
}

Outcome LldShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  json llds = json::array();
  json targets = json::array();
  for (const auto& t : ctx->targets->List()) targets.push_back({{"tid", t->tid()}, {"name", t->name()}});
  if (ctx->transports != nullptr) {
    std::vector<std::string> listed;
    for (const auto& t : ctx->transports->List()) {
      // Targets belong to the core: every ready transport serves all of them.
      const bool ready = t.state == core::ModuleState::kReady;
      llds.push_back({{"name", t.name},
                      {"state", core::ModuleStateName(t.state)},
                      {"error", t.error},
                      {"targets", ready ? targets : json::array()}});
      listed.push_back(t.name);
    }
    // A transport module found but not loaded (lldunload, --mode lld --op stop): tgt's
    // "stopped".
    for (const auto& n : ctx->transports->KnownNames()) {
      if (std::find(listed.begin(), listed.end(), n) != listed.end()) continue;
      llds.push_back({{"name", n}, {"state", "stopped"}, {"error", ""}, {"targets", json::array()}});
    }
  }
  return json{{"llds", std::move(llds)}};
}

}  // namespace modtgt::admin
