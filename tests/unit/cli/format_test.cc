// SPDX-License-Identifier: Apache-2.0
// modtgtadm's output. The CLI is its own executable, so its sources compile in here.
#include "cli/format.cc"  // NOLINT: the unit under test is not in a library

#include <gtest/gtest.h>

namespace modtgt::cli {
namespace {

using nlohmann::json;

TEST(CliFormat, TargetShowInTgtadmLayout) {
  json result = json::parse(R"({"targets": [{
      "tid": 1, "name": "iqn.2026-11.org.x:t",
      "nexuses": [{"nexus_id": 4, "initiator": "iqn.2026-11.org.c:1", "isid": "23d000000001",
                   "tsih": 1, "connections": ["cid 0 127.0.0.1:5000 -> 127.0.0.1:3260"]}],
      "luns": [{"lun": 1, "type": "disk", "size_bytes": 104857600, "block_size": 512,
                "readonly": true, "bstype": "rdwr", "backing_store": "/srv/d.img",
                "scsi_sn": "ABC"}],
      "acl": {"addresses": ["ALL"], "names": ["iqn.2026-11.org.c:1"]}}]})");
  std::string out = FormatResult({{"mode", "target"}, {"op", "show"}}, result);
  for (const char* want :
       {"Target 1: iqn.2026-11.org.x:t\n", "    System information:\n",
        "    I_T nexus information:\n", "        I_T nexus: 4\n",
        "            Initiator: iqn.2026-11.org.c:1", "    LUN information:\n", "        LUN: 1\n",
        "            Type: disk\n", "            Size: 104 MB (104857600 bytes), Block size: 512\n",
        "            Readonly: Yes\n", "            Backing store type: rdwr\n",
        "            Backing store path: /srv/d.img\n", "    Account information:\n",
        "    ACL information:\n        ALL\n", "Initiator name: iqn.2026-11.org.c:1"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
  }
}

TEST(CliFormat, SystemShow) {
  json result = {{"version", "0.1.0"},
                 {"pid", 42},
                 {"threads", 2},
                 {"portals", {"127.0.0.1:3260"}},
                 {"modules",
                  {{{"name", "rdwr"},
                    {"state", "ready"},
                    {"version", "1.0"},
                    {"abi_version", 0x10000},
                    {"kind", "backing-store"},
                    {"path", "/usr/lib/modtgt/backing-store/bs_rdwr.so"},
                    {"cfg_desc", "a file path"},
                    {"capabilities", {"read", "write", "flush"}},
                    {"users", {"tid 1 lun 1"}}},
                   {{"name", "bad"}, {"state", "error"}, {"error", "load failed"}}}},
                 {"targets", {{{"tid", 1}, {"name", "iqn.x"}, {"luns", 2}, {"sessions", 0}}}}};
  std::string out = FormatResult({{"mode", "system"}, {"op", "show"}}, result);
  for (const char* want : {"System information:\n", "Daemon pid: 42", "127.0.0.1:3260",
                           "rdwr: ready, version 1.0, abi 1.0", "Users: tid 1 lun 1",
                           "Kind: backing-store", "Path: /usr/lib/modtgt/backing-store/bs_rdwr.so",
                           "Config: a file path", "Capabilities: read, write, flush",
                           "bad: error (load failed)", "Target 1: iqn.x (2 LUNs, 0 sessions)"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
  }
}

TEST(CliFormat, SystemShowListsTransportsFromTheReply) {
  json result = json::parse(R"({"version": "0.1.0", "portals": [],
      "transports": [{"kind": "transport", "name": "iscsi", "state": "error",
                      "error": "cannot load lld_iscsi.so", "portals": [], "sessions": []},
                     {"kind": "transport", "name": "other", "state": "ready",
                      "version": "0.1.0", "portals": ["127.0.0.1:3260"],
                      "sessions": [{"tsih": 1}]}],
      "modules": [{"kind": "transport", "name": "iscsi", "state": "error"},
                  {"kind": "backing-store", "name": "null", "state": "ready"}]})");
  std::string out = FormatResult({{"mode", "system"}, {"op", "show"}}, result);
  EXPECT_NE(out.find("LLDs:\n    iscsi: error (cannot load lld_iscsi.so)\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("    other: ready, version 0.1.0\n        Portals: 127.0.0.1:3260\n"
                     "        Sessions: 1\n"),
            std::string::npos)
      << out;
  // A transport is listed once, under LLDs, not again among the backing stores.
  EXPECT_NE(out.find("Backing stores:\n    null: ready\n"), std::string::npos) << out;
}

TEST(CliFormat, SilentOpsAndHostileResults) {
  EXPECT_EQ(FormatResult({{"mode", "target"}, {"op", "new"}}, {{"tid", 1}}), "");
  // Wrong types and missing fields must not throw.
  for (const json& r : {json(nullptr), json::array(), json("x"), json{{"targets", 5}},
                        json{{"targets", {5, "x", nullptr}}}, json{{"luns", {{{"lun", "x"}}}}},
                        json{{"portals", {1, 2}}}, json{{"modules", {{{"users", 3}}}}}}) {
    for (const char* mode : {"system", "target", "logicalunit", "portal", "other"}) {
      EXPECT_NO_THROW(FormatResult({{"mode", mode}, {"op", "show"}}, r)) << mode << r.dump();
    }
  }
  EXPECT_EQ(FormatResult({{"mode", "portal"}, {"op", "show"}}, {{"portals", {"[::1]:3260"}}}),
            "Portal: [::1]:3260\n");
}

TEST(CliFormat, ModuleLoadAndReloadSayWhatRuns) {
  json m = {{"module", {{"name", "rdwr"}, {"state", "ready"}, {"version", "1.2"},
                        {"path", "/lib/modtgt/backing-store/bs_rdwr.so"}}}};
  EXPECT_EQ(FormatResult({{"mode", "system"}, {"op", "bsreload"}}, m),
            "Backing store rdwr reloaded: ready, version 1.2 (/lib/modtgt/backing-store/bs_rdwr.so)\n");
  EXPECT_EQ(FormatResult({{"mode", "system"}, {"op", "bsload"}}, m).rfind("Backing store rdwr loaded", 0), 0u);
  EXPECT_EQ(FormatResult({{"mode", "system"}, {"op", "bsload"}}, {{"module", 3}}), "");
}


TEST(CliFormat, LogicalUnitTargetcliFieldsAndOps) {
  json result = json::parse(R"({"tid": 1, "luns": [
      {"lun": 2, "type": "cd", "device_type": "cd", "size_bytes": 2048000, "block_size": 2048,
       "medium_present": false, "wwn": "WWN-9", "hw_max_sectors": 64, "max_data_area_mb": 8,
       "write_cache": false, "bstype": "optical", "backing_store": "optical//a.iso",
       "lock": {"supported": true, "state": "locked"},
       "events": {"lock_lost": 1, "conn_lost": 2, "conn_restored": 1, "connected": false,
                  "last": "connection lost: timeout"}}]})");
  std::string out = FormatResult({{"mode", "logicalunit"}, {"op", "show"}}, result);
  for (const char* want :
       {"Type: cd/dvd\n", "Medium present: No\n", "WWN: WWN-9\n",
        "Max transfer length: 64 blocks", "Max data area: 8 MB\n", "Write cache: No\n",
        "Cluster lock: locked\n",
        "Events: lock lost 1, connection lost 2, restored 1, DISCONNECTED (last: connection lost: "
        "timeout)\n"}) {
    EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in\n" << out;
  }
  EXPECT_EQ(FormatResult({{"mode", "logicalunit"}, {"op", "check"}}, {{"ok", true}}), "ok\n");
  EXPECT_EQ(FormatResult({{"mode", "logicalunit"}, {"op", "update"}},
                         {{"resized", {{"from", 1024}, {"to", 2048}}}, {"lun", {{"lun", 3}}}}),
            "LUN 3 resized from 1024 to 2048 bytes\n");
  EXPECT_EQ(FormatResult({{"mode", "logicalunit"}, {"op", "eject"}}, {{"lun", {{"lun", 3}}}}),
            "LUN 3: medium ejected\n");
  EXPECT_EQ(FormatResult({{"mode", "logicalunit"}, {"op", "load"}},
                         {{"lun", {{"lun", 3}, {"cfgstring", "optical//b.iso"}}}}),
            "LUN 3: medium optical//b.iso loaded\n");
}

}  // namespace
}  // namespace modtgt::cli
