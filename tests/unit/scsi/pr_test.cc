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
#include "fakes/spc_fixture.h"

namespace modtgt::scsi {
namespace {

using namespace ::modtgt::scsi::spctest;  // NOLINT: test fixture (fakes/spc_fixture.h)

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
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x01), 0x5, 0x2600));  // APTPL, PTPL_C 0
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

// A PrPersistence that records what it was asked to save (or fails on demand).
struct RecordingPersistence : PrPersistence {
  ::modtgt::Status Save(const LogicalUnit&, const PersistentReservations& pr) override {
    saves++;
    if (fail) return ::modtgt::Status::IoError("disk full");
    saved = pr;
    present = pr.aptpl;
    return ::modtgt::Status::OK();
  }
  int saves = 0;
  bool fail = false;
  bool present = false;  // what a restart would find
  PersistentReservations saved;
};

std::shared_ptr<RecordingPersistence> Persist(PrFixture& f) {
  auto p = std::make_shared<RecordingPersistence>();
  std::lock_guard<std::mutex> l(f.lu->mutex());
  f.lu->pr_persistence = p;
  return p;
}

TEST(PrAptpl, ReportCapabilitiesTellsWhetherApTplCanBeHonouredAndIsActive) {
  PrFixture f;
  auto caps = Prin(f, 0, 2);
  EXPECT_EQ(caps[2] & 0x01, 0) << "PTPL_C without anywhere to persist";
  EXPECT_EQ(caps[3] & 0x01, 0) << "PTPL_A";
  Persist(f);
  caps = Prin(f, 0, 2);
  EXPECT_EQ(caps[2] & 0x01, 1) << "PTPL_C";
  EXPECT_EQ(caps[3] & 0x01, 0) << "PTPL_A before any APTPL";
  EXPECT_EQ(Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x01)->status, Status::kGood);
  caps = Prin(f, 0, 2);
  EXPECT_EQ(caps[3] & 0x01, 1) << "PTPL_A after REGISTER with APTPL";
  EXPECT_EQ(Prout(f, 0, kReg, 0, 0xa, 0xa, 0x00)->status, Status::kGood);
  EXPECT_EQ(Prin(f, 0, 2)[3] & 0x01, 0) << "the last REGISTER's APTPL decides";
}

TEST(PrAptpl, EveryChangeIsSavedWhileAptplIsSetAndTheFileGoesWithIt) {
  PrFixture f;
  auto p = Persist(f);
  EXPECT_EQ(Prout(f, 0, kRegIgn, 0, 0, 0xa)->status, Status::kGood);
  EXPECT_EQ(p->saves, 0) << "no APTPL, nothing saved";
  EXPECT_EQ(Prout(f, 1, kRegIgn, 0, 0, 0xb, 0x01)->status, Status::kGood);
  EXPECT_TRUE(p->present);
  EXPECT_EQ(p->saved.registrations.size(), 2u);
  // RESERVE (APTPL in its parameter list is ignored for it) is saved too.
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0, 0x01)->status, Status::kGood);
  EXPECT_TRUE(p->saved.reserved);
  EXPECT_EQ(p->saved.type, kWe);
  EXPECT_EQ(p->saved.holder_initiator_port, f.nexus[0].initiator_port);
  EXPECT_TRUE(p->saved.aptpl) << "RESERVE carries no APTPL of its own";
  const int before = p->saves;
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0)->status, Status::kGood);  // same reservation again
  EXPECT_EQ(p->saves, before) << "nothing changed, nothing written";
  // A REGISTER with APTPL 0 removes what a restart would find.
  EXPECT_EQ(Prout(f, 1, kReg, 0, 0xb, 0xb)->status, Status::kGood);
  EXPECT_FALSE(p->present);
}

TEST(PrAptpl, ARefusedSaveLeavesTheStateAsItWas) {
  PrFixture f;
  auto p = Persist(f);
  EXPECT_EQ(Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x01)->status, Status::kGood);
  p->fail = true;
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRes, kEa, 0xa, 0), 0x4, 0x4400));
  EXPECT_EQ(f.Run(1, kRead)->status, Status::kGood) << "the reservation was not taken";
  EXPECT_EQ(GetBe32(Prin(f, 2, 1).data() + 4), 0u) << "READ RESERVATION: none";
  p->fail = false;
  EXPECT_EQ(Prout(f, 0, kRes, kEa, 0xa, 0)->status, Status::kGood);
  EXPECT_EQ(f.Run(1, kRead)->status, Status::kReservationConflict);
}

TEST(PrAptpl, RefusedWithoutPersistenceOnlyForRegister) {
  PrFixture f;
  EXPECT_TRUE(IsCheck(*Prout(f, 0, kRegIgn, 0, 0, 0xa, 0x01), 0x5, 0x2600));
  EXPECT_EQ(Keys(f), std::vector<uint64_t>{});
  EXPECT_EQ(Prout(f, 0, kRegIgn, 0, 0, 0xa)->status, Status::kGood);
  // SPC-4 6.15.3: other service actions ignore the bit.
  EXPECT_EQ(Prout(f, 0, kRes, kWe, 0xa, 0, 0x01)->status, Status::kGood);
}

}  // namespace
}  // namespace modtgt::scsi
