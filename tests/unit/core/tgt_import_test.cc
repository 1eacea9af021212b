// SPDX-License-Identifier: Apache-2.0
// core/tgt_import: targets.conf directives as a modtgt configuration, as tgt-admin -e makes
// them on tgtd: tids, LUN numbering, LUN defaults from the target level, ACLs, accounts,
// iSCSI parameters; the directives with no equivalent listed; impossible ones refused.
#include "core/tgt_import.h"

#include <gtest/gtest.h>

namespace modtgt::core {
namespace {

ConfNode N(std::string key, std::string value, std::vector<ConfNode> block = {},
           bool is_block = false) {
  ConfNode n;
  n.key = std::move(key);
  n.value = std::move(value);
  n.where = "t.conf:1";
  n.block = std::move(block);
  n.is_block = is_block || !n.block.empty();
  return n;
}
ConfNode Target(std::string name, std::vector<ConfNode> body) {
  return N("target", std::move(name), std::move(body), true);
}

std::vector<ModuleInfo> Modules() {
  ModuleInfo rdwr;
  rdwr.name = "rdwr";
  rdwr.subtype = "rdwr";
  ModuleInfo null;
  null.name = "null";
  null.subtype = "null";
  return {rdwr, null};
}

Result<TgtImport> Import(const std::vector<ConfNode>& tree, const SavedConfig& cur = {}) {
  return ImportTgtConf(tree, cur, Modules());
}

const SavedTarget& ByName(const TgtImport& imp, const std::string& suffix) {
  for (const auto& t : imp.config.targets) {
    if (t.name.size() >= suffix.size() &&
        t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return t;
  }
  static SavedTarget none;
  ADD_FAILURE() << "no target " << suffix;
  return none;
}

TEST(TgtImport, TidsAsTgtAdmin) {
  SavedConfig cur;
  SavedTarget existing;
  existing.tid = 4;
  existing.name = "iqn.2026-01.x:b";
  existing.alias = "kept";
  cur.targets.push_back(existing);
  // Name order: a gets 5 (after the largest tid), b keeps 4, c takes its controller_tid,
  // d follows c.
  auto imp =
      Import({Target("iqn.2026-01.x:d", {}), Target("iqn.2026-01.x:c", {N("controller_tid", "10")}),
              Target("iqn.2026-01.x:b", {}), Target("iqn.2026-01.x:a", {})},
             cur);
  ASSERT_TRUE(imp.ok()) << imp.status().ToString();
  EXPECT_EQ(ByName(*imp, ":a").tid, 5);
  EXPECT_EQ(ByName(*imp, ":b").tid, 4);
  EXPECT_EQ(ByName(*imp, ":b").alias, "kept");
  EXPECT_EQ(ByName(*imp, ":c").tid, 10);
  EXPECT_EQ(ByName(*imp, ":d").tid, 11);
  // Without initiator-address: ALL.
  EXPECT_EQ(ByName(*imp, ":a").acl_addresses, std::vector<std::string>{"ALL"});
}

TEST(TgtImport, LunNumberingAndDefaults) {
  auto imp = Import({Target(
      "iqn.2026-01.x:t",
      {N("direct-store", "/d/a.img"),   // after the backing stores
       N("backing-store", "/d/z.img"),  // path order: after m
       N("backing-store", "/d/m.img", {N("lun", "1"), N("vendor_id", "OWN")}),  // reserves 1
       N("backing-store", "/d/b.img"), N("vendor_id", "TARGET"), N("write-cache", "off"),
       N("readonly", "1"), N("MaxRecvDataSegmentLength", "65536"), N("state", "offline"),
       N("initiator-address", "10.1.2.3/8"), N("initiator-name", "iqn.1993-08.org.debian:01:h")})});
  ASSERT_TRUE(imp.ok()) << imp.status().ToString();
  const SavedTarget& t = ByName(*imp, ":t");
  ASSERT_EQ(t.luns.size(), 4u);
  std::map<uint64_t, std::string> by_lun;
  for (const auto& l : t.luns) by_lun[l.lun] = l.cfgstring;
  EXPECT_EQ(by_lun[1], "/d/m.img");
  EXPECT_EQ(by_lun[2], "/d/b.img");
  EXPECT_EQ(by_lun[3], "/d/z.img");
  EXPECT_EQ(by_lun[4], "/d/a.img");
  for (const auto& l : t.luns) {
    EXPECT_EQ(l.vendor_id, l.lun == 1 ? "OWN" : "TARGET") << l.lun;
    EXPECT_FALSE(l.write_cache);
    EXPECT_TRUE(l.readonly);
  }
  EXPECT_EQ(t.iscsi.at("MaxRecvDataSegmentLength"), "65536");
  EXPECT_EQ(t.state, "offline");
  EXPECT_EQ(t.acl_addresses, std::vector<std::string>{"10.0.0.0/8"});
  EXPECT_EQ(t.acl_names, std::vector<std::string>{"iqn.1993-08.org.debian:01:h"});
  // The direct-store is noted: its inquiry data is not read.
  bool noted = false;
  for (const auto& n : imp->unmapped) noted |= n.directive == "direct-store /d/a.img";
  EXPECT_TRUE(noted);
}

TEST(TgtImport, TargetLevelLunAndModePages) {
  auto imp = Import({Target(
      "iqn.2026-01.x:t",
      {N("backing-store", "/d/a.img"), N("lun", "10"),
       N("mode_page", "8:0:18:0x14:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0"),
       N("mode_page", "0x1c:0:10:8:0:0:0:0:0:0:0:0:0"), N("params", "thin_provisioning=1,online=0"),
       N("sense_format", "1"), N("bs-type", "aio"), N("lbppbe", "3")})});
  ASSERT_TRUE(imp.ok()) << imp.status().ToString();
  const SavedTarget& t = ByName(*imp, ":t");
  ASSERT_EQ(t.luns.size(), 1u);
  const SavedLun& l = t.luns[0];
  EXPECT_EQ(l.lun, 10u);
  EXPECT_TRUE(l.write_cache);  // the caching page's WCE set
  EXPECT_TRUE(l.thin_provisioning);
  EXPECT_FALSE(l.online);
  EXPECT_TRUE(l.sense_format);
  EXPECT_EQ(l.bstype, "uring");
  std::vector<std::string> notes;
  for (const auto& n : imp->unmapped) notes.push_back(n.directive);
  auto has = [&](const std::string& d) {
    return std::find(notes.begin(), notes.end(), d) != notes.end();
  };
  EXPECT_TRUE(has("mode_page 0x1c:0:10:8:0:0:0:0:0:0:0:0:0"));
  EXPECT_TRUE(has("lbppbe 3"));
  EXPECT_TRUE(has("bs-type aio"));
}

TEST(TgtImport, AccountsAndDiscovery) {
  SavedConfig cur;
  cur.accounts.push_back({"old", "oldsecret1234", true});
  cur.accounts.push_back({"u1", "formersecret1", true});
  auto imp = Import(
      {N("incomingdiscoveryuser", "disc discsecret123"),
       Target("iqn.2026-01.x:t",
              {N("incominguser", "u2 secretpass23"), N("incominguser", "u1 secretpass12"),
               N("outgoinguser", "out secretpassA12"), N("outgoinguser", "out2 secretpassB12")})},
      cur);
  ASSERT_TRUE(imp.ok()) << imp.status().ToString();
  const SavedTarget& t = ByName(*imp, ":t");
  EXPECT_EQ(t.chap.incoming, (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(t.chap.outgoing, "out");
  EXPECT_EQ(imp->config.discovery.incoming, std::vector<std::string>{"disc"});
  std::map<std::string, std::string> secrets;
  for (const auto& a : imp->config.accounts) secrets[a.user] = a.secret;
  EXPECT_EQ(secrets["old"], "oldsecret1234");  // kept
  EXPECT_EQ(secrets["u1"], "secretpass12");    // the file's
  EXPECT_EQ(secrets.size(), 5u);  // old, u1, u2, out, disc (out2: only the first is used)
}

TEST(TgtImport, ErrorsListEveryProblem) {
  auto imp = Import({N("default-driver", "iser")});
  ASSERT_FALSE(imp.ok());
  EXPECT_NE(imp.status().message().find("t.conf:1: default-driver iser"), std::string::npos);
  auto bad = Import({Target("iqn.2026-01.x:t",
                            {N("backing-store", "/d/a.img"), N("backing-store", "/d/b.img"),
                             N("lun", "3"),  // both LUNs on 3
                             N("device-type", "tape"), N("MaxBurstLength", "1"),
                             N("incominguser", "nopassword"), N("initiator-address", "nonsense")}),
                     N("target", "", {}, true)});
  ASSERT_FALSE(bad.ok());
  const std::string m = bad.status().message();
  for (const char* want :
       {"device type tape", "MaxBurstLength: '1'", "incominguser needs a user and a password",
        "nonsense", "<target> without a name"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << " in\n" << m;
  }
  // What cannot be honoured but changes nothing is a note, not an error.
  auto noted =
      Import({N("iSNSServerIP", "192.0.2.1"), N("ignore-errors", "yes"), N("frobnicate", "1"),
              Target("iqn.2026-01.x:t", {N("DataPDUInOrder", "No"), N("allow-in-use", "yes")})});
  ASSERT_TRUE(noted.ok()) << noted.status().ToString();
  EXPECT_EQ(noted->unmapped.size(), 4u);  // allow-in-use applies to no LUN here
  EXPECT_TRUE(ByName(*noted, ":t").iscsi.empty());
}

TEST(TgtImport, TreeFromJsonIsStrict) {
  nlohmann::json good = {{"directives",
                          {{{"key", "target"},
                            {"value", "iqn.x"},
                            {"where", "f:1"},
                            {"block", {{{"key", "lun"}, {"value", "1"}}}}}}}};
  auto t = ConfTreeFromJson(good);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_TRUE((*t)[0].is_block);
  EXPECT_EQ((*t)[0].block[0].key, "lun");
  for (const nlohmann::json& bad :
       {nlohmann::json::array(), nlohmann::json{{"other", 1}},
        nlohmann::json{{"directives", {{{"key", 1}}}}},
        nlohmann::json{{"directives", {{{"key", "a"}, {"colour", "red"}}}}},
        nlohmann::json{{"directives", {{{"value", "no key"}}}}},
        nlohmann::json{{"directives", {{{"key", "a"}, {"block", 5}}}}}}) {
    EXPECT_FALSE(ConfTreeFromJson(bad).ok()) << bad.dump();
  }
  nlohmann::json deep = {{"key", "x"}};
  for (int i = 0; i < 20; i++) deep = {{"key", "x"}, {"block", {deep}}};
  EXPECT_FALSE(ConfTreeFromJson({{"directives", {deep}}}).ok());
}

TEST(TgtImport, BstypeAndDeviceTypeNames) {
  EXPECT_EQ(*TgtBstype("aio"), "uring");
  EXPECT_EQ(*TgtBstype("rdwr"), "rdwr");
  EXPECT_EQ(TgtBstype("sheepdog").status().code(), Code::kUnsupported);
  EXPECT_EQ(*TgtDeviceType("cd"), "cd");
  EXPECT_EQ(TgtDeviceType("changer").status().code(), Code::kUnsupported);
  EXPECT_EQ(TgtDeviceType("floppy").status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace modtgt::core
