// SPDX-License-Identifier: Apache-2.0
// MemBackend: an in-memory scsi::Backend for unit tests, with configurable optional
// callouts (flush, unmap, write_same, caw, thin, lba status, atomic writes) and either
// inline completion (IoDone
// before Submit returns) or asynchronous completion from a worker thread. Every I/O is
// recorded, and a status can be injected for the next I/O of a given kind.
//
// Threading: Submit may be called from any thread. In async mode the worker completes
// I/O through scsi::IoDone, which needs the command's owner to have a real EventLoop.
// Accessors take the internal mutex: safe to call while I/O is in flight.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "scsi/backend.h"

namespace modtgt::testing {

struct MemBackendCaps {
  bool flush = true;
  bool unmap = false;
  bool write_same = false;
  bool caw = false;
  bool thin = false;
  // Reports allocation (IoOp::kLbaStatus) in units of alloc_unit bytes: a write allocates
  // every unit it touches, an unmap frees the units it covers whole.
  bool lba_status = false;
  uint32_t alloc_unit = 4096;
  scsi::AtomicLimits atomic;  // max_bytes 0: no atomic writes
  // A read whose whole range is zero on the medium completes with MODTGT_STS_ZEROS (module
  // ABI 1.6) and leaves 0xEE garbage in the buffer, which the module was not to write:
  // whoever uses the bytes without the core's zero fill sees it.
  bool zero_reads = false;
};

struct IoRecord {
  scsi::IoOp op;
  uint64_t offset;
  uint64_t length;  // bytes moved (read/write) or range (unmap/write_same/caw)
  uint32_t flags;
};

class MemBackend : public scsi::Backend {
 public:
  MemBackend(uint64_t size_bytes, MemBackendCaps caps = {}, bool async = false);
  ~MemBackend() override;

  uint64_t size_bytes() const override { return size_; }
  bool has_flush() const override { return caps_.flush; }
  bool has_unmap() const override { return caps_.unmap; }
  bool has_write_same() const override { return caps_.write_same; }
  bool has_caw() const override { return caps_.caw; }
  bool has_handle_cmd() const override { return false; }
  bool thin() const override { return caps_.thin; }
  bool has_lba_status() const override { return caps_.lba_status; }
  scsi::AtomicLimits atomic_limits() const override { return caps_.atomic; }
  void Submit(scsi::Command* cmd) override;

  // ---- Test access ----
  // Copies of / writes to the medium, in bytes.
  std::vector<uint8_t> ReadBytes(uint64_t offset, uint64_t length);
  void WriteBytes(uint64_t offset, const void* data, uint64_t length);
  void Fill(uint64_t offset, uint64_t length, uint8_t value);
  std::vector<IoRecord> log();
  size_t CountOps(scsi::IoOp op);
  void ClearLog();
  // The next I/O of kind op completes with status (a modtgt_status) without touching
  // the medium.
  void FailNext(scsi::IoOp op, int status);
  // Allocation units that hold data (lba_status).
  size_t AllocatedUnits();
  // Runs fn (on the backend's thread, before the I/O is performed, without the backend's
  // lock: it may block, and I/O submitted meanwhile queues) for every I/O from now on,
  // until cleared with nullptr: lets a test act while a multi-I/O command is in the middle
  // of its work.
  void SetBeforeIo(std::function<void(const scsi::IoRequest&)> fn);

 private:
  int Perform(scsi::Command* cmd);  // REQUIRES: mu_ held
  void RunBeforeIo(scsi::Command* cmd);  // REQUIRES: mu_ not held
  void Worker();

  const uint64_t size_;
  const MemBackendCaps caps_;
  const bool async_;
  std::mutex mu_;
  std::vector<uint8_t> medium_;       // GUARDED_BY(mu_)
  std::vector<bool> allocated_;       // GUARDED_BY(mu_), per alloc_unit
  std::function<void(const scsi::IoRequest&)> before_io_;  // GUARDED_BY(mu_)
  std::vector<IoRecord> log_;         // GUARDED_BY(mu_)
  bool fail_armed_ = false;           // GUARDED_BY(mu_)
  scsi::IoOp fail_op_ = scsi::IoOp::kRead;
  int fail_status_ = 0;
  std::condition_variable cv_;
  std::deque<scsi::Command*> queue_;  // GUARDED_BY(mu_)
  bool stop_ = false;                 // GUARDED_BY(mu_)
  std::thread worker_;
};

}  // namespace modtgt::testing
