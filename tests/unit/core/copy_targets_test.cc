// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/core/copy_targets.cc: which LUs TargetRegistry resolves as EXTENDED
// COPY copy targets for an I_T nexus. Its own target's LUs; another target's only when
// that target's ACL admits the initiator's name and address; never a target that is not
// registered; never another target that asks for CHAP; and a target leaves the resolver
// when it leaves the registry.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include <memory>

#include "core/accounts.h"
#include "core/target.h"
#include "fakes/mem_backend.h"
#include "scsi/dispatch.h"
#include "scsi/spc.h"

namespace modtgt::core {
namespace {

std::shared_ptr<scsi::LogicalUnit> MakeLu(const std::string& target, uint64_t lun) {
  scsi::LuConfig cfg;
  cfg.lun = lun;
  return std::make_shared<scsi::LogicalUnit>(
      cfg, &scsi::SbcDeviceType(), std::make_unique<testing::MemBackend>(1 << 20), target);
}

class CopyTargetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      auto t = std::make_shared<Target>(i + 1, "iqn.2026-11.org.modtgt.test:t" + std::to_string(i + 1));
      luns_.push_back(MakeLu(t->name(), 0));
      ASSERT_TRUE(t->AddLun(luns_.back()).ok());
      targets_.push_back(t);
      ASSERT_TRUE(reg_.Add(t).ok());
    }
    // t1: where the nexus is logged in. t2: admits the initiator by name and from
    // 10.0.0.0/8. t3: admits another initiator only.
    ASSERT_TRUE(targets_[1]->BindName(kInitiator).ok());
    ASSERT_TRUE(targets_[1]->BindAddress("10.0.0.0/8").ok());
    ASSERT_TRUE(targets_[2]->BindName("iqn.2026-11.org.modtgt.test:someone-else").ok());
    nexus_.initiator_name = kInitiator;
    nexus_.target = targets_[0];
    SetAddress("10.1.2.3");
  }
  void SetAddress(const char* a) {
    nexus_.initiator_address = sockaddr_storage{};
    auto* sin = reinterpret_cast<sockaddr_in*>(&nexus_.initiator_address);
    sin->sin_family = AF_INET;
    ASSERT_EQ(inet_pton(AF_INET, a, &sin->sin_addr), 1);
  }
  std::shared_ptr<scsi::LogicalUnit> Resolve(int i) {
    const auto naa = scsi::LuNaaDesignator(*luns_[i]);
    return reg_.ResolveCopyTarget(nexus_, naa.data(), naa.size());
  }

  static constexpr const char* kInitiator = "iqn.2026-11.org.modtgt.test:initiator";
  TargetRegistry reg_;
  std::vector<std::shared_ptr<Target>> targets_;
  std::vector<std::shared_ptr<scsi::LogicalUnit>> luns_;
  scsi::Nexus nexus_;
};

TEST_F(CopyTargetsTest, OwnTargetAndTargetsWhoseAclAdmitsTheInitiator) {
  EXPECT_EQ(Resolve(0), luns_[0]);
  EXPECT_EQ(Resolve(1), luns_[1]);
  EXPECT_EQ(Resolve(2), nullptr);  // its ACL names someone else
}

TEST_F(CopyTargetsTest, TheInitiatorsAddressCounts) {
  SetAddress("192.168.7.7");  // outside t2's address rule
  EXPECT_EQ(Resolve(0), luns_[0]);  // its own target: logged in, whatever the ACL says
  EXPECT_EQ(Resolve(1), nullptr);
  nexus_.initiator_address = sockaddr_storage{};  // unknown address: no address rule matches
  EXPECT_EQ(Resolve(1), nullptr);
}

TEST_F(CopyTargetsTest, TheInitiatorsNameCounts) {
  nexus_.initiator_name = "iqn.2026-11.org.modtgt.test:intruder";
  EXPECT_EQ(Resolve(1), nullptr);
  nexus_.initiator_name = "iqn.2026-11.org.modtgt.test:someone-else";
  EXPECT_EQ(Resolve(2), luns_[2]);
}

TEST_F(CopyTargetsTest, UnknownDesignatorsAndLengthsResolveToNothing) {
  auto naa = scsi::LuNaaDesignator(*luns_[0]);
  naa[15] ^= 1;
  EXPECT_EQ(reg_.ResolveCopyTarget(nexus_, naa.data(), naa.size()), nullptr);
  naa = scsi::LuNaaDesignator(*luns_[0]);
  EXPECT_EQ(reg_.ResolveCopyTarget(nexus_, naa.data(), 8), nullptr);  // an NAA 5 prefix
}

TEST_F(CopyTargetsTest, ATargetThatAsksForChapIsOutOfReach) {
  AccountRegistry accounts;
  reg_.set_accounts(&accounts);
  ASSERT_TRUE(accounts.Add("alice", "0123456789abcdef").ok());
  ASSERT_TRUE(accounts.Bind(2, "alice", /*outgoing=*/false).ok());  // t2 asks for CHAP
  EXPECT_EQ(Resolve(1), nullptr);
  ASSERT_TRUE(accounts.Bind(1, "alice", false).ok());  // its own target may too
  EXPECT_EQ(Resolve(0), luns_[0]);
  ASSERT_TRUE(accounts.Unbind(2, "alice", false).ok());
  EXPECT_EQ(Resolve(1), luns_[1]);
  ASSERT_TRUE(accounts.Bind(2, "alice", /*outgoing=*/true).ok());  // mutual CHAP only
  EXPECT_EQ(Resolve(1), luns_[1]);
  reg_.set_accounts(nullptr);
}

TEST_F(CopyTargetsTest, TargetsLeaveTheResolverWithTheRegistry) {
  EXPECT_EQ(targets_[0]->copy_target_resolver(), &reg_);
  ASSERT_TRUE(reg_.Remove(2, /*force=*/false).ok());
  EXPECT_EQ(targets_[1]->copy_target_resolver(), nullptr);
  EXPECT_EQ(Resolve(1), nullptr);  // admitted by its ACL, but no longer a target
  Target lone(9, "iqn.2026-11.org.modtgt.test:lone");
  EXPECT_EQ(lone.copy_target_resolver(), nullptr);
}

}  // namespace
}  // namespace modtgt::core
