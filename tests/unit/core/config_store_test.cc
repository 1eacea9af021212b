// SPDX-License-Identifier: Apache-2.0
#include "core/config_store.h"

#include <sys/stat.h>

#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/atomic_file.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

class ConfigStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(ConfigStoreTest, SavesPrivatelyKeepsThePreviousAndLoadsBack) {
  ConfigStore store(dir_ + "/var/lib/modtgt/config.json");  // folders made on the way
  EXPECT_EQ(store.Load().status().code(), Code::kNotFound);
  SavedConfig a;
  SavedTarget t;
  t.tid = 1;
  t.name = "iqn.2026-12.org.modtgt.test:a";
  a.targets.push_back(t);
  ASSERT_TRUE(store.Save(a).ok());
  SavedConfig b = a;
  b.targets[0].alias = "b";
  ASSERT_TRUE(store.Save(b).ok());
  EXPECT_EQ(*store.Load(), b);
  EXPECT_EQ(*ParseSavedConfig(ReadWholeFile(store.previous_path(), 1 << 20).value()), a);
  struct stat st {};
  ASSERT_EQ(stat(store.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/var/lib/modtgt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(store.state().saves, 2u);
}

TEST_F(ConfigStoreTest, ABrokenFileIsNamedKeptAndPointsAtThePreviousCopy) {
  ConfigStore store(dir_ + "/config.json");
  ASSERT_TRUE(store.Save(SavedConfig{}).ok());
  ASSERT_TRUE(store.Save(SavedConfig{}).ok());
  ASSERT_TRUE(WriteFileAtomic(store.path(), "{\"schema\": 1, \"targ").ok());
  Status s = store.Load().status();
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("configuration file " + store.path() + " is not valid"));
  EXPECT_THAT(s.message(), HasSubstr("--config " + store.previous_path()));
  EXPECT_EQ(ReadWholeFile(store.path(), 100).value(), "{\"schema\": 1, \"targ");
}

TEST_F(ConfigStoreTest, RemovesOnlyTheTemporariesOfAnInterruptedSave) {
  ConfigStore store(dir_ + "/config.json");
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/config.json.tmp-1-0", "half").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/config.json.prev.tmp-1-1", "half").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/other.json.tmp-1-0", "keep").ok());
  EXPECT_EQ(store.RemoveStaleTemporaries(), 2);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/other.json.tmp-1-0"));
}

TEST(ConfigStore, DisabledStoreNeitherReadsNorWrites) {
  ConfigStore store("");
  EXPECT_FALSE(store.enabled());
  EXPECT_EQ(store.Load().status().code(), Code::kNotFound);
  EXPECT_TRUE(store.Save(SavedConfig{}).ok());
  EXPECT_EQ(store.state().saves, 0u);
}

}  // namespace
}  // namespace modtgt::core
