// SPDX-License-Identifier: Apache-2.0
// Small helpers every command handler of the SCSI layer uses (spc*.cc, sbc*.cc, mmc.cc):
// finish with parameter data, finish with CHECK CONDITION, and which device type an LU
// is. Each Finish/Fail completes the command (scsi::Complete), so a handler can
// `return Fail(...)`.
//
// Threading: on the command's owning loop, like the handlers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "scsi/command.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spec.h"

namespace modtgt::scsi {

// Returns min(len, alloc) bytes of buf as Data-In and completes cmd (SPC-4 4.2.5.6: the
// ALLOCATION LENGTH truncates; the transport computes the residual against EDTL).
inline void FinishDataIn(Command* cmd, const uint8_t* buf, size_t len, uint32_t alloc) {
  const uint32_t n = static_cast<uint32_t>(std::min<size_t>(len, alloc));
  cmd->data.Resize(n);
  if (n) std::memcpy(cmd->data.data(), buf, n);
  cmd->data_in_length = n;
  Complete(cmd);
}
inline void FinishDataIn(Command* cmd, const std::vector<uint8_t>& v, uint32_t alloc) {
  FinishDataIn(cmd, v.data(), v.size(), alloc);
}

// CHECK CONDITION with key/code, then completes cmd.
inline void Fail(Command* cmd, SenseKey key, Asc code) {
  SetCheckCondition(cmd, key, code);
  Complete(cmd);
}

// ILLEGAL REQUEST / INVALID FIELD IN CDB (in_cdb) or IN PARAMETER LIST with a field
// pointer (SetInvalidField), then completes cmd.
inline void FailField(Command* cmd, bool in_cdb, uint16_t byte, int bit = -1) {
  SetInvalidField(cmd, in_cdb, byte, bit);
  Complete(cmd);
}

inline bool IsSbc(const LogicalUnit& lu) {
  return lu.type()->peripheral_type() == kPeripheralDirectAccess;
}
inline bool IsMmc(const LogicalUnit& lu) { return lu.type()->peripheral_type() == kPeripheralMmc; }

}  // namespace modtgt::scsi
