// SPDX-License-Identifier: Apache-2.0
#include "admin/views.h"

#include <cinttypes>
#include <cstdio>

#include "core/accounts.h"
#include "core/device.h"
#include "core/lun_factory.h"
#include "modtgt/module.h"

namespace modtgt::admin {

using nlohmann::json;

std::string NaaHex(uint64_t naa) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%016" PRIx64, naa);
  return buf;
}

namespace {

const char* LockStateName(int state) {
  switch (state) {
    case MODTGT_LOCK_UNLOCKED: return "unlocked";
    case MODTGT_LOCK_LOCKED: return "locked";
    case MODTGT_LOCK_LOCKING: return "locking";
    default: return "unknown";
  }
}

}  // namespace

bool IsCd(const scsi::LogicalUnit& lu) {
  return lu.type() != nullptr && lu.type()->peripheral_type() == MODTGT_DEVTYPE_CDROM;
}

json LunJson(const core::Target& t, const scsi::LogicalUnit& lu) {
  const scsi::LuConfig& c = lu.config();
  const bool cd = IsCd(lu);
  json j;
  j["lun"] = lu.lun();
  if (lu.alua().enabled()) {
    // This gateway's ALUA state for the LU and the group whose gateway holds the lock.
    j["alua_state"] = scsi::AluaStateName(lu.alua().state());
    j["alua_holder"] = lu.alua().holder();
  }
  j["type"] = cd ? "cd" : "disk";
  j["device_type"] = cd ? "cd" : "disk";
  uint64_t size = lu.backend() ? lu.backend()->size_bytes() : 0;
  j["size_bytes"] = size;
  j["size"] = size;
  j["block_size"] = c.block_size;
  j["blocks"] = c.block_size ? size / c.block_size : 0;
  core::DeviceConfig dev;
  if (t.GetLunDeviceConfig(lu.lun(), &dev)) {
    j["backing_store"] = dev.cfgstring;
    j["cfgstring"] = dev.cfgstring;
    j["bstype"] = dev.bstype;
    j["bsopts"] = dev.bsopts;
    j["bsoflags"] = core::FormatBsOflags(dev.oflags);
    j["wwn"] = dev.wwn;
    j["hw_max_sectors"] = dev.hw_max_sectors;
    j["max_data_area_mb"] = dev.max_data_area_mb;
  } else {
    j["backing_store"] = nullptr;
    j["cfgstring"] = nullptr;
    j["bstype"] = nullptr;
    j["wwn"] = "";
    j["hw_max_sectors"] = c.max_transfer_blocks;
    j["max_data_area_mb"] = 0;
  }
  // Offline: the store could not be opened (with the reason), or the admin's online=0.
  j["online"] = !lu.offline();
  j["offline_reason"] = lu.offline() ? lu.offline_reason() : "";
  j["readonly"] = c.readonly;
  j["removable"] = c.removable;
  j["thin_provisioning"] = c.thin_provisioning;
  j["write_cache"] = lu.wce.load();
  if (cd) j["medium_present"] = lu.medium_present.load();
  j["vendor_id"] = c.vendor;
  j["product_id"] = c.product;
  j["product_rev"] = c.revision;
  j["scsi_sn"] = c.serial;
  j["scsi_id"] = c.device_id;
  j["naa"] = NaaHex(c.naa);
  j["max_transfer_blocks"] = c.max_transfer_blocks;
  j["inflight"] = lu.inflight.load();
  // tgtadm's "Prevent removal" (an initiator holds PREVENT ALLOW MEDIUM REMOVAL), "SWP"
  // (the control mode page's software write protect) and sense_format (D_SENSE).
  j["prevent_removal"] = lu.prevent_count.load() > 0;
  j["swp"] = lu.swp.load();
  j["sense_format"] = lu.d_sense.load() ? 1 : 0;
  // A module-backed device: its cluster lock and the events the module reported.
  auto* device = dynamic_cast<core::Device*>(lu.backend());
  if (device != nullptr) {
    const bool has_lock = device->has_lock();
    j["lock"] = {{"supported", has_lock},
                 {"state", has_lock ? LockStateName(device->GetLockState()) : "unknown"}};
    core::Device::EventCounts ev = device->events();
    j["events"] = {{"lock_lost", ev.lock_lost},
                   {"conn_lost", ev.conn_lost},
                   {"conn_restored", ev.conn_restored},
                   {"connected", ev.connected},
                   {"last", ev.last}};
  }
  return j;
}

std::vector<core::SessionInfo> SessionsOf(AdminContext* ctx, int tid) {
  std::vector<core::SessionInfo> out;
  if (ctx->transports == nullptr) return out;
  for (auto& s : ctx->transports->Sessions()) {
    if (s.tid == tid) out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> Portals(AdminContext* ctx) {
  return ctx->transports ? ctx->transports->Portals() : std::vector<std::string>();
}

json TargetJson(AdminContext* ctx, const core::Target& t) {
  json j;
  j["tid"] = t.tid();
  j["name"] = t.name();
  j["alias"] = t.alias();
  j["driver"] = "iscsi";
  j["state"] = core::TargetStateName(t.state());
  j["iscsi_params"] = TargetParamsJson(t);
  j["alua"] = scsi::DescribeAluaConfig(t.alua());
  json nexuses = json::array();
  auto sessions = SessionsOf(ctx, t.tid());
  for (const auto& s : sessions) nexuses.push_back(SessionJson(s));
  j["sessions"] = std::max<int64_t>(t.sessions.load(), static_cast<int64_t>(sessions.size()));
  j["nexuses"] = std::move(nexuses);
  json luns = json::array();
  for (const auto& [n, lu] : *t.luns()) luns.push_back(LunJson(t, *lu));
  j["luns"] = std::move(luns);
  j["acl"] = {{"addresses", t.bound_addresses()}, {"names", t.bound_names()}};
  // CHAP accounts bound to the target: tgtadm's lines ("user", "user (outgoing)"), and
  // the structured form.
  json accounts = json::array();
  core::AccountRegistry::Binding chap;
  if (ctx->accounts != nullptr) chap = ctx->accounts->BindingOf(t.tid());
  for (const auto& u : chap.incoming) accounts.push_back(u);
  if (!chap.outgoing.empty()) accounts.push_back(chap.outgoing + " (outgoing)");
  j["accounts"] = std::move(accounts);
  j["chap"] = {{"incoming", chap.incoming}, {"outgoing", chap.outgoing}};
  return j;
}

json TargetParamsJson(const core::Target& t) {
  core::TargetParams p = t.iscsi_params();
  json out = json::array();
  for (const auto& [k, v] : p.Effective()) {
    out.push_back({{"name", k}, {"value", v}, {"set", p.values().count(k) != 0}});
  }
  return out;
}

json SessionJson(const core::SessionInfo& s) {
  json conns = json::array();
  for (const auto& c : s.conns) {
    conns.push_back({{"cid", c.cid}, {"ip", c.peer_ip}, {"peer", c.peer}, {"local", c.local}});
  }
  return {{"nexus_id", s.nexus_id},
          {"sid", s.nexus_id},
          {"tid", s.tid},
          {"target", s.target_name},
          {"initiator", s.initiator_name},
          {"alias", s.initiator_alias},
          {"isid", s.isid},
          {"tsih", s.tsih},
          {"transport", s.transport},
          {"connections", s.connections},
          {"conns", std::move(conns)},
          {"stats", CountersJson(s.stats)}};
}

json CountersJson(const scsi::IoCountersSnapshot& c) {
  json buckets = json::array();
  for (int i = 0; i < scsi::kLatencyBuckets; i++) {
    json le = i == scsi::kLatencyBuckets - 1 ? json(nullptr) : json(scsi::LatencyBucketBoundUs(i));
    buckets.push_back({{"le_us", le}, {"count", c.latency[i]}});
  }
  return {{"commands", c.commands()},
          {"read_cmds", c.read_cmds},
          {"read_bytes", c.read_bytes},
          {"write_cmds", c.write_cmds},
          {"write_bytes", c.write_bytes},
          {"other_cmds", c.other_cmds},
          {"errors", c.errors},
          {"latency_us_sum", c.latency_us_sum},
          {"latency_buckets", std::move(buckets)}};
}

json ModuleJson(const core::ModuleInfo& m) {
  return {{"kind", m.kind},
          {"name", m.name},
          {"subtype", m.subtype},
          {"path", m.path},
          {"version", m.version},
          {"abi_version", m.abi_version},
          {"abi", std::to_string(m.abi_version >> 16) + "." + std::to_string(m.abi_version & 0xffff)},
          {"state", core::ModuleStateName(m.state)},
          {"error", m.error},
          {"description", m.description},
          {"cfg_desc", m.cfg_desc},
          {"capabilities", m.capabilities},
          {"nr_threads", m.nr_threads},
          {"users", m.users}};
}

json TransportJson(const core::TransportInfo& t) {
  json sessions = json::array();
  for (const auto& s : t.sessions) {
    sessions.push_back({{"tid", s.tid},
                        {"target", s.target_name},
                        {"initiator", s.initiator_name},
                        {"isid", s.isid},
                        {"tsih", s.tsih},
                        {"connections", s.connections}});
  }
  return {{"kind", t.kind},
          {"name", t.name},
          {"path", t.path},
          {"version", t.version},
          // Transports have no separate ABI: they are pinned to the exact daemon version.
          {"abi_version", 0},
          {"pinned_to", "modtgtd " + t.version},
          {"state", core::ModuleStateName(t.state)},
          {"error", t.error},
          {"description", t.description},
          {"configured_portals", t.configured_portals},
          {"portals", t.portals},
          {"sessions", sessions},
          {"targets", t.targets},
          {"users", t.users}};
}

}  // namespace modtgt::admin
