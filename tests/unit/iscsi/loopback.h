// SPDX-License-Identifier: Apache-2.0
// The loopback fixture of the iSCSI unit tests: a raw initiator (Client) that speaks PDUs
// over a TCP socket, and TransportTest, which runs a whole IscsiTransport on two event
// loops against one in-memory SBC LU (1 MiB, each 4-byte word holding its own offset).
// Used by the tests of connection.cc, scsi_task.cc, session.cc, text.cc, tmf.cc and
// transport.cc. Every receive waits at most 5 s (SO_RCVTIMEO), so a missing answer fails
// the test instead of hanging it.
//
// Threading: for the test's main thread; the transport runs on its own loop threads.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/accounts.h"
#include "core/target.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "iscsi/pdu.h"
#include "iscsi/transport.h"
#include "scsi/dispatch.h"

namespace modtgt::iscsi::loopback {

inline constexpr char kTargetName[] = "iqn.2024-01.org.modtgt:test";
inline constexpr char kInitiatorName[] = "iqn.2024-01.org.modtgt:client";
inline constexpr uint32_t kBlock = 512;

struct RxPdu {
  Bhs bhs;
  std::vector<uint8_t> data;
  uint8_t op() const { return bhs.b[0] & 0x3f; }
};

class Client {
 public:
  // Connects to 127.0.0.1:port, from `source` (another loopback address, e.g. "127.0.0.2",
  // for the per-address limits) when given.
  explicit Client(uint16_t port, const char* source = nullptr) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (source != nullptr) {
      sockaddr_in src{};
      src.sin_family = AF_INET;
      inet_pton(AF_INET, source, &src.sin_addr);
      if (bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) return;
    }
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

  // Sends one Login Request with these flags (T C . . CSG NSG) and keys and reads the
  // response (no digests during login).
  bool LoginStep(uint8_t flags, const std::vector<std::pair<std::string, std::string>>& keys,
                 RxPdu* resp, uint64_t isid = 0x800000000001ULL) {
    Bhs h;
    h.b[0] = 0x43;
    h.b[1] = flags;
    for (int k = 0; k < 6; k++) h.b[8 + k] = static_cast<uint8_t>(isid >> (40 - 8 * k));
    h.set_itt(itt);
    h.Put32(24, cmd_sn);
    h.Put32(28, exp_stat_sn);
    if (!Send(h, Keys(keys))) return false;
    bool save_hd = hd, save_dd = dd;
    hd = dd = false;
    bool got = Recv(resp);
    hd = save_hd;
    dd = save_dd;
    if (got && resp->bhs.b[36] == 0 && (resp->bhs.b[1] & 0x80) && (resp->bhs.b[1] & 3) == 3) {
      tsih = resp->bhs.Get16(14);
      max_cmd_sn = resp->bhs.Get32(32);
      itt++;
    }
    return got;
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
    h.b[1] = static_cast<uint8_t>((final ? 0x80 : 0) | (read ? 0x40 : 0) | (write ? 0x20 : 0) | 1);
    h.set_lun_raw(EncodeLun(0));
    h.set_itt(itt++);
    h.Put32(20, edtl);
    h.Put32(24, cmd_sn++);
    h.Put32(28, exp_stat_sn);
    std::memcpy(&h.b[32], cdb, 16);
    return h;
  }

  // An immediate NOP-Out ping (RFC 7143 11.18) that wants an answer.
  Bhs NopOut(uint32_t ping_itt) const {
    Bhs h;
    h.b[0] = 0x40;  // NOP-Out, immediate
    h.b[1] = 0x80;
    h.set_itt(ping_itt);
    h.Put32(20, 0xffffffff);
    h.Put32(24, cmd_sn);
    return h;
  }

  // One Data-Out (RFC 7143 11.7): `len` bytes of `payload` at `offset`, F set on request.
  bool SendDataOut(uint32_t task_itt, uint32_t ttt, uint32_t data_sn, uint32_t offset,
                   const std::vector<uint8_t>& payload, uint32_t len, bool final) {
    Bhs d;
    d.b[0] = 0x05;
    d.b[1] = final ? 0x80 : 0;
    d.set_itt(task_itt);
    d.Put32(20, ttt);
    d.Put32(28, exp_stat_sn);
    d.Put32(36, data_sn);
    d.Put32(40, offset);
    return Send(d, std::vector<uint8_t>(payload.begin() + offset, payload.begin() + offset + len));
  }
  // One sequence of Data-Outs for payload[from, to) in pieces of at most `segment` bytes,
  // DataSN from 0, F on the last.
  bool SendBurst(uint32_t task_itt, uint32_t ttt, const std::vector<uint8_t>& payload,
                 uint32_t from, uint32_t to, uint32_t segment) {
    for (uint32_t sn = 0, off = from; off < to; sn++) {
      uint32_t n = std::min<uint32_t>(segment, to - off);
      if (!SendDataOut(task_itt, ttt, sn, off, payload, n, off + n == to)) return false;
      off += n;
    }
    return true;
  }

  int fd_ = -1;
  bool ok_ = false;
  uint32_t itt = 0x10;
  uint32_t cmd_sn = 1;
  uint32_t exp_stat_sn = 0;
  uint32_t max_cmd_sn = 0;
  uint16_t tsih = 0;
};

inline std::vector<std::pair<std::string, std::string>> NormalKeys(bool digests = false) {
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

// n bytes of a pattern that differs by seed.
inline std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<uint8_t>(i * 31 + seed);
  return v;
}

// A nonblocking AF_UNIX socketpair: end 0 for the code under test, end 1 for the test.
class SocketPair {
 public:
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd_), 0); }
  ~SocketPair() {
    for (int fd : fd_) {
      if (fd >= 0) close(fd);
    }
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
  int ours() const { return fd_[0]; }
  int peer() const { return fd_[1]; }
  void ClosePeer() {
    close(fd_[1]);
    fd_[1] = -1;
  }
  void Write(const std::vector<uint8_t>& b) {
    ASSERT_EQ(write(fd_[1], b.data(), b.size()), static_cast<ssize_t>(b.size()));
  }
  // Everything the peer end can read now.
  std::vector<uint8_t> ReadAll() {
    std::vector<uint8_t> out;
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = read(fd_[1], buf, sizeof(buf));
      if (n <= 0) break;
      out.insert(out.end(), buf, buf + n);
    }
    return out;
  }

 private:
  int fd_[2] = {-1, -1};
};

class TransportTest : public ::testing::Test {
 protected:
  // What the transport is created with; a test fixture overrides it for other limits.
  virtual TransportSettings Settings() { return TransportSettings(); }
  // Completions from the backend's own thread (a test can hold an I/O with SetBeforeIo).
  virtual bool AsyncBackend() { return false; }
  virtual modtgt::testing::MemBackendCaps BackendCaps() { return {}; }

  void SetUp() override {
    auto backend = std::make_unique<modtgt::testing::MemBackend>(
        1 << 20, BackendCaps(), AsyncBackend());
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
        std::vector<env::EventLoop*>{loop1_.loop(), loop2_.loop()}, &registry_, &accounts_,
        Settings());
    Result<std::string> addr = transport_->AddPortal("127.0.0.1:0");
    ASSERT_TRUE(addr.ok()) << addr.status().ToString();
    port_ = static_cast<uint16_t>(std::stoi(addr->substr(addr->rfind(':') + 1)));
  }
  void TearDown() override {
    if (transport_) transport_->Shutdown();
    transport_.reset();
  }

  // Logs in and clears the power-on unit attention with TEST UNIT READY.
  void Ready(Client* c, bool digests = false) { ReadyWith(c, NormalKeys(digests), digests); }
  void ReadyWith(Client* c, const std::vector<std::pair<std::string, std::string>>& keys,
                 bool digests) {
    ASSERT_TRUE(c->ok());
    RxPdu r;
    ASSERT_TRUE(c->Login(keys, &r));
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

  void Read(Client* c, uint32_t lba, uint32_t blocks, uint32_t edtl, std::vector<RxPdu>* pdus) {
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

  // Sends a one-block READ of `lba` one CmdSN ahead of ExpCmdSN, so that the session holds
  // it: *gap is the CmdSN left out, *read the command sent.
  void SendReadAhead(Client* c, uint32_t lba, uint32_t* gap, Bhs* read) {
    *gap = c->cmd_sn++;
    uint8_t cdb[16] = {0x28};
    PutBe32(cdb + 2, lba);
    PutBe16(cdb + 7, 1);
    *read = c->Command(cdb, kBlock, true, false);
    ASSERT_TRUE(c->Send(*read));
  }

  // Sends a ping and checks that the next PDU is its answer (nothing else came first);
  // the answer in *answer if given.
  void ExpectPingAnswered(Client* c, uint32_t ping_itt, RxPdu* answer = nullptr) {
    ASSERT_TRUE(c->Send(c->NopOut(ping_itt)));
    RxPdu in;
    ASSERT_TRUE(c->Recv(&in)) << "no answer to the ping";
    EXPECT_EQ(in.op(), 0x20);
    EXPECT_EQ(in.bhs.itt(), ping_itt);
    if (answer) *answer = in;
  }

  modtgt::testing::LoopThread loop1_, loop2_;
  core::TargetRegistry registry_;
  core::AccountRegistry accounts_;
  std::shared_ptr<core::Target> target_;
  std::shared_ptr<scsi::LogicalUnit> lu_;
  modtgt::testing::MemBackend* backend_ = nullptr;
  std::unique_ptr<IscsiTransport> transport_;
  uint16_t port_ = 0;
};

}  // namespace modtgt::iscsi::loopback
