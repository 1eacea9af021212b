// SPDX-License-Identifier: Apache-2.0
#include "core/strict_json.h"

#include <string>

#include <gtest/gtest.h>

namespace modtgt::core {
namespace {

TEST(StrictJson, ParsesValidDocuments) {
  Result<nlohmann::json> j = ParseJsonStrict(R"({"a": [1, {"b": true}], "c": "x"})");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  EXPECT_EQ((*j)["a"][1]["b"], true);
  // The same key in two different objects is fine.
  EXPECT_TRUE(ParseJsonStrict(R"({"a": {"k": 1}, "b": {"k": 2}})").ok());
}

TEST(StrictJson, RefusesDuplicateKeysAtAnyDepth) {
  Result<nlohmann::json> top = ParseJsonStrict(R"({"tid": 1, "tid": 2})");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.status().code(), Code::kInvalidArgument);
  EXPECT_NE(top.status().message().find("duplicate key \"tid\""), std::string::npos);
  Result<nlohmann::json> deep = ParseJsonStrict(R"({"t": [{"l": {"x": 1, "x": 1}}]})");
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("\"x\""), std::string::npos);
}

TEST(StrictJson, RefusesDeepNestingAndSaysWhereSyntaxBreaks) {
  std::string deep(100, '[');
  deep += std::string(100, ']');
  Result<nlohmann::json> d = ParseJsonStrict(deep, 64);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("deeper than 64"), std::string::npos);
  EXPECT_TRUE(ParseJsonStrict(deep, 200).ok());
  Result<nlohmann::json> torn = ParseJsonStrict("{\"a\": [1, 2");
  ASSERT_FALSE(torn.ok());
  EXPECT_NE(torn.status().message().find("parse error"), std::string::npos)
      << torn.status().message();
  EXPECT_FALSE(ParseJsonStrict("").ok());
}

}  // namespace
}  // namespace modtgt::core
