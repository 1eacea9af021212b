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


// ---- targetcli-style creation ----

LunRequest Tcli(const std::string& cfgstring, const std::string& size = "64M") {
  LunRequest r;
  r.lun = 1;
  r.cfgstring = cfgstring;
  r.size = size;
  return r;
}

ModuleInfo Mod(const std::string& name, const std::string& subtype, uint32_t device_type = 0,
               uint32_t default_block_size = 0) {
  ModuleInfo m;
  m.name = name;
  m.subtype = subtype;
  m.device_type = device_type;
  m.default_block_size = default_block_size;
  m.state = ModuleState::kReady;
  return m;
}

const std::vector<ModuleInfo> kMods = {Mod("ram", "ram"), Mod("rdwr", "rdwr"),
                                       Mod("optical", "optical", MODTGT_DEVTYPE_CDROM),
                                       Mod("user", "file")};

TEST(LunFactory, ParseSizeUnits) {
  struct {
    const char* text;
    uint64_t bytes;
  } const good[] = {
      {"512", 512},           {"512B", 512},          {"512b", 512},
      {"4k", 4096},           {"4K", 4096},           {"4kB", 4096},
      {"4KB", 4096},          {"64m", 64ull << 20},   {"64M", 64ull << 20},
      {"64mB", 64ull << 20},  {"64MB", 64ull << 20},  {"2g", 2ull << 30},
      {"2G", 2ull << 30},     {"2gB", 2ull << 30},    {"2GB", 2ull << 30},
      {"1t", 1ull << 40},     {"1T", 1ull << 40},     {"1tB", 1ull << 40},
      {"1TB", 1ull << 40},    {"16777215T", 16777215ull << 40},
  };
  for (const auto& g : good) {
    Result<uint64_t> n = ParseSize(g.text);
    ASSERT_TRUE(n.ok()) << g.text << ": " << n.status().ToString();
    EXPECT_EQ(*n, g.bytes) << g.text;
  }
  for (const char* bad : {"", "0", "0M", "M", "10Q", "10MiB", "10 M", "-1", "1.5G", "10MBB",
                          "16777216T", "99999999999999999999", "0x10", "10kk"}) {
    Result<uint64_t> n = ParseSize(bad);
    EXPECT_FALSE(n.ok()) << "'" << bad << "' was accepted as " << (n.ok() ? *n : 0);
    if (!n.ok()) {
      EXPECT_EQ(n.status().code(), Code::kInvalidArgument);
      EXPECT_NE(n.status().message().find("size"), std::string::npos) << n.status().message();
    }
  }
}

TEST(LunFactory, CfgStringRules) {
  EXPECT_EQ(CfgStringSubtype("ram/").value(), "ram");
  EXPECT_EQ(CfgStringSubtype("rdwr//srv/a.img").value(), "rdwr");
  auto colon = CfgStringSubtype("rdwr/host:/srv/a");
  ASSERT_FALSE(colon.ok());
  EXPECT_NE(colon.status().message().find("':'"), std::string::npos) << colon.status().message();
  auto noslash = CfgStringSubtype("ram");
  ASSERT_FALSE(noslash.ok());
  EXPECT_NE(noslash.status().message().find("no '/'"), std::string::npos);
  EXPECT_FALSE(CfgStringSubtype("/srv/a.img").ok());  // empty subtype

  // Through PlanLun: refused with the same reason, with and without module information.
  for (const char* cfg : {"ram:x", "ram"}) {
    EXPECT_FALSE(PlanLun(1, kIqn, Tcli(cfg)).ok()) << cfg;
    EXPECT_FALSE(PlanLun(1, kIqn, Tcli(cfg), kMods).ok()) << cfg;
  }
  // Both or neither of --backing-store / --cfgstring.
  LunRequest both = Tcli("ram/x");
  both.backing_store = "/srv/a";
  auto p = PlanLun(1, kIqn, both, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("not both"), std::string::npos);
  LunRequest neither = Tcli("");
  p = PlanLun(1, kIqn, neither, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--cfgstring"), std::string::npos);
}

TEST(LunFactory, BstypeFromSubtypeAndMismatch) {
  auto p = PlanLun(2, kIqn, Tcli("ram/x"), kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->device.bstype, "ram");
  EXPECT_EQ(p->device.cfgstring, "ram/x");
  EXPECT_EQ(p->device.size, 64ull << 20);
  EXPECT_EQ(p->device_type, MODTGT_DEVTYPE_DISK);
  // A subtype differing from the module name.
  p = PlanLun(2, kIqn, Tcli("file//srv/a.img", ""), kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->device.bstype, "user");
  // Unknown subtype without --bstype.
  p = PlanLun(2, kIqn, Tcli("qcow/x"), kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("'qcow'"), std::string::npos) << p.status().message();
  // --bstype naming a module whose subtype differs.
  LunRequest r = Tcli("ram/x");
  r.bstype = "rdwr";
  p = PlanLun(2, kIqn, r, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("subtype 'ram'"), std::string::npos) << p.status().message();
  r.bstype = "ram";
  EXPECT_TRUE(PlanLun(2, kIqn, r, kMods).ok());
  // Without module information the subtype is the bstype.
  p = PlanLun(2, kIqn, Tcli("ram/x"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->device.bstype, "ram");
}

TEST(LunFactory, SizeMustBeABlockMultipleAndAgree) {
  auto p = PlanLun(1, kIqn, Tcli("ram/x", "1000"), kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("multiple of the block size 512"), std::string::npos);
  LunRequest r = Tcli("ram/x", "6k");
  r.control = {{"hw_block_size", "4096"}};
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("4096"), std::string::npos);
  r.size = "8k";
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->device.size, 8192u);
  r.params = {{"size", "16k"}};
  EXPECT_FALSE(PlanLun(1, kIqn, r, kMods).ok());
  r.params = {{"size", "8192"}};
  EXPECT_TRUE(PlanLun(1, kIqn, r, kMods).ok());
}

TEST(LunFactory, ControlKeys) {
  LunRequest r = Tcli("ram/x");
  r.control = {{"hw_block_size", "4096"}, {"max_data_area_mb", "8"}};
  auto p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->lu.block_size, 4096u);
  EXPECT_EQ(p->device.block_size, 4096u);
  EXPECT_EQ(p->device.max_data_area_mb, 8u);
  EXPECT_EQ(p->lu.max_transfer_blocks, (8u << 20) / 4096);  // capped to what fits
  EXPECT_EQ(p->device.hw_max_sectors, (8u << 20) / 4096);
  for (const char* bs : {"512", "1024", "2048", "4096"}) {
    r.control = {{"hw_block_size", bs}};
    p = PlanLun(1, kIqn, r, kMods);
    ASSERT_TRUE(p.ok()) << bs << ": " << p.status().ToString();
    EXPECT_EQ(p->lu.block_size, std::stoul(bs));
  }
  // Same as --blocksize; given both they must agree.
  r.control = {{"hw_block_size", "4096"}};
  r.block_size = 4096;
  EXPECT_TRUE(PlanLun(1, kIqn, r, kMods).ok());
  r.block_size = 512;
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("disagree"), std::string::npos);
  r.block_size = 0;
  struct {
    std::vector<std::pair<std::string, std::string>> control;
    const char* message_part;
  } const bad[] = {
      {{{"hw_block_size", "520"}}, "hw_block_size"},
      {{{"hw_block_size", "x"}}, "hw_block_size"},
      {{{"max_data_area_mb", "0"}}, "max_data_area_mb"},
      {{{"max_data_area_mb", "2049"}}, "max_data_area_mb"},
      {{{"queue_depth", "16"}}, "unknown --control key 'queue_depth'"},
      {{{"max_data_area_mb", "1"}, {"max_data_area_mb", "2"}}, "twice"},
  };
  for (const auto& b : bad) {
    r.control = b.control;
    p = PlanLun(1, kIqn, r, kMods);
    ASSERT_FALSE(p.ok()) << b.message_part;
    EXPECT_NE(p.status().message().find(b.message_part), std::string::npos)
        << p.status().message();
  }
  // max_data_area_mb caps an explicit hw_max_sectors too; a smaller one stays.
  r.control = {{"max_data_area_mb", "1"}};
  r.hw_max_sectors = 4096;
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.max_transfer_blocks, 2048u);
  r.hw_max_sectors = 100;
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.max_transfer_blocks, 100u);
}

TEST(LunFactory, HwMaxSectors) {
  LunRequest r = Tcli("ram/x");
  r.hw_max_sectors = 1024;
  auto p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.max_transfer_blocks, 1024u);
  EXPECT_EQ(p->device.hw_max_sectors, 1024u);
  r.hw_max_sectors = (64u << 20) / 512 + 1;
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--hw-max-sectors"), std::string::npos);
  r.hw_max_sectors = 1024;
  r.params = {{"max_transfer_blocks", "512"}};
  EXPECT_FALSE(PlanLun(1, kIqn, r, kMods).ok());
  // Default: no explicit limit.
  p = PlanLun(1, kIqn, Tcli("ram/x"), kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.max_transfer_blocks, 0u);
  EXPECT_EQ(p->device.hw_max_sectors, 0u);
}

TEST(LunFactory, WwnIsTheSerialAndTheNaaSource) {
  LunRequest r = Tcli("ram/x");
  r.wwn = "7b1f0b2c-1e4d-4c5b-9a10-0123456789ab";  // 36 characters, a targetcli UUID
  auto p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->lu.serial, r.wwn);
  EXPECT_EQ(p->device.wwn, r.wwn);
  EXPECT_EQ(p->lu.naa, NaaFromWwn(r.wwn));
  EXPECT_EQ(p->lu.naa >> 36, 0x6001405ull);
  // Deterministic, independent of target and LUN, distinct per wwn.
  auto q = PlanLun(9, kIqn + "other", [&] {
    LunRequest o = r;
    o.lun = 5;
    return o;
  }(), kMods);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->lu.naa, p->lu.naa);
  EXPECT_NE(NaaFromWwn("a"), NaaFromWwn("b"));
  EXPECT_NE(p->lu.naa, DeriveNaa(kIqn, 1));
  // Without a wwn: the derivation from (target, lun) as before.
  p = PlanLun(1, kIqn, Tcli("ram/x"), kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.serial, DeriveSerial(kIqn, 1));
  EXPECT_EQ(p->lu.naa, DeriveNaa(kIqn, 1));
  EXPECT_EQ(p->device.wwn, "");
  // An explicit naa wins over the derived one; a different scsi_sn is refused.
  r.params = {{"naa", "0x6001405aaaaaaaaa"}};
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.naa, 0x6001405aaaaaaaaaull);
  r.params = {{"scsi_sn", "OTHER"}};
  EXPECT_FALSE(PlanLun(1, kIqn, r, kMods).ok());
  r.params = {{"scsi_sn", r.wwn}};
  EXPECT_TRUE(PlanLun(1, kIqn, r, kMods).ok());
  r.params.clear();
  for (const std::string& bad : {std::string(37, 'w'), std::string("has space"),
                                 std::string("tab\there"), std::string("\x7f"),
                                 std::string("caf\xc3\xa9")}) {
    r.wwn = bad;
    p = PlanLun(1, kIqn, r, kMods);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_NE(p.status().message().find("--wwn"), std::string::npos) << p.status().message();
  }
  EXPECT_TRUE(CheckWwn(std::string(36, 'w')).ok());
  EXPECT_FALSE(CheckWwn("").ok());
}

TEST(LunFactory, DeviceType) {
  // The module's default: optical is a cd.
  auto p = PlanLun(1, kIqn, Tcli("optical//srv/a.iso", ""), kMods);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->device_type, MODTGT_DEVTYPE_CDROM);
  EXPECT_EQ(p->lu.block_size, 2048u);
  EXPECT_EQ(p->device.block_size, 2048u);
  EXPECT_TRUE(p->lu.removable);
  EXPECT_TRUE(p->lu.readonly);
  EXPECT_TRUE(p->device.readonly);
  // Forced either way.
  LunRequest r = Tcli("ram/x");
  r.device_type = "cd";
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->device_type, MODTGT_DEVTYPE_CDROM);
  EXPECT_EQ(p->lu.block_size, 2048u);
  r.device_type = "disk";
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->device_type, MODTGT_DEVTYPE_DISK);
  EXPECT_EQ(p->lu.block_size, 512u);
  EXPECT_FALSE(p->lu.removable);
  r.device_type = "tape";
  p = PlanLun(1, kIqn, r, kMods);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("--device-type"), std::string::npos);
  // A cd refuses other block sizes and readonly=0; a module default block size is used.
  r.device_type = "cd";
  r.control = {{"hw_block_size", "512"}};
  EXPECT_FALSE(PlanLun(1, kIqn, r, kMods).ok());
  r.control = {{"hw_block_size", "2048"}};
  EXPECT_TRUE(PlanLun(1, kIqn, r, kMods).ok());
  r.control.clear();
  r.params = {{"readonly", "0"}};
  EXPECT_FALSE(PlanLun(1, kIqn, r, kMods).ok());
  std::vector<ModuleInfo> mods = {Mod("big", "big", 0, 4096)};
  p = PlanLun(1, kIqn, Tcli("big/x"), mods);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->lu.block_size, 4096u);
}

TEST(LunFactory, CreateLunBuildsTheDeviceType) {
  CountingOpener opener;
  opener.size = 2048 * 100;
  LunRequest r = Tcli("ram/x", "");
  r.device_type = "cd";
  auto plan = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(plan.ok());
  auto lu = CreateLun(*plan, kIqn, opener.Fn());
  ASSERT_TRUE(lu.ok()) << lu.status().ToString();
  EXPECT_EQ((*lu)->type()->peripheral_type(), MODTGT_DEVTYPE_CDROM);
  EXPECT_EQ((*lu)->num_blocks(), 100u);
  r.device_type = "disk";
  plan = PlanLun(1, kIqn, r, kMods);
  ASSERT_TRUE(plan.ok());
  lu = CreateLun(*plan, kIqn, opener.Fn());
  ASSERT_TRUE(lu.ok());
  EXPECT_EQ((*lu)->type()->peripheral_type(), MODTGT_DEVTYPE_DISK);
}

}  // namespace
}  // namespace modtgt::core
