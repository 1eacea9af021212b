// SPDX-License-Identifier: Apache-2.0
#include "core/pr_state.h"

#include <cctype>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/log.h"
#include "core/json_reader.h"
#include "core/strict_json.h"
#include "scsi/spec.h"

namespace modtgt::core {

namespace {

using nlohmann::json;

constexpr char kFormat[] = "modtgt-persistent-reservations";
constexpr uint64_t kVersion = 1;
constexpr size_t kMaxRegistrations = 4096;
constexpr size_t kMaxPortName = 300;  // an iSCSI name (223) + ",i,0x" + ISID, with room

std::string Hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, v);
  return buf;
}

// "0x" and 16 hex digits.
Status ParseHex64(const std::string& text, const std::string& place, uint64_t* out) {
  bool ok = text.size() == 18 && text[0] == '0' && text[1] == 'x';
  for (size_t i = 2; ok && i < text.size(); i++) ok = std::isxdigit(static_cast<unsigned char>(text[i]));
  if (!ok) return ObjectReader::Bad(place, "must be \"0x\" and 16 hex digits");
  *out = std::strtoull(text.c_str() + 2, nullptr, 16);
  return Status::OK();
}

bool ValidType(uint64_t t) {
  return t == scsi::kPrTypeWriteExclusive || t == scsi::kPrTypeExclusiveAccess ||
         t == scsi::kPrTypeWriteExclusiveRegistrantsOnly ||
         t == scsi::kPrTypeExclusiveAccessRegistrantsOnly ||
         t == scsi::kPrTypeWriteExclusiveAllRegistrants ||
         t == scsi::kPrTypeExclusiveAccessAllRegistrants;
}

Status PortName(ObjectReader& r, const char* key, bool required, std::string* out) {
  MODTGT_RETURN_IF_ERROR(r.Str(key, required, out));
  if (required && out->empty()) return ObjectReader::Bad(r.Place(key), "is empty");
  if (out->size() > kMaxPortName) return ObjectReader::Bad(r.Place(key), "is too long");
  return Status::OK();
}

Status ParseRegistration(const json& j, const std::string& where, scsi::PrRegistration* reg) {
  ObjectReader r(j, where);
  MODTGT_RETURN_IF_ERROR(r.IsObject());
  std::string key;
  MODTGT_RETURN_IF_ERROR(r.Str("key", true, &key));
  MODTGT_RETURN_IF_ERROR(ParseHex64(key, r.Place("key"), &reg->key));
  if (reg->key == 0) return ObjectReader::Bad(r.Place("key"), "a registration's key is never 0");
  MODTGT_RETURN_IF_ERROR(PortName(r, "initiator_port", true, &reg->initiator_port));
  MODTGT_RETURN_IF_ERROR(PortName(r, "target_port", true, &reg->target_port));
  uint64_t rel = 0;
  MODTGT_RETURN_IF_ERROR(r.U64("relative_port_id", true, UINT16_MAX, &rel));
  reg->relative_port_id = static_cast<uint16_t>(rel);
  MODTGT_RETURN_IF_ERROR(r.Bool("all_tg_pt", &reg->all_tg_pt));
  return r.Finish();
}

bool HolderRegistered(const scsi::PersistentReservations& pr) {
  for (const auto& r : pr.registrations) {
    if (r.initiator_port == pr.holder_initiator_port &&
        (r.all_tg_pt || r.target_port == pr.holder_target_port)) {
      return true;
    }
  }
  return false;
}

// Hex of the serial: any printable byte is safe in a file name this way.
std::string HexBytes(const std::string& s) {
  std::string out;
  char buf[3];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof(buf), "%02x", c);
    out += buf;
  }
  return out;
}

std::string Describe(const scsi::LogicalUnit& lu) {
  return "target " + lu.target_name() + " LUN " + std::to_string(lu.lun());
}

}  // namespace

std::string EncodePrState(const scsi::LuConfig& lu, const std::string& target_name,
                          const scsi::PersistentReservations& pr) {
  json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  // The identity is the key; target and LUN are there for a human reading the file.
  j["lu"] = {{"naa", Hex64(lu.naa)}, {"serial", lu.serial}, {"target", target_name},
             {"lun", lu.lun}};
  j["generation"] = pr.generation;
  j["aptpl"] = pr.aptpl;
  json regs = json::array();
  for (const auto& r : pr.registrations) {
    regs.push_back({{"key", Hex64(r.key)},
                    {"initiator_port", r.initiator_port},
                    {"target_port", r.target_port},
                    {"relative_port_id", r.relative_port_id},
                    {"all_tg_pt", r.all_tg_pt}});
  }
  j["registrations"] = std::move(regs);
  if (pr.reserved) {
    j["reservation"] = {{"type", pr.type},
                        {"holder_initiator_port", pr.holder_initiator_port},
                        {"holder_target_port", pr.holder_target_port}};
  } else {
    j["reservation"] = nullptr;
  }
  return j.dump(2) + "\n";
}

Result<scsi::PersistentReservations> ParsePrState(std::string_view text,
                                                  const scsi::LuConfig& lu) {
  Result<json> parsed = ParseJsonStrict(text, 8);
  if (!parsed.ok()) return parsed.status();
  ObjectReader r(*parsed, "");
  MODTGT_RETURN_IF_ERROR(r.IsObject());
  std::string format;
  MODTGT_RETURN_IF_ERROR(r.Str("format", true, &format));
  if (format != kFormat) {
    return ObjectReader::Bad("format", "must be \"" + std::string(kFormat) + "\"");
  }
  uint64_t version = 0;
  MODTGT_RETURN_IF_ERROR(r.U64("version", true, UINT32_MAX, &version));
  if (version != kVersion) {
    return ObjectReader::Bad("version", "is " + std::to_string(version) +
                                            "; this modtgtd reads version " +
                                            std::to_string(kVersion));
  }
  const json* id = r.Sub("lu");
  if (id == nullptr) return ObjectReader::Bad("lu", "missing");
  {
    ObjectReader ir(*id, "lu");
    MODTGT_RETURN_IF_ERROR(ir.IsObject());
    std::string naa_text, serial, target;
    uint64_t naa = 0, lun = 0;
    MODTGT_RETURN_IF_ERROR(ir.Str("naa", true, &naa_text));
    MODTGT_RETURN_IF_ERROR(ParseHex64(naa_text, "lu.naa", &naa));
    MODTGT_RETURN_IF_ERROR(ir.Str("serial", true, &serial));
    MODTGT_RETURN_IF_ERROR(ir.Str("target", false, &target));
    MODTGT_RETURN_IF_ERROR(ir.U64("lun", false, UINT64_MAX, &lun));
    MODTGT_RETURN_IF_ERROR(ir.Finish());
    if (naa != lu.naa || serial != lu.serial) {
      return Status::InvalidArgument("lu: the file belongs to the LU with NAA " + naa_text +
                                     " and serial '" + serial + "', not to NAA " +
                                     Hex64(lu.naa) + " serial '" + lu.serial + "'");
    }
  }
  scsi::PersistentReservations pr;
  MODTGT_RETURN_IF_ERROR(r.U32("generation", true, &pr.generation));
  if (!r.Has("aptpl")) return ObjectReader::Bad("aptpl", "missing");
  MODTGT_RETURN_IF_ERROR(r.Bool("aptpl", &pr.aptpl));
  if (!pr.aptpl) return ObjectReader::Bad("aptpl", "is false: such a state is never saved");
  const json* regs = r.Sub("registrations");
  if (regs == nullptr) return ObjectReader::Bad("registrations", "missing");
  if (!regs->is_array()) return ObjectReader::Bad("registrations", "must be an array");
  if (regs->size() > kMaxRegistrations) {
    return ObjectReader::Bad("registrations",
                             "more than " + std::to_string(kMaxRegistrations) + " entries");
  }
  std::set<std::pair<std::string, std::string>> seen;
  for (size_t i = 0; i < regs->size(); i++) {
    const std::string where = "registrations[" + std::to_string(i) + "]";
    scsi::PrRegistration reg;
    MODTGT_RETURN_IF_ERROR(ParseRegistration((*regs)[i], where, &reg));
    if (!seen.insert({reg.initiator_port, reg.all_tg_pt ? std::string() : reg.target_port}).second) {
      return ObjectReader::Bad(where, "the I_T nexus " + reg.initiator_port + " is registered twice");
    }
    pr.registrations.push_back(std::move(reg));
  }
  if (const json* res = r.Sub("reservation")) {
    ObjectReader rr(*res, "reservation");
    MODTGT_RETURN_IF_ERROR(rr.IsObject());
    uint64_t type = 0;
    MODTGT_RETURN_IF_ERROR(rr.U64("type", true, 15, &type));
    if (!ValidType(type)) return ObjectReader::Bad("reservation.type", "is not a reservation type");
    pr.reserved = true;
    pr.type = static_cast<uint8_t>(type);
    MODTGT_RETURN_IF_ERROR(PortName(rr, "holder_initiator_port", true, &pr.holder_initiator_port));
    MODTGT_RETURN_IF_ERROR(PortName(rr, "holder_target_port", true, &pr.holder_target_port));
    MODTGT_RETURN_IF_ERROR(rr.Finish());
    // SPC-4 5.13.9: only a registered I_T nexus holds a reservation (of an all-registrants
    // type too: it lasts while any registration does).
    if (!HolderRegistered(pr)) {
      return ObjectReader::Bad("reservation", "its holder " + pr.holder_initiator_port +
                                                  " is not registered");
    }
  }
  MODTGT_RETURN_IF_ERROR(r.Finish());
  return pr;
}

std::string PrStateDir::FolderFor(const std::string& config_path) {
  if (config_path.empty()) return "";
  return ParentFolder(config_path) + "/pr";
}

std::string PrStateDir::PathFor(const scsi::LuConfig& lu) const {
  if (lu.naa == 0 || lu.serial.empty()) return "";
  char naa[17];
  std::snprintf(naa, sizeof(naa), "%016" PRIx64, lu.naa);
  return dir_ + "/lu-" + naa + "-" + HexBytes(lu.serial) + ".json";
}

Status PrStateDir::Save(const scsi::LogicalUnit& lu, const scsi::PersistentReservations& pr) {
  const std::string path = PathFor(lu.config());
  if (path.empty()) return Status::InvalidArgument("the LU has no NAA or serial to key its file");
  if (!pr.aptpl) return RemoveFileDurably(path);
  MODTGT_RETURN_IF_ERROR(MakeFolders(dir_));
  AtomicWriteOptions o;
  o.mode = 0600;
  return WriteFileAtomic(path, EncodePrState(lu.config(), lu.target_name(), pr), o);
}

void PrStateDir::Attach(scsi::LogicalUnit* lu) {
  const std::string path = PathFor(lu->config());
  if (path.empty()) return;  // cannot be keyed: APTPL stays refused for this LU
  std::lock_guard<std::mutex> lock(lu->mutex());
  lu->pr_persistence = shared_from_this();
  if (!(lu->pr == scsi::PersistentReservations())) return;  // carried over from a rebuild
  Result<std::string> text = ReadWholeFile(path, kMaxFileBytes);
  if (!text.ok() && text.status().code() == Code::kNotFound) return;
  Result<scsi::PersistentReservations> pr =
      text.ok() ? ParsePrState(*text, lu->config()) : Result<scsi::PersistentReservations>(text.status());
  if (pr.ok()) {
    lu->pr = std::move(*pr);
    lu->UpdateReservationActiveLocked();
    LOG_INFO("%s: restored %zu persistent reservation registration(s)%s from %s",
             Describe(*lu).c_str(), lu->pr.registrations.size(),
             lu->pr.reserved ? " and the reservation" : "", path.c_str());
    return;
  }
  // Never trusted, never lost: moved aside for a human to look at.
  const std::string aside = path + ".corrupt";
  std::string moved = rename(path.c_str(), aside.c_str()) == 0
                          ? "it was moved to " + aside
                          : "it could not be moved aside (" + std::string(std::strerror(errno)) + ")";
  LOG_ERROR("%s: persistent reservation state %s is not valid: %s; %s, and the LU starts "
            "without persistent reservations",
            Describe(*lu).c_str(), path.c_str(), pr.status().message().c_str(), moved.c_str());
}

void PrStateDir::Forget(scsi::LogicalUnit* lu) {
  const std::string path = PathFor(lu->config());
  std::lock_guard<std::mutex> lock(lu->mutex());
  if (lu->pr_persistence.get() != this) return;
  lu->pr_persistence.reset();
  if (path.empty()) return;
  Status s = RemoveFileDurably(path);
  if (!s.ok()) {
    LOG_ERROR("%s was deleted but its persistent reservation state stays: %s",
              Describe(*lu).c_str(), s.ToString().c_str());
  }
}

}  // namespace modtgt::core
