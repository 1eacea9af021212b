// SPDX-License-Identifier: Apache-2.0
// HandleRequest: every op, and every malformed request shape.
#include <unistd.h>

#include <gtest/gtest.h>

#include "admin/protocol.h"
#include "admin/server.h"
#include "core/module_registry.h"
#include "core/target.h"
#include "scsi/sense.h"

namespace modtgt::admin {
namespace {

using nlohmann::json;

const std::string kIqn = "iqn.2026-11.org.modtgt.test:h";

class HandlersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_.targets = &targets_;
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
  Err({{"mode", "account"}, {"op", "show"}}, "unsupported");
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
  Err({{"mode", "logicalunit"}, {"op", "update"}, {"tid", 1}, {"lun", 3},
       {"params", "scsi_sn=OTHER"}},
      "invalid-request");
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
  Err({{"mode", "system"}, {"op", "bsload"}, {"bstype", "nosuchmodule"}}, "no-such-module");
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
  EXPECT_EQ(r["module"]["abi"], "1.1");  // ver1 is an ABI 1.0 build, ver2 a 1.1 one
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

}  // namespace
}  // namespace modtgt::admin
