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

TEST(Inquiry, StandardData) {
  LuConfig cfg;
  cfg.removable = true;
  cfg.vendor = "ACME";
  Fixture f(cfg);
  auto c = f.Run(0, {0x12, 0, 0, 0, 255, 0});
  ASSERT_EQ(c->status, Status::kGood);
  auto d = DataIn(*c);
  ASSERT_EQ(d.size(), 96u);
  EXPECT_EQ(d[0], 0x00);
  EXPECT_EQ(d[1], 0x80);  // RMB
  EXPECT_EQ(d[2], 0x06);
  EXPECT_EQ(d[3] & 0x0f, 2);
  EXPECT_EQ(d[3] & 0x10, 0x10);  // HISUP
  EXPECT_EQ(d[4], 91);
  EXPECT_EQ(d[7] & 0x02, 0x02);  // CMDQUE
  EXPECT_EQ(std::string(d.begin() + 8, d.begin() + 16), "ACME    ");
  EXPECT_EQ(std::string(d.begin() + 16, d.begin() + 32), "VIRTUAL-DISK    ");
  EXPECT_EQ(GetBe16(&d[58]), 0x00a0);
  EXPECT_EQ(GetBe16(&d[64]), 0x04c0);
}

TEST(Inquiry, AllocationLengthTruncates) {
  Fixture f;
  auto c = f.Run(0, {0x12, 0, 0, 0, 5, 0});
  EXPECT_EQ(c->status, Status::kGood);
  EXPECT_EQ(c->data_in_length, 5u);
  EXPECT_EQ(f.Run(0, {0x12, 1, 0x83, 0, 3, 0})->data_in_length, 3u);
}

TEST(Inquiry, PageCodeWithoutEvpdIsInvalid) {
  Fixture f;
  auto c = f.Run(0, {0x12, 0, 0x80, 0, 255, 0});
  ASSERT_TRUE(IsCheck(*c, 0x5, 0x2400));
  EXPECT_EQ(GetBe16(c->sense + 16), 2);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x12, 1, 0x42, 0, 255, 0}), 0x5, 0x2400));
}

TEST(Inquiry, SupportedPagesListsBlockPagesForSbc) {
  Fixture f;
  auto d = DataIn(*f.Run(0, {0x12, 1, 0x00, 0, 255, 0}));
  ASSERT_GE(d.size(), 4u);
  std::vector<uint8_t> pages(d.begin() + 4, d.end());
  EXPECT_EQ(pages, (std::vector<uint8_t>{0x00, 0x80, 0x83, 0x8f, 0xb0, 0xb1, 0xb2}));
  EXPECT_EQ(GetBe16(&d[2]), pages.size());
  for (uint8_t p : pages) {
    auto c = f.Run(0, {0x12, 1, p, 0x10, 0, 0});
    EXPECT_EQ(c->status, Status::kGood) << int(p);
    ASSERT_GE(c->data_in_length, 4u);
    EXPECT_EQ(c->data.data()[1], p);
    EXPECT_EQ(GetBe16(c->data.data() + 2) + 4u, c->data_in_length);
  }
}

TEST(Inquiry, SerialAndDeviceIdAreStable) {
  LuConfig cfg;
  cfg.serial = "SN123";
  Fixture f(cfg), g(cfg);
  auto s = DataIn(*f.Run(0, {0x12, 1, 0x80, 0, 255, 0}));
  EXPECT_EQ(std::string(s.begin() + 4, s.end()), "SN123");
  auto a = DataIn(*f.Run(0, {0x12, 1, 0x83, 0, 255, 0}));
  auto b = DataIn(*g.Run(1, {0x12, 1, 0x83, 0, 255, 0}));
  EXPECT_EQ(a, b);
  // First designator: NAA 6, binary, 16 bytes.
  ASSERT_GE(a.size(), 24u);
  EXPECT_EQ(a[4] & 0x0f, 1);
  EXPECT_EQ(a[5] & 0x0f, 3);
  EXPECT_EQ(a[7], 16);
  EXPECT_EQ(a[8] >> 4, 6);
  // Walk the descriptors: they must tile the page exactly and include types 1, 3, 4, 8.
  size_t off = 4;
  std::vector<int> types;
  while (off + 4 <= a.size()) {
    types.push_back(a[off + 1] & 0x0f);
    off += 4 + a[off + 3];
  }
  EXPECT_EQ(off, a.size());
  EXPECT_EQ(types, (std::vector<int>{3, 1, 4, 8, 8}));
}

TEST(Inquiry, BlockLimitsAndProvisioning) {
  Fixture f;
  auto d = DataIn(*f.Run(0, {0x12, 1, 0xb0, 0, 255, 0}));
  ASSERT_EQ(d.size(), 64u);
  EXPECT_EQ(d[5], 1);                           // MAXIMUM COMPARE AND WRITE LENGTH
  EXPECT_EQ(GetBe32(&d[8]), (64u << 20) / 512);  // MAXIMUM TRANSFER LENGTH
  EXPECT_EQ(GetBe32(&d[12]), (1u << 20) / 512);  // OPTIMAL TRANSFER LENGTH
  EXPECT_EQ(GetBe32(&d[24]), 0u);               // no UNMAP without thin + unmap
  auto p = DataIn(*f.Run(0, {0x12, 1, 0xb2, 0, 255, 0}));
  EXPECT_EQ(p[5], 0);

  LuConfig cfg;
  cfg.thin_provisioning = true;
  Fixture t(cfg);
  t.backend->unmap = true;
  d = DataIn(*t.Run(0, {0x12, 1, 0xb0, 0, 255, 0}));
  EXPECT_EQ(GetBe32(&d[24]), 256u);
  p = DataIn(*t.Run(0, {0x12, 1, 0xb2, 0, 255, 0}));
  EXPECT_EQ(p[5] & 0xe0, 0xe0);
  EXPECT_EQ(p[6] & 0x07, 2);
  // LBPRZ agrees with READ CAPACITY (16): set only when the backend is thin.
  EXPECT_EQ(p[5] & 0x04, 0x04);
  auto r = DataIn(*t.Run(0, {0x12, 1, 0xb1, 0, 255, 0}));
  EXPECT_EQ(GetBe16(&r[4]), 1);
}

TEST(ReportLuns, ListsPeripheralAndFlatLuns) {
  Fixture f;
  f.target->luns[3] = f.lu;
  f.target->luns[300] = f.lu;
  auto c = f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  ASSERT_EQ(c->status, Status::kGood);
  auto d = DataIn(*c);
  ASSERT_EQ(d.size(), 32u);
  EXPECT_EQ(GetBe32(&d[0]), 24u);
  EXPECT_EQ(d[8 + 1], 0);
  EXPECT_EQ(d[16 + 1], 3);
  EXPECT_EQ(d[24], 0x40 | 1);
  EXPECT_EQ(d[25], 300 & 0xff);
  EXPECT_EQ(DataIn(*f.Run(0, {0xa0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0})).size(), 8u);
}

TEST(ReportLuns, BadSelectOrShortAllocation) {
  Fixture f;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0xa0, 0, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0}), 0x5, 0x2400));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 0, 0}), 0x5, 0x2400));
  // Truncation to the allocation length keeps the full LUN LIST LENGTH.
  f.target->luns[1] = f.lu;
  f.target->luns[2] = f.lu;
  auto c = f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0});
  EXPECT_EQ(c->data_in_length, 16u);
  EXPECT_EQ(GetBe32(c->data.data()), 24u);
}

TEST(RequestSense, ReturnsAndConsumesUnitAttention) {
  Fixture f;
  auto c = f.Run(0, {0x03, 0, 0, 0, 252, 0});
  ASSERT_EQ(c->status, Status::kGood);
  auto d = DataIn(*c);
  ASSERT_EQ(d.size(), 18u);
  EXPECT_EQ(d[2], 0x06);
  EXPECT_EQ(d[12], 0x29);
  d = DataIn(*f.Run(0, {0x03, 0, 0, 0, 252, 0}));
  EXPECT_EQ(d[2], 0x00);
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  // DESC=1: descriptor format.
  d = DataIn(*f.Run(0, {0x03, 1, 0, 0, 252, 0}));
  ASSERT_EQ(d.size(), 8u);
  EXPECT_EQ(d[0], 0x72);
}

std::vector<uint8_t> ModeSense6(Fixture& f, int i, uint8_t page, uint8_t pc = 0, bool dbd = false) {
  auto c = f.Run(i, {0x1a, static_cast<uint8_t>(dbd ? 0x08 : 0), static_cast<uint8_t>(pc << 6 | page), 0, 255, 0});
  EXPECT_EQ(c->status, Status::kGood);
  return DataIn(*c);
}

TEST(ModeSense, HeaderBlockDescriptorAndPages) {
  Fixture f;
  f.ClearUa(0);
  auto d = ModeSense6(f, 0, 0x3f);
  ASSERT_GE(d.size(), 12u);
  EXPECT_EQ(d[0] + 1u, d.size());
  EXPECT_EQ(d[3], 8);  // block descriptor length
  EXPECT_EQ(GetBe32(&d[4]), (1u << 20) / 512);
  EXPECT_EQ(GetBe24(&d[9]), 512u);
  // Pages 01, 08, 0a, 1c in order.
  std::vector<int> pages;
  for (size_t off = 12; off < d.size(); off += 2 + d[off + 1]) pages.push_back(d[off] & 0x3f);
  EXPECT_EQ(pages, (std::vector<int>{0x01, 0x08, 0x0a, 0x1c}));
  auto n = ModeSense6(f, 0, 0x08, 0, true);
  EXPECT_EQ(n[3], 0);
  EXPECT_EQ(n.size(), 4u + 20u);
  EXPECT_EQ(n[4 + 2] & 0x04, 0x04);  // WCE default on
}

TEST(ModeSense, Ten) {
  Fixture f;
  f.ClearUa(0);
  auto c = f.Run(0, {0x5a, 0x10, 0x0a, 0, 0, 0, 0, 0x01, 0x00, 0});
  ASSERT_EQ(c->status, Status::kGood);
  auto d = DataIn(*c);
  EXPECT_EQ(GetBe16(&d[0]) + 2u, d.size());
  EXPECT_EQ(d[4] & 1, 1);           // LONGLBA
  EXPECT_EQ(GetBe16(&d[6]), 16u);   // long block descriptor
  EXPECT_EQ(GetBe64(&d[8]), (1u << 20) / 512);
  EXPECT_EQ(d[24], 0x0a);
}

TEST(ModeSense, SavedValuesAndBadPages) {
  Fixture f;
  f.ClearUa(0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x1a, 0, 0xc8, 0, 255, 0}), 0x5, 0x3900));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x1a, 0, 0x05, 0, 255, 0}), 0x5, 0x2400));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x1a, 0, 0x08, 0x01, 255, 0}), 0x5, 0x2400));
  EXPECT_EQ(f.Run(0, {0x1a, 0, 0x3f, 0xff, 255, 0})->status, Status::kGood);
}

TEST(ModeSelect, ChangeWceAndDSenseRoundTripAndNotifyOthers) {
  Fixture f;
  f.ClearUa(0);
  f.ClearUa(1);
  auto cur = ModeSense6(f, 0, 0x08, 0, true);
  std::vector<uint8_t> sel = cur;
  sel[0] = 0;  // MODE DATA LENGTH is reserved in MODE SELECT
  sel[4 + 2] &= ~0x04;  // WCE off
  auto c = f.Run(0, {0x15, 0x10, 0, 0, static_cast<uint8_t>(sel.size()), 0}, sel);
  ASSERT_EQ(c->status, Status::kGood);
  EXPECT_FALSE(f.lu->wce.load());
  ASSERT_EQ(f.backend->wce_calls.size(), 1u);
  EXPECT_FALSE(f.backend->wce_calls[0]);
  EXPECT_EQ(ModeSense6(f, 0, 0x08, 0, true)[4 + 2] & 0x04, 0);
  // The changer sees no UA, the other nexus sees MODE PARAMETERS CHANGED.
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00}), 0x6, 0x2a01));

  auto ctl = ModeSense6(f, 0, 0x0a, 0, true);
  ctl[0] = 0;
  ctl[4 + 2] |= 0x04;  // D_SENSE
  ASSERT_EQ(f.Run(0, {0x15, 0x10, 0, 0, static_cast<uint8_t>(ctl.size()), 0}, ctl)->status,
            Status::kGood);
  auto bad = f.Run(0, {0xc5});
  EXPECT_EQ(bad->sense[0], 0x72);
}

TEST(ModeSelect, SwpMakesWritesFail) {
  Fixture f;
  f.ClearUa(0);
  auto ctl = ModeSense6(f, 0, 0x0a, 0, true);
  ctl[0] = 0;
  ctl[4 + 4] |= 0x08;
  ASSERT_EQ(f.Run(0, {0x15, 0x10, 0, 0, static_cast<uint8_t>(ctl.size()), 0}, ctl)->status,
            Status::kGood);
  EXPECT_EQ(ModeSense6(f, 0, 0x3f)[2] & 0x80, 0x80);  // WP in the header
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x7, 0x2700));
}

TEST(ModeSelect, RejectsUnchangeableFieldsAndSaveAndShortLists) {
  Fixture f;
  f.ClearUa(0);
  auto ctl = ModeSense6(f, 0, 0x0a, 0, true);
  ctl[0] = 0;
  ctl[4 + 3] ^= 0x10;  // QUEUE ALGORITHM MODIFIER is not changeable
  auto c = f.Run(0, {0x15, 0x10, 0, 0, static_cast<uint8_t>(ctl.size()), 0}, ctl);
  ASSERT_TRUE(IsCheck(*c, 0x5, 0x2600));
  EXPECT_EQ(GetBe16(c->sense + 16), 7);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x15, 0x11, 0, 0, 0, 0}), 0x5, 0x3900));
  std::vector<uint8_t> tiny = {0, 0};
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x15, 0x10, 0, 0, 2, 0}, tiny), 0x5, 0x1a00));
  std::vector<uint8_t> unknown = {0, 0, 0, 0, 0x05, 0x02, 0, 0};
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x15, 0x10, 0, 0, 8, 0}, unknown), 0x5, 0x2600));
  std::vector<uint8_t> trunc = {0, 0, 0, 0, 0x08, 0x12, 0, 0};  // page longer than the list
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x15, 0x10, 0, 0, 8, 0}, trunc), 0x5, 0x1a00));
}

TEST(Rsoc, AllCommandsAndOneCommand) {
  Fixture f;
  f.ClearUa(0);
  auto c = f.Run(0, {0xa3, 0x0c, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0});
  ASSERT_EQ(c->status, Status::kGood);
  auto d = DataIn(*c);
  // The entries this LU offers (the ALUA ones only with ALUA on: OpSupportedBy).
  size_t nops = 0;
  for (const OpInfo& op : f.lu->type()->ops()) nops += OpSupportedBy(op, *f.lu) ? 1 : 0;
  EXPECT_LT(nops, f.lu->type()->ops().size()) << "REPORT/SET TARGET PORT GROUPS are left out";
  EXPECT_EQ(d.size(), 4 + 8 * nops);
  EXPECT_EQ(GetBe32(&d[0]), 8 * nops);
  auto r = DataIn(*f.Run(0, {0xa3, 0x0c, 0x80, 0, 0, 0, 0, 0, 0x10, 0, 0, 0}));
  EXPECT_EQ(r.size(), 4 + 20 * nops);
  // Every descriptor: one-command lookups agree and usage[0] is the opcode.
  for (size_t off = 4; off < d.size(); off += 8) {
    uint8_t op = d[off];
    uint16_t sa = GetBe16(&d[off + 2]);
    bool servactv = d[off + 5] & 1;
    uint8_t opt = servactv ? 2 : 1;
    auto one = f.Run(0, {0xa3, 0x0c, opt, op, static_cast<uint8_t>(sa >> 8),
                         static_cast<uint8_t>(sa), 0, 0, 1, 0, 0, 0});
    ASSERT_EQ(one->status, Status::kGood) << int(op);
    auto o = DataIn(*one);
    EXPECT_EQ(o[1] & 7, 3);
    EXPECT_EQ(GetBe16(&o[2]), GetBe16(&d[off + 6]));
    ASSERT_EQ(o.size(), 4u + GetBe16(&o[2]));
    EXPECT_EQ(o[4], op);
    if (servactv) {
      EXPECT_EQ(o[5] & 0x1f, sa);
    }
    EXPECT_NE(GetBe16(&o[2]), 0);
    auto wrong = f.Run(0, {0xa3, 0x0c, static_cast<uint8_t>(servactv ? 1 : 2), op,
                           static_cast<uint8_t>(sa >> 8), static_cast<uint8_t>(sa), 0, 0, 1, 0, 0, 0});
    EXPECT_TRUE(IsCheck(*wrong, 0x5, 0x2400)) << int(op);
  }
  auto none = DataIn(*f.Run(0, {0xa3, 0x0c, 1, 0xc5, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(none[1] & 7, 1);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0xa3, 0x0c, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0}), 0x5, 0x2400));
}

TEST(StartStop, EjectLoadAndPrevent) {
  LuConfig cfg;
  cfg.removable = true;
  Fixture f(cfg);
  f.ClearUa(0);
  f.ClearUa(1);
  EXPECT_EQ(f.Run(0, {0x1b, 1, 0, 0, 0x02, 0})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x2, 0x3a00));
  EXPECT_EQ(f.Run(0, {0x1b, 1, 0, 0, 0x03, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  // POWER CONDITION != 0: no eject.
  EXPECT_EQ(f.Run(0, {0x1b, 1, 0, 0, 0x12, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  // PREVENT by nexus 0 blocks eject from anyone until it is gone.
  EXPECT_EQ(f.Run(0, {0x1e, 0, 0, 0, 1, 0})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x1b, 0, 0, 0, 0x02, 0}), 0x5, 0x5302));
  // Loading is refused too while prevented (libiscsi PreventAllow.Eject); LOEJ=0 is not.
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x1b, 0, 0, 0, 0x03, 0}), 0x5, 0x5302));
  EXPECT_EQ(f.Run(0, {0x1b, 0, 0, 0, 0x01, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  f.lu->NexusGone(f.nexus[0]);
  EXPECT_EQ(f.Run(1, {0x1b, 0, 0, 0, 0x02, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(1, {0x1b, 0, 0, 0, 0x03, 0})->status, Status::kGood);
  // Cleared by LUN reset as well.
  EXPECT_EQ(f.Run(1, {0x1e, 0, 0, 0, 1, 0})->status, Status::kGood);
  ResetLogicalUnit(f.lu.get(), &f.nexus[1]);
  f.ClearUa(1);
  EXPECT_EQ(f.Run(1, {0x1b, 0, 0, 0, 0x02, 0})->status, Status::kGood);
}

TEST(StartStop, LoejOnFixedMediumFails) {
  Fixture f;
  f.ClearUa(0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x1b, 1, 0, 0, 0x02, 0}), 0x5, 0x2400));
  EXPECT_EQ(f.Run(0, {0x1b, 0, 0, 0, 0x00, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x1b, 0, 0, 0, 0x01, 0})->status, Status::kGood);
}

TEST(Reserve6, ConflictsForOtherNexus) {
  Fixture f;
  f.ClearUa(0);
  f.ClearUa(1);
  EXPECT_EQ(f.Run(0, {0x16, 0, 0, 0, 0, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x16, 0, 0, 0, 0, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(1, {0x16, 0, 0, 0, 0, 0})->status, Status::kReservationConflict);
  EXPECT_EQ(f.Run(1, {0x17, 0, 0, 0, 0, 0})->status, Status::kGood);  // no-op
  EXPECT_EQ(f.Run(0, {0x1a, 0, 0x3f, 0, 255, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(1, {0x1a, 0, 0x3f, 0, 255, 0})->status, Status::kReservationConflict);
  EXPECT_EQ(f.Run(1, {0x00})->status, Status::kGood);  // TEST UNIT READY is allowed
  EXPECT_EQ(f.Run(1, {0x12, 0, 0, 0, 36, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(1, {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0x17, 0, 0, 0, 0, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(1, {0x16, 0, 0, 0, 0, 0})->status, Status::kGood);
  // Losing the nexus drops its reservation.
  f.lu->NexusGone(f.nexus[1]);
  EXPECT_EQ(f.Run(0, {0x1a, 0, 0x3f, 0, 255, 0})->status, Status::kGood);
}

TEST(Malformed, EverySpcOpcodeWithJunkNeverCrashes) {
  Fixture f;
  f.ClearUa(0);
  for (const OpInfo& op : f.lu->type()->ops()) {
    for (int pattern = 0; pattern < 3; ++pattern) {
      auto cmd = std::make_unique<Command>();
      for (int i = 0; i < 16; ++i) cmd->cdb[i] = static_cast<uint8_t>(pattern == 0 ? 0xff : pattern == 1 ? 0 : (i * 37 + 11));
      cmd->cdb[0] = op.opcode;
      cmd->cdb[1] = static_cast<uint8_t>((cmd->cdb[1] & 0xe0) | op.service_action);
      cmd->cdb_len = 16;
      cmd->nexus = &f.nexus[0];
      cmd->owner = &f.owner;
      if (pattern == 2) {
        cmd->data.Resize(7);
        std::memset(cmd->data.data(), 0xa5, 7);
      }
      int before = f.owner.done;
      Submit(cmd.get());
      EXPECT_EQ(f.owner.done, before + 1) << op.name;
    }
  }
}

}  // namespace
}  // namespace modtgt::scsi
