// SPDX-License-Identifier: Apache-2.0
// Fuzzes a whole iSCSI connection (iscsi::Connection: login, full feature phase, R2T,
// Data-Out, NOP, Text, TMF, Logout, Reject) with arbitrary bytes arriving on the socket,
// optionally after a valid login built by the harness. The connection adopts one end of a
// socketpair and runs on a real event loop; LUN 0 and LUN 1 are SBC LUs over the in-memory
// backend. Each input runs one connection to the end: the harness writes the bytes (while
// draining the target's output), half-closes, reads until the target closes, and waits
// until the connection has finished and been destroyed. With prefix 7 the companion
// connection is then closed and waited for too.
//
// Input: one config byte, then the bytes the initiator sends.
//   config bits 0-2  prefix: 0 none (the input logs in itself, or not); 1 normal login
//                    (ImmediateData=Yes, InitialR2T=No); 2 normal login with InitialR2T=Yes,
//                    ImmediateData=No, MaxRecvDataSegmentLength=512; 3 normal login with
//                    HeaderDigest/DataDigest CRC32C; 4 discovery login; 5 normal login
//                    with ErrorRecoveryLevel=2 (SNACK, recovery R2T, TASK REASSIGN);
//                    6 as 3 with ErrorRecoveryLevel=2; 7 MC/S: the harness first logs in a
//                    companion connection (CID 0, ERL 2, MaxConnections=2) on its own
//                    socket, and the input's connection joins its session by TSIH (CID 1)
//          bit 3     asynchronous backend for LUN 0 (completions from another thread)
//          bit 4     small target limits (MaxBurstLength 4096, FirstBurstLength 1024,
//                    MaxOutstandingR2T 2, no immediate data preference) and resources
//                    (4 commands per session, a 1 MiB data budget: commands wait for
//                    buffers, 64 KiB writes at most)
//          bit 5     with prefix 3 or 6: send the input bytes as they are (no digest fix-up)
//          bit 6     with prefix 3 or 6: every other PDU with data (Data-Out, SCSI Command,
//                    ...) gets a wrong data digest (the recovery paths of ERL 1 and 2)
// With prefix 3 the harness normally parses the input as PDUs (BHS + AHS + data segment,
// the last one cut short) and inserts correct CRC32C digests, so the fuzzer can reach the
// full feature phase with digests on.
//
// Invariants: no crash/leak (ASan); the connection finishes and is destroyed; afterwards
// (once a session left waiting for ERL 2 connection recovery is ended) no session is left
// in the table, the target's session count is 0, nothing is in the core and
// no LU has commands in flight; the target's output is a well-formed PDU stream (target
// opcodes, no AHS, valid digests when negotiated, data segments within the initiator's
// MaxRecvDataSegmentLength when the harness logged in). MODTGT_FUZZ_VERBOSE=1 lists the
// target's PDUs (for checking seeds).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "core/target.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "iscsi/connection.h"
#include "iscsi/pdu.h"
#include "iscsi/session.h"
#include "scsi/dispatch.h"

namespace {

using namespace modtgt;         // NOLINT: fuzz harness
using namespace modtgt::iscsi;  // NOLINT: fuzz harness

constexpr char kTarget[] = "iqn.2024-01.org.modtgt:fuzz";
constexpr char kInitiator[] = "iqn.2024-01.org.example:host1";
constexpr uint64_t kMediumBytes = 256 * 1024;
constexpr int kTimeoutMs = 10000;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_iscsi_stream: invariant broken: %s\n", what);
  std::abort();
}

class FuzzHost : public ConnectionHost {
 public:
  FuzzHost(env::EventLoop* loop, TargetLimits limits, ResourceLimits resources)
      : loop_(loop), limits_(limits), resources_(resources) {}
  core::TargetRegistry* targets() override { return &registry_; }
  const TargetLimits& limits() override { return limits_; }
  const ResourceLimits& resources() override { return resources_; }
  SessionTable* sessions() override { return &table_; }
  std::atomic<int64_t>& commands_in_core() override { return in_core_; }
  void ConnectionFinished(Connection* conn) override {
    const bool main = conn == conn_.get();
    if (!main && conn != companion_.get()) Fail("ConnectionFinished for an unknown connection");
    if ((main ? finished_calls_ : companion_calls_)++ != 0) Fail("ConnectionFinished twice");
    // As IscsiTransport does: drop the reference two loop turns later (the current epoll
    // batch may still name the handler), then report that the connection is gone.
    std::shared_ptr<Connection> sp = std::move(main ? conn_ : companion_);
    std::promise<void>* done = main ? &gone_ : &companion_gone_;
    loop_->Post([this, sp, done]() mutable {
      loop_->Post([sp, done]() mutable {
        sp.reset();
        done->set_value();
      });
    });
  }

  core::TargetRegistry registry_;
  SessionTable table_;
  std::shared_ptr<Connection> conn_;
  std::shared_ptr<Connection> companion_;  // prefix 7: the session's leading connection
  std::promise<void> gone_;
  std::promise<void> companion_gone_;

 private:
  env::EventLoop* const loop_;
  const TargetLimits limits_;
  const ResourceLimits resources_;
  std::atomic<int64_t> in_core_{0};
  int finished_calls_ = 0;
  int companion_calls_ = 0;
};

// ---- The initiator side ----

std::vector<uint8_t> Keys(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::vector<uint8_t> out;
  for (const auto& [k, v] : kv) {
    std::string s = k + "=" + v;
    out.insert(out.end(), s.begin(), s.end());
    out.push_back(0);
  }
  return out;
}

// One Login Request, operational stage straight to full feature phase (RFC 7143 11.12).
std::vector<uint8_t> LoginPdu(const std::vector<uint8_t>& data, uint16_t tsih = 0,
                              uint16_t cid = 0) {
  Bhs h;
  h.b[0] = 0x43;  // immediate, Login Request
  h.b[1] = 0x87;  // T, CSG=1, NSG=3
  const uint8_t isid[6] = {0x80, 0x12, 0x34, 0x56, 0x00, 0x01};
  std::memcpy(&h.b[8], isid, 6);
  h.set_itt(0x1000);
  h.Put16(14, tsih);
  h.Put16(20, cid);
  h.Put32(24, 1);  // CmdSN
  h.Put32(28, 0);  // ExpStatSN
  h.set_data_segment_length(static_cast<uint32_t>(data.size()));
  std::vector<uint8_t> out(kBhsLength + Pad4(static_cast<uint32_t>(data.size())), 0);
  std::memcpy(out.data(), h.b.data(), kBhsLength);
  if (!data.empty()) std::memcpy(out.data() + kBhsLength, data.data(), data.size());
  return out;
}

// The login prefix for a config, and the MaxRecvDataSegmentLength it declares (0: none).
// tsih: the session prefix 7 joins.
std::vector<uint8_t> Prefix(int mode, uint32_t* mrdsl, uint16_t tsih = 0) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"InitiatorName", kInitiator}, {"TargetName", kTarget}, {"SessionType", "Normal"},
      {"HeaderDigest", "None"},      {"DataDigest", "None"},  {"MaxRecvDataSegmentLength", "8192"},
      {"InitialR2T", "No"},          {"ImmediateData", "Yes"}, {"FirstBurstLength", "65536"},
      {"MaxBurstLength", "262144"},  {"MaxOutstandingR2T", "4"}, {"ErrorRecoveryLevel", "0"}};
  auto set = [&kv](const std::string& k, const std::string& v) {
    for (auto& p : kv) {
      if (p.first == k) p.second = v;
    }
  };
  *mrdsl = 8192;
  switch (mode) {
    case 0:
      *mrdsl = 0;
      return {};
    case 2:
      set("InitialR2T", "Yes");
      set("ImmediateData", "No");
      set("MaxRecvDataSegmentLength", "512");
      *mrdsl = 512;
      break;
    case 3:
      set("HeaderDigest", "CRC32C");
      set("DataDigest", "CRC32C");
      break;
    case 5:
      set("ErrorRecoveryLevel", "2");
      break;
    case 6:
      set("HeaderDigest", "CRC32C");
      set("DataDigest", "CRC32C");
      set("ErrorRecoveryLevel", "2");
      break;
    case 7:
      set("ErrorRecoveryLevel", "2");
      kv.emplace_back("MaxConnections", "2");
      return LoginPdu(Keys(kv), tsih, 1);
    case 4:
      kv = {{"InitiatorName", kInitiator},
            {"SessionType", "Discovery"},
            {"HeaderDigest", "None"},
            {"DataDigest", "None"},
            {"MaxRecvDataSegmentLength", "8192"}};
      break;
    default:
      break;
  }
  return LoginPdu(Keys(kv));
}

// Parses bytes as digest-less PDUs and re-emits them with CRC32C header and data digests.
// The last PDU may be cut short; it is sent as far as it goes.
// corrupt: every other PDU with a data segment gets a wrong data digest.
std::vector<uint8_t> AddDigests(const uint8_t* p, size_t n, bool corrupt) {
  std::vector<uint8_t> out;
  size_t pos = 0;
  size_t with_data = 0;
  while (pos < n) {
    if (n - pos < kBhsLength) {
      out.insert(out.end(), p + pos, p + n);
      break;
    }
    const size_t ahs = p[pos + 4] * 4u;
    const uint32_t dsl = GetBe24(p + pos + 5);
    const size_t hdr = std::min(kBhsLength + ahs, n - pos);
    out.insert(out.end(), p + pos, p + pos + hdr);
    if (hdr < kBhsLength + ahs) break;
    uint8_t d[4];
    PutDigest(d, Crc32c(p + pos, hdr));
    out.insert(out.end(), d, d + 4);
    pos += hdr;
    const size_t padded = Pad4(dsl);
    const size_t take = std::min(padded, n - pos);
    out.insert(out.end(), p + pos, p + pos + take);
    if (take < padded) break;
    if (padded) {
      PutDigest(d, Crc32c(p + pos, padded));
      if (corrupt && (with_data++ % 2) == 1) d[0] ^= 0xff;
      out.insert(out.end(), d, d + 4);
    }
    pos += take;
  }
  return out;
}

// Writes `out` to fd while reading everything the target sends, half-closes, and reads
// until the target closes. Returns what was received.
std::vector<uint8_t> Exchange(int fd, const std::vector<uint8_t>& out) {
  std::vector<uint8_t> in;
  size_t pos = 0;
  bool shut = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  for (;;) {
    if (!shut && pos == out.size()) {
      ::shutdown(fd, SHUT_WR);
      shut = true;
    }
    pollfd pfd{fd, static_cast<short>(POLLIN | (shut ? 0 : POLLOUT)), 0};
    int r = ::poll(&pfd, 1, 100);
    if (std::chrono::steady_clock::now() > deadline) {
      Fail(shut ? "target never closed the connection after the initiator's EOF"
                : "target stopped reading (initiator could not send its bytes)");
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      Fail("poll");
    }
    if (pfd.revents & POLLIN || pfd.revents & POLLHUP || pfd.revents & POLLERR) {
      uint8_t buf[65536];
      ssize_t k = ::recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
      if (k > 0) {
        in.insert(in.end(), buf, buf + k);
      } else if (k == 0) {
        return in;  // the target closed
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        return in;  // reset: closed too
      }
    }
    if (!shut && (pfd.revents & POLLOUT)) {
      ssize_t k = ::send(fd, out.data() + pos, out.size() - pos, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (k > 0) {
        pos += static_cast<size_t>(k);
      } else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        // The target closed its end: stop sending, read what is left.
        ::shutdown(fd, SHUT_WR);
        shut = true;
        pos = out.size();
      }
    }
  }
}

bool IsTargetOpcode(uint8_t op) {
  switch (op) {
    case 0x20: case 0x21: case 0x22: case 0x23: case 0x24:  // NOP-In .. Text Response
    case 0x25: case 0x26: case 0x31: case 0x32: case 0x3f:  // Data-In .. Reject
      return true;
    default:
      return false;
  }
}

// Checks the target's output. Digests are on after the Login Response that enters full
// feature phase when the target's login responses said HeaderDigest/DataDigest=CRC32C
// (RFC 7143 13.1). A PDU cut short at the end is allowed (a connection closed mid-write).
void CheckOutput(const std::vector<uint8_t>& s, uint32_t mrdsl) {
  bool hd = false, dd = false;
  bool hd_next = false, dd_next = false;
  bool ffp = false;
  bool text_seen = false;  // a Text exchange may renegotiate MaxRecvDataSegmentLength
  size_t pos = 0;
  while (s.size() - pos >= kBhsLength) {
    const uint8_t* b = s.data() + pos;
    const uint8_t op = b[0] & 0x3f;
    if (!IsTargetOpcode(op)) Fail("target sent a non-target opcode");
    if (b[4] != 0) Fail("target sent an AHS");
    const uint32_t dsl = GetBe24(b + 5);
    if (op == 0x24) text_seen = true;
    // RFC 7143 13.12: 8192 until the login ends, then what the initiator declared.
    if (mrdsl && !text_seen && dsl > (ffp ? mrdsl : 8192u)) {
      Fail("target data segment beyond the initiator's MaxRecvDataSegmentLength");
    }
    size_t p = pos + kBhsLength;
    if (hd) {
      if (s.size() - p < 4) return;
      if (GetDigest(s.data() + p) != Crc32c(b, kBhsLength)) Fail("bad header digest from target");
      p += 4;
    }
    const size_t padded = Pad4(dsl);
    if (s.size() - p < padded) return;
    if (op == 0x23) {  // Login Response: track the digest keys, and the phase change
      std::string text(reinterpret_cast<const char*>(s.data() + p), dsl);
      if (text.find("HeaderDigest=CRC32C") != std::string::npos) hd_next = true;
      if (text.find("HeaderDigest=None") != std::string::npos) hd_next = false;
      if (text.find("DataDigest=CRC32C") != std::string::npos) dd_next = true;
      if (text.find("DataDigest=None") != std::string::npos) dd_next = false;
    }
    const uint8_t* data = s.data() + p;
    p += padded;
    if (dd && dsl) {
      if (s.size() - p < 4) return;
      if (GetDigest(s.data() + p) != Crc32c(data, padded)) Fail("bad data digest from target");
      p += 4;
    }
    if (op == 0x23 && (b[1] & 0x80) && (b[1] & 3) == 3 && b[36] == 0) {
      hd = hd_next;
      dd = dd_next;
      ffp = true;
    }
    pos = p;
  }
}

// Prefix 7: logs in the companion connection (the session's leading one, CID 0) and
// returns its TSIH; *fd is the initiator's end of its socket, kept open.
uint16_t LoginCompanion(FuzzHost* host, env::EventLoop* loop, int* fd) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    Fail("socketpair");
  }
  host->companion_ = std::make_shared<Connection>(host, loop, sv[0], 1);
  std::weak_ptr<Connection> weak = host->companion_;
  loop->Post([weak] {
    if (auto c = weak.lock()) c->Start();
  });
  std::vector<uint8_t> login = LoginPdu(Keys({{"InitiatorName", kInitiator},
                                              {"TargetName", kTarget},
                                              {"SessionType", "Normal"},
                                              {"MaxConnections", "2"},
                                              {"ErrorRecoveryLevel", "2"}}));
  if (::send(sv[1], login.data(), login.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(login.size())) {
    Fail("companion login send");
  }
  std::vector<uint8_t> in;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (in.size() < kBhsLength || in.size() < kBhsLength + Pad4(GetBe24(in.data() + 5))) {
    if (std::chrono::steady_clock::now() > deadline) Fail("companion login: no response");
    pollfd pfd{sv[1], POLLIN, 0};
    ::poll(&pfd, 1, 100);
    uint8_t buf[4096];
    ssize_t k = ::recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    if (k == 0) Fail("companion login: closed");
    if (k > 0) in.insert(in.end(), buf, buf + k);
  }
  if (in[36] != 0) Fail("companion login refused");
  *fd = sv[1];
  return GetBe16(in.data() + 14);
}

std::shared_ptr<scsi::LogicalUnit> MakeLu(uint64_t lun, bool thin, bool async) {
  scsi::LuConfig c;
  c.lun = lun;
  testing::MemBackendCaps caps;
  if (thin) {
    caps.unmap = caps.write_same = caps.caw = caps.thin = true;
    c.thin_provisioning = true;
  }
  auto be = std::make_unique<testing::MemBackend>(kMediumBytes, caps, async);
  return std::make_shared<scsi::LogicalUnit>(c, &scsi::SbcDeviceType(), std::move(be), kTarget);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  SetLogLevel(LogLevel::kError);
  static testing::LoopThread* loop_thread = new testing::LoopThread();  // lives forever
  env::EventLoop* loop = loop_thread->loop();

  const uint8_t config = data[0];
  const int mode = config & 7;
  TargetLimits limits;
  ResourceLimits resources;
  if (config & 0x10) {
    limits.max_burst_length = 4096;
    limits.first_burst_length = 1024;
    limits.max_outstanding_r2t = 2;
    limits.immediate_data = false;
    limits.initial_r2t = true;
    resources.max_cmds_per_session = 4;
    resources.max_session_data = 1u << 20;
    resources.max_write_length = 64u << 10;
  }

  FuzzHost host(loop, limits, resources);
  auto target = std::make_shared<core::Target>(1, kTarget);
  if (!target->BindAddress("ALL").ok()) Fail("bind ALL");
  std::shared_ptr<scsi::LogicalUnit> lu0 = MakeLu(0, false, config & 8);
  std::shared_ptr<scsi::LogicalUnit> lu1 = MakeLu(1, true, false);
  if (!target->AddLun(lu0).ok() || !target->AddLun(lu1).ok()) Fail("AddLun");
  if (!host.registry_.Add(target).ok()) Fail("registry Add");

  std::future<void> companion_gone = host.companion_gone_.get_future();
  int companion_fd = -1;
  uint16_t tsih = 0;
  if (mode == 7) tsih = LoginCompanion(&host, loop, &companion_fd);

  uint32_t mrdsl = 0;
  std::vector<uint8_t> out = Prefix(mode, &mrdsl, tsih);
  if ((mode == 3 || mode == 6) && !(config & 0x20)) {
    std::vector<uint8_t> d = AddDigests(data + 1, size - 1, config & 0x40);
    out.insert(out.end(), d.begin(), d.end());
  } else {
    out.insert(out.end(), data + 1, data + size);
  }

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    Fail("socketpair");
  }
  std::future<void> gone = host.gone_.get_future();
  host.conn_ = std::make_shared<Connection>(&host, loop, sv[0], 1);
  std::weak_ptr<Connection> weak = host.conn_;
  loop->Post([weak] {
    if (auto c = weak.lock()) c->Start();
  });
  std::vector<uint8_t> received = Exchange(sv[1], out);
  if (gone.wait_for(std::chrono::milliseconds(kTimeoutMs)) != std::future_status::ready) {
    Fail("connection closed but never finished (commands stuck in the core?)");
  }
  ::close(sv[1]);
  if (!weak.expired()) Fail("connection still referenced after it finished");
  if (companion_fd >= 0) {
    // The session's other connection closes too; the session ends with it.
    ::close(companion_fd);
    if (companion_gone.wait_for(std::chrono::milliseconds(kTimeoutMs)) !=
        std::future_status::ready) {
      Fail("companion connection never finished");
    }
  }

  // A session whose connection failed at ERL 2 waits for connection recovery; end it as the
  // transport's shutdown does, then everything must be gone.
  for (const SessionTable::Entry& e : host.table_.ForTarget(-1)) {
    std::shared_ptr<Session> s = e.session;
    std::promise<void> ended;
    std::future<void> f = ended.get_future();
    loop->Post([s, &ended] {
      s->EndRetained();
      ended.set_value();
    });
    f.wait();
  }
  const auto table_deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kTimeoutMs);
  while (host.table_.size() != 0 && std::chrono::steady_clock::now() < table_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // orphans back from the core
  }
  if (host.table_.size() != 0) Fail("session left in the table");
  if (target->sessions.load() != 0) Fail("target session count not back to 0");
  if (host.commands_in_core().load() != 0) Fail("commands still counted in the core");
  if (lu0->inflight.load() != 0 || lu1->inflight.load() != 0) Fail("LU commands in flight");
  CheckOutput(received, mrdsl);
  if (std::getenv("MODTGT_FUZZ_VERBOSE")) {
    // Opcodes of the target's PDUs, assuming no digests (for checking seeds).
    std::fprintf(stderr, "sent %zu bytes, got %zu:", out.size(), received.size());
    for (size_t pos = 0; pos + kBhsLength <= received.size();) {
      const uint8_t* b = received.data() + pos;
      std::fprintf(stderr, " %02x", b[0] & 0x3f);
      if ((b[0] & 0x3f) == 0x21) std::fprintf(stderr, "(%02x/%02x)", b[2], b[3]);
      if ((b[0] & 0x3f) == 0x23) std::fprintf(stderr, "(%02x%02x)", b[36], b[37]);
      if ((b[0] & 0x3f) == 0x31) std::fprintf(stderr, "(ttt %x)", GetBe32(b + 20));
      if ((b[0] & 0x3f) == 0x3f) std::fprintf(stderr, "(%02x)", b[2]);
      pos += kBhsLength + Pad4(GetBe24(b + 5));
    }
    std::fprintf(stderr, "\n");
  }
  return 0;
}
