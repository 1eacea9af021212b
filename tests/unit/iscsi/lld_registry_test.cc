// SPDX-License-Identifier: Apache-2.0
// core::TransportRegistry (src/core/transport_registry.cc) against broken transport modules
// (test_lld.cc): every refusal names its reason, leaves the module listed in state error,
// and leaves nothing mapped. (Kept beside the iSCSI tests because the transport module
// seam is the iSCSI transport's; loading the real lld_iscsi.so is covered end to end by
// tests/e2e/test-module-lld*.sh, since it links libmodtgt-core.so and this binary has the
// core linked in statically.)
#include "core/transport_registry.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "modtgt/version.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

const std::string kRoot = MODTGT_TEST_MODULE_DIR;

bool IsMapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

const TransportInfo* Find(const std::vector<TransportInfo>& list, const std::string& name) {
  for (const auto& t : list) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

// Loads `name` and expects a refusal containing `why`, listed in state error.
void ExpectRefused(const std::string& name, const std::string& why) {
  TransportRegistry reg(TransportContext{}, kRoot);
  Result<std::vector<std::string>> r = reg.Load(name);
  ASSERT_FALSE(r.ok()) << name;
  EXPECT_THAT(r.status().message(), HasSubstr(why)) << name;
  auto list = reg.List();
  const TransportInfo* t = Find(list, name);
  ASSERT_NE(t, nullptr) << name;
  EXPECT_EQ(t->state, ModuleState::kError);
  EXPECT_EQ(t->error, r.status().message());
  EXPECT_EQ(t->kind, "transport");
  EXPECT_EQ(reg.Get(name), nullptr);
  EXPECT_FALSE(IsMapped(TransportRegistry::FileFor(kRoot, name))) << name << " left mapped";
}

TEST(LldRegistryTest, FileNameLayout) {
  EXPECT_EQ(TransportRegistry::FileFor("/m", "iscsi"), "/m/transport/lld_iscsi.so");
}

TEST(LldRegistryTest, VersionMismatchNamesBothVersions) {
  ExpectRefused("oldver", std::string("built for modtgtd 0.0.1-old, this is modtgtd ") +
                              MODTGT_PACKAGE_VERSION);
}

TEST(LldRegistryTest, MissingEntrySymbol) { ExpectRefused("noentry", "no modtgt_transport_entry"); }

TEST(LldRegistryTest, EntryStructOfAnotherSize) { ExpectRefused("small", "entry struct is"); }

TEST(LldRegistryTest, NameMustMatchTheFile) {
  ExpectRefused("wrongname", "declares transport 'other'");
}

TEST(LldRegistryTest, CreateFailureIsReported) {
  ExpectRefused("failcreate", "failed to start: test transport refuses to start");
}

TEST(LldRegistryTest, NotElfShowsTheDlerror) { ExpectRefused("notelf", "cannot load"); }

TEST(LldRegistryTest, MissingFileIsNotFoundAndNotListed) {
  TransportRegistry reg(TransportContext{}, kRoot);
  Result<std::vector<std::string>> r = reg.Load("nosuch");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr("lld_nosuch.so"));
  EXPECT_THAT(r.status().message(), HasSubstr("found: "));
  EXPECT_TRUE(reg.List().empty());
}

TEST(LldRegistryTest, BadNamesAreRefused) {
  TransportRegistry reg(TransportContext{}, kRoot);
  for (const char* n : {"", "../x", "a/b", "UPPER", "a b"}) {
    Result<std::vector<std::string>> r = reg.Load(n);
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << n;
  }
  EXPECT_TRUE(reg.List().empty());
}

TEST(LldRegistryTest, RetryAndUnloadOfAFailedModule) {
  TransportRegistry reg(TransportContext{}, kRoot);
  ASSERT_FALSE(reg.Load("failcreate").ok());
  // Loading again retries (and fails again the same way): still one entry.
  Result<std::vector<std::string>> again = reg.Load("failcreate");
  ASSERT_FALSE(again.ok());
  EXPECT_THAT(again.status().message(), HasSubstr("refuses to start"));
  ASSERT_EQ(reg.List().size(), 1u);
  // A module in error has no users: unload just drops it.
  std::string detail;
  EXPECT_TRUE(reg.Unload("failcreate", /*force=*/false, &detail).ok());
  EXPECT_TRUE(reg.List().empty());
  Status s = reg.Unload("failcreate", false);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no transport failcreate"));
}

TEST(LldRegistryTest, StartUpUnknownNameListsWhatExists) {
  TransportRegistry reg(TransportContext{}, kRoot);
  Status s = reg.LoadAtStart({"oldver", "nosuch"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("unknown transport 'nosuch'"));
  EXPECT_THAT(s.message(), HasSubstr("oldver"));
  EXPECT_TRUE(reg.List().empty()) << "nothing is loaded when a name is unknown";
}

TEST(LldRegistryTest, StartUpKeepsFailedModulesListed) {
  TransportRegistry reg(TransportContext{}, kRoot);
  ASSERT_TRUE(reg.LoadAtStart({}).ok());
  auto list = reg.List();
  for (const char* n : {"oldver", "noentry", "small", "failcreate", "wrongname", "notelf"}) {
    const TransportInfo* t = Find(list, n);
    ASSERT_NE(t, nullptr) << n;
    EXPECT_EQ(t->state, ModuleState::kError) << n;
    EXPECT_FALSE(t->error.empty()) << n;
  }
}

TEST(LldRegistryTest, PortalsAreRememberedForALaterLoad) {
  TransportRegistry reg(TransportContext{}, kRoot);
  Result<std::vector<std::string>> b = reg.AddPortals("iscsi", {"127.0.0.1:0"});
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b.value().empty()) << "not loaded: nothing bound yet";
  EXPECT_TRUE(reg.List().empty());
}

}  // namespace
}  // namespace modtgt::core
