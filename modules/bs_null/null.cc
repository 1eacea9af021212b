// SPDX-License-Identifier: Apache-2.0
//
// bs_null: a backing store that stores nothing. Reads return zeros, writes, flushes and
// unmaps succeed and are discarded. For benchmarking the target without storage in the
// way, and for tests. Built on modtgt/module.hpp (the C++ layer), which makes it the
// in-tree example of a C++ module.
//
// Size: config size (tgtadm --size / targetcli size), else bsopts "size=<N>[KMGTPE]",
// else a cfgstring that is a size ("null/10G" or "10G"), else 1 TiB (what tgt's bs_null
// reports).
#include <cstring>
#include <string>

#include "modtgt/module.hpp"

namespace {

constexpr uint64_t kDefaultSize = 1ull << 40;  // 1 TiB

// Parses "<digits>[K|M|G|T|P|E][i][B]" (binary units, case-insensitive) into bytes.
bool ParseSize(const std::string& s, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    i++;
  }
  if (i == 0) return false;
  int shift = 0;
  if (i < s.size()) {
    switch (s[i] | 0x20) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      case 'p': shift = 50; break;
      case 'e': shift = 60; break;
      case 'b': shift = 0; break;
      default: return false;
    }
    if ((s[i] | 0x20) != 'b') {
      i++;
      if (i < s.size() && (s[i] | 0x20) == 'i') i++;
      if (i < s.size() && (s[i] | 0x20) == 'b') i++;
    } else {
      i++;
    }
  }
  if (i != s.size()) return false;
  if (shift && v > (UINT64_MAX >> shift)) return false;
  *out = v << shift;
  return true;
}

// The device size a configuration asks for; throws modtgt::Error when it is invalid.
uint64_t SizeOf(const modtgt_dev_config& cfg) {
  uint64_t size = 0;
  std::string opts = cfg.bsopts;
  size_t pos = 0;
  while (pos <= opts.size()) {
    size_t end = opts.find_first_of(",;", pos);
    if (end == std::string::npos) end = opts.size();
    std::string kv = opts.substr(pos, end - pos);
    pos = end + 1;
    if (kv.empty()) continue;
    size_t eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    if (key != "size" || eq == std::string::npos) {
      throw modtgt::Error(MODTGT_EINVAL, "unknown option '" + kv + "' in bsopts (bs_null knows: size=<N>[KMGTPE])");
    }
    if (!ParseSize(kv.substr(eq + 1), &size) || size == 0) {
      throw modtgt::Error(MODTGT_EINVAL, "invalid size '" + kv.substr(eq + 1) + "' in bsopts (e.g. size=10G)");
    }
  }
  if (cfg.size != 0) {
    size = cfg.size;
  } else if (size == 0) {
    uint64_t from_path = 0;
    size = ParseSize(cfg.path, &from_path) && from_path ? from_path : kDefaultSize;
  }
  const uint32_t bs = cfg.block_size ? cfg.block_size : 512;
  if (size % bs != 0) {
    throw modtgt::Error(MODTGT_EINVAL, "size " + std::to_string(size) +
                                           " is not a multiple of the " + std::to_string(bs) +
                                           "-byte block size");
  }
  return size;
}

class NullDevice {
 public:
  static void CheckConfig(const modtgt_dev_config& cfg) { (void)SizeOf(cfg); }

  NullDevice(modtgt::Device dev, bool /*reopen*/) { dev.set_size(SizeOf(dev.config())); }

  int Read(modtgt_io*, const iovec* iov, int iovcnt, uint64_t) {
    for (int i = 0; i < iovcnt; i++) std::memset(iov[i].iov_base, 0, iov[i].iov_len);
    return MODTGT_STS_OK;
  }
  int Write(modtgt_io*, const iovec*, int, uint64_t, uint32_t) { return MODTGT_STS_OK; }
  int Flush(modtgt_io*) { return MODTGT_STS_OK; }
  int Unmap(modtgt_io*, uint64_t, uint64_t) { return MODTGT_STS_OK; }
  int WriteSame(modtgt_io*, const iovec*, int, uint64_t, uint64_t) { return MODTGT_STS_OK; }
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(NullDevice, "null", .version = "1.0.0",
                              .description = "discards writes, reads zeros (for benchmarks and tests)",
                              .cfg_desc = "any name, or a size such as 10G; bsopts size=<N>[KMGTPE]",
                              .nr_threads = 0, .caps = MODTGT_CAP_THIN)
