// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"

namespace modtgt::scsi {
namespace {

// ---- Test fixture (kept inline: a fake backend, target and owner) ----
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

void TestWrite(Command* cmd) { Complete(cmd); }
void TestRead(Command* cmd) {
  cmd->io = IoRequest{};
  cmd->io.op = IoOp::kRead;
  cmd->io.done = [](Command* c) {
    SetStatusFromIo(c, c->io.status);
    Complete(c);
  };
  cmd->lu->backend()->Submit(cmd);
}

const DeviceType& TestDiskType() {
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
      Nexus& n = nexus[i];
      n.id = 100 + i;
      n.initiator_name = "iqn.2024-01.test:init" + std::to_string(i);
      n.initiator_port = n.initiator_name + ",i,0x00023d00000" + std::to_string(i);
      n.target_name = "iqn.2024-01.test:tgt";
      n.target_port = n.target_name + ",t,0x0001";
      n.relative_port_id = 1;
      n.target = target;
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
[[maybe_unused]] SenseView Sense(const Command& c) {
  if ((c.sense[0] & 0x7f) == 0x72) return {static_cast<uint8_t>(c.sense[1] & 0xf), c.sense[2], c.sense[3]};
  return {static_cast<uint8_t>(c.sense[2] & 0xf), c.sense[12], c.sense[13]};
}
[[maybe_unused]] bool IsCheck(const Command& c, uint8_t key, uint16_t ascq) {
  SenseView s = Sense(c);
  return c.status == Status::kCheckCondition && s.key == key && s.asc == (ascq >> 8) &&
         s.ascq == (ascq & 0xff);
}
[[maybe_unused]] std::vector<uint8_t> DataIn(const Command& c) {
  return std::vector<uint8_t>(c.data.data(), c.data.data() + c.data_in_length);
}
// ---- end fixture ----

std::unique_ptr<Command> Prout(Fixture& f, int i, uint8_t sa, uint8_t type, uint64_t key,
                               uint64_t sakey, uint8_t flags = 0) {
  std::vector<uint8_t> p(24, 0);
  PutBe64(p.data(), key);
  PutBe64(p.data() + 8, sakey);
  p[20] = flags;
  return f.Run(i, {0x5f, sa, type, 0, 0, 0, 0, 0, 24, 0}, p);
}

std::vector<uint8_t> Prin(Fixture& f, int i, uint8_t sa) {
  auto c = f.Run(i, {0x5e, sa, 0, 0, 0, 0, 0, 0x10, 0, 0});
  EXPECT_EQ(c->status, Status::kGood);
  return DataIn(*c);
}

// Read through nexus 2, which the tests never register, so that no unit attention meant
// for nexus 0 or 1 is consumed.
std::vector<uint64_t> Keys(Fixture& f) {
  auto d = Prin(f, 2, 0);
  std::vector<uint64_t> k;
  for (size_t off = 8; off + 8 <= d.size(); off += 8) k.push_back(GetBe64(&d[off]));
  return k;
}

constexpr uint8_t kReg = 0, kRes = 1, kRel = 2, kClr = 3, kPre = 4, kRegIgn = 6;
constexpr uint8_t kWe = 1, kEa = 3, kWeRo = 5, kEaRo = 6, kWeAr = 7, kEaAr = 8;
const std::initializer_list<uint8_t> kRead = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
const std::initializer_list<uint8_t> kWrite = {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0};

struct PrFixture : Fixture {
  PrFixture() {
    for (int i = 0; i < 3; ++i) ClearUa(i);
  }
};

TEST(Pr, RegisterUnregisterAndGeneration) {
  PrFixture f;
  EXPECT_EQ(GetBe32(Prin(f, 0, 0).data()), 0u);
  EXPECT_EQ(Prout(f, 0, kReg, 0, 0, 0xa)->status, Status::kGood);
  EXPECT_EQ(Prout(f, 1, kRegIgn, 0, 0, 0xb)->status, Status::kGood);
  EXPECT_EQ(Keys(f), (std::vector<uint64_t>{0xa, 0xb}));
  EXPECT_EQ(GetBe32(Prin(f, 0, 0).data()), 2u);
  // REGISTER with the wrong reservation key conflicts; REGISTER AND IGNORE does not.
  EXPECT_EQ(Prout(f, 0, kReg, 0, 0x99, 0xc)->status, Status::kReservationConflict);
  EXPECT_EQ(Prout(f, 0, kRegIgn, 0, 0x99, 0xc)->status, Status::kGood);
  EXPECT_EQ(Keys(f), (std::vector<uint64_t>{0xc, 0xb}));
  EXPECT_EQ(Prout(f, 0, kReg, 0, 0xc, 0)->status, Status::kGood);
  EXPECT_EQ(Keys(f), (std::vector<uint64_t>{0xb}));
  // Unregistered nexus with a non-zero key conflicts.
  EXPECT_EQ(Prout(f, 2, kReg, 0, 0x5, 0x6)->status, Status::kReservationConflict);
}

TEST(Pr, ReserveRequiresMatchingRegistration) {
  PrFixture f;
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0)->status, Status::kReservationConflict);
  Prout(f, 0, kReg, 0, 0, 0xa);
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xb, 0)->status, Status::kReservationConflict);
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0)->status, Status::kGood);
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0)->status, Status::kGood);  // same type: no-op
  EXPECT_EQ(Prout(f, 0, kRes, kEa, 0xa, 0)->status, Status::kReservationConflict);
  auto r = Prin(f, 0, 1);
  ASSERT_EQ(r.size(), 24u);
  EXPECT_EQ(GetBe32(&r[4]), 16u);
  EXPECT_EQ(GetBe64(&r[8]), 0xau);
  EXPECT_EQ(r[21], kWe);
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRes, 2, 0xa, 0), 0x5, 0x2400));  // type 2 invalid
}

// libiscsi ProutReserve.Access*: {registered reads, registered writes, unregistered reads,
// unregistered writes} for the non-holder.
void CheckAccess(uint8_t type, bool rr, bool rw, bool ur, bool uw) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 1, kRegIgn, 0, 0, 0xb);
  ASSERT_EQ(Prout(f, 0, kRes, type, 0xa, 0)->status, Status::kGood);
  auto ok = [](const std::unique_ptr<Command>& c) { return c->status == Status::kGood; };
  EXPECT_TRUE(ok(f.Run(0, kRead)));
  EXPECT_TRUE(ok(f.Run(0, kWrite)));
  EXPECT_EQ(ok(f.Run(1, kRead)), rr) << int(type);
  EXPECT_EQ(ok(f.Run(1, kWrite)), rw) << int(type);
  EXPECT_EQ(ok(f.Run(2, kRead)), ur) << int(type);
  EXPECT_EQ(ok(f.Run(2, kWrite)), uw) << int(type);
  // Always allowed.
  EXPECT_TRUE(ok(f.Run(2, {0x12, 0, 0, 0, 36, 0})));
  EXPECT_TRUE(ok(f.Run(2, {0x00})));
  EXPECT_TRUE(ok(f.Run(2, {0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0})));
}

TEST(Pr, AccessPerReservationType) {
  CheckAccess(kEa, false, false, false, false);
  CheckAccess(kWe, true, false, true, false);
  CheckAccess(kEaRo, true, true, false, false);
  CheckAccess(kWeRo, true, true, true, false);
  CheckAccess(kEaAr, true, true, false, false);
  CheckAccess(kWeAr, true, true, true, false);
}

void CheckOwnership(uint8_t type, bool shared) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 1, kRegIgn, 0, 0, 0xb);
  ASSERT_EQ(Prout(f, 0, kRes, type, 0xa, 0)->status, Status::kGood);
  ASSERT_EQ(Prout(f, 0, kReg, 0, 0xa, 0)->status, Status::kGood);  // holder unregisters
  auto r = Prin(f, 0, 1);
  if (shared) {
    ASSERT_EQ(r.size(), 24u) << int(type);
    EXPECT_EQ(GetBe64(&r[8]), 0u);
    EXPECT_EQ(Prout(f, 1, kRel, type, 0xb, 0)->status, Status::kGood);
  } else {
    EXPECT_EQ(r.size(), 8u) << int(type);
    // Registrants-only types tell the remaining registrants (libiscsi clears it with TUR).
    auto ua = f.Run(1, {0x00});
    if (type == kWeRo || type == kEaRo) {
      EXPECT_TRUE(IsCheck(*ua, 0x6, 0x2a04)) << int(type);
    } else {
      EXPECT_EQ(ua->status, Status::kGood) << int(type);
    }
  }
  // The unregistering nexus never gets a unit attention about its own action.
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood) << int(type);
  EXPECT_EQ(Prout(f, 1, kReg, 0, 0xb, 0)->status, Status::kGood);
  EXPECT_TRUE(Keys(f).empty());
}

TEST(Pr, OwnershipPerReservationType) {
  CheckOwnership(kEa, false);
  CheckOwnership(kWe, false);
  CheckOwnership(kEaRo, false);
  CheckOwnership(kWeRo, false);
  CheckOwnership(kEaAr, true);
  CheckOwnership(kWeAr, true);
}

TEST(Pr, ReleaseNotifiesOtherRegistrantsOnly) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 1, kRegIgn, 0, 0, 0xb);
  Prout(f, 0, kRes, kWeRo, 0xa, 0);
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRel, kEa, 0xa, 0), 0x5, 0x2604));  // wrong type
  EXPECT_EQ(Prout(f, 0, kRel, kWeRo, 0xa, 0)->status, Status::kGood);
  EXPECT_EQ(Prin(f, 0, 1).size(), 8u);
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00}), 0x6, 0x2a04));
  EXPECT_EQ(f.Run(2, {0x00})->status, Status::kGood);  // not registered
  // Releasing with no reservation, or as a non-holder, is GOOD and changes nothing.
  EXPECT_EQ(Prout(f, 1, kRel, kWe, 0xb, 0)->status, Status::kGood);
}

TEST(Pr, PreemptTakesReservationAndRemovesRegistration) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 1, kRegIgn, 0, 0, 0xb);
  Prout(f, 0, kRes, kEa, 0xa, 0);
  uint32_t gen = GetBe32(Prin(f, 0, 0).data());
  ASSERT_EQ(Prout(f, 1, kPre, kWe, 0xb, 0xa)->status, Status::kGood);
  EXPECT_EQ(Keys(f), (std::vector<uint64_t>{0xb}));
  EXPECT_GT(GetBe32(Prin(f, 1, 0).data()), gen);
  auto r = Prin(f, 1, 1);
  ASSERT_EQ(r.size(), 24u);
  EXPECT_EQ(GetBe64(&r[8]), 0xbu);
  EXPECT_EQ(r[21], kWe);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2a05));
  // Preempting a key nobody holds conflicts; key 0 without a reservation is invalid.
  EXPECT_EQ(Prout(f, 1, kPre, kWe, 0xb, 0x77)->status, Status::kReservationConflict);
  PrFixture g;
  Prout(g, 0, kRegIgn, 0, 0, 0xa);
  EXPECT_TRUE(IsCheck(*Prout(g, 0, kPre, kWe, 0xa, 0), 0x5, 0x2600));
}

TEST(Pr, ClearRemovesEverythingAndNotifies) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 1, kRegIgn, 0, 0, 0xb);
  Prout(f, 0, kRes, kWe, 0xa, 0);
  EXPECT_EQ(Prout(f, 1, kClr, 0, 0xc, 0)->status, Status::kReservationConflict);
  EXPECT_EQ(Prout(f, 1, kClr, 0, 0xb, 0)->status, Status::kGood);
  EXPECT_TRUE(Keys(f).empty());
  EXPECT_EQ(Prin(f, 1, 1).size(), 8u);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2a03));
  EXPECT_EQ(f.Run(1, {0x00})->status, Status::kGood);
}

TEST(Pr, RegistrationsSurviveNexusLoss) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 0, kRes, kEa, 0xa, 0);
  f.lu->NexusGone(f.nexus[0]);
  EXPECT_EQ(Keys(f), (std::vector<uint64_t>{0xa}));
  EXPECT_EQ(f.Run(1, kRead)->status, Status::kReservationConflict);
}

TEST(Pr, ReportCapabilitiesAndFullStatus) {
  PrFixture f;
  auto caps = Prin(f, 0, 2);
  ASSERT_EQ(caps.size(), 8u);
  EXPECT_EQ(GetBe16(&caps[0]), 8u);
  EXPECT_EQ(caps[3] & 0x80, 0x80);
  EXPECT_EQ(caps[4], 0xea);
  EXPECT_EQ(caps[5], 0x01);
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  Prout(f, 0, kRes, kWe, 0xa, 0);
  auto fs = Prin(f, 0, 3);
  ASSERT_GE(fs.size(), 8u + 24u + 24u);
  EXPECT_EQ(GetBe32(&fs[4]) + 8u, fs.size());
  EXPECT_EQ(GetBe64(&fs[8]), 0xau);
  EXPECT_EQ(fs[8 + 12] & 1, 1);  // R_HOLDER
  EXPECT_EQ(fs[8 + 13], kWe);
  uint32_t tid_len = GetBe32(&fs[8 + 20]);
  EXPECT_EQ(tid_len % 4, 0u);
  EXPECT_EQ(fs[8 + 24], 0x45);
  std::string name(reinterpret_cast<const char*>(&fs[8 + 28]));
  EXPECT_EQ(name, f.nexus[0].initiator_port);
}

TEST(Pr, ServiceActionAndParameterChecks) {
  PrFixture f;
  for (uint8_t sa = 4; sa < 0x20; ++sa) {
    EXPECT_TRUE(IsCheck(*f.Run(0, {0x5e, sa, 0, 0, 0, 0, 0, 0, 64, 0}), 0x5, 0x2400)) << int(sa);
  }
  EXPECT_TRUE(IsCheck(*Prout(f, 0, 7, 0, 0, 0xa), 0x5, 0x2400));  // REGISTER AND MOVE
  std::vector<uint8_t> p(24, 0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x5f, 0, 0, 0, 0, 0, 0, 0, 20, 0}, p), 0x5, 0x1a00));
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x01), 0x5, 0x2600));  // APTPL
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x08), 0x5, 0x2600));  // SPEC_I_PT
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRes, 0x10 | kWe, 0xa, 0), 0x5, 0x2400));  // scope
  // Allocation length truncation keeps the generation and length fields.
  auto c = f.Run(0, {0x5e, 0, 0, 0, 0, 0, 0, 0, 4, 0});
  EXPECT_EQ(c->data_in_length, 4u);
}

TEST(Pr, Spc2ReserveRefusedWhileRegistered) {
  PrFixture f;
  Prout(f, 0, kRegIgn, 0, 0, 0xa);
  EXPECT_EQ(f.Run(0, {0x16, 0, 0, 0, 0, 0})->status, Status::kReservationConflict);
  EXPECT_EQ(f.Run(1, {0x16, 0, 0, 0, 0, 0})->status, Status::kReservationConflict);
  Prout(f, 0, kReg, 0, 0xa, 0);
  EXPECT_EQ(f.Run(1, {0x16, 0, 0, 0, 0, 0})->status, Status::kGood);
  // PR commands conflict under another nexus's SPC-2 reservation.
  EXPECT_EQ(f.Run(0, {0x5e, 0, 0, 0, 0, 0, 0, 0, 64, 0})->status,
            Status::kReservationConflict);
}

}  // namespace
}  // namespace modtgt::scsi
