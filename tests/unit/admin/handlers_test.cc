// SPDX-License-Identifier: Apache-2.0
// HandleRequest: every op, and every malformed request shape.
#include <unistd.h>

#include <cstdio>
#include <tuple>

#include <gtest/gtest.h>

#include "admin/protocol.h"
#include "admin/server.h"
#include "core/device.h"
#include "core/lun_factory.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "core/transport_registry.h"
#include "modtgt/module.h"
#include "scsi/sense.h"

namespace modtgt::admin {
namespace {

using nlohmann::json;

const std::string kIqn = "iqn.2026-11.org.modtgt.test:h";

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_.targets = &targets_;
    ctx_.transports = &transports_;
    ctx_.modules = &modules_;
    ctx_.version = "9.9.9";
    ctx_.threads = 3;
    ctx_.module_dir = MODTGT_BUILD_MODULE_DIR;
  }

  // Loads bs_null from the build tree; false when it is not built.
  bool LoadNull() {
    std::string dir = MODTGT_BUILD_MODULE_DIR;
    if (access((dir + "/backing-store/bs_null.so").c_str(), R_OK) != 0) return false;
    return modules_.LoadDirectory(dir, {"null"}).ok();
  }

  json Call(const json& req) { return HandleRequest(&ctx_, req); }

  json Ok(const json& req) {
    json r = Call(req);
    EXPECT_EQ(r.value("ok", false), true) << req.dump() << " -> " << r.dump();
    return r.contains("result") ? r["result"] : json();
  }

  // Expects an error with the given code name; returns the message.
  std::string Err(const json& req, const std::string& code) {
    json r = Call(req);
    EXPECT_EQ(r.value("ok", true), false) << req.dump() << " -> " << r.dump();
    if (!r.contains("error") || !r["error"].is_object()) {
      ADD_FAILURE() << "no error object: " << r.dump();
      return "";
    }
    EXPECT_EQ(r["error"].value("code", ""), code) << req.dump() << " -> " << r.dump();
    EXPECT_EQ(r["error"].value("exit", 0), ExitCodeForName(code));
    std::string msg = r["error"].value("message", "");
    EXPECT_FALSE(msg.empty());
    return msg;
  }

  void NewTarget(int tid, const std::string& name) {
    Ok({{"mode", "target"}, {"op", "new"}, {"tid", tid}, {"targetname", name}});
  }

  core::TargetRegistry targets_;
  core::ModuleRegistry modules_;
  // Nothing loaded: --lld NAME is known from the module files of the build tree
  // (lld_iscsi.so), and there are no sessions or portals.
  core::TransportRegistry transports_{core::TransportContext{}, MODTGT_BUILD_MODULE_DIR};
  AdminContext ctx_;
};

TEST(Protocol, ErrorTableIsClosedAndStable) {
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kInvalidRequest), "invalid-request");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNoSuchTarget), "no-such-target");
  EXPECT_EQ(ErrorExitCode(ErrorCode::kInvalidRequest), 2);
  EXPECT_EQ(ErrorExitCode(ErrorCode::kBusy), 7);
  EXPECT_EQ(ExitCodeForName("no-such-lun"), 5);
  EXPECT_EQ(ExitCodeForName("from-the-future"), 11);
  std::set<int> exits;
  std::set<std::string> names;
  for (const auto& e : kErrorTable) {
    EXPECT_TRUE(exits.insert(e.exit_code).second) << e.name;
    EXPECT_TRUE(names.insert(e.name).second) << e.name;
    EXPECT_NE(e.exit_code, 0);
    EXPECT_NE(e.exit_code, kExitCannotConnect);
    EXPECT_NE(e.exit_code, kExitBadReply);
  }
  json r = ErrorReply(ErrorCode::kLunExists, "m");
  EXPECT_EQ(r["error"]["code"], "lun-exists");
  EXPECT_EQ(r["ok"], false);
}

TEST(Protocol, ParamList) {
  auto p = ParseParamList("readonly=1,,vendor_id=A=B");
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[1].first, "vendor_id");
  EXPECT_EQ((*p)[1].second, "A=B");
  EXPECT_FALSE(ParseParamList("readonly").ok());
  EXPECT_FALSE(ParseParamList("=1").ok());
  EXPECT_TRUE(ParseParamList("")->empty());
}

TEST_F(HandlersTest, MalformedRequestShapes) {
  for (const json& req : {json::array({1, 2}), json("target"), json(5), json(nullptr),
                          json::object()}) {
    Err(req, "invalid-request");
  }
  EXPECT_NE(Err({{"op", "show"}}, "invalid-request").find("mode"), std::string::npos);
  EXPECT_NE(Err({{"mode", 5}, {"op", "show"}}, "invalid-request").find("mode"),
            std::string::npos);
  EXPECT_NE(Err({{"mode", "target"}}, "invalid-request").find("op"), std::string::npos);
  EXPECT_NE(Err({{"mode", "target"}, {"op", json::array()}}, "invalid-request").find("op"),
            std::string::npos);
  Err({{"mode", "nonsense"}, {"op", "show"}}, "invalid-request");
  Err({{"mode", "target"}, {"op", "frobnicate"}}, "invalid-request");
  Err({{"mode", "session"}, {"op", "new"}}, "invalid-request");
  // --mode account exists now: without an account registry it is an internal error.
  Err({{"mode", "account"}, {"op", "new"}, {"user", "u"}, {"password", "0123456789ab"}}, "internal");
  Err({{"mode", "system"}, {"op", "show"}, {"lld", "iser"}}, "unsupported");
  Err({{"mode", "system"}, {"op", "show"}, {"lld", 1}}, "invalid-request");
  // tid: wrong type, fraction, negative, zero, too big.
  for (const json& tid : {json("x"), json(1.5), json(-1), json(0), json(1ull << 40), json(true)}) {
    std::string msg = Err({{"mode", "target"}, {"op", "new"}, {"tid", tid}, {"targetname", kIqn}},
                          "invalid-request");
    EXPECT_NE(msg.find("tid"), std::string::npos) << msg;
  }
  EXPECT_NE(Err({{"mode", "target"}, {"op", "new"}, {"tid", 1}}, "invalid-request")
                .find("targetname"),
            std::string::npos);
  EXPECT_NE(Err({{"mode", "target"}, {"op", "new"}, {"tid", 1}, {"targetname", 7}},
                "invalid-request")
                .find("targetname"),
            std::string::npos);
  EXPECT_NE(Err({{"mode", "target"}, {"op", "new"}, {"tid", 1}, {"targetname", kIqn},
                 {"tragetname", kIqn}},
                "invalid-request")
                .find("tragetname"),
            std::string::npos);
  Err({{"mode", "target"}, {"op", "delete"}, {"tid", 1}, {"force", "yes"}}, "invalid-request");
  Err({{"mode", "target"}, {"op", "new"}, {"tid", 1}, {"targetname", std::string("iqn\0x", 5)}},
      "invalid-request");
  EXPECT_TRUE(targets_.List().empty()) << "a refused request created a target";
}

TEST_F(HandlersTest, NoContext) {
  AdminContext empty;
  json r = HandleRequest(&empty, {{"mode", "system"}, {"op", "show"}});
  EXPECT_EQ(r["error"]["code"], "internal");
  r = HandleRequest(nullptr, {{"mode", "system"}, {"op", "show"}});
  EXPECT_EQ(r["error"]["code"], "internal");
}

TEST_F(HandlersTest, SystemAndPortalShow) {
  NewTarget(1, kIqn);
  json r = Ok({{"mode", "system"}, {"op", "show"}, {"lld", "iscsi"}});
  EXPECT_EQ(r["version"], "9.9.9");
  EXPECT_EQ(r["pid"], getpid());
  EXPECT_EQ(r["threads"], 3);
  EXPECT_EQ(r["protocol"], kProtocolVersion);
  EXPECT_TRUE(r["portals"].is_array());
  EXPECT_TRUE(r["modules"].is_array());
  ASSERT_EQ(r["targets"].size(), 1u);
  EXPECT_EQ(r["targets"][0]["name"], kIqn);
  EXPECT_EQ(r["targets"][0]["luns"], 0);
  r = Ok({{"mode", "portal"}, {"op", "show"}});
  EXPECT_TRUE(r["portals"].is_array());
  Err({{"mode", "system"}, {"op", "show"}, {"tid", 1}}, "invalid-request");
}

TEST_F(HandlersTest, TargetLifecycle) {
  NewTarget(1, kIqn);
  Err({{"mode", "target"}, {"op", "new"}, {"tid", 1}, {"targetname", kIqn + "2"}},
      "target-exists");
  Err({{"mode", "target"}, {"op", "new"}, {"tid", 2}, {"targetname", kIqn}}, "target-exists");
  std::string msg = Err(
      {{"mode", "target"}, {"op", "new"}, {"tid", 3}, {"targetname", "not a valid name"}},
      "invalid-request");
  EXPECT_NE(msg.find("name"), std::string::npos);

  json r = Ok({{"mode", "target"}, {"op", "show"}});
  ASSERT_EQ(r["targets"].size(), 1u);
  EXPECT_EQ(r["targets"][0]["tid"], 1);
  EXPECT_TRUE(r["targets"][0]["luns"].empty());
  EXPECT_TRUE(r["targets"][0]["acl"]["addresses"].empty());
  r = Ok({{"mode", "target"}, {"op", "show"}, {"targetname", kIqn}});
  EXPECT_EQ(r["targets"][0]["tid"], 1);
  Err({{"mode", "target"}, {"op", "show"}, {"tid", 5}}, "no-such-target");
  Err({{"mode", "target"}, {"op", "show"}, {"tid", 1}, {"targetname", kIqn + "x"}},
      "invalid-request");

  // Bind/unbind.
  Ok({{"mode", "target"}, {"op", "bind"}, {"tid", 1}, {"initiator_address", "ALL"}});
  Err({{"mode", "target"}, {"op", "bind"}, {"tid", 1}, {"initiator_address", "ALL"}},
      "acl-exists");
  Err({{"mode", "target"}, {"op", "bind"}, {"tid", 1}, {"initiator_address", "10.0.0.300"}},
      "invalid-request");
  Err({{"mode", "target"}, {"op", "bind"}, {"tid", 1}}, "invalid-request");
  Err({{"mode", "target"}, {"op", "bind"}, {"tid", 9}, {"initiator_address", "ALL"}},
      "no-such-target");
  r = Ok({{"mode", "target"},
          {"op", "bind"},
          {"tid", 1},
          {"initiator_address", "192.168.7.9/24"},
          {"initiator_name", "iqn.2026-11.org.client:a"}});
  EXPECT_EQ(r["acl"]["addresses"], json::array({"ALL", "192.168.7.0/24"}));
  EXPECT_EQ(r["acl"]["names"], json::array({"iqn.2026-11.org.client:a"}));
  // A half-failing bind changes nothing: the address is new but the name is a duplicate.
  Err({{"mode", "target"},
       {"op", "bind"},
       {"tid", 1},
       {"initiator_address", "10.1.1.1"},
       {"initiator_name", "iqn.2026-11.org.client:a"}},
      "acl-exists");
  EXPECT_EQ(targets_.FindByTid(1)->bound_addresses().size(), 2u);
  Ok({{"mode", "target"}, {"op", "unbind"}, {"tid", 1}, {"initiator_address", "ALL"}});
  Err({{"mode", "target"}, {"op", "unbind"}, {"tid", 1}, {"initiator_address", "ALL"}},
      "no-such-acl");
  Ok({{"mode", "target"}, {"op", "unbind"}, {"tid", 1}, {"initiator_name", "iqn.2026-11.org.client:a"}});

  // Delete refuses while sessions exist unless forced.
  targets_.FindByTid(1)->sessions = 2;
  msg = Err({{"mode", "target"}, {"op", "delete"}, {"tid", 1}}, "busy");
  EXPECT_NE(msg.find("session"), std::string::npos);
  EXPECT_NE(targets_.FindByTid(1), nullptr);
  Ok({{"mode", "target"}, {"op", "delete"}, {"tid", 1}, {"force", true}});
  EXPECT_EQ(targets_.FindByTid(1), nullptr);
  Err({{"mode", "target"}, {"op", "delete"}, {"tid", 1}}, "no-such-target");
  Err({{"mode", "target"}, {"op", "delete"}}, "invalid-request");
}

TEST_F(HandlersTest, LogicalUnitValidationCreatesNothing) {
  NewTarget(1, kIqn);
  json base = {{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 1},
               {"backing_store", "/nonexistent"}};
  auto with = [&](const char* k, const json& v) {
    json r = base;
    r[k] = v;
    return r;
  };
  Err(with("tid", 9), "no-such-target");
  Err(with("lun", -1), "invalid-request");
  Err(with("lun", 16384), "invalid-request");
  Err(with("lun", "1"), "invalid-request");
  Err(with("backing_store", 3), "invalid-request");
  Err(with("blocksize", 1000), "invalid-request");
  Err(with("blocksize", "512"), "invalid-request");
  Err(with("bsoflags", "fast"), "invalid-request");
  EXPECT_NE(Err(with("params", {{"bogus", "1"}}), "invalid-request").find("bogus"),
            std::string::npos);
  Err(with("params", "readonly"), "invalid-request");
  Err(with("params", json::array({"readonly=1"})), "invalid-request");
  Err(with("params", {{"readonly", json::array()}}), "invalid-request");
  Err(with("params", {{"readonly", 1.5}}), "invalid-request");
  json no_bs = base;
  no_bs.erase("backing_store");
  EXPECT_NE(Err(no_bs, "invalid-request").find("backing_store"), std::string::npos);
  std::string msg = Err(with("bstype", "nosuch"), "no-such-module");
  EXPECT_NE(msg.find("nosuch"), std::string::npos);
  EXPECT_TRUE(targets_.FindByTid(1)->ListLuns().empty());
  Err({{"mode", "logicalunit"}, {"op", "show"}, {"tid", 1}, {"lun", 1}}, "no-such-lun");
  Err({{"mode", "logicalunit"}, {"op", "delete"}, {"tid", 1}, {"lun", 1}}, "no-such-lun");
  Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 1},
       {"params", "readonly=1"}},
      "no-such-lun");
}

TEST_F(HandlersTest, LogicalUnitLifecycleWithNullModule) {
  if (!LoadNull()) GTEST_SKIP() << "bs_null.so not built";
  NewTarget(1, kIqn);
  json req = {{"mode", "logicalunit"}, {"op", "new"},        {"tid", 1},
              {"lun", 3},             {"bstype", "null"},   {"backing_store", "null0"},
              {"bsopts", "size=1G"},  {"blocksize", 4096},  {"params", "vendor_id=ACME,wce=0"}};
  json r = Ok(req);
  EXPECT_EQ(r["lun"]["lun"], 3);
  EXPECT_EQ(r["lun"]["size_bytes"], 1ull << 30);
  EXPECT_EQ(r["lun"]["block_size"], 4096);
  EXPECT_EQ(r["lun"]["vendor_id"], "ACME");
  EXPECT_EQ(r["lun"]["write_cache"], false);
  EXPECT_EQ(r["lun"]["bstype"], "null");
  EXPECT_EQ(r["lun"]["backing_store"], "null0");
  std::string sn = r["lun"]["scsi_sn"];
  EXPECT_EQ(sn.size(), 16u);
  Err(req, "lun-exists");

  // The module refusing its config is a module error, and creates nothing.
  json bad = req;
  bad["lun"] = 4;
  bad["bsopts"] = "colour=blue";
  Err(bad, "module-error");
  EXPECT_EQ(targets_.FindByTid(1)->ListLuns(), std::vector<uint64_t>{3});

  // A second LU gives the first REPORTED LUNS DATA HAS CHANGED.
  auto lu3 = targets_.FindByTid(1)->FindLun(3);
  scsi::Nexus n;
  n.id = 11;
  scsi::Asc code{};
  while (lu3->TakeUnitAttention(n, &code)) {
  }
  json second = req;
  second["lun"] = 0;
  second.erase("params");
  Ok(second);
  ASSERT_TRUE(lu3->TakeUnitAttention(n, &code));
  EXPECT_EQ(code, scsi::asc::kReportedLunsDataHasChanged);

  r = Ok({{"mode", "logicalunit"}, {"op", "show"}, {"tid", 1}});
  ASSERT_EQ(r["luns"].size(), 2u);
  EXPECT_EQ(r["luns"][0]["lun"], 0);
  r = Ok({{"mode", "target"}, {"op", "show"}, {"tid", 1}});
  EXPECT_EQ(r["targets"][0]["luns"].size(), 2u);
  r = Ok({{"mode", "system"}, {"op", "show"}});
  bool user_listed = false;
  for (const auto& m : r["modules"]) {
    for (const auto& u : m["users"]) user_listed = user_listed || u == "tid 1 lun 3";
  }
  EXPECT_TRUE(user_listed);

  // Live update of the write cache keeps the same LU object.
  r = Ok({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
          {"params", {{"wce", true}}}});
  EXPECT_EQ(r["rebuilt"], false);
  EXPECT_EQ(targets_.FindByTid(1)->FindLun(3), lu3);
  EXPECT_TRUE(lu3->wce.load());
  // readonly rebuilds the LU with the same identity.
  r = Ok({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
          {"params", "readonly=1"}});
  EXPECT_EQ(r["rebuilt"], true);
  auto lu3b = targets_.FindByTid(1)->FindLun(3);
  EXPECT_NE(lu3b, lu3);
  EXPECT_TRUE(lu3b->readonly());
  EXPECT_EQ(lu3b->config().serial, sn);
  EXPECT_EQ(lu3b->config().vendor, "ACME");
  EXPECT_TRUE(lu3b->wce.load());
  targets_.FindByTid(1)->sessions = 1;  // identity may change only with nobody logged in
  Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
       {"params", "scsi_sn=OTHER"}},
      "busy");
  targets_.FindByTid(1)->sessions = 0;
  Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3}}, "invalid-request");
  Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
       {"backing_store", "x"}, {"params", "readonly=0"}},
      "invalid-request");

  Ok({{"mode", "logicalunit"}, {"op", "delete"}, {"tid", 1}, {"lun", 3}});
  Err({{"mode", "logicalunit"}, {"op", "delete"}, {"tid", 1}, {"lun", 3}}, "no-such-lun");
  EXPECT_EQ(targets_.FindByTid(1)->ListLuns(), std::vector<uint64_t>{0});
  Ok({{"mode", "target"}, {"op", "delete"}, {"tid", 1}});
}

TEST_F(HandlersTest, BsLoad) {
  Err({{"mode", "system"}, {"op", "bsload"}}, "invalid-request");
  Err({{"mode", "system"}, {"op", "bsload"}, {"bstype", "../x"}}, "invalid-request");
  // A name with no file says it is not installed, where it looked and what provides it.
  EXPECT_EQ(Err({{"mode", "system"}, {"op", "bsload"}, {"bstype", "nosuchmodule"}},
                "no-such-module"),
            std::string("backing store 'nosuchmodule' is not installed (no bs_nosuchmodule.so in ") +
                MODTGT_BUILD_MODULE_DIR + "/backing-store; install modtgt-nosuchmodule)");
  std::string dir = MODTGT_BUILD_MODULE_DIR;
  if (access((dir + "/backing-store/bs_null.so").c_str(), R_OK) != 0) {
    GTEST_SKIP() << "bs_null.so not built";
  }
  json r = Ok({{"mode", "system"}, {"op", "bsload"}, {"bstype", "null"}});
  EXPECT_EQ(r["module"]["name"], "null");
  EXPECT_EQ(r["module"]["state"], "ready");

  // Unload is refused while a LUN uses the module.
  NewTarget(1, kIqn);
  Ok({{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 0}, {"bstype", "null"},
      {"backing_store", "1G"}});
  std::string msg = Err({{"mode", "system"}, {"op", "bsunload"}, {"bstype", "null"}}, "busy");
  EXPECT_NE(msg.find("tid 1 lun 0"), std::string::npos) << msg;
  Ok({{"mode", "logicalunit"}, {"op", "delete"}, {"tid", 1}, {"lun", 0}});
  Ok({{"mode", "system"}, {"op", "bsunload"}, {"bstype", "null"}});
  Err({{"mode", "system"}, {"op", "bsunload"}, {"bstype", "null"}}, "no-such-module");
  Err({{"mode", "system"}, {"op", "bsunload"}}, "invalid-request");
}

std::string TestModule(const std::string& name) {
  return std::string(MODTGT_TEST_MODULE_DIR) + "/backing-store/bs_" + name + ".so";
}

TEST_F(HandlersTest, BsLoadByPathReportsEachRefusalWithItsMessage) {
  struct Case {
    const char* module;
    const char* message_part;
  } const cases[] = {
      {"notelf", "invalid ELF header"},
      {"noentry", "has no entry point modtgt_module_init"},
      {"abi2", "was built for ABI 2.0, this daemon speaks 1."},
      {"noread", "has no .read callback"},
      {"undef", "modtgt_test_no_such_symbol"},
      {"missingdep", "libmodtgt_test_gone.so"},
  };
  for (const Case& c : cases) {
    std::string msg = Err({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule(c.module)}},
                          "module-error");
    EXPECT_NE(msg.find(c.message_part), std::string::npos) << c.module << ": " << msg;
  }
  // Duplicates: name and subtype.
  Ok({{"mode", "system"}, {"op", "bsload"}, {"bstype", TestModule("ctest")}});  // '/' = path
  // Duplicates are AlreadyExists, reported as busy like loading a loaded module again.
  std::string msg = Err({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("dupname")}},
                        "busy");
  EXPECT_NE(msg.find("duplicate backing store name 'ctest'"), std::string::npos) << msg;
  msg = Err({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("dupsub")}}, "busy");
  EXPECT_NE(msg.find("duplicate backing store subtype 'ctest'"), std::string::npos) << msg;
  // Nothing of the refused ones is listed.
  json show = Ok({{"mode", "system"}, {"op", "show"}});
  ASSERT_EQ(show["modules"].size(), 1u);
  EXPECT_EQ(show["modules"][0]["name"], "ctest");
  // Path checks.
  Err({{"mode", "system"}, {"op", "bsload"}, {"path", "relative/bs_x.so"}}, "invalid-request");
  Err({{"mode", "system"}, {"op", "bsload"}, {"path", "/nonexistent/bs_x.so"}}, "no-such-module");
  // A bstype that does not match the file's module: refused, nothing stays.
  msg = Err({{"mode", "system"}, {"op", "bsload"}, {"bstype", "other"}, {"path", TestModule("ver1")}},
            "invalid-request");
  EXPECT_NE(msg.find("is backing store 'ver', not 'other'"), std::string::npos) << msg;
  EXPECT_EQ(Ok({{"mode", "system"}, {"op", "show"}})["modules"].size(), 1u);
}

TEST_F(HandlersTest, FailedLoadIsListedInErrorThenRetriedByName) {
  std::string msg = Err({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("loadretry")}},
                        "module-error");
  EXPECT_NE(msg.find("first attempt fails (attempt 1)"), std::string::npos) << msg;
  json show = Ok({{"mode", "system"}, {"op", "show"}});
  ASSERT_EQ(show["modules"].size(), 1u);
  EXPECT_EQ(show["modules"][0]["state"], "error");
  EXPECT_EQ(show["modules"][0]["error"], "first attempt fails (attempt 1)");
  // No LUN on a module in error.
  NewTarget(1, kIqn);
  msg = Err({{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 1}, {"bstype", "loadretry"},
             {"backing_store", "x"}},
            "module-error");
  EXPECT_NE(msg.find("not ready (state error: first attempt fails"), std::string::npos) << msg;
  // bsload by name retries the file it came from (not <module_dir>).
  json r = Ok({{"mode", "system"}, {"op", "bsload"}, {"bstype", "loadretry"}});
  EXPECT_EQ(r["module"]["state"], "ready");
  EXPECT_EQ(r["module"]["error"], "");
  Ok({{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 1}, {"bstype", "loadretry"},
      {"backing_store", "x"}});
}

TEST_F(HandlersTest, BsReload) {
  Err({{"mode", "system"}, {"op", "bsreload"}}, "invalid-request");
  Err({{"mode", "system"}, {"op", "bsreload"}, {"bstype", "ver"}}, "no-such-module");
  Ok({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("ver1")}});
  NewTarget(1, kIqn);
  Ok({{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 1}, {"bstype", "ver"},
      {"backing_store", "x"}});
  json r = Ok({{"mode", "system"}, {"op", "bsreload"}, {"bstype", "ver"}, {"path", TestModule("ver2")}});
  EXPECT_EQ(r["module"]["version"], "2.0");
  EXPECT_EQ(r["module"]["state"], "ready");
  EXPECT_EQ(r["module"]["users"], json::array({"tid 1 lun 1"}));
  // ver1 is an ABI 1.0 build, ver2 a current one (module.h's MODTGT_ABI_MAJOR.MINOR).
  EXPECT_EQ(r["module"]["abi"],
            std::to_string(MODTGT_ABI_MAJOR) + "." + std::to_string(MODTGT_ABI_MINOR));
  std::string msg = Err({{"mode", "system"}, {"op", "bsreload"}, {"bstype", "ver"},
                         {"path", TestModule("verloadfail")}},
                        "module-error");
  EXPECT_NE(msg.find("no licence for the frobnicator"), std::string::npos) << msg;
  EXPECT_NE(msg.find("rolled back"), std::string::npos) << msg;
  json show = Ok({{"mode", "system"}, {"op", "show"}});
  EXPECT_EQ(show["modules"][0]["version"], "2.0");
  EXPECT_EQ(show["modules"][0]["state"], "ready");
  Err({{"mode", "system"}, {"op", "bsreload"}, {"bstype", "ver"}, {"path", "/nonexistent/bs.so"}},
      "no-such-module");
  // Same file again (no path): fine.
  Ok({{"mode", "system"}, {"op", "bsreload"}, {"bstype", "ver"}});
}


// ---- targetcli-style creation, check, resize, medium ops ----

class TargetcliTest : public HandlersTest {
 protected:
  void SetUp() override {
    HandlersTest::SetUp();
    Ok({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("ctest")}});
    NewTarget(1, kIqn);
  }
  json NewReq(int lun) {
    return {{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", lun},
            {"cfgstring", "ctest/disk"}, {"size", "2M"}};
  }
  bool CtestHas(bool core::ModuleInfo::*field) {
    for (const auto& m : modules_.List()) {
      if (m.name == "ctest") return m.*field;
    }
    return false;
  }
  std::vector<uint64_t> Luns() { return targets_.FindByTid(1)->ListLuns(); }
};

TEST_F(TargetcliTest, NewWithEveryOptionAndShow) {
  json req = NewReq(1);
  req["bstype"] = "ctest";
  req["wwn"] = "7b1f0b2c-1e4d-4c5b-9a10-0123456789ab";
  req["hw_max_sectors"] = 64;
  req["control"] = "max_data_area_mb=16,hw_block_size=4096";
  json r = Ok(req);
  json lu = r["lun"];
  EXPECT_EQ(lu["device_type"], "disk");
  EXPECT_EQ(lu["type"], "disk");
  EXPECT_EQ(lu["size"], 2u << 20);
  EXPECT_EQ(lu["size_bytes"], 2u << 20);
  EXPECT_EQ(lu["block_size"], 4096);
  EXPECT_EQ(lu["blocks"], 512);
  EXPECT_EQ(lu["cfgstring"], "ctest/disk");
  EXPECT_EQ(lu["bstype"], "ctest");
  EXPECT_EQ(lu["wwn"], req["wwn"]);
  EXPECT_EQ(lu["scsi_sn"], req["wwn"]);
  char naa[24];
  std::snprintf(naa, sizeof(naa), "0x%016llx",
                static_cast<unsigned long long>(core::NaaFromWwn(req["wwn"])));
  EXPECT_EQ(lu["naa"], naa);
  EXPECT_EQ(lu["hw_max_sectors"], 64);
  EXPECT_EQ(lu["max_transfer_blocks"], 64);
  EXPECT_EQ(lu["max_data_area_mb"], 16);
  EXPECT_EQ(lu["write_cache"], true);
  EXPECT_FALSE(lu.contains("medium_present"));  // disks only show it as cd
  ASSERT_TRUE(lu.contains("lock"));
  EXPECT_EQ(lu["lock"]["supported"], CtestHas(&core::ModuleInfo::has_lock));
  EXPECT_TRUE(lu["lock"]["state"] == "unlocked" || lu["lock"]["state"] == "unknown")
      << lu["lock"];
  ASSERT_TRUE(lu.contains("events"));
  EXPECT_EQ(lu["events"]["lock_lost"], 0);
  EXPECT_EQ(lu["events"]["conn_lost"], 0);
  EXPECT_EQ(lu["events"]["conn_restored"], 0);
  EXPECT_EQ(lu["events"]["connected"], true);
  EXPECT_EQ(lu["events"]["last"], "");
  auto unit = targets_.FindByTid(1)->FindLun(1);
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->block_size(), 4096u);
  EXPECT_EQ(unit->config().max_transfer_blocks, 64u);
  EXPECT_EQ(unit->config().serial, req["wwn"]);
  // The device config the module sees.
  auto* dev = dynamic_cast<core::Device*>(unit->backend());
  ASSERT_NE(dev, nullptr);
  const modtgt_dev_config* cfg = &dev->dev()->config;
  EXPECT_EQ(cfg->hw_max_sectors, 64u);
  EXPECT_EQ(cfg->max_data_area_mb, 16u);
  EXPECT_STREQ(cfg->wwn, "7b1f0b2c-1e4d-4c5b-9a10-0123456789ab");
  EXPECT_EQ(cfg->size, 2u << 20);
  EXPECT_EQ(cfg->block_size, 4096u);
  // Shown the same by logicalunit show and target show.
  json shown = Ok({{"mode", "logicalunit"}, {"op", "show"}, {"tid", 1}, {"lun", 1}})["luns"][0];
  EXPECT_EQ(shown["wwn"], req["wwn"]);
  EXPECT_EQ(shown["cfgstring"], "ctest/disk");
  json t = Ok({{"mode", "target"}, {"op", "show"}, {"tid", 1}})["targets"][0];
  EXPECT_EQ(t["luns"][0]["hw_max_sectors"], 64);
  // bstype omitted: found by the subtype; sizes in several units.
  for (const auto& [lun, size, bytes] :
       std::vector<std::tuple<int, json, uint64_t>>{{2, "1M", 1u << 20},
                                                    {3, "1536kB", 1536u << 10},
                                                    {4, 4194304, 4u << 20},
                                                    {5, "8192B", 8192}}) {
    json q = NewReq(lun);
    q["size"] = size;
    r = Ok(q);
    EXPECT_EQ(r["lun"]["bstype"], "ctest");
    EXPECT_EQ(r["lun"]["size"], bytes) << size;
  }
  // A rebuild with a new transfer limit tells the module too.
  r = Ok({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 2},
          {"params", "max_transfer_blocks=32"}});
  EXPECT_EQ(r["rebuilt"], true);
  EXPECT_EQ(r["lun"]["hw_max_sectors"], 32);
  EXPECT_EQ(r["lun"]["max_transfer_blocks"], 32);
}

TEST_F(TargetcliTest, RefusalsCreateNothing) {
  struct Case {
    const char* field;
    json value;
    const char* code;
    const char* message_part;
  } const cases[] = {
      {"cfgstring", "ctest:disk", "invalid-request", "':'"},
      {"cfgstring", "ctest/a:b", "invalid-request", "':'"},
      {"cfgstring", "ctestdisk", "invalid-request", "no '/'"},
      {"cfgstring", "nosuch/x", "invalid-request", "subtype 'nosuch'"},
      {"backing_store", "/srv/x", "invalid-request", "not both"},
      {"bstype", "ver", "no-such-module", "'ver'"},  // not loaded
      {"size", "2M5", "invalid-request", "size"},
      {"size", "1000", "invalid-request", "multiple of the block size"},
      {"size", 0, "invalid-request", "size"},
      {"size", -5, "invalid-request", "size"},
      {"size", json::array(), "invalid-request", "size"},
      {"wwn", "has space", "invalid-request", "--wwn"},
      {"wwn", std::string(37, 'w'), "invalid-request", "--wwn"},
      {"wwn", "", "invalid-request", "wwn"},
      {"hw_max_sectors", 0, "invalid-request", "hw_max_sectors"},
      {"hw_max_sectors", 1 << 20, "invalid-request", "--hw-max-sectors"},
      {"control", "colour=blue", "invalid-request", "unknown --control key 'colour'"},
      {"control", "hw_block_size=520", "invalid-request", "hw_block_size"},
      {"control", "max_data_area_mb=4096", "invalid-request", "max_data_area_mb"},
      {"control", "hw_block_size", "invalid-request", "hw_block_size"},
      {"device_type", "tape", "unsupported", "disks (disk) and CD/DVD drives (cd) only"},
      {"device_type", "floppy", "invalid-request", "unknown device type 'floppy'"},
  };
  for (const Case& c : cases) {
    json req = NewReq(1);
    req[c.field] = c.value;
    std::string msg = Err(req, c.code);
    EXPECT_NE(msg.find(c.message_part), std::string::npos) << c.field << "=" << c.value << ": "
                                                           << msg;
    req["op"] = "check";
    Err(req, c.code);
  }
  // --blocksize and hw_block_size disagreeing.
  json req = NewReq(1);
  req["blocksize"] = 512;
  req["control"] = {{"hw_block_size", "4096"}};
  EXPECT_NE(Err(req, "invalid-request").find("disagree"), std::string::npos);
  // A subtype that does not match the module named by bstype.
  Ok({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("ver1")}});
  req = NewReq(1);
  req["bstype"] = "ver";
  std::string msg = Err(req, "invalid-request");
  EXPECT_NE(msg.find("'ver' takes config strings 'ver/...'"), std::string::npos) << msg;
  // Neither backing_store nor cfgstring.
  req = NewReq(1);
  req.erase("cfgstring");
  EXPECT_NE(Err(req, "invalid-request").find("cfgstring"), std::string::npos);
  // The module's check_config refusing.
  req = NewReq(1);
  req["cfgstring"] = "ctest/reject";
  msg = Err(req, "module-error");
  EXPECT_NE(msg.find("ctest rejects path 'reject'"), std::string::npos) << msg;
  EXPECT_TRUE(Luns().empty());
  for (const auto& m : modules_.List()) EXPECT_TRUE(m.users.empty()) << m.name;
}

TEST_F(TargetcliTest, CheckValidatesAndCreatesNothing) {
  json req = NewReq(1);
  req["op"] = "check";
  req["wwn"] = "SERIAL42";
  json r = Ok(req);
  EXPECT_EQ(r["ok"], true);
  EXPECT_EQ(r["bstype"], "ctest");
  EXPECT_EQ(r["size"], 2u << 20);
  EXPECT_EQ(r["scsi_sn"], "SERIAL42");
  EXPECT_EQ(r["device_type"], "disk");
  EXPECT_TRUE(Luns().empty()) << "check created a LUN";
  for (const auto& m : modules_.List()) EXPECT_TRUE(m.users.empty()) << m.name;
  // The module's reason, and still nothing.
  req["cfgstring"] = "ctest/reject";
  std::string msg = Err(req, "module-error");
  EXPECT_NE(msg.find("ctest rejects path 'reject'"), std::string::npos) << msg;
  EXPECT_TRUE(Luns().empty());
  // check on a taken LUN number says so, as new would.
  Ok(NewReq(1));
  req = NewReq(1);
  req["op"] = "check";
  Err(req, "lun-exists");
  req["tid"] = 7;
  Err(req, "no-such-target");
  req = NewReq(2);
  req["op"] = "check";
  req["bstype"] = "nosuch";
  req["cfgstring"] = "nosuch/x";
  Err(req, "no-such-module");
  EXPECT_EQ(Luns(), std::vector<uint64_t>{1});
  // The old tgtadm form checks too.
  req = {{"mode", "logicalunit"}, {"op", "check"}, {"tid", 1}, {"lun", 2}, {"bstype", "ctest"},
         {"backing_store", "x"}};
  Ok(req);
  EXPECT_EQ(Luns(), std::vector<uint64_t>{1});
}

TEST_F(TargetcliTest, UpdateSize) {
  Ok(NewReq(1));
  auto lu = targets_.FindByTid(1)->FindLun(1);
  scsi::Nexus n;
  n.id = 21;
  scsi::Asc code{};
  while (lu->TakeUnitAttention(n, &code)) {
  }
  json up = {{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 1}};
  auto with = [&](const char* k, const json& v) {
    json r = up;
    r[k] = v;
    return r;
  };
  // Bad sizes: nothing changes.
  Err(with("size", "3M1"), "invalid-request");
  EXPECT_NE(Err(with("size", "1000"), "invalid-request").find("multiple of the block size"),
            std::string::npos);
  Err(with("size", json::object()), "invalid-request");
  Err(up, "invalid-request");  // nothing to update
  json mixed = with("size", "4M");
  mixed["params"] = "size=8M";
  EXPECT_NE(Err(mixed, "invalid-request").find("disagree"), std::string::npos);
  EXPECT_EQ(lu->backend()->size_bytes(), 2u << 20);
  EXPECT_FALSE(lu->TakeUnitAttention(n, &code));

  if (!CtestHas(&core::ModuleInfo::has_reconfig)) {
    // Until bs_ctest has reconfig: the refusal must be clear and change nothing.
    std::string msg = Err(with("size", "4M"), "unsupported");
    EXPECT_NE(msg.find("reconfig"), std::string::npos) << msg;
    GTEST_SKIP() << "bs_ctest has no reconfig yet: live resize not exercised";
  }
  json r = Ok(with("size", "4M"));
  EXPECT_EQ(r["lun"]["size"], 4u << 20);
  EXPECT_EQ(r["resized"]["from"], 2u << 20);
  EXPECT_EQ(r["resized"]["to"], 4u << 20);
  EXPECT_EQ(targets_.FindByTid(1)->FindLun(1), lu) << "a resize must not rebuild the LU";
  EXPECT_EQ(lu->backend()->size_bytes(), 4u << 20);
  ASSERT_TRUE(lu->TakeUnitAttention(n, &code));
  EXPECT_EQ(code, scsi::asc::kCapacityDataHasChanged);
  core::DeviceConfig dev;
  ASSERT_TRUE(targets_.FindByTid(1)->GetLunDeviceConfig(1, &dev));
  EXPECT_EQ(dev.size, 4u << 20);
  // Through params size= (tgtadm style), shrinking; the same size again is a no-op.
  r = Ok(with("params", "size=1M"));
  EXPECT_EQ(r["lun"]["size"], 1u << 20);
  r = Ok(with("size", 1048576));
  EXPECT_FALSE(r.contains("resized"));
}

TEST_F(TargetcliTest, UpdateSizeWithoutReconfigIsRefused) {
  Ok({{"mode", "system"}, {"op", "bsload"}, {"path", TestModule("ver1")}});  // ABI 1.0
  Ok({{"mode", "logicalunit"}, {"op", "new"}, {"tid", 1}, {"lun", 3}, {"bstype", "ver"},
      {"backing_store", "x"}});
  auto lu = targets_.FindByTid(1)->FindLun(3);
  uint64_t before = lu->backend()->size_bytes();
  std::string msg = Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
                         {"size", std::to_string(before * 2)}},
                        "unsupported");
  EXPECT_NE(msg.find("cannot resize a live LUN"), std::string::npos) << msg;
  EXPECT_EQ(lu->backend()->size_bytes(), before);
}

TEST_F(TargetcliTest, WriteCacheUpdateReachesTheModule) {
  Ok(NewReq(1));
  auto lu = targets_.FindByTid(1)->FindLun(1);
  auto* dev = dynamic_cast<core::Device*>(lu->backend());
  ASSERT_NE(dev, nullptr);
  Ok({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 1}, {"params", "wce=0"}});
  EXPECT_FALSE(lu->wce.load());
  EXPECT_EQ(dev->dev()->config.write_cache, 0u);
  json r = Ok({{"mode", "logicalunit"}, {"op", "show"}, {"tid", 1}, {"lun", 1}});
  EXPECT_EQ(r["luns"][0]["write_cache"], false);
  Ok({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 1}, {"params", "wce=1"}});
  EXPECT_EQ(dev->dev()->config.write_cache, 1u);
}

TEST_F(TargetcliTest, MediumOps) {
  Ok(NewReq(1));
  // A disk has no medium to eject or load.
  json ej = {{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}, {"lun", 1}};
  EXPECT_NE(Err(ej, "invalid-request").find("not a cd"), std::string::npos);
  Err({{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}, {"lun", 9}}, "no-such-lun");
  Err({{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}}, "invalid-request");
  Err({{"mode", "logicalunit"}, {"op", "load"}, {"tid", 1}, {"lun", 1}}, "invalid-request");
  Err({{"mode", "logicalunit"}, {"op", "load"}, {"tid", 1}, {"lun", 1}, {"cfgstring", 5}},
      "invalid-request");

  json cd = NewReq(2);
  cd["device_type"] = "cd";
  json r = Ok(cd);
  EXPECT_EQ(r["lun"]["device_type"], "cd");
  EXPECT_EQ(r["lun"]["block_size"], 2048);
  EXPECT_EQ(r["lun"]["readonly"], true);
  EXPECT_EQ(r["lun"]["removable"], true);
  EXPECT_EQ(r["lun"]["medium_present"], true);
  auto lu = targets_.FindByTid(1)->FindLun(2);
  EXPECT_EQ(lu->type()->peripheral_type(), 5);

  json load = {{"mode", "logicalunit"}, {"op", "load"}, {"tid", 1}, {"lun", 2}};
  auto load_with = [&](const std::string& cfg) {
    json q = load;
    q["cfgstring"] = cfg;
    return q;
  };
  EXPECT_NE(Err(load_with("ctest:x"), "invalid-request").find("':'"), std::string::npos);
  EXPECT_NE(Err(load_with("ctestx"), "invalid-request").find("no '/'"), std::string::npos);
  EXPECT_NE(Err(load_with("optical/x.iso"), "invalid-request").find("subtype"), std::string::npos);

  // Prevented: eject refused (busy) unless forced.
  {
    scsi::Nexus n;
    n.id = 31;
    std::lock_guard<std::mutex> l(lu->mutex());
    lu->NexusStateLocked(n).prevent_removal = true;
    lu->prevent_count.fetch_add(1);
  }
  std::string msg = Err({{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}, {"lun", 2}}, "busy");
  EXPECT_NE(msg.find("eject refused"), std::string::npos) << msg;
  EXPECT_TRUE(lu->medium_present.load());
  r = Ok({{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}, {"lun", 2}, {"force", true}});
  EXPECT_EQ(r["lun"]["medium_present"], false);
  EXPECT_FALSE(lu->medium_present.load());
  // load without a config string puts the same medium back.
  r = Ok(load);
  EXPECT_EQ(r["lun"]["medium_present"], true);
  EXPECT_EQ(r["lun"]["cfgstring"], "ctest/disk");
  Ok({{"mode", "logicalunit"}, {"op", "eject"}, {"tid", 1}, {"lun", 2}, {"force", true}});
  if (!CtestHas(&core::ModuleInfo::has_reconfig)) {
    GTEST_SKIP() << "bs_ctest has no reconfig yet: load not exercised";
  }
  msg = Err(load_with("ctest/refuse"), "module-error");
  EXPECT_NE(msg.find("ctest refuses config string"), std::string::npos) << msg;
  EXPECT_FALSE(lu->medium_present.load());
  r = Ok(load_with("ctest/disc2"));
  EXPECT_EQ(r["lun"]["medium_present"], true);
  EXPECT_EQ(r["lun"]["cfgstring"], "ctest/disc2");
}

}  // namespace
}  // namespace modtgt::admin
