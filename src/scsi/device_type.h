// SPDX-License-Identifier: Apache-2.0
// DeviceType: a device type's opcode table (SBC disk, MMC optical, ...), built from named
// entries, never positional. Immutable after construction; thread-safe to read.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace modtgt::scsi {

struct Command;
class LogicalUnit;

using OpHandler = void (*)(Command* cmd);
// Whether one LU offers a command its device type lists: WRITE ATOMIC (16) only where the
// store guarantees atomic writes, SANITIZE BLOCK ERASE only where it can unmap. An entry
// an LU does not offer answers as if it were not in the table, and REPORT SUPPORTED
// OPERATION CODES leaves it out. Thread-safe (reads immutable LU config and backend
// capabilities).
using OpSupported = bool (*)(const LogicalUnit& lu);

// Flags on an opcode entry.
enum OpFlag : uint32_t {
  kOpNoUnitAttention = 1u << 0,   // runs even when a unit attention is pending (INQUIRY...)
  kOpConflictExempt = 1u << 1,    // allowed despite a reservation by another nexus
  kOpNeedsMedium = 1u << 2,       // NOT READY / MEDIUM NOT PRESENT without a medium
  kOpWritesMedium = 1u << 3,      // DATA PROTECT on a read-only LU; held by WE reservations
  kOpNoLun = 1u << 4,             // valid for a LUN that does not exist (REPORT LUNS, ...)
};

struct OpInfo {
  uint8_t opcode = 0;
  bool has_service_action = false;
  uint16_t service_action = 0;
  OpHandler handler = nullptr;
  uint32_t flags = 0;
  // REPORT SUPPORTED OPERATION CODES: CDB length and usage bitmap (SPC-4 6.35.3).
  uint8_t cdb_length = 0;
  std::array<uint8_t, 16> usage = {};
  const char* name = "";
  OpSupported supported = nullptr;  // nullptr: every LU of the device type
};

// True if lu offers op (OpInfo::supported).
bool OpSupportedBy(const OpInfo& op, const LogicalUnit& lu);

class DeviceType {
 public:
  DeviceType(std::string name, uint8_t peripheral_type, std::vector<OpInfo> ops);
  const std::string& name() const { return name_; }
  uint8_t peripheral_type() const { return peripheral_type_; }
  // The entry for opcode (and service action, for opcodes that have them), or nullptr.
  const OpInfo* Find(uint8_t opcode, uint16_t service_action) const;
  // The same, nullptr also when lu does not offer the entry (OpInfo::supported).
  const OpInfo* FindFor(const LogicalUnit& lu, uint8_t opcode, uint16_t service_action) const;
  // True if any entry uses opcode (with some service action).
  bool HasOpcode(uint8_t opcode) const;
  // True if opcode's entries are per service action (SERVICE ACTION IN, SANITIZE, ...).
  bool HasServiceActions(uint8_t opcode) const;
  const std::vector<OpInfo>& ops() const { return ops_; }

 private:
  std::string name_;
  uint8_t peripheral_type_;
  std::vector<OpInfo> ops_;
  std::array<int16_t, 256> first_index_;  // opcode -> first index in ops_, or -1
};

// The key of a table entry: an operation code and, for the opcodes that have service
// actions (SERVICE ACTION IN, PERSISTENT RESERVE IN/OUT, ...), one service action.
// Implicit from a plain opcode: Op(kRead10, ...), Op({kServiceActionIn16, kSaGetLbaStatus}, ...).
struct OpKey {
  constexpr OpKey(uint8_t op) : opcode(op) {}  // NOLINT(google-explicit-constructor)
  constexpr OpKey(uint8_t op, uint16_t sa)
      : opcode(op), has_service_action(true), service_action(sa) {}
  uint8_t opcode;
  bool has_service_action = false;
  uint16_t service_action = 0;
};

// Builds a table entry, the one way every device type's table is written:
//   Op(kRead10, &Read, kOpNeedsMedium, "READ(10)", {kRead10, 0x18, 0xff, ...})
// `name` is the command's name in the standard; `usage` is the REPORT SUPPORTED OPERATION
// CODES usage bitmap (SPC-4 6.35.3), whose length is the CDB length.
OpInfo Op(OpKey key, OpHandler handler, uint32_t flags, const char* name,
          std::initializer_list<uint8_t> usage);
// An entry only the LUs for which supported(lu) holds offer:
//   OnlyIf(&HasAtomicWrites, Op(kWriteAtomic16, &WriteAtomic, ...))
OpInfo OnlyIf(OpSupported supported, OpInfo op);

// Where the service action lives for opcodes that have one (0 if none).
uint16_t ServiceActionOf(const uint8_t* cdb, uint8_t cdb_len);

}  // namespace modtgt::scsi
