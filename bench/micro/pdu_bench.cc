// SPDX-License-Identifier: Apache-2.0
// PDU header decode and encode with the real iSCSI receive and transmit code:
//  - Decode: iscsi::Receiver::ReadFrom over a socketpair holding a batch of PDUs (one
//    readv per batch, as on a busy connection), framing each PDU and handing its header to
//    a Handler that reads the fields Connection::BeginScsiCommand reads. SCSI Command PDUs
//    (READ(10), no data) and Data-Out PDUs with 4 KiB, with and without header digest.
//  - Encode: Data-In headers filled the way iscsi/scsi_task.cc fills them (NextDataIn
//    slices, residual, sequence numbers) and queued with iscsi::Transmitter::Queue (header
//    staged, payload by reference), with and without digests; then either dropped (no
//    system call: the encode cost alone) or written with Transmitter::Flush (sendmsg) to a
//    socketpair whose other end this thread drains.
// Items per second = PDUs per second.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "iscsi/pdu.h"
#include "iscsi/receiver.h"
#include "iscsi/scsi_task.h"
#include "iscsi/transmitter.h"

namespace modtgt::iscsi {
namespace {

struct SocketPair {
  int fd[2] = {-1, -1};
  SocketPair() {
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fd) != 0) std::abort();
    int sz = 4 << 20;
    setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(fd[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    fcntl(fd[1], F_SETFL, O_NONBLOCK);
  }
  ~SocketPair() {
    close(fd[0]);
    close(fd[1]);
  }
  void WriteAll(const std::vector<uint8_t>& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = write(fd[0], b.data() + off, b.size() - off);
      if (n <= 0) std::abort();
      off += static_cast<size_t>(n);
    }
  }
};

// What Connection::BeginScsiCommand / BeginDataOut read from a header.
class DecodeHandler : public Receiver::Handler {
 public:
  void set_receiver(Receiver* rx) { rx_ = rx; }
  bool CanTake(const uint8_t*) override { return true; }
  uint8_t* OnHeader(bool header_digest_ok) override {
    Bhs h;
    std::memcpy(h.b.data(), rx_->header(), kBhsLength);
    sum_ += static_cast<uint64_t>(h.opcode()) + h.itt() + DecodeLun(h.lun_raw()) + h.Get32(20) +
            h.Get32(24) + h.Get32(28) + h.flags() + (header_digest_ok ? 0 : 1);
    if (h.opcode() == Opcode::kScsiCommand) sum_ += h.b[32] + GetBe32(&h.b[34]);
    return h.data_segment_length() ? data_.data() : nullptr;
  }
  void OnPdu(bool) override { ++pdus_; }
  uint64_t pdus_ = 0;
  uint64_t sum_ = 0;

 private:
  Receiver* rx_ = nullptr;
  std::vector<uint8_t> data_ = std::vector<uint8_t>(256 * 1024);
};

std::vector<uint8_t> MakeBatch(bool data_out, bool hdig, int n) {
  std::vector<uint8_t> out;
  for (int i = 0; i < n; ++i) {
    Bhs h;
    if (data_out) {
      h.set_opcode(Opcode::kDataOut);
      h.set_final(true);
      h.set_data_segment_length(4096);
      h.Put32(20, 0x100 + i);   // TTT
      h.Put32(36, 0);           // DataSN
      h.Put32(40, 0);           // buffer offset
    } else {
      h.set_opcode(Opcode::kScsiCommand);
      h.b[1] = 0x80 | 0x40 | 0x01;  // F, R, simple
      h.Put32(20, 4096);            // EDTL
      h.Put32(24, 1000 + i);        // CmdSN
      h.b[32] = 0x28;               // READ(10)
      PutBe32(&h.b[34], static_cast<uint32_t>(i * 8));
      PutBe16(&h.b[39], 8);
    }
    h.set_lun_raw(EncodeLun(1) << 48);
    h.set_itt(static_cast<uint32_t>(i));
    out.insert(out.end(), h.b.begin(), h.b.end());
    if (hdig) {
      uint8_t d[4];
      PutDigest(d, Crc32c(h.b.data(), kBhsLength));
      out.insert(out.end(), d, d + 4);
    }
    if (data_out) out.insert(out.end(), 4096, static_cast<uint8_t>(i));
  }
  return out;
}

void BM_PduDecode(benchmark::State& state) {
  const bool data_out = state.range(0) != 0;
  const bool hdig = state.range(1) != 0;
  const int batch = 32;
  SocketPair sp;
  DecodeHandler h;
  Receiver rx2(&h);
  h.set_receiver(&rx2);
  rx2.SetDigests(hdig, false);
  rx2.RequestCapacity(Receiver::kRecvBufferSize);
  const std::vector<uint8_t> bytes = MakeBatch(data_out, hdig, batch);
  for (auto _ : state) {
    sp.WriteAll(bytes);
    if (rx2.ReadFrom(sp.fd[1]) != Receiver::ReadStatus::kOk) state.SkipWithError("read failed");
  }
  if (h.pdus_ != static_cast<uint64_t>(batch) * state.iterations()) state.SkipWithError("PDUs lost");
  benchmark::DoNotOptimize(h.sum_);
  state.SetItemsProcessed(static_cast<int64_t>(h.pdus_));
  state.SetLabel(std::string(data_out ? "Data-Out 4 KiB" : "SCSI Command READ(10)") +
                 (hdig ? ", header digest" : "") + ", incl. write+readv of 32 PDUs");
}
BENCHMARK(BM_PduDecode)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"dataout", "hdigest"});

class NoRelease : public Transmitter::Handler {
 public:
  void Sent(Task*) override {}
};

// Fills a Data-In header the way Connection::QueueDataIn does (status in the last one).
void FillDataIn(Bhs* h, uint32_t itt, uint32_t data_sn, const DataInSlice& s, uint32_t stat_sn,
                uint32_t edtl, uint32_t total) {
  *h = Bhs();
  h->set_opcode(Opcode::kDataIn);
  uint8_t f = s.final ? 0x80 : 0;
  if (s.final) {
    const Residual r = ComputeResidual(edtl, total);
    f |= 0x01 | (r.underflow ? 0x02 : 0) | (r.overflow ? 0x04 : 0);
    h->b[3] = 0;  // GOOD
    h->Put32(44, r.count);
    h->Put32(24, stat_sn);
  }
  h->b[1] = f;
  h->set_lun_raw(EncodeLun(1) << 48);
  h->set_itt(itt);
  h->Put32(20, 0xffffffffu);
  h->Put32(28, stat_sn + 1);
  h->Put32(32, stat_sn + 128);
  h->Put32(36, data_sn);
  h->Put32(40, s.offset);
}

// range(0): 0 = queue then Drop (encode only), 1 = queue then Flush with sendmsg.
// range(1): digests (header and data) off/on.
void BM_PduEncodeDataIn4K(benchmark::State& state) {
  const bool flush = state.range(0) != 0;
  const bool dig = state.range(1) != 0;
  const int batch = 32;
  NoRelease rel;
  Transmitter tx(&rel);
  tx.SetDigests(dig, dig);
  SocketPair sp;
  fcntl(sp.fd[0], F_SETFL, O_NONBLOCK);
  std::vector<uint8_t> payload(4096, 0x5a), sink(1 << 20);
  uint32_t itt = 0, stat_sn = 1;
  int64_t pdus = 0;
  for (auto _ : state) {
    for (int i = 0; i < batch; ++i) {
      const DataInSlice s = NextDataIn(0, 4096, 262144, 1048576);
      Bhs h;
      FillDataIn(&h, itt++, 0, s, stat_sn++, 4096, 4096);
      tx.Queue(h, payload.data() + s.offset, s.length, false, nullptr);
    }
    if (flush) {
      while (!tx.empty()) {
        if (tx.Flush(sp.fd[0]) == Transmitter::FlushStatus::kError) state.SkipWithError("sendmsg");
        while (read(sp.fd[1], sink.data(), sink.size()) > 0) {
        }
      }
    } else {
      tx.Drop();
    }
    pdus += batch;
  }
  state.SetItemsProcessed(pdus);
  state.SetLabel(std::string(flush ? "Queue+Flush(sendmsg)+drain" : "Queue only") +
                 (dig ? ", header+data digest" : ""));
}
BENCHMARK(BM_PduEncodeDataIn4K)->ArgsProduct({{0, 1}, {0, 1}})->ArgNames({"flush", "digest"});

}  // namespace
}  // namespace modtgt::iscsi
