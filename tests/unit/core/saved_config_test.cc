// SPDX-License-Identifier: Apache-2.0
// core/saved_config: the state file's format (strict, with the place of every error) and
// the round trip of a LUN through it: plan -> saved -> request -> plan gives the same LUN.
#include "core/saved_config.h"

#include <string>

#include <gtest/gtest.h>

#include "modtgt/module.h"

namespace modtgt::core {
namespace {

using nlohmann::json;

const std::string kIqn = "iqn.2026-12.org.modtgt.test:saved";

SavedConfig Sample() {
  SavedConfig c;
  c.has_modules = true;
  c.backing_stores = {{"rdwr", ""}, {"x", "/opt/x/bs_x.so"}};
  c.transports = {{"iscsi", ""}};
  c.has_portals = true;
  c.portals["iscsi"] = {"127.0.0.1:0", "[::1]:3260"};
  SavedTarget t;
  t.tid = 3;
  t.name = kIqn;
  t.alias = "three";
  t.acl_addresses = {"10.0.0.0/8"};
  t.acl_names = {"iqn.2026-12.org.example:host"};
  t.alua.group = 2;
  t.alua.peers = {1, 3};
  t.alua.implicit = false;
  SavedLun l;
  l.lun = 7;
  l.bstype = "rdwr";
  l.cfgstring = "/srv/a.img";
  l.size = 1 << 30;
  l.hw_max_sectors = 256;
  l.control = "max_data_area_mb=8";
  l.thin_provisioning = true;
  l.write_cache = false;
  l.vendor_id = "ACME";
  l.product_id = "P";
  l.product_rev = "1";
  l.scsi_sn = "SN7";
  l.naa = 0x6001405123456789ull;
  l.online = false;
  l.sense_format = true;
  t.luns.push_back(l);
  t.iscsi = {{"MaxRecvDataSegmentLength", "65536"}, {"HeaderDigest", "CRC32C"}};
  t.state = "offline";
  c.targets.push_back(t);
  c.system_state = "offline";
  c.debug = true;
  return c;
}

TEST(SavedConfig, RoundTripsThroughItsText) {
  SavedConfig c = Sample();
  std::string text = SerializeSavedConfig(c);
  EXPECT_EQ(text.rfind("{\n  \"schema\": 1,", 0), 0u) << text.substr(0, 40);
  Result<SavedConfig> back = ParseSavedConfig(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, c);
  EXPECT_EQ(SerializeSavedConfig(*back), text);  // stable
  Result<SavedConfig> from_json = SavedConfigFromJson(SavedConfigJson(c));
  ASSERT_TRUE(from_json.ok());
  EXPECT_EQ(*from_json, c);
}

// The error for `text` (InvalidArgument), for the assertions below.
std::string ErrorOf(const std::string& text) {
  Result<SavedConfig> r = ParseSavedConfig(text);
  EXPECT_FALSE(r.ok()) << text;
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  return r.status().message();
}

TEST(SavedConfig, ErrorsNameThePlace) {
  json good = json::parse(SerializeSavedConfig(Sample()));
  auto with = [&](auto edit) {
    json j = good;
    edit(j);
    return ErrorOf(j.dump());
  };
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0]["colour"] = "red"; }),
            "targets[0].luns[0].colour: unknown key");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0]["size"] = "1G"; }),
            "targets[0].luns[0].size: must be a non-negative integer");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0].erase("scsi_sn"); }),
            "targets[0].luns[0].scsi_sn: missing");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0]["naa"] = "0x1234"; }),
            "targets[0].luns[0].naa: must be an NAA-6 value: \"0x6\" and 15 more hex digits");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0]["device_type"] = "tape"; }),
            "targets[0].luns[0].device_type: must be \"disk\" or \"cd\"");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"].push_back(j["targets"][0]["luns"][0]); }),
            "targets[0].luns[1].lun: LUN 7 given twice");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["acl"]["addresses"] = "ALL"; }),
            "targets[0].acl.addresses: must be an array of strings");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["tid"] = 0; }), "targets[0].tid: must be at least 1");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["alua"]["mode"] = "sometimes"; }),
            "targets[0].alua.mode: alua mode 'sometimes' is not implicit, explicit or both");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["alua"]["colour"] = "red"; }),
            "targets[0].alua.colour: unknown key");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["alua"].erase("group"); }),
            "targets[0].alua.group: missing");
  EXPECT_EQ(with([](json& j) {
              json t = j["targets"][0];
              t["tid"] = 4;
              t["name"] = kIqn;
              for (char& ch : t["name"].get_ref<std::string&>()) ch = static_cast<char>(toupper(ch));
              j["targets"].push_back(t);
            }),
            "targets[1].name: target name " + std::string("IQN.2026-12.ORG.MODTGT.TEST:SAVED") +
                " given twice");
  EXPECT_EQ(with([](json& j) { j["modules"]["backing_stores"][1]["path"] = "relative/bs.so"; }),
            "modules.backing_stores[1].path: must be an absolute path");
  // The tgt-compatible parts: the target's iSCSI parameters and state, the system.
  EXPECT_EQ(with([](json& j) { j["targets"][0]["iscsi"]["MaxRecvDataSegmentLength"] = "100"; }),
            "targets[0].iscsi.MaxRecvDataSegmentLength: MaxRecvDataSegmentLength: '100' is not a "
            "number in 512..16777215");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["iscsi"]["Bogus"] = "1"; }).rfind(
                "targets[0].iscsi.Bogus: unknown target parameter 'Bogus'", 0),
            0u);
  EXPECT_EQ(with([](json& j) { j["targets"][0]["iscsi"]["InitialR2T"] = true; }),
            "targets[0].iscsi.InitialR2T: must be a string");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["state"] = "gone"; }),
            "targets[0].state: must be \"ready\" or \"offline\"");
  EXPECT_EQ(with([](json& j) { j["system"]["state"] = "gone"; }),
            "system.state: must be \"ready\" or \"offline\"");
  EXPECT_EQ(with([](json& j) { j["system"]["colour"] = 1; }), "system.colour: unknown key");
  EXPECT_EQ(with([](json& j) { j["targets"][0]["luns"][0]["sense_format"] = 1; }),
            "targets[0].luns[0].sense_format: must be true or false");
  EXPECT_EQ(with([](json& j) { j["schema"] = 2; }),
            "schema 2 is not supported (this modtgtd reads schema 1)");
  EXPECT_EQ(with([](json& j) { j.erase("schema"); }), "schema: missing");
  EXPECT_EQ(ErrorOf("[]"), "the configuration must be a JSON object");
  EXPECT_EQ(ErrorOf(R"({"schema": 1, "schema": 1})"), "duplicate key \"schema\" in an object");
}

TEST(SavedConfig, OptionalPartsMayBeLeftOut) {
  Result<SavedConfig> c = ParseSavedConfig(R"({"schema": 1})");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->has_modules);
  EXPECT_FALSE(c->has_portals);
  EXPECT_TRUE(c->targets.empty());
  EXPECT_EQ(c->system_state, "ready");
  EXPECT_FALSE(c->debug);
  // A file written before the tgt-compatible fields existed reads as their defaults.
  Result<SavedConfig> old = ParseSavedConfig(
      R"({"schema": 1, "targets": [{"tid": 1, "name": "iqn.2026-12.org.x:t"}]})");
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->targets[0].state, "ready");
  EXPECT_TRUE(old->targets[0].iscsi.empty());
}

// plan -> saved -> request -> plan: the same LUN, identity included.
void ExpectRoundTrip(const LunRequest& req, const std::vector<ModuleInfo>& modules = {}) {
  Result<LunPlan> plan = PlanLun(3, kIqn, req, modules);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  SavedLun saved = SavedLunFromPlan(*plan);
  Result<LunPlan> again = PlanLun(3, kIqn, LunRequestFrom(saved), modules);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(SavedLunFromPlan(*again), saved);
  EXPECT_EQ(again->lu.serial, plan->lu.serial);
  EXPECT_EQ(again->lu.naa, plan->lu.naa);
  EXPECT_EQ(again->device.cfgstring, plan->device.cfgstring);
  EXPECT_EQ(again->device_type, plan->device_type);
  EXPECT_EQ(again->lu.max_transfer_blocks, plan->lu.max_transfer_blocks);
}

TEST(SavedConfig, LunsRoundTripThroughTheirRequest) {
  LunRequest plain;
  plain.lun = 1;
  plain.backing_store = "/srv/a.img";
  ExpectRoundTrip(plain);

  LunRequest targetcli;
  targetcli.lun = 2;
  targetcli.cfgstring = "ram/scratch";
  targetcli.bstype = "ram";
  targetcli.size = "64M";
  targetcli.wwn = "7b1f0b2c-disk2";
  targetcli.hw_max_sectors = 128;
  targetcli.control = {{"max_data_area_mb", "1"}, {"hw_block_size", "4096"}};
  targetcli.params = {{"thin_provisioning", "1"}, {"wce", "0"}, {"scsi_id", "id2"}};
  ExpectRoundTrip(targetcli);

  ModuleInfo optical;
  optical.name = "optical";
  optical.subtype = "optical";
  optical.device_type = MODTGT_DEVTYPE_CDROM;
  LunRequest cd;
  cd.lun = 3;
  cd.cfgstring = "optical//srv/disc.iso";
  ExpectRoundTrip(cd, {optical});
}

}  // namespace
}  // namespace modtgt::core
