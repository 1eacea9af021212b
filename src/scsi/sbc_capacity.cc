// SPDX-License-Identifier: Apache-2.0
// SBC-4 commands that describe the medium rather than move its data: READ CAPACITY (10),
// READ CAPACITY (16) and READ DEFECT DATA (10/12). They answer at once from the LU's
// geometry; no backend I/O. Handlers run on the command's owning loop.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "common/byteorder.h"
#include "scsi/dispatch.h"
#include "scsi/handler_util.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc.h"
#include "scsi/sbc_internal.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi::sbc_internal {

// ---- READ CAPACITY (10): SBC-4 5.20 ----
void ReadCapacity10(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  // PMI (byte 8 bit 0) is obsolete in SBC-4; with PMI 0 the LBA must be 0 (SBC-3 5.15).
  if (!(cmd->cdb[offsetof(ReadCapacity10Cdb, pmi)] & 0x01) &&
      GetBe32(cmd->cdb + offsetof(ReadCapacity10Cdb, logical_block_address)) != 0) {
    SetInvalidField(cmd, true, offsetof(ReadCapacity10Cdb, logical_block_address));
    Complete(cmd);
    return;
  }
  const uint64_t nb = lu->num_blocks();
  const uint64_t last = nb ? nb - 1 : 0;
  ReadCapacity10Data d{};
  // RETURNED LOGICAL BLOCK ADDRESS: 0xFFFFFFFF tells the initiator to use READ CAPACITY (16).
  PutBe32(d.returned_logical_block_address,
          last > 0xffffffffu ? 0xffffffffu : static_cast<uint32_t>(last));
  PutBe32(d.logical_block_length_in_bytes, lu->block_size());
  cmd->data.Resize(sizeof(d));
  std::memcpy(cmd->data.data(), &d, sizeof(d));
  cmd->data_in_length = sizeof(d);
  Complete(cmd);
}

// ---- SERVICE ACTION IN (16): READ CAPACITY (16), SBC-4 5.21 ----
void ReadCapacity16(Command* cmd) {
  LogicalUnit* lu = cmd->lu.get();
  const uint32_t alloc = GetBe32(cmd->cdb + offsetof(ServiceActionIn16Cdb, allocation_length));
  const uint64_t nb = lu->num_blocks();
  ReadCapacity16Data d{};
  PutBe64(d.returned_logical_block_address, nb ? nb - 1 : 0);
  PutBe32(d.logical_block_length_in_bytes, lu->block_size());
  // P_TYPE/PROT_EN = 0 (no protection information). P_I_EXPONENT 0, LOGICAL BLOCKS PER
  // PHYSICAL BLOCK EXPONENT (4 KiB physical blocks). LBPME, LBPRZ, LOWEST ALIGNED LOGICAL
  // BLOCK ADDRESS (0). LBPME/LBPRZ match VPD 0xB2.
  d.exponents = PhysicalBlockExponent(*lu) & 0x0f;
  if (SbcLbpEnabled(*lu)) {
    d.provisioning |= kReadCapacity16Lbpme;
    if (SbcLbprz(*lu)) d.provisioning |= kReadCapacity16Lbprz;
  }
  cmd->data.Resize(sizeof(d));
  std::memcpy(cmd->data.data(), &d, sizeof(d));
  cmd->data_in_length = std::min<uint32_t>(alloc, sizeof(d));
  Complete(cmd);
}

// ---- READ DEFECT DATA (10/12): SBC-4: an empty list ----
void ReadDefectData(Command* cmd) {
  const bool is12 = cmd->cdb[0] == kReadDefectData12;
  // Byte 2 (10) / byte 1 (12): REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT, echoed back.
  const uint8_t req = (is12 ? cmd->cdb[1] : cmd->cdb[2]) & 0x1f;
  const uint32_t alloc = is12 ? GetBe32(cmd->cdb + 6) : GetBe16(cmd->cdb + 7);
  const uint32_t len = is12 ? 8 : 4;
  cmd->data.ResizeZeroed(len);
  cmd->data.data()[1] = req;  // DEFECT LIST LENGTH stays 0
  cmd->data_in_length = std::min(alloc, len);
  Complete(cmd);
}

}  // namespace modtgt::scsi::sbc_internal
