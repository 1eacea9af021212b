// SPDX-License-Identifier: Apache-2.0
// core/lun_ops: the LUN changes the admin (and the saved configuration) go through. The
// request-level checks are covered through the admin handlers (tests/unit/admin); here, what
// the core itself must keep: a rebuilt LU carries its state over.
#include "core/lun_ops.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "core/target.h"

namespace modtgt::core {
namespace {

const std::string kIqn = "iqn.2026-11.org.modtgt.test:ops";

class LunOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = MODTGT_BUILD_MODULE_DIR;
    if (access((dir + "/backing-store/bs_null.so").c_str(), R_OK) != 0) {
      GTEST_SKIP() << "bs_null.so not built";
    }
    ASSERT_TRUE(modules_.LoadDirectory(dir, {"null"}).ok());
    target_ = std::make_shared<Target>(1, kIqn);
  }

  std::shared_ptr<scsi::LogicalUnit> NewNullLun(uint64_t lun) {
    LunRequest req;
    req.lun = lun;
    req.bstype = "null";
    req.backing_store = "null" + std::to_string(lun);
    req.bsopts = "size=1M";
    Result<LunPlan> plan = CheckLun(*target_, req, &modules_);
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    if (!plan.ok()) return nullptr;
    auto lu = AddLun(target_.get(), *plan, &modules_);
    EXPECT_TRUE(lu.ok()) << lu.status().ToString();
    return lu.ok() ? *lu : nullptr;
  }

  ModuleRegistry modules_;
  std::shared_ptr<Target> target_;
};

TEST_F(LunOpsTest, AddLunRecordsTheDeviceConfigAndRefusesATakenNumber) {
  auto lu = NewNullLun(1);
  ASSERT_NE(lu, nullptr);
  DeviceConfig dev;
  ASSERT_TRUE(target_->GetLunDeviceConfig(1, &dev));
  EXPECT_EQ(dev.bstype, "null");
  LunRequest req;
  req.lun = 1;
  req.bstype = "null";
  req.backing_store = "again";
  EXPECT_EQ(CheckLun(*target_, req, &modules_).status().code(), Code::kAlreadyExists);
  req.lun = 2;
  req.bstype = "nosuch";
  EXPECT_EQ(CheckLun(*target_, req, &modules_).status().code(), Code::kNotFound);
}

TEST_F(LunOpsTest, RebuildCarriesReservationsAndModeSettingsAndKeepsThemEnforced) {
  auto lu = NewNullLun(1);
  ASSERT_NE(lu, nullptr);
  {
    std::lock_guard<std::mutex> l(lu->mutex());
    scsi::PrRegistration reg;
    reg.key = 0xabc;
    reg.initiator_port = "iqn.i,i,0x1";
    reg.target_port = kIqn + ",t,0x1";
    lu->pr.registrations.push_back(reg);
    lu->pr.generation = 7;
    lu->pr.reserved = true;
    lu->pr.type = 1;
    lu->pr.holder_initiator_port = reg.initiator_port;
    lu->pr.holder_target_port = reg.target_port;
    lu->pr.aptpl = true;
    lu->UpdateReservationActiveLocked();
  }
  lu->d_sense.store(true);
  lu->swp.store(true);

  LunUpdate update;
  update.params = {{"readonly", "1"}};
  Result<LunUpdateResult> done = UpdateLun(target_.get(), 1, update, &modules_);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_TRUE(done->rebuilt);
  std::shared_ptr<scsi::LogicalUnit> fresh = target_->FindLun(1);
  ASSERT_NE(fresh, lu);
  EXPECT_EQ(fresh, done->lu);
  EXPECT_TRUE(fresh->readonly());
  std::lock_guard<std::mutex> l(fresh->mutex());
  ASSERT_EQ(fresh->pr.registrations.size(), 1u);
  EXPECT_EQ(fresh->pr.registrations[0].key, 0xabcu);
  EXPECT_EQ(fresh->pr.generation, 7u);
  EXPECT_TRUE(fresh->pr.reserved);
  EXPECT_EQ(fresh->pr.type, 1);
  EXPECT_EQ(fresh->pr.holder_initiator_port, "iqn.i,i,0x1");
  EXPECT_TRUE(fresh->pr.aptpl);
  // Dispatch checks reservation conflicts only while this is set.
  EXPECT_TRUE(fresh->reservation_active.load());
  EXPECT_TRUE(fresh->d_sense.load());
  EXPECT_TRUE(fresh->swp.load());
}

TEST_F(LunOpsTest, UpdateChangesIdentityOnlyWithoutSessionsAndRefusesUnknownLuns) {
  ASSERT_NE(NewNullLun(1), nullptr);
  LunUpdate update;
  // tgtadm (and tgt-admin) set scsi_sn / scsi_id by an update after creation: a rebuild
  // with the new identity, while nobody is logged in ...
  update.params = {{"scsi_sn", "OTHER"}, {"scsi_id", "ID-9"}};
  Result<LunUpdateResult> done = UpdateLun(target_.get(), 1, update, &modules_);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_TRUE(done->rebuilt);
  EXPECT_EQ(target_->FindLun(1)->config().serial, "OTHER");
  EXPECT_EQ(target_->FindLun(1)->config().device_id, "ID-9");
  // ... and never under a logged-in initiator.
  target_->sessions = 1;
  update.params = {{"scsi_sn", "THIRD"}};
  EXPECT_EQ(UpdateLun(target_.get(), 1, update, &modules_).status().code(), Code::kBusy);
  EXPECT_EQ(target_->FindLun(1)->config().serial, "OTHER");
  target_->sessions = 0;
  update.params = {{"readonly", "1"}};
  EXPECT_EQ(UpdateLun(target_.get(), 9, update, &modules_).status().code(), Code::kNotFound);
  EXPECT_EQ(UpdateLun(target_.get(), 1, LunUpdate{}, &modules_).status().code(),
            Code::kInvalidArgument);
}

TEST_F(LunOpsTest, MediumOpsRefuseADisk) {
  ASSERT_NE(NewNullLun(1), nullptr);
  EXPECT_EQ(EjectMedium(target_.get(), 1, false).code(), Code::kInvalidArgument);
  EXPECT_EQ(LoadMedium(target_.get(), 1, "", false, &modules_).code(), Code::kInvalidArgument);
  EXPECT_EQ(EjectMedium(target_.get(), 5, false).code(), Code::kNotFound);
}

}  // namespace
}  // namespace modtgt::core
