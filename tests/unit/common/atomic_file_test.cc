// SPDX-License-Identifier: Apache-2.0
#include "common/atomic_file.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace modtgt {
namespace {

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-atomic-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<std::string> Entries() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      out.push_back(e.path().filename());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::string dir_;
};

TEST_F(AtomicFileTest, WritesReplacesAndKeepsThePreviousCopy) {
  const std::string p = dir_ + "/config.json";
  AtomicWriteOptions o;
  o.mode = 0600;
  o.keep_previous_as = p + ".prev";
  ASSERT_TRUE(WriteFileAtomic(p, "one", o).ok());
  EXPECT_EQ(ReadWholeFile(p, 100).value(), "one");
  EXPECT_EQ(Entries(), std::vector<std::string>{"config.json"});  // no previous yet
  struct stat st {};
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(WriteFileAtomic(p, "two", o).ok());
  EXPECT_EQ(ReadWholeFile(p, 100).value(), "two");
  EXPECT_EQ(ReadWholeFile(p + ".prev", 100).value(), "one");
  EXPECT_EQ(Entries(), (std::vector<std::string>{"config.json", "config.json.prev"}));
}

TEST_F(AtomicFileTest, AFailedWriteLeavesTheOldFileAndNoTemporary) {
  const std::string p = dir_ + "/sub/config.json";  // folder missing: create fails
  Status s = WriteFileAtomic(p, "x");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("config.json.tmp-"), std::string::npos) << s.message();
  const std::string q = dir_ + "/f";
  ASSERT_TRUE(WriteFileAtomic(q, "old").ok());
  ASSERT_EQ(mkdir((dir_ + "/d").c_str(), 0700), 0);
  // Renaming a file over a folder fails: the temporary is removed, the folder stays.
  EXPECT_FALSE(WriteFileAtomic(dir_ + "/d", "new").ok());
  EXPECT_EQ(Entries(), (std::vector<std::string>{"d", "f"}));
}

TEST_F(AtomicFileTest, ReadRefusesMissingLargeAndNonRegularFiles) {
  EXPECT_EQ(ReadWholeFile(dir_ + "/none", 10).status().code(), Code::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/big", std::string(11, 'x')).ok());
  EXPECT_EQ(ReadWholeFile(dir_ + "/big", 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadWholeFile(dir_, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ReadWholeFile(dir_ + "/big", 11).value(), std::string(11, 'x'));
}

}  // namespace
}  // namespace modtgt
