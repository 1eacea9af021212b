// SPDX-License-Identifier: Apache-2.0
// Connection: pure helpers (residuals, Data-In splitting, digests), and the whole transport
// over loopback TCP against an in-memory LU: login, SCSI commands, R2T, NOP, Text, TMF,
// Reject, digests, logout.
#include "iscsi/connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "core/target.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "iscsi/pdu.h"
#include "iscsi/transport.h"
#include "scsi/dispatch.h"

namespace modtgt::iscsi {
namespace {

TEST(Residual, UnderOverAndExact) {
  Residual r = ComputeResidual(4096, 512);
  EXPECT_TRUE(r.underflow);
  EXPECT_FALSE(r.overflow);
  EXPECT_EQ(r.count, 3584u);
  r = ComputeResidual(512, 4096);
  EXPECT_TRUE(r.overflow);
  EXPECT_EQ(r.count, 3584u);
  r = ComputeResidual(512, 512);
  EXPECT_FALSE(r.overflow || r.underflow);
  EXPECT_EQ(r.count, 0u);
  r = ComputeResidual(0, 0);
  EXPECT_EQ(r.count, 0u);
}

TEST(DataIn, SplitsBySegmentAndEndsSequencesAtBurstBoundaries) {
  // 20 KiB, 8 KiB segments, 12 KiB bursts: 8K, 4K(F), 8K(F)
  std::vector<DataInSlice> v;
  for (uint32_t off = 0; off < 20480;) {
    DataInSlice s = NextDataIn(off, 20480, 8192, 12288);
    v.push_back(s);
    off += s.length;
  }
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0].length, 8192u);
  EXPECT_FALSE(v[0].final);
  EXPECT_EQ(v[1].offset, 8192u);
  EXPECT_EQ(v[1].length, 4096u);
  EXPECT_TRUE(v[1].final);
  EXPECT_EQ(v[2].length, 8192u);
  EXPECT_TRUE(v[2].final);
  DataInSlice one = NextDataIn(0, 100, 8192, 262144);
  EXPECT_EQ(one.length, 100u);
  EXPECT_TRUE(one.final);
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

// ---------------------------------------------------------------------------------------
// Loopback end-to-end

constexpr char kTargetName[] = "iqn.2024-01.org.modtgt:test";
constexpr char kInitiatorName[] = "iqn.2024-01.org.modtgt:client";
constexpr uint32_t kBlock = 512;

struct RxPdu {
  Bhs bhs;
  std::vector<uint8_t> data;
  uint8_t op() const { return bhs.b[0] & 0x3f; }
};

class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return ok_; }
  bool hd = false, dd = false;

  bool SendRaw(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    while (n) {
      ssize_t w = send(fd_, b, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      b += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  bool Send(Bhs h, const std::vector<uint8_t>& data = {}) {
    h.set_data_segment_length(static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> out(h.b.begin(), h.b.end());
    if (hd) {
      uint8_t d[4];
      PutDigest(d, Crc32c(h.b.data(), kBhsLength));
      out.insert(out.end(), d, d + 4);
    }
    if (!data.empty()) {
      out.insert(out.end(), data.begin(), data.end());
      out.resize(out.size() + (Pad4(static_cast<uint32_t>(data.size())) - data.size()), 0);
      if (dd) {
        uint8_t d[4];
        size_t start = out.size() - Pad4(static_cast<uint32_t>(data.size()));
        PutDigest(d, Crc32c(out.data() + start, Pad4(static_cast<uint32_t>(data.size()))));
        out.insert(out.end(), d, d + 4);
      }
    }
    return SendRaw(out.data(), out.size());
  }
  bool RecvN(void* p, size_t n) {
    uint8_t* b = static_cast<uint8_t*>(p);
    while (n) {
      ssize_t r = recv(fd_, b, n, 0);
      if (r <= 0) return false;
      b += r;
      n -= static_cast<size_t>(r);
    }
    return true;
  }
  bool Recv(RxPdu* p) {
    if (!RecvN(p->bhs.b.data(), kBhsLength)) return false;
    uint8_t d[4];
    if (p->bhs.b[4]) return false;  // the target sends no AHS
    if (hd) {
      if (!RecvN(d, 4)) return false;
      EXPECT_EQ(GetDigest(d), Crc32c(p->bhs.b.data(), kBhsLength)) << "header digest";
    }
    uint32_t len = p->bhs.data_segment_length();
    p->data.resize(Pad4(len));
    if (len && !RecvN(p->data.data(), p->data.size())) return false;
    if (len && dd) {
      if (!RecvN(d, 4)) return false;
      EXPECT_EQ(GetDigest(d), Crc32c(p->data.data(), p->data.size())) << "data digest";
    }
    p->data.resize(len);
    if (p->bhs.opcode() != Opcode::kR2t && p->bhs.opcode() != Opcode::kDataIn) {
      exp_stat_sn = p->bhs.Get32(24) + 1;
    } else if (p->bhs.opcode() == Opcode::kDataIn && (p->bhs.b[1] & 1)) {
      exp_stat_sn = p->bhs.Get32(24) + 1;
    }
    return true;
  }
  // True if the peer closed the connection (recv returns 0 or an error other than timeout).
  bool Closed() {
    uint8_t b;
    ssize_t r = recv(fd_, &b, 1, 0);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
  }

  static std::vector<uint8_t> Keys(const std::vector<std::pair<std::string, std::string>>& kv) {
    std::vector<uint8_t> out;
    for (const auto& [k, v] : kv) {
      std::string s = k + "=" + v;
      out.insert(out.end(), s.begin(), s.end());
      out.push_back(0);
    }
    return out;
  }
  static std::map<std::string, std::string> ParseKeys(const std::vector<uint8_t>& d) {
    std::map<std::string, std::string> m;
    std::string cur;
    for (uint8_t c : d) {
      if (c == 0) {
        size_t eq = cur.find('=');
        if (eq != std::string::npos) m[cur.substr(0, eq)] = cur.substr(eq + 1);
        cur.clear();
      } else {
        cur.push_back(static_cast<char>(c));
      }
    }
    return m;
  }

  // Logs in (operational stage straight to full feature phase). Returns the last response.
  bool Login(std::vector<std::pair<std::string, std::string>> keys, RxPdu* last,
             uint64_t isid = 0x800000000001ULL) {
    for (int i = 0; i < 4; i++) {
      Bhs h;
      h.b[0] = 0x43;
      h.b[1] = 0x87;  // T, CSG=1, NSG=3
      for (int k = 0; k < 6; k++) h.b[8 + k] = static_cast<uint8_t>(isid >> (40 - 8 * k));
      h.set_itt(itt++);
      h.Put32(24, cmd_sn);
      h.Put32(28, exp_stat_sn);
      if (!Send(h, Keys(i == 0 ? keys : std::vector<std::pair<std::string, std::string>>{}))) {
        return false;
      }
      bool save_hd = hd, save_dd = dd;
      hd = dd = false;  // no digests during login
      bool got = Recv(last);
      hd = save_hd;
      dd = save_dd;
      if (!got) return false;
      if (last->bhs.b[36] != 0) return true;  // failed: caller checks
      if ((last->bhs.b[1] & 0x80) && (last->bhs.b[1] & 3) == 3) {
        tsih = last->bhs.Get16(14);
        max_cmd_sn = last->bhs.Get32(32);
        return true;
      }
    }
    return false;
  }

  Bhs Command(const uint8_t* cdb, uint32_t edtl, bool read, bool write, bool final = true) {
    Bhs h;
    h.b[0] = 0x01;
    h.b[1] = static_cast<uint8_t>((final ? 0x80 : 0) | (read ? 0x40 : 0) | (write ? 0x20 : 0) |
                                  1);
    h.set_lun_raw(EncodeLun(0));
    h.set_itt(itt++);
    h.Put32(20, edtl);
    h.Put32(24, cmd_sn++);
    h.Put32(28, exp_stat_sn);
    std::memcpy(&h.b[32], cdb, 16);
    return h;
  }

  int fd_ = -1;
  bool ok_ = false;
  uint32_t itt = 0x10;
  uint32_t cmd_sn = 1;
  uint32_t exp_stat_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint16_t tsih = 0;
};

std::vector<std::pair<std::string, std::string>> NormalKeys(bool digests = false) {
  return {{"InitiatorName", kInitiatorName},
          {"TargetName", kTargetName},
          {"SessionType", "Normal"},
          {"HeaderDigest", digests ? "CRC32C" : "None"},
          {"DataDigest", digests ? "CRC32C" : "None"},
          {"MaxRecvDataSegmentLength", "8192"},
          {"InitialR2T", "Yes"},
          {"ImmediateData", "Yes"},
          {"FirstBurstLength", "8192"},
          {"MaxBurstLength", "16384"},
          {"ErrorRecoveryLevel", "0"},
          {"MaxConnections", "1"}};
}

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto backend = std::make_unique<testing::MemBackend>(1 << 20);
    backend_ = backend.get();
    for (uint32_t i = 0; i < (1u << 20); i += 4) {
      uint32_t v = i;
      backend_->WriteBytes(i, &v, 4);
    }
    scsi::LuConfig c;
    c.lun = 0;
    lu_ = std::make_shared<scsi::LogicalUnit>(c, &scsi::SbcDeviceType(), std::move(backend),
                                              kTargetName);
    auto t = std::make_shared<core::Target>(1, kTargetName);
    ASSERT_TRUE(t->AddLun(lu_).ok());
    ASSERT_TRUE(t->BindAddress("ALL").ok());
    ASSERT_TRUE(registry_.Add(t).ok());
    target_ = t;
    transport_ = std::make_unique<IscsiTransport>(
        std::vector<env::EventLoop*>{loop1_.loop(), loop2_.loop()}, &registry_);
    Result<std::string> addr = transport_->AddPortal("127.0.0.1:0");
    ASSERT_TRUE(addr.ok()) << addr.status().ToString();
    port_ = static_cast<uint16_t>(std::stoi(addr->substr(addr->rfind(':') + 1)));
  }
  void TearDown() override {
    if (transport_) transport_->Shutdown();
    transport_.reset();
  }

  // Logs in and clears the power-on unit attention with TEST UNIT READY.
  void Ready(Client* c, bool digests = false) {
    ASSERT_TRUE(c->ok());
    RxPdu r;
    ASSERT_TRUE(c->Login(NormalKeys(digests), &r));
    ASSERT_EQ(r.bhs.b[36], 0) << "login status class";
    c->hd = c->dd = digests;
    uint8_t tur[16] = {};
    ASSERT_TRUE(c->Send(c->Command(tur, 0, false, false)));
    RxPdu rsp;
    ASSERT_TRUE(c->Recv(&rsp));
    ASSERT_EQ(rsp.op(), 0x21);
    EXPECT_EQ(rsp.bhs.b[3], 0x02);  // CHECK CONDITION: POWER ON UA
    ASSERT_GE(rsp.data.size(), 2u + 14u);
    EXPECT_EQ(rsp.data[2 + 2] & 0x0f, 0x06);  // UNIT ATTENTION
  }

  void Read(Client* c, uint32_t lba, uint32_t blocks, uint32_t edtl,
            std::vector<RxPdu>* pdus) {
    uint8_t cdb[16] = {0x28};
    PutBe32(cdb + 2, lba);
    PutBe16(cdb + 7, static_cast<uint16_t>(blocks));
    ASSERT_TRUE(c->Send(c->Command(cdb, edtl, true, false)));
    for (;;) {
      RxPdu p;
      ASSERT_TRUE(c->Recv(&p));
      pdus->push_back(p);
      if (p.op() == 0x21) break;
      if (p.op() == 0x25 && (p.bhs.b[1] & 0x01)) break;
    }
  }

  testing::LoopThread loop1_, loop2_;
  core::TargetRegistry registry_;
  std::shared_ptr<core::Target> target_;
  std::shared_ptr<scsi::LogicalUnit> lu_;
  testing::MemBackend* backend_ = nullptr;
  std::unique_ptr<IscsiTransport> transport_;
  uint16_t port_ = 0;
};

TEST_F(TransportTest, LoginThenReadSplitsDataInAndCollapsesStatus) {
  Client c(port_);
  Ready(&c);
  ASSERT_EQ(transport_->Sessions().size(), 1u);
  EXPECT_EQ(transport_->Sessions()[0].initiator_name, kInitiatorName);
  EXPECT_EQ(transport_->Sessions()[0].isid, "800000000001");
  EXPECT_EQ(target_->sessions.load(), 1);
  std::vector<RxPdu> pdus;
  Read(&c, 2, 40, 40 * kBlock, &pdus);  // 20 KiB: 8K + 8K(F: 16K burst) + 4K(F, S)
  ASSERT_EQ(pdus.size(), 3u);
  std::vector<uint8_t> all;
  for (size_t i = 0; i < pdus.size(); i++) {
    EXPECT_EQ(pdus[i].op(), 0x25);
    EXPECT_EQ(pdus[i].bhs.Get32(36), i) << "DataSN";
    EXPECT_EQ(pdus[i].bhs.Get32(40), all.size()) << "buffer offset";
    all.insert(all.end(), pdus[i].data.begin(), pdus[i].data.end());
  }
  EXPECT_FALSE(pdus[0].bhs.b[1] & 0x80);
  EXPECT_TRUE(pdus[1].bhs.b[1] & 0x80);  // end of a MaxBurstLength sequence
  EXPECT_EQ(pdus[2].bhs.b[1], 0x81);     // F + S, no residual
  EXPECT_EQ(pdus[2].bhs.b[3], 0x00);
  EXPECT_EQ(all, backend_->ReadBytes(2 * kBlock, 40 * kBlock));
}

TEST_F(TransportTest, ReadResidualsUnderflowAndOverflow) {
  Client c(port_);
  Ready(&c);
  std::vector<RxPdu> pdus;
  Read(&c, 0, 1, 4 * kBlock, &pdus);  // EDTL larger than the transfer
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[1], 0x80 | 0x02 | 0x01);  // F U S
  EXPECT_EQ(pdus[0].bhs.Get32(44), 3 * kBlock);
  EXPECT_EQ(pdus[0].data.size(), kBlock);
  pdus.clear();
  Read(&c, 0, 4, 1 * kBlock, &pdus);  // EDTL smaller: send EDTL bytes, overflow
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[1], 0x80 | 0x04 | 0x01);  // F O S
  EXPECT_EQ(pdus[0].bhs.Get32(44), 3 * kBlock);
  EXPECT_EQ(pdus[0].data.size(), kBlock);
}

TEST_F(TransportTest, WriteWithImmediateDataAndR2t) {
  Client c(port_);
  Ready(&c);
  const uint32_t len = 40 * kBlock;  // 20 KiB: 8K immediate, R2Ts for 12K (burst 16K)
  std::vector<uint8_t> payload(len);
  for (uint32_t i = 0; i < len; i++) payload[i] = static_cast<uint8_t>(i * 7 + 3);
  uint8_t cdb[16] = {0x2a};
  PutBe32(cdb + 2, 100);
  PutBe16(cdb + 7, 40);
  Bhs cmd = c.Command(cdb, len, false, true);
  uint32_t itt = cmd.itt();
  ASSERT_TRUE(c.Send(cmd, std::vector<uint8_t>(payload.begin(), payload.begin() + 8192)));
  RxPdu r2t;
  ASSERT_TRUE(c.Recv(&r2t));
  ASSERT_EQ(r2t.op(), 0x31);
  EXPECT_EQ(r2t.bhs.itt(), itt);
  EXPECT_EQ(r2t.bhs.Get32(36), 0u);     // R2TSN
  EXPECT_EQ(r2t.bhs.Get32(40), 8192u);  // offset
  EXPECT_EQ(r2t.bhs.Get32(44), len - 8192);
  uint32_t ttt = r2t.bhs.Get32(20);
  // Two Data-Outs of 8K and 4K.
  for (uint32_t sn = 0, off = 8192; off < len; sn++) {
    uint32_t n = std::min<uint32_t>(8192, len - off);
    Bhs d;
    d.b[0] = 0x05;
    d.b[1] = off + n == len ? 0x80 : 0;
    d.set_itt(itt);
    d.Put32(20, ttt);
    d.Put32(28, c.exp_stat_sn);
    d.Put32(36, sn);
    d.Put32(40, off);
    ASSERT_TRUE(c.Send(d, std::vector<uint8_t>(payload.begin() + off, payload.begin() + off + n)));
    off += n;
  }
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.b[3], 0x00);
  EXPECT_EQ(rsp.bhs.b[1], 0x80);  // no residual
  EXPECT_EQ(rsp.bhs.Get32(36), 1u);  // ExpDataSN: one R2T
  EXPECT_EQ(backend_->ReadBytes(100 * kBlock, len), payload);
}

TEST_F(TransportTest, BadDataSnFailsTheCommandAndKeepsTheConnection) {
  Client c(port_);
  Ready(&c);
  std::vector<uint8_t> before = backend_->ReadBytes(0, kBlock);
  uint8_t cdb[16] = {0x2a};
  PutBe32(cdb + 2, 0);
  PutBe16(cdb + 7, 1);
  Bhs cmd = c.Command(cdb, kBlock, false, true);
  ASSERT_TRUE(c.Send(cmd));  // no immediate data: R2T for all
  RxPdu r2t;
  ASSERT_TRUE(c.Recv(&r2t));
  ASSERT_EQ(r2t.op(), 0x31);
  Bhs d;
  d.b[0] = 0x05;
  d.b[1] = 0x80;
  d.set_itt(cmd.itt());
  d.Put32(20, r2t.bhs.Get32(20));
  d.Put32(36, 27);  // wrong DataSN (libiscsi iSCSIDataSnInvalid)
  d.Put32(40, 0);
  ASSERT_TRUE(c.Send(d, std::vector<uint8_t>(kBlock, 0xab)));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x21);
  EXPECT_EQ(rsp.bhs.itt(), cmd.itt());
  EXPECT_EQ(rsp.bhs.b[3], 0x02);  // CHECK CONDITION
  ASSERT_GE(rsp.data.size(), 2u + 14u);
  EXPECT_EQ(rsp.data[2 + 2] & 0x0f, 0x0b);  // ABORTED COMMAND
  EXPECT_EQ(backend_->ReadBytes(0, kBlock), before);  // nothing written
  // The connection still works.
  std::vector<RxPdu> pdus;
  Read(&c, 0, 1, kBlock, &pdus);
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].bhs.b[3], 0x00);
}

TEST_F(TransportTest, NopPingEchoesDataAndUnknownOpcodeIsRejected) {
  Client c(port_);
  Ready(&c);
  Bhs nop;
  nop.b[0] = 0x40;  // NOP-Out, immediate
  nop.b[1] = 0x80;
  nop.set_itt(0x1234);
  nop.Put32(20, 0xffffffff);
  nop.Put32(24, c.cmd_sn);
  std::vector<uint8_t> ping = {'p', 'i', 'n', 'g', '!'};
  ASSERT_TRUE(c.Send(nop, ping));
  RxPdu in;
  ASSERT_TRUE(c.Recv(&in));
  EXPECT_EQ(in.op(), 0x20);
  EXPECT_EQ(in.bhs.itt(), 0x1234u);
  EXPECT_EQ(in.data, ping);
  Bhs bad;
  bad.b[0] = 0x40 | 0x1c;  // not an initiator opcode
  bad.b[1] = 0x80;
  bad.set_itt(0x99);
  ASSERT_TRUE(c.Send(bad));
  RxPdu rej;
  ASSERT_TRUE(c.Recv(&rej));
  EXPECT_EQ(rej.op(), 0x3f);
  EXPECT_EQ(rej.bhs.b[2], 0x05);
  ASSERT_EQ(rej.data.size(), kBhsLength);
  EXPECT_EQ(rej.data[0] & 0x3f, 0x1c);
}

TEST_F(TransportTest, AbortTaskForUnknownTaskAndLunReset) {
  Client c(port_);
  Ready(&c);
  Bhs tmf;
  tmf.b[0] = 0x42;  // TMF, immediate
  tmf.b[1] = 0x80 | 1;  // ABORT TASK
  tmf.set_itt(0x500);
  tmf.Put32(20, 0x777);          // referenced task tag: unknown
  tmf.Put32(24, c.cmd_sn);
  tmf.Put32(32, c.cmd_sn + 50);  // RefCmdSN outside the window
  ASSERT_TRUE(c.Send(tmf));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x22);
  EXPECT_EQ(rsp.bhs.itt(), 0x500u);
  EXPECT_EQ(rsp.bhs.b[2], 1);  // task does not exist
  tmf.b[1] = 0x80 | 5;           // LOGICAL UNIT RESET
  tmf.set_itt(0x501);
  ASSERT_TRUE(c.Send(tmf));
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.bhs.b[2], 0);
  tmf.b[1] = 0x80 | 8;  // TASK REASSIGN
  tmf.set_itt(0x502);
  ASSERT_TRUE(c.Send(tmf));
  ASSERT_TRUE(c.Recv(&rsp));
  EXPECT_EQ(rsp.bhs.b[2], 4);
}

TEST_F(TransportTest, DigestsAreCheckedAndGenerated) {
  Client c(port_);
  Ready(&c, /*digests=*/true);
  std::vector<RxPdu> pdus;
  Read(&c, 1, 3, 3 * kBlock, &pdus);  // Recv checks both digests
  ASSERT_EQ(pdus.size(), 1u);
  EXPECT_EQ(pdus[0].data, backend_->ReadBytes(kBlock, 3 * kBlock));
  // A corrupted header digest drops the connection.
  uint8_t tur[16] = {};
  Bhs h = c.Command(tur, 0, false, false);
  h.set_data_segment_length(0);
  uint8_t bad[kBhsLength + 4];
  std::memcpy(bad, h.b.data(), kBhsLength);
  PutDigest(bad + kBhsLength, Crc32c(h.b.data(), kBhsLength) ^ 1);
  ASSERT_TRUE(c.SendRaw(bad, sizeof(bad)));
  EXPECT_TRUE(c.Closed());
}

TEST_F(TransportTest, DiscoverySendTargetsUsesLocalAddress) {
  Client c(port_);
  ASSERT_TRUE(c.ok());
  RxPdu r;
  ASSERT_TRUE(c.Login({{"InitiatorName", kInitiatorName}, {"SessionType", "Discovery"},
                       {"HeaderDigest", "None"}, {"DataDigest", "None"}},
                      &r));
  ASSERT_EQ(r.bhs.b[36], 0);
  EXPECT_TRUE(transport_->Sessions().empty());  // discovery sessions are not listed
  Bhs t;
  t.b[0] = 0x44;
  t.b[1] = 0x80;
  t.set_itt(0x77);
  t.Put32(20, 0xffffffff);
  t.Put32(24, c.cmd_sn);
  ASSERT_TRUE(c.Send(t, Client::Keys({{"SendTargets", "All"}})));
  RxPdu rsp;
  ASSERT_TRUE(c.Recv(&rsp));
  ASSERT_EQ(rsp.op(), 0x24);
  EXPECT_EQ(rsp.bhs.b[1], 0x80);
  std::map<std::string, std::string> keys = Client::ParseKeys(rsp.data);
  EXPECT_EQ(keys["TargetName"], kTargetName);
  EXPECT_EQ(keys["TargetAddress"], "127.0.0.1:" + std::to_string(port_) + ",1");
  // A SCSI command in a discovery session is rejected.
  uint8_t tur[16] = {};
  ASSERT_TRUE(c.Send(c.Command(tur, 0, false, false)));
  RxPdu rej;
  ASSERT_TRUE(c.Recv(&rej));
  EXPECT_EQ(rej.op(), 0x3f);
}

TEST_F(TransportTest, LogoutClosesSessionAndReinstatementReplacesOld) {
  Client a(port_);
  Ready(&a);
  Client b(port_);
  RxPdu r;
  ASSERT_TRUE(b.Login(NormalKeys(), &r));  // same initiator name + ISID: reinstatement
  ASSERT_EQ(r.bhs.b[36], 0);
  EXPECT_TRUE(a.Closed());
  for (int i = 0; i < 200 && transport_->Sessions().size() != 1; i++) usleep(10000);
  EXPECT_EQ(transport_->Sessions().size(), 1u);
  Bhs lo;
  lo.b[0] = 0x46;
  lo.b[1] = 0x80;  // close the session
  lo.set_itt(0x42);
  lo.Put32(24, b.cmd_sn);
  ASSERT_TRUE(b.Send(lo));
  RxPdu rsp;
  ASSERT_TRUE(b.Recv(&rsp));
  EXPECT_EQ(rsp.op(), 0x26);
  EXPECT_EQ(rsp.bhs.b[2], 0);
  EXPECT_TRUE(b.Closed());
  for (int i = 0; i < 200 && target_->sessions.load() != 0; i++) usleep(10000);
  EXPECT_EQ(target_->sessions.load(), 0);
  EXPECT_TRUE(transport_->Sessions().empty());
}

TEST_F(TransportTest, RequestLogoutSendsAsyncMessage) {
  Client c(port_);
  Ready(&c);
  transport_->RequestLogout(-1, 7);
  RxPdu m;
  ASSERT_TRUE(c.Recv(&m));
  EXPECT_EQ(m.op(), 0x32);
  EXPECT_EQ(m.bhs.b[36], 1);          // AsyncEvent: target requests logout
  EXPECT_EQ(m.bhs.Get16(42), 7);      // Parameter3: Time2Wait
  transport_->CloseTargetSessions(1);  // waits until the session is gone
  EXPECT_TRUE(transport_->Sessions().empty());
  EXPECT_TRUE(c.Closed());
}

// Forced lldunload: the portals close first (no re-login), the sessions go on until they
// log out or are closed.
TEST_F(TransportTest, StopListeningKeepsSessionsButRefusesNewConnections) {
  core::Transport* t = transport_.get();  // used through the core's interface
  EXPECT_EQ(t->name(), "iscsi");
  Client c(port_);
  Ready(&c);
  ASSERT_EQ(t->ActiveSessions(), 1u);
  t->StopListening();
  EXPECT_TRUE(t->portals().empty());
  Client late(port_);
  EXPECT_FALSE(late.ok()) << "a connection was accepted after StopListening";
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(t->ActiveSessions(), 1u) << "the logged-in session was dropped";
  t->Shutdown();
  EXPECT_EQ(t->ActiveSessions(), 0u);
  EXPECT_TRUE(c.Closed());
}

TEST_F(TransportTest, OversizedDataSegmentDropsConnection) {
  Client c(port_);
  Ready(&c);
  Bhs nop;
  nop.b[0] = 0x40;
  nop.b[1] = 0x80;
  nop.set_itt(1);
  nop.set_data_segment_length(8u << 20);  // far above MaxRecvDataSegmentLength
  ASSERT_TRUE(c.SendRaw(nop.b.data(), kBhsLength));
  EXPECT_TRUE(c.Closed());
}

}  // namespace
}  // namespace modtgt::iscsi
