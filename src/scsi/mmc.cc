// SPDX-License-Identifier: Apache-2.0
// MMC-6 emulation of a read-only CD/DVD-ROM drive (peripheral device type 0x05). The SPC
// commands come from SpcOps(); READ (10/12) and READ CAPACITY (10) are the SBC handlers
// (same backend read path, range and transfer-length checks); the rest is here. Each
// handler completes the command exactly once (scsi::Complete).
#include "scsi/mmc.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "common/byteorder.h"
#include "scsi/backend.h"
#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

constexpr uint32_t kMmcBlockSize = 2048;
constexpr uint8_t kLeadOutTrack = 0xaa;
// ADR 1 (Q sub-channel encodes current position) / CONTROL 4 (data track, recorded
// uninterrupted): the byte every TOC and session descriptor of a data disc carries.
constexpr uint8_t kAdrControlData = 0x14;

// Profiles (MMC-6 5.3.1, table "Profile List").
constexpr uint16_t kProfileCdRom = 0x0008;
constexpr uint16_t kProfileDvdRom = 0x0010;

// Media event codes (MMC-6 6.7.2.5, table "Media Event Format").
constexpr uint8_t kMediaNoChange = 0;
constexpr uint8_t kMediaNewMedia = 2;
constexpr uint8_t kMediaRemoval = 3;

// ---------------------------------------------------------------------------------------
// Drive state (tray, disc, pending media events): the LU's device-type state slot
// (LogicalUnit::type_state_locked), created on first use.

struct DriveState {
  bool tray_open = false;
  bool disc = true;  // a disc is in the drive (on the tray when it is open)
  std::map<uint64_t, uint8_t> pending_event;  // nexus id -> media event not yet reported
};

// lu's drive state, created as needed. REQUIRES: lu.type_state_mutex() held.
DriveState& DriveLocked(const LogicalUnit& lu) {
  std::shared_ptr<void>& slot = lu.type_state_locked();
  if (!slot) {
    auto st = std::make_shared<DriveState>();
    st->tray_open = !lu.medium_present.load();
    slot = st;
  }
  return *static_cast<DriveState*>(slot.get());
}

// Sets the drive state; publishes medium_present and, when event != kMediaNoChange,
// queues the media event for every I_T nexus that knows the LU. Takes the LU mutex, then
// its type_state_mutex() (never both at once).
void SetDrive(LogicalUnit* lu, bool disc, bool tray_open, uint8_t event) {
  std::vector<uint64_t> nexuses;
  if (event != kMediaNoChange) {
    std::lock_guard<std::mutex> l(lu->mutex());
    for (const auto& [id, st] : lu->nexus_states_locked()) nexuses.push_back(id);
  }
  std::lock_guard<std::mutex> l(lu->type_state_mutex());
  DriveState& st = DriveLocked(*lu);
  st.disc = disc;
  st.tray_open = tray_open;
  lu->medium_present.store(disc && !tray_open);
  if (event != kMediaNoChange) {
    st.pending_event.clear();  // nexuses that are gone drop out here
    for (uint64_t id : nexuses) st.pending_event[id] = event;
  }
}

// ---------------------------------------------------------------------------------------
// Helpers

// Logical blocks of the medium, in 2048-byte blocks whatever the LU's block size says.
uint64_t MediumBlocks(const LogicalUnit& lu) {
  return lu.backend() ? lu.backend()->size_bytes() / kMmcBlockSize : 0;
}

// A TOC/track address: LBA, or MSF (MMC-6 6.26.2.3: byte 0 reserved, then M, S, F; the
// MSF of LBA 0 is 00:02:00, 150 frames of pre-gap).
void PutAddress(uint8_t* p, uint64_t lba, bool msf) {
  if (!msf) {
    PutBe32(p, static_cast<uint32_t>(std::min<uint64_t>(lba, 0xffffffffu)));
    return;
  }
  const uint64_t f = lba + 150;
  p[0] = 0;
  p[1] = static_cast<uint8_t>(std::min<uint64_t>(f / (75 * 60), 0xff));
  p[2] = static_cast<uint8_t>((f / 75) % 60);
  p[3] = static_cast<uint8_t>(f % 75);
}

// ---------------------------------------------------------------------------------------
// READ TOC/PMA/ATIP (MMC-6 6.26): formats 0000b (TOC: one data track + the lead-out) and
// 0001b (session information); the others (full TOC, PMA, ATIP, CD-TEXT) do not exist on
// a pressed single-session data disc image and are refused.
void ReadToc(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool msf = cdb[1] & 0x02;
  const uint8_t format = cdb[2] & 0x0f;
  const uint8_t track = cdb[6];
  const uint32_t alloc = GetBe16(cdb + 7);
  const uint64_t blocks = MediumBlocks(*cmd->lu);
  std::vector<uint8_t> v(4, 0);
  switch (format) {
    case 0x0: {  // 6.26.2.3 Formatted TOC
      // TRACK/SESSION NUMBER: the first track to describe; the lead-out is always last.
      if (track > 1 && track != kLeadOutTrack) return FailField(cmd, true, 6);
      v[2] = 1;  // FIRST TRACK NUMBER
      v[3] = 1;  // LAST TRACK NUMBER
      auto add = [&](uint8_t number, uint64_t lba) {
        uint8_t d[8] = {};
        d[1] = kAdrControlData;
        d[2] = number;
        PutAddress(d + 4, lba, msf);
        v.insert(v.end(), d, d + 8);
      };
      if (track <= 1) add(1, 0);
      add(kLeadOutTrack, blocks);
      break;
    }
    case 0x1: {  // 6.26.2.4 Multi-session Information
      v[2] = 1;  // FIRST COMPLETE SESSION NUMBER
      v[3] = 1;  // LAST COMPLETE SESSION NUMBER
      uint8_t d[8] = {};
      d[1] = kAdrControlData;
      d[2] = 1;  // FIRST TRACK NUMBER IN LAST COMPLETE SESSION
      PutAddress(d + 4, 0, msf);
      v.insert(v.end(), d, d + 8);
      break;
    }
    default:
      return FailField(cmd, true, 2, 3);
  }
  PutBe16(v.data(), static_cast<uint16_t>(v.size() - 2));  // TOC DATA LENGTH
  FinishDataIn(cmd, v, alloc);
}

// ---------------------------------------------------------------------------------------
// GET CONFIGURATION (MMC-6 6.6) and the features (MMC-6 5.3).

struct Feature {
  uint16_t code;
  bool current;
  std::vector<uint8_t> bytes;  // the whole descriptor
};

std::vector<uint8_t> FeatureHeader(uint16_t code, uint8_t version, bool persistent,
                                   bool current, std::initializer_list<uint8_t> data) {
  std::vector<uint8_t> d(4 + data.size(), 0);
  PutBe16(d.data(), code);
  d[2] = static_cast<uint8_t>((version << 2) | (persistent ? 0x02 : 0) | (current ? 0x01 : 0));
  d[3] = static_cast<uint8_t>(data.size());  // ADDITIONAL LENGTH
  std::copy(data.begin(), data.end(), d.begin() + 4);
  return d;
}

std::vector<Feature> Features(uint16_t profile) {
  const bool medium = profile != 0;
  const bool cd = profile == kProfileCdRom;
  const bool dvd = profile == kProfileDvdRom;
  std::vector<Feature> f;
  // 5.3.2 Profile List: DVD-ROM then CD-ROM (descending, as drives list them).
  {
    std::vector<uint8_t> d = FeatureHeader(0x0000, 0, true, true, {});
    for (uint16_t p : {kProfileDvdRom, kProfileCdRom}) {
      uint8_t pd[4] = {};
      PutBe16(pd, p);
      pd[2] = p == profile ? 0x01 : 0x00;  // CURRENTP
      d.insert(d.end(), pd, pd + 4);
    }
    d[3] = static_cast<uint8_t>(d.size() - 4);
    f.push_back({0x0000, true, d});
  }
  // 5.3.3 Core, version 2: PHYSICAL INTERFACE STANDARD 1 (SCSI family); DBE 0 (no device
  // busy events), INQ2 1 (the standard INQUIRY data has all MMC-6 fields).
  f.push_back({0x0001, true, FeatureHeader(0x0001, 2, true, true, {0, 0, 0, 1, 0x02, 0, 0, 0})});
  // 5.3.4 Morphing, version 1: OCEVENT 0, ASYNC 0 (events are polled only).
  f.push_back({0x0002, true, FeatureHeader(0x0002, 1, true, true, {0, 0, 0, 0})});
  // 5.3.5 Removable Medium, version 2: LOADING MECHANISM TYPE 001b (tray), LOAD, EJECT,
  // LOCK; PVNT JMPR 0; DBML 0.
  f.push_back({0x0003, true, FeatureHeader(0x0003, 2, true, true, {0x20 | 0x10 | 0x08 | 0x01, 0, 0, 0})});
  // 5.3.6 Random Readable, version 0: LOGICAL BLOCK SIZE 2048, BLOCKING (16 on DVD, 1 on
  // CD), PP 0.
  {
    const uint16_t blocking = dvd ? 16 : 1;
    f.push_back({0x0010, medium,
                 FeatureHeader(0x0010, 0, false, medium,
                               {0, 0, 0x08, 0x00, static_cast<uint8_t>(blocking >> 8),
                                static_cast<uint8_t>(blocking), 0, 0})});
  }
  // 5.3.12 CD Read, version 2: no CD-TEXT, C2 flags or DAP (data discs only).
  f.push_back({0x001e, cd, FeatureHeader(0x001e, 2, false, cd, {0, 0, 0, 0})});
  // 5.3.13 DVD Read, version 1: MULTI110 0, DUAL-R 0.
  f.push_back({0x001f, dvd, FeatureHeader(0x001f, 1, false, dvd, {0, 0, 0, 0})});
  return f;
}

void GetConfiguration(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const uint8_t rt = cdb[1] & 0x03;
  const uint16_t start = GetBe16(cdb + 2);
  const uint32_t alloc = GetBe16(cdb + 7);
  if (rt == 0x3) return FailField(cmd, true, 1, 1);
  const LogicalUnit& lu = *cmd->lu;
  const uint16_t profile = MmcCurrentProfile(lu);
  std::vector<uint8_t> v(8, 0);
  PutBe16(v.data() + 6, profile);  // CURRENT PROFILE
  for (const Feature& f : Features(profile)) {
    bool want;
    switch (rt) {
      case 0: want = f.code >= start; break;                // all, from START
      case 1: want = f.code >= start && f.current; break;   // current ones, from START
      default: want = f.code == start; break;               // exactly that one
    }
    if (want) v.insert(v.end(), f.bytes.begin(), f.bytes.end());
  }
  PutBe32(v.data(), static_cast<uint32_t>(v.size() - 4));  // DATA LENGTH
  FinishDataIn(cmd, v, alloc);
}

// ---------------------------------------------------------------------------------------
// GET EVENT STATUS NOTIFICATION (MMC-6 6.7). Polled only; of the event classes only Media
// (bit 4) is supported. A media event (new media after a load, media removal after an
// eject) is reported once to each I_T nexus.
void GetEventStatusNotification(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool polled = cdb[1] & 0x01;
  const uint8_t request = cdb[4];
  const uint32_t alloc = GetBe16(cdb + 7);
  constexpr uint8_t kClassMedia = 4;
  constexpr uint8_t kSupported = 1u << kClassMedia;
  // 6.7.1: asynchronous operation is not supported: POLLED 0 is INVALID FIELD IN CDB.
  if (!polled) return FailField(cmd, true, 1, 0);
  std::vector<uint8_t> v(4, 0);
  v[3] = kSupported;  // SUPPORTED EVENT CLASSES
  if (request & kSupported) {
    LogicalUnit* lu = cmd->lu.get();
    uint8_t event = kMediaNoChange;
    bool tray_open, present;
    {
      std::lock_guard<std::mutex> l(lu->type_state_mutex());
      DriveState& st = DriveLocked(*lu);
      if (cmd->nexus) {
        auto it = st.pending_event.find(cmd->nexus->id);
        if (it != st.pending_event.end()) {
          event = it->second;
          st.pending_event.erase(it);
        }
      }
      tray_open = st.tray_open;
      present = st.disc && !st.tray_open;
    }
    v[2] = kClassMedia;  // NEA 0, NOTIFICATION CLASS 100b
    // 6.7.2.5 media event descriptor: MEDIA EVENT CODE, MEDIA STATUS (MEDIA PRESENT,
    // DOOR OR TRAY OPEN), START SLOT, END SLOT.
    v.push_back(event);
    v.push_back(static_cast<uint8_t>((present ? 0x02 : 0) | (tray_open ? 0x01 : 0)));
    v.push_back(0);
    v.push_back(0);
  } else {
    v[2] = 0x80;  // NEA: none of the requested classes is supported
  }
  PutBe16(v.data(), static_cast<uint16_t>(v.size() - 2));  // EVENT DESCRIPTOR LENGTH
  FinishDataIn(cmd, v, alloc);
}

// ---------------------------------------------------------------------------------------
// READ DISC INFORMATION (MMC-6 6.22): a complete (finalized) disc, one complete session
// holding one track.
void ReadDiscInformation(Command* cmd) {
  const uint8_t type = cmd->cdb[1] & 0x07;
  const uint32_t alloc = GetBe16(cmd->cdb + 7);
  if (type != 0) return FailField(cmd, true, 1, 2);  // only Standard Disc Information
  std::vector<uint8_t> v(34, 0);
  PutBe16(v.data(), 32);  // DISC INFORMATION LENGTH
  // DISC INFORMATION DATA TYPE 000b, ERASABLE 0, STATE OF LAST SESSION 11b (complete),
  // DISC STATUS 10b (finalized).
  v[2] = 0x0c | 0x02;
  v[3] = 1;  // NUMBER OF FIRST TRACK ON DISC
  v[4] = 1;  // NUMBER OF SESSIONS (LSB)
  v[5] = 1;  // FIRST TRACK NUMBER IN LAST SESSION (LSB)
  v[6] = 1;  // LAST TRACK NUMBER IN LAST SESSION (LSB)
  v[7] = 0;  // DID_V, DBC_V, URU, DAC_V: none
  v[8] = 0;  // DISC TYPE: CD-DA or CD-ROM (also used for non-CD media)
  // LAST SESSION LEAD-IN START ADDRESS and LAST POSSIBLE LEAD-OUT START ADDRESS: FFh
  // filled on a complete disc.
  PutBe32(v.data() + 16, 0xffffffffu);
  PutBe32(v.data() + 20, 0xffffffffu);
  FinishDataIn(cmd, v, alloc);
}

// READ TRACK INFORMATION (MMC-6 6.27): the single track, addressed by an LBA inside it,
// by track number 1 or by session number 1.
void ReadTrackInformation(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const uint8_t type = cdb[1] & 0x03;
  const uint32_t number = GetBe32(cdb + 2);
  const uint32_t alloc = GetBe16(cdb + 7);
  const uint64_t blocks = MediumBlocks(*cmd->lu);
  switch (type) {
    case 0x0:  // LOGICAL BLOCK ADDRESS: the track containing it
      if (number >= blocks) return FailField(cmd, true, 2);
      break;
    case 0x1:  // LOGICAL TRACK NUMBER
    case 0x2:  // SESSION NUMBER: its first track
      if (number != 1) return FailField(cmd, true, 2);
      break;
    default:
      return FailField(cmd, true, 1, 1);
  }
  std::vector<uint8_t> v(48, 0);
  PutBe16(v.data(), 46);  // DATA LENGTH
  v[2] = 1;               // LOGICAL TRACK NUMBER (LSB)
  v[3] = 1;               // SESSION NUMBER (LSB)
  v[5] = 0x04;            // DAMAGE 0, COPY 0, TRACK MODE 4 (data, uninterrupted)
  v[6] = 0x01;            // RT 0, BLANK 0, PACKET/INC 0, FP 0, DATA MODE 1
  v[7] = 0x00;            // LRA_V 0, NWA_V 0: nothing writable
  PutBe32(v.data() + 8, 0);  // LOGICAL TRACK START ADDRESS
  const uint32_t size = static_cast<uint32_t>(std::min<uint64_t>(blocks, 0xffffffffu));
  PutBe32(v.data() + 24, size);                      // LOGICAL TRACK SIZE
  PutBe32(v.data() + 28, size ? size - 1 : 0);       // LAST RECORDED ADDRESS
  FinishDataIn(cmd, v, alloc);
}

// MECHANISM STATUS (MMC-6 6.11): no changer; the tray state; no slot tables.
void MechanismStatus(Command* cmd) {
  const uint32_t alloc = GetBe16(cmd->cdb + 8);
  bool tray_open;
  {
    std::lock_guard<std::mutex> l(cmd->lu->type_state_mutex());
    tray_open = DriveLocked(*cmd->lu).tray_open;
  }
  std::vector<uint8_t> v(8, 0);
  v[0] = 0;                           // FAULT 0, CHANGER STATE 0 (ready), CURRENT SLOT 0
  v[1] = tray_open ? 0x10 : 0x00;     // MECHANISM STATE 0 (idle), DOOR OPEN
  // CURRENT LBA (legacy) 0, NUMBER OF SLOTS AVAILABLE 0, LENGTH OF SLOT TABLES 0.
  FinishDataIn(cmd, v, alloc);
}

// SET CD SPEED (MMC-6 6.37): speeds are whatever the backing store gives; accepted.
void SetCdSpeed(Command* cmd) { Complete(cmd); }

// START STOP UNIT (MMC-6 6.39): LOEJ=1 START=0 opens the tray (ejects), LOEJ=1 START=1
// closes it (loads the disc on it). Both are refused with MEDIUM REMOVAL PREVENTED while a
// PREVENT ALLOW MEDIUM REMOVAL is in force (MMC-6 6.39.2.2; as the SPC handler does for a
// removable disk). A POWER CONDITION other than 0 changes the power condition only.
void StartStopUnit(Command* cmd) {
  const uint8_t b4 = cmd->cdb[4];
  const uint8_t power_condition = b4 >> 4;
  const bool loej = b4 & 0x02;
  const bool start = b4 & 0x01;
  LogicalUnit* lu = cmd->lu.get();
  if (power_condition != 0) return Complete(cmd);
  if (loej) {
    if (lu->prevent_count.load() > 0) {
      return Fail(cmd, SenseKey::kIllegalRequest, asc::kMediumRemovalPrevented);
    }
    bool disc, was_present;
    {
      std::lock_guard<std::mutex> l(lu->type_state_mutex());
      DriveState& st = DriveLocked(*lu);
      disc = st.disc;
      was_present = st.disc && !st.tray_open;
    }
    if (start) {
      SetDrive(lu, disc, false, disc ? kMediaNewMedia : kMediaNoChange);
      // 6.39: a medium that became ready is reported to the other I_T nexuses.
      if (disc && !was_present) {
        lu->AddUnitAttentionAll(asc::kNotReadyToReadyChange, cmd->nexus ? cmd->nexus->id : 0);
      }
    } else {
      SetDrive(lu, disc, true, was_present ? kMediaRemoval : kMediaNoChange);
    }
  }
  lu->stopped.store(!start);
  Complete(cmd);
}

// ---------------------------------------------------------------------------------------
// The table

// The SBC handler for opcode: READ (10/12) and READ CAPACITY (10) are the same commands on
// an MM device (MMC-6 6.15, 6.16, 6.23) and go through the same backend read path.
OpHandler SbcHandler(uint8_t opcode) {
  const OpInfo* op = SbcDeviceType().Find(opcode, 0);
  return op ? op->handler : nullptr;
}

std::vector<OpInfo> MmcOps() {
  constexpr uint32_t kR = kOpNeedsMedium;
  // MMC-6 4.1.6.1: GET CONFIGURATION and GET EVENT STATUS NOTIFICATION neither report nor
  // clear a pending unit attention (a host polls them while a UA is outstanding).
  constexpr uint32_t kNoUa = kOpNoUnitAttention;
  constexpr uint8_t F = 0xff;
  constexpr uint8_t C = 0x07;  // CONTROL
  return {
      Op(kStartStopUnit, &StartStopUnit, 0, "START STOP UNIT",
         {kStartStopUnit, 0x01, 0, 0x0f, 0xf3, C}),
      Op(kReadCapacity10, SbcHandler(kReadCapacity10), kR, "READ CAPACITY",
         {kReadCapacity10, 0, 0, 0, 0, 0, 0, 0, 0, C}),
      Op(kRead10, SbcHandler(kRead10), kR, "READ(10)", {kRead10, 0x18, F, F, F, F, 0, F, F, C}),
      Op(kReadTocPmaAtip, &ReadToc, kR, "READ TOC/PMA/ATIP",
         {kReadTocPmaAtip, 0x02, 0x0f, 0, 0, 0, F, F, F, C}),
      Op(kGetConfiguration, &GetConfiguration, kNoUa, "GET CONFIGURATION",
         {kGetConfiguration, 0x03, F, F, 0, 0, 0, F, F, C}),
      Op(kGetEventStatusNotification, &GetEventStatusNotification, kNoUa,
         "GET EVENT STATUS NOTIFICATION",
         {kGetEventStatusNotification, 0x01, 0, 0, F, 0, 0, F, F, C}),
      Op(kReadDiscInformation, &ReadDiscInformation, kR, "READ DISC INFORMATION",
         {kReadDiscInformation, 0x07, 0, 0, 0, 0, 0, F, F, C}),
      Op(kReadTrackInformation, &ReadTrackInformation, kR, "READ TRACK INFORMATION",
         {kReadTrackInformation, 0x03, F, F, F, F, 0, F, F, C}),
      Op(kRead12, SbcHandler(kRead12), kR, "READ(12)",
         {kRead12, 0x18, F, F, F, F, F, F, F, F, 0, C}),
      Op(kSetCdSpeed, &SetCdSpeed, 0, "SET CD SPEED",
         {kSetCdSpeed, 0x03, F, F, F, F, 0, 0, 0, 0, 0, C}),
      Op(kMechanismStatus, &MechanismStatus, 0, "MECHANISM STATUS",
         {kMechanismStatus, 0, 0, 0, 0, 0, 0, 0, F, F, 0, C}),
  };
}

}  // namespace

const DeviceType& MmcDeviceType() {
  static const DeviceType* type = [] {
    std::vector<OpInfo> ops = SpcOps();
    std::vector<OpInfo> mmc = MmcOps();
    ops.insert(ops.end(), mmc.begin(), mmc.end());  // START STOP UNIT replaces SPC's
    return new DeviceType("mmc", kPeripheralMmc, std::move(ops));
  }();
  return *type;
}

bool MediumRemovable(const LogicalUnit& lu) { return lu.config().removable || IsMmc(lu); }

Asc NoMediumAsc(const LogicalUnit& lu) {
  if (!IsMmc(lu)) return asc::kMediumNotPresent;
  std::lock_guard<std::mutex> l(lu.type_state_mutex());
  return DriveLocked(lu).tray_open ? asc::kMediumNotPresentTrayOpen
                                   : asc::kMediumNotPresentTrayClosed;
}

uint16_t MmcCurrentProfile(const LogicalUnit& lu) {
  if (!lu.medium_present.load()) return 0;
  return MediumBlocks(lu) > kMaxCdBlocks ? kProfileDvdRom : kProfileCdRom;
}

size_t MmcModePage(const LogicalUnit& lu, uint8_t page, uint8_t pc, uint8_t* d) {
  const bool changeable = pc == kPageControlChangeable;
  switch (page) {
    case kModePageReadWriteErrorRecovery:  // MMC-6 7.3 Read/Write Error Recovery: default recovery, no retries to set
      std::memset(d, 0, 12);
      d[0] = page;
      d[1] = 0x0a;
      return 12;
    case kModePagePowerCondition:  // MMC-6 7.4 Power Condition (the 10-byte MM form): no timers
      std::memset(d, 0, 12);
      d[0] = page;
      d[1] = 0x0a;
      return 12;
    case kModePageCdDvdCapabilities: {  // MMC-6 7.9 (legacy) CD/DVD Capabilities and Mechanical Status
      std::memset(d, 0, 32);
      d[0] = page;
      d[1] = 0x1e;
      if (changeable) return 32;  // nothing can be changed
      d[2] = 0x08 | 0x01;  // DVD-ROM READ, CD-R READ
      d[4] = 0x40 | 0x10;  // MULTI SESSION, MODE 2 FORM 1
      // LOADING MECHANISM TYPE 001b (tray), EJECT, LOCK STATE (a PREVENT is in force), LOCK.
      d[6] = 0x20 | 0x08 | (lu.prevent_count.load() > 0 ? 0x02 : 0) | 0x01;
      PutBe16(d + 12, 0);  // BUFFER SIZE SUPPORTED
      return 32;
    }
    default:
      return 0;
  }
}

namespace {

::modtgt::Status Eject(LogicalUnit* lu, bool force) {
  if (!MediumRemovable(*lu)) {
    return ::modtgt::Status::InvalidArgument("LUN " + std::to_string(lu->lun()) +
                                             " has no removable medium");
  }
  const int prevented = lu->prevent_count.load();
  if (prevented > 0 && !force) {
    return ::modtgt::Status::Busy(
        "medium removal is prevented by " + std::to_string(prevented) +
        " initiator(s) (PREVENT ALLOW MEDIUM REMOVAL); use --force to eject anyway");
  }
  bool was_present;
  {
    std::lock_guard<std::mutex> l(lu->type_state_mutex());
    DriveState& st = DriveLocked(*lu);
    was_present = st.disc && !st.tray_open;
  }
  // The disc is taken away and the tray left open (MMC-6 4.1.6.2: NOT READY / MEDIUM NOT
  // PRESENT - TRAY OPEN until a load).
  SetDrive(lu, false, true, was_present ? kMediaRemoval : kMediaNoChange);
  return ::modtgt::Status::OK();
}

::modtgt::Status Load(LogicalUnit* lu, const std::string& cfgstring, bool force) {
  if (!MediumRemovable(*lu)) {
    return ::modtgt::Status::InvalidArgument("LUN " + std::to_string(lu->lun()) +
                                             " has no removable medium");
  }
  bool present;
  {
    std::lock_guard<std::mutex> l(lu->type_state_mutex());
    DriveState& st = DriveLocked(*lu);
    present = st.disc && !st.tray_open;
  }
  const int prevented = lu->prevent_count.load();
  if (present && !cfgstring.empty() && prevented > 0 && !force) {
    return ::modtgt::Status::Busy(
        "medium removal is prevented by " + std::to_string(prevented) +
        " initiator(s) (PREVENT ALLOW MEDIUM REMOVAL); use --force to change the medium anyway");
  }
  if (!cfgstring.empty()) {
    // The medium change is announced by 28/00 below; the capacity change that comes with
    // it is not raised separately (see mmc.h).
    BackendReconfig rc;
    rc.cfgstring = cfgstring;
    ::modtgt::Status s = lu->Reconfigure(rc, /*announce_capacity=*/false);
    if (!s.ok()) return s;
  }
  if (present && cfgstring.empty()) return ::modtgt::Status::OK();  // nothing changed
  SetDrive(lu, true, false, kMediaNewMedia);
  // MMC-6 4.1.6.3 / SPC-4 5.14: NOT READY TO READY CHANGE, MEDIUM MAY HAVE CHANGED.
  lu->AddUnitAttentionAll(asc::kNotReadyToReadyChange);
  return ::modtgt::Status::OK();
}

}  // namespace

::modtgt::Status EjectMedium(LogicalUnit* lu, bool force) { return Eject(lu, force); }

::modtgt::Status LoadMedium(LogicalUnit* lu, const std::string& cfgstring, bool force) {
  return Load(lu, cfgstring, force);
}

}  // namespace modtgt::scsi
