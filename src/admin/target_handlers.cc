// SPDX-License-Identifier: Apache-2.0
// --mode target (new, delete, show, bind, unbind, update) and --mode portal (show).
#include <strings.h>

#include <algorithm>
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/accounts.h"
#include "core/lun_ops.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

using nlohmann::json;

Outcome TargetNew(AdminContext* ctx, const Request& r) {
  Error err;
  int64_t tid = 0;
  std::string name, alias;
  if (!r.OnlyFields({"tid", "targetname", "alias"}, &err) ||
      !r.Int("tid", true, 1, kMaxTid, &tid, &err) ||
      !r.String("targetname", true, &name, &err) || !r.String("alias", false, &alias, &err)) {
    return err;
  }
  auto t = std::make_shared<core::Target>(static_cast<int>(tid), name);
  if (!alias.empty()) t->set_alias(alias);
  Status s = ctx->targets->Add(t);
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchTarget, ErrorCode::kTargetExists);
  LOG_INFO("admin: target %d %s created", t->tid(), t->name().c_str());
  return json{{"tid", t->tid()}, {"name", t->name()}};
}

Outcome TargetDelete(AdminContext* ctx, const Request& r) {
  Error err;
  bool force = false;
  std::shared_ptr<core::Target> t;
  if (!r.OnlyFields({"tid", "targetname", "force"}, &err) || !r.Bool("force", &force, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  size_t sessions = std::max<size_t>(static_cast<size_t>(std::max(0, t->sessions.load())),
                                     SessionsOf(ctx, t->tid()).size());
  if (sessions > 0) {
    if (!force) {
      return Error{ErrorCode::kBusy, "target " + std::to_string(t->tid()) + " has " +
                                         std::to_string(sessions) +
                                         " session(s); log them out first or use --force"};
    }
    if (ctx->transports) ctx->transports->CloseTargetSessions(t->tid());
  }
  Status s = ctx->targets->Remove(t->tid(), force);
  if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchTarget, ErrorCode::kTargetExists);
  if (ctx->accounts != nullptr) ctx->accounts->ForgetTarget(t->tid());
  // Drop the LUs now so their devices close (in-flight commands hold their own refs).
  for (uint64_t lun : t->ListLuns()) {
    auto removed = core::DeleteLun(t.get(), lun);
    (void)removed;
  }
  LOG_INFO("admin: target %d %s deleted", t->tid(), t->name().c_str());
  return json{{"tid", t->tid()}};
}

Outcome TargetShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({"tid", "targetname"}, &err)) return err;
  json targets = json::array();
  if (r.Has("tid") || r.Has("targetname")) {
    std::shared_ptr<core::Target> t;
    if (!LookupTarget(ctx, r, &t, &err)) return err;
    targets.push_back(TargetJson(ctx, *t));
  } else {
    for (const auto& t : ctx->targets->List()) targets.push_back(TargetJson(ctx, *t));
  }
  return json{{"targets", std::move(targets)}};
}

Outcome TargetBind(AdminContext* ctx, const Request& r, bool bind) {
  Error err;
  std::shared_ptr<core::Target> t;
  std::string addr, name;
  if (!r.OnlyFields({"tid", "targetname", "initiator_address", "initiator_name"}, &err) ||
      !r.String("initiator_address", false, &addr, &err) ||
      !r.String("initiator_name", false, &name, &err)) {
    return err;
  }
  if (addr.empty() && name.empty()) {
    return Invalid("missing field 'initiator_address' or 'initiator_name'");
  }
  if (!LookupTarget(ctx, r, &t, &err)) return err;
  // Validate both before changing anything.
  if (!addr.empty()) {
    auto canon = core::CanonicalAclAddress(addr);
    if (!canon.ok()) return Invalid(canon.status().message());
  }
  if (!name.empty() && (name.size() > 223 || name.find_first_of(" \t\r\n") != std::string::npos)) {
    return Invalid("invalid initiator name '" + name + "'");
  }
  if (!addr.empty()) {
    Status s = bind ? t->BindAddress(addr) : t->UnbindAddress(addr);
    if (!s.ok()) return FromStatus(s, ErrorCode::kNoSuchAcl, ErrorCode::kAclExists);
  }
  if (!name.empty()) {
    Status s = bind ? t->BindName(name) : t->UnbindName(name);
    if (!s.ok()) {
      if (!addr.empty()) {  // undo the address half so the request is all or nothing
        Status undo = bind ? t->UnbindAddress(addr) : t->BindAddress(addr);
        (void)undo;
      }
      return FromStatus(s, ErrorCode::kNoSuchAcl, ErrorCode::kAclExists);
    }
  }
  return json{{"tid", t->tid()},
              {"acl", {{"addresses", t->bound_addresses()}, {"names", t->bound_names()}}}};
}

// --mode target --op update --tid T --name KEY --value VALUE (tgtadm), or --params
// KEY=VALUE,... for several at once. KEY: an iSCSI parameter (core/target_params.h), "state"
// (ready | offline), TargetAlias, or one of this gateway's ALUA target port group settings
// (scsi/alua.h): alua_group, alua_peers, alua_mode, alua_nonholder (keys not given keep their
// value). Every pair is checked, and the resulting ALUA configuration validated, before any
// is applied.
Outcome TargetUpdate(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  std::string name, value;
  Params pairs;
  if (!r.OnlyFields({"tid", "targetname", "name", "value", "params"}, &err) ||
      !r.String("name", false, &name, &err) || !r.String("value", false, &value, &err) ||
      !r.ParamList("params", &pairs, &err)) {
    return err;
  }
  if (r.Has("name") != r.Has("value")) {
    return Invalid("--name and --value go together (--name KEY --value VALUE)");
  }
  if (r.Has("name")) pairs.insert(pairs.begin(), {name, value});
  if (pairs.empty()) return Invalid("missing field 'name' and 'value' (or 'params')");
  if (!LookupTarget(ctx, r, &t, &err)) return err;
  core::TargetParams params = t->iscsi_params();
  core::TargetState state = t->state();
  std::string alias = t->alias();
  bool alias_set = false;
  scsi::AluaConfig alua = t->alua();
  bool alua_set = false;
  for (const auto& [k, v] : pairs) {
    if (k == "state") {
      Result<core::TargetState> s = core::ParseTargetState(v);
      if (!s.ok()) return Invalid(s.status().message());
      state = *s;
    } else if (strcasecmp(k.c_str(), "TargetAlias") == 0) {
      if (v.size() > 255 || std::any_of(v.begin(), v.end(), [](unsigned char c) {
            return c < 0x20 || c == 0x7f;
          })) {
        return Invalid("TargetAlias: at most 255 printable characters");
      }
      alias = v;
      alias_set = true;
    } else if (k.rfind("alua_", 0) == 0) {
      Status s = scsi::SetAluaParam(k.substr(5), v, &alua);
      if (!s.ok()) return Invalid(s.message());
      alua_set = true;
    } else {
      Status s = params.Set(k, v);
      if (!s.ok()) {
        return s.code() == Code::kUnsupported ? Error{ErrorCode::kUnsupported, s.message()}
                                              : Invalid(s.message());
      }
    }
  }
  if (alua_set) {
    Status s = scsi::ValidateAluaConfig(alua);
    if (!s.ok()) return Invalid(s.message());
  }
  t->set_iscsi_params(params);
  t->set_state(state);
  if (alias_set) t->set_alias(alias);
  if (alua_set) {
    Status s = t->SetAlua(alua);  // validated above: cannot fail
    if (!s.ok()) return Invalid(s.message());
    LOG_INFO("admin: target %d %s ALUA: %s", t->tid(), t->name().c_str(),
             scsi::DescribeAluaConfig(alua).c_str());
  }
  LOG_INFO("admin: target %d updated (%zu parameter(s))", t->tid(), pairs.size());
  return json{{"tid", t->tid()},
              {"state", core::TargetStateName(state)},
              {"alias", t->alias()},
              {"alua", scsi::DescribeAluaConfig(t->alua())},
              {"iscsi_params", TargetParamsJson(*t)}};
}

Outcome PortalShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  return json{{"portals", Portals(ctx)}};
}

}  // namespace modtgt::admin
