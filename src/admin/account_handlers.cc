// SPDX-License-Identifier: Apache-2.0
// --mode account (tgtadm's syntax): CHAP accounts and their bindings (core/accounts.h).
//   new     --user U --password P        an account; secrets of 12..255 bytes
//   delete  --user U [--force]           refused while bound, unless forced
//   bind    --tid T --user U [--outgoing]  T 0: discovery sessions
//   unbind  --tid T --user U [--outgoing]
//   show                                 users and where each is bound; never a secret
// Secrets are never logged and never part of a reply.
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "common/log.h"
#include "core/accounts.h"
#include "core/target.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

Error AccountError(const Status& s) {
  return FromStatus(s, ErrorCode::kNoSuchAccount, ErrorCode::kAccountExists);
}

std::string Where(int tid, bool outgoing) {
  return (tid == core::kDiscoveryTid ? std::string("discovery") : "target " + std::to_string(tid)) +
         (outgoing ? " (outgoing)" : "");
}

}  // namespace

Outcome AccountNew(AdminContext* ctx, const Request& r) {
  Error err;
  std::string user, password;
  if (!r.OnlyFields({"user", "password"}, &err) || !r.String("user", true, &user, &err) ||
      !r.String("password", true, &password, &err)) {
    return err;
  }
  if (ctx->accounts == nullptr) return Error{ErrorCode::kInternal, "no account registry"};
  Status s = ctx->accounts->Add(user, password);
  if (!s.ok()) return AccountError(s);
  LOG_INFO("admin: CHAP account %s created", user.c_str());
  return json{{"user", user}};
}

Outcome AccountDelete(AdminContext* ctx, const Request& r) {
  Error err;
  std::string user;
  bool force = false;
  if (!r.OnlyFields({"user", "force"}, &err) || !r.String("user", true, &user, &err) ||
      !r.Bool("force", &force, &err)) {
    return err;
  }
  if (ctx->accounts == nullptr) return Error{ErrorCode::kInternal, "no account registry"};
  Status s = ctx->accounts->Remove(user, force);
  if (!s.ok()) return AccountError(s);
  LOG_INFO("admin: CHAP account %s deleted", user.c_str());
  return json{{"user", user}};
}

Outcome AccountBind(AdminContext* ctx, const Request& r, bool bind) {
  Error err;
  std::string user;
  int64_t tid = -1;
  bool outgoing = false;
  if (!r.OnlyFields({"tid", "user", "outgoing"}, &err) ||
      !r.Int("tid", true, 0, kMaxTid, &tid, &err) || !r.String("user", true, &user, &err) ||
      !r.Bool("outgoing", &outgoing, &err)) {
    return err;
  }
  if (ctx->accounts == nullptr) return Error{ErrorCode::kInternal, "no account registry"};
  if (tid != core::kDiscoveryTid && ctx->targets->FindByTid(static_cast<int>(tid)) == nullptr) {
    return Error{ErrorCode::kNoSuchTarget, "no target " + std::to_string(tid) +
                                               " (tid 0 binds the account to discovery)"};
  }
  const int t = static_cast<int>(tid);
  Status s = bind ? ctx->accounts->Bind(t, user, outgoing) : ctx->accounts->Unbind(t, user, outgoing);
  if (!s.ok()) return AccountError(s);
  LOG_INFO("admin: CHAP account %s %s %s", user.c_str(), bind ? "bound to" : "unbound from",
           Where(t, outgoing).c_str());
  core::AccountRegistry::Binding b = ctx->accounts->BindingOf(t);
  return json{{"tid", t}, {"chap", {{"incoming", b.incoming}, {"outgoing", b.outgoing}}}};
}

Outcome AccountShow(AdminContext* ctx, const Request& r) {
  Error err;
  if (!r.OnlyFields({}, &err)) return err;
  json list = json::array();
  if (ctx->accounts != nullptr) {
    std::vector<int> tids = ctx->accounts->BoundTids();
    for (const auto& user : ctx->accounts->Users()) {
      json bound = json::array();
      for (int tid : tids) {
        core::AccountRegistry::Binding b = ctx->accounts->BindingOf(tid);
        for (const auto& u : b.incoming) {
          if (u == user) bound.push_back(Where(tid, false));
        }
        if (b.outgoing == user) bound.push_back(Where(tid, true));
      }
      list.push_back({{"user", user}, {"bound", std::move(bound)}});
    }
  }
  return json{{"accounts", std::move(list)}};
}

}  // namespace modtgt::admin
