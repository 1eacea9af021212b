// SPDX-License-Identifier: Apache-2.0
#include "scsi/alua.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/byteorder.h"
#include "fakes/spc_fixture.h"
#include "scsi/dispatch.h"
#include "modtgt/module.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"

namespace modtgt::scsi {
namespace {

using namespace ::modtgt::scsi::spctest;  // NOLINT: test fixture (fakes/spc_fixture.h)

// A store with a cluster lock group, like bs_rbd's: LockAcquire answers `acquire_status`.
class LockBackend : public FakeBackend {
 public:
  bool has_lock_group() const override { return true; }
  int LockAcquire(uint16_t tag) override {
    std::lock_guard<std::mutex> l(mu);
    tags.push_back(tag);
    if (acquire_status == MODTGT_STS_OK) {
      state = MODTGT_LOCK_LOCKED;
      holder = tag;
    }
    return acquire_status;
  }
  int LockRelease() override {
    std::lock_guard<std::mutex> l(mu);
    ++releases;
    state = MODTGT_LOCK_UNLOCKED;
    holder = 0;
    return MODTGT_STS_OK;
  }
  int LockHolderTag(uint16_t* tag) override {
    std::lock_guard<std::mutex> l(mu);
    if (holder == 0) return MODTGT_STS_NOT_HANDLED;
    *tag = holder;
    return MODTGT_STS_OK;
  }
  int LockState() override {
    std::lock_guard<std::mutex> l(mu);
    return state;
  }
  void SetEventCallback(std::function<void(int)> cb) override {
    std::lock_guard<std::mutex> l(mu);
    event_cb = std::move(cb);
  }
  void Fire(int event) {
    std::function<void(int)> cb;
    {
      std::lock_guard<std::mutex> l(mu);
      state = MODTGT_LOCK_UNLOCKED;
      cb = event_cb;
    }
    cb(event);
  }
  std::mutex mu;
  int acquire_status = MODTGT_STS_OK;
  int state = MODTGT_LOCK_UNLOCKED;
  uint16_t holder = 0;
  int releases = 0;
  std::vector<uint16_t> tags;
  std::function<void(int)> event_cb;
};

struct AluaFixture {
  explicit AluaFixture(bool lock, const DeviceType* type = &TestDiskType()) {
    target = std::make_shared<FakeTarget>();
    std::unique_ptr<FakeBackend> be;
    if (lock) {
      auto lb = std::make_unique<LockBackend>();
      lock_backend = lb.get();
      be = std::move(lb);
    } else {
      be = std::make_unique<FakeBackend>();
    }
    backend = be.get();
    lu = std::make_shared<LogicalUnit>(LuConfig{}, type, std::move(be),
                                       "iqn.2024-01.test:tgt");
    target->luns[0] = lu;
    for (int i = 0; i < 2; ++i) testing::InitNexus(&nexus[i], 100 + i, i, "iqn.2024-01.test:tgt", target);
  }
  // Runs cdb from nexus i and waits (bounded) for it to complete: SET TARGET PORT GROUPS
  // on a lock-group LU completes on the ALUA thread.
  std::unique_ptr<Command> Run(int i, std::initializer_list<uint8_t> cdb,
                               const std::vector<uint8_t>& out = {}) {
    auto cmd = std::make_unique<Command>();
    std::copy(cdb.begin(), cdb.end(), cmd->cdb);
    cmd->cdb_len = static_cast<uint8_t>(std::max<size_t>(cdb.size(), 6));
    cmd->nexus = &nexus[i];
    cmd->owner = &owner;
    cmd->dir = out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    cmd->expected_length = out.empty() ? 4096 : static_cast<uint32_t>(out.size());
    if (!out.empty()) {
      cmd->data.Resize(out.size());
      std::memcpy(cmd->data.data(), out.data(), out.size());
    }
    const int before = owner.done;
    Submit(cmd.get());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (owner.done == before && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    EXPECT_EQ(owner.done, before + 1) << "command not completed exactly once";
    return cmd;
  }
  // TEST UNIT READY until nexus i has no unit attention left.
  void ClearUas(int i) {
    for (int n = 0; n < 8; ++n) {
      auto t = Run(i, {0x00, 0, 0, 0, 0, 0});
      if (t->status != Status::kCheckCondition || Sense(*t).key != 0x6) break;
    }
  }
  std::unique_ptr<Command> Stpg(int i, std::vector<std::pair<uint16_t, uint8_t>> groups) {
    std::vector<uint8_t> p(4, 0);
    for (auto [g, s] : groups) p.insert(p.end(), {s, 0, static_cast<uint8_t>(g >> 8), static_cast<uint8_t>(g)});
    return Run(i, {0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(p.size()), 0, 0}, p);
  }
  // REPORT TARGET PORT GROUPS: {group, state} in order.
  std::vector<std::pair<int, int>> Rtpg(int i) {
    auto c = Run(i, {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
    EXPECT_EQ(c->status, Status::kGood);
    std::vector<std::pair<int, int>> out;
    std::vector<uint8_t> d = DataIn(*c);
    for (size_t at = 4; at + 8 <= d.size(); at += 8 + 4 * d[at + 7]) {
      out.push_back({GetBe16(&d[at + 2]), d[at] & 0x0f});
      EXPECT_EQ(d[at + 7], 1);
      EXPECT_EQ(GetBe16(&d[at + 10]), GetBe16(&d[at + 2])) << "relative port = group";
    }
    return out;
  }
  AluaConfig Cfg(uint16_t group, std::vector<uint16_t> peers, bool implicit = true) {
    AluaConfig c;
    c.group = group;
    c.peers = std::move(peers);
    c.implicit = implicit;
    return c;
  }
  bool WaitState(AluaState s) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (lu->alua().state() != s && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return lu->alua().state() == s;
  }
  std::shared_ptr<FakeTarget> target;
  FakeBackend* backend = nullptr;
  LockBackend* lock_backend = nullptr;
  std::shared_ptr<LogicalUnit> lu;
  Nexus nexus[2];
  FakeOwner owner;
};

constexpr uint16_t kStandby = 0x040b, kUnavailable = 0x040c, kTransition = 0x040a;
constexpr uint16_t kStateChanged = 0x2a06;

TEST(AluaConfig, ParseValidateDescribe) {
  AluaConfig c;
  EXPECT_TRUE(SetAluaParam("group", "7", &c).ok());
  EXPECT_TRUE(SetAluaParam("peers", "9:8", &c).ok());
  EXPECT_TRUE(SetAluaParam("mode", "explicit", &c).ok());
  EXPECT_FALSE(SetAluaParam("group", "65536", &c).ok());
  EXPECT_FALSE(SetAluaParam("peers", "1:x", &c).ok());
  EXPECT_FALSE(SetAluaParam("mode", "sometimes", &c).ok());
  EXPECT_FALSE(SetAluaParam("nonholder", "offline", &c).ok());
  EXPECT_FALSE(SetAluaParam("colour", "blue", &c).ok());
  EXPECT_EQ(c.group, 7);
  EXPECT_TRUE(ValidateAluaConfig(c).ok());
  EXPECT_EQ(AluaParamText(c, "peers"), "9:8");
  EXPECT_EQ(DescribeAluaConfig(c), "group=7 peers=9:8 mode=explicit nonholder=standby");
  ASSERT_TRUE(SetAluaParam("nonholder", "nonoptimized", &c).ok());
  EXPECT_FALSE(ValidateAluaConfig(c).ok()) << "non-optimized needs implicit ALUA";
  c.implicit = true;
  EXPECT_TRUE(ValidateAluaConfig(c).ok());
  c.peers = {7};
  EXPECT_FALSE(ValidateAluaConfig(c).ok()) << "a peer equal to the group";
  c.peers = {8, 8};
  EXPECT_FALSE(ValidateAluaConfig(c).ok()) << "a peer twice";
  EXPECT_EQ(DescribeAluaConfig(AluaConfig{}), "off");
}

TEST(Alua, OffByDefault) {
  AluaFixture f(false);
  auto inq = f.Run(0, {0x12, 0, 0, 0, 36, 0});
  EXPECT_EQ(DataIn(*inq)[5] & 0x30, 0);
  f.ClearUas(0);
  auto r = f.Run(0, {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
  EXPECT_TRUE(IsCheck(*r, 0x5, 0x2400)) << "an unsupported service action";
}

// The Linux kernel sizes every path's disk when it attaches it: a standby path answers
// READ CAPACITY (10) and (16), as LIO does; an unavailable one does not.
TEST(Alua, StandbyAnswersReadCapacity) {
  AluaFixture f(false, &SbcDeviceType());
  f.lu->alua().Configure(f.Cfg(3, {5}));
  f.ClearUas(0);
  ASSERT_EQ(f.Stpg(0, {{3, 2}})->status, Status::kGood);
  ASSERT_EQ(f.lu->alua().state(), AluaState::kStandby);
  auto rc10 = f.Run(0, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  EXPECT_EQ(rc10->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0}), 0x2, kStandby))
      << "GET LBA STATUS is I/O";
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, kStandby));
  ASSERT_EQ(f.Stpg(0, {{3, 3}})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0x2, kUnavailable));
}

TEST(Alua, WithoutLockGroupStpgMovesTheState) {
  AluaFixture f(false);
  f.lu->alua().Configure(f.Cfg(3, {5}));
  auto inq = f.Run(0, {0x12, 0, 0, 0, 36, 0});
  EXPECT_EQ((DataIn(*inq)[5] >> 4) & 3, 3);
  f.ClearUas(0);
  f.ClearUas(1);
  EXPECT_EQ(f.Rtpg(0), (std::vector<std::pair<int, int>>{{3, 0}, {5, 2}}));
  auto s = f.Stpg(0, {{3, 2}});
  EXPECT_EQ(s->status, Status::kGood);
  EXPECT_EQ(f.lu->alua().state(), AluaState::kStandby);
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00, 0, 0, 0, 0, 0}), 0x6, kStateChanged)) << "other nexus";
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00, 0, 0, 0, 0, 0}), 0x2, kStandby));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, kStandby));
  EXPECT_EQ(f.Run(0, {0x12, 0, 0, 0, 36, 0})->status, Status::kGood);
  EXPECT_EQ(f.Rtpg(0), (std::vector<std::pair<int, int>>{{3, 2}, {5, 0}}));
  EXPECT_EQ(f.Stpg(0, {{3, 3}})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00, 0, 0, 0, 0, 0}), 0x2, kUnavailable));
  // Bad lists: unknown group, a state that cannot be set, two active groups.
  EXPECT_TRUE(IsCheck(*f.Stpg(0, {{9, 0}}), 0x5, 0x2600));
  EXPECT_TRUE(IsCheck(*f.Stpg(0, {{3, 0xf}}), 0x5, 0x2600));
  EXPECT_TRUE(IsCheck(*f.Stpg(0, {{3, 0}, {5, 0}}), 0x5, 0x2600));
  EXPECT_EQ(f.Stpg(0, {{3, 0}})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x00, 0, 0, 0, 0, 0})->status, Status::kGood);
}

TEST(Alua, LockGroupDecidesTheStates) {
  AluaFixture f(true);
  f.lu->alua().Configure(f.Cfg(1, {2}, /*implicit=*/false));
  EXPECT_EQ(f.lu->alua().state(), AluaState::kStandby) << "not the holder until it locks";
  f.ClearUas(0);
  f.ClearUas(1);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, kStandby));
  // SET TARGET PORT GROUPS takes the lock with this group as its tag.
  EXPECT_EQ(f.Stpg(0, {{1, 0}})->status, Status::kGood);
  EXPECT_EQ(f.lu->alua().state(), AluaState::kActiveOptimized);
  EXPECT_EQ(f.lock_backend->tags, std::vector<uint16_t>{1});
  EXPECT_EQ(f.Rtpg(0), (std::vector<std::pair<int, int>>{{1, 0}, {2, 2}}));
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00, 0, 0, 0, 0, 0}), 0x6, kStateChanged));
  EXPECT_EQ(f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status, Status::kGood);
  // Another gateway takes the lock: the module's event moves this group to standby.
  f.lock_backend->Fire(MODTGT_EVENT_LOCK_LOST);
  {
    std::lock_guard<std::mutex> l(f.lock_backend->mu);
    f.lock_backend->holder = 2;
  }
  EXPECT_EQ(f.lu->alua().state(), AluaState::kStandby);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00, 0, 0, 0, 0, 0}), 0x6, kStateChanged));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, std::vector<uint8_t>(512)), 0x2,
                      kStandby));
  // The refresh (the ALUA thread does it once a second) reads the holder's tag.
  f.lu->alua().Refresh();
  EXPECT_EQ(f.Rtpg(0), (std::vector<std::pair<int, int>>{{1, 2}, {2, 0}}));
  // A failed acquisition fails the command with SET TARGET PORT GROUPS COMMAND FAILED.
  f.lock_backend->acquire_status = MODTGT_STS_BUSY;
  EXPECT_TRUE(IsCheck(*f.Stpg(0, {{1, 0}}), 0x4, 0x670a));
  EXPECT_EQ(f.lu->alua().state(), AluaState::kStandby);
}

TEST(Alua, ImplicitTransitionAndNotLockOwnerStatus) {
  AluaFixture f(true);
  f.lu->alua().Configure(f.Cfg(1, {2}));
  f.ClearUas(0);
  // A read on the standby path starts the implicit transition; the initiator retries.
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, kTransition));
  ASSERT_TRUE(f.WaitState(AluaState::kActiveOptimized));
  EXPECT_EQ(f.lock_backend->tags, std::vector<uint16_t>{1});
  f.ClearUas(0);
  EXPECT_EQ(f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status, Status::kGood);
  // TEST UNIT READY never moves the lock (path checkers send it on every path).
  f.lock_backend->Fire(MODTGT_EVENT_LOCK_LOST);
  f.ClearUas(0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00, 0, 0, 0, 0, 0}), 0x2, kStandby));
  EXPECT_EQ(f.lock_backend->tags.size(), 1u);
  // An I/O the store refuses with NOT_LOCK_OWNER: 02/04/0b and the group leaves AO.
  {
    std::lock_guard<std::mutex> l(f.lock_backend->mu);
    f.lock_backend->state = MODTGT_LOCK_LOCKED;
  }
  f.lu->alua().Refresh();
  ASSERT_EQ(f.lu->alua().state(), AluaState::kActiveOptimized);
  f.ClearUas(0);
  f.backend->next_status = MODTGT_STS_NOT_LOCK_OWNER;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, kStandby));
  EXPECT_EQ(f.lu->alua().state(), AluaState::kStandby);
}

}  // namespace
}  // namespace modtgt::scsi
