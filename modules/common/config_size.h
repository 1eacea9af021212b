// SPDX-License-Identifier: Apache-2.0
// Device size from a backing store's configuration, shared by the in-tree C++ modules
// (header-only; a module includes it next to modtgt/module.hpp).
//
// Order: the config's size (tgtadm/targetcli --size), else bsopts "size=<N>[KMGTPE]", else
// a cfgstring path that is itself a size ("null/10G"), else `fallback` (0 = required).
// Throws modtgt::Error(MODTGT_EINVAL, reason) on an invalid value; the module.hpp
// trampolines turn that into the callback's error and reason.
//
// ResizeError() (a reconfig's new size) throws nothing: the modules written against the C
// ABI alone (bs_uring, bs_rbd) give its reason to host->error themselves.
#pragma once

#include <cstdint>
#include <string>

#include "modtgt/module.hpp"

namespace modtgt::modules {

// Parses "<digits>[K|M|G|T|P|E][i][B]" (binary units, case-insensitive) into bytes.
inline bool ParseSize(const std::string& s, uint64_t* out) {
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

// Why a LUN with `block_size`-byte blocks cannot take `size` bytes as its new size
// (reconfig MODTGT_RECONFIG_SIZE): "" when it can (a positive multiple of the block size),
// else the reason the administrator sees.
inline std::string ResizeError(uint64_t size, uint32_t block_size) {
  if (size != 0 && block_size != 0 && size % block_size == 0) return {};
  return "size " + std::to_string(size) + " is not a positive multiple of the " +
         std::to_string(block_size) + "-byte block size";
}

// The device size `cfg` asks for (see the top of this file). `module` names the module in
// error messages.
inline uint64_t SizeFromConfig(const modtgt_dev_config& cfg, uint64_t fallback,
                               const std::string& module) {
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
      throw modtgt::Error(MODTGT_EINVAL, "unknown option '" + kv + "' in bsopts (bs_" + module +
                                             " knows: size=<N>[KMGTPE])");
    }
    if (!ParseSize(kv.substr(eq + 1), &size) || size == 0) {
      throw modtgt::Error(MODTGT_EINVAL,
                          "invalid size '" + kv.substr(eq + 1) + "' in bsopts (e.g. size=10G)");
    }
  }
  if (cfg.size != 0) {
    size = cfg.size;
  } else if (size == 0) {
    uint64_t from_path = 0;
    size = ParseSize(cfg.path, &from_path) && from_path ? from_path : fallback;
  }
  if (size == 0) {
    throw modtgt::Error(MODTGT_EINVAL, "bs_" + module + " needs a size: --bsopts size=<N>[KMGT]");
  }
  const uint32_t bs = cfg.block_size ? cfg.block_size : 512;
  if (size % bs != 0) {
    throw modtgt::Error(MODTGT_EINVAL, "size " + std::to_string(size) +
                                           " is not a multiple of the " + std::to_string(bs) +
                                           "-byte block size");
  }
  return size;
}

}  // namespace modtgt::modules
