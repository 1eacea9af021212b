// SPDX-License-Identifier: Apache-2.0
// Transmitter over a socketpair: PDUs on the wire (length, padding, digests), copied control
// data and uncopied Data-In, tasks released once written or dropped, a full socket.
#include "iscsi/transmitter.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <vector>

#include "iscsi/scsi_task.h"
#include "scsi/command.h"
#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using loopback::Pattern;

class FakeHandler : public Transmitter::Handler {
 public:
  void Sent(Task* t) override { sent.push_back(t); }
  std::vector<Task*> sent;
};

class TransmitterTest : public ::testing::Test {
 protected:
  std::vector<uint8_t> ReadAll() { return sp_.ReadAll(); }
  Transmitter::FlushStatus Flush() { return tx_.Flush(sp_.ours()); }
  static Bhs Header(Opcode op) {
    Bhs h;
    h.set_opcode(op);
    h.b[1] = 0x80;
    h.set_itt(0x99);
    return h;
  }

  loopback::SocketPair sp_;
  FakeHandler h_;
  Transmitter tx_{&h_};
};

TEST_F(TransmitterTest, ControlPduWithoutDigests) {
  std::vector<uint8_t> data = Pattern(5, 1);
  tx_.Queue(Header(Opcode::kNopIn), data.data(), 5, true, nullptr);
  data.assign(5, 0);  // copied: the caller's buffer may change at once
  EXPECT_FALSE(tx_.empty());
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  EXPECT_TRUE(tx_.empty());
  std::vector<uint8_t> wire = ReadAll();
  ASSERT_EQ(wire.size(), kBhsLength + 8);  // 5 bytes padded to 8
  EXPECT_EQ(wire[0] & 0x3f, 0x20);
  EXPECT_EQ(GetBe24(&wire[5]), 5u);  // DataSegmentLength set by Queue
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + kBhsLength, wire.begin() + kBhsLength + 5),
            Pattern(5, 1));
  EXPECT_EQ(wire[kBhsLength + 5], 0);
  EXPECT_EQ(wire[kBhsLength + 7], 0);
}

TEST_F(TransmitterTest, DataInIsSentFromTheCallersBufferWithDigests) {
  tx_.SetDigests(true, true);
  Task task;
  std::vector<uint8_t> data = Pattern(1001, 3);
  tx_.Queue(Header(Opcode::kDataIn), data.data(), 1001, false, &task);
  tx_.Queue(Header(Opcode::kScsiResponse), nullptr, 0, true, nullptr);
  EXPECT_TRUE(h_.sent.empty());
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  ASSERT_EQ(h_.sent.size(), 1u);
  EXPECT_EQ(h_.sent[0], &task);
  std::vector<uint8_t> wire = ReadAll();
  // Data-In: BHS, header digest, 1001 bytes + 3 padding, data digest; then a 48+4 response.
  ASSERT_EQ(wire.size(), kBhsLength + 4 + 1004 + 4 + kBhsLength + 4);
  EXPECT_EQ(GetDigest(&wire[kBhsLength]), Crc32c(wire.data(), kBhsLength));
  const uint8_t* d = wire.data() + kBhsLength + 4;
  EXPECT_EQ(std::vector<uint8_t>(d, d + 1001), data);
  EXPECT_EQ(GetDigest(d + 1004), Crc32c(d, 1004));
  const uint8_t* r = d + 1008;
  EXPECT_EQ(r[0] & 0x3f, 0x21);
  EXPECT_EQ(GetDigest(r + kBhsLength), Crc32c(r, kBhsLength));
}

// QueueZeros: the data of a Data-In that reads as zeros comes from the shared zero buffer;
// its data digest is the CRC32C of zeros (kept for the last length, recomputed for a new
// one), and the task is released once, after the last byte.
TEST_F(TransmitterTest, ZeroDataInWithDigestsIsZerosWithTheirCrc) {
  tx_.SetDigests(true, true);
  Task a, b, c;
  tx_.QueueZeros(Header(Opcode::kDataIn), 1001, &a);
  tx_.QueueZeros(Header(Opcode::kDataIn), 1001, &b);  // the kept digest
  tx_.QueueZeros(Header(Opcode::kDataIn), 4096, &c);  // a new length
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  ASSERT_EQ(h_.sent.size(), 3u);
  EXPECT_EQ(h_.sent[0], &a);
  EXPECT_EQ(h_.sent[2], &c);
  std::vector<uint8_t> wire = ReadAll();
  ASSERT_EQ(wire.size(), 2 * (kBhsLength + 4 + 1004 + 4) + kBhsLength + 4 + 4096 + 4);
  const std::vector<uint8_t> zeros(4096, 0);
  const uint8_t* p = wire.data();
  for (uint32_t len : {1001u, 1001u, 4096u}) {
    EXPECT_EQ(GetBe24(p + 5), len);
    EXPECT_EQ(GetDigest(p + kBhsLength), Crc32c(p, kBhsLength));
    const uint8_t* d = p + kBhsLength + 4;
    EXPECT_EQ(std::vector<uint8_t>(d, d + Pad4(len)), std::vector<uint8_t>(Pad4(len), 0));
    EXPECT_EQ(GetDigest(d + Pad4(len)), Crc32c(zeros.data(), Pad4(len))) << len;
    p = d + Pad4(len) + 4;
  }
}

TEST_F(TransmitterTest, ZeroDataInLargerThanTheZeroBufferThroughAFullSocket) {
  int small = 4096;
  setsockopt(sp_.ours(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  tx_.SetDigests(false, true);
  Task task;
  const uint32_t len = static_cast<uint32_t>(2 * scsi::kZeroBufferBytes + 4097);
  tx_.QueueZeros(Header(Opcode::kDataIn), len, &task);
  std::vector<uint8_t> wire;
  for (int i = 0; i < 100000 && !tx_.empty(); i++) {
    EXPECT_TRUE(h_.sent.empty()) << "released before its last byte was written";
    std::vector<uint8_t> got = ReadAll();
    wire.insert(wire.end(), got.begin(), got.end());
    ASSERT_NE(Flush(), Transmitter::FlushStatus::kError);
  }
  ASSERT_TRUE(tx_.empty());
  std::vector<uint8_t> rest = ReadAll();
  wire.insert(wire.end(), rest.begin(), rest.end());
  ASSERT_EQ(wire.size(), kBhsLength + Pad4(len) + 4);
  const std::vector<uint8_t> zeros(Pad4(len), 0);
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + kBhsLength, wire.end() - 4), zeros);
  EXPECT_EQ(GetDigest(wire.data() + wire.size() - 4), Crc32c(zeros.data(), zeros.size()));
  ASSERT_EQ(h_.sent.size(), 1u);
}

TEST_F(TransmitterTest, ZeroDataInWithoutDigestsAndDropped) {
  Task a, b;
  tx_.QueueZeros(Header(Opcode::kDataIn), 512, &a);
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  ASSERT_EQ(h_.sent.size(), 1u);
  std::vector<uint8_t> wire = ReadAll();
  ASSERT_EQ(wire.size(), kBhsLength + 512);
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + kBhsLength, wire.end()),
            std::vector<uint8_t>(512, 0));
  tx_.QueueZeros(Header(Opcode::kDataIn), 700, &b);
  tx_.Drop();
  ASSERT_EQ(h_.sent.size(), 2u);
  EXPECT_EQ(h_.sent[1], &b);
}

TEST_F(TransmitterTest, HeaderOnlyPduCarriesItsRelease) {
  Task task;
  tx_.Queue(Header(Opcode::kDataIn), nullptr, 0, false, &task);
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  ASSERT_EQ(h_.sent.size(), 1u);
  EXPECT_EQ(ReadAll().size(), kBhsLength);
}

TEST_F(TransmitterTest, FullSocketBlocksAndResumesWhereItStopped) {
  int small = 4096;
  setsockopt(sp_.ours(), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
  Task task;
  std::vector<uint8_t> data = Pattern(1u << 20, 5);
  tx_.Queue(Header(Opcode::kDataIn), data.data(), static_cast<uint32_t>(data.size()), false, &task);
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kBlocked);
  EXPECT_TRUE(h_.sent.empty()) << "released before its last byte was written";
  std::vector<uint8_t> wire;
  for (int i = 0; i < 100000 && !tx_.empty(); i++) {
    std::vector<uint8_t> got = ReadAll();
    wire.insert(wire.end(), got.begin(), got.end());
    Transmitter::FlushStatus st = Flush();
    ASSERT_NE(st, Transmitter::FlushStatus::kError);
  }
  ASSERT_TRUE(tx_.empty());
  std::vector<uint8_t> rest = ReadAll();
  wire.insert(wire.end(), rest.begin(), rest.end());
  ASSERT_EQ(wire.size(), kBhsLength + data.size());
  EXPECT_EQ(std::vector<uint8_t>(wire.begin() + kBhsLength, wire.end()), data);
  ASSERT_EQ(h_.sent.size(), 1u);
}

TEST_F(TransmitterTest, DropReleasesWhatWasNotWritten) {
  Task a, b;
  std::vector<uint8_t> data = Pattern(100, 1);
  tx_.Queue(Header(Opcode::kDataIn), data.data(), 100, false, &a);
  tx_.Queue(Header(Opcode::kScsiResponse), nullptr, 0, true, &b);
  tx_.Drop();
  EXPECT_TRUE(tx_.empty());
  ASSERT_EQ(h_.sent.size(), 2u);
  EXPECT_EQ(h_.sent[0], &a);
  EXPECT_EQ(h_.sent[1], &b);
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kEmpty);
  EXPECT_TRUE(ReadAll().empty());
}

TEST_F(TransmitterTest, ClosedPeerIsAnError) {
  sp_.ClosePeer();
  tx_.Queue(Header(Opcode::kNopIn), nullptr, 0, true, nullptr);
  EXPECT_EQ(Flush(), Transmitter::FlushStatus::kError);
}

}  // namespace
}  // namespace modtgt::iscsi
