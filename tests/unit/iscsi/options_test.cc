// SPDX-License-Identifier: Apache-2.0
// The iSCSI transport options (src/iscsi/options.cc).
#include "iscsi/options.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace modtgt::iscsi {
namespace {

using Options = std::vector<std::pair<std::string, std::string>>;

TEST(TransportOptions, NoneGivesTheDefaults) {
  Result<TransportSettings> s = ParseTransportOptions({});
  ASSERT_TRUE(s.ok());
  const ResourceLimits def;
  EXPECT_EQ(s->resources.max_sessions, def.max_sessions);
  EXPECT_EQ(s->resources.login_timeout_ms, 15000u);
  EXPECT_EQ(s->resources.max_cmds_per_session, 128u);
  EXPECT_EQ(s->negotiation.max_recv_data_segment, TargetLimits().max_recv_data_segment);
}

TEST(TransportOptions, EveryKeySetsItsField) {
  Options all;
  for (const OptionInfo& o : TransportOptions()) {
    // The minimum of each: different from every default, so a key wired to the wrong field
    // (or to none) shows.
    EXPECT_NE(o.min, o.default_value) << o.key;
    all.emplace_back(o.key, std::to_string(o.min));
  }
  Result<TransportSettings> s = ParseTransportOptions(all);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  const ResourceLimits& r = s->resources;
  EXPECT_EQ(r.max_sessions, 1u);
  EXPECT_EQ(r.max_connections, 1u);
  EXPECT_EQ(r.max_connections_per_address, 1u);
  EXPECT_EQ(r.max_pending_logins, 1u);
  EXPECT_EQ(r.max_pending_logins_per_address, 1u);
  EXPECT_EQ(r.login_timeout_ms, 1000u);
  EXPECT_EQ(r.max_cmds_per_session, 1u);
  EXPECT_EQ(r.max_session_data, 1u << 20);
  EXPECT_EQ(r.max_write_length, 512u);
  EXPECT_EQ(s->negotiation.max_recv_data_segment, 512u);
  EXPECT_EQ(s->negotiation.max_burst_length, 512u);
  EXPECT_EQ(s->negotiation.first_burst_length, 512u);
  EXPECT_EQ(s->negotiation.max_outstanding_r2t, 1u);
  EXPECT_EQ(s->negotiation.max_connections, 1u);
  EXPECT_EQ(s->negotiation.error_recovery_level, 0u);
  EXPECT_EQ(all.size(), 15u) << "a new option needs a line above";
}

TEST(TransportOptions, TableDefaultsAreTheStructDefaults) {
  std::set<std::string> keys;
  for (const OptionInfo& o : TransportOptions()) {
    EXPECT_TRUE(keys.insert(o.key).second) << "twice: " << o.key;
    EXPECT_GE(o.default_value, o.min) << o.key;
    EXPECT_LE(o.default_value, o.max) << o.key;
    // Setting the default explicitly changes nothing.
    Result<TransportSettings> s =
        ParseTransportOptions({{o.key, std::to_string(o.default_value)}});
    ASSERT_TRUE(s.ok()) << o.key;
  }
  EXPECT_EQ(keys.count("max_sessions"), 1u);
  EXPECT_EQ(keys.count("login_timeout"), 1u);
}

TEST(TransportOptions, HexValuesAndBounds) {
  Result<TransportSettings> s = ParseTransportOptions({{"max_burst_length", "0x10000"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->negotiation.max_burst_length, 65536u);
  s = ParseTransportOptions({{"login_timeout", "3600"}});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->resources.login_timeout_ms, 3600000u);
}

TEST(TransportOptions, RefusalsNameTheKey) {
  struct Case {
    Options in;
    const char* words;
  } cases[] = {
      {{{"max_sessionz", "1"}}, "unknown iscsi option 'max_sessionz' (known: portal, max_sessions"},
      {{{"max_sessions", "0"}}, "max_sessions='0': want an integer from 1 to 65535"},
      {{{"max_sessions", "65536"}}, "from 1 to 65535"},
      {{{"max_sessions", "-1"}}, "want an integer"},
      {{{"max_sessions", ""}}, "want an integer"},
      {{{"max_sessions", "1k"}}, "want an integer"},
      {{{"login_timeout", "0"}}, "from 1 to 3600"},
      {{{"max_cmds_per_session", "257"}}, "from 1 to 256"},
      {{{"max_outstanding_r2t", "17"}}, "from 1 to 16"},
      {{{"max_write_length", "67108865"}}, "to 67108864"},
      {{{"max_sessions", "5"}, {"max_sessions", "6"}}, "given twice"},
  };
  for (const Case& c : cases) {
    Result<TransportSettings> s = ParseTransportOptions(c.in);
    ASSERT_FALSE(s.ok()) << c.words;
    EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
    EXPECT_NE(s.status().message().find(c.words), std::string::npos) << s.status().message();
  }
}

}  // namespace
}  // namespace modtgt::iscsi
