// SPDX-License-Identifier: Apache-2.0
// LUN factory. See lun_factory.h.
#include "core/lun_factory.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "modtgt/module.h"
#include "scsi/dispatch.h"

namespace modtgt::core {

namespace {

Status Bad(const std::string& msg) { return Status::InvalidArgument(msg); }

bool ParseBool(const std::string& v, bool* out) {
  static const char* kTrue[] = {"1", "yes", "true", "on"};
  static const char* kFalse[] = {"0", "no", "false", "off"};
  for (const char* t : kTrue) {
    if (strcasecmp(v.c_str(), t) == 0) {
      *out = true;
      return true;
    }
  }
  for (const char* f : kFalse) {
    if (strcasecmp(v.c_str(), f) == 0) {
      *out = false;
      return true;
    }
  }
  return false;
}

bool ParseU64(const std::string& v, uint64_t* out) {
  if (v.empty() || v.size() > 20 ||
      !std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return false;
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  *out = n;
  return true;
}

// "1048576", "10G", "512M", "4k", "1T" (binary units).
bool ParseSize(const std::string& v, uint64_t* out) {
  if (v.empty()) return false;
  std::string digits = v;
  uint64_t mult = 1;
  char last = static_cast<char>(std::toupper(static_cast<unsigned char>(v.back())));
  if (last == 'B' && v.size() >= 2 && std::isalpha(static_cast<unsigned char>(v[v.size() - 2]))) {
    digits.pop_back();  // "10GB"
    last = static_cast<char>(std::toupper(static_cast<unsigned char>(digits.back())));
  }
  switch (last) {
    case 'K': mult = 1ull << 10; break;
    case 'M': mult = 1ull << 20; break;
    case 'G': mult = 1ull << 30; break;
    case 'T': mult = 1ull << 40; break;
    default: break;
  }
  if (mult != 1) digits.pop_back();
  uint64_t n = 0;
  if (!ParseU64(digits, &n)) return false;
  if (n > UINT64_MAX / mult) return false;
  *out = n * mult;
  return true;
}

// SPC-4 4.3.1: ASCII data fields hold graphic characters 0x20..0x7e.
bool IsPrintableAscii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= 0x20 && c <= 0x7e; });
}

Status CheckAsciiField(const std::string& key, const std::string& v, size_t max) {
  if (v.empty()) return Bad("parameter " + key + " is empty");
  if (v.size() > max) {
    return Bad("parameter " + key + "='" + v + "' is longer than " + std::to_string(max) +
               " characters");
  }
  if (!IsPrintableAscii(v)) return Bad("parameter " + key + " must be printable ASCII");
  return Status::OK();
}

bool IsModuleName(const std::string& s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::islower(c) || std::isdigit(c) || c == '_';
  });
}

}  // namespace

uint64_t Fnv1a64(const void* data, size_t len, uint64_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t h = seed;
  for (size_t i = 0; i < len; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

namespace {
uint64_t IdentityHash(const std::string& target_name, uint64_t lun) {
  uint64_t h = Fnv1a64(target_name.data(), target_name.size());
  uint8_t lun_bytes[8];
  for (int i = 0; i < 8; ++i) lun_bytes[i] = static_cast<uint8_t>(lun >> (56 - 8 * i));
  return Fnv1a64(lun_bytes, sizeof(lun_bytes), h);
}
}  // namespace

std::string DeriveSerial(const std::string& target_name, uint64_t lun) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIX64, IdentityHash(target_name, lun));
  return buf;
}

// SPC-4 7.8.6.6.5: NAA IEEE Registered Extended designator: NAA (4 bits) = 6, IEEE company
// id (24 bits), vendor specific identifier (36 bits) [, extension (64 bits)].
uint64_t DeriveNaa(const std::string& target_name, uint64_t lun) {
  uint64_t h = IdentityHash(target_name, lun);
  // A second round so the NAA bits are not simply the serial's low bits.
  h = Fnv1a64(&h, sizeof(h), 0x6001405ull);
  return (0x6001405ull << 36) | (h & 0xfffffffffull);
}

Result<uint32_t> ParseBsOflags(const std::string& s) {
  uint32_t flags = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find_first_of(",:", start);
    if (end == std::string::npos) end = s.size();
    std::string word = s.substr(start, end - start);
    if (word == "direct") {
      flags |= MODTGT_OFLAG_DIRECT;
    } else if (word == "sync") {
      flags |= MODTGT_OFLAG_SYNC;
    } else if (!word.empty()) {
      return Bad("unknown --bsoflags value '" + word + "' (expected direct, sync)");
    }
    start = end + 1;
  }
  return flags;
}

std::string FormatBsOflags(uint32_t oflags) {
  std::string s;
  if (oflags & MODTGT_OFLAG_DIRECT) s += "direct";
  if (oflags & MODTGT_OFLAG_SYNC) s += s.empty() ? "sync" : ",sync";
  return s;
}

Status ApplyLunParams(const std::vector<std::pair<std::string, std::string>>& params,
                      LunPlan* plan) {
  LunPlan p = *plan;
  std::set<std::string> seen;
  for (const auto& kv : params) {
    // Plain references, not structured bindings: lambdas below capture them (clang < 16
    // cannot capture structured bindings).
    const std::string& key_in = kv.first;
    const std::string& value = kv.second;
    std::string key = key_in;
    if (key == "write_cache") key = "wce";
    if (!seen.insert(key).second) return Bad("parameter " + key_in + " given twice");
    auto need_bool = [&](bool* out) -> Status {
      if (!ParseBool(value, out)) {
        return Bad("parameter " + key_in + "='" + value + "': expected 0 or 1");
      }
      return Status::OK();
    };
    if (key == "readonly") {
      MODTGT_RETURN_IF_ERROR(need_bool(&p.lu.readonly));
      p.device.readonly = p.lu.readonly;
    } else if (key == "removable") {
      MODTGT_RETURN_IF_ERROR(need_bool(&p.lu.removable));
    } else if (key == "thin_provisioning") {
      MODTGT_RETURN_IF_ERROR(need_bool(&p.lu.thin_provisioning));
    } else if (key == "wce") {
      MODTGT_RETURN_IF_ERROR(need_bool(&p.lu.write_cache));
      p.device.write_cache = p.lu.write_cache;
    } else if (key == "vendor_id") {
      MODTGT_RETURN_IF_ERROR(CheckAsciiField(key, value, 8));
      p.lu.vendor = value;
    } else if (key == "product_id") {
      MODTGT_RETURN_IF_ERROR(CheckAsciiField(key, value, 16));
      p.lu.product = value;
    } else if (key == "product_rev") {
      MODTGT_RETURN_IF_ERROR(CheckAsciiField(key, value, 4));
      p.lu.revision = value;
    } else if (key == "scsi_sn") {
      // VPD 0x80 PRODUCT SERIAL NUMBER; tgt allows 36 characters.
      MODTGT_RETURN_IF_ERROR(CheckAsciiField(key, value, 36));
      if (value.find(' ') != std::string::npos) return Bad("parameter scsi_sn has spaces");
      p.lu.serial = value;
    } else if (key == "scsi_id") {
      MODTGT_RETURN_IF_ERROR(CheckAsciiField(key, value, 24));
      p.lu.device_id = value;
    } else if (key == "naa") {
      std::string hex = value;
      if (hex.size() > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex = hex.substr(2);
      if (hex.size() != 16 ||
          !std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); })) {
        return Bad("parameter naa='" + value + "': expected 16 hex digits");
      }
      uint64_t n = std::strtoull(hex.c_str(), nullptr, 16);
      if ((n >> 60) != 6) return Bad("parameter naa='" + value + "': must be an NAA-6 value (6...)");
      p.lu.naa = n;
    } else if (key == "size") {
      uint64_t n = 0;
      if (!ParseSize(value, &n) || n == 0) {
        return Bad("parameter size='" + value + "': expected a byte count, optionally with K/M/G/T");
      }
      p.device.size = n;
    } else if (key == "max_transfer_blocks") {
      uint64_t n = 0;
      if (!ParseU64(value, &n) || n > UINT32_MAX) {
        return Bad("parameter max_transfer_blocks='" + value + "': expected a 32-bit number");
      }
      p.lu.max_transfer_blocks = static_cast<uint32_t>(n);
    } else {
      return Bad("unknown parameter '" + key_in +
                 "' (known: readonly, removable, thin_provisioning, wce, vendor_id, product_id, "
                 "product_rev, scsi_sn, scsi_id, naa, size, max_transfer_blocks)");
    }
  }
  if (p.device.size != 0 && p.device.size % p.lu.block_size != 0) {
    return Bad("size " + std::to_string(p.device.size) + " is not a multiple of the block size " +
               std::to_string(p.lu.block_size));
  }
  *plan = std::move(p);
  return Status::OK();
}

Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req) {
  if (req.lun > kMaxLun) {
    return Bad("LUN " + std::to_string(req.lun) + " out of range (0.." + std::to_string(kMaxLun) +
               ")");
  }
  if (req.backing_store.empty()) return Bad("--backing-store is required");
  if (req.backing_store.size() > 4096 || !IsPrintableAscii(req.backing_store)) {
    return Bad("--backing-store must be printable text of at most 4096 characters");
  }
  std::string bstype = req.bstype.empty() ? "rdwr" : req.bstype;
  if (!IsModuleName(bstype)) {
    return Bad("invalid --bstype '" + bstype + "' (module names are [a-z0-9_]+)");
  }
  if (req.bsopts.size() > 4096 || !IsPrintableAscii(req.bsopts)) {
    return Bad("--bsopts must be printable text of at most 4096 characters");
  }
  Result<uint32_t> oflags = ParseBsOflags(req.bsoflags);
  if (!oflags.ok()) return oflags.status();
  uint32_t block_size = req.block_size == 0 ? 512 : req.block_size;
  if (block_size != 512 && block_size != 4096) {
    return Bad("--blocksize " + std::to_string(req.block_size) + " not supported (512 or 4096)");
  }

  LunPlan plan;
  plan.lu.lun = req.lun;
  plan.lu.block_size = block_size;
  plan.device.bstype = bstype;
  plan.device.cfgstring = req.backing_store;
  plan.device.bsopts = req.bsopts;
  plan.device.oflags = *oflags;
  plan.device.block_size = block_size;
  plan.device.user = "tid " + std::to_string(tid) + " lun " + std::to_string(req.lun);
  MODTGT_RETURN_IF_ERROR(ApplyLunParams(req.params, &plan));
  plan.device.readonly = plan.lu.readonly;
  plan.device.write_cache = plan.lu.write_cache;
  if (plan.lu.serial.empty()) plan.lu.serial = DeriveSerial(target_name, req.lun);
  if (plan.lu.naa == 0) plan.lu.naa = DeriveNaa(target_name, req.lun);
  return plan;
}

Result<std::shared_ptr<scsi::LogicalUnit>> CreateLun(const LunPlan& plan,
                                                     const std::string& target_name,
                                                     const DeviceOpener& open) {
  if (!open) return Status::Internal("no device opener");
  Result<std::unique_ptr<scsi::Backend>> backend = open(plan.device);
  if (!backend.ok()) return backend.status();
  if (*backend == nullptr) return Status::Internal("device opener returned no backend");
  uint64_t size = (*backend)->size_bytes();
  if (size < plan.lu.block_size) {
    // The backend is destroyed here (closing the device): nothing is left behind.
    return Status::InvalidArgument("backing store '" + plan.device.cfgstring + "' is " +
                                   std::to_string(size) + " bytes, smaller than one " +
                                   std::to_string(plan.lu.block_size) + "-byte block");
  }
  return std::make_shared<scsi::LogicalUnit>(plan.lu, &scsi::SbcDeviceType(),
                                             std::move(*backend), target_name);
}

Result<std::shared_ptr<scsi::LogicalUnit>> CreateLun(ModuleRegistry* modules, int tid,
                                                     const std::string& target_name,
                                                     const LunRequest& req,
                                                     DeviceConfig* device_out) {
  if (modules == nullptr) return Status::Internal("no module registry");
  Result<LunPlan> plan = PlanLun(tid, target_name, req);
  if (!plan.ok()) return plan.status();
  MODTGT_RETURN_IF_ERROR(modules->CheckConfig(plan->device));
  auto lu = CreateLun(*plan, target_name,
                      [modules](const DeviceConfig& cfg) { return modules->OpenDevice(cfg); });
  if (lu.ok() && device_out != nullptr) *device_out = plan->device;
  return lu;
}

}  // namespace modtgt::core
