// SPDX-License-Identifier: Apache-2.0
#include "core/saved_config.h"

#include <cinttypes>
#include <cstdio>
#include <algorithm>
#include <set>

#include "core/json_reader.h"
#include "core/strict_json.h"
#include "modtgt/module.h"

namespace modtgt::core {

namespace {

using nlohmann::json;

Status ParseNaa(const std::string& text, const std::string& place, uint64_t* out) {
  std::string hex = text;
  if (hex.size() > 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex = hex.substr(2);
  char* end = nullptr;
  uint64_t n = hex.size() == 16 ? std::strtoull(hex.c_str(), &end, 16) : 0;
  if (hex.size() != 16 || end == nullptr || *end != '\0' || (n >> 60) != 6) {
    return ObjectReader::Bad(place, "must be an NAA-6 value: \"0x6\" and 15 more hex digits");
  }
  *out = n;
  return Status::OK();
}

Status ParseChap(const json* j, const std::string& where, SavedChap* out) {
  if (j == nullptr) return Status::OK();
  ObjectReader r(*j, where);
  MODTGT_RETURN_IF_ERROR(r.IsObject());
  MODTGT_RETURN_IF_ERROR(r.StrList("incoming", &out->incoming));
  MODTGT_RETURN_IF_ERROR(r.Str("outgoing", false, &out->outgoing));
  std::sort(out->incoming.begin(), out->incoming.end());
  if (std::adjacent_find(out->incoming.begin(), out->incoming.end()) != out->incoming.end()) {
    return ObjectReader::Bad(r.Place("incoming"), "a user is given twice");
  }
  return r.Finish();
}

Result<SavedLun> ParseLun(const json& j, const std::string& where) {
  ObjectReader r(j, where);
  MODTGT_RETURN_IF_ERROR(r.IsObject());
  SavedLun l;
  std::string naa;
  uint64_t size = 0;
  MODTGT_RETURN_IF_ERROR(r.U64("lun", true, kMaxLun, &l.lun));
  MODTGT_RETURN_IF_ERROR(r.Str("device_type", true, &l.device_type));
  if (l.device_type != "disk" && l.device_type != "cd") {
    return ObjectReader::Bad(r.Place("device_type"), "must be \"disk\" or \"cd\"");
  }
  MODTGT_RETURN_IF_ERROR(r.Str("bstype", true, &l.bstype));
  MODTGT_RETURN_IF_ERROR(r.Str("cfgstring", true, &l.cfgstring));
  MODTGT_RETURN_IF_ERROR(r.Str("bsopts", false, &l.bsopts));
  MODTGT_RETURN_IF_ERROR(r.Str("bsoflags", false, &l.bsoflags));
  MODTGT_RETURN_IF_ERROR(r.U32("block_size", true, &l.block_size));
  MODTGT_RETURN_IF_ERROR(r.U64("size", false, UINT64_MAX, &size));
  l.size = size;
  MODTGT_RETURN_IF_ERROR(r.Str("wwn", false, &l.wwn));
  MODTGT_RETURN_IF_ERROR(r.U32("hw_max_sectors", false, &l.hw_max_sectors));
  MODTGT_RETURN_IF_ERROR(r.Str("control", false, &l.control));
  MODTGT_RETURN_IF_ERROR(r.Bool("readonly", &l.readonly));
  MODTGT_RETURN_IF_ERROR(r.Bool("removable", &l.removable));
  MODTGT_RETURN_IF_ERROR(r.Bool("thin_provisioning", &l.thin_provisioning));
  MODTGT_RETURN_IF_ERROR(r.Bool("write_cache", &l.write_cache));
  MODTGT_RETURN_IF_ERROR(r.Str("vendor_id", true, &l.vendor_id));
  MODTGT_RETURN_IF_ERROR(r.Str("product_id", true, &l.product_id));
  MODTGT_RETURN_IF_ERROR(r.Str("product_rev", true, &l.product_rev));
  MODTGT_RETURN_IF_ERROR(r.Str("scsi_sn", true, &l.scsi_sn));
  MODTGT_RETURN_IF_ERROR(r.Str("scsi_id", false, &l.scsi_id));
  MODTGT_RETURN_IF_ERROR(r.Str("naa", true, &naa));
  MODTGT_RETURN_IF_ERROR(ParseNaa(naa, r.Place("naa"), &l.naa));
  MODTGT_RETURN_IF_ERROR(r.Bool("online", &l.online));
  MODTGT_RETURN_IF_ERROR(r.Bool("sense_format", &l.sense_format));
  MODTGT_RETURN_IF_ERROR(r.Finish());
  return l;
}

Result<SavedTarget> ParseTarget(const json& j, const std::string& where) {
  ObjectReader r(j, where);
  MODTGT_RETURN_IF_ERROR(r.IsObject());
  SavedTarget t;
  uint64_t tid = 0;
  MODTGT_RETURN_IF_ERROR(r.U64("tid", true, 0x7fffffff, &tid));
  if (tid == 0) return ObjectReader::Bad(r.Place("tid"), "must be at least 1");
  t.tid = static_cast<int>(tid);
  MODTGT_RETURN_IF_ERROR(r.Str("name", true, &t.name));
  MODTGT_RETURN_IF_ERROR(r.Str("alias", false, &t.alias));
  if (const json* acl = r.Sub("acl")) {
    ObjectReader a(*acl, r.Place("acl"));
    MODTGT_RETURN_IF_ERROR(a.IsObject());
    MODTGT_RETURN_IF_ERROR(a.StrList("addresses", &t.acl_addresses));
    MODTGT_RETURN_IF_ERROR(a.StrList("names", &t.acl_names));
    MODTGT_RETURN_IF_ERROR(a.Finish());
  }
  MODTGT_RETURN_IF_ERROR(ParseChap(r.Sub("chap"), r.Place("chap"), &t.chap));
  if (const json* alua = r.Sub("alua")) {
    // {"group": "2", "peers": "1:3", "mode": "both", "nonholder": "standby"}
    ObjectReader a(*alua, r.Place("alua"));
    MODTGT_RETURN_IF_ERROR(a.IsObject());
    for (const char* key : {"group", "peers", "mode", "nonholder"}) {
      std::string v;
      MODTGT_RETURN_IF_ERROR(a.Str(key, std::string(key) == "group", &v));
      if (!a.Has(key)) continue;
      Status s = scsi::SetAluaParam(key, v, &t.alua);
      if (!s.ok()) return ObjectReader::Bad(a.Place(key), s.message());
    }
    MODTGT_RETURN_IF_ERROR(a.Finish());
  }
  if (const json* iscsi = r.Sub("iscsi")) {
    if (!iscsi->is_object()) return ObjectReader::Bad(r.Place("iscsi"), "must be an object");
    TargetParams params;
    for (const auto& [k, v] : iscsi->items()) {
      const std::string place = r.Place("iscsi") + "." + k;
      if (!v.is_string()) return ObjectReader::Bad(place, "must be a string");
      Status s = params.Set(k, v.get<std::string>());
      if (!s.ok()) return ObjectReader::Bad(place, s.message());
    }
    t.iscsi = params.values();
  }
  MODTGT_RETURN_IF_ERROR(r.Str("state", false, &t.state));
  if (!ParseTargetState(t.state).ok()) {
    return ObjectReader::Bad(r.Place("state"), "must be \"ready\" or \"offline\"");
  }
  if (const json* luns = r.Sub("luns")) {
    if (!luns->is_array()) return ObjectReader::Bad(r.Place("luns"), "must be an array");
    std::set<uint64_t> seen;
    for (size_t i = 0; i < luns->size(); i++) {
      const std::string place = r.Place("luns") + "[" + std::to_string(i) + "]";
      Result<SavedLun> l = ParseLun((*luns)[i], place);
      if (!l.ok()) return l.status();
      if (!seen.insert(l->lun).second) {
        return ObjectReader::Bad(place + ".lun", "LUN " + std::to_string(l->lun) + " given twice");
      }
      t.luns.push_back(std::move(*l));
    }
  }
  MODTGT_RETURN_IF_ERROR(r.Finish());
  return t;
}

Status ParseModules(const json* list, const std::string& place, std::vector<SavedModule>* out) {
  if (list == nullptr) return Status::OK();
  if (!list->is_array()) return ObjectReader::Bad(place, "must be an array");
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); i++) {
    ObjectReader r((*list)[i], place + "[" + std::to_string(i) + "]");
    MODTGT_RETURN_IF_ERROR(r.IsObject());
    SavedModule m;
    MODTGT_RETURN_IF_ERROR(r.Str("name", true, &m.name));
    MODTGT_RETURN_IF_ERROR(r.Str("path", false, &m.path));
    MODTGT_RETURN_IF_ERROR(r.Finish());
    if (m.name.empty()) return ObjectReader::Bad(r.Place("name"), "is empty");
    if (!m.path.empty() && m.path[0] != '/') {
      return ObjectReader::Bad(r.Place("path"), "must be an absolute path");
    }
    if (!seen.insert(m.name).second) {
      return ObjectReader::Bad(r.Place("name"), "module " + m.name + " given twice");
    }
    out->push_back(std::move(m));
  }
  return Status::OK();
}

template <typename J>
J ModulesJson(const std::vector<SavedModule>& mods) {
  J a = J::array();
  for (const auto& m : mods) {
    J o = {{"name", m.name}};
    if (!m.path.empty()) o["path"] = m.path;
    a.push_back(std::move(o));
  }
  return a;
}

}  // namespace

std::string NaaText(uint64_t naa) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, naa);
  return buf;
}

Result<SavedConfig> SavedConfigFromJson(const json& j) {
  ObjectReader r(j, "");
  if (!j.is_object()) return Status::InvalidArgument("the configuration must be a JSON object");
  SavedConfig c;
  uint64_t schema = 0;
  MODTGT_RETURN_IF_ERROR(r.U64("schema", true, INT32_MAX, &schema));
  if (schema != static_cast<uint64_t>(kConfigSchema)) {
    return Status::InvalidArgument("schema " + std::to_string(schema) +
                                   " is not supported (this modtgtd reads schema " +
                                   std::to_string(kConfigSchema) + ")");
  }
  std::string generator;
  MODTGT_RETURN_IF_ERROR(r.Str("modtgt", false, &generator));  // informational
  if (const json* mods = r.Sub("modules")) {
    ObjectReader m(*mods, "modules");
    MODTGT_RETURN_IF_ERROR(m.IsObject());
    c.has_modules = true;
    MODTGT_RETURN_IF_ERROR(
        ParseModules(m.Sub("backing_stores"), m.Place("backing_stores"), &c.backing_stores));
    MODTGT_RETURN_IF_ERROR(ParseModules(m.Sub("transports"), m.Place("transports"), &c.transports));
    MODTGT_RETURN_IF_ERROR(m.Finish());
  }
  if (const json* portals = r.Sub("portals")) {
    if (!portals->is_object()) return ObjectReader::Bad("portals", "must be an object");
    c.has_portals = true;
    ObjectReader p(*portals, "portals");
    for (const auto& [name, list] : portals->items()) {
      MODTGT_RETURN_IF_ERROR(p.StrList(name.c_str(), &c.portals[name]));
    }
  }
  if (const json* targets = r.Sub("targets")) {
    if (!targets->is_array()) return ObjectReader::Bad("targets", "must be an array");
    std::set<int> tids;
    std::set<std::string> names;
    for (size_t i = 0; i < targets->size(); i++) {
      const std::string place = "targets[" + std::to_string(i) + "]";
      Result<SavedTarget> t = ParseTarget((*targets)[i], place);
      if (!t.ok()) return t.status();
      if (!tids.insert(t->tid).second) {
        return ObjectReader::Bad(place + ".tid", "tid " + std::to_string(t->tid) + " given twice");
      }
      std::string lower = t->name;
      for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (!names.insert(lower).second) {
        return ObjectReader::Bad(place + ".name", "target name " + t->name + " given twice");
      }
      c.targets.push_back(std::move(*t));
    }
  }
  if (const json* accounts = r.Sub("accounts")) {
    if (!accounts->is_array()) return ObjectReader::Bad("accounts", "must be an array");
    std::set<std::string> users;
    for (size_t i = 0; i < accounts->size(); i++) {
      ObjectReader a((*accounts)[i], "accounts[" + std::to_string(i) + "]");
      MODTGT_RETURN_IF_ERROR(a.IsObject());
      SavedAccount acc;
      MODTGT_RETURN_IF_ERROR(a.Str("user", true, &acc.user));
      acc.has_secret = a.Has("secret");
      MODTGT_RETURN_IF_ERROR(a.Str("secret", false, &acc.secret));
      MODTGT_RETURN_IF_ERROR(a.Finish());
      if (!users.insert(acc.user).second) {
        return ObjectReader::Bad(a.Place("user"), "account " + acc.user + " given twice");
      }
      c.accounts.push_back(std::move(acc));
    }
  }
  MODTGT_RETURN_IF_ERROR(ParseChap(r.Sub("discovery"), "discovery", &c.discovery));
  if (const json* sys = r.Sub("system")) {
    ObjectReader s(*sys, "system");
    MODTGT_RETURN_IF_ERROR(s.IsObject());
    MODTGT_RETURN_IF_ERROR(s.Str("state", false, &c.system_state));
    if (!ParseTargetState(c.system_state).ok()) {
      return ObjectReader::Bad(s.Place("state"), "must be \"ready\" or \"offline\"");
    }
    MODTGT_RETURN_IF_ERROR(s.Bool("debug", &c.debug));
    MODTGT_RETURN_IF_ERROR(s.Finish());
  }
  MODTGT_RETURN_IF_ERROR(r.Finish());
  return c;
}

Result<SavedConfig> ParseSavedConfig(std::string_view text) {
  Result<json> j = ParseJsonStrict(text);
  if (!j.ok()) return j.status();
  return SavedConfigFromJson(*j);
}

namespace {

// The file's layout, keys in a fixed, readable order (schema first).
template <typename J>
J ChapJson(const SavedChap& chap) {
  return J{{"incoming", chap.incoming}, {"outgoing", chap.outgoing}};
}

template <typename J>
J ToJson(const SavedConfig& c, bool secrets) {
  J j;
  j["schema"] = c.schema;
  if (c.has_modules) {
    j["modules"] = {{"backing_stores", ModulesJson<J>(c.backing_stores)},
                    {"transports", ModulesJson<J>(c.transports)}};
  }
  if (c.has_portals) {
    J p = J::object();
    for (const auto& [name, list] : c.portals) p[name] = list;
    j["portals"] = std::move(p);
  }
  J targets = J::array();
  for (const auto& t : c.targets) {
    J luns = J::array();
    for (const auto& l : t.luns) {
      luns.push_back({{"lun", l.lun},
                      {"device_type", l.device_type},
                      {"bstype", l.bstype},
                      {"cfgstring", l.cfgstring},
                      {"bsopts", l.bsopts},
                      {"bsoflags", l.bsoflags},
                      {"block_size", l.block_size},
                      {"size", l.size},
                      {"wwn", l.wwn},
                      {"hw_max_sectors", l.hw_max_sectors},
                      {"control", l.control},
                      {"readonly", l.readonly},
                      {"removable", l.removable},
                      {"thin_provisioning", l.thin_provisioning},
                      {"write_cache", l.write_cache},
                      {"vendor_id", l.vendor_id},
                      {"product_id", l.product_id},
                      {"product_rev", l.product_rev},
                      {"scsi_sn", l.scsi_sn},
                      {"scsi_id", l.scsi_id},
                      {"naa", NaaText(l.naa)},
                      {"online", l.online},
                      {"sense_format", l.sense_format}});
    }
    J iscsi = J::object();
    for (const auto& [k, v] : t.iscsi) iscsi[k] = v;
    J target = {{"tid", t.tid},
                {"name", t.name},
                {"alias", t.alias},
                {"state", t.state},
                {"iscsi", std::move(iscsi)},
                {"acl", {{"addresses", t.acl_addresses}, {"names", t.acl_names}}},
                {"chap", ChapJson<J>(t.chap)},
                {"luns", std::move(luns)}};
    if (t.alua.enabled()) {
      J alua = J::object();
      for (const char* key : {"group", "peers", "mode", "nonholder"}) {
        alua[key] = scsi::AluaParamText(t.alua, key);
      }
      target["alua"] = std::move(alua);
    }
    targets.push_back(std::move(target));
  }
  j["targets"] = std::move(targets);
  J accounts = J::array();
  for (const auto& a : c.accounts) {
    J o = {{"user", a.user}};
    if (secrets && a.has_secret) o["secret"] = a.secret;
    accounts.push_back(std::move(o));
  }
  j["accounts"] = std::move(accounts);
  j["discovery"] = ChapJson<J>(c.discovery);
  j["system"] = {{"state", c.system_state}, {"debug", c.debug}};
  return j;
}

}  // namespace

json SavedConfigJson(const SavedConfig& c, bool secrets) { return ToJson<json>(c, secrets); }

std::string SerializeSavedConfig(const SavedConfig& c, bool secrets) {
  return ToJson<nlohmann::ordered_json>(c, secrets).dump(2) + "\n";
}

SavedLun SavedLunFromPlan(const LunPlan& plan) {
  SavedLun s;
  const scsi::LuConfig& c = plan.lu;
  const DeviceConfig& d = plan.device;
  s.lun = c.lun;
  s.device_type = plan.device_type == MODTGT_DEVTYPE_CDROM ? "cd" : "disk";
  s.bstype = d.bstype;
  s.cfgstring = d.cfgstring;
  s.bsopts = d.bsopts;
  s.bsoflags = FormatBsOflags(d.oflags);
  s.block_size = c.block_size;
  s.size = d.size;
  s.wwn = d.wwn;
  s.hw_max_sectors = c.max_transfer_blocks;
  if (d.max_data_area_mb != 0) s.control = "max_data_area_mb=" + std::to_string(d.max_data_area_mb);
  s.readonly = c.readonly;
  s.removable = c.removable;
  s.thin_provisioning = c.thin_provisioning;
  s.write_cache = c.write_cache;
  s.vendor_id = c.vendor;
  s.product_id = c.product;
  s.product_rev = c.revision;
  s.scsi_sn = c.serial;
  s.scsi_id = c.device_id;
  s.naa = c.naa;
  s.sense_format = plan.d_sense;
  return s;
}

SavedLun SavedLunFromLu(const scsi::LogicalUnit& lu, const DeviceConfig& dev) {
  LunPlan plan;
  plan.lu = lu.config();
  plan.lu.write_cache = lu.wce.load();
  plan.d_sense = lu.d_sense.load();
  plan.device = dev;
  plan.device_type =
      lu.type() != nullptr ? lu.type()->peripheral_type() : static_cast<uint32_t>(MODTGT_DEVTYPE_DISK);
  SavedLun s = SavedLunFromPlan(plan);
  s.online = !lu.admin_offline();
  return s;
}

LunRequest LunRequestFrom(const SavedLun& s) {
  LunRequest r;
  r.lun = s.lun;
  r.bstype = s.bstype;
  r.backing_store = s.cfgstring;
  r.bsopts = s.bsopts;
  r.bsoflags = s.bsoflags;
  r.block_size = s.block_size;
  if (s.size != 0) r.size = std::to_string(s.size);
  r.wwn = s.wwn;
  r.device_type = s.device_type;
  if (!s.control.empty()) {
    size_t start = 0;
    while (start <= s.control.size()) {
      size_t end = s.control.find(',', start);
      if (end == std::string::npos) end = s.control.size();
      std::string item = s.control.substr(start, end - start);
      start = end + 1;
      if (item.empty()) continue;
      size_t eq = item.find('=');
      // A malformed item goes on as given: PlanLun refuses it with its own message.
      r.control.emplace_back(item.substr(0, eq), eq == std::string::npos ? "" : item.substr(eq + 1));
    }
  }
  auto b = [](bool v) { return std::string(v ? "1" : "0"); };
  r.params = {{"readonly", b(s.readonly)},
              {"removable", b(s.removable)},
              {"thin_provisioning", b(s.thin_provisioning)},
              {"write_cache", b(s.write_cache)},
              {"vendor_id", s.vendor_id},
              {"product_id", s.product_id},
              {"product_rev", s.product_rev},
              {"scsi_sn", s.scsi_sn},
              {"naa", NaaText(s.naa)}};
  if (!s.scsi_id.empty()) r.params.emplace_back("scsi_id", s.scsi_id);
  if (s.sense_format) r.params.emplace_back("sense_format", "1");
  if (s.hw_max_sectors != 0) r.params.emplace_back("max_transfer_blocks", std::to_string(s.hw_max_sectors));
  return r;
}

}  // namespace modtgt::core
