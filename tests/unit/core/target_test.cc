// SPDX-License-Identifier: Apache-2.0
#include "core/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <gtest/gtest.h>

#include "fakes/mem_backend.h"
#include "scsi/dispatch.h"
#include "scsi/sense.h"

namespace modtgt::core {
namespace {

sockaddr_storage V4(const char* a) {
  sockaddr_storage ss{};
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  sin->sin_family = AF_INET;
  EXPECT_EQ(inet_pton(AF_INET, a, &sin->sin_addr), 1) << a;
  return ss;
}

sockaddr_storage V6(const char* a) {
  sockaddr_storage ss{};
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  EXPECT_EQ(inet_pton(AF_INET6, a, &sin6->sin6_addr), 1) << a;
  return ss;
}

const sockaddr* Sa(const sockaddr_storage& ss) { return reinterpret_cast<const sockaddr*>(&ss); }

const std::string kIqn = "iqn.2026-11.org.modtgt.test:t1";

TEST(ValidateIscsiName, AcceptsTheThreeForms) {
  EXPECT_TRUE(ValidateIscsiName("iqn.2001-04.com.example:storage.disk2.sys1.xyz").ok());
  EXPECT_TRUE(ValidateIscsiName("iqn.2001-04.com.example").ok());
  EXPECT_TRUE(ValidateIscsiName("eui.02004567A425678D").ok());
  EXPECT_TRUE(ValidateIscsiName("naa.52004567BA64678D").ok());
  EXPECT_TRUE(ValidateIscsiName("naa.62004567BA64678D62004567BA64678D").ok());
}

TEST(ValidateIscsiName, RefusesMalformedNames) {
  for (const char* bad :
       {"", "not a valid name", "iqn.", "iqn.2001-4.com.example", "iqn.2001-13.com.example",
        "iqn.2001-04com.example", "iqn.2001-04.", "iqn.2001-04.Com.Example",
        "iqn.2001-04.com.example:has space", "iqn.2001-04.com.ex_ample", "eui.0200",
        "eui.02004567A425678Z", "naa.1234", "foo.2001-04.com.example"}) {
    Status s = ValidateIscsiName(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << "'" << bad << "'";
  }
  EXPECT_FALSE(ValidateIscsiName("iqn.2001-04.com.example:" + std::string(220, 'a')).ok());
}

TEST(AclAddress, Canonicalises) {
  EXPECT_EQ(CanonicalAclAddress("ALL").value(), "ALL");
  EXPECT_EQ(CanonicalAclAddress("all").value(), "ALL");
  EXPECT_EQ(CanonicalAclAddress("10.1.2.3").value(), "10.1.2.3");
  EXPECT_EQ(CanonicalAclAddress("10.1.2.3/8").value(), "10.0.0.0/8");
  EXPECT_EQ(CanonicalAclAddress("10.1.2.3/32").value(), "10.1.2.3");
  EXPECT_EQ(CanonicalAclAddress("[::1]").value(), "::1");
  EXPECT_EQ(CanonicalAclAddress("2001:DB8::1/32").value(), "2001:db8::/32");
  EXPECT_EQ(CanonicalAclAddress("::ffff:192.168.1.7").value(), "192.168.1.7");
  EXPECT_EQ(CanonicalAclAddress("::ffff:192.168.1.7/120").value(), "192.168.1.0/24");
  for (const char* bad : {"", "10.1.2", "10.1.2.3/33", "10.1.2.3/", "10.1.2.3/x", "::1/129",
                          "host.example.com", "1.2.3.4/-1", "::ffff:1.2.3.4/64", "[::1"}) {
    EXPECT_FALSE(CanonicalAclAddress(bad).ok()) << bad;
  }
}

TEST(AclAddress, MatchesFamiliesAndPrefixes) {
  auto v4 = V4("10.1.2.3");
  auto v6 = V6("2001:db8::5");
  auto mapped = V6("::ffff:10.1.2.3");
  EXPECT_TRUE(AclAddressMatches("ALL", Sa(v4)));
  EXPECT_TRUE(AclAddressMatches("ALL", Sa(v6)));
  EXPECT_TRUE(AclAddressMatches("10.1.2.3", Sa(v4)));
  EXPECT_FALSE(AclAddressMatches("10.1.2.4", Sa(v4)));
  EXPECT_TRUE(AclAddressMatches("10.0.0.0/8", Sa(v4)));
  EXPECT_TRUE(AclAddressMatches("10.1.2.0/23", Sa(v4)));
  EXPECT_FALSE(AclAddressMatches("10.1.4.0/23", Sa(v4)));
  EXPECT_TRUE(AclAddressMatches("0.0.0.0/0", Sa(v4)));
  EXPECT_FALSE(AclAddressMatches("0.0.0.0/0", Sa(v6)));  // a v4 rule never admits v6
  // IPv4-mapped peers match IPv4 rules.
  EXPECT_TRUE(AclAddressMatches("10.1.2.3", Sa(mapped)));
  EXPECT_TRUE(AclAddressMatches("10.1.0.0/16", Sa(mapped)));
  EXPECT_TRUE(AclAddressMatches("2001:db8::5", Sa(v6)));
  EXPECT_TRUE(AclAddressMatches("2001:db8::/32", Sa(v6)));
  EXPECT_FALSE(AclAddressMatches("2001:db9::/32", Sa(v6)));
  EXPECT_FALSE(AclAddressMatches("2001:db8::5", Sa(v4)));
  EXPECT_FALSE(AclAddressMatches("10.1.2.3", nullptr));
  sockaddr_storage unix_peer{};
  unix_peer.ss_family = AF_UNIX;
  EXPECT_FALSE(AclAddressMatches("ALL", nullptr));
  EXPECT_FALSE(AclAddressMatches("10.1.2.3", Sa(unix_peer)));
}

TEST(TargetAcl, NoAclAdmitsNobody) {
  Target t(1, kIqn);
  auto v4 = V4("127.0.0.1");
  EXPECT_FALSE(t.AllowsInitiator(Sa(v4), "iqn.2026-11.org.client:a"));
}

TEST(TargetAcl, AddressRules) {
  Target t(1, kIqn);
  auto lo = V4("127.0.0.1");
  auto other = V4("10.9.9.9");
  ASSERT_TRUE(t.BindAddress("127.0.0.0/8").ok());
  EXPECT_TRUE(t.AllowsInitiator(Sa(lo), "any"));
  EXPECT_FALSE(t.AllowsInitiator(Sa(other), "any"));
  EXPECT_EQ(t.BindAddress("127.1.2.3/8").code(), Code::kAlreadyExists);  // same canonical rule
  EXPECT_EQ(t.BindAddress("bogus").code(), Code::kInvalidArgument);
  ASSERT_TRUE(t.UnbindAddress("127.0.0.0/8").ok());
  EXPECT_EQ(t.UnbindAddress("127.0.0.0/8").code(), Code::kNotFound);
  EXPECT_FALSE(t.AllowsInitiator(Sa(lo), "any"));
  ASSERT_TRUE(t.BindAddress("ALL").ok());
  EXPECT_TRUE(t.AllowsInitiator(Sa(other), "any"));
  EXPECT_EQ(t.bound_addresses(), std::vector<std::string>{"ALL"});
}

TEST(TargetAcl, NameRulesAloneAndWithAddresses) {
  Target t(1, kIqn);
  auto lo = V4("127.0.0.1");
  auto v6 = V6("::1");
  ASSERT_TRUE(t.BindName("iqn.2026-11.org.client:good").ok());
  EXPECT_TRUE(t.AllowsInitiator(Sa(lo), "iqn.2026-11.org.client:good"));
  EXPECT_TRUE(t.AllowsInitiator(Sa(v6), "IQN.2026-11.org.client:GOOD"));  // case-insensitive
  EXPECT_FALSE(t.AllowsInitiator(Sa(lo), "iqn.2026-11.org.client:bad"));
  EXPECT_EQ(t.BindName("iqn.2026-11.org.client:good").code(), Code::kAlreadyExists);
  // Both kinds bound: both must match.
  ASSERT_TRUE(t.BindAddress("::1").ok());
  EXPECT_TRUE(t.AllowsInitiator(Sa(v6), "iqn.2026-11.org.client:good"));
  EXPECT_FALSE(t.AllowsInitiator(Sa(lo), "iqn.2026-11.org.client:good"));
  EXPECT_FALSE(t.AllowsInitiator(Sa(v6), "iqn.2026-11.org.client:bad"));
  ASSERT_TRUE(t.UnbindName("iqn.2026-11.org.client:good").ok());
  EXPECT_EQ(t.UnbindName("iqn.2026-11.org.client:good").code(), Code::kNotFound);
  EXPECT_TRUE(t.AllowsInitiator(Sa(v6), "iqn.2026-11.org.client:bad"));
}

std::shared_ptr<scsi::LogicalUnit> MakeLu(uint64_t lun) {
  scsi::LuConfig c;
  c.lun = lun;
  return std::make_shared<scsi::LogicalUnit>(
      c, &scsi::SbcDeviceType(), std::make_unique<testing::MemBackend>(1 << 20), kIqn);
}

// Drains a nexus's UAs (the first TakeUnitAttention registers the nexus with POWER ON).
std::vector<uint16_t> Drain(scsi::LogicalUnit* lu, const scsi::Nexus& n) {
  std::vector<uint16_t> out;
  scsi::Asc code{};
  while (lu->TakeUnitAttention(n, &code)) out.push_back(code.v);
  return out;
}

TEST(TargetLuns, SnapshotAddRemoveAndUnitAttentions) {
  Target t(1, kIqn);
  scsi::Nexus n;
  n.id = 7;
  auto lu1 = MakeLu(1);
  ASSERT_TRUE(t.AddLun(lu1).ok());
  Drain(lu1.get(), n);  // registers the nexus
  std::shared_ptr<const LunMap> before = t.luns();

  auto lu5 = MakeLu(5);
  ASSERT_TRUE(t.AddLun(lu5).ok());
  EXPECT_EQ(t.ListLuns(), (std::vector<uint64_t>{1, 5}));
  EXPECT_EQ(t.FindLun(5), lu5);
  EXPECT_EQ(t.FindLun(2), nullptr);
  // The old snapshot is immutable: readers holding it see the old map.
  EXPECT_EQ(before->size(), 1u);
  EXPECT_EQ(t.luns()->size(), 2u);
  EXPECT_EQ(Drain(lu1.get(), n),
            std::vector<uint16_t>{scsi::asc::kReportedLunsDataHasChanged.v});

  EXPECT_EQ(t.AddLun(MakeLu(5)).code(), Code::kAlreadyExists);
  EXPECT_EQ(t.FindLun(5), lu5);
  EXPECT_TRUE(Drain(lu1.get(), n).empty()) << "a refused add must not queue a UA";

  Drain(lu5.get(), n);
  auto removed = t.RemoveLun(1);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, lu1);
  EXPECT_EQ(t.ListLuns(), std::vector<uint64_t>{5});
  EXPECT_EQ(Drain(lu5.get(), n),
            std::vector<uint16_t>{scsi::asc::kReportedLunsDataHasChanged.v});
  EXPECT_EQ(t.RemoveLun(1).status().code(), Code::kNotFound);
}

TEST(TargetLuns, ReplaceKeepsNumberAndNotifiesOthers) {
  Target t(1, kIqn);
  scsi::Nexus n;
  n.id = 9;
  auto a = MakeLu(0);
  auto b = MakeLu(3);
  ASSERT_TRUE(t.AddLun(a).ok());
  ASSERT_TRUE(t.AddLun(b).ok());
  Drain(a.get(), n);
  auto b2 = MakeLu(3);
  ASSERT_TRUE(t.ReplaceLun(b2).ok());
  EXPECT_EQ(t.FindLun(3), b2);
  EXPECT_EQ(Drain(a.get(), n), std::vector<uint16_t>{scsi::asc::kReportedLunsDataHasChanged.v});
  EXPECT_EQ(t.ReplaceLun(MakeLu(4)).code(), Code::kNotFound);
  EXPECT_EQ(t.ReplaceLun(nullptr).code(), Code::kInvalidArgument);
}

TEST(TargetLuns, DeviceConfigRecordFollowsTheLun) {
  Target t(1, kIqn);
  ASSERT_TRUE(t.AddLun(MakeLu(2)).ok());
  DeviceConfig cfg;
  cfg.bstype = "rdwr";
  cfg.cfgstring = "/tmp/x";
  t.SetLunDeviceConfig(2, cfg);
  DeviceConfig got;
  ASSERT_TRUE(t.GetLunDeviceConfig(2, &got));
  EXPECT_EQ(got.cfgstring, "/tmp/x");
  ASSERT_TRUE(t.RemoveLun(2).ok());
  EXPECT_FALSE(t.GetLunDeviceConfig(2, &got));
}

TEST(TargetRegistry, AddFindRemove) {
  TargetRegistry reg;
  ASSERT_TRUE(reg.Add(std::make_shared<Target>(2, kIqn)).ok());
  ASSERT_TRUE(reg.Add(std::make_shared<Target>(1, kIqn + "b")).ok());
  EXPECT_EQ(reg.Add(std::make_shared<Target>(2, kIqn + "c")).code(), Code::kAlreadyExists);
  EXPECT_EQ(reg.Add(std::make_shared<Target>(3, kIqn)).code(), Code::kAlreadyExists);
  EXPECT_EQ(reg.Add(std::make_shared<Target>(3, "bad name")).code(), Code::kInvalidArgument);
  EXPECT_EQ(reg.Add(std::make_shared<Target>(0, kIqn + "d")).code(), Code::kInvalidArgument);
  EXPECT_EQ(reg.Add(nullptr).code(), Code::kInvalidArgument);
  auto list = reg.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]->tid(), 1);
  EXPECT_EQ(list[1]->tid(), 2);
  EXPECT_EQ(reg.FindByName(kIqn)->tid(), 2);
  EXPECT_EQ(reg.FindByTid(9), nullptr);

  reg.FindByTid(2)->sessions = 1;
  EXPECT_EQ(reg.Remove(2, false).code(), Code::kBusy);
  EXPECT_NE(reg.FindByTid(2), nullptr);
  EXPECT_TRUE(reg.Remove(2, true).ok());
  EXPECT_EQ(reg.FindByTid(2), nullptr);
  EXPECT_EQ(reg.Remove(2, false).code(), Code::kNotFound);
}

}  // namespace
}  // namespace modtgt::core
