// SPDX-License-Identifier: Apache-2.0
#include "core/lun_factory.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include "fakes/mem_backend.h"
#include "modtgt/module.h"

namespace modtgt::core {
namespace {

const std::string kIqn = "iqn.2026-11.org.modtgt.test:f";

LunRequest Req(uint64_t lun = 1) {
  LunRequest r;
  r.lun = lun;
  r.backing_store = "/srv/disk.img";
  return r;
}

// An opener that records what it was asked and counts opens.
struct CountingOpener {
  int opens = 0;
  DeviceConfig last;
  uint64_t size = 1 << 20;
  DeviceOpener Fn() {
    return [this](const DeviceConfig& cfg) -> Result<std::unique_ptr<scsi::Backend>> {
      ++opens;
      last = cfg;
      return std::unique_ptr<scsi::Backend>(std::make_unique<testing::MemBackend>(size));
    };
  }
};

TEST(LunFactory, DefaultsAndDeviceConfig) {
  auto plan = PlanLun(3, kIqn, Req(4));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->device.bstype, "rdwr");
  EXPECT_EQ(plan->device.cfgstring, "/srv/disk.img");
  EXPECT_EQ(plan->device.user, "tid 3 lun 4");
  EXPECT_EQ(plan->device.block_size, 512u);
  EXPECT_EQ(plan->device.oflags, 0u);
  EXPECT_FALSE(plan->device.readonly);
  EXPECT_TRUE(plan->device.write_cache);
  EXPECT_EQ(plan->lu.lun, 4u);
  EXPECT_EQ(plan->lu.block_size, 512u);
  EXPECT_EQ(plan->lu.serial.size(), 16u);
  EXPECT_EQ(plan->lu.naa >> 36, 0x6001405ull);
}

TEST(LunFactory, ParamsAreApplied) {
  LunRequest r = Req();
  r.bstype = "null";
  r.bsopts = "size=1G";
  r.bsoflags = "direct:sync";
  r.block_size = 4096;
  r.params = {{"readonly", "1"},        {"removable", "yes"},     {"thin_provisioning", "1"},
              {"write_cache", "0"},     {"vendor_id", "ACME"},    {"product_id", "SUPERDISK"},
              {"product_rev", "0042"},  {"scsi_sn", "SN123"},     {"scsi_id", "ID-1"},
              {"naa", "0x6001405123456789"}, {"size", "64M"}, {"max_transfer_blocks", "256"}};
  auto plan = PlanLun(1, kIqn, r);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->device.oflags, MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC);
  EXPECT_EQ(plan->device.block_size, 4096u);
  EXPECT_TRUE(plan->device.readonly);
  EXPECT_FALSE(plan->device.write_cache);
  EXPECT_EQ(plan->device.size, 64u << 20);
  EXPECT_EQ(plan->device.bsopts, "size=1G");
  EXPECT_TRUE(plan->lu.readonly);
  EXPECT_TRUE(plan->lu.removable);
  EXPECT_TRUE(plan->lu.thin_provisioning);
  EXPECT_FALSE(plan->lu.write_cache);
  EXPECT_EQ(plan->lu.vendor, "ACME");
  EXPECT_EQ(plan->lu.product, "SUPERDISK");
  EXPECT_EQ(plan->lu.revision, "0042");
  EXPECT_EQ(plan->lu.serial, "SN123");
  EXPECT_EQ(plan->lu.device_id, "ID-1");
  EXPECT_EQ(plan->lu.naa, 0x6001405123456789ull);
  EXPECT_EQ(plan->lu.max_transfer_blocks, 256u);
}

TEST(LunFactory, BadRequestsAreRefusedBeforeOpening) {
  std::vector<std::pair<std::string, LunRequest>> bad;
  auto add = [&](const std::string& what, auto mutate) {
    LunRequest r = Req();
    mutate(r);
    bad.emplace_back(what, r);
  };
  add("LUN", [](LunRequest& r) { r.lun = kMaxLun + 1; });
  add("backing-store", [](LunRequest& r) { r.backing_store = ""; });
  add("backing-store", [](LunRequest& r) { r.backing_store = "a\nb"; });
  add("bstype", [](LunRequest& r) { r.bstype = "../evil"; });
  add("bstype", [](LunRequest& r) { r.bstype = "RDWR"; });
  add("bsoflags", [](LunRequest& r) { r.bsoflags = "direct,async"; });
  add("blocksize", [](LunRequest& r) { r.block_size = 1000; });
  add("unknown parameter", [](LunRequest& r) { r.params = {{"bogus", "1"}}; });
  add("readonly", [](LunRequest& r) { r.params = {{"readonly", "maybe"}}; });
  add("vendor_id", [](LunRequest& r) { r.params = {{"vendor_id", "TOOLONGVENDOR"}}; });
  add("product_id", [](LunRequest& r) { r.params = {{"product_id", std::string(17, 'p')}}; });
  add("product_rev", [](LunRequest& r) { r.params = {{"product_rev", "12345"}}; });
  add("vendor_id", [](LunRequest& r) { r.params = {{"vendor_id", "a\x01"}}; });
  add("scsi_sn", [](LunRequest& r) { r.params = {{"scsi_sn", std::string(37, 's')}}; });
  add("scsi_sn", [](LunRequest& r) { r.params = {{"scsi_sn", "has space"}}; });
  add("naa", [](LunRequest& r) { r.params = {{"naa", "0x5001405123456789"}}; });
  add("naa", [](LunRequest& r) { r.params = {{"naa", "6001405"}}; });
  add("size", [](LunRequest& r) { r.params = {{"size", "10Q"}}; });
  add("size", [](LunRequest& r) { r.params = {{"size", "1000"}}; });  // not a 512 multiple
  add("size", [](LunRequest& r) { r.params = {{"size", "99999999999999999999T"}}; });
  add("twice", [](LunRequest& r) { r.params = {{"wce", "1"}, {"write_cache", "0"}}; });
  add("max_transfer_blocks", [](LunRequest& r) {
    r.params = {{"max_transfer_blocks", "4294967296"}};
  });
  for (const auto& [what, r] : bad) {
    auto plan = PlanLun(1, kIqn, r);
    ASSERT_FALSE(plan.ok()) << what;
    EXPECT_EQ(plan.status().code(), Code::kInvalidArgument) << what;
    EXPECT_NE(plan.status().message().find(what), std::string::npos)
        << what << ": " << plan.status().message();
  }
}

TEST(LunFactory, IdentityIsDeterministicAndDistinct) {
  auto a = PlanLun(1, kIqn, Req(1));
  auto a2 = PlanLun(7, kIqn, Req(1));  // the tid does not enter the identity
  auto b = PlanLun(1, kIqn, Req(2));
  auto c = PlanLun(1, kIqn + "x", Req(1));
  ASSERT_TRUE(a.ok() && a2.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->lu.serial, a2->lu.serial);
  EXPECT_EQ(a->lu.naa, a2->lu.naa);
  EXPECT_NE(a->lu.serial, b->lu.serial);
  EXPECT_NE(a->lu.naa, b->lu.naa);
  EXPECT_NE(a->lu.serial, c->lu.serial);
  EXPECT_NE(a->lu.naa, c->lu.naa);
  // Pinned values: changing the hash would change every initiator-visible identity.
  EXPECT_EQ(Fnv1a64("", 0), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a", 1), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(DeriveSerial(kIqn, 1), DeriveSerial(kIqn, 1));
  EXPECT_EQ(DeriveSerial(kIqn, 1).find_first_not_of("0123456789ABCDEF"), std::string::npos);
}

TEST(LunFactory, BsOflags) {
  EXPECT_EQ(ParseBsOflags("").value(), 0u);
  EXPECT_EQ(ParseBsOflags("direct").value(), MODTGT_OFLAG_DIRECT);
  EXPECT_EQ(ParseBsOflags("sync,direct").value(), MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC);
  EXPECT_FALSE(ParseBsOflags("fast").ok());
  EXPECT_EQ(FormatBsOflags(MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC), "direct,sync");
  EXPECT_EQ(FormatBsOflags(0), "");
}

TEST(LunFactory, CreateLunOpensOnceAndBuildsTheLu) {
  CountingOpener opener;
  LunRequest r = Req(2);
  r.params = {{"readonly", "1"}, {"vendor_id", "ACME"}};
  auto plan = PlanLun(1, kIqn, r);
  ASSERT_TRUE(plan.ok());
  auto lu = CreateLun(*plan, kIqn, opener.Fn());
  ASSERT_TRUE(lu.ok()) << lu.status().ToString();
  EXPECT_EQ(opener.opens, 1);
  EXPECT_EQ(opener.last.user, "tid 1 lun 2");
  EXPECT_TRUE(opener.last.readonly);
  EXPECT_EQ((*lu)->lun(), 2u);
  EXPECT_TRUE((*lu)->readonly());
  EXPECT_EQ((*lu)->config().vendor, "ACME");
  EXPECT_EQ((*lu)->config().serial, plan->lu.serial);
  EXPECT_EQ((*lu)->target_name(), kIqn);
  EXPECT_EQ((*lu)->num_blocks(), (1u << 20) / 512);
}

TEST(LunFactory, CreateLunPropagatesOpenFailureAndTinyDevices) {
  auto plan = PlanLun(1, kIqn, Req());
  ASSERT_TRUE(plan.ok());
  DeviceOpener failing = [](const DeviceConfig&) -> Result<std::unique_ptr<scsi::Backend>> {
    return Status::IoError("open /srv/disk.img: No such file or directory");
  };
  auto lu = CreateLun(*plan, kIqn, failing);
  ASSERT_FALSE(lu.ok());
  EXPECT_EQ(lu.status().code(), Code::kIoError);

  CountingOpener tiny;
  tiny.size = 100;
  lu = CreateLun(*plan, kIqn, tiny.Fn());
  ASSERT_FALSE(lu.ok());
  EXPECT_EQ(lu.status().code(), Code::kInvalidArgument);

  EXPECT_FALSE(CreateLun(*plan, kIqn, DeviceOpener()).ok());
}

TEST(LunFactory, ApplyParamsLeavesThePlanUntouchedOnError) {
  auto plan = PlanLun(1, kIqn, Req());
  ASSERT_TRUE(plan.ok());
  LunPlan p = *plan;
  Status s = ApplyLunParams({{"readonly", "1"}, {"vendor_id", "WAYTOOLONGVENDOR"}}, &p);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(p.lu.readonly);
  EXPECT_EQ(p.lu.vendor, plan->lu.vendor);
}

// With the real bs_null module (when built): a bad config is refused by the module and
// nothing is opened; a good one creates an LU the module lists as its user.
TEST(LunFactory, WithRealNullModule) {
  std::string dir = MODTGT_BUILD_MODULE_DIR;
  if (access((dir + "/backing-store/bs_null.so").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "bs_null.so not built";
  }
  ModuleRegistry modules;
  ASSERT_TRUE(modules.LoadDirectory(dir, {"null"}).ok());
  LunRequest r = Req(1);
  r.bstype = "null";
  r.backing_store = "null0";
  r.bsopts = "bogus=1";
  auto bad = CreateLun(&modules, 1, kIqn, r);
  EXPECT_FALSE(bad.ok());
  for (const auto& m : modules.List()) EXPECT_TRUE(m.users.empty());

  r.bsopts = "size=1G";
  DeviceConfig used;
  auto lu = CreateLun(&modules, 1, kIqn, r, &used);
  ASSERT_TRUE(lu.ok()) << lu.status().ToString();
  EXPECT_EQ((*lu)->num_blocks(), (1ull << 30) / 512);
  EXPECT_EQ(used.user, "tid 1 lun 1");
  bool listed = false;
  for (const auto& m : modules.List()) {
    for (const auto& u : m.users) listed = listed || u == "tid 1 lun 1";
  }
  EXPECT_TRUE(listed);
}

}  // namespace
}  // namespace modtgt::core
