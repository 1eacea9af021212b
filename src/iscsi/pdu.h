// SPDX-License-Identifier: Apache-2.0
// iSCSI PDUs (RFC 7143 11): the 48-byte Basic Header Segment, opcodes, and the PDU as held
// in memory. Field access is by named accessor over the raw bytes (big-endian on the wire).
// Thread-compatible value types.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/byteorder.h"

namespace modtgt::iscsi {

inline constexpr size_t kBhsLength = 48;
inline constexpr size_t kDigestLength = 4;

enum class Opcode : uint8_t {
  // initiator -> target
  kNopOut = 0x00,
  kScsiCommand = 0x01,
  kTaskMgmtRequest = 0x02,
  kLoginRequest = 0x03,
  kTextRequest = 0x04,
  kDataOut = 0x05,
  kLogoutRequest = 0x06,
  kSnackRequest = 0x10,
  // target -> initiator
  kNopIn = 0x20,
  kScsiResponse = 0x21,
  kTaskMgmtResponse = 0x22,
  kLoginResponse = 0x23,
  kTextResponse = 0x24,
  kDataIn = 0x25,
  kLogoutResponse = 0x26,
  kR2t = 0x31,
  kAsyncMessage = 0x32,
  kReject = 0x3f,
};

// Reject reasons (RFC 7143 11.17.1).
enum class RejectReason : uint8_t {
  kDataDigestError = 0x02,
  kSnackReject = 0x03,
  kProtocolError = 0x04,
  kCommandNotSupported = 0x05,
  kImmediateCommandRejected = 0x06,
  kTaskInProgress = 0x07,
  kInvalidDataAck = 0x08,
  kInvalidPduField = 0x09,
  kLongOpReject = 0x0a,
  kWaitingForLogout = 0x0c,
};

// The Basic Header Segment with accessors for the fields common to all PDUs. Opcode-specific
// fields are read with Get32(offset) etc. at the offsets RFC 7143 gives.
struct Bhs {
  std::array<uint8_t, kBhsLength> b{};

  Opcode opcode() const { return static_cast<Opcode>(b[0] & 0x3f); }
  void set_opcode(Opcode op) { b[0] = static_cast<uint8_t>((b[0] & 0x40) | static_cast<uint8_t>(op)); }
  bool immediate() const { return b[0] & 0x40; }
  bool final() const { return b[1] & 0x80; }
  void set_final(bool f) { b[1] = f ? (b[1] | 0x80) : (b[1] & 0x7f); }
  uint8_t flags() const { return b[1]; }
  uint32_t total_ahs_length() const { return b[4] * 4u; }  // bytes
  uint32_t data_segment_length() const { return GetBe24(&b[5]); }
  void set_data_segment_length(uint32_t n) { PutBe24(&b[5], n); }
  uint64_t lun_raw() const { return GetBe64(&b[8]); }
  void set_lun_raw(uint64_t v) { PutBe64(&b[8], v); }
  uint32_t itt() const { return GetBe32(&b[16]); }
  void set_itt(uint32_t v) { PutBe32(&b[16], v); }
  uint32_t Get32(size_t off) const { return GetBe32(&b[off]); }
  void Put32(size_t off, uint32_t v) { PutBe32(&b[off], v); }
  uint16_t Get16(size_t off) const { return GetBe16(&b[off]); }
  void Put16(size_t off, uint16_t v) { PutBe16(&b[off], v); }
};
static_assert(sizeof(Bhs) == kBhsLength, "BHS must be 48 bytes");

// Returned by DecodeLun for a LUN field modtgt cannot address (SAM-5 4.7: bus != 0, logical
// unit / extended addressing, or a non-zero second level). No LogicalUnit has this number.
inline constexpr uint64_t kInvalidLun = ~0ULL;

// Decodes an 8-byte SAM LUN field (peripheral or flat space addressing) to a LUN number,
// or kInvalidLun. EncodeLun does the reverse (peripheral for < 256, flat otherwise).
// REQUIRES (EncodeLun): lun < 16384 (flat space limit); larger values are masked.
uint64_t DecodeLun(uint64_t raw);
uint64_t EncodeLun(uint64_t lun);

// Pads n to a multiple of 4.
inline constexpr uint32_t Pad4(uint32_t n) { return (n + 3u) & ~3u; }

// CRC32C (iSCSI digest, RFC 7143 12.1, test vectors RFC 3720 B.4) via ISA-L.
// Both functions take and return *finished* digests (zlib convention): start with seed 0,
// and chain pieces by passing the previous result, e.g. for a header with AHS:
//   uint32_t d = Crc32c(bhs, 48); d = Crc32cUpdate(d, ahs, ahs_len);
// Crc32c(32 zero bytes) == 0x8a9136aa. Put it on the wire with PutDigest (the digest is sent
// least significant byte first: aa 36 91 8a).
uint32_t Crc32c(const void* data, size_t len, uint32_t seed = 0);
// Digest over several pieces, as for a header with AHS or padded data. Same as
// Crc32c(data, len, crc_state).
uint32_t Crc32cUpdate(uint32_t crc_state, const void* data, size_t len);

// The same CRC32C on the raw register, for the data path (no inversion per call): start
// with kDigestInit, DigestUpdate over each piece, DigestFinal. Same values as Crc32c; on the
// wire with PutDigest.
inline constexpr uint32_t kDigestInit = 0xffffffffu;
uint32_t DigestUpdate(uint32_t state, const void* data, size_t len);
inline uint32_t DigestFinal(uint32_t state) { return state ^ 0xffffffffu; }

// The 4-byte digest as carried on the wire (RFC 3720 B.4 byte order: little-endian).
inline void PutDigest(uint8_t* p, uint32_t crc) {
  p[0] = static_cast<uint8_t>(crc);
  p[1] = static_cast<uint8_t>(crc >> 8);
  p[2] = static_cast<uint8_t>(crc >> 16);
  p[3] = static_cast<uint8_t>(crc >> 24);
}
inline uint32_t GetDigest(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

// An in-memory PDU for the control path (login, text, nop, tmf, logout, reject). The data
// path (SCSI Command data, Data-In/Out) avoids copies and does not use this type.
struct Pdu {
  Bhs bhs;
  std::vector<uint8_t> ahs;
  std::vector<uint8_t> data;
};

}  // namespace modtgt::iscsi
