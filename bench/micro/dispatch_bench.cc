// SPDX-License-Identifier: Apache-2.0
// CDB dispatch without a network: scsi::Submit (LU lookup through the nexus's target view,
// task set, opcode table, unit attention and reservation checks, the SBC READ/WRITE
// handlers, range checks, buffer sizing) down to the real bs_null module (loaded from the
// build tree through core::ModuleRegistry, the LU built by core::CreateLun as the admin
// plane does) and back to the owner's CommandDone. The command is reused (Reset) as the
// transport's pool does. READ(10) and WRITE(10) of 8 blocks (4 KiB); bs_null zero-fills
// read buffers, so the read includes a 4 KiB memset.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "common/byteorder.h"
#include "core/lun_factory.h"
#include "core/module_registry.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"

namespace modtgt {
namespace {

constexpr char kIqn[] = "iqn.2026-12.org.modtgt.bench:dispatch";

class Owner : public scsi::CommandOwner {
 public:
  env::EventLoop* loop() const override { return nullptr; }  // complete inline
  void CommandDone(scsi::Command* cmd) override {
    ++done;
    good += cmd->status == scsi::Status::kGood;
  }
  int64_t done = 0, good = 0;
};

class OneLunTarget : public scsi::TargetView {
 public:
  explicit OneLunTarget(std::shared_ptr<scsi::LogicalUnit> lu) : lu_(std::move(lu)) {}
  std::shared_ptr<scsi::LogicalUnit> FindLun(uint64_t lun) const override {
    return lun == lu_->lun() ? lu_ : nullptr;
  }
  std::vector<uint64_t> ListLuns() const override { return {lu_->lun()}; }

 private:
  std::shared_ptr<scsi::LogicalUnit> lu_;
};

struct NullLu {
  core::ModuleRegistry modules;
  std::shared_ptr<scsi::LogicalUnit> lu;
  std::shared_ptr<OneLunTarget> target;
  scsi::Nexus nexus;
  std::string error;

  NullLu() {
    const std::string dir = MODTGT_BUILD_MODULE_DIR;
    if (access((dir + "/backing-store/bs_null.so").c_str(), R_OK) != 0) {
      error = dir + "/backing-store/bs_null.so is not built";
      return;
    }
    Status s = modules.LoadDirectory(dir, {"null"});
    if (!s.ok()) {
      error = s.ToString();
      return;
    }
    core::LunRequest r;
    r.lun = 1;
    r.bstype = "null";
    r.backing_store = "null0";
    r.bsopts = "size=1T";
    auto made = core::CreateLun(&modules, 1, kIqn, r);
    if (!made.ok()) {
      error = made.status().ToString();
      return;
    }
    lu = *made;
    target = std::make_shared<OneLunTarget>(lu);
    nexus.id = 1;
    nexus.initiator_name = "iqn.2026-12.org.modtgt.bench:init";
    nexus.initiator_port = nexus.initiator_name + ",i,0x023d00000001";
    nexus.target_name = kIqn;
    nexus.target_port = std::string(kIqn) + ",t,0x0001";
    nexus.relative_port_id = 1;
    nexus.target = target;
  }
};

void Prepare(scsi::Command* cmd, Owner* owner, scsi::Nexus* nexus, uint8_t op, uint32_t lba) {
  cmd->Reset();
  cmd->owner = owner;
  cmd->nexus = nexus;
  cmd->lun = 1;
  cmd->cdb_len = 10;
  std::memset(cmd->cdb, 0, sizeof(cmd->cdb));
  cmd->cdb[0] = op;
  PutBe32(&cmd->cdb[2], lba);
  PutBe16(&cmd->cdb[7], 8);
  cmd->expected_length = 4096;
  if (op == 0x2a) {
    cmd->dir = scsi::DataDirection::kWrite;
    cmd->data.Resize(4096);
  } else {
    cmd->dir = scsi::DataDirection::kRead;
  }
}

void BM_Dispatch(benchmark::State& state) {
  const uint8_t op = static_cast<uint8_t>(state.range(0));
  NullLu n;
  if (!n.error.empty()) {
    state.SkipWithError(n.error.c_str());
    return;
  }
  Owner owner;
  scsi::Command cmd;
  // The nexus's first commands get the power-on unit attention: clear it first.
  for (int i = 0; i < 4; ++i) {
    Prepare(&cmd, &owner, &n.nexus, 0x28, 0);
    scsi::Submit(&cmd);
  }
  const int64_t good0 = owner.good;
  uint32_t lba = 0;
  for (auto _ : state) {
    Prepare(&cmd, &owner, &n.nexus, op, lba);
    lba = (lba + 4099 * 8) & 0xffffff;
    scsi::Submit(&cmd);
  }
  if (owner.good - good0 != state.iterations()) state.SkipWithError("a command did not complete GOOD");
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(op == 0x28 ? "READ(10) 4 KiB, bs_null" : "WRITE(10) 4 KiB, bs_null");
}
BENCHMARK(BM_Dispatch)->Arg(0x28)->Arg(0x2a)->ArgName("opcode");

}  // namespace
}  // namespace modtgt
