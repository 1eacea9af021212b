// SPDX-License-Identifier: Apache-2.0
// core/stats (and the counters of scsi/io_stats.h it reads): recording by direction, the
// latency buckets, shards summed, carrying counts over, the per-portal registry, the
// reading of LUs across targets, and the Prometheus text.
#include "core/stats.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "core/target.h"
#include "fakes/mem_backend.h"
#include "scsi/dispatch.h"

namespace modtgt::core {
namespace {

TEST(IoCounters, RecordsByDirection) {
  scsi::IoCounters c;
  c.Record(0, /*in=*/true, /*out=*/false, 4096, 0, false, 5);  // a read
  c.Record(1, false, true, 0, 8192, false, 100);               // a write, another loop
  c.Record(2, false, false, 0, 0, true, 20);                   // no data, failed
  c.Record(9, true, true, 512, 1024, false, 10000000000ull);   // bidi: a write, both bytes
  scsi::IoCountersSnapshot s = c.Snapshot();
  EXPECT_EQ(s.read_cmds, 1u);
  EXPECT_EQ(s.read_bytes, 4096u + 512u);
  EXPECT_EQ(s.write_cmds, 2u);
  EXPECT_EQ(s.write_bytes, 8192u + 1024u);
  EXPECT_EQ(s.other_cmds, 1u);
  EXPECT_EQ(s.errors, 1u);
  EXPECT_EQ(s.commands(), 4u);
  EXPECT_EQ(s.latency_us_sum, 5u + 100u + 20u + 10000000000ull);
  EXPECT_EQ(s.latency[0], 1u);                          // 5 us <= 8 us
  EXPECT_EQ(s.latency[4], 1u);                          // 100 us <= 128 us
  EXPECT_EQ(s.latency[2], 1u);                          // 20 us <= 32 us
  EXPECT_EQ(s.latency[scsi::kLatencyBuckets - 1], 1u);  // 10000 s: over the last bound
}

TEST(IoCounters, BucketBounds) {
  using scsi::IoCounters;
  EXPECT_EQ(IoCounters::BucketOf(0), 0);
  EXPECT_EQ(IoCounters::BucketOf(8), 0);
  EXPECT_EQ(IoCounters::BucketOf(9), 1);
  EXPECT_EQ(IoCounters::BucketOf(16), 1);
  EXPECT_EQ(IoCounters::BucketOf(17), 2);
  const int last_finite = scsi::kLatencyBuckets - 2;
  EXPECT_EQ(IoCounters::BucketOf(scsi::LatencyBucketBoundUs(last_finite)), last_finite);
  EXPECT_EQ(IoCounters::BucketOf(scsi::LatencyBucketBoundUs(last_finite) + 1),
            scsi::kLatencyBuckets - 1);
  for (uint64_t us = 1; us < (1u << 24); us = us * 3 + 1) {
    int b = IoCounters::BucketOf(us);
    ASSERT_TRUE(b == scsi::kLatencyBuckets - 1 || us <= scsi::LatencyBucketBoundUs(b)) << us;
    ASSERT_TRUE(b == 0 || us > scsi::LatencyBucketBoundUs(b - 1)) << us;
  }
}

TEST(IoCounters, ConcurrentRecordersLoseNothingAndAddFromCarries) {
  scsi::IoCounters c;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    // Two threads share shard 1 (shards are per loop, but must stay exact when shared).
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 10000; i++) c.Record(t == 3 ? 1 : t, true, false, 512, 0, false, 1);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(c.Snapshot().read_cmds, 40000u);
  EXPECT_EQ(c.Snapshot().read_bytes, 40000u * 512);
  scsi::IoCounters rebuilt;
  rebuilt.Record(0, false, false, 0, 0, false, 1);
  rebuilt.AddFrom(c);
  EXPECT_EQ(rebuilt.Snapshot().read_cmds, 40000u);
  EXPECT_EQ(rebuilt.Snapshot().other_cmds, 1u);
}

TEST(PortalStats, ForListForget) {
  PortalStats ps;
  auto a = ps.For("iscsi", "127.0.0.1:3260");
  EXPECT_EQ(ps.For("iscsi", "127.0.0.1:3260"), a);  // the same counters
  a->Record(0, true, false, 10, 0, false, 1);
  auto b = ps.For("iscsi", "[::1]:3260");
  auto list = ps.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].address, "127.0.0.1:3260");
  EXPECT_EQ(list[0].stats.read_bytes, 10u);
  ps.Forget("iscsi", "127.0.0.1:3260");
  EXPECT_EQ(ps.List().size(), 1u);
  a->Record(0, true, false, 10, 0, false, 1);  // still valid for whoever holds it
}

std::shared_ptr<scsi::LogicalUnit> NewLu(uint64_t lun) {
  scsi::LuConfig cfg;
  cfg.lun = lun;
  return std::make_shared<scsi::LogicalUnit>(cfg, &scsi::SbcDeviceType(),
                                             std::make_unique<testing::MemBackend>(1 << 20),
                                             "iqn.2026-12.org.modtgt.test:s");
}

TEST(CollectStats, LusOfTargetsTotalAndFilters) {
  TargetRegistry reg;
  auto t1 = std::make_shared<Target>(1, "iqn.2026-12.org.modtgt.test:a");
  auto t2 = std::make_shared<Target>(2, "iqn.2026-12.org.modtgt.test:b");
  ASSERT_TRUE(reg.Add(t1).ok());
  ASSERT_TRUE(reg.Add(t2).ok());
  auto l1 = NewLu(1), l2 = NewLu(2), l3 = NewLu(1);
  ASSERT_TRUE(t1->AddLun(l1).ok());
  ASSERT_TRUE(t1->AddLun(l2).ok());
  ASSERT_TRUE(t2->AddLun(l3).ok());
  l1->stats.Record(0, true, false, 100, 0, false, 1);
  l2->stats.Record(0, false, true, 0, 200, false, 1);
  l3->stats.Record(0, false, false, 0, 0, true, 1);
  StatsReport all = CollectStats(&reg, nullptr, nullptr);
  ASSERT_EQ(all.luns.size(), 3u);
  EXPECT_EQ(all.total.read_bytes, 100u);
  EXPECT_EQ(all.total.write_bytes, 200u);
  EXPECT_EQ(all.total.errors, 1u);
  EXPECT_EQ(all.total.commands(), 3u);
  StatsReport one = CollectStats(&reg, nullptr, nullptr, 1, 2);
  ASSERT_EQ(one.luns.size(), 1u);
  EXPECT_EQ(one.luns[0].tid, 1);
  EXPECT_EQ(one.luns[0].lun, 2u);
  EXPECT_EQ(one.luns[0].stats.write_bytes, 200u);
}

TEST(PrometheusText, FamiliesLabelsAndHistogram) {
  StatsReport r;
  LunStats l;
  l.tid = 1;
  l.target = "iqn.2026-12.org.x:\"odd\\name\"";
  l.lun = 3;
  l.stats.read_cmds = 2;
  l.stats.read_bytes = 1024;
  l.stats.errors = 1;
  l.stats.latency[0] = 1;
  l.stats.latency[5] = 1;
  l.stats.latency_us_sum = 250;
  r.luns.push_back(l);
  r.portals.push_back({"iscsi", "127.0.0.1:3260", {}});
  std::string text = PrometheusText(r);
  const std::string labels = R"(tid="1",target="iqn.2026-12.org.x:\"odd\\name\"",lun="3")";
  for (const std::string& want : std::vector<std::string>{
           "# TYPE modtgt_lun_commands_total counter\n",
           "modtgt_lun_commands_total{" + labels + ",direction=\"read\"} 2\n",
           "modtgt_lun_bytes_total{" + labels + ",direction=\"read\"} 1024\n",
           "modtgt_lun_errors_total{" + labels + "} 1\n",
           "# TYPE modtgt_lun_latency_seconds histogram\n",
           "modtgt_lun_latency_seconds_bucket{" + labels + ",le=\"0.000008\"} 1\n",
           "modtgt_lun_latency_seconds_bucket{" + labels + ",le=\"0.000256\"} 2\n",  // cumulative
           "modtgt_lun_latency_seconds_bucket{" + labels + ",le=\"+Inf\"} 2\n",
           "modtgt_lun_latency_seconds_sum{" + labels + "} 0.000250\n",
           "modtgt_lun_latency_seconds_count{" + labels + "} 2\n",
           "modtgt_portal_commands_total{transport=\"iscsi\",portal=\"127.0.0.1:3260\",direction="
           "\"write\"} 0\n",
           "# TYPE modtgt_session_commands_total counter\n"}) {
    EXPECT_NE(text.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << text;
  }
}

}  // namespace
}  // namespace modtgt::core
