// SPDX-License-Identifier: Apache-2.0
// Transport (LLD) administration: --mode system --op lldload | lldunload | lldreload
// --lld NAME [--force] [path], and the transports in --mode system --op show.
// Runs on the admin thread (server.h).
#include <algorithm>
#include <exception>
#include <string>
#include <vector>

#include "admin/protocol.h"
#include "admin/server.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/transport_registry.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

ErrorCode CodeFor(const Status& s) {
  switch (s.code()) {
    case Code::kNotFound:
      return ErrorCode::kNoSuchModule;
    case Code::kBusy:
    case Code::kAlreadyExists:
      return ErrorCode::kBusy;
    case Code::kInvalidArgument:
    case Code::kUnavailable:
    default:
      return ErrorCode::kModuleError;
  }
}

json InfoFor(AdminContext* ctx, const std::string& name) {
  for (const auto& t : ctx->transports->List()) {
    if (t.name == name) return TransportJson(t);
  }
  return json{{"name", name}, {"state", "unloaded"}};
}

json Run(AdminContext* ctx, const json& request) {
  // tgtadm's --mode lld --op start | stop: the transport's lldload | lldunload.
  json j = request;
  if (j.value("mode", "") == "lld") {
    j["mode"] = "system";
    j["op"] = j.value("op", "") == "start" ? "lldload" : "lldunload";
  }
  const std::string op = j.value("op", "");
  for (const auto& [k, v] : j.items()) {
    if (k != "mode" && k != "op" && k != "lld" && k != "force" && k != "path") {
      return ErrorReply(ErrorCode::kInvalidRequest, "unknown field '" + k + "' for system " + op);
    }
  }
  if (!j.contains("lld") || !j.at("lld").is_string() || j.at("lld").get<std::string>().empty()) {
    return ErrorReply(ErrorCode::kInvalidRequest, "--lld NAME is required for --op " + op);
  }
  const std::string name = j.at("lld").get<std::string>();
  bool force = false;
  if (j.contains("force")) {
    if (!j.at("force").is_boolean()) {
      return ErrorReply(ErrorCode::kInvalidRequest, "field 'force' must be a boolean");
    }
    force = j.at("force").get<bool>();
  }
  std::string path;
  if (j.contains("path")) {
    if (!j.at("path").is_string() || op == "lldunload") {
      return ErrorReply(ErrorCode::kInvalidRequest,
                        "field 'path' must be a string (lldload, lldreload only)");
    }
    path = j.at("path").get<std::string>();
    if (path.find('\0') != std::string::npos) {
      return ErrorReply(ErrorCode::kInvalidRequest, "field 'path' contains a NUL byte");
    }
  }
  if (force && op == "lldload") {
    return ErrorReply(ErrorCode::kInvalidRequest, "--force is for lldunload and lldreload");
  }
  if (ctx == nullptr || ctx->transports == nullptr) {
    return ErrorReply(ErrorCode::kInternal, "no transport registry");
  }

  if (op == "lldload" || op == "lldreload") {
    Result<std::vector<std::string>> r = op == "lldload"
                                             ? ctx->transports->Load(name, path)
                                             : ctx->transports->Reload(name, path, force);
    if (!r.ok()) return ErrorReply(CodeFor(r.status()), r.status().message());
    LOG_INFO("admin: transport %s %s; portals %zu", name.c_str(),
             op == "lldload" ? "loaded" : "reloaded", r.value().size());
    return OkReply({{"transport", InfoFor(ctx, name)}, {"portals", r.value()}});
  }
  // lldunload.
  std::string detail;
  Status s = ctx->transports->Unload(name, force, &detail);
  if (!s.ok()) return ErrorReply(CodeFor(s), s.message());
  LOG_INFO("admin: transport %s unloaded%s%s", name.c_str(), detail.empty() ? "" : ": ",
           detail.c_str());
  return OkReply({{"transport", name}, {"unloaded", true}, {"detail", detail}});
}

}  // namespace

bool IsLldRequest(const json& request) {
  if (!request.is_object()) return false;
  auto mode = request.find("mode");
  auto op = request.find("op");
  if (mode == request.end() || op == request.end() || !mode->is_string() || !op->is_string()) {
    return false;
  }
  const std::string o = op->get<std::string>();
  if (*mode == "lld") return o == "start" || o == "stop";
  return *mode == "system" && (o == "lldload" || o == "lldunload" || o == "lldreload");
}

json HandleLldRequest(AdminContext* ctx, const json& request) {
  try {
    return Run(ctx, request);
  } catch (const std::exception& e) {
    return ErrorReply(ErrorCode::kInternal, std::string("internal error: ") + e.what());
  } catch (...) {
    return ErrorReply(ErrorCode::kInternal, "internal error");
  }
}

json AddTransportsToReply(AdminContext* ctx, const json& request, json reply) {
  try {
    if (ctx == nullptr || ctx->transports == nullptr || !request.is_object() ||
        request.value("mode", json()) != "system" || request.value("op", json()) != "show" ||
        !reply.value("ok", false) || !reply.contains("result") || !reply["result"].is_object()) {
      return reply;
    }
    json& result = reply["result"];
    json list = json::array();
    std::vector<std::string> portals;
    for (const auto& t : ctx->transports->List()) {
      list.push_back(TransportJson(t));
      portals.insert(portals.end(), t.portals.begin(), t.portals.end());
    }
    if (!result.contains("modules") || !result["modules"].is_array()) {
      result["modules"] = json::array();
    }
    for (const auto& t : list) result["modules"].push_back(t);
    result["transports"] = std::move(list);
    result["portals"] = portals;  // every transport's, not only the iSCSI one's
  } catch (...) {
    // Leave the reply as the handler built it.
  }
  return reply;
}

}  // namespace modtgt::admin
