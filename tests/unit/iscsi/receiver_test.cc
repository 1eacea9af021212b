// SPDX-License-Identifier: Apache-2.0
// Receiver over a socketpair: PDUs framed from bytes that arrive in pieces, data segments
// into the handler's buffer (long ones read straight into it) or the control buffer, AHS,
// digests checked, back-pressure, end of stream.
#include "iscsi/receiver.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "loopback.h"

namespace modtgt::iscsi {
namespace {

using loopback::Pattern;

struct Seen {
  Bhs bhs;
  std::vector<uint8_t> ahs;
  std::vector<uint8_t> data;
  bool header_ok = true;
  bool data_ok = true;
};

class FakeHandler : public Receiver::Handler {
 public:
  bool CanTake(const uint8_t* bhs) override {
    if (hold_opcode >= 0 && (bhs[0] & 0x3f) == hold_opcode) {
      rx->Pause();
      held++;
      return false;
    }
    return true;
  }
  uint8_t* OnHeader(bool header_digest_ok) override {
    Seen s;
    std::memcpy(s.bhs.b.data(), rx->header(), kBhsLength);
    s.ahs.assign(rx->header() + kBhsLength, rx->header() + kBhsLength + rx->ahs_length());
    s.header_ok = header_digest_ok;
    seen.push_back(s);
    if (!header_digest_ok && stop_on_bad_header) {
      rx->Stop();
      return nullptr;
    }
    if (direct) {
      direct_buf.assign(rx->data_segment_length(), 0);
      return direct_buf.data();
    }
    return nullptr;
  }
  void OnPdu(bool data_digest_ok) override {
    Seen& s = seen.back();
    s.data_ok = data_digest_ok;
    if (direct) {
      s.data = direct_buf;
    } else {
      s.data = rx->control_data();
    }
  }

  Receiver* rx = nullptr;
  std::vector<Seen> seen;
  int hold_opcode = -1;
  int held = 0;
  bool direct = false;
  bool stop_on_bad_header = true;
  std::vector<uint8_t> direct_buf;
};

class ReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { h_.rx = &rx_; }
  void Write(const std::vector<uint8_t>& b) { sp_.Write(b); }
  Receiver::ReadStatus Read() { return rx_.ReadFrom(sp_.ours()); }
  // A PDU: BHS (opcode, AHS words, data length), AHS, header digest, data, padding, data
  // digest.
  static std::vector<uint8_t> Pdu(uint8_t opcode, const std::vector<uint8_t>& ahs,
                                  const std::vector<uint8_t>& data, bool hd, bool dd) {
    Bhs h;
    h.b[0] = opcode;
    h.b[4] = static_cast<uint8_t>(ahs.size() / 4);
    h.set_data_segment_length(static_cast<uint32_t>(data.size()));
    h.set_itt(0x1234);
    std::vector<uint8_t> out(h.b.begin(), h.b.end());
    out.insert(out.end(), ahs.begin(), ahs.end());
    if (hd) {
      uint8_t d[4];
      PutDigest(d, Crc32c(out.data(), out.size()));
      out.insert(out.end(), d, d + 4);
    }
    if (!data.empty()) {
      size_t start = out.size();
      out.insert(out.end(), data.begin(), data.end());
      out.resize(start + Pad4(static_cast<uint32_t>(data.size())), 0);
      if (dd) {
        uint8_t d[4];
        PutDigest(d, Crc32c(out.data() + start, out.size() - start));
        out.insert(out.end(), d, d + 4);
      }
    }
    return out;
  }

  loopback::SocketPair sp_;
  FakeHandler h_;
  Receiver rx_{&h_};
};

TEST_F(ReceiverTest, FramesPdusThatArriveInPieces) {
  std::vector<uint8_t> ahs = {0, 5, 1, 0, 1, 2, 3, 4};  // one extended-CDB AHS, 8 bytes
  std::vector<uint8_t> a = Pdu(0x01, ahs, Pattern(7, 1), false, false);
  std::vector<uint8_t> b = Pdu(0x00, {}, {}, false, false);
  std::vector<uint8_t> all = a;
  all.insert(all.end(), b.begin(), b.end());
  size_t from = 0;
  for (size_t cut : {size_t{20}, size_t{60}, all.size()}) {
    Write(std::vector<uint8_t>(all.begin() + from, all.begin() + cut));
    from = cut;
    EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  }
  ASSERT_EQ(h_.seen.size(), 2u);
  EXPECT_EQ(h_.seen[0].bhs.opcode(), Opcode::kScsiCommand);
  EXPECT_EQ(h_.seen[0].ahs, ahs);
  EXPECT_EQ(h_.seen[0].data, Pattern(7, 1));
  EXPECT_EQ(h_.seen[1].bhs.opcode(), Opcode::kNopOut);
  EXPECT_TRUE(h_.seen[1].data.empty());
}

TEST_F(ReceiverTest, LongDataSegmentLandsInTheHandlersBuffer) {
  h_.direct = true;
  rx_.SetDigests(true, true);
  std::vector<uint8_t> data = Pattern(64 * 1024 + 3, 7);
  std::vector<uint8_t> pdu = Pdu(0x05, {}, data, true, true);
  // The header first, so the data is still unread when its destination is known.
  Write(std::vector<uint8_t>(pdu.begin(), pdu.begin() + kBhsLength + 4));
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 1u);
  Write(std::vector<uint8_t>(pdu.begin() + kBhsLength + 4, pdu.end()));
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 1u);
  EXPECT_TRUE(h_.seen[0].header_ok);
  EXPECT_TRUE(h_.seen[0].data_ok);
  EXPECT_EQ(h_.seen[0].data, data);
}

// After one long data segment the receiver reads the next header alone, so the data of
// the PDUs that follow is read straight into the handler's buffers (no copy), digests
// still checked; a short data segment goes through the receive buffer again.
TEST_F(ReceiverTest, LongDataSegmentsInARowAreReadStraightIntoTheirBuffers) {
  h_.direct = true;
  rx_.RequestCapacity(Receiver::kRecvBufferSize);
  rx_.SetDigests(true, true);
  const size_t len = 40 * 1024 + 2;
  // The first PDU arrives whole before it is read: its data is copied out of the buffer.
  Write(Pdu(0x05, {}, Pattern(len, 0), true, true));
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 1u);
  EXPECT_EQ(rx_.copied_bytes(), len);
  std::vector<uint8_t> all;
  for (uint8_t i = 1; i <= 3; i++) {
    std::vector<uint8_t> p = Pdu(0x05, {}, Pattern(len, i), true, true);
    if (i == 2) p[kBhsLength + 4 + 100] ^= 1;  // a data digest error
    all.insert(all.end(), p.begin(), p.end());
  }
  std::vector<uint8_t> last = Pdu(0x05, {}, Pattern(100, 9), true, true);
  all.insert(all.end(), last.begin(), last.end());
  Write(all);
  for (int i = 0; i < 8 && h_.seen.size() < 5; i++) ASSERT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 5u);
  for (uint8_t i = 0; i <= 3; i++) {
    EXPECT_TRUE(h_.seen[i].header_ok);
    EXPECT_EQ(h_.seen[i].data_ok, i != 2) << "PDU " << int{i};
    std::vector<uint8_t> want = Pattern(len, i);
    if (i == 2) want[100] ^= 1;
    EXPECT_EQ(h_.seen[i].data, want) << "PDU " << int{i};
  }
  EXPECT_TRUE(h_.seen[4].data_ok);
  EXPECT_EQ(h_.seen[4].data, Pattern(100, 9));
  // Only the first long segment and the short one were copied.
  EXPECT_EQ(rx_.copied_bytes(), len + 100);
}

TEST_F(ReceiverTest, DigestMismatchesAreReported) {
  rx_.SetDigests(true, true);
  std::vector<uint8_t> good = Pdu(0x04, {}, Pattern(10, 3), true, true);
  std::vector<uint8_t> bad_data = good;
  bad_data.back() ^= 1;
  Write(bad_data);
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 1u);
  EXPECT_TRUE(h_.seen[0].header_ok);
  EXPECT_FALSE(h_.seen[0].data_ok);
  std::vector<uint8_t> bad_header = good;
  bad_header[kBhsLength] ^= 1;
  Write(bad_header);
  Write(good);  // never parsed: the handler stopped the receiver
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 2u);
  EXPECT_FALSE(h_.seen[1].header_ok);
  EXPECT_TRUE(rx_.stopped());
}

TEST_F(ReceiverTest, BackPressureKeepsTheHeaderUntilResumed) {
  h_.hold_opcode = 0x01;
  Write(Pdu(0x00, {}, {}, false, false));
  Write(Pdu(0x01, {}, Pattern(5, 9), false, false));
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  ASSERT_EQ(h_.seen.size(), 1u);
  EXPECT_TRUE(rx_.paused());
  EXPECT_EQ(h_.held, 1);
  h_.hold_opcode = -1;
  rx_.Resume();
  rx_.ParseBuffered();
  ASSERT_EQ(h_.seen.size(), 2u);
  EXPECT_EQ(h_.seen[1].data, Pattern(5, 9));
}

// A pause can leave the buffer full; reading after the resume must not take the full
// buffer for the end of the stream.
TEST_F(ReceiverTest, AFullBufferLeftByAPauseIsParsedNotTakenForTheEnd) {
  h_.hold_opcode = 0x01;
  std::vector<uint8_t> all;
  const int n = 24;
  for (int i = 0; i < n; i++) {
    std::vector<uint8_t> p = Pdu(0x01, {}, Pattern(1024, static_cast<uint8_t>(i)), false, false);
    all.insert(all.end(), p.begin(), p.end());
  }
  ASSERT_GT(all.size(), Receiver::kLoginBufferSize);
  Write(all);
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  EXPECT_TRUE(rx_.paused());
  rx_.Resume();  // resumed, still refusing: the buffer stays full
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  h_.hold_opcode = -1;
  rx_.Resume();
  for (int i = 0; i < 4 && h_.seen.size() < static_cast<size_t>(n); i++) {
    ASSERT_EQ(Read(), Receiver::ReadStatus::kOk);
  }
  ASSERT_EQ(h_.seen.size(), static_cast<size_t>(n));
  EXPECT_EQ(h_.seen[n - 1].data, Pattern(1024, n - 1));
}

TEST_F(ReceiverTest, EndOfStreamIsReported) {
  Write(Pdu(0x00, {}, {}, false, false));
  sp_.ClosePeer();
  // A short read means the socket is drained: the end shows on the next event.
  EXPECT_EQ(Read(), Receiver::ReadStatus::kOk);
  EXPECT_EQ(h_.seen.size(), 1u);
  EXPECT_EQ(Read(), Receiver::ReadStatus::kPeerClosed);
}

}  // namespace
}  // namespace modtgt::iscsi
