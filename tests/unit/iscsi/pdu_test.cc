// SPDX-License-Identifier: Apache-2.0
#include "iscsi/pdu.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace modtgt::iscsi {
namespace {

// RFC 3720 B.4 (kept in RFC 7143 by reference): CRC32C test vectors. The RFC lists the
// digest bytes as they appear on the wire; the uint32_t values are the same bytes read
// least significant first.
TEST(Crc32c, Rfc3720B4ThirtyTwoZeros) {
  uint8_t buf[32] = {};
  const uint32_t crc = Crc32c(buf, sizeof(buf));
  EXPECT_EQ(crc, 0x8a9136aau);
  uint8_t wire[4];
  PutDigest(wire, crc);
  const uint8_t expected[4] = {0xaa, 0x36, 0x91, 0x8a};
  EXPECT_EQ(0, std::memcmp(wire, expected, 4));
  EXPECT_EQ(GetDigest(wire), crc);
}

TEST(Crc32c, Rfc3720B4ThirtyTwoOnes) {
  uint8_t buf[32];
  std::memset(buf, 0xff, sizeof(buf));
  EXPECT_EQ(Crc32c(buf, sizeof(buf)), 0x62a8ab43u);  // wire: 43 ab a8 62
}

TEST(Crc32c, Rfc3720B4Incrementing) {
  uint8_t buf[32];
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(buf, sizeof(buf)), 0x46dd794eu);  // wire: 4e 79 dd 46
}

TEST(Crc32c, Rfc3720B4Decrementing) {
  uint8_t buf[32];
  for (int i = 0; i < 32; ++i) buf[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(buf, sizeof(buf)), 0x113fdb5cu);  // wire: 5c db 3f 11
}

TEST(Crc32c, Rfc3720B4ScsiReadCommandPdu) {
  const uint8_t pdu[48] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
                           0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
                           0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(Crc32c(pdu, sizeof(pdu)), 0xd9963a56u);  // wire: 56 3a 96 d9
}

TEST(Crc32c, ChainingEqualsOneShot) {
  std::vector<uint8_t> buf(1000);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<uint8_t>(i * 7 + 3);
  const uint32_t whole = Crc32c(buf.data(), buf.size());
  uint32_t c = Crc32c(buf.data(), 48);
  c = Crc32cUpdate(c, buf.data() + 48, 300);
  c = Crc32cUpdate(c, buf.data() + 348, buf.size() - 348);
  EXPECT_EQ(c, whole);
  EXPECT_EQ(Crc32c(buf.data() + 10, 90, Crc32c(buf.data(), 10)), Crc32c(buf.data(), 100));
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, DetectsSingleBitFlip) {
  uint8_t buf[64] = {};
  const uint32_t a = Crc32c(buf, sizeof(buf));
  buf[17] ^= 0x04;
  EXPECT_NE(Crc32c(buf, sizeof(buf)), a);
}

TEST(Lun, PeripheralAddressing) {
  EXPECT_EQ(EncodeLun(0), 0u);
  EXPECT_EQ(EncodeLun(1), 0x0001000000000000ull);
  EXPECT_EQ(EncodeLun(255), 0x00ff000000000000ull);
  EXPECT_EQ(DecodeLun(0x0001000000000000ull), 1u);
  EXPECT_EQ(DecodeLun(0x00ff000000000000ull), 255u);
}

TEST(Lun, FlatSpaceAddressing) {
  EXPECT_EQ(EncodeLun(256), 0x4100000000000000ull);
  EXPECT_EQ(EncodeLun(16383), 0x7fff000000000000ull);
  EXPECT_EQ(DecodeLun(0x4100000000000000ull), 256u);
  EXPECT_EQ(DecodeLun(0x7fff000000000000ull), 16383u);
  // Flat space may also carry small LUNs (some initiators do this).
  EXPECT_EQ(DecodeLun(0x4005000000000000ull), 5u);
}

TEST(Lun, RoundTrip) {
  for (uint64_t lun : {0ull, 1ull, 7ull, 200ull, 255ull, 256ull, 1000ull, 4095ull, 16383ull}) {
    EXPECT_EQ(DecodeLun(EncodeLun(lun)), lun) << lun;
  }
}

TEST(Lun, UnaddressableFormsAreInvalid) {
  EXPECT_EQ(DecodeLun(0x0101000000000000ull), kInvalidLun);  // peripheral, bus 1
  EXPECT_EQ(DecodeLun(0x8001000000000000ull), kInvalidLun);  // logical unit addressing
  EXPECT_EQ(DecodeLun(0xc101000000000000ull), kInvalidLun);  // extended (well-known)
  EXPECT_EQ(DecodeLun(0x0001000100000000ull), kInvalidLun);  // second level present
}

TEST(Bhs, Accessors) {
  Bhs b;
  b.set_opcode(Opcode::kLoginResponse);
  b.set_final(true);
  b.set_data_segment_length(0x123456);
  b.set_itt(0xdeadbeef);
  EXPECT_EQ(b.opcode(), Opcode::kLoginResponse);
  EXPECT_TRUE(b.final());
  EXPECT_EQ(b.data_segment_length(), 0x123456u);
  EXPECT_EQ(b.b[5], 0x12);
  EXPECT_EQ(b.itt(), 0xdeadbeefu);
  EXPECT_EQ(Pad4(5), 8u);
  EXPECT_EQ(Pad4(8), 8u);
}

TEST(Digest, RawRegisterMatchesCrc32c) {
  // RFC 3720 B.4: 32 bytes of zeros -> 0x8a9136aa.
  uint8_t zeros[32] = {};
  EXPECT_EQ(DigestFinal(DigestUpdate(kDigestInit, zeros, 32)), 0x8a9136aau);
  const char* s = "123456789";
  uint32_t st = DigestUpdate(kDigestInit, s, 4);
  st = DigestUpdate(st, s + 4, 5);
  EXPECT_EQ(DigestFinal(st), 0xe3069283u);
  EXPECT_EQ(DigestFinal(st), Crc32c(s, 9));
}

}  // namespace
}  // namespace modtgt::iscsi
