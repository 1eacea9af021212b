// SPDX-License-Identifier: Apache-2.0
// Transmitter over a socketpair: PDUs on the wire (length, padding, digests), copied control
// data and uncopied Data-In, tasks released once written or dropped, a full socket.
#include "iscsi/transmitter.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <vector>

#include "iscsi/scsi_task.h"
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
