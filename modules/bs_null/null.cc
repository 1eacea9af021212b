// SPDX-License-Identifier: Apache-2.0
//
// bs_null: a backing store that stores nothing. Reads return zeros, writes, flushes and
// unmaps succeed and are discarded. For benchmarking the target without storage in the
// way, and for tests. Built on modtgt/module.hpp (the C++ layer), which makes it the
// in-tree example of a C++ module.
//
// Reads complete with MODTGT_STS_ZEROS (module ABI 1.6): no fill, the daemon sends the
// Data-In from its shared zero buffer.
//
// Size: config size (tgtadm --size / targetcli size), else bsopts "size=<N>[KMGTPE]",
// else a cfgstring that is a size ("null/10G" or "10G"), else 1 TiB (what tgt's bs_null
// reports).
#include <string>

#include "../common/config_size.h"
#include "modtgt/module.hpp"

namespace {

constexpr uint64_t kDefaultSize = 1ull << 40;  // 1 TiB

class NullDevice {
 public:
  static void CheckConfig(const modtgt_dev_config& cfg) { (void)SizeOf(cfg); }
  static uint64_t SizeOf(const modtgt_dev_config& cfg) {
    return modtgt::modules::SizeFromConfig(cfg, kDefaultSize, "null");
  }

  NullDevice(modtgt::Device dev, bool /*reopen*/) { dev.set_size(SizeOf(dev.config())); }

  // Nothing to fill: the daemon sends the Data-In from its shared zero buffer, or fills
  // the iovecs itself for its own users of the bytes (module ABI 1.6).
  int Read(modtgt_io*, const iovec*, int, uint64_t) { return MODTGT_STS_ZEROS; }
  int Write(modtgt_io*, const iovec*, int, uint64_t, uint32_t) { return MODTGT_STS_OK; }
  int Flush(modtgt_io*) { return MODTGT_STS_OK; }
  int Unmap(modtgt_io*, uint64_t, uint64_t) { return MODTGT_STS_OK; }
  int WriteSame(modtgt_io*, const iovec*, int, uint64_t, uint64_t) { return MODTGT_STS_OK; }
  // Any size (the core sets it), any write cache setting; the config string means nothing.
  int Reconfig(const modtgt_reconfig&) { return 0; }
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(NullDevice, "null", .version = "1.0.0",
                              .description = "discards writes, reads zeros (for benchmarks and tests)",
                              .cfg_desc = "any name, or a size such as 10G; bsopts size=<N>[KMGTPE]",
                              .nr_threads = 0, .caps = MODTGT_CAP_THIN)
