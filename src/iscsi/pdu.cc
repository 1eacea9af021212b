// SPDX-License-Identifier: Apache-2.0
// PDU helpers: SAM LUN encoding and the CRC32C digest (RFC 7143 11.1, 12.1 / RFC 3720 B.4).
#include "iscsi/pdu.h"

#include <isa-l/crc.h>

#include <climits>

namespace modtgt::iscsi {

// SAM-5 4.7: the first level of the 8-byte LUN field. Byte 0 bits 7-6 are the address
// method: 00b peripheral device (bus 0: LUN in byte 1), 01b flat space (14-bit LUN in
// bytes 0-1). Other methods (logical unit, extended) are not used by modtgt and decode to
// kInvalidLun, so a lookup fails cleanly instead of aliasing a real LUN.
uint64_t DecodeLun(uint64_t raw) {
  if ((raw & 0x0000ffffffffffffULL) != 0) {
    return kInvalidLun;  // second..fourth level present: not a single-level LUN
  }
  const uint16_t first = static_cast<uint16_t>(raw >> 48);
  switch (first >> 14) {
    case 0:  // peripheral device addressing; bus identifier must be 0
      return (first >> 8) == 0 ? (first & 0xff) : kInvalidLun;
    case 1:  // flat space addressing
      return first & 0x3fff;
    default:  // logical unit / extended addressing
      return kInvalidLun;
  }
}

uint64_t EncodeLun(uint64_t lun) {
  if (lun < 256) {
    return lun << 48;  // peripheral, bus 0
  }
  return (static_cast<uint64_t>(0x4000 | (lun & 0x3fff))) << 48;  // flat space
}

// ISA-L's crc32_iscsi() neither inverts its seed nor its result: it computes the raw
// reflected CRC32C register update. The iSCSI digest (RFC 3720 B.4) starts the register
// at 0xffffffff and complements the final value. The functions below take and return
// *finished* digests, zlib style, so that Crc32c(b, Crc32c(a)) == Crc32c(a||b).
uint32_t Crc32c(const void* data, size_t len, uint32_t seed) {
  return Crc32cUpdate(seed, data, len);
}

uint32_t Crc32cUpdate(uint32_t crc_state, const void* data, size_t len) {
  uint32_t reg = ~crc_state;
  auto* p = static_cast<unsigned char*>(const_cast<void*>(data));
  while (len > 0) {
    const int chunk = len > static_cast<size_t>(INT_MAX) ? INT_MAX : static_cast<int>(len);
    reg = crc32_iscsi(p, chunk, reg);
    p += chunk;
    len -= static_cast<size_t>(chunk);
  }
  return ~reg;
}

uint32_t DigestUpdate(uint32_t state, const void* data, size_t len) {
  return crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)), static_cast<int>(len),
                     state);
}

}  // namespace modtgt::iscsi
