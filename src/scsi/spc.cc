// SPDX-License-Identifier: Apache-2.0
// SPC-4 commands shared by every device type: INQUIRY and its VPD pages, TEST UNIT READY,
// REQUEST SENSE, REPORT LUNS, REPORT SUPPORTED OPERATION CODES, START STOP UNIT, PREVENT
// ALLOW MEDIUM REMOVAL, RESERVE/RELEASE, and the SPC table (SpcOps). MODE SENSE/SELECT are
// in spc_mode.cc, persistent reservations in pr.cc. Handlers run on the command's owning
// loop; each completes the command exactly once (scsi::Complete).
#include "scsi/spc.h"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>

#include "common/byteorder.h"
#include "scsi/alua.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/mmc.h"
#include "scsi/sbc.h"
#include "scsi/sense.h"
#include "scsi/spec.h"
#include "scsi/xcopy.h"

namespace modtgt::scsi {
namespace {

// ---------------------------------------------------------------------------------------
// Helpers

// Copies s into n bytes, space padded (SPC-4 4.4.1 ASCII fields).
void PutAscii(uint8_t* p, const std::string& s, size_t n) {
  std::memset(p, ' ', n);
  std::memcpy(p, s.data(), std::min(s.size(), n));
}

uint64_t Fnv1a(const std::string& s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string SerialOf(const LogicalUnit& lu) {
  if (!lu.config().serial.empty()) return lu.config().serial;
  // Stable for a given target name and LUN.
  uint64_t h = Fnv1a(lu.target_name() + "/" + std::to_string(lu.lun()));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return std::string("beaf") + buf;
}

// ---------------------------------------------------------------------------------------
// INQUIRY (SPC-4 6.6)

// The whole of the standard INQUIRY data (SPC-4 6.6.2); d is zeroed.
void StandardInquiry(Command* cmd, StandardInquiryData* d) {
  const LogicalUnit* lu = cmd->lu.get();
  LuConfig defaults;
  const LuConfig& cfg = lu ? lu->config() : defaults;
  // PERIPHERAL QUALIFIER 3 / type 1Fh for a LUN that does not exist (SPC-4 6.6.2).
  d->peripheral = lu ? (lu->type()->peripheral_type() & 0x1f) : kPeripheralNoLun;
  d->rmb = (lu && MediumRemovable(*lu)) ? kInquiryRmb : 0x00;  // always 1 for MMC
  d->version = kInquiryVersionSpc4;
  d->response_format = kInquiryHisup | kInquiryResponseDataFormat2;
  d->additional_length = sizeof(StandardInquiryData) - 5;
  // 3PC: the copy manager (EXTENDED COPY) of block devices; TPGS from the target's ALUA
  // configuration (SPC-4 6.6.2: 01b implicit, 10b explicit, 11b both); PROTECT 0.
  d->flags5 = (lu && IsSbc(*lu)) ? kInquiry3pc : 0x00;
  if (lu) d->flags5 |= static_cast<uint8_t>(lu->alua().tpgs() << kInquiryTpgsShift);
  d->flags6 = 0x00;
  d->flags7 = kInquiryCmdque;
  PutAscii(d->t10_vendor_identification, cfg.vendor, sizeof(d->t10_vendor_identification));
  PutAscii(d->product_identification, cfg.product, sizeof(d->product_identification));
  PutAscii(d->product_revision_level, cfg.revision, sizeof(d->product_revision_level));
  PutBe16(d->version_descriptor[0], kVersionDescriptorSam5);
  PutBe16(d->version_descriptor[1], kVersionDescriptorIscsi);
  PutBe16(d->version_descriptor[2], kVersionDescriptorSpc4);
  if (lu && IsSbc(*lu)) PutBe16(d->version_descriptor[3], kVersionDescriptorSbc3);
  if (lu && IsMmc(*lu)) PutBe16(d->version_descriptor[3], kVersionDescriptorMmc6);
}

// Appends a designation descriptor (SPC-4 7.8.6.1).
void AddDesignator(std::vector<uint8_t>& v, uint8_t proto_codeset, uint8_t piv_assoc_type,
                   const uint8_t* id, size_t len) {
  v.push_back(proto_codeset);
  v.push_back(piv_assoc_type);
  v.push_back(0);
  v.push_back(static_cast<uint8_t>(len));
  v.insert(v.end(), id, id + len);
}

// SCSI name string designator content: NUL terminated, padded to a multiple of 4.
std::vector<uint8_t> NameString(const std::string& s) {
  size_t n = (s.size() + 1 + 3) & ~size_t{3};
  std::vector<uint8_t> out(n, 0);
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

void VpdDeviceId(Command* cmd, std::vector<uint8_t>& v) {
  const LogicalUnit& lu = *cmd->lu;
  const LuConfig& cfg = lu.config();
  const std::array<uint8_t, 16> naa = LuNaaDesignator(lu);
  AddDesignator(v, 0x01 /* binary */, 0x03 /* LU, NAA */, naa.data(), naa.size());

  // T10 vendor ID based (type 1): "MODTGT  " + device id (or serial).
  std::string t10 = "MODTGT  ";
  t10 += cfg.device_id.empty() ? SerialOf(lu) : cfg.device_id;
  if (t10.size() > 255) t10.resize(255);
  AddDesignator(v, 0x02 /* ASCII */, 0x01 /* LU, T10 vendor */,
                reinterpret_cast<const uint8_t*>(t10.data()), t10.size());

  if (cmd->nexus) {
    constexpr uint8_t kIscsiProto = 0x50;
    // Relative target port (type 4), association target port, PIV 1.
    uint8_t rel[4] = {0, 0, 0, 0};
    PutBe16(rel + 2, RelativeTargetPort(*cmd));
    AddDesignator(v, kIscsiProto | 0x01, 0x80 | 0x10 | 0x04, rel, sizeof(rel));
    // Target port group (type 5, SPC-4 7.8.6.7): the gateway's ALUA group.
    if (lu.alua().enabled()) {
      uint8_t tpg[4] = {0, 0, 0, 0};
      PutBe16(tpg + 2, lu.alua().group());
      AddDesignator(v, kIscsiProto | 0x01, 0x80 | 0x10 | 0x05, tpg, sizeof(tpg));
    }
    // SCSI name string (type 8) of the target port and the target device.
    if (!cmd->nexus->target_port.empty()) {
      std::vector<uint8_t> n = NameString(cmd->nexus->target_port);
      if (n.size() <= 252) AddDesignator(v, kIscsiProto | 0x03, 0x80 | 0x10 | 0x08, n.data(), n.size());
    }
    std::vector<uint8_t> t = NameString(lu.target_name());
    if (!lu.target_name().empty() && t.size() <= 252) {
      AddDesignator(v, kIscsiProto | 0x03, 0x80 | 0x20 | 0x08, t.data(), t.size());
    }
  }
}

// Appends the bytes of a wire layout after the page header in v.
template <typename Page>
void AppendPageBody(std::vector<uint8_t>& v, const Page& page) {
  const auto* b = reinterpret_cast<const uint8_t*>(&page);
  v.insert(v.end(), b + sizeof(VpdPageHeader), b + sizeof(Page));
}

void VpdBlockLimits(const LogicalUnit& lu, std::vector<uint8_t>& v) {
  BlockLimitsVpd d{};
  d.maximum_compare_and_write_length = kMaxCompareAndWriteBlocks;
  uint32_t gran = std::max<uint32_t>(1, 4096 / lu.block_size());
  PutBe16(d.optimal_transfer_length_granularity, static_cast<uint16_t>(gran));
  const uint32_t max = MaxTransferBlocks(lu);
  PutBe32(d.maximum_transfer_length, max);  // enforced by the SBC handlers
  PutBe32(d.optimal_transfer_length,
          std::clamp<uint32_t>(kOptimalTransferBytes / lu.block_size(), 1, max));
  if (SbcLbpEnabled(lu)) {
    PutBe32(d.maximum_unmap_lba_count, kMaxUnmapLbaCount);
    PutBe32(d.maximum_unmap_block_descriptor_count, kMaxUnmapBlockDescriptors);
  }
  PutBe64(d.maximum_write_same_length, kMaxWriteSameBlocks);
  // SBC-4 6.6.4: atomic writes, only where the store guarantees them (no atomic boundary).
  const AtomicBlockLimits atomic = AtomicLimitsOf(lu);
  if (atomic.max_blocks != 0) {
    PutBe32(d.maximum_atomic_transfer_length, atomic.max_blocks);
    PutBe32(d.atomic_alignment, atomic.alignment);
    PutBe32(d.atomic_transfer_length_granularity, atomic.granularity);
  }
  AppendPageBody(v, d);
}

void Inquiry(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool evpd = cdb[offsetof(InquiryCdb, evpd)] & 0x01;
  const uint8_t page = cdb[offsetof(InquiryCdb, page_code)];
  const uint32_t alloc = GetBe16(cdb + offsetof(InquiryCdb, allocation_length));
  if (cdb[1] & 0xfe) return FailField(cmd, true, 1, (cdb[1] & 0x02) ? 1 : -1);  // CMDDT obsolete
  if (!evpd) {
    if (page != 0) return FailField(cmd, true, 2);
    StandardInquiryData d{};
    StandardInquiry(cmd, &d);
    return FinishDataIn(cmd, reinterpret_cast<const uint8_t*>(&d), sizeof(d), alloc);
  }
  if (!cmd->lu) return Fail(cmd, SenseKey::kIllegalRequest, asc::kLunNotSupported);
  const LogicalUnit& lu = *cmd->lu;
  const bool sbc = IsSbc(lu);
  std::vector<uint8_t> v(sizeof(VpdPageHeader), 0);
  v[offsetof(VpdPageHeader, peripheral)] = lu.type()->peripheral_type() & 0x1f;
  v[offsetof(VpdPageHeader, page_code)] = page;
  switch (page) {
    case kVpdSupportedPages: {
      v.insert(v.end(), {kVpdSupportedPages, kVpdUnitSerialNumber, kVpdDeviceIdentification});
      if (sbc) v.push_back(kVpdThirdPartyCopy);
      if (sbc) {
        v.insert(v.end(), {kVpdBlockLimits, kVpdBlockDeviceCharacteristics,
                           kVpdLogicalBlockProvisioning});
      }
      break;
    }
    case kVpdUnitSerialNumber: {  // SPC-4 7.8.15
      std::string s = SerialOf(lu);
      if (s.size() > 250) s.resize(250);
      v.insert(v.end(), s.begin(), s.end());
      break;
    }
    case kVpdDeviceIdentification:  // SPC-4 7.8.6
      VpdDeviceId(cmd, v);
      break;
    case kVpdThirdPartyCopy:  // SPC-4 7.8.17
      if (!sbc) return FailField(cmd, true, 2);
      AppendThirdPartyCopyVpd(lu, v);
      break;
    case kVpdBlockLimits:  // SBC-3 6.5.3
      if (!sbc) return FailField(cmd, true, 2);
      VpdBlockLimits(lu, v);
      break;
    case kVpdBlockDeviceCharacteristics: {  // SBC-3 6.5.2
      if (!sbc) return FailField(cmd, true, 2);
      BlockDeviceCharacteristicsVpd d{};
      PutBe16(d.medium_rotation_rate, kMediumRotationRateNonRotating);
      // WABEREQ with SANITIZE BLOCK ERASE offered; WACEREQ 0: no CRYPTO ERASE.
      if (SbcCanBlockErase(lu)) d.flags7 = kWabereqReadsSucceed;
      AppendPageBody(v, d);
      break;
    }
    case kVpdLogicalBlockProvisioning: {  // SBC-3 6.5.4
      if (!sbc) return FailField(cmd, true, 2);
      LogicalBlockProvisioningVpd d{};
      // Same answers as READ CAPACITY (16) LBPME/LBPRZ (SBC-4 6.6.5: they shall match).
      if (SbcLbpEnabled(lu)) {
        d.flags = kLbpVpdLbpu | kLbpVpdLbpws | kLbpVpdLbpws10;
        if (SbcLbprz(lu)) d.flags |= kLbpVpdLbprz;
        d.provisioning_type = kProvisioningTypeThin;
      }
      AppendPageBody(v, d);
      break;
    }
    default:
      return FailField(cmd, true, 2);
  }
  PutBe16(v.data() + offsetof(VpdPageHeader, page_length), static_cast<uint16_t>(v.size() - 4));
  FinishDataIn(cmd, v.data(), v.size(), alloc);
}

// ---------------------------------------------------------------------------------------
// TEST UNIT READY, REQUEST SENSE, REPORT LUNS

void TestUnitReady(Command* cmd) {
  // NOT READY / MEDIUM NOT PRESENT is checked by dispatch (kOpNeedsMedium).
  Complete(cmd);
}

// SPC-4 6.39 REQUEST SENSE: reports (and clears) a pending unit attention, else the
// current condition, else NO SENSE. The command itself completes with GOOD.
void RequestSense(Command* cmd) {
  const bool desc = cmd->cdb[1] & 0x01;
  const uint32_t alloc = cmd->cdb[4];
  if (cmd->cdb[1] & 0xfe) return FailField(cmd, true, 1);
  uint8_t buf[kMaxSenseLength] = {};
  size_t n;
  LogicalUnit* lu = cmd->lu.get();
  Asc ua;
  if (lu == nullptr) {
    n = BuildSense(buf, sizeof(buf), desc, SenseKey::kIllegalRequest, asc::kLunNotSupported);
  } else if (cmd->nexus && lu->TakeUnitAttention(*cmd->nexus, &ua)) {
    n = BuildSense(buf, sizeof(buf), desc, SenseKey::kUnitAttention, ua);
  } else if (lu->sanitizing.load()) {
    // SBC-4 4.11.3: the sanitize operation's progress.
    n = BuildSenseProgress(buf, sizeof(buf), desc, SenseKey::kNotReady,
                           asc::kLunNotReadySanitizeInProgress, lu->sanitize_progress.load());
  } else if (MediumRemovable(*lu) && !lu->medium_present.load()) {
    n = BuildSense(buf, sizeof(buf), desc, SenseKey::kNotReady, NoMediumAsc(*lu));
  } else {
    n = BuildSense(buf, sizeof(buf), desc, SenseKey::kNoSense, asc::kNone);
  }
  FinishDataIn(cmd, buf, n, alloc);
}

// SPC-4 6.33 REPORT LUNS.
void ReportLuns(Command* cmd) {
  const uint8_t select = cmd->cdb[2];
  const uint32_t alloc = GetBe32(cmd->cdb + 6);
  if (select > 0x02) return FailField(cmd, true, 2);
  if (alloc < 16) return FailField(cmd, true, 6);
  std::vector<uint64_t> luns;
  if (select != 0x01 && cmd->nexus && cmd->nexus->target) luns = cmd->nexus->target->ListLuns();
  std::vector<uint8_t> v(8, 0);
  for (uint64_t lun : luns) {
    uint8_t e[8] = {};
    if (lun < 256) {
      e[1] = static_cast<uint8_t>(lun);  // peripheral device addressing (SAM-5 4.7.7.2)
    } else if (lun < 16384) {
      e[0] = static_cast<uint8_t>(0x40 | (lun >> 8));  // flat space addressing
      e[1] = static_cast<uint8_t>(lun);
    } else {
      continue;  // not representable in the 2-level formats the transport decodes
    }
    v.insert(v.end(), e, e + 8);
  }
  PutBe32(v.data(), static_cast<uint32_t>(v.size() - 8));
  FinishDataIn(cmd, v.data(), v.size(), alloc);
}

// ---------------------------------------------------------------------------------------
// REPORT SUPPORTED OPERATION CODES (SPC-4 6.35)

void PutTimeoutDescriptor(std::vector<uint8_t>& v) {
  uint8_t t[12] = {};
  PutBe16(t, 0x0a);
  PutBe32(t + 4, 0);   // NOMINAL COMMAND PROCESSING TIMEOUT: unknown
  PutBe32(t + 8, 30);  // RECOMMENDED COMMAND TIMEOUT (seconds)
  v.insert(v.end(), t, t + 12);
}

void PutUsage(std::vector<uint8_t>& v, const OpInfo& op) {
  std::array<uint8_t, 16> u = op.usage;
  // SPC-4 6.35.3: byte 0 is the opcode and the SERVICE ACTION field holds the service action
  // (whatever the table says); the other bits are the usage map.
  u[0] = op.opcode;
  if (op.has_service_action) {
    if (op.opcode == kVariableLengthCdb) {
      PutBe16(u.data() + 8, op.service_action);
    } else {
      u[1] = static_cast<uint8_t>((u[1] & 0xe0) | (op.service_action & 0x1f));
    }
  }
  size_t len = std::min<size_t>(op.cdb_length, u.size());
  v.insert(v.end(), u.begin(), u.begin() + static_cast<long>(len));
}

void ReportSupportedOpcodes(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool rctd = cdb[2] & 0x80;
  const uint8_t options = cdb[2] & 0x07;
  const uint8_t req_op = cdb[3];
  const uint16_t req_sa = GetBe16(cdb + 4);
  const uint32_t alloc = GetBe32(cdb + 6);
  const LogicalUnit& lu = *cmd->lu;
  const DeviceType& type = *lu.type();
  std::vector<uint8_t> v;
  switch (options) {
    case 0: {  // all commands
      v.assign(4, 0);
      for (const OpInfo& op : type.ops()) {
        if (!OpSupportedBy(op, lu)) continue;  // an entry this LU does not offer
        uint8_t d[8] = {};
        d[0] = op.opcode;
        PutBe16(d + 2, op.has_service_action ? op.service_action : 0);
        d[5] = (rctd ? 0x02 : 0) | (op.has_service_action ? 0x01 : 0);  // CTDP SERVACTV
        PutBe16(d + 6, op.cdb_length);
        v.insert(v.end(), d, d + 8);
        if (rctd) PutTimeoutDescriptor(v);
      }
      PutBe32(v.data(), static_cast<uint32_t>(v.size() - 4));
      break;
    }
    case 1:
    case 2:
    case 3: {
      const OpInfo* first = type.FindFor(lu, req_op, req_sa);
      bool has_sa = false;
      for (const OpInfo& op : type.ops()) {
        if (op.opcode == req_op && op.has_service_action) has_sa = true;
      }
      if (options == 1 && has_sa) return FailField(cmd, true, 2);
      if (options == 2 && type.HasOpcode(req_op) && !has_sa) return FailField(cmd, true, 2);
      const OpInfo* op = nullptr;
      if (options == 1) {
        op = type.HasOpcode(req_op) ? type.FindFor(lu, req_op, 0) : nullptr;
      } else if (options == 2) {
        op = first && first->has_service_action ? first : nullptr;
      } else {
        op = first;
      }
      v.assign(4, 0);
      if (op) {
        v[1] = (rctd ? 0x80 : 0) | 0x03;  // CTDP, SUPPORT: supported per the standard
        PutBe16(v.data() + 2, op->cdb_length);
        PutUsage(v, *op);
        if (rctd) PutTimeoutDescriptor(v);
      } else {
        v[1] = 0x01;  // SUPPORT: not supported
      }
      break;
    }
    default:
      return FailField(cmd, true, 2, 2);
  }
  FinishDataIn(cmd, v.data(), v.size(), alloc);
}

// ---------------------------------------------------------------------------------------
// START STOP UNIT (SBC-3 5.25), PREVENT ALLOW MEDIUM REMOVAL (SPC-4 6.15)

void StartStopUnit(Command* cmd) {
  const uint8_t b4 = cmd->cdb[4];
  const uint8_t power_condition = b4 >> 4;
  const bool loej = b4 & 0x02;
  const bool start = b4 & 0x01;
  LogicalUnit* lu = cmd->lu.get();
  // A POWER CONDITION other than START_VALID changes the power condition only; START and
  // LOEJ are ignored (SBC-3 5.25 table 80).
  if (power_condition != 0) return Complete(cmd);
  if (loej) {
    if (!lu->config().removable) return FailField(cmd, true, 4, 1);
    // While a PREVENT is in force the medium mechanism is locked: ejecting fails (SBC-4
    // 5.25) and so does loading (libiscsi PreventAllow.Eject expects MEDIUM REMOVAL
    // PREVENTED for LOEJ=1 START=1 too, as a locked tray cannot be operated).
    if (lu->prevent_count.load() > 0) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kMediumRemovalPrevented);
    }
    lu->medium_present.store(start);
  }
  lu->stopped.store(!start);
  Complete(cmd);
}

void PreventAllow(Command* cmd) {
  const uint8_t prevent = cmd->cdb[4] & 0x03;
  LogicalUnit* lu = cmd->lu.get();
  if (prevent > 1) return FailField(cmd, true, 4, 1);
  if (cmd->nexus) {
    std::lock_guard<std::mutex> lock(lu->mutex());
    NexusLuState& st = lu->NexusStateLocked(*cmd->nexus);
    if (prevent && !st.prevent_removal) {
      st.prevent_removal = true;
      lu->prevent_count.fetch_add(1);
    } else if (!prevent && st.prevent_removal) {
      st.prevent_removal = false;
      lu->prevent_count.fetch_sub(1);
    }
  }
  Complete(cmd);
}

// ---------------------------------------------------------------------------------------
// RESERVE / RELEASE (SPC-2 7.21, 7.23). Refused while persistent reservation
// registrations exist (SPC-4 5.13.3, CRH = 0).

void Reserve(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  if (cmd->cdb[0] == kReserve10 && (cmd->cdb[1] & 0x12)) {
    return FailField(cmd, true, 1, (cmd->cdb[1] & 0x10) ? 4 : 1);  // 3RDPTY, LONGID
  }
  {
    std::lock_guard<std::mutex> lock(lu->mutex());
    const uint64_t me = cmd->nexus ? cmd->nexus->id : 0;
    if (!lu->pr.registrations.empty() || lu->pr.reserved ||
        (lu->spc2_reservation_holder != 0 && lu->spc2_reservation_holder != me)) {
      cmd->status = Status::kReservationConflict;
    } else {
      lu->spc2_reservation_holder = me;
      lu->UpdateReservationActiveLocked();
    }
  }
  Complete(cmd);
}

void Release(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  {
    std::lock_guard<std::mutex> lock(lu->mutex());
    const uint64_t me = cmd->nexus ? cmd->nexus->id : 0;
    if (!lu->pr.registrations.empty() || lu->pr.reserved) {
      cmd->status = Status::kReservationConflict;
    } else if (lu->spc2_reservation_holder == me) {
      lu->spc2_reservation_holder = 0;
      lu->UpdateReservationActiveLocked();
    }  // else: releasing someone else's reservation is a no-op with GOOD
  }
  Complete(cmd);
}

}  // namespace

uint32_t MaxTransferBlocks(const LogicalUnit& lu) {
  const uint32_t bs = lu.block_size() ? lu.block_size() : 512;
  const uint32_t cap = std::max<uint32_t>(1, kMaxTransferBytes / bs);
  const uint32_t want = lu.config().max_transfer_blocks ? lu.config().max_transfer_blocks
                                                        : kDefaultMaxTransferBytes / bs;
  return std::clamp<uint32_t>(want, 1, cap);
}

uint8_t PhysicalBlockExponent(const LogicalUnit& lu) {
  const uint32_t bs = lu.block_size();
  if (bs == 0 || bs >= kPhysicalBlockBytes || kPhysicalBlockBytes % bs != 0) return 0;
  uint8_t e = 0;
  while ((bs << e) < kPhysicalBlockBytes) ++e;
  return (bs << e) == kPhysicalBlockBytes ? e : 0;
}

std::array<uint8_t, 16> LuNaaDesignator(const LogicalUnit& lu) {
  const LuConfig& cfg = lu.config();
  // NAA IEEE Registered Extended (NAA 6): 4-bit NAA, 24-bit OUI, 36-bit vendor id, 64-bit
  // extension. Derived from the target name and LUN unless configured.
  uint64_t hi = cfg.naa;
  if (hi == 0) {
    hi = (Fnv1a(lu.target_name()) & 0x0000000fffffffffull) | (0x001405ull << 36);
  }
  hi = (hi & 0x0fffffffffffffffull) | (0x6ull << 60);
  const uint64_t lo = Fnv1a(std::to_string(lu.lun()), Fnv1a(lu.target_name() + cfg.serial));
  std::array<uint8_t, 16> naa{};
  PutBe64(naa.data(), hi);
  PutBe64(naa.data() + 8, lo);
  return naa;
}

AtomicBlockLimits AtomicLimitsOf(const LogicalUnit& lu) {
  AtomicBlockLimits out;
  const Backend* b = lu.backend();
  if (b == nullptr || !IsSbc(lu)) return out;
  const AtomicLimits l = b->atomic_limits();
  const uint32_t bs = lu.block_size();
  if (l.max_bytes == 0 || bs == 0) return out;
  // A byte alignment or granularity in whole blocks: at most one block if it divides the
  // block, else a whole number of blocks.
  auto blocks = [bs](uint32_t bytes, uint32_t* n) {
    if (bytes <= bs) {
      if (bytes != 0 && bs % bytes != 0) return false;
      *n = 1;
      return true;
    }
    if (bytes % bs != 0) return false;
    *n = bytes / bs;
    return true;
  };
  uint32_t align = 1, gran = 1;
  if (!blocks(l.align_bytes, &align) || !blocks(l.granularity_bytes, &gran)) return out;
  uint32_t max = std::min(l.max_bytes / bs, MaxTransferBlocks(lu));
  max -= max % gran;
  if (max == 0) return out;
  out.max_blocks = max;
  out.alignment = align;
  out.granularity = gran;
  return out;
}

namespace {
bool AluaOn(const LogicalUnit& lu) { return lu.alua().enabled(); }
bool AluaExplicit(const LogicalUnit& lu) { return (lu.alua().tpgs() & 2) != 0; }
}  // namespace

std::vector<OpInfo> SpcOps() {
  constexpr uint32_t kInfo = kOpNoUnitAttention | kOpNoLun | kOpConflictExempt;
  std::vector<OpInfo> ops = {
      Op(kTestUnitReady, &TestUnitReady, kOpNeedsMedium, "TEST UNIT READY",
         {kTestUnitReady, 0, 0, 0, 0, 0}),
      Op(kRequestSense, &RequestSense, kInfo, "REQUEST SENSE",
         {kRequestSense, 0x01, 0, 0, 0xff, 0}),
      Op(kInquiry, &Inquiry, kInfo, "INQUIRY", {kInquiry, 0x01, 0xff, 0xff, 0xff, 0}),
      Op(kModeSelect6, &ModeSelect, 0, "MODE SELECT(6)", {kModeSelect6, 0x11, 0, 0, 0xff, 0}),
      Op(kReserve6, &Reserve, 0, "RESERVE(6)", {kReserve6, 0, 0, 0, 0, 0}),
      Op(kRelease6, &Release, 0, "RELEASE(6)", {kRelease6, 0, 0, 0, 0, 0}),
      Op(kModeSense6, &ModeSense, 0, "MODE SENSE(6)", {kModeSense6, 0x08, 0xff, 0xff, 0xff, 0}),
      Op(kStartStopUnit, &StartStopUnit, 0, "START STOP UNIT",
         {kStartStopUnit, 0x01, 0, 0x0f, 0xf7, 0}),
      Op(kPreventAllowMediumRemoval, &PreventAllow, 0, "PREVENT ALLOW MEDIUM REMOVAL",
         {kPreventAllowMediumRemoval, 0, 0, 0, 0x03, 0}),
      Op(kModeSelect10, &ModeSelect, 0, "MODE SELECT(10)",
         {kModeSelect10, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0}),
      Op(kReserve10, &Reserve, 0, "RESERVE(10)", {kReserve10, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
      Op(kRelease10, &Release, 0, "RELEASE(10)", {kRelease10, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
      Op(kModeSense10, &ModeSense, 0, "MODE SENSE(10)",
         {kModeSense10, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0}),
      Op(kReportLuns, &ReportLuns, kInfo, "REPORT LUNS",
         {kReportLuns, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}),
      Op({kMaintenanceIn, kSaReportSupportedOperationCodes}, &ReportSupportedOpcodes,
         kOpConflictExempt, "REPORT SUPPORTED OPERATION CODES",
         {kMaintenanceIn, kSaReportSupportedOperationCodes, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff,
          0xff, 0xff, 0, 0}),
      OnlyIf(&AluaOn, Op({kMaintenanceIn, kSaReportTargetPortGroups}, &ReportTargetPortGroups,
                         kOpConflictExempt, "REPORT TARGET PORT GROUPS",
                         {kMaintenanceIn, 0xe0 | kSaReportTargetPortGroups, 0, 0, 0, 0, 0xff,
                          0xff, 0xff, 0xff, 0, 0})),
      OnlyIf(&AluaExplicit, Op({kMaintenanceOut, kSaSetTargetPortGroups}, &SetTargetPortGroups,
                               0, "SET TARGET PORT GROUPS",
                               {kMaintenanceOut, kSaSetTargetPortGroups, 0, 0, 0, 0, 0xff, 0xff,
                                0xff, 0xff, 0, 0})),
  };
  static const char* const kPrinNames[] = {"PERSISTENT RESERVE IN/READ KEYS",
                                           "PERSISTENT RESERVE IN/READ RESERVATION",
                                           "PERSISTENT RESERVE IN/REPORT CAPABILITIES",
                                           "PERSISTENT RESERVE IN/READ FULL STATUS"};
  for (uint8_t sa = kSaReadKeys; sa <= kSaReadFullStatus; ++sa) {
    ops.push_back(Op({kPersistentReserveIn, sa}, &PersistentReserveIn, 0, kPrinNames[sa],
                     {kPersistentReserveIn, sa, 0, 0, 0, 0, 0, 0xff, 0xff, 0}));
  }
  static const char* const kProutNames[] = {
      "PERSISTENT RESERVE OUT/REGISTER", "PERSISTENT RESERVE OUT/RESERVE",
      "PERSISTENT RESERVE OUT/RELEASE",  "PERSISTENT RESERVE OUT/CLEAR",
      "PERSISTENT RESERVE OUT/PREEMPT",  "PERSISTENT RESERVE OUT/PREEMPT AND ABORT",
      "PERSISTENT RESERVE OUT/REGISTER AND IGNORE EXISTING KEY"};
  for (uint8_t sa = kSaRegister; sa <= kSaRegisterAndIgnoreExistingKey; ++sa) {
    ops.push_back(Op({kPersistentReserveOut, sa}, &PersistentReserveOut, 0, kProutNames[sa],
                     {kPersistentReserveOut, sa, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0}));
  }
  return ops;
}

}  // namespace modtgt::scsi
