// SPDX-License-Identifier: Apache-2.0
#include "core/accounts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Accounts, SecretsAreCheckedAndNeverEchoed) {
  AccountRegistry r;
  Status s = r.Add("alice", "short-pw");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("at least 12"));
  EXPECT_THAT(s.message(), Not(HasSubstr("short-pw")));
  EXPECT_EQ(r.Add("", "0123456789ab").code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Add("bob", std::string(256, 'x')).code(), Code::kInvalidArgument);
  EXPECT_EQ(r.Add("bob", "0123456789a\n").code(), Code::kInvalidArgument);
  ASSERT_TRUE(r.Add("alice", "0123456789ab").ok());
  EXPECT_EQ(r.Add("alice", "0123456789ab").code(), Code::kAlreadyExists);
  EXPECT_EQ(*r.Secret("alice"), "0123456789ab");
  EXPECT_EQ(r.Secret("carol").status().code(), Code::kNotFound);
}

TEST(Accounts, BindingsPerTargetAndDiscovery) {
  AccountRegistry r;
  ASSERT_TRUE(r.Add("alice", "0123456789ab").ok());
  ASSERT_TRUE(r.Add("bob", "ba9876543210").ok());
  EXPECT_EQ(r.Bind(1, "carol", false).code(), Code::kNotFound);
  ASSERT_TRUE(r.Bind(1, "bob", false).ok());
  ASSERT_TRUE(r.Bind(1, "alice", false).ok());
  EXPECT_EQ(r.Bind(1, "alice", false).code(), Code::kAlreadyExists);
  ASSERT_TRUE(r.Bind(1, "bob", true).ok());
  EXPECT_EQ(r.Bind(1, "alice", true).code(), Code::kAlreadyExists);  // one outgoing
  ASSERT_TRUE(r.Bind(kDiscoveryTid, "alice", false).ok());
  AccountRegistry::Binding b = r.BindingOf(1);
  EXPECT_EQ(b.incoming, (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(b.outgoing, "bob");
  EXPECT_EQ(r.BoundTids(), (std::vector<int>{0, 1}));
  EXPECT_EQ(r.Unbind(2, "alice", false).code(), Code::kNotFound);
  EXPECT_EQ(r.Unbind(1, "alice", true).code(), Code::kNotFound);

  Status busy = r.Remove("alice", false);
  EXPECT_EQ(busy.code(), Code::kBusy);
  EXPECT_THAT(busy.message(), HasSubstr("discovery"));
  EXPECT_THAT(busy.message(), HasSubstr("target 1"));
  ASSERT_TRUE(r.Remove("alice", /*force=*/true).ok());
  EXPECT_EQ(r.BindingOf(1).incoming, std::vector<std::string>{"bob"});
  EXPECT_TRUE(r.BindingOf(kDiscoveryTid).incoming.empty());
  r.ForgetTarget(1);
  EXPECT_EQ(r.BindingOf(1), AccountRegistry::Binding{});
  EXPECT_TRUE(r.Remove("bob", false).ok());
}

}  // namespace
}  // namespace modtgt::core
