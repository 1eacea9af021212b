// SPDX-License-Identifier: Apache-2.0
// CRC32C (the iSCSI header and data digests) as the transport computes it: iscsi::Crc32c
// (ISA-L's crc32_iscsi behind it) on a 48-byte header, and the data path's
// DigestUpdate/DigestFinal on 8, 64 and 256 KiB. Bytes per second = digest throughput.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "iscsi/pdu.h"

namespace modtgt::iscsi {
namespace {

void BM_Crc32cHeader(benchmark::State& state) {
  std::vector<uint8_t> b(kBhsLength, 0x21);
  uint32_t acc = 0;
  for (auto _ : state) {
    b[16] = static_cast<uint8_t>(acc);  // a different header each time
    acc += Crc32c(b.data(), b.size());
  }
  benchmark::DoNotOptimize(acc);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * b.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Crc32cHeader);

void BM_Crc32cData(benchmark::State& state) {
  std::vector<uint8_t> b(static_cast<size_t>(state.range(0)));
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 131);
  uint32_t acc = 0;
  for (auto _ : state) acc += DigestFinal(DigestUpdate(kDigestInit, b.data(), b.size()));
  benchmark::DoNotOptimize(acc);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * b.size()));
}
BENCHMARK(BM_Crc32cData)->Arg(8 << 10)->Arg(64 << 10)->Arg(256 << 10);

}  // namespace
}  // namespace modtgt::iscsi
