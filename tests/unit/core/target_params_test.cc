// SPDX-License-Identifier: Apache-2.0
// core/target_params: the per-target iSCSI parameters tgtadm sets, validated as the
// negotiation would take them; and the iSCSI transport's defaults agree with the catalog
// (what `show --tid` prints for a key nobody set is what a login offers).
#include "core/target_params.h"

#include <gtest/gtest.h>

#include "iscsi/params.h"

namespace modtgt::core {
namespace {

TEST(TargetParams, SetValidatesAndCanonicalises) {
  TargetParams p;
  EXPECT_TRUE(p.Set("maxrecvdatasegmentlength", "65536").ok());  // any letter case (tgt)
  EXPECT_EQ(p.values().at("MaxRecvDataSegmentLength"), "65536");
  EXPECT_EQ(p.Number("MaxRecvDataSegmentLength"), 65536u);
  EXPECT_TRUE(p.Set("InitialR2T", "yes").ok());
  EXPECT_EQ(p.values().at("InitialR2T"), "Yes");
  EXPECT_EQ(p.Bool("InitialR2T"), true);
  EXPECT_TRUE(p.Set("HeaderDigest", "None,CRC32C").ok());
  EXPECT_EQ(p.Text("HeaderDigest"), "None,CRC32C");
  EXPECT_TRUE(p.Set("ErrorRecoveryLevel", "0").ok());
  EXPECT_TRUE(p.Set("MaxConnections", "1").ok());
  EXPECT_TRUE(p.Set("MaxQueueCmd", "1").ok());

  struct Bad {
    const char* key;
    const char* value;
    Code code;
    const char* message_part;
  };
  const Bad bad[] = {
      {"MaxRecvDataSegmentLength", "511", Code::kInvalidArgument, "512..16777215"},
      {"MaxRecvDataSegmentLength", "16777216", Code::kInvalidArgument, "512..16777215"},
      {"MaxRecvDataSegmentLength", "0x1000", Code::kInvalidArgument, "not a number"},
      {"MaxRecvDataSegmentLength", "", Code::kInvalidArgument, "not a number"},
      {"MaxOutstandingR2T", "0", Code::kInvalidArgument, "1..65535"},
      {"MaxQueueCmd", "129", Code::kInvalidArgument, "1..128"},
      {"DefaultTime2Wait", "3601", Code::kInvalidArgument, "0..3600"},
      {"ImmediateData", "1", Code::kInvalidArgument, "Yes or No"},
      {"DataDigest", "crc32c", Code::kInvalidArgument, "None, CRC32C"},
      {"DataDigest", "CRC32C,CRC32C", Code::kInvalidArgument, "None, CRC32C"},
      {"DataDigest", "CRC32C,", Code::kInvalidArgument, "None, CRC32C"},
      {"ErrorRecoveryLevel", "3", Code::kInvalidArgument, "0..2"},
      {"MaxConnections", "0", Code::kInvalidArgument, "1..65535"},
      {"DataPDUInOrder", "No", Code::kUnsupported, "in order"},
      {"IFMarker", "Yes", Code::kUnsupported, "obsolete"},
      {"nop_interval", "5", Code::kUnsupported, "keepalive"},
      {"RDMAExtensions", "Yes", Code::kUnsupported, "iSER"},
      {"NoSuchKey", "1", Code::kNotFound, "known: nop_interval"},
  };
  for (const Bad& b : bad) {
    TargetParams before = p;
    Status s = p.Set(b.key, b.value);
    EXPECT_EQ(s.code(), b.code) << b.key << "=" << b.value << ": " << s.ToString();
    EXPECT_NE(s.message().find(b.message_part), std::string::npos) << s.message();
    EXPECT_EQ(p, before) << "a refused value changed something";
  }
}

TEST(TargetParams, EffectiveListsEveryKeyInTgtadmOrder) {
  TargetParams p;
  ASSERT_TRUE(p.Set("DataDigest", "CRC32C").ok());
  auto eff = p.Effective();
  ASSERT_EQ(eff.size(), TargetParamCatalog().size());
  EXPECT_EQ(eff.front().first, "nop_interval");
  EXPECT_EQ(eff[2].first, "MaxRecvDataSegmentLength");
  EXPECT_EQ(eff.back().first, "MaxQueueCmd");
  for (const auto& [k, v] : eff) {
    if (k == "DataDigest") {
      EXPECT_EQ(v, "CRC32C");
    }
  }
  p.Reset("datadigest");
  EXPECT_TRUE(p.empty());
}

TEST(TargetParams, CatalogDefaultsAreTheTransportsOffer) {
  // An unset key shows the value the iSCSI login offers: the two must not drift apart.
  iscsi::TargetLimits lim;
  auto dflt = [](const char* key) { return std::string(FindTargetParam(key)->dflt); };
  EXPECT_EQ(dflt("MaxRecvDataSegmentLength"), std::to_string(lim.max_recv_data_segment));
  EXPECT_EQ(dflt("MaxXmitDataSegmentLength"), std::to_string(lim.max_xmit_data_segment));
  EXPECT_EQ(dflt("FirstBurstLength"), std::to_string(lim.first_burst_length));
  EXPECT_EQ(dflt("MaxBurstLength"), std::to_string(lim.max_burst_length));
  EXPECT_EQ(dflt("MaxOutstandingR2T"), std::to_string(lim.max_outstanding_r2t));
  EXPECT_EQ(dflt("MaxConnections"), std::to_string(lim.max_connections));
  EXPECT_EQ(dflt("DefaultTime2Wait"), std::to_string(lim.default_time2wait));
  EXPECT_EQ(dflt("DefaultTime2Retain"), std::to_string(lim.default_time2retain));
  EXPECT_EQ(dflt("MaxQueueCmd"), std::to_string(lim.max_queue_cmd));
  EXPECT_EQ(dflt("InitialR2T"), lim.initial_r2t ? "Yes" : "No");
  EXPECT_EQ(dflt("ImmediateData"), lim.immediate_data ? "Yes" : "No");
  EXPECT_TRUE(lim.allow_header_digest && !lim.require_header_digest);
  EXPECT_EQ(dflt("HeaderDigest"), "CRC32C,None");
}

TEST(TargetParams, ApplyTargetParamsGivesTheLoginItsOffer) {
  TargetParams p;
  ASSERT_TRUE(p.Set("MaxRecvDataSegmentLength", "65536").ok());
  ASSERT_TRUE(p.Set("HeaderDigest", "CRC32C").ok());
  ASSERT_TRUE(p.Set("DataDigest", "None").ok());
  ASSERT_TRUE(p.Set("InitialR2T", "Yes").ok());
  ASSERT_TRUE(p.Set("ImmediateData", "No").ok());
  ASSERT_TRUE(p.Set("MaxQueueCmd", "32").ok());
  ASSERT_TRUE(p.Set("MaxXmitDataSegmentLength", "8192").ok());
  iscsi::TargetLimits lim;
  iscsi::ApplyTargetParams(p, &lim);
  EXPECT_EQ(lim.max_recv_data_segment, 65536u);
  EXPECT_TRUE(lim.allow_header_digest && lim.require_header_digest);
  EXPECT_FALSE(lim.allow_data_digest);
  EXPECT_TRUE(lim.initial_r2t);
  EXPECT_FALSE(lim.immediate_data);
  EXPECT_EQ(lim.max_queue_cmd, 32u);
  EXPECT_EQ(lim.max_xmit_data_segment, 8192u);
  EXPECT_EQ(lim.max_burst_length, iscsi::TargetLimits().max_burst_length);  // not set: kept
}

TEST(TargetParams, States) {
  EXPECT_EQ(*ParseTargetState("ready"), TargetState::kReady);
  EXPECT_EQ(*ParseTargetState("offline"), TargetState::kOffline);
  EXPECT_FALSE(ParseTargetState("Offline").ok());  // tgt's spelling only
  EXPECT_STREQ(TargetStateName(TargetState::kOffline), "offline");
  EXPECT_TRUE(IsIsnsKey("iSNSServerIP"));
  EXPECT_FALSE(IsIsnsKey("isnsserverip"));
}

}  // namespace
}  // namespace modtgt::core
