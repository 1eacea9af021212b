// SPDX-License-Identifier: Apache-2.0
// Shared fixture for the SPC, dispatch and PR unit tests: a fake backend that completes
// inline, a fake target (LUN map) and owner, a minimal disk device type (SPC entries plus a
// READ(10)/WRITE(10) pair), and an LU with three I_T nexuses. Not thread-safe.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fakes/fake_owner.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"

namespace modtgt::scsi::spctest {

class FakeBackend : public Backend {
 public:
  explicit FakeBackend(uint64_t size = 1 << 20) : size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  bool has_flush() const override { return true; }
  bool has_unmap() const override { return unmap; }
  bool has_write_same() const override { return false; }
  bool has_caw() const override { return false; }
  bool has_handle_cmd() const override { return handle_cmd; }
  bool thin() const override { return unmap; }
  void Submit(Command* cmd) override {
    ++submits;
    IoDone(cmd, next_status);
  }
  void SetWriteCache(bool enabled) override { wce_calls.push_back(enabled); }
  uint64_t size_;
  bool unmap = false;
  bool handle_cmd = false;
  int next_status = 0;
  int submits = 0;
  std::vector<bool> wce_calls;
};

class FakeTarget : public TargetView {
 public:
  std::shared_ptr<LogicalUnit> FindLun(uint64_t lun) const override {
    auto it = luns.find(lun);
    return it == luns.end() ? nullptr : it->second;
  }
  std::vector<uint64_t> ListLuns() const override {
    std::vector<uint64_t> v;
    for (auto& [k, _] : luns) v.push_back(k);
    return v;
  }
  std::map<uint64_t, std::shared_ptr<LogicalUnit>> luns;
};

class FakeOwner : public CommandOwner {
 public:
  env::EventLoop* loop() const override { return loop_; }
  void CommandDone(Command* cmd) override { ++done; }
  env::EventLoop* loop_ = nullptr;
  std::atomic<int> done{0};
};

inline void TestWrite(Command* cmd) { Complete(cmd); }
inline void TestRead(Command* cmd) {
  cmd->io = IoRequest{};
  cmd->io.op = IoOp::kRead;
  cmd->io.done = [](Command* c) {
    SetStatusFromIo(c, c->io.status);
    Complete(c);
  };
  cmd->lu->backend()->Submit(cmd);
}

inline const DeviceType& TestDiskType() {
  static const DeviceType* t = [] {
    std::vector<OpInfo> ops = SpcOps();
    OpInfo w;
    w.opcode = 0x2a;
    w.handler = &TestWrite;
    w.flags = kOpWritesMedium | kOpNeedsMedium;
    w.cdb_length = 10;
    ops.push_back(w);
    OpInfo r;
    r.opcode = 0x28;
    r.handler = &TestRead;
    r.flags = kOpNeedsMedium;
    r.cdb_length = 10;
    ops.push_back(r);
    return new DeviceType("test-disk", 0, ops);
  }();
  return *t;
}

struct Fixture {
  explicit Fixture(LuConfig cfg = {}) {
    target = std::make_shared<FakeTarget>();
    auto be = std::make_unique<FakeBackend>();
    backend = be.get();
    lu = std::make_shared<LogicalUnit>(cfg, &TestDiskType(), std::move(be),
                                       "iqn.2024-01.test:tgt");
    target->luns[cfg.lun] = lu;
    for (int i = 0; i < 3; ++i) {
      testing::InitNexus(&nexus[i], 100 + i, i, "iqn.2024-01.test:tgt", target);
    }
  }
  // Runs cdb from nexus i and returns the finished command.
  std::unique_ptr<Command> Run(int i, std::initializer_list<uint8_t> cdb,
                               const std::vector<uint8_t>& out = {}, uint64_t lun = 0) {
    auto cmd = std::make_unique<Command>();
    std::copy(cdb.begin(), cdb.end(), cmd->cdb);
    cmd->cdb_len = 16;
    if (cdb.size() > 16) cmd->cdb_len = static_cast<uint8_t>(cdb.size());
    cmd->lun = lun;
    cmd->nexus = &nexus[i];
    cmd->owner = &owner;
    cmd->dir = out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    cmd->expected_length = out.empty() ? 65536 : static_cast<uint32_t>(out.size());
    if (!out.empty()) {
      cmd->data.Resize(out.size());
      std::memcpy(cmd->data.data(), out.data(), out.size());
    }
    int before = owner.done;
    Submit(cmd.get());
    EXPECT_EQ(owner.done, before + 1) << "command not completed exactly once";
    return cmd;
  }
  // Runs cdb after clearing the power-on unit attention of nexus i.
  void ClearUa(int i) {
    while (Run(i, {0x00}, {})->status == Status::kCheckCondition) {
      if (++guard > 32) break;
    }
  }
  std::shared_ptr<FakeTarget> target;
  FakeBackend* backend = nullptr;
  std::shared_ptr<LogicalUnit> lu;
  Nexus nexus[3];
  FakeOwner owner;
  int guard = 0;
};

// Sense key / ASC / ASCQ of a fixed or descriptor format sense.
struct SenseView {
  uint8_t key, asc, ascq;
};
inline SenseView Sense(const Command& c) {
  if ((c.sense[0] & 0x7f) == 0x72) return {static_cast<uint8_t>(c.sense[1] & 0xf), c.sense[2], c.sense[3]};
  return {static_cast<uint8_t>(c.sense[2] & 0xf), c.sense[12], c.sense[13]};
}
inline bool IsCheck(const Command& c, uint8_t key, uint16_t ascq) {
  SenseView s = Sense(c);
  return c.status == Status::kCheckCondition && s.key == key && s.asc == (ascq >> 8) &&
         s.ascq == (ascq & 0xff);
}
inline std::vector<uint8_t> DataIn(const Command& c) {
  return std::vector<uint8_t>(c.data.data(), c.data.data() + c.data_in_length);
}

}  // namespace modtgt::scsi::spctest
