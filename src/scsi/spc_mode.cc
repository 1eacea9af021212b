// SPDX-License-Identifier: Apache-2.0
// MODE SENSE (6/10) and MODE SELECT (6/10) (SPC-4 6.9-6.12) and the mode pages (SPC-4 7.5,
// SBC-3 6.4; the MMC pages come from MmcModePage): what every device type reports, what
// MODE SELECT may change (WCE, D_SENSE, SWP), and the unit attention the change raises.
// Handlers run on the command's owning loop; the page state lives in LogicalUnit atomics.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

#include "common/byteorder.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/mmc.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

constexpr uint8_t kPages[] = {kModePageReadWriteErrorRecovery, kModePageCaching,
                              kModePageControl, kModePageInformationalExceptions};
// MMC-6 7: the pages of an MM device (0x01, 0x1A and 0x2A from MmcModePage).
constexpr uint8_t kMmcPages[] = {kModePageReadWriteErrorRecovery, kModePageControl,
                                 kModePagePowerCondition, kModePageCdDvdCapabilities};

// Copies a mode page layout to d; returns its length.
template <typename Page>
size_t PutPage(uint8_t* d, const Page& page) {
  std::memcpy(d, &page, sizeof(page));
  return sizeof(page);
}

// Writes one mode page for page control pc (kPageControl*); returns its length (0 if the
// page is not supported).
size_t BuildPage(const LogicalUnit& lu, uint8_t page, uint8_t pc, uint8_t* d) {
  const bool changeable = pc == kPageControlChangeable;
  const bool dflt = pc == kPageControlDefault;
  if (IsMmc(lu) && page != kModePageControl) return MmcModePage(lu, page, pc, d);
  switch (page) {
    case kModePageReadWriteErrorRecovery: {  // SBC-3 6.4.9
      if (!IsSbc(lu)) return 0;
      ReadWriteErrorRecoveryModePage p{};
      p.page_code = page;
      p.page_length = sizeof(p) - 2;
      if (!changeable) p.flags = 0x80 | 0x40;  // AWRE ARRE
      return PutPage(d, p);
    }
    case kModePageCaching: {  // SBC-3 6.4.5
      if (!IsSbc(lu)) return 0;
      CachingModePage p{};
      p.page_code = page;
      p.page_length = sizeof(p) - 2;
      if (changeable) {
        p.flags = kCachingWce;
      } else {
        bool wce = dflt ? lu.config().write_cache : lu.wce.load();
        p.flags = wce ? kCachingWce : 0x00;  // RCD = 0
      }
      return PutPage(d, p);
    }
    case kModePageControl: {  // SPC-4 7.5.8
      ControlModePage p{};
      p.page_code = page;
      p.page_length = sizeof(p) - 2;
      if (changeable) {
        p.flags2 = kControlDSense;
        p.flags4 = kControlSwp;
      } else {
        p.flags2 = (!dflt && lu.d_sense.load()) ? kControlDSense : 0x00;  // TST 0
        p.flags3 = kControlQueueAlgorithmModifier1;                        // QERR 0
        p.flags4 = (!dflt && lu.swp.load()) ? kControlSwp : 0x00;
        p.flags5 = 0x00;  // TAS 0: aborted tasks of other nexuses end silently
        PutBe16(p.busy_timeout_period, 0xffff);  // unlimited
      }
      return PutPage(d, p);
    }
    case kModePageInformationalExceptions: {  // SPC-4 7.5.11
      InformationalExceptionsControlModePage p{};
      p.page_code = page;
      p.page_length = sizeof(p) - 2;
      return PutPage(d, p);
    }
    default:
      return 0;
  }
}

}  // namespace

void ModeSense(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool ten = cdb[0] == kModeSense10;
  const bool dbd = cdb[1] & 0x08;
  const bool llbaa = ten && (cdb[1] & 0x10);
  const uint8_t pc = cdb[2] >> 6;
  const uint8_t page = cdb[2] & 0x3f;
  const uint8_t subpage = cdb[3];
  const uint32_t alloc = ten ? GetBe16(cdb + 7) : cdb[4];
  const LogicalUnit& lu = *cmd->lu;

  if (pc == kPageControlSaved) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kSavingParametersNotSupported);
  }
  if (subpage != 0x00 && subpage != 0xff) return FailField(cmd, true, 3);

  const size_t hdr = ten ? sizeof(ModeParameterHeader10) : sizeof(ModeParameterHeader6);
  std::vector<uint8_t> v(hdr, 0);
  const bool sbc = IsSbc(lu);
  // Device-specific parameter (SBC-3 6.4.1): WP and DPOFUA.
  uint8_t dsp = 0;
  if (sbc) {
    dsp = kDeviceSpecificDpofua;
    if (lu.readonly() || lu.swp.load()) dsp |= kDeviceSpecificWp;
  }
  if (!dbd && sbc) {
    uint64_t blocks = lu.num_blocks();
    if (llbaa) {
      LongLbaBlockDescriptor bd{};
      PutBe64(bd.number_of_logical_blocks, blocks);
      PutBe32(bd.logical_block_length, lu.block_size());
      const auto* b = reinterpret_cast<const uint8_t*>(&bd);
      v.insert(v.end(), b, b + sizeof(bd));
    } else {
      ShortLbaBlockDescriptor bd{};
      PutBe32(bd.number_of_logical_blocks,
              blocks > 0xffffffffull ? 0xffffffffu : static_cast<uint32_t>(blocks));
      PutBe24(bd.logical_block_length, lu.block_size());
      const auto* b = reinterpret_cast<const uint8_t*>(&bd);
      v.insert(v.end(), b, b + sizeof(bd));
    }
  }
  const size_t bdlen = v.size() - hdr;
  uint8_t buf[64];
  static_assert(sizeof(buf) >= kMmcModePageMax);
  if (page == kModePageAll) {
    const bool mmc = IsMmc(lu);
    for (uint8_t p : mmc ? std::vector<uint8_t>(std::begin(kMmcPages), std::end(kMmcPages))
                         : std::vector<uint8_t>(std::begin(kPages), std::end(kPages))) {
      size_t n = BuildPage(lu, p, pc, buf);
      v.insert(v.end(), buf, buf + n);
    }
  } else {
    size_t n = BuildPage(lu, page, pc, buf);
    if (n == 0) return FailField(cmd, true, 2, 5);
    v.insert(v.end(), buf, buf + n);
  }
  if (ten) {
    using H = ModeParameterHeader10;
    PutBe16(v.data() + offsetof(H, mode_data_length), static_cast<uint16_t>(v.size() - 2));
    v[offsetof(H, device_specific_parameter)] = dsp;
    v[offsetof(H, longlba)] = llbaa && bdlen ? 0x01 : 0x00;
    PutBe16(v.data() + offsetof(H, block_descriptor_length), static_cast<uint16_t>(bdlen));
  } else {
    using H = ModeParameterHeader6;
    if (v.size() > 256) v.resize(256);
    v[offsetof(H, mode_data_length)] = static_cast<uint8_t>(v.size() - 1);
    v[offsetof(H, device_specific_parameter)] = dsp;
    v[offsetof(H, block_descriptor_length)] = static_cast<uint8_t>(bdlen);
  }
  FinishDataIn(cmd, v.data(), v.size(), alloc);
}

void ModeSelect(Command* cmd) {
  const uint8_t* cdb = cmd->cdb;
  const bool ten = cdb[0] == kModeSelect10;
  const bool sp = cdb[1] & 0x01;
  const uint32_t plen = ten ? GetBe16(cdb + 7) : cdb[4];
  LogicalUnit* lu = cmd->lu.get();
  cmd->data_out_needed = plen;
  if (cdb[1] & 0xee) return FailField(cmd, true, 1);
  if (sp) return Fail(cmd, SenseKey::kIllegalRequest, asc::kSavingParametersNotSupported);
  if (plen == 0) return Complete(cmd);
  const size_t hdr = ten ? 8 : 4;
  if (plen < hdr || cmd->data.size() < plen) {
    return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
  }
  const uint8_t* p = cmd->data.data();
  const size_t bdlen = ten ? GetBe16(p + 6) : p[3];
  size_t off = hdr;
  if (bdlen) {
    // One block descriptor; only the current block length is accepted.
    const bool longlba = ten && (p[4] & 0x01);
    const size_t want = longlba ? 16 : 8;
    if (bdlen != want || off + bdlen > plen) return FailField(cmd, false, ten ? 6 : 3);
    uint32_t bl = longlba ? GetBe32(p + off + 12) : GetBe24(p + off + 5);
    if (bl != 0 && bl != lu->block_size()) {
      return FailField(cmd, false, static_cast<uint16_t>(off + (longlba ? 12 : 5)));
    }
    off += bdlen;
  }
  bool new_wce = lu->wce.load(), new_dsense = lu->d_sense.load(), new_swp = lu->swp.load();
  while (off < plen) {
    if (plen - off < 2) return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    const uint8_t code = p[off] & 0x3f;
    if (p[off] & 0x40) return FailField(cmd, false, static_cast<uint16_t>(off), 6);  // SPF: no subpages
    const size_t len = 2 + static_cast<size_t>(p[off + 1]);
    uint8_t cur[64], chg[64];
    size_t n = BuildPage(*lu, code, kPageControlCurrent, cur);
    if (n == 0) return FailField(cmd, false, static_cast<uint16_t>(off), 5);
    if (len != n) return FailField(cmd, false, static_cast<uint16_t>(off + 1));
    if (off + len > plen) return Fail(cmd, SenseKey::kIllegalRequest, asc::kParameterListLengthError);
    BuildPage(*lu, code, kPageControlChangeable, chg);
    for (size_t i = 2; i < n; ++i) {
      const uint8_t diff = static_cast<uint8_t>((p[off + i] ^ cur[i]) & ~chg[i]);
      if (diff) {
        int bit = 7;
        while (bit > 0 && !(diff & (1u << bit))) --bit;
        return FailField(cmd, false, static_cast<uint16_t>(off + i), bit);
      }
    }
    if (code == kModePageCaching) new_wce = p[off + offsetof(CachingModePage, flags)] & kCachingWce;
    if (code == kModePageControl) {
      new_dsense = p[off + offsetof(ControlModePage, flags2)] & kControlDSense;
      new_swp = p[off + offsetof(ControlModePage, flags4)] & kControlSwp;
    }
    off += len;
  }
  const bool changed =
      new_wce != lu->wce.load() || new_dsense != lu->d_sense.load() || new_swp != lu->swp.load();
  if (new_wce != lu->wce.load()) {
    lu->wce.store(new_wce);
    lu->backend()->SetWriteCache(new_wce);
  }
  lu->d_sense.store(new_dsense);
  lu->swp.store(new_swp);
  // SPC-4 7.5.1: the other I_T nexuses learn of the change.
  if (changed) lu->AddUnitAttentionAll(asc::kModeParametersChanged, cmd->nexus ? cmd->nexus->id : 0);
  Complete(cmd);
}

}  // namespace modtgt::scsi
