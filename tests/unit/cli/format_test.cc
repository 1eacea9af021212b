// SPDX-License-Identifier: Apache-2.0
// modtgtadm's output. The CLI is its own executable, so its sources compile in here.
#include "cli/format.cc"  // NOLINT: the unit under test is not in a library

#include <gtest/gtest.h>

namespace modtgt::cli {
namespace {

using nlohmann::json;

TEST(CliFormat, TargetShowInTgtadmLayout) {
  json result = json::parse(R"J({"targets": [{
      "tid": 1, "name": "iqn.2026-11.org.x:t", "driver": "iscsi", "state": "offline",
      "nexuses": [{"nexus_id": 4, "initiator": "iqn.2026-11.org.c:1", "alias": "",
                   "conns": [{"cid": 0, "ip": "127.0.0.1"}]}],
      "luns": [{"lun": 1, "type": "disk", "size_bytes": 104857600, "block_size": 512,
                "readonly": true, "bstype": "rdwr", "backing_store": "/srv/d.img",
                "bsoflags": "direct,sync", "scsi_sn": "ABC", "scsi_id": "ID1"}],
      "accounts": ["u1", "u2 (outgoing)"],
      "acl": {"addresses": ["ALL"], "names": ["iqn.2026-11.org.c:1"]}}]})J");
  std::string out = FormatResult({{"mode", "target"}, {"op", "show"}}, result);
  // tgtadm 1.0.85's layout, line for line, up to the LUN's last tgtadm line.
  const std::string head =
      "Target 1: iqn.2026-11.org.x:t\n"
      "    System information:\n"
      "        Driver: iscsi\n"
      "        State: offline\n"
      "    I_T nexus information:\n"
      "        I_T nexus: 4\n"
      "            Initiator: iqn.2026-11.org.c:1 alias: none\n"
      "            Connection: 0\n"
      "                IP Address: 127.0.0.1\n"
      "    LUN information:\n"
      "        LUN: 1\n"
      "            Type: disk\n"
      "            SCSI ID: ID1\n"
      "            SCSI SN: ABC\n"
      "            Size: 105 MB, Block size: 512\n"
      "            Online: Yes\n"
      "            Removable media: No\n"
      "            Prevent removal: No\n"
      "            Readonly: Yes\n"
      "            SWP: No\n"
      "            Thin-provisioning: No\n"
      "            Backing store type: rdwr\n"
      "            Backing store path: /srv/d.img\n"
      "            Backing store flags: sync:direct\n";
  EXPECT_EQ(out.substr(0, head.size()), head) << out;
  // The tail: accounts, then the ACL (addresses, then names, bare), nothing after.
  const std::string tail =
      "    Account information:\n"
      "        u1\n"
      "        u2 (outgoing)\n"
      "    ACL information:\n"
      "        ALL\n"
      "        iqn.2026-11.org.c:1\n";
  ASSERT_GE(out.size(), tail.size());
  EXPECT_EQ(out.substr(out.size() - tail.size()), tail) << out;
  // modtgt's own lines sit inside the LUN block.
  EXPECT_NE(out.find("            Size in bytes: 104857600\n"), std::string::npos) << out;
}

TEST(CliFormat, TgtadmSizeRounding) {
  // tgtadm's "Size: N MB" rounding (checked against tgtd 1.0.85).
  EXPECT_EQ(TgtMegabytes(0), 0u);
  EXPECT_EQ(TgtMegabytes(104857600), 105u);          // 100 MiB
  EXPECT_EQ(TgtMegabytes(10485760), 10u);            // 10 MiB
  EXPECT_EQ(TgtMegabytes(5242880), 5u);              // 5 MiB
  EXPECT_EQ(TgtMegabytes(1099511627776ull), 1099512u);  // 1 TiB
}

TEST(CliFormat, TargetShowOfOneTargetIsItsParameters) {
  json result = {{"targets", {{{"tid", 1},
                               {"iscsi_params",
                                {{{"name", "MaxRecvDataSegmentLength"}, {"value", "65536"}},
                                 {{"name", "HeaderDigest"}, {"value", "None"}}}}}}}};
  EXPECT_EQ(FormatResult({{"mode", "target"}, {"op", "show"}, {"tid", 1}}, result),
            "MaxRecvDataSegmentLength=65536\nHeaderDigest=None\n");
}

TEST(CliFormat, SystemShow) {
  json result = {{"version", "0.1.0"},
                 {"pid", 42},
                 {"threads", 2},
                 {"state", "offline"},
                 {"debug", true},
                 {"device_types", {"disk", "cd/dvd"}},
                 {"portals", {"127.0.0.1:3260"}},
                 {"transports", {{{"name", "iscsi"}, {"state", "ready"}}}},
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
  const std::string head =
      "System:\n    State: offline\n    debug: on\nLLDs:\n    iscsi: ready\n"
      "Backing stores:\n    rdwr\n    bad\nDevice types:\n    disk\n    cd/dvd\n"
      "iSNS:\n    iSNS=Off\n    iSNSServerIP=\n    iSNSServerPort=3205\n"
      "    iSNSAccessControl=Off\n";
  EXPECT_EQ(out.substr(0, head.size()), head) << out;
  for (const char* want : {"Daemon:\n", "Daemon pid: 42", "127.0.0.1:3260",
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
  EXPECT_NE(out.find("LLDs:\n    iscsi: error (cannot load lld_iscsi.so)\n    other: ready\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("    other: ready, version 0.1.0\n        Kind: transport\n"
                     "        Portals: 127.0.0.1:3260\n        Sessions: 1\n"),
            std::string::npos)
      << out;
  // A transport is listed under LLDs, not among the backing stores.
  EXPECT_NE(out.find("Backing stores:\n    null\nDevice types:"), std::string::npos) << out;
}

TEST(CliFormat, ConnSessionLldAccountAndStat) {
  json sessions = json::parse(R"({"sessions": [{"sid": 3, "tid": 1, "target": "iqn.t",
      "initiator": "iqn.i", "alias": "host1", "isid": "23d000000001", "tsih": 1,
      "conns": [{"cid": 0, "ip": "127.0.0.1", "peer": "127.0.0.1:5000",
                 "local": "127.0.0.1:3260"}]}]})");
  EXPECT_EQ(FormatResult({{"mode", "conn"}, {"op", "show"}}, sessions),
            "Session: 3\n    Connection: 0\n        Initiator: iqn.i\n"
            "        IP Address: 127.0.0.1\n");
  EXPECT_NE(FormatResult({{"mode", "session"}, {"op", "show"}}, sessions)
                .find("    Initiator: iqn.i alias: host1\n"),
            std::string::npos);
  json llds = json::parse(R"({"llds": [{"name": "iscsi", "state": "ready",
      "targets": [{"tid": 1, "name": "iqn.t"}]}]})");
  EXPECT_EQ(FormatResult({{"mode", "lld"}, {"op", "show"}}, llds),
            "LLDs:\n    iscsi: ready\n        Target 1: iqn.t\n");
  // tgtadm prints nothing without accounts, and bare names with.
  EXPECT_EQ(FormatResult({{"mode", "account"}, {"op", "show"}}, {{"accounts", json::array()}}), "");
  EXPECT_EQ(FormatResult({{"mode", "account"}, {"op", "show"}},
                         {{"accounts", {{{"user", "bob"}, {"bound", {"target 1"}}}}}}),
            "Account list:\n    bob\n");
  json stat = json::parse(R"({"luns": [{"tid": 1, "lun": 1, "stats": {"read_bytes": 749,
      "read_cmds": 9, "write_bytes": 0, "write_cmds": 0, "errors": 1, "commands": 10,
      "latency_us_sum": 1000, "latency_buckets": [{"le_us": 8, "count": 5},
      {"le_us": 16, "count": 5}]}}], "sessions": [], "portals": []})");
  std::string out = FormatResult({{"mode", "system"}, {"op", "stat"}}, stat);
  EXPECT_EQ(out.substr(0, out.find('\n', out.find('\n') + 1) + 1),
            "tgt lun sid rd_subm(bytes,cmds) rd_done(bytes,cmds) wr_subm(bytes,cmds) "
            "wr_done(bytes,cmds) errs\n"
            "  1   1   -          749      9          749      9            0      0"
            "            0      0    1\n")
      << out;
  EXPECT_NE(out.find("tid 1 lun 1: 10 commands, mean 100 us, 50% <= 8 us, 99% <= 16 us"),
            std::string::npos)
      << out;
}

TEST(CliFormat, SilentOpsAndHostileResults) {
  EXPECT_EQ(FormatResult({{"mode", "target"}, {"op", "new"}}, {{"tid", 1}}), "");
  // Wrong types and missing fields must not throw.
  for (const json& r : {json(nullptr), json::array(), json("x"), json{{"targets", 5}},
                        json{{"targets", {5, "x", nullptr}}}, json{{"luns", {{{"lun", "x"}}}}},
                        json{{"portals", {1, 2}}}, json{{"modules", {{{"users", 3}}}}},
                        json{{"sessions", {{{"conns", 5}}}}}, json{{"llds", {1}}}}) {
    for (const char* mode : {"system", "target", "logicalunit", "portal", "conn", "session",
                             "lld", "account", "other"}) {
      for (const char* op : {"show", "stat"}) {
        EXPECT_NO_THROW(FormatResult({{"mode", mode}, {"op", op}}, r)) << mode << r.dump();
      }
    }
  }
  EXPECT_EQ(FormatResult({{"mode", "portal"}, {"op", "show"}}, {{"portals", {"[::1]:3260"}}}),
            "Portal: [::1]:3260,1\n");
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
