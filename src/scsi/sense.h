// SPDX-License-Identifier: Apache-2.0
// Sense data (SPC-4 4.5): builders for fixed (0x70) and descriptor (0x72) format, and the
// backing-store status -> sense mapping. The sense keys and additional sense codes are in
// scsi/spec.h. Pure functions, thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>

#include "scsi/spec.h"

namespace modtgt::scsi {

struct Command;

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

// Like BuildSense, with a sense-key-specific PROGRESS INDICATION (SPC-4 4.5.2.4.4) instead
// of INFORMATION: REQUEST SENSE while a format or sanitize operation runs.
size_t BuildSenseProgress(uint8_t* buf, size_t buflen, bool descriptor_format, SenseKey key,
                          Asc code, uint16_t progress);

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
