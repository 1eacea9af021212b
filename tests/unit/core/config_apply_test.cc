// SPDX-License-Identifier: Apache-2.0
// core/config_apply: a saved configuration applied at start (offline LUNs), by restore
// (all or nothing, with its rollback) and as a dry run; Snapshot gives it back.
#include "core/config_apply.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/lun_ops.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

const std::string kIqn = "iqn.2026-12.org.modtgt.test:apply";

std::string TestModule(const std::string& name) {
  return std::string(MODTGT_TEST_MODULE_DIR) + "/backing-store/bs_" + name + ".so";
}

class ConfigApplyTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(modules_.LoadFile(TestModule("ctest")).ok()); }

  // A LUN of the ctest module, as the admin would make it (so its fields are consistent).
  SavedLun Lun(uint64_t lun, const std::string& config, int tid = 1,
               const std::string& name = kIqn) {
    LunRequest req;
    req.lun = lun;
    req.bstype = "ctest";
    req.backing_store = config;
    Result<LunPlan> plan = PlanLun(tid, name, req, modules_.List());
    EXPECT_TRUE(plan.ok()) << plan.status().ToString();
    return SavedLunFromPlan(*plan);
  }
  SavedConfig OneTarget(std::vector<SavedLun> luns) {
    SavedConfig c;
    SavedTarget t;
    t.tid = 1;
    t.name = kIqn;
    t.acl_addresses = {"ALL"};
    t.luns = std::move(luns);
    c.targets.push_back(t);
    return c;
  }
  Status Apply(const SavedConfig& c, ApplyMode mode, bool force = false) {
    report_ = ApplyReport{};
    return ApplyConfig(c, objs_, mode, force, &report_);
  }

  TargetRegistry targets_;
  ModuleRegistry modules_;
  AccountRegistry accounts_;
  CoreObjects objs_{&targets_, &modules_, nullptr, MODTGT_TEST_MODULE_DIR, &accounts_};
  ApplyReport report_;
};

TEST_F(ConfigApplyTest, StartRestoresAndSnapshotGivesItBack) {
  SavedConfig c = OneTarget({Lun(1, "a"), Lun(2, "b")});
  c.targets[0].luns[1].write_cache = false;
  c.targets[0].alias = "first";
  ASSERT_TRUE(Apply(c, ApplyMode::kStart).ok()) << report_.actions.size();
  SavedConfig snap = Snapshot(objs_);
  ASSERT_EQ(snap.targets.size(), 1u);
  EXPECT_EQ(snap.targets[0], c.targets[0]);
  EXPECT_TRUE(report_.offline.empty());
}

TEST_F(ConfigApplyTest, StartKeepsALunThatCannotOpenOfflineWithItsReason) {
  SavedConfig c = OneTarget({Lun(1, "a"), Lun(2, "fail-open"), Lun(3, "reject")});
  c.targets[0].luns.push_back(Lun(4, "x"));
  c.targets[0].luns.back().bstype = "gone";  // a module that is not loaded
  ASSERT_TRUE(Apply(c, ApplyMode::kStart).ok());
  ASSERT_EQ(report_.offline.size(), 3u);
  EXPECT_THAT(report_.offline[0], HasSubstr("lun 2"));
  EXPECT_THAT(report_.offline[0], HasSubstr("simulated failure"));
  EXPECT_THAT(report_.offline[2], HasSubstr("no backing-store module 'gone'"));
  auto t = targets_.FindByTid(1);
  EXPECT_FALSE(t->FindLun(1)->offline());
  EXPECT_TRUE(t->FindLun(2)->offline());
  EXPECT_TRUE(StoreUnavailable(*t->FindLun(2)));
  // Never dropped: the snapshot (what is saved) still has every LUN as configured.
  EXPECT_EQ(Snapshot(objs_).targets[0], c.targets[0]);
}

TEST_F(ConfigApplyTest, AnInconsistentLunStopsTheStart) {
  SavedConfig c = OneTarget({Lun(1, "a")});
  c.targets[0].luns[0].wwn = "other";  // the serial says otherwise
  Status s = Apply(c, ApplyMode::kStart);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("target 1 " + kIqn + " LUN 1"));
  EXPECT_EQ(targets_.List().size(), 0u);
}

TEST_F(ConfigApplyTest, DryRunAndRestoreOfABadFileChangeNothingAndNameTheLun) {
  ASSERT_TRUE(Apply(OneTarget({Lun(1, "a")}), ApplyMode::kStart).ok());
  SavedConfig before = Snapshot(objs_);
  SavedConfig bad = OneTarget({Lun(1, "a"), Lun(2, "b"), Lun(5, "reject")});
  for (ApplyMode mode : {ApplyMode::kDryRun, ApplyMode::kRestore}) {
    Status s = Apply(bad, mode);
    ASSERT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr("LUN 5"));
    EXPECT_EQ(Snapshot(objs_), before);
  }
}

TEST_F(ConfigApplyTest, RestoreAddsUpdatesReplacesAndRemoves) {
  ASSERT_TRUE(Apply(OneTarget({Lun(1, "a"), Lun(2, "b"), Lun(3, "c")}), ApplyMode::kStart).ok());
  auto t = targets_.FindByTid(1);
  auto lu1 = t->FindLun(1);
  SavedConfig want = OneTarget({Lun(1, "a"), Lun(2, "b2"), Lun(4, "d")});
  want.targets[0].luns[0].readonly = true;      // live update
  want.targets[0].acl_addresses = {"10.0.0.0/8"};
  SavedTarget t2;
  t2.tid = 2;
  t2.name = kIqn + "-two";
  t2.luns = {Lun(0, "e", 2, t2.name)};
  want.targets.push_back(t2);

  ASSERT_TRUE(Apply(want, ApplyMode::kDryRun).ok());
  EXPECT_EQ(t->FindLun(1), lu1) << "a dry run changed something";
  EXPECT_THAT(report_.actions, ::testing::Contains(HasSubstr("replace target 1 " + kIqn + " LUN 2")));

  ASSERT_TRUE(Apply(want, ApplyMode::kRestore).ok());
  SavedConfig now = Snapshot(objs_);
  ASSERT_EQ(now.targets.size(), 2u);
  EXPECT_EQ(now.targets[0], want.targets[0]);
  EXPECT_EQ(now.targets[1], want.targets[1]);
  EXPECT_TRUE(t->FindLun(1)->readonly());
  EXPECT_EQ(t->FindLun(3), nullptr);
  EXPECT_EQ(t->bound_addresses(), std::vector<std::string>{"10.0.0.0/8"});
}

TEST_F(ConfigApplyTest, AFailureMidwayRollsEverythingBack) {
  ASSERT_TRUE(Apply(OneTarget({Lun(1, "a")}), ApplyMode::kStart).ok());
  SavedConfig before = Snapshot(objs_);
  // check_config passes for "fail-open"; its open() fails during phase A, after LUN 2
  // and target 2 were created and LUN 1 updated.
  SavedConfig want = OneTarget({Lun(1, "a"), Lun(2, "b"), Lun(9, "fail-open")});
  want.targets[0].luns[0].readonly = true;
  SavedTarget t2;
  t2.tid = 2;
  t2.name = kIqn + "-two";
  want.targets.push_back(t2);
  Status s = Apply(want, ApplyMode::kRestore);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("simulated failure"));
  EXPECT_EQ(Snapshot(objs_), before);
  EXPECT_FALSE(targets_.FindByTid(1)->FindLun(1)->readonly());
}

TEST_F(ConfigApplyTest, RemovingWhatHasSessionsNeedsForce) {
  ASSERT_TRUE(Apply(OneTarget({Lun(1, "a"), Lun(2, "b")}), ApplyMode::kStart).ok());
  targets_.FindByTid(1)->sessions.store(1);  // an initiator is logged in
  SavedConfig fewer = OneTarget({Lun(1, "a")});
  Status s = Apply(fewer, ApplyMode::kRestore);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("1 logged-in session(s)"));
  EXPECT_NE(targets_.FindByTid(1)->FindLun(2), nullptr);
  ASSERT_TRUE(Apply(fewer, ApplyMode::kRestore, /*force=*/true).ok());
  EXPECT_EQ(targets_.FindByTid(1)->FindLun(2), nullptr);
  targets_.FindByTid(1)->sessions.store(0);
}

TEST_F(ConfigApplyTest, AccountsAndTheirBindingsAreRestoredAndAMaskedSecretKeepsTheRunningOne) {
  SavedConfig c = OneTarget({Lun(1, "a")});
  c.accounts = {{"alice", "0123456789ab", true}, {"bob", "ba9876543210", true}};
  c.targets[0].chap = SavedChap{{"alice"}, "bob"};
  c.discovery = SavedChap{{"bob"}, ""};
  ASSERT_TRUE(Apply(c, ApplyMode::kStart).ok());
  EXPECT_EQ(*accounts_.Secret("alice"), "0123456789ab");
  EXPECT_EQ(accounts_.BindingOf(1).outgoing, "bob");
  SavedConfig snap = Snapshot(objs_);
  EXPECT_EQ(snap.accounts, c.accounts);
  EXPECT_EQ(snap.discovery, c.discovery);

  // A dump without secrets restores as it is (nothing to change) ...
  SavedConfig masked = snap;
  for (auto& a : masked.accounts) a.has_secret = false, a.secret.clear();
  ASSERT_TRUE(Apply(masked, ApplyMode::kRestore).ok());
  EXPECT_EQ(*accounts_.Secret("bob"), "ba9876543210");
  // ... but a new account needs its secret, a short one is refused, bindings need accounts.
  SavedConfig more = masked;
  more.accounts.push_back({"carol", "", false});
  EXPECT_THAT(Apply(more, ApplyMode::kRestore).message(), HasSubstr("account carol: no secret"));
  more.accounts.back() = {"carol", "tooshort", true};
  EXPECT_THAT(Apply(more, ApplyMode::kRestore).message(), HasSubstr("at least 12"));
  more.accounts.pop_back();
  more.targets[0].chap.incoming.push_back("dave");
  EXPECT_THAT(Apply(more, ApplyMode::kRestore).message(), HasSubstr("CHAP user dave"));
  EXPECT_EQ(Snapshot(objs_), snap);
}

}  // namespace
}  // namespace modtgt::core
