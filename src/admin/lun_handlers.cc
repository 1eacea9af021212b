// SPDX-License-Identifier: Apache-2.0
// --mode logicalunit: new, check, delete, show, update, eject, load. The handlers read and
// check the request's fields and render the reply; what a LUN change does is the core's
// (core/lun_ops.h).
#include <cinttypes>
#include <climits>
#include <string>
#include <vector>

#include "admin/handlers.h"
#include "admin/request.h"
#include "admin/views.h"
#include "common/log.h"
#include "core/lun_factory.h"
#include "core/lun_ops.h"
#include "core/tgt_import.h"
#include "modtgt/module.h"

namespace modtgt::admin {

namespace {

using nlohmann::json;

// A core error of a LUN op: NotFound is the LUN; AlreadyExists the LUN number.
Error LunError(const Status& s) { return FromStatus(s, ErrorCode::kNoSuchLun, ErrorCode::kLunExists); }

bool LunNumber(const Request& r, int64_t* lun, Error* err) {
  return r.Int("lun", true, 0, static_cast<int64_t>(core::kMaxLun), lun, err);
}

// Reads a logicalunit new/check request and validates it (core::CheckLun): the plan, the
// target, and the module's check_config. Nothing is created or opened.
bool PrepareLun(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* t,
                core::LunPlan* plan_out, Error* err) {
  int64_t lun = 0, block_size = 0, hw_max_sectors = 0;
  core::LunRequest req;
  if (!r.OnlyFields({"tid", "targetname", "lun", "backing_store", "cfgstring", "bstype",
                     "bsopts", "bsoflags", "blocksize", "params", "size", "wwn",
                     "hw_max_sectors", "control", "device_type"},
                    err) ||
      !LunNumber(r, &lun, err) ||
      !r.String("backing_store", false, &req.backing_store, err) ||
      !r.String("cfgstring", false, &req.cfgstring, err) ||
      !r.String("bstype", false, &req.bstype, err) ||
      !r.String("bsopts", false, &req.bsopts, err) ||
      !r.String("bsoflags", false, &req.bsoflags, err) ||
      !r.Int("blocksize", false, 0, 1 << 20, &block_size, err) ||
      !r.ParamList("params", &req.params, err) || !r.SizeText("size", &req.size, err) ||
      !r.String("wwn", false, &req.wwn, err) ||
      !r.Int("hw_max_sectors", false, 1, UINT32_MAX, &hw_max_sectors, err) ||
      !r.ParamList("control", &req.control, err) ||
      !r.String("device_type", false, &req.device_type, err)) {
    return false;
  }
  if (!r.Has("backing_store") && !r.Has("cfgstring")) {
    *err = Invalid("missing field 'backing_store' or 'cfgstring'");
    return false;
  }
  if (r.Has("wwn") && req.wwn.empty()) {
    *err = Invalid("field 'wwn' is empty");
    return false;
  }
  // tgtadm's names: --device-type tape/changer/osd/pt and --bstype aio, sg, ...
  if (!req.device_type.empty()) {
    Result<std::string> d = core::TgtDeviceType(req.device_type);
    if (!d.ok()) {
      *err = FromStatus(d.status(), ErrorCode::kInvalidRequest, ErrorCode::kInvalidRequest);
      return false;
    }
  }
  if (!req.bstype.empty() && req.bstype.find('/') == std::string::npos) {
    Result<std::string> b = core::TgtBstype(req.bstype);
    if (!b.ok()) {
      *err = FromStatus(b.status(), ErrorCode::kNoSuchModule, ErrorCode::kInvalidRequest);
      return false;
    }
    req.bstype = *b;
  }
  if (!LookupTarget(ctx, r, t, err)) return false;
  req.lun = static_cast<uint64_t>(lun);
  req.block_size = static_cast<uint32_t>(block_size);
  req.hw_max_sectors = static_cast<uint64_t>(hw_max_sectors);
  Result<core::LunPlan> plan = core::CheckLun(**t, req, ctx->modules);
  if (!plan.ok()) {
    // Here NotFound is the module the request names.
    *err = FromStatus(plan.status(), ErrorCode::kNoSuchModule, ErrorCode::kLunExists);
    return false;
  }
  *plan_out = std::move(*plan);
  return true;
}

// Finds the target and the LU number of a request that names an existing LU.
bool TargetAndLun(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* t,
                  int64_t* lun, Error* err) {
  return LunNumber(r, lun, err) && LookupTarget(ctx, r, t, err);
}

// A request naming an existing LU and an optional force flag, and nothing else (delete,
// eject).
bool LunAndForce(AdminContext* ctx, const Request& r, std::shared_ptr<core::Target>* t,
                 int64_t* lun, bool* force, Error* err) {
  return r.OnlyFields({"tid", "targetname", "lun", "force"}, err) && r.Bool("force", force, err) &&
         TargetAndLun(ctx, r, t, lun, err);
}

}  // namespace

Outcome LunNew(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  core::LunPlan plan;
  if (!PrepareLun(ctx, r, &t, &plan, &err)) return err;
  auto lu = core::AddLun(t.get(), plan, ctx->modules);
  if (!lu.ok()) return LunError(lu.status());
  LOG_INFO("admin: tid %d lun %" PRIu64 " created (%s %s)", t->tid(), plan.lu.lun,
           plan.device.bstype.c_str(), plan.device.cfgstring.c_str());
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, **lu)}};
}

// logicalunit check: the validation of logicalunit new, creating nothing.
Outcome LunCheck(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  core::LunPlan plan;
  if (!PrepareLun(ctx, r, &t, &plan, &err)) return err;
  return json{{"tid", t->tid()},
              {"lun", plan.lu.lun},
              {"ok", true},
              {"bstype", plan.device.bstype},
              {"cfgstring", plan.device.cfgstring},
              {"device_type", plan.device_type == MODTGT_DEVTYPE_CDROM ? "cd" : "disk"},
              {"block_size", plan.lu.block_size},
              {"size", plan.device.size},
              {"scsi_sn", plan.lu.serial},
              {"naa", NaaHex(plan.lu.naa)},
              {"max_transfer_blocks", plan.lu.max_transfer_blocks}};
}

Outcome LunDelete(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  bool force = false;
  if (!LunAndForce(ctx, r, &t, &lun, &force, &err)) return err;
  auto lu = t->FindLun(static_cast<uint64_t>(lun));
  if (lu == nullptr) {
    return Error{ErrorCode::kNoSuchLun,
                 "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
  }
  if (!force && lu->inflight.load() > 0) {
    return Error{ErrorCode::kBusy, "LUN " + std::to_string(lun) + " has commands in flight; " +
                                       "retry or use --force"};
  }
  auto removed = core::DeleteLun(t.get(), static_cast<uint64_t>(lun));
  if (!removed.ok()) return LunError(removed.status());
  LOG_INFO("admin: tid %d lun %" PRId64 " deleted", t->tid(), lun);
  return json{{"tid", t->tid()}, {"lun", lun}};
}

Outcome LunShow(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = -1;
  if (!r.OnlyFields({"tid", "targetname", "lun"}, &err) ||
      !r.Int("lun", false, 0, static_cast<int64_t>(core::kMaxLun), &lun, &err) ||
      !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  json luns = json::array();
  if (lun >= 0) {
    auto lu = t->FindLun(static_cast<uint64_t>(lun));
    if (lu == nullptr) {
      return Error{ErrorCode::kNoSuchLun,
                   "no LUN " + std::to_string(lun) + " in target " + std::to_string(t->tid())};
    }
    luns.push_back(LunJson(*t, *lu));
  } else {
    for (const auto& [n, lu] : *t->luns()) luns.push_back(LunJson(*t, *lu));
  }
  return json{{"tid", t->tid()}, {"luns", std::move(luns)}};
}

// logicalunit update --params k=v,... and/or --size SIZE (core::UpdateLun: live resize,
// live write cache, or a rebuild of the LU with the same identity).
Outcome LunUpdate(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  core::LunUpdate update;
  if (!r.OnlyFields({"tid", "targetname", "lun", "params", "size"}, &err) ||
      !LunNumber(r, &lun, &err) || !r.ParamList("params", &update.params, &err) ||
      !r.SizeText("size", &update.size, &err) || !LookupTarget(ctx, r, &t, &err)) {
    return err;
  }
  Result<core::LunUpdateResult> done =
      core::UpdateLun(t.get(), static_cast<uint64_t>(lun), update, ctx->modules);
  if (!done.ok()) return LunError(done.status());
  LOG_INFO("admin: tid %d lun %" PRId64 " updated%s", t->tid(), lun,
           done->rebuilt ? " (logical unit rebuilt)" : "");
  json result = {{"tid", t->tid()}, {"rebuilt", done->rebuilt}, {"lun", LunJson(*t, *done->lu)}};
  if (done->resized) result["resized"] = {{"from", done->old_size}, {"to", done->new_size}};
  return result;
}

// logicalunit eject [--force]: removes the medium of a cd LU; refused with busy while an
// initiator prevents removal, unless force.
Outcome LunEject(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  bool force = false;
  if (!LunAndForce(ctx, r, &t, &lun, &force, &err)) return err;
  Status s = core::EjectMedium(t.get(), static_cast<uint64_t>(lun), force);
  if (!s.ok()) return LunError(s);
  LOG_INFO("admin: tid %d lun %" PRId64 " medium ejected%s", t->tid(), lun,
           force ? " (forced)" : "");
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, *t->FindLun(static_cast<uint64_t>(lun)))}};
}

// logicalunit load [--cfgstring SUBTYPE/PATH] [--force]: loads or changes the medium of a
// cd LU; without cfgstring the current medium goes back in (after an eject).
Outcome LunLoad(AdminContext* ctx, const Request& r) {
  Error err;
  std::shared_ptr<core::Target> t;
  int64_t lun = 0;
  std::string cfgstring;
  bool force = false;
  if (!r.OnlyFields({"tid", "targetname", "lun", "cfgstring", "force"}, &err) ||
      !r.String("cfgstring", false, &cfgstring, &err) || !r.Bool("force", &force, &err) ||
      !TargetAndLun(ctx, r, &t, &lun, &err)) {
    return err;
  }
  Status s = core::LoadMedium(t.get(), static_cast<uint64_t>(lun), cfgstring, force, ctx->modules);
  if (!s.ok()) return LunError(s);
  LOG_INFO("admin: tid %d lun %" PRId64 " medium %s loaded%s", t->tid(), lun,
           cfgstring.empty() ? "(the previous one)" : cfgstring.c_str(), force ? " (forced)" : "");
  return json{{"tid", t->tid()}, {"lun", LunJson(*t, *t->FindLun(static_cast<uint64_t>(lun)))}};
}

}  // namespace modtgt::admin
