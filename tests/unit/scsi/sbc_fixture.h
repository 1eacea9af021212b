// SPDX-License-Identifier: Apache-2.0
// What the SBC unit tests share (sbc_test.cc, sbc_capacity_test.cc, sbc_compare_test.cc,
// sbc_provisioning_test.cc, sbc_range_lock_test.cc: one per src/scsi/sbc*.cc): CDB
// builders, a size-only backend, the SbcTest and SbcThinTest fixtures over an in-memory
// backend (inline or on a loop thread), and sense helpers. Runs the handlers from
// SbcDeviceType() the way scsi::Submit does after its checks. For the test's main thread.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/byteorder.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "modtgt/module.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc.h"
#include "scsi/spc.h"
#include "plain_backend.h"

namespace modtgt::scsi::sbctest {

using testing::FakeOwner;
using testing::LoopThread;
using testing::MemBackend;
using testing::MemBackendCaps;

inline constexpr uint32_t kNoEdtl = 0xffffffffu;

inline std::vector<uint8_t> Cdb6(uint8_t op, uint32_t lba, uint8_t n) {
  std::vector<uint8_t> c(6, 0);
  c[0] = op;
  c[1] = static_cast<uint8_t>((lba >> 16) & 0x1f);
  PutBe16(&c[2], static_cast<uint16_t>(lba));
  c[4] = n;
  return c;
}
inline std::vector<uint8_t> Cdb10(uint8_t op, uint32_t lba, uint16_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(10, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe32(&c[2], lba);
  PutBe16(&c[7], n);
  return c;
}
inline std::vector<uint8_t> Cdb12(uint8_t op, uint32_t lba, uint32_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(12, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe32(&c[2], lba);
  PutBe32(&c[6], n);
  return c;
}
inline std::vector<uint8_t> Cdb16(uint8_t op, uint64_t lba, uint32_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = op;
  c[1] = byte1;
  PutBe64(&c[2], lba);
  PutBe32(&c[10], n);
  return c;
}
inline std::vector<uint8_t> CawCdb(uint64_t lba, uint8_t n, uint8_t byte1 = 0) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x89;
  c[1] = byte1;
  PutBe64(&c[2], lba);
  c[13] = n;
  return c;
}
inline std::vector<uint8_t> SaIn16(uint8_t sa, uint64_t lba, uint32_t alloc) {
  std::vector<uint8_t> c(16, 0);
  c[0] = 0x9e;
  c[1] = sa;
  PutBe64(&c[2], lba);
  PutBe32(&c[10], alloc);
  return c;
}
inline std::vector<uint8_t> UnmapParams(const std::vector<std::pair<uint64_t, uint32_t>>& d) {
  std::vector<uint8_t> p(8 + 16 * d.size(), 0);
  PutBe16(&p[0], static_cast<uint16_t>(p.size() - 2));
  PutBe16(&p[2], static_cast<uint16_t>(16 * d.size()));
  for (size_t i = 0; i < d.size(); ++i) {
    PutBe64(&p[8 + 16 * i], d[i].first);
    PutBe32(&p[8 + 16 * i + 8], d[i].second);
  }
  return p;
}
inline std::vector<uint8_t> UnmapCdb(uint16_t plen) {
  std::vector<uint8_t> c(10, 0);
  c[0] = 0x42;
  PutBe16(&c[7], plen);
  return c;
}

// A backend with a large size and no storage: for capacity reporting only.
class SizeOnlyBackend : public PlainBackend {
 public:
  explicit SizeOnlyBackend(uint64_t size) : size_(size) {}
  uint64_t size_bytes() const override { return size_; }
  void Submit(Command* cmd) override {
    ++submits;
    IoDone(cmd, MODTGT_STS_OK);
  }
  int submits = 0;

 private:
  uint64_t size_;
};

class SbcTest : public ::testing::Test {
 protected:
  void MakeLu(uint64_t blocks = 1024, uint32_t bs = 512, MemBackendCaps caps = {},
              bool thin_cfg = false, bool async = false) {
    auto be = std::make_unique<MemBackend>(blocks * bs, caps, async);
    backend_ = be.get();
    MakeLuWith(std::move(be), bs, thin_cfg, async);
  }
  void MakeLuWith(std::unique_ptr<Backend> be, uint32_t bs, bool thin_cfg, bool async) {
    LuConfig cfg;
    cfg.block_size = bs;
    cfg.thin_provisioning = thin_cfg;
    lu_ = std::make_shared<LogicalUnit>(cfg, &SbcDeviceType(), std::move(be), "iqn.test:t");
    if (async) {
      loop_ = std::make_unique<LoopThread>();
      owner_ = std::make_unique<FakeOwner>(loop_->loop());
    } else {
      owner_ = std::make_unique<FakeOwner>();
    }
  }
  void TearDown() override {
    // Commands must outlive the loop (no posted work may touch a freed command).
    owner_.reset();
    loop_.reset();
    cmds_.clear();
    target_.reset();
  }

  Command* NewCmd(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out,
                  uint32_t edtl) {
    cmds_.push_back(std::make_unique<Command>());
    Command* cmd = cmds_.back().get();
    testing::InitCommand(cmd, cdb, out, owner_.get());
    cmd->lu = lu_;
    cmd->expected_length = edtl == kNoEdtl ? static_cast<uint32_t>(out.size()) : edtl;
    return cmd;
  }

  // Runs one CDB (with optional Data-Out) to completion. For reads without an explicit
  // EDTL, EDTL = 1 MiB (as if the initiator expected everything).
  Command* Run(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out = {},
               uint32_t edtl = kNoEdtl) {
    if (edtl == kNoEdtl && out.empty()) edtl = 1u << 24;
    Command* cmd = NewCmd(cdb, out, edtl);
    EXPECT_TRUE(testing::RunHandler(SbcDeviceType(), cmd, owner_.get()));
    return cmd;
  }

  // Runs one CDB through scsi::Submit (unit attention, reservation, sanitize and per-LU
  // command checks before the handler), from nexus `n` (0..2) of a target holding the LU
  // as LUN 0. A nexus's first command consumes its power-on unit attention here.
  Command* Submitted(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out = {},
                     uint32_t edtl = kNoEdtl, int n = 0) {
    if (!target_) {
      target_ = std::make_shared<testing::FakeTarget>();
      target_->Add(lu_);
      for (int i = 0; i < 3; ++i) testing::InitNexus(&nexus_[i], 700 + i, i, "iqn.test:t", target_);
    }
    if (!ua_cleared_[n]) {
      ua_cleared_[n] = true;
      for (int i = 0; i < 8; ++i) {
        Command* tur = SubmitRaw({0x00, 0, 0, 0, 0, 0}, {}, 0, n);
        if (!(tur->status == Status::kCheckCondition && Key(tur) == 0x6)) break;
      }
    }
    if (edtl == kNoEdtl && out.empty()) edtl = 1u << 24;
    return SubmitRaw(cdb, out, edtl, n);
  }
  Command* SubmitRaw(const std::vector<uint8_t>& cdb, const std::vector<uint8_t>& out,
                     uint32_t edtl, int n) {
    Command* cmd = NewCmd(cdb, out, edtl);
    cmd->lu.reset();
    cmd->lun = 0;
    cmd->nexus = &nexus_[n];
    EXPECT_TRUE(testing::RunSubmit(cmd, owner_.get()));
    return cmd;
  }

  // The Data-In of INQUIRY for VPD page `page` (through Submit).
  std::vector<uint8_t> Vpd(uint8_t page) {
    Command* c = Submitted({0x12, 0x01, page, 0x10, 0, 0});
    EXPECT_EQ(c->status, Status::kGood);
    return std::vector<uint8_t>(c->data.data(), c->data.data() + c->data_in_length);
  }

  static uint8_t Key(const Command* c) { return c->sense[2] & 0x0f; }
  static uint16_t AscQ(const Command* c) { return static_cast<uint16_t>(c->sense[12] << 8 | c->sense[13]); }
  static bool InfoValid(const Command* c) { return c->sense[0] & 0x80; }
  static uint32_t Info(const Command* c) { return GetBe32(c->sense + 3); }
  static void ExpectCheck(const Command* c, uint8_t key, uint16_t ascq) {
    ASSERT_EQ(c->status, Status::kCheckCondition);
    ASSERT_GE(c->sense_len, 14);
    EXPECT_EQ(Key(c), key);
    EXPECT_EQ(AscQ(c), ascq);
  }
  static void ExpectGood(const Command* c) {
    EXPECT_EQ(c->status, Status::kGood) << "sense key " << int(c->sense[2] & 0xf) << " asc "
                                        << std::hex << int(c->sense[12]) << "/"
                                        << int(c->sense[13]);
  }

  std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
    std::vector<uint8_t> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
    return v;
  }

  std::shared_ptr<LogicalUnit> lu_;
  std::shared_ptr<testing::FakeTarget> target_;
  Nexus nexus_[3];
  bool ua_cleared_[3] = {};
  MemBackend* backend_ = nullptr;
  std::unique_ptr<LoopThread> loop_;
  std::unique_ptr<FakeOwner> owner_;
  std::vector<std::unique_ptr<Command>> cmds_;
};

inline constexpr uint8_t kIllegal = 0x5;
inline constexpr uint8_t kMedium = 0x3;
inline constexpr uint8_t kMiscompare = 0xe;
inline constexpr uint16_t kLbaOor = 0x2100;
inline constexpr uint16_t kInvalidCdb = 0x2400;
inline constexpr uint16_t kInvalidParam = 0x2600;
inline constexpr uint16_t kParamLen = 0x1a00;
inline constexpr uint16_t kInvalidOpcode = 0x2000;

// An LU with thin provisioning over a backend that can unmap, filled with 0xab.
class SbcThinTest : public SbcTest {
 protected:
  void SetUp() override {
    MemBackendCaps caps;
    caps.unmap = true;
    caps.thin = true;
    MakeLu(1024, 512, caps, /*thin_cfg=*/true);
    backend_->Fill(0, 1024 * 512, 0xab);
  }
};

}  // namespace modtgt::scsi::sbctest
