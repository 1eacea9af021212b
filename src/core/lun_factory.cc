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
#include "scsi/mmc.h"
#include "scsi/spc.h"

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
namespace {
// NAA-6 high 64 bits: NAA 6, IEEE company id 0x001405, 36 vendor-specific bits of `hash`.
uint64_t Naa6(uint64_t hash) { return (0x6001405ull << 36) | (hash & 0xfffffffffull); }
}  // namespace

uint64_t DeriveNaa(const std::string& target_name, uint64_t lun) {
  uint64_t h = IdentityHash(target_name, lun);
  // A second round so the NAA bits are not simply the serial's low bits.
  h = Fnv1a64(&h, sizeof(h), 0x6001405ull);
  return Naa6(h);
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

Result<uint64_t> ParseSize(const std::string& s) {
  auto bad = [&s]() {
    return Bad("size '" + s +
               "' is not a byte count (digits, optionally followed by B, k/K/kB/KB, m/M/mB/MB, "
               "g/G/gB/GB or t/T/tB/TB; powers of 1024)");
  };
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return Bad("size '" + s + "' is too large");
    v = v * 10 + d;
    ++i;
  }
  if (i == 0) return bad();
  int shift = 0;
  if (i < s.size()) {
    switch (s[i]) {
      case 'k': case 'K': shift = 10; ++i; break;
      case 'm': case 'M': shift = 20; ++i; break;
      case 'g': case 'G': shift = 30; ++i; break;
      case 't': case 'T': shift = 40; ++i; break;
      default: break;
    }
  }
  if (i < s.size() && (s[i] == 'B' || s[i] == 'b')) ++i;
  if (i != s.size()) return bad();
  if (shift != 0 && v > (UINT64_MAX >> shift)) return Bad("size '" + s + "' is too large");
  v <<= shift;
  if (v == 0) return Bad("size '" + s + "' is zero");
  return v;
}

Result<std::string> CfgStringSubtype(const std::string& cfgstring) {
  if (cfgstring.find(':') != std::string::npos) {
    return Bad("config string '" + cfgstring +
               "' contains ':'; use the form SUBTYPE/CONFIG without ':' (e.g. ram/disk1, "
               "rdwr//srv/disk.img)");
  }
  size_t slash = cfgstring.find('/');
  if (slash == std::string::npos) {
    return Bad("config string '" + cfgstring +
               "' has no '/'; expected SUBTYPE/CONFIG (e.g. ram/disk1, rdwr//srv/disk.img)");
  }
  if (slash == 0) return Bad("config string '" + cfgstring + "' has an empty subtype before '/'");
  return cfgstring.substr(0, slash);
}

Status CheckWwn(const std::string& wwn) {
  if (wwn.empty()) return Bad("--wwn is empty");
  if (wwn.size() > 36) {
    return Bad("--wwn '" + wwn + "' is longer than 36 characters (it is the VPD 0x80 unit serial "
               "number)");
  }
  for (unsigned char c : wwn) {
    if (c <= 0x20 || c > 0x7e) {
      return Bad("--wwn must be printable ASCII without spaces (it is the VPD 0x80 unit serial "
                 "number)");
    }
  }
  return Status::OK();
}

uint64_t NaaFromWwn(const std::string& wwn) { return Naa6(Fnv1a64(wwn.data(), wwn.size())); }

Result<ModePageText> ParseModePage(const std::string& text) {
  if (text.size() > 4096) return Status::InvalidArgument("longer than 4096 characters");
  std::vector<uint64_t> nums;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(':', start);
    if (end == std::string::npos) end = text.size();
    std::string item = text.substr(start, end - start);
    start = end + 1;
    uint64_t n = 0;
    bool ok = !item.empty() && item.size() <= 10;
    if (ok && item.size() > 2 && item[0] == '0' && (item[1] == 'x' || item[1] == 'X')) {
      ok = std::all_of(item.begin() + 2, item.end(),
                       [](unsigned char c) { return std::isxdigit(c); });
      if (ok) n = std::strtoull(item.c_str() + 2, nullptr, 16);
    } else if (ok) {
      ok = ParseU64(item, &n);
    }
    if (!ok) return Status::InvalidArgument("'" + item + "' is not a number");
    nums.push_back(n);
  }
  if (nums.size() < 3) {
    return Status::InvalidArgument("expected PAGE:SUBPAGE:LENGTH:BYTE...");
  }
  if (nums[0] > 0x3f) return Status::InvalidArgument("page " + std::to_string(nums[0]) + " is over 63");
  if (nums[1] > 255) return Status::InvalidArgument("subpage " + std::to_string(nums[1]) + " is over 255");
  if (nums[2] != nums.size() - 3) {
    return Status::InvalidArgument("LENGTH " + std::to_string(nums[2]) + " but " +
                                   std::to_string(nums.size() - 3) + " bytes given");
  }
  ModePageText mp;
  mp.page = static_cast<uint8_t>(nums[0]);
  mp.subpage = static_cast<uint8_t>(nums[1]);
  for (size_t i = 3; i < nums.size(); i++) {
    if (nums[i] > 255) {
      return Status::InvalidArgument("byte " + std::to_string(nums[i]) + " is over 255");
    }
    mp.bytes.push_back(static_cast<uint8_t>(nums[i]));
  }
  return mp;
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
      Result<uint64_t> n = ParseSize(value);
      if (!n.ok()) return Bad("parameter size: " + n.status().message());
      p.device.size = *n;
    } else if (key == "max_transfer_blocks") {
      uint64_t n = 0;
      if (!ParseU64(value, &n) || n > UINT32_MAX) {
        return Bad("parameter max_transfer_blocks='" + value + "': expected a 32-bit number");
      }
      p.lu.max_transfer_blocks = static_cast<uint32_t>(n);
    } else if (key == "sense_format") {
      MODTGT_RETURN_IF_ERROR(need_bool(&p.d_sense));
    } else if (key == "mode_page") {
      // tgt-admin's write-cache on/off: the caching mode page (SBC-4 7.5.5) with WCE.
      Result<ModePageText> mp = ParseModePage(value);
      if (!mp.ok()) return Bad("parameter mode_page='" + value + "': " + mp.status().message());
      if (mp->page != 8 || mp->subpage != 0) {
        return Status::Unsupported(
            "parameter mode_page: page " + std::to_string(mp->page) + " subpage " +
            std::to_string(mp->subpage) +
            " cannot be set by the administrator in modtgt (only the caching page 8:0, "
            "for its WCE bit); the SCSI layer builds its mode pages itself");
      }
      if (mp->bytes.size() != 18) {
        return Bad("parameter mode_page: the caching page (8:0) is 18 bytes long, not " +
                   std::to_string(mp->bytes.size()));
      }
      p.lu.write_cache = (mp->bytes[0] & 0x04) != 0;  // byte 2 of the page: WCE
      p.device.write_cache = p.lu.write_cache;
    } else if (key == "lbppbe" || key == "la_lba" || key == "optimal_xfer_gran" ||
               key == "optimal_xfer_len") {
      return Status::Unsupported("parameter " + key_in +
                                 " is not supported: modtgt takes the block limits and the "
                                 "physical block exponent from the backing-store module");
    } else if (key == "element_type" || key == "address" || key == "start_address" ||
               key == "quantity" || key == "sides" || key == "clear_slot" ||
               key == "barcode" || key == "volume_tag" || key == "media_home" ||
               key == "tid" || key == "lun") {
      return Status::Unsupported("parameter " + key_in +
                                 " belongs to tgt's media changer (SMC) emulation, which "
                                 "modtgt does not have");
    } else {
      return Bad("unknown parameter '" + key_in +
                 "' (known: readonly, removable, thin_provisioning, wce, vendor_id, product_id, "
                 "product_rev, scsi_sn, scsi_id, naa, size, max_transfer_blocks, sense_format, "
                 "mode_page)");
    }
  }
  if (p.device.size != 0 && p.device.size % p.lu.block_size != 0) {
    return Bad("size " + std::to_string(p.device.size) + " is not a multiple of the block size " +
               std::to_string(p.lu.block_size));
  }
  *plan = std::move(p);
  return Status::OK();
}

namespace {

bool IsBlockSize(uint64_t n) { return n == 512 || n == 1024 || n == 2048 || n == 4096; }

bool HasParam(const LunRequest& req, const char* key, std::string* value = nullptr) {
  for (const auto& kv : req.params) {
    if (kv.first == key) {
      if (value != nullptr) *value = kv.second;
      return true;
    }
  }
  return false;
}

Result<LunPlan> PlanLunImpl(int tid, const std::string& target_name, const LunRequest& req,
                            const std::vector<ModuleInfo>* modules) {
  if (req.lun > kMaxLun) {
    return Bad("LUN " + std::to_string(req.lun) + " out of range (0.." + std::to_string(kMaxLun) +
               ")");
  }
  if (!req.backing_store.empty() && !req.cfgstring.empty()) {
    return Bad("give either --backing-store or --cfgstring, not both");
  }
  if (req.backing_store.empty() && req.cfgstring.empty()) {
    return Bad("--backing-store or --cfgstring is required");
  }
  const bool targetcli = !req.cfgstring.empty();
  const std::string& cfg = targetcli ? req.cfgstring : req.backing_store;
  const char* cfg_opt = targetcli ? "--cfgstring" : "--backing-store";
  if (cfg.size() > 4096 || !IsPrintableAscii(cfg)) {
    return Bad(std::string(cfg_opt) + " must be printable text of at most 4096 characters");
  }
  std::string subtype;
  if (targetcli) {
    Result<std::string> st = CfgStringSubtype(cfg);
    if (!st.ok()) return st.status();
    subtype = *st;
  }

  // The module: named, or found by the config string's subtype.
  std::string bstype = req.bstype;
  if (bstype.empty()) {
    if (!targetcli) {
      bstype = "rdwr";
    } else if (modules != nullptr) {
      for (const auto& m : *modules) {
        if (m.subtype == subtype) {
          bstype = m.name;
          break;
        }
      }
      if (bstype.empty()) {
        std::string have;
        for (const auto& m : *modules) have += (have.empty() ? "" : ", ") + m.subtype;
        return Bad("no loaded backing store has the subtype '" + subtype + "' of --cfgstring '" +
                   cfg + "' (loaded subtypes: " + (have.empty() ? "none" : have) +
                   "); load one or give --bstype");
      }
    } else {
      bstype = subtype;
    }
  }
  if (!IsModuleName(bstype)) {
    return Bad("invalid --bstype '" + bstype + "' (module names are [a-z0-9_]+)");
  }
  const ModuleInfo* minfo = modules != nullptr ? FindModuleInfo(*modules, bstype) : nullptr;
  if (targetcli && minfo != nullptr && minfo->subtype != subtype) {
    return Bad("--cfgstring '" + cfg + "' has the subtype '" + subtype + "', but backing store '" +
               bstype + "' takes config strings '" + minfo->subtype + "/...'");
  }
  if (req.bsopts.size() > 4096 || !IsPrintableAscii(req.bsopts)) {
    return Bad("--bsopts must be printable text of at most 4096 characters");
  }
  Result<uint32_t> oflags = ParseBsOflags(req.bsoflags);
  if (!oflags.ok()) return oflags.status();

  // Device type.
  uint32_t device_type = MODTGT_DEVTYPE_DISK;
  if (req.device_type.empty()) {
    if (minfo != nullptr && minfo->device_type == MODTGT_DEVTYPE_CDROM) {
      device_type = MODTGT_DEVTYPE_CDROM;
    }
  } else if (req.device_type == "cd") {
    device_type = MODTGT_DEVTYPE_CDROM;
  } else if (req.device_type != "disk") {
    return Bad("unknown --device-type '" + req.device_type + "' (disk or cd)");
  }
  const bool cd = device_type == MODTGT_DEVTYPE_CDROM;

  // --control.
  uint64_t hw_block_size = 0, max_data_area_mb = 0;
  std::set<std::string> seen;
  for (const auto& kv : req.control) {
    const std::string& key = kv.first;
    const std::string& value = kv.second;
    if (!seen.insert(key).second) return Bad("--control key " + key + " given twice");
    if (key == "max_data_area_mb") {
      if (!ParseU64(value, &max_data_area_mb) || max_data_area_mb < 1 ||
          max_data_area_mb > 2048) {
        return Bad("--control max_data_area_mb='" + value + "': expected 1..2048 (MiB)");
      }
    } else if (key == "hw_block_size") {
      if (!ParseU64(value, &hw_block_size) || !IsBlockSize(hw_block_size)) {
        return Bad("--control hw_block_size='" + value + "': expected 512, 1024, 2048 or 4096");
      }
    } else {
      return Bad("unknown --control key '" + key + "' (known: max_data_area_mb, hw_block_size)");
    }
  }

  // Block size: --blocksize, --control hw_block_size, the module's default, 512 (cd: 2048).
  if (req.block_size != 0 && !IsBlockSize(req.block_size)) {
    return Bad("--blocksize " + std::to_string(req.block_size) +
               " not supported (512, 1024, 2048 or 4096)");
  }
  if (req.block_size != 0 && hw_block_size != 0 && req.block_size != hw_block_size) {
    return Bad("--blocksize " + std::to_string(req.block_size) + " and --control hw_block_size=" +
               std::to_string(hw_block_size) + " disagree");
  }
  uint32_t default_bs = cd ? 2048 : 512;
  if (minfo != nullptr && minfo->default_block_size != 0) {
    if (!IsBlockSize(minfo->default_block_size)) {
      return Bad("backing store '" + bstype + "' declares an unsupported default block size " +
                 std::to_string(minfo->default_block_size));
    }
    default_bs = minfo->default_block_size;
  }
  const uint32_t explicit_bs =
      req.block_size != 0 ? req.block_size : static_cast<uint32_t>(hw_block_size);
  if (cd && explicit_bs != 0 && explicit_bs != default_bs) {
    return Bad("a cd LUN has " + std::to_string(default_bs) + "-byte blocks; block size " +
               std::to_string(explicit_bs) + " refused");
  }
  const uint32_t block_size = explicit_bs != 0 ? explicit_bs : default_bs;

  LunPlan plan;
  plan.device_type = device_type;
  plan.lu.lun = req.lun;
  plan.lu.block_size = block_size;
  plan.device.bstype = bstype;
  plan.device.cfgstring = cfg;
  plan.device.bsopts = req.bsopts;
  plan.device.oflags = *oflags;
  plan.device.block_size = block_size;
  plan.device.user = "tid " + std::to_string(tid) + " lun " + std::to_string(req.lun);
  if (cd) {
    plan.lu.product = "VIRTUAL-CDROM";
    std::string ro;
    bool ro_value = true;
    if (HasParam(req, "readonly", &ro) && ParseBool(ro, &ro_value) && !ro_value) {
      return Bad("readonly=0 is not possible for a cd LUN (MMC media here are read-only)");
    }
  }
  MODTGT_RETURN_IF_ERROR(ApplyLunParams(req.params, &plan));

  // --size (targetcli units).
  if (!req.size.empty()) {
    Result<uint64_t> size = ParseSize(req.size);
    if (!size.ok()) return Bad("--size: " + size.status().message());
    if (*size % block_size != 0) {
      return Bad("--size " + req.size + " (" + std::to_string(*size) +
                 " bytes) is not a multiple of the block size " + std::to_string(block_size));
    }
    if (plan.device.size != 0 && plan.device.size != *size) {
      return Bad("--size " + req.size + " and --params size disagree");
    }
    plan.device.size = *size;
  }

  // --wwn: the unit serial number and the NAA's source.
  if (!req.wwn.empty()) {
    MODTGT_RETURN_IF_ERROR(CheckWwn(req.wwn));
    if (!plan.lu.serial.empty() && plan.lu.serial != req.wwn) {
      return Bad("--wwn '" + req.wwn + "' and scsi_sn '" + plan.lu.serial +
                 "' disagree (the wwn is the unit serial number)");
    }
    plan.lu.serial = req.wwn;
    if (plan.lu.naa == 0) plan.lu.naa = NaaFromWwn(req.wwn);
    plan.device.wwn = req.wwn;
  }

  // Transfer length: --hw-max-sectors (VPD 0xB0 MAXIMUM TRANSFER LENGTH), capped by the
  // data area.
  const uint32_t max_blocks = std::max<uint32_t>(1, scsi::kMaxTransferBytes / block_size);
  if (req.hw_max_sectors != 0) {
    if (req.hw_max_sectors > max_blocks) {
      return Bad("--hw-max-sectors " + std::to_string(req.hw_max_sectors) + " is above " +
                 std::to_string(max_blocks) + " (" + std::to_string(scsi::kMaxTransferBytes >> 20) +
                 " MiB of " + std::to_string(block_size) + "-byte blocks)");
    }
    if (plan.lu.max_transfer_blocks != 0 && plan.lu.max_transfer_blocks != req.hw_max_sectors) {
      return Bad("--hw-max-sectors and --params max_transfer_blocks disagree");
    }
    plan.lu.max_transfer_blocks = static_cast<uint32_t>(req.hw_max_sectors);
  }
  if (max_data_area_mb != 0) {
    plan.device.max_data_area_mb = static_cast<uint32_t>(max_data_area_mb);
    const uint64_t fit = std::max<uint64_t>(1, (max_data_area_mb << 20) / block_size);
    uint64_t want = plan.lu.max_transfer_blocks != 0
                        ? plan.lu.max_transfer_blocks
                        : scsi::kDefaultMaxTransferBytes / block_size;
    plan.lu.max_transfer_blocks = static_cast<uint32_t>(std::min(want, fit));
  }
  plan.device.hw_max_sectors = plan.lu.max_transfer_blocks;

  if (cd) {
    plan.lu.removable = true;
    plan.lu.readonly = true;
  }
  plan.device.readonly = plan.lu.readonly;
  plan.device.write_cache = plan.lu.write_cache;
  if (plan.lu.serial.empty()) plan.lu.serial = DeriveSerial(target_name, req.lun);
  if (plan.lu.naa == 0) plan.lu.naa = DeriveNaa(target_name, req.lun);
  return plan;
}

}  // namespace

Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req) {
  return PlanLunImpl(tid, target_name, req, nullptr);
}

Result<LunPlan> PlanLun(int tid, const std::string& target_name, const LunRequest& req,
                        const std::vector<ModuleInfo>& modules) {
  return PlanLunImpl(tid, target_name, req, &modules);
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
  const scsi::DeviceType* type = plan.device_type == MODTGT_DEVTYPE_CDROM
                                      ? &scsi::MmcDeviceType()
                                      : &scsi::SbcDeviceType();
  auto lu = std::make_shared<scsi::LogicalUnit>(plan.lu, type, std::move(*backend), target_name);
  lu->d_sense.store(plan.d_sense);
  return lu;
}

Result<std::shared_ptr<scsi::LogicalUnit>> CreateLun(ModuleRegistry* modules, int tid,
                                                     const std::string& target_name,
                                                     const LunRequest& req,
                                                     DeviceConfig* device_out) {
  if (modules == nullptr) return Status::Internal("no module registry");
  Result<LunPlan> plan = PlanLun(tid, target_name, req, modules->List());
  if (!plan.ok()) return plan.status();
  MODTGT_RETURN_IF_ERROR(modules->CheckConfig(plan->device));
  auto lu = CreateLun(*plan, target_name,
                      [modules](const DeviceConfig& cfg) { return modules->OpenDevice(cfg); });
  if (lu.ok() && device_out != nullptr) *device_out = plan->device;
  return lu;
}

}  // namespace modtgt::core
