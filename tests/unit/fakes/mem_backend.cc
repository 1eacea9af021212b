// SPDX-License-Identifier: Apache-2.0
#include "fakes/mem_backend.h"

#include <algorithm>
#include <cstring>

#include "modtgt/module.h"
#include "scsi/command.h"

namespace modtgt::testing {

MemBackend::MemBackend(uint64_t size_bytes, MemBackendCaps caps, bool async)
    : size_(size_bytes),
      caps_(caps),
      async_(async),
      medium_(size_bytes, 0),
      allocated_((size_bytes + caps.alloc_unit - 1) / caps.alloc_unit, false) {
  if (async_) worker_ = std::thread([this] { Worker(); });
}

MemBackend::~MemBackend() {
  if (async_) {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
}

void MemBackend::Submit(scsi::Command* cmd) {
  if (async_) {
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.push_back(cmd);
    }
    cv_.notify_all();
    return;
  }
  RunBeforeIo(cmd);
  int status;
  {
    std::lock_guard<std::mutex> l(mu_);
    status = Perform(cmd);
  }
  scsi::IoDone(cmd, status);
}

void MemBackend::RunBeforeIo(scsi::Command* cmd) {
  std::function<void(const scsi::IoRequest&)> fn;
  {
    std::lock_guard<std::mutex> l(mu_);
    fn = before_io_;
  }
  if (fn) fn(cmd->io);  // unlocked: it may block while other I/O is queued
}

void MemBackend::Worker() {
  for (;;) {
    scsi::Command* cmd;
    int status;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      cmd = queue_.front();
      queue_.pop_front();
    }
    RunBeforeIo(cmd);
    {
      std::lock_guard<std::mutex> l(mu_);
      status = Perform(cmd);
    }
    scsi::IoDone(cmd, status);
  }
}

namespace {
// Gathers/scatters between iovecs and a flat range.
uint64_t IovLen(const scsi::IoRequest& io) {
  uint64_t n = 0;
  for (int i = 0; i < io.iovcnt; ++i) n += io.iov[i].iov_len;
  return n;
}
void CopyFromIov(const scsi::IoRequest& io, uint8_t* dst, uint64_t len) {
  for (int i = 0; i < io.iovcnt && len; ++i) {
    uint64_t n = std::min<uint64_t>(len, io.iov[i].iov_len);
    std::memcpy(dst, io.iov[i].iov_base, n);
    dst += n;
    len -= n;
  }
}
void CopyToIov(const scsi::IoRequest& io, const uint8_t* src, uint64_t len) {
  for (int i = 0; i < io.iovcnt && len; ++i) {
    uint64_t n = std::min<uint64_t>(len, io.iov[i].iov_len);
    std::memcpy(io.iov[i].iov_base, src, n);
    src += n;
    len -= n;
  }
}
}  // namespace

int MemBackend::Perform(scsi::Command* cmd) {
  const scsi::IoRequest& io = cmd->io;
  const uint64_t data_len = IovLen(io);
  const uint64_t range_len =
      (io.op == scsi::IoOp::kRead || io.op == scsi::IoOp::kWrite) ? data_len : io.length;
  log_.push_back({io.op, io.offset, range_len, io.flags});
  if (fail_armed_ && fail_op_ == io.op) {
    fail_armed_ = false;
    return fail_status_;
  }
  if (io.op != scsi::IoOp::kFlush && io.op != scsi::IoOp::kHandleCmd &&
      (io.offset > size_ || range_len > size_ - io.offset)) {
    return MODTGT_STS_LBA_OUT_OF_RANGE;
  }
  uint8_t* m = medium_.data();
  const uint64_t unit = caps_.alloc_unit;
  auto allocate = [&](uint64_t off, uint64_t len) {
    for (uint64_t u = off / unit; len && u * unit < off + len; ++u) allocated_[u] = true;
  };
  switch (io.op) {
    case scsi::IoOp::kRead:
      if (caps_.zero_reads &&
          std::all_of(m + io.offset, m + io.offset + data_len, [](uint8_t b) { return b == 0; })) {
        for (int i = 0; i < io.iovcnt; i++) std::memset(io.iov[i].iov_base, 0xee, io.iov[i].iov_len);
        return MODTGT_STS_ZEROS;
      }
      CopyToIov(io, m + io.offset, data_len);
      return MODTGT_STS_OK;
    case scsi::IoOp::kWrite:
      if ((io.flags & MODTGT_IO_ATOMIC) &&
          (caps_.atomic.max_bytes == 0 || data_len > caps_.atomic.max_bytes)) {
        return MODTGT_STS_UNSUPPORTED;
      }
      CopyFromIov(io, m + io.offset, data_len);
      allocate(io.offset, data_len);
      return MODTGT_STS_OK;
    case scsi::IoOp::kFlush:
      return MODTGT_STS_OK;
    case scsi::IoOp::kUnmap:
      if (!caps_.unmap) return MODTGT_STS_UNSUPPORTED;
      std::memset(m + io.offset, 0, io.length);
      for (uint64_t u = (io.offset + unit - 1) / unit; (u + 1) * unit <= io.offset + io.length;
           ++u) {
        allocated_[u] = false;
      }
      return MODTGT_STS_OK;
    case scsi::IoOp::kWriteSame: {
      if (!caps_.write_same || data_len == 0) return MODTGT_STS_UNSUPPORTED;
      std::vector<uint8_t> block(data_len);
      CopyFromIov(io, block.data(), data_len);
      for (uint64_t pos = 0; pos < io.length; pos += data_len) {
        std::memcpy(m + io.offset + pos, block.data(), std::min(data_len, io.length - pos));
      }
      allocate(io.offset, io.length);
      return MODTGT_STS_OK;
    }
    case scsi::IoOp::kCaw: {
      if (!caps_.caw || data_len < 2 * io.length) return MODTGT_STS_UNSUPPORTED;
      std::vector<uint8_t> both(data_len);
      CopyFromIov(io, both.data(), data_len);
      if (std::memcmp(both.data(), m + io.offset, io.length) != 0) return MODTGT_STS_MISCOMPARE;
      std::memcpy(m + io.offset, both.data() + io.length, io.length);
      allocate(io.offset, io.length);
      return MODTGT_STS_OK;
    }
    case scsi::IoOp::kHandleCmd:
      return MODTGT_STS_NOT_HANDLED;
    case scsi::IoOp::kLbaStatus: {
      if (!caps_.lba_status || io.length == 0) return MODTGT_STS_UNSUPPORTED;
      uint64_t u = io.offset / unit;
      const bool state = allocated_[u];
      uint64_t end = (u + 1) * unit;
      while (end < io.offset + io.length && allocated_[end / unit] == state) end += unit;
      cmd->io.extent.length = std::min(end, io.offset + io.length) - io.offset;
      cmd->io.extent.state = state ? MODTGT_LBA_MAPPED : MODTGT_LBA_DEALLOCATED;
      return MODTGT_STS_OK;
    }
  }
  return MODTGT_STS_UNSUPPORTED;
}

std::vector<uint8_t> MemBackend::ReadBytes(uint64_t offset, uint64_t length) {
  std::lock_guard<std::mutex> l(mu_);
  return std::vector<uint8_t>(medium_.begin() + offset, medium_.begin() + offset + length);
}

void MemBackend::WriteBytes(uint64_t offset, const void* data, uint64_t length) {
  std::lock_guard<std::mutex> l(mu_);
  std::memcpy(medium_.data() + offset, data, length);
  for (uint64_t u = offset / caps_.alloc_unit; length && u * caps_.alloc_unit < offset + length; ++u) {
    allocated_[u] = true;
  }
}

void MemBackend::Fill(uint64_t offset, uint64_t length, uint8_t value) {
  std::lock_guard<std::mutex> l(mu_);
  std::memset(medium_.data() + offset, value, length);
  for (uint64_t u = offset / caps_.alloc_unit; length && u * caps_.alloc_unit < offset + length; ++u) {
    allocated_[u] = true;
  }
}

std::vector<IoRecord> MemBackend::log() {
  std::lock_guard<std::mutex> l(mu_);
  return log_;
}

size_t MemBackend::CountOps(scsi::IoOp op) {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<size_t>(
      std::count_if(log_.begin(), log_.end(), [op](const IoRecord& r) { return r.op == op; }));
}

void MemBackend::ClearLog() {
  std::lock_guard<std::mutex> l(mu_);
  log_.clear();
}

size_t MemBackend::AllocatedUnits() {
  std::lock_guard<std::mutex> l(mu_);
  return static_cast<size_t>(std::count(allocated_.begin(), allocated_.end(), true));
}

void MemBackend::SetBeforeIo(std::function<void(const scsi::IoRequest&)> fn) {
  std::lock_guard<std::mutex> l(mu_);
  before_io_ = std::move(fn);
}

void MemBackend::FailNext(scsi::IoOp op, int status) {
  std::lock_guard<std::mutex> l(mu_);
  fail_armed_ = true;
  fail_op_ = op;
  fail_status_ = status;
}

}  // namespace modtgt::testing
