// SPDX-License-Identifier: Apache-2.0
// Sense data builders (SPC-4 4.5) and the modtgt_status -> sense mapping.
#include "scsi/sense.h"

#include <algorithm>
#include <cstring>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/command.h"
#include "scsi/logical_unit.h"

namespace modtgt::scsi {
namespace {

// Sense-key-specific bytes for a field pointer (SPC-4 4.5.2.4.2): SKSV, C/D, BPV, BIT
// POINTER, FIELD POINTER.
void PutFieldPointer(uint8_t* p, bool in_cdb, uint16_t byte, int bit) {
  p[0] = 0x80 | (in_cdb ? 0x40 : 0x00);
  if (bit >= 0 && bit <= 7) p[0] |= 0x08 | static_cast<uint8_t>(bit);
  PutBe16(p + 1, byte);
}

size_t Build(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key, Asc code,
             bool has_info, uint64_t info, const uint8_t* sks /* 3 bytes or null */) {
  uint8_t tmp[32] = {};
  size_t len;
  if (!descriptor_format) {
    // SPC-4 4.5.3 fixed format.
    tmp[0] = 0x70;
    tmp[2] = static_cast<uint8_t>(key) & 0x0f;
    if (has_info) {
      tmp[0] |= 0x80;  // VALID
      PutBe32(tmp + 3, static_cast<uint32_t>(info));
    }
    tmp[7] = 10;  // ADDITIONAL SENSE LENGTH
    tmp[12] = code.asc();
    tmp[13] = code.ascq();
    if (sks) std::memcpy(tmp + 15, sks, 3);
    len = 18;
  } else {
    // SPC-4 4.5.2 descriptor format.
    tmp[0] = 0x72;
    tmp[1] = static_cast<uint8_t>(key) & 0x0f;
    tmp[2] = code.asc();
    tmp[3] = code.ascq();
    len = 8;
    if (has_info) {
      // Information descriptor (type 0, SPC-4 4.5.2.2).
      tmp[len] = 0x00;
      tmp[len + 1] = 0x0a;
      tmp[len + 2] = 0x80;  // VALID
      PutBe64(tmp + len + 4, info);
      len += 12;
    }
    if (sks) {
      // Sense key specific descriptor (type 2, SPC-4 4.5.2.4).
      tmp[len] = 0x02;
      tmp[len + 1] = 0x06;
      std::memcpy(tmp + len + 4, sks, 3);
      len += 8;
    }
    tmp[7] = static_cast<uint8_t>(len - 8);
  }
  size_t n = std::min(len, buflen);
  std::memcpy(buf, tmp, n);
  return n;
}

bool UseDescriptor(const Command* cmd) { return cmd->lu && cmd->lu->d_sense.load(std::memory_order_relaxed); }

void SetSense(Command* cmd, SenseKey key, Asc code, bool has_info, uint64_t info,
              const uint8_t* sks) {
  cmd->status = Status::kCheckCondition;
  cmd->sense_len = static_cast<uint8_t>(
      Build(cmd->sense, sizeof(cmd->sense), UseDescriptor(cmd), key, code, has_info, info, sks));
}

}  // namespace

size_t BuildSense(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key, Asc code,
                  bool has_info, uint64_t info) {
  return Build(buf, buflen, descriptor_format, key, code, has_info, info, nullptr);
}

size_t BuildSenseProgress(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key,
                          Asc code, uint16_t progress) {
  uint8_t sks[3] = {0x80, 0, 0};  // SKSV, PROGRESS INDICATION
  PutBe16(sks + 1, progress);
  return Build(buf, buflen, descriptor_format, key, code, false, 0, sks);
}

size_t BuildSenseFieldPointer(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key,
                              Asc code, bool in_cdb, uint16_t byte, int bit) {
  uint8_t sks[3];
  PutFieldPointer(sks, in_cdb, byte, bit);
  return Build(buf, buflen, descriptor_format, key, code, false, 0, sks);
}

void SetCheckCondition(Command* cmd, SenseKey key, Asc code) {
  SetSense(cmd, key, code, false, 0, nullptr);
}

void SetCheckConditionInfo(Command* cmd, SenseKey key, Asc code, uint64_t info) {
  SetSense(cmd, key, code, true, info, nullptr);
}

void SetInvalidField(Command* cmd, bool in_cdb, uint16_t byte, int bit) {
  uint8_t sks[3];
  PutFieldPointer(sks, in_cdb, byte, bit);
  SetSense(cmd, SenseKey::kIllegalRequest,
           in_cdb ? asc::kInvalidFieldInCdb : asc::kInvalidFieldInParameterList, false, 0, sks);
}

void SetCheckConditionEx(Command* cmd, SenseKey key, Asc code, const SenseExtras& x) {
  uint8_t sks[3] = {};
  const uint8_t* p = nullptr;
  if (x.has_progress) {
    // SPC-4 4.5.2.4.4 progress indication: SKSV, then PROGRESS INDICATION.
    sks[0] = 0x80;
    PutBe16(sks + 1, x.progress);
    p = sks;
  } else if (x.has_field) {
    PutFieldPointer(sks, x.field_in_cdb, x.field_byte, x.field_bit);
    p = sks;
  }
  SetSense(cmd, key, code, x.has_info, x.info, p);
}

bool ValidRawSense(const uint8_t* sense, size_t len) {
  if (sense == nullptr || len < 8 || len > kMaxSenseLength) return false;
  const uint8_t rc = sense[0] & 0x7f;
  if (rc == 0x70 || rc == 0x71) {
    // Fixed format: bytes 0..7 plus ADDITIONAL SENSE LENGTH must fit in what was given.
    return 8u + sense[7] <= len;
  }
  if (rc == 0x72 || rc == 0x73) return 8u + sense[7] <= len;
  return false;
}

void SetStatusFromIo(Command* cmd, int modtgt_status) {
  switch (modtgt_status) {
    case MODTGT_STS_OK:
      cmd->status = Status::kGood;
      cmd->sense_len = 0;
      break;
    case MODTGT_STS_READ_ERROR:
      SetCheckCondition(cmd, SenseKey::kMediumError, asc::kUnrecoveredReadError);
      break;
    case MODTGT_STS_WRITE_ERROR:
      SetCheckCondition(cmd, SenseKey::kMediumError, asc::kWriteError);
      break;
    case MODTGT_STS_LBA_OUT_OF_RANGE:
      SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kLbaOutOfRange);
      break;
    case MODTGT_STS_MISCOMPARE:
      SetCheckCondition(cmd, SenseKey::kMiscompare, asc::kMiscompareDuringVerify);
      break;
    case MODTGT_STS_BUSY:
      cmd->status = Status::kBusy;
      cmd->sense_len = 0;
      break;
    case MODTGT_STS_NO_RESOURCE:
      cmd->status = Status::kTaskSetFull;
      cmd->sense_len = 0;
      break;
    case MODTGT_STS_UNSUPPORTED:
    case MODTGT_STS_NOT_HANDLED:
      SetCheckCondition(cmd, SenseKey::kIllegalRequest, asc::kInvalidOpcode);
      break;
    case MODTGT_STS_SENSE_SET:
      break;  // the module set status and sense itself
    case MODTGT_STS_NOT_LOCK_OWNER:
      // Another gateway holds the cluster lock: multipath retries on another path.
      if (cmd->lu) cmd->lu->alua().OnLockLost();
      SetCheckCondition(cmd, SenseKey::kNotReady, asc::kLunNotAccessibleStandby);
      break;
    case MODTGT_STS_SPACE_EXHAUSTED:
      SetCheckCondition(cmd, SenseKey::kDataProtect, asc::kSpaceAllocationFailedWriteProtect);
      break;
    default:
      SetCheckCondition(cmd, SenseKey::kHardwareError, asc::kInternalTargetFailure);
      break;
  }
}

}  // namespace modtgt::scsi
