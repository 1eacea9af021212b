// SPDX-License-Identifier: Apache-2.0
// IoCounters: command statistics of one logical unit, session or portal: commands by data
// direction and their bytes, errors, and a latency histogram. A transport records every
// finished command once (on the loop that owns it); the admin reads a Snapshot at any time.
//
// Cost on the I/O path: Record() is a handful of relaxed fetch_adds on a cache-line aligned
// shard chosen by the recording loop's index, so loops do not share a line (up to kShards
// loops; more loops share shards, still correctly). No lock, no allocation.
//
// Threading: thread-safe. Snapshot() may run concurrently with Record(); it sees each
// counter at some recent value (the counters are not read as one atomic group).
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace modtgt::scsi {

// Latency buckets: bucket i counts commands that took at most 2^(i+3) microseconds
// (8 us, 16 us, ... 2^23 us ~ 8.4 s); the last one counts the slower ones.
inline constexpr int kLatencyBuckets = 22;
inline constexpr uint64_t LatencyBucketBoundUs(int i) { return uint64_t{1} << (i + 3); }

struct IoCountersSnapshot {
  uint64_t read_cmds = 0;     // commands with a Data-In phase (tgt's "rd")
  uint64_t read_bytes = 0;    // Data-In bytes sent to the initiator
  uint64_t write_cmds = 0;    // commands with a Data-Out phase (tgt's "wr")
  uint64_t write_bytes = 0;   // Data-Out bytes received from the initiator
  uint64_t other_cmds = 0;    // commands without data (TEST UNIT READY, SYNCHRONIZE CACHE...)
  uint64_t errors = 0;        // commands that ended with a status other than GOOD, or aborted
  uint64_t latency_us_sum = 0;
  std::array<uint64_t, kLatencyBuckets> latency{};  // per bucket, not cumulative

  uint64_t commands() const { return read_cmds + write_cmds + other_cmds; }
  void Add(const IoCountersSnapshot& o) {
    read_cmds += o.read_cmds;
    read_bytes += o.read_bytes;
    write_cmds += o.write_cmds;
    write_bytes += o.write_bytes;
    other_cmds += o.other_cmds;
    errors += o.errors;
    latency_us_sum += o.latency_us_sum;
    for (int i = 0; i < kLatencyBuckets; i++) latency[i] += o.latency[i];
  }
  bool operator==(const IoCountersSnapshot&) const = default;
};

class IoCounters {
 public:
  static constexpr int kShards = 8;

  // One finished command. `shard` is the recording loop's index; in_bytes / out_bytes the
  // Data-In / Data-Out bytes it moved (a command with both counts as a write).
  void Record(int shard, bool data_in, bool data_out, uint64_t in_bytes, uint64_t out_bytes,
              bool error, uint64_t latency_us) {
    Shard& s = shards_[static_cast<unsigned>(shard) % kShards];
    constexpr auto r = std::memory_order_relaxed;
    if (data_out) {
      s.v[kWriteCmds].fetch_add(1, r);
      s.v[kWriteBytes].fetch_add(out_bytes, r);
      if (in_bytes != 0) s.v[kReadBytes].fetch_add(in_bytes, r);
    } else if (data_in) {
      s.v[kReadCmds].fetch_add(1, r);
      s.v[kReadBytes].fetch_add(in_bytes, r);
    } else {
      s.v[kOtherCmds].fetch_add(1, r);
    }
    if (error) s.v[kErrors].fetch_add(1, r);
    s.v[kLatencySum].fetch_add(latency_us, r);
    s.v[kFirstBucket + BucketOf(latency_us)].fetch_add(1, r);
  }

  IoCountersSnapshot Snapshot() const {
    IoCountersSnapshot out;
    constexpr auto r = std::memory_order_relaxed;
    for (const Shard& s : shards_) {
      out.read_cmds += s.v[kReadCmds].load(r);
      out.read_bytes += s.v[kReadBytes].load(r);
      out.write_cmds += s.v[kWriteCmds].load(r);
      out.write_bytes += s.v[kWriteBytes].load(r);
      out.other_cmds += s.v[kOtherCmds].load(r);
      out.errors += s.v[kErrors].load(r);
      out.latency_us_sum += s.v[kLatencySum].load(r);
      for (int i = 0; i < kLatencyBuckets; i++) out.latency[i] += s.v[kFirstBucket + i].load(r);
    }
    return out;
  }

  // Adds `other`'s counts to these (an LU rebuilt with new parameters keeps its history).
  void AddFrom(const IoCounters& other) {
    constexpr auto r = std::memory_order_relaxed;
    for (int i = 0; i < kShards; i++) {
      for (int k = 0; k < kFields; k++) {
        shards_[i].v[k].fetch_add(other.shards_[i].v[k].load(r), r);
      }
    }
  }

  static int BucketOf(uint64_t latency_us) {
    if (latency_us <= LatencyBucketBoundUs(0)) return 0;
    int i = static_cast<int>(std::bit_width(latency_us - 1)) - 3;  // smallest 2^(i+3) >= us
    return i < kLatencyBuckets - 1 ? i : kLatencyBuckets - 1;
  }

 private:
  enum Field {
    kReadCmds, kReadBytes, kWriteCmds, kWriteBytes, kOtherCmds, kErrors, kLatencySum,
    kFirstBucket, kFields = kFirstBucket + kLatencyBuckets
  };
  struct alignas(64) Shard {
    std::array<std::atomic<uint64_t>, kFields> v{};
  };
  std::array<Shard, kShards> shards_{};
};

}  // namespace modtgt::scsi
