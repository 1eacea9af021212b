// SPDX-License-Identifier: Apache-2.0
// MMC-6 device type (src/scsi/mmc.cc): the CD/DVD-ROM commands through scsi::Submit, the
// medium state (START STOP UNIT, EjectMedium, LoadMedium) and its unit attentions and
// media events.
#include "scsi/mmc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/byteorder.h"
#include "fakes/spc_fixture.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "plain_backend.h"

namespace modtgt::scsi {
namespace {

using namespace ::modtgt::scsi::spctest;  // NOLINT: test fixture (fakes/spc_fixture.h)

constexpr uint32_t kBs = 2048;

// The byte at `offset` of the medium called `name`: computed, so media of any size cost no
// memory.
uint8_t Pattern(const std::string& name, uint64_t offset) {
  const uint64_t block = offset / kBs;
  return static_cast<uint8_t>((block * 31 + offset % kBs * 7 + name.size() * 13) & 0xff);
}

// An optical backend: a medium chosen by config string from `media` (name -> bytes);
// Reconfigure switches like core::Device does (the size callback fires when the size
// changes). Inline completion.
class OpticalBackend : public PlainBackend {
 public:
  OpticalBackend(std::map<std::string, uint64_t> media, std::string current)
      : media_(std::move(media)), current_(std::move(current)) {}
  uint64_t size_bytes() const override { return media_.at(current_); }
  void Submit(Command* cmd) override {
    ++submits;
    if (cmd->io.op == IoOp::kRead && zeros) {
      // MODTGT_STS_ZEROS (module ABI 1.6): the buffer is not written (garbage stays).
      std::memset(cmd->io.iov[0].iov_base, 0xee, cmd->io.iov[0].iov_len);
      IoDone(cmd, MODTGT_STS_ZEROS);
      return;
    }
    if (cmd->io.op == IoOp::kRead) {
      auto* p = static_cast<uint8_t*>(cmd->io.iov[0].iov_base);
      for (uint64_t i = 0; i < cmd->io.length; ++i) p[i] = Pattern(current_, cmd->io.offset + i);
      IoDone(cmd, MODTGT_STS_OK);
      return;
    }
    IoDone(cmd, MODTGT_STS_UNSUPPORTED);
  }
  ::modtgt::Status Reconfigure(const BackendReconfig& rc) override {
    ++reconfigs;
    if (rc.size) return ::modtgt::Status::InvalidArgument("no resize");
    if (!rc.cfgstring) return ::modtgt::Status::OK();
    auto it = media_.find(*rc.cfgstring);
    if (it == media_.end()) return ::modtgt::Status::NotFound("no such image " + *rc.cfgstring);
    const uint64_t old = size_bytes();
    current_ = it->first;
    if (old != size_bytes() && cb_) cb_();
    return ::modtgt::Status::OK();
  }
  void SetSizeChangedCallback(std::function<void()> cb) override { cb_ = std::move(cb); }
  const std::string& current() const { return current_; }
  int submits = 0;
  int reconfigs = 0;
  bool zeros = false;  // reads complete with MODTGT_STS_ZEROS

 private:
  std::map<std::string, uint64_t> media_;
  std::string current_;
  std::function<void()> cb_;
};

struct MmcFixture {
  explicit MmcFixture(uint64_t blocks = 1000, uint64_t blocks2 = 3000) {
    target = std::make_shared<FakeTarget>();
    auto be = std::make_unique<OpticalBackend>(
        std::map<std::string, uint64_t>{{"optical/a.iso", blocks * kBs},
                                        {"optical/b.iso", blocks2 * kBs}},
        "optical/a.iso");
    backend = be.get();
    LuConfig cfg;
    cfg.block_size = kBs;
    cfg.readonly = true;
    cfg.product = "VIRTUAL-CDROM";
    lu = std::make_shared<LogicalUnit>(cfg, &MmcDeviceType(), std::move(be),
                                       "iqn.2024-01.test:cd");
    target->luns[0] = lu;
    for (int i = 0; i < 3; ++i) {
      testing::InitNexus(&nexus[i], 200 + i, i, "iqn.2024-01.test:cd", target);
    }
  }
  std::unique_ptr<Command> Run(int i, std::vector<uint8_t> cdb, uint32_t expected = 65536,
                               const std::vector<uint8_t>& out = {}) {
    auto cmd = std::make_unique<Command>();
    std::copy(cdb.begin(), cdb.end(), cmd->cdb);
    cmd->cdb_len = 16;
    cmd->nexus = &nexus[i];
    cmd->owner = &owner;
    cmd->dir = out.empty() ? DataDirection::kRead : DataDirection::kWrite;
    cmd->expected_length = out.empty() ? expected : static_cast<uint32_t>(out.size());
    if (!out.empty()) {
      cmd->data.Resize(out.size());
      std::memcpy(cmd->data.data(), out.data(), out.size());
    }
    const int before = owner.done;
    Submit(cmd.get());
    EXPECT_EQ(owner.done, before + 1) << "command not completed exactly once";
    return cmd;
  }
  // Clears pending unit attentions of nexus i (TEST UNIT READY until no UA).
  void ClearUa(int i) {
    for (int n = 0; n < 32; ++n) {
      auto c = Run(i, {0x00, 0, 0, 0, 0, 0});
      if (!(c->status == Status::kCheckCondition && Sense(*c).key == 0x6)) return;
    }
  }
  std::vector<uint8_t> Data(int i, std::vector<uint8_t> cdb) {
    auto c = Run(i, std::move(cdb));
    EXPECT_EQ(c->status, Status::kGood) << "sense " << int(Sense(*c).key) << "/" << std::hex
                                        << int(Sense(*c).asc) << "/" << int(Sense(*c).ascq);
    return DataIn(*c);
  }
  std::shared_ptr<FakeTarget> target;
  OpticalBackend* backend = nullptr;
  std::shared_ptr<LogicalUnit> lu;
  Nexus nexus[3];
  FakeOwner owner;
};

const std::vector<uint8_t> kTur = {0x00, 0, 0, 0, 0, 0};
const std::vector<uint8_t> kPrevent = {0x1e, 0, 0, 0, 0x01, 0};
const std::vector<uint8_t> kAllow = {0x1e, 0, 0, 0, 0x00, 0};
const std::vector<uint8_t> kEject = {0x1b, 0, 0, 0, 0x02, 0};
const std::vector<uint8_t> kLoad = {0x1b, 0, 0, 0, 0x03, 0};
const std::vector<uint8_t> kReadCapacity = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};
const std::vector<uint8_t> kGesnMedia = {0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0};

std::vector<uint8_t> Toc(bool msf, uint8_t format, uint8_t track) {
  return {0x43, static_cast<uint8_t>(msf ? 0x02 : 0), format, 0, 0, 0, track, 0x03, 0x00, 0};
}

TEST(Mmc, InquiryIsTypeFiveRemovableWithoutBlockPages) {
  MmcFixture f;
  auto d = f.Data(0, {0x12, 0, 0, 0, 96, 0});
  ASSERT_EQ(d.size(), 96u);
  EXPECT_EQ(d[0], 0x05);
  EXPECT_EQ(d[1], 0x80);                // RMB
  EXPECT_EQ(GetBe16(&d[64]), 0x04e0);  // MMC-6
  auto p = f.Data(0, {0x12, 1, 0x00, 0, 255, 0});
  EXPECT_EQ(std::vector<uint8_t>(p.begin() + 4, p.end()), (std::vector<uint8_t>{0x00, 0x80, 0x83}));
  EXPECT_EQ(p[0], 0x05);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x12, 1, 0xb0, 0, 255, 0}), 0x5, 0x2400));
}

TEST(Mmc, ReadCapacityIsLastLbaAnd2048) {
  MmcFixture f(1000);
  f.ClearUa(0);
  auto d = f.Data(0, kReadCapacity);
  ASSERT_EQ(d.size(), 8u);
  EXPECT_EQ(GetBe32(&d[0]), 999u);
  EXPECT_EQ(GetBe32(&d[4]), 2048u);
}

TEST(Mmc, ReadReturnsTheMediumThroughTheBackend) {
  MmcFixture f(1000);
  f.ClearUa(0);
  auto d = f.Data(0, {0x28, 0, 0, 0, 0, 10, 0, 0, 3, 0});  // READ (10) LBA 10, 3 blocks
  ASSERT_EQ(d.size(), 3u * kBs);
  for (size_t i = 0; i < d.size(); ++i) {
    ASSERT_EQ(d[i], Pattern("optical/a.iso", 10 * kBs + i)) << i;
  }
  EXPECT_EQ(f.backend->submits, 1);
  auto d12 = f.Data(0, {0xa8, 0, 0, 0, 0x03, 0xe7, 0, 0, 0, 1, 0, 0});  // READ (12) LBA 999
  ASSERT_EQ(d12.size(), kBs);
  EXPECT_EQ(d12[5], Pattern("optical/a.iso", 999 * kBs + 5));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0x03, 0xe7, 0, 0, 2, 0}), 0x5, 0x2100));
}

TEST(Mmc, ReadOfZerosIsFlaggedForTheTransport) {
  MmcFixture f(1000);
  f.ClearUa(0);
  f.backend->zeros = true;
  auto c = f.Run(0, {0x28, 0, 0, 0, 0, 10, 0, 0, 3, 0});  // READ (10) LBA 10, 3 blocks
  EXPECT_EQ(c->status, Status::kGood);
  EXPECT_EQ(c->data_in_length, 3u * kBs);
  EXPECT_TRUE(c->data_zero);
  f.backend->zeros = false;
  auto d = f.Run(0, {0x28, 0, 0, 0, 0, 10, 0, 0, 1, 0});
  EXPECT_FALSE(d->data_zero);
  EXPECT_EQ(DataIn(*d)[1], Pattern("optical/a.iso", 10 * kBs + 1));
}

TEST(Mmc, WritesAreInvalidOpcodes) {
  MmcFixture f;
  f.ClearUa(0);
  std::vector<uint8_t> block(kBs, 0xaa);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0, block), 0x5, 0x2000));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0xaa, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}, 0, block), 0x5, 0x2000));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0}), 0x5, 0x2000));  // SYNC CACHE
  EXPECT_EQ(f.backend->submits, 0);
}

TEST(Mmc, TocLbaHasOneDataTrackAndTheLeadOut) {
  MmcFixture f(1000);
  f.ClearUa(0);
  auto d = f.Data(0, Toc(false, 0, 0));
  const std::vector<uint8_t> want = {0, 18, 1, 1,                   // header
                                     0, 0x14, 1, 0, 0, 0, 0, 0,     // track 1 at LBA 0
                                     0, 0x14, 0xaa, 0, 0, 0, 0x03, 0xe8};  // lead-out 1000
  EXPECT_EQ(d, want);
  // Starting at the lead-out: only the lead-out.
  auto lo = f.Data(0, Toc(false, 0, 0xaa));
  EXPECT_EQ(lo, (std::vector<uint8_t>{0, 10, 1, 1, 0, 0x14, 0xaa, 0, 0, 0, 0x03, 0xe8}));
  EXPECT_TRUE(IsCheck(*f.Run(0, Toc(false, 0, 2)), 0x5, 0x2400));
}

TEST(Mmc, TocMsfAddsTheTwoSecondPregap) {
  MmcFixture f(1000);
  f.ClearUa(0);
  auto d = f.Data(0, Toc(true, 0, 1));
  ASSERT_EQ(d.size(), 20u);
  // Track 1: 00:02:00. Lead-out: 1000 + 150 = 1150 frames = 00:15:25.
  EXPECT_EQ(std::vector<uint8_t>(d.begin() + 8, d.begin() + 12), (std::vector<uint8_t>{0, 0, 2, 0}));
  EXPECT_EQ(std::vector<uint8_t>(d.begin() + 16, d.end()), (std::vector<uint8_t>{0, 0, 15, 25}));
}

TEST(Mmc, TocSessionInfoAndOtherFormatsRefused) {
  MmcFixture f;
  f.ClearUa(0);
  auto d = f.Data(0, Toc(false, 1, 0));
  EXPECT_EQ(d, (std::vector<uint8_t>{0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0}));
  for (uint8_t fmt : {2, 3, 4, 5, 0xf}) {
    auto c = f.Run(0, Toc(false, fmt, 0));
    EXPECT_TRUE(IsCheck(*c, 0x5, 0x2400)) << int(fmt);
    EXPECT_EQ(GetBe16(c->sense + 16), 2);  // field pointer: byte 2
  }
  // Allocation length truncates.
  auto c = f.Run(0, {0x43, 0, 0, 0, 0, 0, 0, 0, 4, 0});
  EXPECT_EQ(c->data_in_length, 4u);
}

TEST(Mmc, GetConfigurationCurrentProfileFollowsTheMediumSize) {
  MmcFixture cd(1000);
  auto d = cd.Data(0, {0x46, 0, 0, 0, 0, 0, 0, 0x04, 0, 0});
  ASSERT_GE(d.size(), 8u);
  EXPECT_EQ(GetBe16(&d[6]), 0x0008);  // CD-ROM
  EXPECT_EQ(GetBe32(&d[0]) + 4, d.size());
  // First feature: the profile list, DVD-ROM (not current) then CD-ROM (current).
  EXPECT_EQ(GetBe16(&d[8]), 0x0000);
  EXPECT_EQ(d[10] & 0x03, 0x03);  // persistent, current
  EXPECT_EQ(d[11], 8);
  EXPECT_EQ(GetBe16(&d[12]), 0x0010);
  EXPECT_EQ(d[14] & 1, 0);
  EXPECT_EQ(GetBe16(&d[16]), 0x0008);
  EXPECT_EQ(d[18] & 1, 1);
  // Every feature: 0000 0001 0002 0003 0010 001e 001f.
  std::vector<uint16_t> codes;
  for (size_t off = 8; off + 4 <= d.size(); off += 4 + d[off + 3]) codes.push_back(GetBe16(&d[off]));
  EXPECT_EQ(codes, (std::vector<uint16_t>{0x0000, 0x0001, 0x0002, 0x0003, 0x0010, 0x001e, 0x001f}));

  MmcFixture dvd(kMaxCdBlocks + 1);
  auto dd = dvd.Data(0, {0x46, 0x02, 0x00, 0x1f, 0, 0, 0, 0x04, 0, 0});  // RT 2: DVD Read
  ASSERT_EQ(dd.size(), 8u + 8u);
  EXPECT_EQ(GetBe16(&dd[6]), 0x0010);  // DVD-ROM
  EXPECT_EQ(GetBe16(&dd[8]), 0x001f);
  EXPECT_EQ(dd[10] & 0x01, 0x01);  // current
}

TEST(Mmc, GetConfigurationRtSelectsFeatures) {
  MmcFixture f(1000);
  // RT 1 from 0x0010: only current features (Random Readable, CD Read).
  auto d = f.Data(0, {0x46, 0x01, 0x00, 0x10, 0, 0, 0, 0x04, 0, 0});
  std::vector<uint16_t> codes;
  for (size_t off = 8; off + 4 <= d.size(); off += 4 + d[off + 3]) codes.push_back(GetBe16(&d[off]));
  EXPECT_EQ(codes, (std::vector<uint16_t>{0x0010, 0x001e}));
  // Random Readable: 2048-byte blocks, blocking 1.
  EXPECT_EQ(GetBe32(&d[12]), 2048u);
  EXPECT_EQ(GetBe16(&d[16]), 1);
  // RT 2 for a feature that does not exist: the header only.
  EXPECT_EQ(f.Data(0, {0x46, 0x02, 0x01, 0x00, 0, 0, 0, 0x04, 0, 0}).size(), 8u);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x46, 0x03, 0, 0, 0, 0, 0, 0x04, 0, 0}), 0x5, 0x2400));
  // Without a medium: no current profile, Random Readable not current.
  ASSERT_TRUE(EjectMedium(f.lu.get(), false).ok());
  auto e = f.Data(0, {0x46, 0x02, 0x00, 0x10, 0, 0, 0, 0x04, 0, 0});
  EXPECT_EQ(GetBe16(&e[6]), 0);
  EXPECT_EQ(e[10] & 0x01, 0);
}

TEST(Mmc, GetEventStatusReportsRemovalAndNewMediaOncePerNexus) {
  MmcFixture f;
  f.ClearUa(0);
  f.ClearUa(1);
  // Nothing happened yet: NoChg, medium present, tray closed.
  auto d = f.Data(0, kGesnMedia);
  EXPECT_EQ(d, (std::vector<uint8_t>{0, 6, 0x04, 0x10, 0, 0x02, 0, 0}));
  ASSERT_TRUE(EjectMedium(f.lu.get(), false).ok());
  EXPECT_EQ(f.Data(0, kGesnMedia), (std::vector<uint8_t>{0, 6, 0x04, 0x10, 3, 0x01, 0, 0}));
  EXPECT_EQ(f.Data(0, kGesnMedia), (std::vector<uint8_t>{0, 6, 0x04, 0x10, 0, 0x01, 0, 0}));
  EXPECT_EQ(f.Data(1, kGesnMedia)[4], 3);  // the other nexus gets it too, once
  EXPECT_EQ(f.Data(1, kGesnMedia)[4], 0);
  ASSERT_TRUE(LoadMedium(f.lu.get(), "optical/b.iso", false).ok());
  // GESN neither reports nor clears the pending unit attention.
  EXPECT_EQ(f.Data(0, kGesnMedia), (std::vector<uint8_t>{0, 6, 0x04, 0x10, 2, 0x02, 0, 0}));
  EXPECT_EQ(f.Data(0, kGesnMedia)[4], 0);
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x6, 0x2800));
}

TEST(Mmc, GetEventStatusPolledOnlyAndNeaForOtherClasses) {
  MmcFixture f;
  auto c = f.Run(0, {0x4a, 0x00, 0, 0, 0x10, 0, 0, 0, 8, 0});
  EXPECT_TRUE(IsCheck(*c, 0x5, 0x2400));
  // Operational change class only: NEA, no descriptor.
  EXPECT_EQ(f.Data(0, {0x4a, 0x01, 0, 0, 0x02, 0, 0, 0, 8, 0}),
            (std::vector<uint8_t>{0, 2, 0x80, 0x10}));
}

TEST(Mmc, EjectIsRefusedWhilePrevented) {
  MmcFixture f;
  f.ClearUa(0);
  f.ClearUa(1);
  EXPECT_EQ(f.Run(0, kPrevent)->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(1, kEject), 0x5, 0x5302));
  EXPECT_TRUE(IsCheck(*f.Run(0, kEject), 0x5, 0x5302));
  ::modtgt::Status s = EjectMedium(f.lu.get(), false);
  EXPECT_EQ(s.code(), ::modtgt::Code::kBusy);
  EXPECT_NE(s.message().find("prevent"), std::string::npos) << s.message();
  EXPECT_EQ(f.Run(0, kTur)->status, Status::kGood);  // still there
  // The capabilities page shows the lock.
  auto m = f.Data(0, {0x5a, 0x08, 0x2a, 0, 0, 0, 0, 0, 255, 0});
  ASSERT_EQ(m.size(), 8u + 32u);
  EXPECT_EQ(m[8] & 0x3f, 0x2a);
  EXPECT_EQ(m[8 + 6] & 0x02, 0x02);  // LOCK STATE
  EXPECT_EQ(f.Run(0, kAllow)->status, Status::kGood);
  EXPECT_EQ(f.Run(1, kEject)->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x2, 0x3a02));  // tray open
  EXPECT_TRUE(IsCheck(*f.Run(0, kReadCapacity), 0x2, 0x3a02));
  EXPECT_TRUE(IsCheck(*f.Run(0, Toc(false, 0, 0)), 0x2, 0x3a02));
  // REQUEST SENSE reports the same condition.
  auto rs = f.Data(0, {0x03, 0, 0, 0, 18, 0});
  ASSERT_GE(rs.size(), 14u);
  EXPECT_EQ(rs[2] & 0xf, 0x2);
  EXPECT_EQ(rs[12], 0x3a);
  EXPECT_EQ(rs[13], 0x02);
  // Mechanism status: door open.
  auto ms = f.Data(0, {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0});
  EXPECT_EQ(ms, (std::vector<uint8_t>{0, 0x10, 0, 0, 0, 0, 0, 0}));
  // Loading from the initiator brings the disc back; the other nexus hears of it.
  EXPECT_EQ(f.Run(1, kLoad)->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x6, 0x2800));
  EXPECT_EQ(f.Run(0, kTur)->status, Status::kGood);
  EXPECT_EQ(f.Run(1, kTur)->status, Status::kGood);
}

TEST(Mmc, ForcedEjectWhilePrevented) {
  MmcFixture f;
  f.ClearUa(0);
  EXPECT_EQ(f.Run(0, kPrevent)->status, Status::kGood);
  EXPECT_TRUE(EjectMedium(f.lu.get(), true).ok());
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x2, 0x3a02));
  // The admin took the disc away: closing the tray finds nothing (once allowed).
  EXPECT_EQ(f.Run(0, kAllow)->status, Status::kGood);
  EXPECT_EQ(f.Run(0, kLoad)->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x2, 0x3a01));  // tray closed, no medium
}

TEST(Mmc, LoadMediumRaisesMediumChangedForEveryNexusThenNewCapacity) {
  MmcFixture f(1000, 3000);
  f.ClearUa(0);
  f.ClearUa(1);
  ASSERT_TRUE(EjectMedium(f.lu.get(), false).ok());
  ::modtgt::Status s = LoadMedium(f.lu.get(), "optical/b.iso", false);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(f.backend->current(), "optical/b.iso");
  for (int i : {0, 1}) {
    EXPECT_TRUE(IsCheck(*f.Run(i, kReadCapacity), 0x6, 0x2800)) << i;
    auto d = f.Data(i, kReadCapacity);  // no CAPACITY DATA HAS CHANGED on top
    ASSERT_EQ(d.size(), 8u);
    EXPECT_EQ(GetBe32(&d[0]), 2999u);
  }
  // Changing a present medium while prevented: refused, then forced.
  EXPECT_EQ(f.Run(0, kPrevent)->status, Status::kGood);
  EXPECT_EQ(LoadMedium(f.lu.get(), "optical/a.iso", false).code(), ::modtgt::Code::kBusy);
  EXPECT_EQ(f.backend->current(), "optical/b.iso");
  EXPECT_TRUE(LoadMedium(f.lu.get(), "optical/a.iso", true).ok());
  EXPECT_TRUE(IsCheck(*f.Run(1, kTur), 0x6, 0x2800));
  EXPECT_EQ(GetBe32(&f.Data(1, kReadCapacity)[0]), 999u);
}

TEST(Mmc, FailedLoadChangesNothing) {
  MmcFixture f;
  f.ClearUa(0);
  ASSERT_TRUE(EjectMedium(f.lu.get(), false).ok());
  ::modtgt::Status s = LoadMedium(f.lu.get(), "optical/missing.iso", false);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing"), std::string::npos);
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x2, 0x3a02));  // still ejected, no UA
  // The capacity callback still works after the switch attempt.
  ASSERT_TRUE(LoadMedium(f.lu.get(), "", false).ok());  // the old disc back
  EXPECT_TRUE(IsCheck(*f.Run(0, kTur), 0x6, 0x2800));
  EXPECT_EQ(f.Run(0, kTur)->status, Status::kGood);
  EXPECT_EQ(f.backend->current(), "optical/a.iso");
}

TEST(Mmc, DiscAndTrackInformation) {
  MmcFixture f(1000);
  f.ClearUa(0);
  auto di = f.Data(0, {0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0});
  ASSERT_EQ(di.size(), 34u);
  EXPECT_EQ(GetBe16(&di[0]), 32);
  EXPECT_EQ(di[2], 0x0e);  // complete session, finalized disc
  EXPECT_EQ(di[3], 1);
  EXPECT_EQ(di[4], 1);
  EXPECT_EQ(di[5], 1);
  EXPECT_EQ(di[6], 1);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x51, 0x01, 0, 0, 0, 0, 0, 0, 34, 0}), 0x5, 0x2400));
  for (std::vector<uint8_t> cdb : {std::vector<uint8_t>{0x52, 0x01, 0, 0, 0, 1, 0, 0, 48, 0},
                                   std::vector<uint8_t>{0x52, 0x00, 0, 0, 0x03, 0xe7, 0, 0, 48, 0},
                                   std::vector<uint8_t>{0x52, 0x02, 0, 0, 0, 1, 0, 0, 48, 0}}) {
    auto ti = f.Data(0, cdb);
    ASSERT_EQ(ti.size(), 48u);
    EXPECT_EQ(GetBe16(&ti[0]), 46);
    EXPECT_EQ(ti[2], 1);
    EXPECT_EQ(ti[3], 1);
    EXPECT_EQ(ti[5] & 0x0f, 4);
    EXPECT_EQ(GetBe32(&ti[8]), 0u);
    EXPECT_EQ(GetBe32(&ti[24]), 1000u);
    EXPECT_EQ(GetBe32(&ti[28]), 999u);
  }
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x52, 0x01, 0, 0, 0, 2, 0, 0, 48, 0}), 0x5, 0x2400));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x52, 0x00, 0, 0, 0x03, 0xe8, 0, 0, 48, 0}), 0x5, 0x2400));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x52, 0x03, 0, 0, 0, 1, 0, 0, 48, 0}), 0x5, 0x2400));
}

TEST(Mmc, ModeSenseMmcPagesAndModeSelectNoOp) {
  MmcFixture f;
  f.ClearUa(0);
  auto all = f.Data(0, {0x5a, 0x08, 0x3f, 0, 0, 0, 0, 0x10, 0, 0});
  ASSERT_GE(all.size(), 8u);
  EXPECT_EQ(GetBe16(&all[6]), 0);  // no block descriptors
  std::vector<uint8_t> pages;
  for (size_t off = 8; off + 2 <= all.size(); off += 2 + all[off + 1]) pages.push_back(all[off] & 0x3f);
  EXPECT_EQ(pages, (std::vector<uint8_t>{0x01, 0x0a, 0x1a, 0x2a}));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x5a, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0}), 0x5, 0x2400));
  auto cap = f.Data(0, {0x5a, 0x08, 0x2a, 0, 0, 0, 0, 0, 255, 0});
  ASSERT_EQ(cap.size(), 40u);
  EXPECT_EQ(cap[9], 0x1e);
  EXPECT_EQ(cap[8 + 2] & 0x08, 0x08);  // DVD-ROM read
  EXPECT_EQ(cap[8 + 6] & 0xe0, 0x20);  // tray
  // MODE SELECT (10) sending the current page back (header zeroed) is accepted.
  std::vector<uint8_t> sel(cap);
  sel[0] = sel[1] = 0;
  auto c = f.Run(0, {0x55, 0x10, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(sel.size()), 0},
                 0, sel);
  EXPECT_EQ(c->status, Status::kGood);
  // Changing a field that cannot change is refused.
  sel[8 + 2] ^= 0x01;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x55, 0x10, 0, 0, 0, 0, 0, 0, static_cast<uint8_t>(sel.size()), 0},
                             0, sel),
                      0x5, 0x2600));
  // A power condition page and SET CD SPEED.
  EXPECT_EQ(f.Data(0, {0x1a, 0x08, 0x1a, 0, 255, 0}).size(), 4u + 12u);
  EXPECT_EQ(f.Run(0, {0xbb, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0})->status, Status::kGood);
}

TEST(Mmc, ReportSupportedOpcodesListsTheMmcTable) {
  MmcFixture f;
  f.ClearUa(0);
  auto d = f.Data(0, {0xa3, 0x0c, 0x01, 0x43, 0, 0, 0, 0, 1, 0, 0, 0});  // READ TOC, one
  ASSERT_GE(d.size(), 4u + 10u);
  EXPECT_EQ(d[1] & 0x07, 0x03);
  EXPECT_EQ(GetBe16(&d[2]), 10);
  auto w = f.Data(0, {0xa3, 0x0c, 0x01, 0x2a, 0, 0, 0, 0, 1, 0, 0, 0});  // WRITE (10)
  EXPECT_EQ(w[1] & 0x07, 0x01);  // not supported
}

TEST(Mmc, EveryOpcodeWithJunkCdbsCompletesOnce) {
  MmcFixture f(1000);
  uint32_t seed = 12345;
  auto rnd = [&seed] {
    seed = seed * 1103515245u + 12345u;
    return static_cast<uint8_t>(seed >> 16);
  };
  for (bool medium : {true, false}) {
    if (!medium) {
      ASSERT_TRUE(EjectMedium(f.lu.get(), true).ok());
    }
    for (const OpInfo& op : MmcDeviceType().ops()) {
      for (int i = 0; i < 64; ++i) {
        std::vector<uint8_t> cdb(16);
        for (auto& b : cdb) b = rnd();
        cdb[0] = op.opcode;
        if (op.has_service_action) cdb[1] = static_cast<uint8_t>((cdb[1] & 0xe0) | op.service_action);
        if (i % 2) cdb[op.cdb_length ? op.cdb_length - 1 : 5] = 0;  // valid CONTROL byte
        auto c = f.Run(i % 3, cdb, rnd() % 2 ? 0 : 4096);  // Run checks: completed once
        EXPECT_TRUE(c->status == Status::kGood || c->status == Status::kCheckCondition ||
                    c->status == Status::kReservationConflict)
            << op.name;
        if (c->status == Status::kCheckCondition) {
          EXPECT_GE(c->sense_len, 8) << op.name;
        }
      }
    }
  }
}

TEST(Mmc, NotRemovableDiskCannotBeEjectedByTheAdmin) {
  Fixture disk;  // the SPC fixture's disk: not removable
  EXPECT_EQ(EjectMedium(disk.lu.get(), false).code(), ::modtgt::Code::kInvalidArgument);
  EXPECT_EQ(LoadMedium(disk.lu.get(), "x/y", false).code(),
            ::modtgt::Code::kInvalidArgument);
}

}  // namespace
}  // namespace modtgt::scsi
