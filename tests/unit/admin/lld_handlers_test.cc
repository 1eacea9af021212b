// SPDX-License-Identifier: Apache-2.0
// The transport (LLD) admin ops (src/admin/lld_handlers.cc) through HandleRequest: field
// checks, refusals with their messages, and the transports in system show. The test
// transport modules are the broken ones of tests/unit/iscsi/test_lld.cc (the real
// lld_iscsi.so is exercised by tests/e2e/test-module-lld*.sh).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin/protocol.h"
#include "admin/server.h"
#include "core/target.h"
#include "core/transport_registry.h"

namespace modtgt::admin {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class LldHandlersTest : public ::testing::Test {
 protected:
  LldHandlersTest() : transports_(core::TransportContext{}, MODTGT_TEST_MODULE_DIR) {
    ctx_.targets = &targets_;
    ctx_.transports = &transports_;
    ctx_.version = "9.9.9";
  }

  json Call(const json& req) { return HandleRequest(&ctx_, req); }

  std::string Err(const json& req, const std::string& code) {
    json r = Call(req);
    EXPECT_FALSE(r.value("ok", true)) << r.dump();
    if (!r.contains("error")) return "";
    EXPECT_EQ(r["error"].value("code", ""), code) << req.dump() << " -> " << r.dump();
    return r["error"].value("message", "");
  }

  static json Op(const std::string& op, const std::string& lld) {
    return {{"mode", "system"}, {"op", op}, {"lld", lld}};
  }

  core::TargetRegistry targets_;
  core::TransportRegistry transports_;
  AdminContext ctx_;
};

TEST_F(LldHandlersTest, RecognisesOnlyTheLldOps) {
  EXPECT_TRUE(IsLldRequest(Op("lldload", "x")));
  EXPECT_TRUE(IsLldRequest(Op("lldunload", "x")));
  EXPECT_TRUE(IsLldRequest(Op("lldreload", "x")));
  EXPECT_FALSE(IsLldRequest(Op("bsload", "x")));
  EXPECT_FALSE(IsLldRequest(json{{"mode", "target"}, {"op", "lldload"}}));
  EXPECT_FALSE(IsLldRequest(json{{"mode", 1}, {"op", "lldload"}}));
  EXPECT_FALSE(IsLldRequest(json::array()));
}

TEST_F(LldHandlersTest, FieldChecks) {
  EXPECT_THAT(Err({{"mode", "system"}, {"op", "lldload"}}, "invalid-request"),
              HasSubstr("--lld NAME is required"));
  EXPECT_THAT(Err({{"mode", "system"}, {"op", "lldload"}, {"lld", 3}}, "invalid-request"),
              HasSubstr("--lld NAME is required"));
  json bad = Op("lldunload", "iscsi");
  bad["bogus"] = 1;
  EXPECT_THAT(Err(bad, "invalid-request"), HasSubstr("unknown field 'bogus'"));
  json f = Op("lldunload", "iscsi");
  f["force"] = "yes";
  EXPECT_THAT(Err(f, "invalid-request"), HasSubstr("'force' must be a boolean"));
  json p = Op("lldunload", "iscsi");
  p["path"] = "/x";
  EXPECT_THAT(Err(p, "invalid-request"), HasSubstr("'path'"));
  json lf = Op("lldload", "iscsi");
  lf["force"] = true;
  EXPECT_THAT(Err(lf, "invalid-request"), HasSubstr("--force is for lldunload"));
  AdminContext none;
  none.targets = &targets_;
  json r = HandleRequest(&none, Op("lldload", "iscsi"));
  EXPECT_EQ(r["error"].value("code", ""), "internal");
}

TEST_F(LldHandlersTest, LoadRefusalsCarryTheReason) {
  EXPECT_THAT(Err(Op("lldload", "nosuch"), "no-such-module"), HasSubstr("lld_nosuch.so"));
  EXPECT_THAT(Err(Op("lldload", "oldver"), "module-error"),
              HasSubstr("must match the daemon version exactly"));
  EXPECT_THAT(Err(Op("lldunload", "nosuch"), "no-such-module"), HasSubstr("no transport nosuch"));
  // A refused transport is never handed out.
  EXPECT_EQ(transports_.Get("oldver"), nullptr);
  EXPECT_EQ(transports_.Get("nosuch"), nullptr);
}

TEST_F(LldHandlersTest, SystemShowListsTransportsInErrorWithTheirReason) {
  ASSERT_FALSE(transports_.Load("failcreate").ok());
  json r = Call({{"mode", "system"}, {"op", "show"}});
  ASSERT_TRUE(r.value("ok", false)) << r.dump();
  const json& res = r["result"];
  ASSERT_EQ(res["transports"].size(), 1u);
  EXPECT_EQ(res["transports"][0]["name"], "failcreate");
  EXPECT_EQ(res["transports"][0]["kind"], "transport");
  EXPECT_EQ(res["transports"][0]["state"], "error");
  EXPECT_THAT(res["transports"][0]["error"].get<std::string>(), HasSubstr("refuses to start"));
  bool in_modules = false;
  for (const auto& m : res["modules"]) in_modules |= m["kind"] == "transport";
  EXPECT_TRUE(in_modules);
  EXPECT_TRUE(res["portals"].empty());
  // A failed transport has no users: unloading drops it from the listing.
  json u = Call(Op("lldunload", "failcreate"));
  EXPECT_TRUE(u.value("ok", false)) << u.dump();
  json again = Call({{"mode", "system"}, {"op", "show"}});
  EXPECT_TRUE(again["result"]["transports"].empty());
}

TEST_F(LldHandlersTest, OtherRepliesPassUnchanged) {
  json req = {{"mode", "target"}, {"op", "show"}};
  json reply = OkReply({{"targets", json::array()}});
  EXPECT_EQ(AddTransportsToReply(&ctx_, req, reply), reply);
  json err = ErrorReply(ErrorCode::kBusy, "x");
  EXPECT_EQ(AddTransportsToReply(&ctx_, {{"mode", "system"}, {"op", "show"}}, err), err);
}

}  // namespace
}  // namespace modtgt::admin
