// SPDX-License-Identifier: Apache-2.0
// Sense data (SPC-4 4.5): sense keys, additional sense codes, and builders for fixed (0x70)
// and descriptor (0x72) format. Pure functions, thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modtgt::scsi {

struct Command;

enum class SenseKey : uint8_t {
  kNoSense = 0x0,
  kRecoveredError = 0x1,
  kNotReady = 0x2,
  kMediumError = 0x3,
  kHardwareError = 0x4,
  kIllegalRequest = 0x5,
  kUnitAttention = 0x6,
  kDataProtect = 0x7,
  kBlankCheck = 0x8,
  kAbortedCommand = 0xb,
  kMiscompare = 0xe,
};

// Additional sense code + qualifier, as one 16-bit value 0xAAQQ.
struct Asc {
  uint16_t v;
  constexpr uint8_t asc() const { return static_cast<uint8_t>(v >> 8); }
  constexpr uint8_t ascq() const { return static_cast<uint8_t>(v); }
  constexpr bool operator==(const Asc& o) const { return v == o.v; }
};

namespace asc {
inline constexpr Asc kNone{0x0000};
inline constexpr Asc kLunNotReadyManualIntervention{0x0403};
inline constexpr Asc kLunNotReadyFormatInProgress{0x0404};
inline constexpr Asc kWriteError{0x0c00};
inline constexpr Asc kUnrecoveredReadError{0x1100};
inline constexpr Asc kMiscompareDuringVerify{0x1d00};
inline constexpr Asc kParameterListLengthError{0x1a00};
inline constexpr Asc kInvalidOpcode{0x2000};
inline constexpr Asc kLbaOutOfRange{0x2100};
inline constexpr Asc kInvalidFieldInCdb{0x2400};
inline constexpr Asc kLunNotSupported{0x2500};
inline constexpr Asc kInvalidFieldInParameterList{0x2600};
inline constexpr Asc kWriteProtected{0x2700};
inline constexpr Asc kNotReadyToReadyChange{0x2800};
inline constexpr Asc kPowerOnResetOccurred{0x2900};
inline constexpr Asc kPowerOnOccurred{0x2901};
inline constexpr Asc kBusResetOccurred{0x2902};
inline constexpr Asc kLunResetOccurred{0x2903};  // "BUS DEVICE RESET FUNCTION OCCURRED"
inline constexpr Asc kItNexusLoss{0x2907};
inline constexpr Asc kParametersChanged{0x2a00};
inline constexpr Asc kModeParametersChanged{0x2a01};
inline constexpr Asc kReservationsPreempted{0x2a03};
inline constexpr Asc kReservationsReleased{0x2a04};
inline constexpr Asc kRegistrationsPreempted{0x2a05};
inline constexpr Asc kCapacityDataHasChanged{0x2a09};
inline constexpr Asc kCommandsClearedByAnotherInitiator{0x2f00};
inline constexpr Asc kSavingParametersNotSupported{0x3900};
inline constexpr Asc kMediumNotPresent{0x3a00};
inline constexpr Asc kMediumNotPresentTrayClosed{0x3a01};
inline constexpr Asc kMediumNotPresentTrayOpen{0x3a02};
inline constexpr Asc kInquiryDataHasChanged{0x3f03};
inline constexpr Asc kReportedLunsDataHasChanged{0x3f0e};
inline constexpr Asc kInternalTargetFailure{0x4400};
inline constexpr Asc kInvalidMessageError{0x4900};
inline constexpr Asc kMediumRemovalPrevented{0x5302};
inline constexpr Asc kInsufficientRegistrationResources{0x5504};
}  // namespace asc

// Writes sense into buf (at least 18 bytes for fixed, 8 + 8 for descriptor with
// information). Returns the length written. `info` (the INFORMATION field) is included only
// when has_info.
size_t BuildSense(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key, Asc code,
                  bool has_info = false, uint64_t info = 0);

// Sets CHECK CONDITION with the given sense on cmd, using descriptor format when the LU's
// control mode page has D_SENSE=1.
void SetCheckCondition(Command* cmd, SenseKey key, Asc code);
void SetCheckConditionInfo(Command* cmd, SenseKey key, Asc code, uint64_t info);
// ILLEGAL REQUEST / INVALID FIELD IN CDB with a sense-key-specific field pointer
// (SPC-4 4.5.2.4.2): byte offset in the CDB (c_d = 1) or parameter list (c_d = 0).
void SetInvalidField(Command* cmd, bool in_cdb, uint16_t byte, int bit = -1);

// Like BuildSense, with a sense-key-specific field pointer instead of INFORMATION.
size_t BuildSenseFieldPointer(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key,
                              Asc code, bool in_cdb, uint16_t byte, int bit = -1);

// Sets CHECK CONDITION with sense that may carry the INFORMATION field and one
// sense-key-specific field (SPC-4 4.5.2.4): a PROGRESS INDICATION (NOT READY / NO SENSE,
// e.g. FORMAT IN PROGRESS) or a field pointer. In the format the LU's D_SENSE selects.
struct SenseExtras {
  bool has_info = false;
  uint64_t info = 0;
  bool has_progress = false;
  uint16_t progress = 0;  // 1/65536ths done
  bool has_field = false;
  bool field_in_cdb = false;
  uint16_t field_byte = 0;
  int field_bit = -1;  // -1 = no bit pointer
};
void SetCheckConditionEx(Command* cmd, SenseKey key, Asc code, const SenseExtras& extras);
// Validates raw sense bytes (fixed 0x70/0x71 with length >= 8 + ADDITIONAL SENSE LENGTH
// coverage, or descriptor 0x72/0x73), at most kMaxSenseLength. True if usable as is.
bool ValidRawSense(const uint8_t* sense, size_t len);

// Maps a backing store's modtgt_status (include/modtgt/module.h) to a SCSI status + sense:
// OK -> GOOD; READ_ERROR -> MEDIUM ERROR/UNRECOVERED READ ERROR (0x11/0x00); WRITE_ERROR ->
// MEDIUM ERROR/WRITE ERROR (0x0c/0x00); LBA_OUT_OF_RANGE -> ILLEGAL REQUEST (0x21/0x00);
// MISCOMPARE -> MISCOMPARE (0x1d/0x00); BUSY -> BUSY; NO_RESOURCE -> TASK SET FULL;
// UNSUPPORTED -> ILLEGAL REQUEST/INVALID COMMAND OPERATION CODE; SENSE_SET leaves cmd as
// is; anything else -> HARDWARE ERROR/INTERNAL TARGET FAILURE.
void SetStatusFromIo(Command* cmd, int modtgt_status);

}  // namespace modtgt::scsi
