// SPDX-License-Identifier: Apache-2.0
#include "core/lun_ops.h"

#include <cinttypes>

#include "common/log.h"
#include "core/device.h"
#include "modtgt/module.h"
#include "scsi/mmc.h"
#include "scsi/sense.h"

namespace modtgt::core {

namespace {

Status ModuleFailure(const DeviceConfig& dev, const Status& s) {
  return Status::ModuleError("bstype " + dev.bstype + ", backing store " + dev.cfgstring + ": " +
                             s.message());
}

Status NoSuchLun(const Target& t, uint64_t lun) {
  return Status::NotFound("no LUN " + std::to_string(lun) + " in target " +
                          std::to_string(t.tid()));
}

bool IsCd(const scsi::LogicalUnit& lu) {
  return lu.type() != nullptr && lu.type()->peripheral_type() == MODTGT_DEVTYPE_CDROM;
}

// The backend of an LU whose store could not be opened: the recorded size, no capability,
// and any I/O that reaches it (the SCSI layer stops the medium commands of an offline LU
// first) fails.
class OfflineBackend : public scsi::Backend {
 public:
  explicit OfflineBackend(uint64_t size) : size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  bool has_flush() const override { return false; }
  bool has_unmap() const override { return false; }
  bool has_write_same() const override { return false; }
  bool has_caw() const override { return false; }
  bool has_handle_cmd() const override { return false; }
  bool thin() const override { return false; }
  void Submit(scsi::Command* cmd) override {
    scsi::IoDone(cmd, cmd->io.op == scsi::IoOp::kRead ? MODTGT_STS_READ_ERROR
                                                      : MODTGT_STS_WRITE_ERROR);
  }

 private:
  const uint64_t size_;
};

DeviceOpener OpenerFor(ModuleRegistry* modules, const scsi::Backend* previous = nullptr) {
  return [modules, previous](const DeviceConfig& cfg) {
    return modules->OpenDevice(cfg, previous);
  };
}

// The new size an update asks for, if any: --size and params size= must agree.
Status RequestedSize(const LunUpdate& update, const LunPlan& before, const LunPlan& after,
                     bool* resize, uint64_t* bytes) {
  *resize = false;
  if (!update.size.empty()) {
    Result<uint64_t> n = ParseSize(update.size);
    if (!n.ok()) return Status::InvalidArgument("--size: " + n.status().message());
    *resize = true;
    *bytes = *n;
  }
  if (after.device.size != before.device.size) {
    if (*resize && *bytes != after.device.size) {
      return Status::InvalidArgument("--size and --params size disagree");
    }
    *resize = true;
    *bytes = after.device.size;
  }
  return Status::OK();
}

}  // namespace

Result<LunPlan> CheckLun(const Target& target, const LunRequest& req, ModuleRegistry* modules) {
  if (target.FindLun(req.lun) != nullptr) {
    return Status::AlreadyExists("LUN " + std::to_string(req.lun) +
                                 " already exists in target " + std::to_string(target.tid()));
  }
  if (modules == nullptr) return Status::Internal("no module registry");
  std::vector<ModuleInfo> listed = modules->List();
  Result<LunPlan> plan = PlanLun(target.tid(), target.name(), req, listed);
  if (!plan.ok()) return plan.status();
  if (FindModuleInfo(listed, plan->device.bstype) == nullptr) {
    return Status::NotFound("no backing-store module '" + plan->device.bstype +
                            "' is loaded (bstype; see --mode system --op show)");
  }
  Status s = modules->CheckConfig(plan->device);
  if (!s.ok()) return ModuleFailure(plan->device, s);
  return plan;
}

Result<std::shared_ptr<scsi::LogicalUnit>> AddLun(Target* target, const LunPlan& plan,
                                                  ModuleRegistry* modules) {
  if (target->FindLun(plan.lu.lun) != nullptr) {
    return Status::AlreadyExists("LUN " + std::to_string(plan.lu.lun) +
                                 " already exists in target " + std::to_string(target->tid()));
  }
  auto lu = CreateLun(plan, target->name(), OpenerFor(modules));
  if (!lu.ok()) {
    // CreateLun's own check of the opened device's size is a parameter error.
    if (lu.status().code() == Code::kInvalidArgument &&
        lu.status().message().find("smaller than one") != std::string::npos) {
      return lu.status();
    }
    return ModuleFailure(plan.device, lu.status());
  }
  MODTGT_RETURN_IF_ERROR(target->AddLun(*lu, plan.device));
  return lu;
}

Result<std::shared_ptr<scsi::LogicalUnit>> AddOfflineLun(Target* target, const LunPlan& plan,
                                                         const std::string& reason) {
  if (target->FindLun(plan.lu.lun) != nullptr) {
    return Status::AlreadyExists("LUN " + std::to_string(plan.lu.lun) +
                                 " already exists in target " + std::to_string(target->tid()));
  }
  // The size is unknown when the store sizes itself (a file): one block stands in; the
  // medium commands that would show it are answered NOT READY anyway.
  const uint64_t size = plan.device.size != 0 ? plan.device.size : plan.lu.block_size;
  auto lu = CreateLun(plan, target->name(), [size](const DeviceConfig&) {
    return Result<std::unique_ptr<scsi::Backend>>(
        std::unique_ptr<scsi::Backend>(std::make_unique<OfflineBackend>(size)));
  });
  if (!lu.ok()) return lu.status();
  (*lu)->SetOffline(/*admin=*/false, reason);
  MODTGT_RETURN_IF_ERROR(target->AddLun(*lu, plan.device));
  return lu;
}

Result<std::shared_ptr<scsi::LogicalUnit>> DeleteLun(Target* target, uint64_t lun) {
  Result<std::shared_ptr<scsi::LogicalUnit>> removed = target->RemoveLun(lun);
  if (removed.ok()) target->ForgetPrState(removed->get());
  return removed;
}

bool StoreUnavailable(const scsi::LogicalUnit& lu) {
  return dynamic_cast<const OfflineBackend*>(lu.backend()) != nullptr;
}

namespace {

// online=1 on an LU whose store never opened: open it now with the recorded configuration.
Result<std::shared_ptr<scsi::LogicalUnit>> Reopen(Target* target,
                                                  const std::shared_ptr<scsi::LogicalUnit>& lu,
                                                  const LunPlan& plan, ModuleRegistry* modules) {
  if (modules == nullptr) return Status::Internal("no module registry");
  Status s = modules->CheckConfig(plan.device);
  auto fresh = s.ok() ? CreateLun(plan, target->name(), OpenerFor(modules))
                      : Result<std::shared_ptr<scsi::LogicalUnit>>(s);
  if (!fresh.ok()) {
    Status failed = ModuleFailure(plan.device, fresh.status());
    lu->SetOffline(/*admin=*/false, failed.message());
    return failed;
  }
  (*fresh)->CarryStateFrom(*lu);
  (*fresh)->SetOnline();
  MODTGT_RETURN_IF_ERROR(target->ReplaceLun(*fresh));
  (*fresh)->stats.AddFrom(lu->stats);
  return fresh;
}

}  // namespace

Result<LunUpdateResult> UpdateLun(Target* target, uint64_t lun, const LunUpdate& update_in,
                                  ModuleRegistry* modules) {
  if (update_in.params.empty() && update_in.size.empty()) {
    return Status::InvalidArgument("missing field 'params' or 'size' (nothing to update)");
  }
  std::shared_ptr<scsi::LogicalUnit> lu = target->FindLun(lun);
  if (lu == nullptr) return NoSuchLun(*target, lun);
  // online= is the LU's state, not its configuration, and path= (tgtadm) changes a cd's
  // medium: both are taken out of the parameters here.
  LunUpdate update;
  update.size = update_in.size;
  int online = -1;
  std::string path;
  bool have_path = false;
  for (const auto& kv : update_in.params) {
    if (kv.first == "path") {
      if (have_path) return Status::InvalidArgument("parameter path given twice");
      have_path = true;
      path = kv.second;
    } else if (kv.first != "online") {
      update.params.push_back(kv);
    } else if (online >= 0) {
      return Status::InvalidArgument("parameter online given twice");
    } else if (kv.second == "0" || kv.second == "1") {
      online = kv.second == "1";
    } else {
      return Status::InvalidArgument("parameter online='" + kv.second + "': expected 0 or 1");
    }
  }
  if (have_path) {
    // tgtadm's path=: a cd's new medium (the module's subtype prefixes the path).
    if (!IsCd(*lu)) {
      return Status::Unsupported("parameter path: the backing store of a disk LUN cannot "
                                 "change; delete the LUN and create it again (a cd LUN takes "
                                 "a new medium with path= or --op load)");
    }
    if (path.empty() || path[0] != '/') {
      return Status::InvalidArgument("parameter path='" + path + "': an absolute file path");
    }
    DeviceConfig dev;
    std::string subtype = "optical";
    if (target->GetLunDeviceConfig(lun, &dev) && modules != nullptr) {
      std::vector<ModuleInfo> listed = modules->List();
      const ModuleInfo* mi = FindModuleInfo(listed, dev.bstype);
      if (mi != nullptr && !mi->subtype.empty()) subtype = mi->subtype;
    }
    MODTGT_RETURN_IF_ERROR(LoadMedium(target, lun, subtype + "/" + path, /*force=*/false, modules));
    lu = target->FindLun(lun);
    if (lu == nullptr) return NoSuchLun(*target, lun);
    if (update.params.empty() && update.size.empty() && online < 0) {
      LunUpdateResult out;
      out.lu = lu;
      return out;
    }
  }
  if (online >= 0 && (!update.params.empty() || !update.size.empty())) {
    // The other parameters first (as tgtadm's "removable=1,sense_format=1,online=1"), then
    // the state; a refusal of the others changes nothing.
    LunUpdate rest = update;
    Result<LunUpdateResult> first = UpdateLun(target, lun, rest, modules);
    if (!first.ok()) return first.status();
    LunUpdate state;
    state.params = {{"online", online ? "1" : "0"}};
    Result<LunUpdateResult> second = UpdateLun(target, lun, state, modules);
    if (!second.ok()) return second.status();
    second->resized = first->resized;
    second->old_size = first->old_size;
    second->new_size = first->new_size;
    second->rebuilt = first->rebuilt || second->rebuilt;
    return second;
  }
  if (online >= 0) {
    LunUpdateResult out;
    out.lu = lu;
    if (online == 0) {
      lu->SetOffline(/*admin=*/true, "taken offline by the administrator (online=0)");
      return out;
    }
    if (StoreUnavailable(*lu)) {
      LunPlan plan;
      plan.lu = lu->config();
      plan.lu.write_cache = lu->wce.load();
      plan.d_sense = lu->d_sense.load();
      plan.device_type = lu->type() ? lu->type()->peripheral_type() : MODTGT_DEVTYPE_DISK;
      if (!target->GetLunDeviceConfig(lun, &plan.device)) {
        return Status::Internal("no recorded configuration for an offline LUN");
      }
      Result<std::shared_ptr<scsi::LogicalUnit>> fresh = Reopen(target, lu, plan, modules);
      if (!fresh.ok()) return fresh.status();
      out.lu = *fresh;
      out.rebuilt = true;
      return out;
    }
    lu->SetOnline();
    return out;
  }
  LunPlan plan;
  plan.lu = lu->config();
  if (!target->GetLunDeviceConfig(lun, &plan.device)) {
    return Status::Unsupported("LUN " + std::to_string(lun) +
                               " was not created by the admin; cannot update it");
  }
  plan.lu.write_cache = lu->wce.load();
  plan.d_sense = lu->d_sense.load();
  plan.device_type = lu->type() ? lu->type()->peripheral_type() : MODTGT_DEVTYPE_DISK;
  LunPlan next = plan;
  MODTGT_RETURN_IF_ERROR(ApplyLunParams(update.params, &next));
  next.device.hw_max_sectors = next.lu.max_transfer_blocks;  // what the module is told
  const scsi::LuConfig& a = plan.lu;
  const scsi::LuConfig& b = next.lu;
  const bool identity = a.serial != b.serial || a.naa != b.naa || a.device_id != b.device_id;
  if (identity) {
    // tgtadm sets scsi_sn / scsi_id with an update right after logicalunit new (tgt-admin
    // does): allowed, by a rebuild, while no initiator is logged in to see the LU change
    // its identity under it.
    if (target->sessions.load() > 0) {
      return Status::Busy("scsi_sn, scsi_id and naa cannot change while initiators are logged "
                          "in to target " + std::to_string(target->tid()) +
                          " (an LU's identity must not change under them)");
    }
    if (!next.device.wwn.empty() && b.serial != next.device.wwn) {
      return Status::InvalidArgument("scsi_sn must be the LUN's --wwn (" + next.device.wwn + ")");
    }
  }

  LunUpdateResult out;
  bool resize = false;
  uint64_t new_size = 0;
  MODTGT_RETURN_IF_ERROR(RequestedSize(update, plan, next, &resize, &new_size));
  out.old_size = lu->backend() ? lu->backend()->size_bytes() : 0;
  if (resize) {
    if (new_size % plan.lu.block_size != 0) {
      return Status::InvalidArgument("size " + std::to_string(new_size) +
                                     " is not a multiple of the block size " +
                                     std::to_string(plan.lu.block_size));
    }
    if (new_size == out.old_size) {
      resize = false;  // nothing to do
    } else if (modules != nullptr) {
      std::vector<ModuleInfo> listed = modules->List();
      const ModuleInfo* mi = FindModuleInfo(listed, plan.device.bstype);
      if (mi != nullptr && !mi->has_reconfig) {
        return Status::Unsupported("backing store '" + plan.device.bstype +
                                   "' cannot resize a live LUN (the module has no reconfig "
                                   "callback)");
      }
    }
    next.device.size = resize ? new_size : out.old_size;
  }
  out.rebuilt = identity || a.readonly != b.readonly || a.removable != b.removable ||
                a.thin_provisioning != b.thin_provisioning || a.vendor != b.vendor ||
                a.product != b.product || a.revision != b.revision ||
                a.max_transfer_blocks != b.max_transfer_blocks;
  out.lu = lu;
  if (resize) {
    // Resize first: a refusal leaves the LU exactly as it was.
    Status s = lu->Resize(new_size);
    if (!s.ok()) {
      std::string what = "resize of bstype " + plan.device.bstype + ", backing store " +
                         plan.device.cfgstring + " to " + std::to_string(new_size) +
                         " bytes failed: " + s.message();
      // The size was checked and the module has reconfig: what is left is the module's
      // own refusal, or I/O that did not drain.
      return s.code() == Code::kBusy ? Status::Busy(what) : Status::ModuleError(what);
    }
    LOG_INFO("tid %d lun %" PRIu64 " resized from %" PRIu64 " to %" PRIu64 " bytes",
             target->tid(), lun, out.old_size, new_size);
    out.resized = true;
    out.new_size = new_size;
    plan.device.size = new_size;
    target->SetLunDeviceConfig(lun, plan.device);
  }
  if (out.rebuilt) {
    if (modules == nullptr) return Status::Internal("no module registry");
    Status s = modules->CheckConfig(next.device);
    if (!s.ok()) return ModuleFailure(next.device, s);
    // The new device takes over the storage the host keeps for the LUN (bs_ram's memory).
    auto fresh = CreateLun(next, target->name(), OpenerFor(modules, lu->backend()));
    if (!fresh.ok()) return ModuleFailure(next.device, fresh.status());
    (*fresh)->CarryStateFrom(*lu);
    (*fresh)->wce.store(b.write_cache);
    (*fresh)->d_sense.store(next.d_sense);
    (*fresh)->backend()->SetWriteCache(b.write_cache);
    MODTGT_RETURN_IF_ERROR(target->ReplaceLun(*fresh));
    (*fresh)->stats.AddFrom(lu->stats);  // the counters go on across the rebuild
    out.lu = *fresh;
  } else if (a.write_cache != b.write_cache || plan.d_sense != next.d_sense) {
    lu->wce.store(b.write_cache);
    lu->d_sense.store(next.d_sense);
    if (a.write_cache != b.write_cache && lu->backend()) lu->backend()->SetWriteCache(b.write_cache);
    // SPC-4 5.14: mode parameters changed by other than this I_T nexus.
    lu->AddUnitAttentionAll(scsi::asc::kModeParametersChanged);
  }
  target->SetLunDeviceConfig(lun, next.device);
  return out;
}

Result<std::shared_ptr<scsi::LogicalUnit>> FindCdLun(const Target& target, uint64_t lun) {
  std::shared_ptr<scsi::LogicalUnit> lu = target.FindLun(lun);
  if (lu == nullptr) return NoSuchLun(target, lun);
  if (!IsCd(*lu)) {
    return Status::InvalidArgument("LUN " + std::to_string(lun) +
                                   " is a disk, not a cd: it has no removable medium "
                                   "(--device-type cd)");
  }
  return lu;
}

Status EjectMedium(Target* target, uint64_t lun, bool force) {
  Result<std::shared_ptr<scsi::LogicalUnit>> lu = FindCdLun(*target, lun);
  if (!lu.ok()) return lu.status();
  Status s = scsi::EjectMedium(lu->get(), force);
  if (!s.ok()) {
    std::string msg = "eject refused: " + s.message();
    return s.code() == Code::kBusy ? Status::Busy(msg) : Status::InvalidArgument(msg);
  }
  return Status::OK();
}

Status LoadMedium(Target* target, uint64_t lun, const std::string& cfgstring, bool force,
                  ModuleRegistry* modules) {
  Result<std::shared_ptr<scsi::LogicalUnit>> lu = FindCdLun(*target, lun);
  if (!lu.ok()) return lu.status();
  if (cfgstring.size() > 4096) {
    return Status::InvalidArgument("cfgstring is longer than 4096 characters");
  }
  DeviceConfig dev;
  const bool have_dev = target->GetLunDeviceConfig(lun, &dev);
  if (!cfgstring.empty()) {
    Result<std::string> subtype = CfgStringSubtype(cfgstring);
    if (!subtype.ok()) return subtype.status();
    if (have_dev && modules != nullptr) {
      std::vector<ModuleInfo> listed = modules->List();
      const ModuleInfo* mi = FindModuleInfo(listed, dev.bstype);
      if (mi != nullptr && mi->subtype != *subtype) {
        return Status::InvalidArgument("cfgstring '" + cfgstring + "' has the subtype '" +
                                       *subtype + "', but this LUN's backing store '" +
                                       dev.bstype + "' takes '" + mi->subtype + "/...'");
      }
    }
  }
  Status s = scsi::LoadMedium(lu->get(), cfgstring, force);
  if (!s.ok()) {
    // Busy while prevented. With a new medium the module was called: any other refusal
    // is its own.
    std::string msg = "load refused: " + s.message();
    if (s.code() == Code::kBusy) return Status::Busy(msg);
    if (s.code() == Code::kInvalidArgument && cfgstring.empty()) {
      return Status::InvalidArgument(msg);
    }
    return Status::ModuleError(msg);
  }
  if (have_dev && !cfgstring.empty()) {
    dev.cfgstring = cfgstring;
    dev.size = 0;  // the new medium's own size
    target->SetLunDeviceConfig(lun, dev);
  }
  return Status::OK();
}

}  // namespace modtgt::core
