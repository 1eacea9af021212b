// SPDX-License-Identifier: Apache-2.0
// Fuzzes the SCSI layer (scsi::Submit -> SPC/SBC handlers) with arbitrary CDBs, directions,
// expected lengths and Data-Out bytes, against SBC logical units over the in-memory backend.
//
// Input: one config byte, then command records until the input ends.
//   config bits 0-1  LU 0 variant: 0 plain 512-byte blocks; 1 thin (UNMAP/WRITE SAME/CAW
//                    callouts, thin_provisioning); 2 removable + readonly; 3 4096-byte
//                    blocks, thin, max_transfer_blocks 8
//          bit 2     asynchronous backend (completes on another thread via an event loop)
//          bit 3     a second LU (LUN 1, plain) exists
//          bit 4     descriptor-format sense is preset (D_SENSE) on LU 0
//          bit 5     with bit 3: LUN 1 is a CD/DVD-ROM (MMC, 2048-byte blocks)
//   record: flags(1) cdb_len(1) edtl(3, big-endian) cdb(min(cdb_len, 32)) dlen(2) data(dlen)
//   flags bits 0-1  direction (none, read, write, bidi)
//         bit 2     nexus 0 or 1 (two initiator ports, for reservations / unit attentions)
//         bits 3-4  LUN 0, 1, 7 (absent), 16384 (absent, flat space)
//         bit 5     instead of a command: LOGICAL UNIT RESET of that LUN (ResetLogicalUnit)
//         bit 6     the next backend I/O of the command's kind fails (read/write error)
// A write's Data-Out buffer is edtl bytes (edtl capped at 1 MiB): data first, then 0xa5.
//
// Invariants checked on every command: CommandDone exactly once; the backend is only
// asked for ranges inside the medium; sane status/sense; the Data-In the transport would
// send (min(data_in_length, edtl)) lies inside the command's buffer; nothing stays in flight.
// MODTGT_FUZZ_VERBOSE=1 prints each command's outcome (for checking seeds).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "fakes/fake_owner.h"
#include "fakes/mem_backend.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/mmc.h"

namespace {

using namespace modtgt;  // NOLINT: fuzz harness

constexpr char kTarget[] = "iqn.2024-01.org.modtgt:fuzz";
constexpr uint64_t kMediumBytes = 256 * 1024;
constexpr uint32_t kMaxWriteEdtl = 1 << 20;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz_scsi_cdb: invariant broken: %s\n", what);
  std::abort();
}

// Forwards to a MemBackend after checking Backend::Submit's contract: the SCSI layer checked the
// range against size_bytes() (MemBackend would quietly answer LBA OUT OF RANGE instead).
class CheckingBackend : public scsi::Backend {
 public:
  CheckingBackend(uint64_t size, testing::MemBackendCaps caps, bool async)
      : mem_(size, caps, async) {}
  uint64_t size_bytes() const override { return mem_.size_bytes(); }
  bool has_flush() const override { return mem_.has_flush(); }
  bool has_unmap() const override { return mem_.has_unmap(); }
  bool has_write_same() const override { return mem_.has_write_same(); }
  bool has_caw() const override { return mem_.has_caw(); }
  bool has_handle_cmd() const override { return false; }
  bool thin() const override { return mem_.thin(); }
  bool has_lba_status() const override { return mem_.has_lba_status(); }
  scsi::AtomicLimits atomic_limits() const override { return mem_.atomic_limits(); }
  void SetWriteCache(bool enabled) override { mem_.SetWriteCache(enabled); }
  void Submit(scsi::Command* cmd) override {
    const scsi::IoRequest& io = cmd->io;
    uint64_t iov_len = 0;
    if (io.iovcnt < 0 || io.iovcnt > 2) Fail("iovcnt out of range");
    for (int i = 0; i < io.iovcnt; ++i) {
      if (io.iov[i].iov_len && io.iov[i].iov_base == nullptr) Fail("null iov_base");
      iov_len += io.iov[i].iov_len;
    }
    uint64_t range = 0;
    switch (io.op) {
      case scsi::IoOp::kRead:
      case scsi::IoOp::kWrite:
        range = iov_len;
        break;
      case scsi::IoOp::kUnmap:
      case scsi::IoOp::kWriteSame:
      case scsi::IoOp::kCaw:
      case scsi::IoOp::kLbaStatus:
        range = io.length;
        break;
      case scsi::IoOp::kFlush:
      case scsi::IoOp::kHandleCmd:
        break;
    }
    if (io.offset > size_bytes() || range > size_bytes() - io.offset) {
      Fail("backend I/O outside the medium (range not checked by the SCSI layer)");
    }
    if (io.done == nullptr) Fail("I/O without a continuation");
    // Data that points into the command's buffer must stay inside its size: past it (but
    // inside the allocation's capacity) ASan cannot see an overrun.
    const uint8_t* base = cmd->data.data();
    for (int i = 0; i < io.iovcnt; ++i) {
      const uint8_t* p = static_cast<const uint8_t*>(io.iov[i].iov_base);
      if (base == nullptr || p < base || p >= base + cmd->data.capacity()) continue;
      const size_t off = static_cast<size_t>(p - base);
      if (io.iov[i].iov_len && off + io.iov[i].iov_len > cmd->data.size()) {
        Fail("backend I/O beyond the command's data buffer size");
      }
    }
    mem_.Submit(cmd);
  }
  testing::MemBackend* mem() { return &mem_; }

 private:
  testing::MemBackend mem_;
};

struct Reader {
  const uint8_t* p;
  size_t n;
  bool Take(void* out, size_t len) {
    if (n < len) return false;
    std::memcpy(out, p, len);
    p += len;
    n -= len;
    return true;
  }
  size_t TakeUpTo(uint8_t* out, size_t len) {
    size_t k = std::min(n, len);
    if (k) std::memcpy(out, p, k);
    p += k;
    n -= k;
    return k;
  }
};

std::shared_ptr<scsi::LogicalUnit> MakeLu(uint64_t lun, int variant, bool async,
                                         CheckingBackend** raw) {
  scsi::LuConfig c;
  c.lun = lun;
  testing::MemBackendCaps caps;
  switch (variant) {
    case 1:
      caps.unmap = caps.write_same = caps.caw = caps.thin = caps.lba_status = true;
      caps.atomic.max_bytes = 64 * 1024;  // WRITE ATOMIC (16), any aligned length
      c.thin_provisioning = true;
      break;
    case 2:
      c.removable = true;
      c.readonly = true;
      break;
    case 3:
      c.block_size = 4096;
      caps.unmap = caps.thin = caps.lba_status = true;
      caps.alloc_unit = 64 * 1024;  // coarser than the physical block
      caps.atomic = {.max_bytes = 16384, .align_bytes = 16384, .granularity_bytes = 16384};
      c.thin_provisioning = true;
      c.max_transfer_blocks = 8;
      break;
    case 4:  // a CD/DVD-ROM (MMC)
      c.block_size = 2048;
      c.removable = true;
      c.readonly = true;
      break;
    default:
      break;
  }
  auto be = std::make_unique<CheckingBackend>(kMediumBytes, caps, async);
  *raw = be.get();
  const scsi::DeviceType* type = variant == 4 ? &scsi::MmcDeviceType() : &scsi::SbcDeviceType();
  return std::make_shared<scsi::LogicalUnit>(c, type, std::move(be), kTarget);
}

bool ValidStatus(scsi::Status s) {
  switch (s) {
    case scsi::Status::kGood:
    case scsi::Status::kCheckCondition:
    case scsi::Status::kConditionMet:
    case scsi::Status::kBusy:
    case scsi::Status::kReservationConflict:
    case scsi::Status::kTaskSetFull:
    case scsi::Status::kAcaActive:
    case scsi::Status::kTaskAborted:
      return true;
  }
  return false;
}

volatile uint8_t g_sink;  // keeps the Data-In reads below from being optimised away

void CheckResult(const scsi::Command& cmd) {
  if (!ValidStatus(cmd.status)) Fail("unknown SCSI status");
  if (cmd.sense_len > scsi::kMaxSenseLength) Fail("sense_len > kMaxSenseLength");
  if (cmd.status == scsi::Status::kGood && cmd.sense_len != 0) Fail("GOOD with sense data");
  if (cmd.status == scsi::Status::kCheckCondition) {
    if (cmd.sense_len < 8) Fail("CHECK CONDITION without sense data");
    const uint8_t code = cmd.sense[0] & 0x7f;
    if (code != 0x70 && code != 0x71 && code != 0x72 && code != 0x73) {
      Fail("bad sense response code");
    }
    // SPC-4 4.5.2.1 / 4.5.3: ADDITIONAL SENSE LENGTH (byte 7) covers the rest.
    if (static_cast<size_t>(8 + cmd.sense[7]) != cmd.sense_len) Fail("sense length mismatch");
  }
  // What a transport sends as Data-In must lie inside the buffer.
  const uint32_t send = std::min(cmd.data_in_length, cmd.expected_length);
  if (send > cmd.data.size()) Fail("data_in_length beyond the data buffer");
  uint8_t x = 0;
  for (uint32_t i = 0; i < send; i += 512) x ^= cmd.data.data()[i];
  if (send) x ^= cmd.data.data()[send - 1];
  g_sink = x;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  SetLogLevel(LogLevel::kError);
  static testing::LoopThread* loop_thread = new testing::LoopThread();  // lives forever

  static const bool verbose = std::getenv("MODTGT_FUZZ_VERBOSE") != nullptr;
  const uint8_t config = data[0];
  const bool async = config & 4;
  Reader in{data + 1, size - 1};

  auto target = std::make_shared<testing::FakeTarget>();
  CheckingBackend* be0 = nullptr;
  CheckingBackend* be1 = nullptr;
  std::shared_ptr<scsi::LogicalUnit> lu0 = MakeLu(0, config & 3, async, &be0);
  std::shared_ptr<scsi::LogicalUnit> lu1;
  if (config & 8) lu1 = MakeLu(1, (config & 32) ? 4 : 0, async, &be1);
  if (config & 16) lu0->d_sense.store(true);
  target->Add(lu0);
  if (lu1) target->Add(lu1);

  scsi::Nexus nexus[2];
  for (int i = 0; i < 2; ++i) {
    nexus[i].id = 100 + i;
    nexus[i].initiator_name = "iqn.2024-01.org.example:host" + std::to_string(i);
    nexus[i].initiator_port = nexus[i].initiator_name + ",i,0x80123456000" + std::to_string(i);
    nexus[i].target_name = kTarget;
    nexus[i].target_port = std::string(kTarget) + ",t,0x0001";
    nexus[i].relative_port_id = 1;
    nexus[i].target = target;
  }

  testing::FakeOwner owner(async ? loop_thread->loop() : nullptr);
  int expected_done = 0;
  static const uint64_t kLuns[4] = {0, 1, 7, 16384};

  for (;;) {
    uint8_t flags, cdb_len, edtl_b[3];
    if (!in.Take(&flags, 1) || !in.Take(&cdb_len, 1) || !in.Take(edtl_b, 3)) break;
    const uint64_t lun = kLuns[(flags >> 3) & 3];
    if (flags & 0x20) {
      std::shared_ptr<scsi::LogicalUnit> lu = target->FindLun(lun);
      if (lu) scsi::ResetLogicalUnit(lu.get(), &nexus[(flags >> 2) & 1]);
      continue;
    }
    auto cmd = std::make_unique<scsi::Command>();
    cmd->cdb_len = cdb_len;
    in.TakeUpTo(cmd->cdb, std::min<size_t>(cdb_len, scsi::kMaxCdbLength));
    uint8_t dlen_b[2] = {0, 0};
    in.TakeUpTo(dlen_b, 2);
    const size_t dlen = static_cast<size_t>(dlen_b[0]) << 8 | dlen_b[1];
    std::vector<uint8_t> payload(std::min(dlen, in.n));
    in.TakeUpTo(payload.data(), payload.size());

    cmd->dir = static_cast<scsi::DataDirection>(flags & 3);
    cmd->expected_length = static_cast<uint32_t>(edtl_b[0]) << 16 |
                           static_cast<uint32_t>(edtl_b[1]) << 8 | edtl_b[2];
    cmd->lun = lun;
    cmd->tag = static_cast<uint32_t>(expected_done);
    cmd->nexus = &nexus[(flags >> 2) & 1];
    cmd->owner = &owner;
    if (cmd->dir == scsi::DataDirection::kWrite || cmd->dir == scsi::DataDirection::kBidi) {
      cmd->expected_length = std::min(cmd->expected_length, kMaxWriteEdtl);
      cmd->data.Resize(cmd->expected_length);
      size_t k = std::min<size_t>(payload.size(), cmd->expected_length);
      if (k) std::memcpy(cmd->data.data(), payload.data(), k);
      if (cmd->expected_length > k) {
        std::memset(cmd->data.data() + k, 0xa5, cmd->expected_length - k);
      }
    }
    if (flags & 0x40) {
      CheckingBackend* be = lun == 0 ? be0 : (lun == 1 ? be1 : nullptr);
      if (be) {
        bool w = cmd->dir == scsi::DataDirection::kWrite;
        be->mem()->FailNext(w ? scsi::IoOp::kWrite : scsi::IoOp::kRead,
                            w ? MODTGT_STS_WRITE_ERROR : MODTGT_STS_READ_ERROR);
      }
    }

    ++expected_done;
    scsi::Command* raw = cmd.get();
    if (async) {
      loop_thread->loop()->Post([raw] { scsi::Submit(raw); });
      if (!owner.WaitForDone(expected_done, std::chrono::seconds(10))) {
        Fail("command never completed (async)");
      }
      // Let anything still queued on the loop run, then count again (exactly once).
      std::promise<void> idle;
      loop_thread->loop()->Post([&idle] { idle.set_value(); });
      idle.get_future().wait();
    } else {
      scsi::Submit(raw);
    }
    if (owner.done_count() != expected_done) Fail("CommandDone not called exactly once");
    CheckResult(*cmd);
    if (verbose) {
      std::fprintf(stderr, "cdb %02x len %u dir %d edtl %u lun %llu -> status %02x sense %02x/%02x%02x"
                   " data_in %u\n", cmd->cdb[0], cdb_len, static_cast<int>(cmd->dir),
                   cmd->expected_length, static_cast<unsigned long long>(lun),
                   static_cast<unsigned>(cmd->status), cmd->sense_len ? cmd->sense[2] & 0xf : 0,
                   cmd->sense_len > 13 ? cmd->sense[12] : 0, cmd->sense_len > 13 ? cmd->sense[13] : 0,
                   cmd->data_in_length);
    }
    if (lu0->inflight.load() != 0 || (lu1 && lu1->inflight.load() != 0)) {
      Fail("inflight count not back to 0 after completion");
    }
  }
  return 0;
}
