// SPDX-License-Identifier: Apache-2.0
// Target and TargetRegistry. See target.h.
#include "core/target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

#include "scsi/sense.h"

namespace modtgt::core {

namespace {

// A parsed address or prefix: family AF_INET (4 bytes used) or AF_INET6 (16 bytes).
struct IpPrefix {
  int family = 0;
  uint8_t bytes[16] = {};
  int prefix_len = 0;  // 32 or 128 for an exact address
};

bool IsV4Mapped(const uint8_t* b) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(b, kPrefix, sizeof(kPrefix)) == 0;
}

bool ParseIp(const std::string& text, IpPrefix* out) {
  std::string addr = text;
  if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') {
    addr = addr.substr(1, addr.size() - 2);
  }
  if (addr.empty() || addr.size() > INET6_ADDRSTRLEN) return false;
  in_addr v4;
  if (addr.find(':') == std::string::npos) {
    if (inet_pton(AF_INET, addr.c_str(), &v4) != 1) return false;
    out->family = AF_INET;
    std::memcpy(out->bytes, &v4, 4);
    out->prefix_len = 32;
    return true;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, addr.c_str(), &v6) != 1) return false;
  if (IsV4Mapped(v6.s6_addr)) {
    out->family = AF_INET;
    std::memcpy(out->bytes, v6.s6_addr + 12, 4);
    out->prefix_len = 32;
  } else {
    out->family = AF_INET6;
    std::memcpy(out->bytes, v6.s6_addr, 16);
    out->prefix_len = 128;
  }
  return true;
}

// Parses a rule: exact address or ADDR/LEN. Brackets only around the address part.
bool ParseRule(const std::string& rule, IpPrefix* out) {
  size_t slash = rule.find('/');
  if (slash == std::string::npos) return ParseIp(rule, out);
  std::string addr = rule.substr(0, slash);
  std::string len = rule.substr(slash + 1);
  if (len.empty() || len.size() > 3 ||
      !std::all_of(len.begin(), len.end(), [](unsigned char c) { return std::isdigit(c); })) {
    return false;
  }
  int n = std::stoi(len);
  bool was_v6_text = addr.find(':') != std::string::npos;
  if (!ParseIp(addr, out)) return false;
  if (out->family == AF_INET) {
    if (was_v6_text) {  // ::ffff:a.b.c.d/N with N >= 96 means a.b.c.d/(N-96)
      if (n < 96 || n > 128) return false;
      n -= 96;
    } else if (n > 32) {
      return false;
    }
  } else if (n > 128) {
    return false;
  }
  out->prefix_len = n;
  // Clear the host bits so the canonical form is unique.
  int total = out->family == AF_INET ? 4 : 16;
  for (int i = 0; i < total; ++i) {
    int bits_in_byte = std::clamp(n - i * 8, 0, 8);
    out->bytes[i] &= static_cast<uint8_t>(0xff00 >> bits_in_byte);
  }
  return true;
}

std::string FormatPrefix(const IpPrefix& p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(p.family, p.bytes, buf, sizeof(buf));
  std::string s = buf;
  int full = p.family == AF_INET ? 32 : 128;
  if (p.prefix_len != full) s += "/" + std::to_string(p.prefix_len);
  return s;
}

bool PrefixMatches(const IpPrefix& rule, const uint8_t* addr) {
  int n = rule.prefix_len;
  for (int i = 0; n > 0; ++i, n -= 8) {
    uint8_t mask = static_cast<uint8_t>(0xff00 >> std::min(n, 8));
    if ((addr[i] & mask) != (rule.bytes[i] & mask)) return false;
  }
  return true;
}

bool EqualsIgnoreCase(const std::string& a, const std::string& b) {
  return a.size() == b.size() && strcasecmp(a.c_str(), b.c_str()) == 0;
}

bool IsHex(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isxdigit(c); });
}

}  // namespace

// ---------------------------------------------------------------------------------------
// ACL address helpers

Result<std::string> CanonicalAclAddress(const std::string& addr) {
  if (EqualsIgnoreCase(addr, "ALL")) return std::string("ALL");
  IpPrefix p;
  if (!ParseRule(addr, &p)) {
    return Status::InvalidArgument("invalid initiator address '" + addr +
                                   "': expected ALL, an IPv4/IPv6 address or ADDR/PREFIXLEN");
  }
  return FormatPrefix(p);
}

bool AclAddressMatches(const std::string& rule, const sockaddr* peer) {
  if (peer == nullptr) return false;
  if (rule == "ALL") return true;
  IpPrefix r;
  if (!ParseRule(rule, &r)) return false;
  uint8_t addr[16];
  int family = 0;
  if (peer->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(peer);
    std::memcpy(addr, &sin->sin_addr, 4);
    family = AF_INET;
  } else if (peer->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(peer);
    if (IsV4Mapped(sin6->sin6_addr.s6_addr)) {
      std::memcpy(addr, sin6->sin6_addr.s6_addr + 12, 4);
      family = AF_INET;
    } else {
      std::memcpy(addr, sin6->sin6_addr.s6_addr, 16);
      family = AF_INET6;
    }
  } else {
    return false;
  }
  return family == r.family && PrefixMatches(r, addr);
}

// RFC 3720 3.2.6.1: at most 223 bytes. 3.2.6.3: "iqn." date "." naming authority
// [":" unique], "eui." 16 hex digits, "naa." 16 or 32 hex digits (RFC 3980).
Status ValidateIscsiName(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("invalid iSCSI name '" + name + "': " + why);
  };
  if (name.empty()) return bad("empty");
  if (name.size() > 223) return bad("longer than 223 bytes");
  if (name.compare(0, 4, "eui.") == 0) {
    std::string hex = name.substr(4);
    if (hex.size() != 16 || !IsHex(hex)) return bad("eui. must be followed by 16 hex digits");
    return Status::OK();
  }
  if (name.compare(0, 4, "naa.") == 0) {
    std::string hex = name.substr(4);
    if ((hex.size() != 16 && hex.size() != 32) || !IsHex(hex)) {
      return bad("naa. must be followed by 16 or 32 hex digits");
    }
    return Status::OK();
  }
  if (name.compare(0, 4, "iqn.") != 0) return bad("must start with iqn., eui. or naa.");
  for (unsigned char c : name) {
    if (std::isupper(c)) return bad("iqn. names are lowercase");
    if (!(std::islower(c) || std::isdigit(c) || c == '-' || c == '.' || c == ':')) {
      return bad(std::string("character '") + static_cast<char>(c) +
                 "' not allowed (use a-z 0-9 - . :)");
    }
  }
  // "iqn." yyyy "-" mm "." authority
  if (name.size() < 13 || !std::isdigit(static_cast<unsigned char>(name[4])) ||
      !std::isdigit(static_cast<unsigned char>(name[5])) ||
      !std::isdigit(static_cast<unsigned char>(name[6])) ||
      !std::isdigit(static_cast<unsigned char>(name[7])) || name[8] != '-' ||
      !std::isdigit(static_cast<unsigned char>(name[9])) ||
      !std::isdigit(static_cast<unsigned char>(name[10])) || name[11] != '.') {
    return bad("expected iqn.yyyy-mm.<reversed domain>[:<unique name>]");
  }
  int month = (name[9] - '0') * 10 + (name[10] - '0');
  if (month < 1 || month > 12) return bad("month must be 01..12");
  if (name[12] == ':' || name[12] == '.') return bad("naming authority missing");
  return Status::OK();
}

// ---------------------------------------------------------------------------------------
// Target

Target::Target(int tid, std::string name)
    : tid_(tid), name_(std::move(name)), luns_(std::make_shared<const LunMap>()) {}

std::string Target::alias() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alias_;
}

void Target::set_alias(std::string alias) {
  std::lock_guard<std::mutex> lock(mu_);
  alias_ = std::move(alias);
}

scsi::AluaConfig Target::alua() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alua_;
}

Status Target::SetAlua(const scsi::AluaConfig& cfg) {
  Status s = scsi::ValidateAluaConfig(cfg);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  alua_ = cfg;
  std::sort(alua_.peers.begin(), alua_.peers.end());
  for (const auto& [n, lu] : *luns_.load()) lu->alua().Configure(alua_);
  return Status::OK();
}

std::shared_ptr<const LunMap> Target::luns() const { return luns_.load(); }

std::shared_ptr<scsi::LogicalUnit> Target::FindLun(uint64_t lun) const {
  std::shared_ptr<const LunMap> map = luns_.load();
  auto it = map->find(lun);
  return it == map->end() ? nullptr : it->second;
}

std::vector<uint64_t> Target::ListLuns() const {
  std::shared_ptr<const LunMap> map = luns_.load();
  std::vector<uint64_t> out;
  out.reserve(map->size());
  for (const auto& [n, lu] : *map) out.push_back(n);  // std::map: already ascending
  return out;
}

// SPC-4 6.37 / SAM-5 5.14: after the LUN inventory changes, every other LU reports
// REPORTED LUNS DATA HAS CHANGED to each I_T nexus.
Status Target::AddLun(std::shared_ptr<scsi::LogicalUnit> lu) {
  return InsertLun(std::move(lu), nullptr);
}

Status Target::AddLun(std::shared_ptr<scsi::LogicalUnit> lu, DeviceConfig cfg) {
  return InsertLun(std::move(lu), &cfg);
}

Status Target::InsertLun(std::shared_ptr<scsi::LogicalUnit> lu, DeviceConfig* cfg) {
  if (lu == nullptr) return Status::InvalidArgument("no logical unit");
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const LunMap> old = luns_.load();
  if (old->count(lu->lun())) {
    return Status::AlreadyExists("LUN " + std::to_string(lu->lun()) + " already exists in target " +
                                 std::to_string(tid_));
  }
  // Its saved persistent reservations, before it can serve a command.
  if (std::shared_ptr<PrStateDir> prs = pr_state_.load()) prs->Attach(lu.get());
  auto next = std::make_shared<LunMap>(*old);
  lu->alua().Configure(alua_);
  (*next)[lu->lun()] = lu;
  if (cfg != nullptr) lun_devices_[lu->lun()] = std::move(*cfg);
  luns_.store(std::move(next));
  for (const auto& [n, other] : *old) {
    other->AddUnitAttentionAll(scsi::asc::kReportedLunsDataHasChanged);
  }
  return Status::OK();
}

Result<std::shared_ptr<scsi::LogicalUnit>> Target::RemoveLun(uint64_t lun) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const LunMap> old = luns_.load();
  auto it = old->find(lun);
  if (it == old->end()) {
    return Status::NotFound("no LUN " + std::to_string(lun) + " in target " +
                            std::to_string(tid_));
  }
  std::shared_ptr<scsi::LogicalUnit> removed = it->second;
  auto next = std::make_shared<LunMap>(*old);
  next->erase(lun);
  for (const auto& [n, other] : *next) {
    other->AddUnitAttentionAll(scsi::asc::kReportedLunsDataHasChanged);
  }
  luns_.store(std::move(next));
  lun_devices_.erase(lun);
  return removed;
}

Status Target::ReplaceLun(std::shared_ptr<scsi::LogicalUnit> lu) {
  if (lu == nullptr) return Status::InvalidArgument("no logical unit");
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<const LunMap> old = luns_.load();
  auto it = old->find(lu->lun());
  if (it == old->end()) {
    return Status::NotFound("no LUN " + std::to_string(lu->lun()) + " in target " +
                            std::to_string(tid_));
  }
  if (std::shared_ptr<PrStateDir> prs = pr_state_.load()) prs->Attach(lu.get());
  auto next = std::make_shared<LunMap>(*old);
  lu->alua().Configure(alua_);
  (*next)[lu->lun()] = lu;
  luns_.store(next);
  for (const auto& [n, other] : *next) {
    if (n != lu->lun()) other->AddUnitAttentionAll(scsi::asc::kReportedLunsDataHasChanged);
  }
  return Status::OK();
}

void Target::ForgetPrState(scsi::LogicalUnit* lu) {
  if (std::shared_ptr<PrStateDir> prs = pr_state_.load()) prs->Forget(lu);
}

void Target::SetPrState(std::shared_ptr<PrStateDir> store) {
  std::lock_guard<std::mutex> lock(mu_);
  pr_state_.store(store);
  if (store == nullptr) return;
  for (const auto& [n, lu] : *luns_.load()) store->Attach(lu.get());
}

void Target::SetLunDeviceConfig(uint64_t lun, DeviceConfig cfg) {
  std::lock_guard<std::mutex> lock(mu_);
  lun_devices_[lun] = std::move(cfg);
}

bool Target::GetLunDeviceConfig(uint64_t lun, DeviceConfig* cfg) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = lun_devices_.find(lun);
  if (it == lun_devices_.end()) return false;
  *cfg = it->second;
  return true;
}

Status Target::BindAddress(const std::string& addr) {
  Result<std::string> canon = CanonicalAclAddress(addr);
  if (!canon.ok()) return canon.status();
  std::lock_guard<std::mutex> lock(mu_);
  if (std::find(acl_addresses_.begin(), acl_addresses_.end(), *canon) != acl_addresses_.end()) {
    return Status::AlreadyExists("initiator address " + *canon + " is already bound to target " +
                                 std::to_string(tid_));
  }
  acl_addresses_.push_back(*canon);
  return Status::OK();
}

Status Target::UnbindAddress(const std::string& addr) {
  Result<std::string> canon = CanonicalAclAddress(addr);
  if (!canon.ok()) return canon.status();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = std::find(acl_addresses_.begin(), acl_addresses_.end(), *canon);
  if (it == acl_addresses_.end()) {
    return Status::NotFound("initiator address " + *canon + " is not bound to target " +
                            std::to_string(tid_));
  }
  acl_addresses_.erase(it);
  return Status::OK();
}

Status Target::BindName(const std::string& initiator_name) {
  if (initiator_name.empty() || initiator_name.size() > 223) {
    return Status::InvalidArgument("invalid initiator name '" + initiator_name + "'");
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& n : acl_names_) {
    if (EqualsIgnoreCase(n, initiator_name)) {
      return Status::AlreadyExists("initiator name " + initiator_name +
                                   " is already bound to target " + std::to_string(tid_));
    }
  }
  acl_names_.push_back(initiator_name);
  return Status::OK();
}

Status Target::UnbindName(const std::string& initiator_name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = acl_names_.begin(); it != acl_names_.end(); ++it) {
    if (EqualsIgnoreCase(*it, initiator_name)) {
      acl_names_.erase(it);
      return Status::OK();
    }
  }
  return Status::NotFound("initiator name " + initiator_name + " is not bound to target " +
                          std::to_string(tid_));
}

std::vector<std::string> Target::bound_addresses() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acl_addresses_;
}

std::vector<std::string> Target::bound_names() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acl_names_;
}

bool Target::AllowsInitiator(const sockaddr* peer, const std::string& initiator_name) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (acl_addresses_.empty() && acl_names_.empty()) return false;
  if (!acl_addresses_.empty()) {
    bool addr_ok = false;
    for (const auto& rule : acl_addresses_) {
      if (AclAddressMatches(rule, peer)) {
        addr_ok = true;
        break;
      }
    }
    if (!addr_ok) return false;
  }
  if (!acl_names_.empty()) {
    for (const auto& n : acl_names_) {
      if (EqualsIgnoreCase(n, initiator_name)) return true;
    }
    return false;
  }
  return true;
}

TargetParams Target::iscsi_params() const {
  std::lock_guard<std::mutex> lock(mu_);
  return iscsi_params_;
}

void Target::set_iscsi_params(TargetParams params) {
  std::lock_guard<std::mutex> lock(mu_);
  iscsi_params_ = std::move(params);
}

Status Target::SetIscsiParam(std::string_view key, std::string_view value) {
  std::lock_guard<std::mutex> lock(mu_);
  return iscsi_params_.Set(key, value);
}

// ---------------------------------------------------------------------------------------
// TargetRegistry

void TargetRegistry::set_debug(bool on) {
  if (on == debug_.exchange(on)) return;
  if (on) base_log_level_ = GetLogLevel();
  SetLogLevel(on ? LogLevel::kDebug : base_log_level_);
}

Status TargetRegistry::Add(std::shared_ptr<Target> target) {
  if (target == nullptr) return Status::InvalidArgument("no target");
  if (target->tid() < 1) {
    return Status::InvalidArgument("invalid tid " + std::to_string(target->tid()) +
                                   ": must be 1 or more");
  }
  MODTGT_RETURN_IF_ERROR(ValidateIscsiName(target->name()));
  std::lock_guard<std::mutex> lock(mu_);
  if (targets_.count(target->tid())) {
    return Status::AlreadyExists("target " + std::to_string(target->tid()) + " already exists");
  }
  for (const auto& [tid, t] : targets_) {
    if (EqualsIgnoreCase(t->name(), target->name())) {
      return Status::AlreadyExists("target name " + target->name() +
                                   " already exists (target " + std::to_string(tid) + ")");
    }
  }
  target->copy_targets_.store(this, std::memory_order_release);
  target->SetPrState(pr_state_);
  targets_[target->tid()] = std::move(target);
  return Status::OK();
}

Status TargetRegistry::Remove(int tid, bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = targets_.find(tid);
  if (it == targets_.end()) return Status::NotFound("no target " + std::to_string(tid));
  int sessions = it->second->sessions.load();
  if (sessions > 0 && !force) {
    return Status::Busy("target " + std::to_string(tid) + " has " + std::to_string(sessions) +
                        " session(s); log them out or use --force");
  }
  it->second->copy_targets_.store(nullptr, std::memory_order_release);
  targets_.erase(it);
  return Status::OK();
}

std::shared_ptr<Target> TargetRegistry::FindByTid(int tid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = targets_.find(tid);
  return it == targets_.end() ? nullptr : it->second;
}

std::shared_ptr<Target> TargetRegistry::FindByName(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [tid, t] : targets_) {
    if (EqualsIgnoreCase(t->name(), name)) return t;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Target>> TargetRegistry::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Target>> out;
  out.reserve(targets_.size());
  for (const auto& [tid, t] : targets_) out.push_back(t);
  return out;
}

}  // namespace modtgt::core
