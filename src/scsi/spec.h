// SPDX-License-Identifier: Apache-2.0
// The SCSI specification as the SCSI layer uses it: status codes (SAM-5), operation codes
// and service actions (SPC-4, SBC-4, MMC-6), sense keys and additional sense codes (SPC-4
// 4.5.6), VPD page codes (SPC-4 7.8, SBC-4 6.6), mode page codes (SPC-4 7.5, SBC-4 6.5,
// MMC-6 7), persistent reservation types, and the wire layouts of the CDBs and parameter
// data the emulation builds or parses. One name per thing: SPC, SBC, MMC and PR code,
// dispatch and the tests all use these.
//
// Wire layouts are structs of bytes (every multi-byte field is a big-endian uint8_t array,
// read and written with common/byteorder.h), so they have no padding and no alignment;
// their sizes are static_asserted. Code addresses a field with offsetof(Layout, field)
// into the byte buffer; field names follow the standard's (SPDK scsi_spec.h does the same).
//
// Pure declarations: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace modtgt::scsi {

// ---------------------------------------------------------------------------------------
// SAM-5 5.3.1 status codes.
enum class Status : uint8_t {
  kGood = 0x00,
  kCheckCondition = 0x02,
  kConditionMet = 0x04,
  kBusy = 0x08,
  kReservationConflict = 0x18,
  kTaskSetFull = 0x28,
  kAcaActive = 0x30,
  kTaskAborted = 0x40,
};

// ---------------------------------------------------------------------------------------
// Operation codes. Each constant names the command as its standard does and cites where.

// SPC-4 (commands for all device types).
inline constexpr uint8_t kTestUnitReady = 0x00;          // SPC-4 6.47
inline constexpr uint8_t kRequestSense = 0x03;           // SPC-4 6.39
inline constexpr uint8_t kInquiry = 0x12;                // SPC-4 6.6
inline constexpr uint8_t kModeSelect6 = 0x15;            // SPC-4 6.9
inline constexpr uint8_t kReserve6 = 0x16;               // SPC-2
inline constexpr uint8_t kRelease6 = 0x17;               // SPC-2
inline constexpr uint8_t kModeSense6 = 0x1a;             // SPC-4 6.11
inline constexpr uint8_t kPreventAllowMediumRemoval = 0x1e;  // SPC-4 6.15
inline constexpr uint8_t kWriteBuffer = 0x3b;            // SPC-4
inline constexpr uint8_t kReadBuffer = 0x3c;             // SPC-4
inline constexpr uint8_t kReceiveDiagnosticResults = 0x1c;  // SPC-4
inline constexpr uint8_t kSendDiagnostic = 0x1d;         // SPC-4
inline constexpr uint8_t kLogSelect = 0x4c;              // SPC-4
inline constexpr uint8_t kLogSense = 0x4d;               // SPC-4
inline constexpr uint8_t kModeSelect10 = 0x55;           // SPC-4 6.10
inline constexpr uint8_t kReserve10 = 0x56;              // SPC-2
inline constexpr uint8_t kRelease10 = 0x57;              // SPC-2
inline constexpr uint8_t kModeSense10 = 0x5a;            // SPC-4 6.12
inline constexpr uint8_t kPersistentReserveIn = 0x5e;    // SPC-4 6.13
inline constexpr uint8_t kPersistentReserveOut = 0x5f;   // SPC-4 6.14
inline constexpr uint8_t kVariableLengthCdb = 0x7f;      // SPC-4 4.2.4 (service action at 8-9)
inline constexpr uint8_t kThirdPartyCopyOut = 0x83;      // SPC-4 6.4 (EXTENDED COPY (LID1) ...)
inline constexpr uint8_t kThirdPartyCopyIn = 0x84;       // SPC-4 6.18 (RECEIVE COPY RESULTS ...)
inline constexpr uint8_t kReportLuns = 0xa0;             // SPC-4 6.33
inline constexpr uint8_t kMaintenanceIn = 0xa3;          // SPC-4 (REPORT SUPPORTED OPERATION CODES...)
inline constexpr uint8_t kMaintenanceOut = 0xa4;         // SPC-4
inline constexpr uint8_t kServiceActionIn12 = 0xab;      // SPC-4

// SBC-4 (direct-access block devices).
inline constexpr uint8_t kFormatUnit = 0x04;             // SBC-4
inline constexpr uint8_t kRead6 = 0x08;                  // SBC-4 5.15
inline constexpr uint8_t kWrite6 = 0x0a;                 // SBC-4 5.38
inline constexpr uint8_t kStartStopUnit = 0x1b;          // SBC-3 5.25 (MMC-6 6.39)
inline constexpr uint8_t kReadCapacity10 = 0x25;         // SBC-4 5.20 (MMC-6 6.23 READ CAPACITY)
inline constexpr uint8_t kRead10 = 0x28;                 // SBC-4 5.16 (MMC-6 6.15)
inline constexpr uint8_t kWrite10 = 0x2a;                // SBC-4 5.39
inline constexpr uint8_t kWriteAndVerify10 = 0x2e;       // SBC-4 5.42
inline constexpr uint8_t kVerify10 = 0x2f;               // SBC-4 5.33
inline constexpr uint8_t kPreFetch10 = 0x34;             // SBC-4 5.9
inline constexpr uint8_t kSynchronizeCache10 = 0x35;     // SBC-4 5.24
inline constexpr uint8_t kReadDefectData10 = 0x37;       // SBC-4
inline constexpr uint8_t kWriteSame10 = 0x41;            // SBC-4 5.45
inline constexpr uint8_t kUnmap = 0x42;                  // SBC-4 5.32
inline constexpr uint8_t kSanitize = 0x48;               // SBC-4 5.30
inline constexpr uint8_t kRead16 = 0x88;                 // SBC-4 5.18
inline constexpr uint8_t kCompareAndWrite = 0x89;        // SBC-4 5.3
inline constexpr uint8_t kWrite16 = 0x8a;                // SBC-4 5.41
inline constexpr uint8_t kOrWrite16 = 0x8b;              // SBC-4 5.14 ORWRITE (16)
inline constexpr uint8_t kWriteAndVerify16 = 0x8e;       // SBC-4 5.44
inline constexpr uint8_t kVerify16 = 0x8f;               // SBC-4 5.35
inline constexpr uint8_t kPreFetch16 = 0x90;             // SBC-4 5.10
inline constexpr uint8_t kSynchronizeCache16 = 0x91;     // SBC-4 5.25
inline constexpr uint8_t kWriteSame16 = 0x93;            // SBC-4 5.46
inline constexpr uint8_t kWriteAtomic16 = 0x9c;          // SBC-4 5.48
inline constexpr uint8_t kServiceActionIn16 = 0x9e;      // SBC-4 (READ CAPACITY (16), GET LBA STATUS)
inline constexpr uint8_t kServiceActionOut16 = 0x9f;     // SBC-4
inline constexpr uint8_t kRead12 = 0xa8;                 // SBC-4 5.17 (MMC-6 6.16)
inline constexpr uint8_t kWrite12 = 0xaa;                // SBC-4 5.40
inline constexpr uint8_t kWriteAndVerify12 = 0xae;       // SBC-4 5.43
inline constexpr uint8_t kVerify12 = 0xaf;               // SBC-4 5.34
inline constexpr uint8_t kReadDefectData12 = 0xb7;       // SBC-4

// MMC-6 (multimedia devices) beyond the SPC and SBC ones above.
inline constexpr uint8_t kReadTocPmaAtip = 0x43;             // MMC-6 6.26
inline constexpr uint8_t kGetConfiguration = 0x46;           // MMC-6 6.6
inline constexpr uint8_t kGetEventStatusNotification = 0x4a; // MMC-6 6.7
inline constexpr uint8_t kReadDiscInformation = 0x51;        // MMC-6 6.22
inline constexpr uint8_t kReadTrackInformation = 0x52;       // MMC-6 6.27
inline constexpr uint8_t kSetCdSpeed = 0xbb;                 // MMC-6 6.37
inline constexpr uint8_t kMechanismStatus = 0xbd;            // MMC-6 6.11

// ---------------------------------------------------------------------------------------
// Service actions (the SERVICE ACTION field, CDB byte 1 bits 4-0, of the opcodes that
// have one).

// SERVICE ACTION IN (16).
inline constexpr uint16_t kSaReadCapacity16 = 0x10;  // SBC-4 5.21
inline constexpr uint16_t kSaGetLbaStatus = 0x12;    // SBC-4 5.7
// MAINTENANCE IN.
inline constexpr uint16_t kSaReportSupportedOperationCodes = 0x0c;  // SPC-4 6.35
inline constexpr uint16_t kSaReportTargetPortGroups = 0x0a;  // MAINTENANCE IN, SPC-4 6.27
inline constexpr uint16_t kSaSetTargetPortGroups = 0x0a;     // MAINTENANCE OUT, SPC-4 6.40
// THIRD-PARTY COPY OUT (SPC-4 6.4: the LID1 EXTENDED COPY).
inline constexpr uint16_t kSaExtendedCopyLid1 = 0x00;
// THIRD-PARTY COPY IN (SPC-4 6.18 RECEIVE COPY RESULTS, LID1 forms).
inline constexpr uint16_t kSaCopyStatusLid1 = 0x00;
inline constexpr uint16_t kSaReceiveDataLid1 = 0x01;
inline constexpr uint16_t kSaOperatingParameters = 0x03;
inline constexpr uint16_t kSaFailedSegmentDetailsLid1 = 0x04;
// SANITIZE (SBC-4 5.30).
inline constexpr uint16_t kSaSanitizeOverwrite = 0x01;
inline constexpr uint16_t kSaSanitizeBlockErase = 0x02;
inline constexpr uint16_t kSaSanitizeCryptoErase = 0x03;
inline constexpr uint16_t kSaSanitizeExitFailureMode = 0x1f;
// PERSISTENT RESERVE IN (SPC-4 6.13.1).
inline constexpr uint16_t kSaReadKeys = 0x00;
inline constexpr uint16_t kSaReadReservation = 0x01;
inline constexpr uint16_t kSaReportCapabilities = 0x02;
inline constexpr uint16_t kSaReadFullStatus = 0x03;
// PERSISTENT RESERVE OUT (SPC-4 6.14.2).
inline constexpr uint16_t kSaRegister = 0x00;
inline constexpr uint16_t kSaReserve = 0x01;
inline constexpr uint16_t kSaRelease = 0x02;
inline constexpr uint16_t kSaClear = 0x03;
inline constexpr uint16_t kSaPreempt = 0x04;
inline constexpr uint16_t kSaPreemptAndAbort = 0x05;
inline constexpr uint16_t kSaRegisterAndIgnoreExistingKey = 0x06;
inline constexpr uint16_t kSaRegisterAndMove = 0x07;

// Persistent reservation TYPE (SPC-4 6.13.3.4, table "Persistent reservation type
// codes"); the REPORT CAPABILITIES type mask names them WR_EX, EX_AC, ...
inline constexpr uint8_t kPrTypeWriteExclusive = 0x1;                  // WR_EX
inline constexpr uint8_t kPrTypeExclusiveAccess = 0x3;                 // EX_AC
inline constexpr uint8_t kPrTypeWriteExclusiveRegistrantsOnly = 0x5;   // WR_EX_RO
inline constexpr uint8_t kPrTypeExclusiveAccessRegistrantsOnly = 0x6;  // EX_AC_RO
inline constexpr uint8_t kPrTypeWriteExclusiveAllRegistrants = 0x7;    // WR_EX_AR
inline constexpr uint8_t kPrTypeExclusiveAccessAllRegistrants = 0x8;   // EX_AC_AR

// ---------------------------------------------------------------------------------------
// Peripheral device types (SPC-4 6.6.2, PERIPHERAL DEVICE TYPE).
inline constexpr uint8_t kPeripheralDirectAccess = 0x00;  // SBC-4
inline constexpr uint8_t kPeripheralMmc = 0x05;           // MMC-6 CD/DVD
inline constexpr uint8_t kPeripheralUnknown = 0x1f;       // no device type
// PERIPHERAL QUALIFIER 011b + type 1Fh: no logical unit at this LUN (SPC-4 6.6.2).
inline constexpr uint8_t kPeripheralNoLun = 0x7f;

// ---------------------------------------------------------------------------------------
// VPD page codes (SPC-4 7.8, SBC-4 6.6).
inline constexpr uint8_t kVpdSupportedPages = 0x00;             // SPC-4 7.8.16
inline constexpr uint8_t kVpdUnitSerialNumber = 0x80;           // SPC-4 7.8.17
inline constexpr uint8_t kVpdDeviceIdentification = 0x83;       // SPC-4 7.8.6
inline constexpr uint8_t kVpdThirdPartyCopy = 0x8f;             // SPC-4 7.8.17
inline constexpr uint8_t kVpdBlockLimits = 0xb0;                // SBC-4 6.6.4
inline constexpr uint8_t kVpdBlockDeviceCharacteristics = 0xb1; // SBC-4 6.6.2
inline constexpr uint8_t kVpdLogicalBlockProvisioning = 0xb2;   // SBC-4 6.6.6

// ---------------------------------------------------------------------------------------
// Mode page codes (SPC-4 7.5, SBC-4 6.5, MMC-6 7).
inline constexpr uint8_t kModePageReadWriteErrorRecovery = 0x01;   // SBC-4 6.5.10, MMC-6 7.3
inline constexpr uint8_t kModePageCaching = 0x08;                  // SBC-4 6.5.5
inline constexpr uint8_t kModePageControl = 0x0a;                  // SPC-4 7.5.8
inline constexpr uint8_t kModePagePowerCondition = 0x1a;           // MMC-6 7.4 (MM form)
inline constexpr uint8_t kModePageInformationalExceptions = 0x1c;  // SPC-4 7.5.13
inline constexpr uint8_t kModePageCdDvdCapabilities = 0x2a;        // MMC-6 7.9 (legacy)
inline constexpr uint8_t kModePageAll = 0x3f;                      // SPC-4 6.11: return all pages
// MODE SENSE PC field (SPC-4 6.11).
inline constexpr uint8_t kPageControlCurrent = 0;
inline constexpr uint8_t kPageControlChangeable = 1;
inline constexpr uint8_t kPageControlDefault = 2;
inline constexpr uint8_t kPageControlSaved = 3;

// ---------------------------------------------------------------------------------------
// Sense keys (SPC-4 4.5.6, table "Sense key descriptions").
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
  kCopyAborted = 0xa,
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

// ASC/ASCQ assignments (SPC-4 annex D.2), named after the standard's text.
namespace asc {
inline constexpr Asc kNone{0x0000};
inline constexpr Asc kOperationInProgress{0x0016};
inline constexpr Asc kLunNotReadyManualIntervention{0x0403};
inline constexpr Asc kLunNotReadyFormatInProgress{0x0404};
inline constexpr Asc kLunNotReadySanitizeInProgress{0x041b};
// SPC-4 5.15.2.4: LOGICAL UNIT NOT ACCESSIBLE, ASYMMETRIC ACCESS STATE TRANSITION /
// TARGET PORT IN STANDBY STATE / TARGET PORT IN UNAVAILABLE STATE.
inline constexpr Asc kLunNotAccessibleTransition{0x040a};
inline constexpr Asc kLunNotAccessibleStandby{0x040b};
inline constexpr Asc kLunNotAccessibleUnavailable{0x040c};
inline constexpr Asc kThirdPartyDeviceFailure{0x0d01};
inline constexpr Asc kCopyTargetDeviceNotReachable{0x0d02};
inline constexpr Asc kIncorrectCopyTargetDeviceType{0x0d03};
inline constexpr Asc kWriteError{0x0c00};
// INVALID FIELD IN INFORMATION UNIT: a Data-Out shorter than the CDB asks for and not a
// whole number of blocks (FCP-4 9.4.2 option b).
inline constexpr Asc kInvalidFieldInInformationUnit{0x0e03};
inline constexpr Asc kUnrecoveredReadError{0x1100};
inline constexpr Asc kMiscompareDuringVerify{0x1d00};
inline constexpr Asc kParameterListLengthError{0x1a00};
inline constexpr Asc kInvalidOpcode{0x2000};
inline constexpr Asc kLbaOutOfRange{0x2100};
inline constexpr Asc kInvalidFieldInCdb{0x2400};
inline constexpr Asc kLunNotSupported{0x2500};
inline constexpr Asc kInvalidFieldInParameterList{0x2600};
inline constexpr Asc kInvalidReleaseOfPersistentReservation{0x2604};
inline constexpr Asc kTooManyTargetDescriptors{0x2606};
inline constexpr Asc kUnsupportedTargetDescriptorTypeCode{0x2607};
inline constexpr Asc kTooManySegmentDescriptors{0x2608};
inline constexpr Asc kUnsupportedSegmentDescriptorTypeCode{0x2609};
inline constexpr Asc kWriteProtected{0x2700};
// SBC-4 4.7.3.6: a thin LU out of space (sense key DATA PROTECT).
inline constexpr Asc kSpaceAllocationFailedWriteProtect{0x2707};
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
inline constexpr Asc kAsymmetricAccessStateChanged{0x2a06};  // SPC-4 5.15.2.5
inline constexpr Asc kSetTargetPortGroupsFailed{0x670a};     // SPC-4 6.40
inline constexpr Asc kCommandsClearedByAnotherInitiator{0x2f00};
inline constexpr Asc kSavingParametersNotSupported{0x3900};
inline constexpr Asc kSanitizeCommandFailed{0x3103};
inline constexpr Asc kMediumNotPresent{0x3a00};
inline constexpr Asc kMediumNotPresentTrayClosed{0x3a01};
inline constexpr Asc kMediumNotPresentTrayOpen{0x3a02};
inline constexpr Asc kInquiryDataHasChanged{0x3f03};
inline constexpr Asc kReportedLunsDataHasChanged{0x3f0e};
inline constexpr Asc kInternalTargetFailure{0x4400};
inline constexpr Asc kInvalidMessageError{0x4900};
inline constexpr Asc kMediumRemovalPrevented{0x5302};
inline constexpr Asc kInsufficientResources{0x5503};
inline constexpr Asc kInsufficientRegistrationResources{0x5504};
}  // namespace asc

// ---------------------------------------------------------------------------------------
// Wire layouts: CDBs.

// Bits shared by the READ/WRITE family's byte 1 (SBC-4 5.x).
inline constexpr uint8_t kCdbProtectMask = 0xe0;  // RDPROTECT/WRPROTECT/VRPROTECT/ORPROTECT
inline constexpr uint8_t kCdbDpo = 0x10;          // DPO
inline constexpr uint8_t kCdbFua = 0x08;          // FUA
inline constexpr uint8_t kCdbBytchkMask = 0x06;   // BYTCHK (VERIFY, WRITE AND VERIFY)
inline constexpr int kCdbBytchkShift = 1;
// SAM-5 5.2 CONTROL byte.
inline constexpr uint8_t kControlNaca = 0x04;
inline constexpr uint8_t kControlLink = 0x01;

// READ (6) / WRITE (6) (SBC-4 5.15, 5.38).
struct Rw6Cdb {
  uint8_t operation_code;
  uint8_t logical_block_address[3];  // 21 bits: byte 1 bits 4-0 and bytes 2-3
  uint8_t transfer_length;           // 0 means 256 blocks
  uint8_t control;
};
static_assert(sizeof(Rw6Cdb) == 6);

// READ (10) / WRITE (10) / VERIFY (10) / WRITE AND VERIFY (10) / PRE-FETCH (10) /
// SYNCHRONIZE CACHE (10) / WRITE SAME (10) (SBC-4 5.16, 5.39, 5.33, 5.42, 5.9, 5.24, 5.45).
struct Rw10Cdb {
  uint8_t operation_code;
  uint8_t flags;  // xPROTECT, DPO, FUA, BYTCHK, IMMED, ... (per command)
  uint8_t logical_block_address[4];
  uint8_t group_number;
  uint8_t transfer_length[2];  // NUMBER OF LOGICAL BLOCKS / VERIFICATION LENGTH / ...
  uint8_t control;
};
static_assert(sizeof(Rw10Cdb) == 10);

// The 12-byte forms (SBC-4 5.17, 5.40, 5.34, 5.43).
struct Rw12Cdb {
  uint8_t operation_code;
  uint8_t flags;
  uint8_t logical_block_address[4];
  uint8_t transfer_length[4];
  uint8_t group_number;
  uint8_t control;
};
static_assert(sizeof(Rw12Cdb) == 12);

// The 16-byte forms, ORWRITE (16) and WRITE SAME (16) included (SBC-4 5.18, 5.41, 5.35,
// 5.44, 5.10, 5.25, 5.14, 5.46).
struct Rw16Cdb {
  uint8_t operation_code;
  uint8_t flags;
  uint8_t logical_block_address[8];
  uint8_t transfer_length[4];
  uint8_t group_number;
  uint8_t control;
};
static_assert(sizeof(Rw16Cdb) == 16);

// COMPARE AND WRITE (SBC-4 5.3).
struct CompareAndWriteCdb {
  uint8_t operation_code;
  uint8_t flags;  // WRPROTECT, DPO, FUA
  uint8_t logical_block_address[8];
  uint8_t reserved[3];
  uint8_t number_of_logical_blocks;
  uint8_t group_number;
  uint8_t control;
};
static_assert(sizeof(CompareAndWriteCdb) == 16);

// SERVICE ACTION IN (16): READ CAPACITY (16) and GET LBA STATUS (SBC-4 5.21, 5.7).
struct ServiceActionIn16Cdb {
  uint8_t operation_code;
  uint8_t service_action;
  uint8_t logical_block_address[8];  // GET LBA STATUS: STARTING LOGICAL BLOCK ADDRESS
  uint8_t allocation_length[4];
  uint8_t flags;  // READ CAPACITY (16): PMI (obsolete)
  uint8_t control;
};
static_assert(sizeof(ServiceActionIn16Cdb) == 16);

// WRITE ATOMIC (16) (SBC-4 5.48).
struct WriteAtomic16Cdb {
  uint8_t operation_code;
  uint8_t flags;  // WRPROTECT (7-5), DPO (4), FUA (3)
  uint8_t logical_block_address[8];
  uint8_t atomic_boundary[2];
  uint8_t transfer_length[2];
  uint8_t group_number;
  uint8_t control;
};
static_assert(sizeof(WriteAtomic16Cdb) == 16);

// SANITIZE (SBC-4 5.30).
struct SanitizeCdb {
  uint8_t operation_code;
  uint8_t flags;  // IMMED (7), AUSE (5), SERVICE ACTION (4-0)
  uint8_t reserved[5];
  uint8_t parameter_list_length[2];
  uint8_t control;
};
static_assert(sizeof(SanitizeCdb) == 10);
inline constexpr uint8_t kSanitizeImmed = 0x80;
inline constexpr uint8_t kSanitizeAuse = 0x20;

// EXTENDED COPY (LID1) (SPC-4 6.4.1) and RECEIVE COPY RESULTS (SPC-4 6.18), LID1 forms.
struct ExtendedCopyCdb {
  uint8_t operation_code;
  uint8_t service_action;  // 00h: EXTENDED COPY (LID1)
  uint8_t reserved[8];
  uint8_t parameter_list_length[4];
  uint8_t reserved14;
  uint8_t control;
};
static_assert(sizeof(ExtendedCopyCdb) == 16);
struct ReceiveCopyResultsCdb {
  uint8_t operation_code;
  uint8_t service_action;
  uint8_t list_identifier;
  uint8_t reserved[7];
  uint8_t allocation_length[4];
  uint8_t reserved14;
  uint8_t control;
};
static_assert(sizeof(ReceiveCopyResultsCdb) == 16);

// READ CAPACITY (10) (SBC-4 5.20).
struct ReadCapacity10Cdb {
  uint8_t operation_code;
  uint8_t reserved1;
  uint8_t logical_block_address[4];  // obsolete; must be 0 with PMI 0
  uint8_t reserved6[2];
  uint8_t pmi;  // bit 0: PMI (obsolete)
  uint8_t control;
};
static_assert(sizeof(ReadCapacity10Cdb) == 10);

// UNMAP (SBC-4 5.32).
struct UnmapCdb {
  uint8_t operation_code;
  uint8_t anchor;  // bit 0: ANCHOR
  uint8_t reserved[4];
  uint8_t group_number;
  uint8_t parameter_list_length[2];
  uint8_t control;
};
static_assert(sizeof(UnmapCdb) == 10);

// INQUIRY (SPC-4 6.6.1).
struct InquiryCdb {
  uint8_t operation_code;
  uint8_t evpd;  // bit 0: EVPD; bit 1: CMDDT (obsolete)
  uint8_t page_code;
  uint8_t allocation_length[2];
  uint8_t control;
};
static_assert(sizeof(InquiryCdb) == 6);

// ---------------------------------------------------------------------------------------
// Wire layouts: parameter data.

// READ CAPACITY (10) parameter data (SBC-4 5.20.2).
struct ReadCapacity10Data {
  uint8_t returned_logical_block_address[4];
  uint8_t logical_block_length_in_bytes[4];
};
static_assert(sizeof(ReadCapacity10Data) == 8);

// READ CAPACITY (16) parameter data (SBC-4 5.21.2).
struct ReadCapacity16Data {
  uint8_t returned_logical_block_address[8];
  uint8_t logical_block_length_in_bytes[4];
  uint8_t protection;     // P_TYPE, PROT_EN
  uint8_t exponents;      // P_I_EXPONENT (7-4), LOGICAL BLOCKS PER PHYSICAL BLOCK EXPONENT (3-0)
  uint8_t provisioning;   // LBPME (bit 7), LBPRZ (bit 6), LOWEST ALIGNED LBA (5-0, MSB)
  uint8_t lowest_aligned_logical_block_address;  // LSB
  uint8_t reserved[16];
};
static_assert(sizeof(ReadCapacity16Data) == 32);
inline constexpr uint8_t kReadCapacity16Lbpme = 0x80;
inline constexpr uint8_t kReadCapacity16Lbprz = 0x40;

// GET LBA STATUS parameter data (SBC-4 5.7.2): a header, then LBA status descriptors.
struct LbaStatusHeader {
  uint8_t parameter_data_length[4];
  uint8_t reserved[4];
};
static_assert(sizeof(LbaStatusHeader) == 8);
struct LbaStatusDescriptor {
  uint8_t lba_status_logical_block_address[8];
  uint8_t number_of_logical_blocks[4];
  uint8_t provisioning_status;  // bits 3-0: 0 mapped (or unknown), 1 deallocated, 2 anchored
  uint8_t reserved[3];
};
static_assert(sizeof(LbaStatusDescriptor) == 16);

// UNMAP parameter list (SBC-4 5.32.2): a header, then block descriptors.
struct UnmapParameterListHeader {
  uint8_t unmap_data_length[2];
  uint8_t unmap_block_descriptor_data_length[2];
  uint8_t reserved[4];
};
static_assert(sizeof(UnmapParameterListHeader) == 8);
struct UnmapBlockDescriptor {
  uint8_t unmap_logical_block_address[8];
  uint8_t number_of_logical_blocks[4];
  uint8_t reserved[4];
};
static_assert(sizeof(UnmapBlockDescriptor) == 16);

// Standard INQUIRY data (SPC-4 6.6.2), as much of it as the emulation returns.
struct StandardInquiryData {
  uint8_t peripheral;        // PERIPHERAL QUALIFIER (7-5), PERIPHERAL DEVICE TYPE (4-0)
  uint8_t rmb;               // RMB (bit 7)
  uint8_t version;           // 06h: SPC-4
  uint8_t response_format;   // NORMACA, HISUP (bit 4), RESPONSE DATA FORMAT (3-0)
  uint8_t additional_length;
  uint8_t flags5;            // SCCS, ACC, TPGS, 3PC, PROTECT
  uint8_t flags6;            // ENCSERV, MULTIP, ...
  uint8_t flags7;            // CMDQUE (bit 1)
  uint8_t t10_vendor_identification[8];
  uint8_t product_identification[16];
  uint8_t product_revision_level[4];
  uint8_t vendor_specific[20];
  uint8_t flags56;
  uint8_t reserved57;
  uint8_t version_descriptor[8][2];
  uint8_t reserved74[22];
};
static_assert(sizeof(StandardInquiryData) == 96);
inline constexpr uint8_t kInquiryRmb = 0x80;
inline constexpr uint8_t kInquiryHisup = 0x10;
inline constexpr uint8_t kInquiryResponseDataFormat2 = 0x02;
inline constexpr uint8_t kInquiryCmdque = 0x02;
inline constexpr uint8_t kInquiryTpgsShift = 4;  // byte 5 bits 5-4: 01 implicit, 10 explicit
inline constexpr uint8_t kInquiry3pc = 0x08;  // byte 5: third-party copy (EXTENDED COPY)
inline constexpr uint8_t kInquiryVersionSpc4 = 0x06;
// VERSION DESCRIPTOR values (SPC-4 6.6.2, table "Version descriptor values").
inline constexpr uint16_t kVersionDescriptorSam5 = 0x00a0;
inline constexpr uint16_t kVersionDescriptorIscsi = 0x0960;
inline constexpr uint16_t kVersionDescriptorSpc4 = 0x0460;
inline constexpr uint16_t kVersionDescriptorSbc3 = 0x04c0;
inline constexpr uint16_t kVersionDescriptorMmc6 = 0x04e0;

// VPD page header (SPC-4 7.8.1).
struct VpdPageHeader {
  uint8_t peripheral;
  uint8_t page_code;
  uint8_t page_length[2];
};
static_assert(sizeof(VpdPageHeader) == 4);

// Block Limits VPD page (SBC-4 6.6.4).
struct BlockLimitsVpd {
  VpdPageHeader header;  // PAGE LENGTH 003Ch
  uint8_t wsnz;          // bit 0: WSNZ
  uint8_t maximum_compare_and_write_length;
  uint8_t optimal_transfer_length_granularity[2];
  uint8_t maximum_transfer_length[4];
  uint8_t optimal_transfer_length[4];
  uint8_t maximum_prefetch_length[4];
  uint8_t maximum_unmap_lba_count[4];
  uint8_t maximum_unmap_block_descriptor_count[4];
  uint8_t optimal_unmap_granularity[4];
  uint8_t unmap_granularity_alignment[4];  // UGAVALID (bit 31)
  uint8_t maximum_write_same_length[8];
  uint8_t maximum_atomic_transfer_length[4];
  uint8_t atomic_alignment[4];
  uint8_t atomic_transfer_length_granularity[4];
  uint8_t maximum_atomic_transfer_length_with_atomic_boundary[4];
  uint8_t maximum_atomic_boundary_size[4];
};
static_assert(sizeof(BlockLimitsVpd) == 64);

// Logical Block Provisioning VPD page (SBC-4 6.6.6).
struct LogicalBlockProvisioningVpd {
  VpdPageHeader header;
  uint8_t threshold_exponent;
  uint8_t flags;  // LBPU (7), LBPWS (6), LBPWS10 (5), LBPRZ (4-2 in SBC-4; bit 2 here), ANC_SUP, DP
  uint8_t provisioning_type;  // bits 2-0: 0 full, 1 resource, 2 thin
  uint8_t reserved;
};
static_assert(sizeof(LogicalBlockProvisioningVpd) == 8);
inline constexpr uint8_t kLbpVpdLbpu = 0x80;
inline constexpr uint8_t kLbpVpdLbpws = 0x40;
inline constexpr uint8_t kLbpVpdLbpws10 = 0x20;
inline constexpr uint8_t kLbpVpdLbprz = 0x04;
inline constexpr uint8_t kProvisioningTypeThin = 0x02;

// Block Device Characteristics VPD page (SBC-4 6.6.2), the part the emulation fills.
struct BlockDeviceCharacteristicsVpd {
  VpdPageHeader header;
  uint8_t medium_rotation_rate[2];  // 0001h: non-rotating medium
  uint8_t product_type;
  uint8_t flags7;  // WABEREQ (7-6), WACEREQ (5-4), NOMINAL FORM FACTOR (3-0)
  uint8_t flags8;  // ZONED (5-4), FUAB (1), VBULS (0)
  uint8_t reserved[55];
};
static_assert(sizeof(BlockDeviceCharacteristicsVpd) == 64);
inline constexpr uint16_t kMediumRotationRateNonRotating = 0x0001;
// WABEREQ 01b: a read of a block sanitized by BLOCK ERASE and not written since completes
// with GOOD status (and, with LBPRZ, zeros) (SBC-4 6.6.2).
inline constexpr uint8_t kWabereqReadsSucceed = 0x40;

// SANITIZE OVERWRITE parameter list (SBC-4 5.30.3): a header, then the pattern.
struct SanitizeOverwriteParameterList {
  uint8_t flags;  // INVERT (7), TEST (6-5), OVERWRITE COUNT (4-0)
  uint8_t reserved;
  uint8_t initialization_pattern_length[2];
};
static_assert(sizeof(SanitizeOverwriteParameterList) == 4);
inline constexpr uint8_t kOverwriteInvert = 0x80;
inline constexpr uint8_t kOverwriteTestMask = 0x60;
inline constexpr uint8_t kOverwriteCountMask = 0x1f;

// EXTENDED COPY (LID1) parameter list (SPC-4 6.4.3): the header, then target (CSCD)
// descriptors, segment descriptors and inline data.
struct ExtendedCopyParameterListHeader {
  uint8_t list_identifier;
  uint8_t flags;  // STR (5), LIST ID USAGE (4-3), PRIORITY (2-0)
  uint8_t target_descriptor_list_length[2];
  uint8_t reserved[4];
  uint8_t segment_descriptor_list_length[4];
  uint8_t inline_data_length[4];
};
static_assert(sizeof(ExtendedCopyParameterListHeader) == 16);
// LIST ID USAGE (SPC-4 6.4.3): 00b hold the copy status for RECEIVE COPY RESULTS, 10b do
// not, 11b the list identifier is not used (and is zero).
inline constexpr uint8_t kListIdUsageHold = 0;
inline constexpr uint8_t kListIdUsageDiscard = 2;
inline constexpr uint8_t kListIdUsageNone = 3;
// Identification descriptor target (CSCD) descriptor, type E4h (SPC-4 6.4.5.2), with the
// block device type specific parameters (SPC-4 6.4.5.1.3).
struct IdentificationTargetDescriptor {
  uint8_t descriptor_type_code;  // E4h
  uint8_t flags;  // LU ID TYPE (7-6) and NUL (5), obsolete; PERIPHERAL DEVICE TYPE (4-0)
  uint8_t relative_initiator_port_identifier[2];
  uint8_t code_set;          // designation descriptor (SPC-4 7.8.6.1): CODE SET (3-0)
  uint8_t designator_type;   // PIV (7), ASSOCIATION (5-4), DESIGNATOR TYPE (3-0)
  uint8_t reserved6;
  uint8_t designator_length;
  uint8_t designator[20];
  uint8_t pad;               // block device: PAD (2)
  uint8_t disk_block_length[3];
};
static_assert(sizeof(IdentificationTargetDescriptor) == 32);
inline constexpr uint8_t kTargetDescriptorIdentification = 0xe4;
inline constexpr uint8_t kDesignatorTypeNaa = 0x3;
// Block device to block device segment descriptor, type 02h (SPC-4 6.4.6.5).
struct BlockToBlockSegmentDescriptor {
  uint8_t descriptor_type_code;  // 02h
  uint8_t flags;                 // DC (1), CAT (0)
  uint8_t descriptor_length[2];  // 0018h
  uint8_t source_target_descriptor_index[2];
  uint8_t destination_target_descriptor_index[2];
  uint8_t reserved[2];
  uint8_t block_device_number_of_blocks[2];
  uint8_t source_block_device_logical_block_address[8];
  uint8_t destination_block_device_logical_block_address[8];
};
static_assert(sizeof(BlockToBlockSegmentDescriptor) == 28);
inline constexpr uint8_t kSegmentDescriptorBlockToBlock = 0x02;
// RECEIVE COPY RESULTS COPY STATUS (LID1) parameter data (SPC-4 6.18.3).
struct CopyStatusData {
  uint8_t available_data[4];  // 8
  uint8_t copy_manager_status;  // HDD (7), COPY MANAGER STATUS (6-0)
  uint8_t segments_processed[2];
  uint8_t transfer_count_units;
  uint8_t transfer_count[4];
};
static_assert(sizeof(CopyStatusData) == 12);
inline constexpr uint8_t kCopyStatusInProgress = 0x00;
inline constexpr uint8_t kCopyStatusCompleted = 0x01;
inline constexpr uint8_t kCopyStatusFailed = 0x02;
// RECEIVE COPY RESULTS OPERATING PARAMETERS parameter data (SPC-4 6.18.5), before the
// list of implemented descriptor type codes.
struct OperatingParametersData {
  uint8_t available_data[4];
  uint8_t snlid;  // SNLID (0)
  uint8_t reserved5[3];
  uint8_t maximum_target_descriptor_count[2];
  uint8_t maximum_segment_descriptor_count[2];
  uint8_t maximum_descriptor_list_length[4];
  uint8_t maximum_segment_length[4];
  uint8_t maximum_inline_data_length[4];
  uint8_t held_data_limit[4];
  uint8_t maximum_stream_device_transfer_size[4];
  uint8_t reserved32[2];
  uint8_t total_concurrent_copies[2];
  uint8_t maximum_concurrent_copies;
  uint8_t data_segment_granularity;  // log2 bytes
  uint8_t inline_data_granularity;
  uint8_t held_data_granularity;
  uint8_t reserved40[3];
  uint8_t implemented_descriptor_list_length;
};
static_assert(sizeof(OperatingParametersData) == 44);
// Third-party Copy VPD page descriptor types (SPC-4 7.8.17).
inline constexpr uint16_t kTpcSupportedCommands = 0x0001;
inline constexpr uint16_t kTpcParameterData = 0x0004;
inline constexpr uint16_t kTpcSupportedDescriptors = 0x0008;
inline constexpr uint16_t kTpcSupportedCscdIds = 0x000c;
inline constexpr uint16_t kTpcGeneralCopyOperations = 0x8001;

// Mode parameter headers (SPC-4 7.5.5) and block descriptors (SPC-4 7.5.6).
struct ModeParameterHeader6 {
  uint8_t mode_data_length;
  uint8_t medium_type;
  uint8_t device_specific_parameter;  // SBC-4 6.5.1: WP (bit 7), DPOFUA (bit 4)
  uint8_t block_descriptor_length;
};
static_assert(sizeof(ModeParameterHeader6) == 4);
struct ModeParameterHeader10 {
  uint8_t mode_data_length[2];
  uint8_t medium_type;
  uint8_t device_specific_parameter;
  uint8_t longlba;  // bit 0: LONGLBA
  uint8_t reserved;
  uint8_t block_descriptor_length[2];
};
static_assert(sizeof(ModeParameterHeader10) == 8);
inline constexpr uint8_t kDeviceSpecificWp = 0x80;
inline constexpr uint8_t kDeviceSpecificDpofua = 0x10;
struct ShortLbaBlockDescriptor {
  uint8_t number_of_logical_blocks[4];
  uint8_t reserved;
  uint8_t logical_block_length[3];
};
static_assert(sizeof(ShortLbaBlockDescriptor) == 8);
struct LongLbaBlockDescriptor {
  uint8_t number_of_logical_blocks[8];
  uint8_t reserved[4];
  uint8_t logical_block_length[4];
};
static_assert(sizeof(LongLbaBlockDescriptor) == 16);

// Mode pages the emulation offers (page_0 format: PS, SPF, PAGE CODE, PAGE LENGTH).
struct ReadWriteErrorRecoveryModePage {  // SBC-4 6.5.10
  uint8_t page_code;
  uint8_t page_length;  // 0Ah
  uint8_t flags;        // AWRE (7), ARRE (6), TB, RC, EER, PER, DTE, DCR
  uint8_t read_retry_count;
  uint8_t obsolete[3];
  uint8_t reserved7;
  uint8_t write_retry_count;
  uint8_t reserved9;
  uint8_t recovery_time_limit[2];
};
static_assert(sizeof(ReadWriteErrorRecoveryModePage) == 12);
struct CachingModePage {  // SBC-4 6.5.5
  uint8_t page_code;
  uint8_t page_length;  // 12h
  uint8_t flags;        // IC, ABPF, CAP, DISC, SIZE, WCE (bit 2), MF, RCD (bit 0)
  uint8_t retention_priority;
  uint8_t disable_pre_fetch_transfer_length[2];
  uint8_t minimum_pre_fetch[2];
  uint8_t maximum_pre_fetch[2];
  uint8_t maximum_pre_fetch_ceiling[2];
  uint8_t flags12;  // FSW, LBCSS, DRA, NV_DIS
  uint8_t number_of_cache_segments;
  uint8_t cache_segment_size[2];
  uint8_t reserved16;
  uint8_t obsolete[3];
};
static_assert(sizeof(CachingModePage) == 20);
inline constexpr uint8_t kCachingWce = 0x04;
struct ControlModePage {  // SPC-4 7.5.8
  uint8_t page_code;
  uint8_t page_length;  // 0Ah
  uint8_t flags2;       // TST (7-5), TMF_ONLY, DPICZ, D_SENSE (bit 2), GLTSD, RLEC
  uint8_t flags3;       // QUEUE ALGORITHM MODIFIER (7-4), NUAR, QERR (2-1)
  uint8_t flags4;       // VS, RAC, UA_INTLCK_CTRL, SWP (bit 3)
  uint8_t flags5;       // ATO, TAS (bit 6), ATMPE, RWWP, AUTOLOAD MODE
  uint8_t obsolete[2];
  uint8_t busy_timeout_period[2];
  uint8_t extended_self_test_completion_time[2];
};
static_assert(sizeof(ControlModePage) == 12);
struct InformationalExceptionsControlModePage {  // SPC-4 7.5.11
  uint8_t page_code;
  uint8_t page_length;  // 0Ah
  uint8_t flags2;       // PERF, EBF, EWASC, DEXCPT, TEST, EBACKERR, LOGERR
  uint8_t mrie;         // METHOD OF REPORTING INFORMATIONAL EXCEPTIONS (3-0)
  uint8_t interval_timer[4];
  uint8_t report_count[4];
};
static_assert(sizeof(InformationalExceptionsControlModePage) == 12);
inline constexpr uint8_t kControlDSense = 0x04;
inline constexpr uint8_t kControlSwp = 0x08;
inline constexpr uint8_t kControlQueueAlgorithmModifier1 = 0x10;

// Sense data (SPC-4 4.5.3 fixed format, 4.5.2 descriptor format).
struct FixedSenseData {
  uint8_t response_code;  // VALID (bit 7), 70h current
  uint8_t obsolete;
  uint8_t sense_key;      // FILEMARK, EOM, ILI, SDAT_OVFL, SENSE KEY (3-0)
  uint8_t information[4];
  uint8_t additional_sense_length;
  uint8_t command_specific_information[4];
  uint8_t additional_sense_code;
  uint8_t additional_sense_code_qualifier;
  uint8_t field_replaceable_unit_code;
  uint8_t sense_key_specific[3];
};
static_assert(sizeof(FixedSenseData) == 18);
struct DescriptorSenseHeader {
  uint8_t response_code;  // 72h current
  uint8_t sense_key;
  uint8_t additional_sense_code;
  uint8_t additional_sense_code_qualifier;
  uint8_t reserved[3];
  uint8_t additional_sense_length;
};
static_assert(sizeof(DescriptorSenseHeader) == 8);
inline constexpr uint8_t kSenseFixedCurrent = 0x70;
inline constexpr uint8_t kSenseDescriptorCurrent = 0x72;
inline constexpr uint8_t kSenseValid = 0x80;

// PERSISTENT RESERVE OUT basic parameter list (SPC-4 6.14.3).
struct ProutParameterList {
  uint8_t reservation_key[8];
  uint8_t service_action_reservation_key[8];
  uint8_t obsolete[4];
  uint8_t flags;  // SPEC_I_PT (bit 3), ALL_TG_PT (bit 2), APTPL (bit 0)
  uint8_t reserved;
  uint8_t obsolete2[2];
};
static_assert(sizeof(ProutParameterList) == 24);
inline constexpr uint8_t kProutSpecIPt = 0x08;
inline constexpr uint8_t kProutAllTgPt = 0x04;
inline constexpr uint8_t kProutAptpl = 0x01;

}  // namespace modtgt::scsi
