// SPDX-License-Identifier: Apache-2.0
// bs_uring: the I/O callouts (read, write, flush, unmap, write_same) and their submission:
// an SQE per step on the calling thread's ring, reaped right after by that loop.
#include <linux/falloc.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "uring_internal.h"

namespace bs_uring {

thread_local InlineStart* t_inline = nullptr;

int Device::SyncFlags(uint32_t flags) const {
  return ((flags & MODTGT_IO_FUA) || !write_cache_.load(std::memory_order_relaxed)) ? RWF_DSYNC
                                                                                    : 0;
}

void Device::PrepSqe(Req* r, io_uring_sqe* sqe) {
  switch (r->op) {
    case Op::kRead:
    case Op::kWrite: {
      const size_t left = r->iov.size() - r->iov_first;
      const unsigned n = static_cast<unsigned>(std::min<size_t>(left, kMaxIovPerSqe));
      if (r->op == Op::kRead) {
        io_uring_prep_readv(sqe, fd_, r->iov.data() + r->iov_first, n, r->offset);
      } else if (r->atomic) {
        // One user buffer (RWF_ATOMIC takes a single segment): SetData made it one iovec.
        io_uring_prep_write(sqe, fd_, r->iov[0].iov_base, static_cast<unsigned>(r->iov[0].iov_len),
                            r->offset);
        sqe->rw_flags = r->rw_flags;
      } else {
        io_uring_prep_writev(sqe, fd_, r->iov.data() + r->iov_first, n, r->offset);
        sqe->rw_flags = r->rw_flags;
      }
      break;
    }
    case Op::kFlush:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
    case Op::kFallocate:
      io_uring_prep_fallocate(sqe, fd_, r->fallocate_mode, static_cast<off_t>(r->offset),
                              static_cast<off_t>(r->end - r->offset));
      break;
    case Op::kFill: {
      // The buffer repeats the pattern from fill_start on, so any offset maps into it.
      const size_t pos = r->buf == nullptr ? 0 : static_cast<size_t>((r->offset - r->fill_start) % r->block);
      const uint8_t* base = r->buf == nullptr ? g_zeros : r->buf;
      const size_t cap = r->buf == nullptr ? sizeof(g_zeros) : r->buf_len;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(r->end - r->offset, cap - pos));
      io_uring_prep_write(sqe, fd_, base + pos, static_cast<unsigned>(n), r->offset);
      sqe->rw_flags = r->rw_flags;
      break;
    }
  }
  io_uring_sqe_set_data(sqe, r);
}

bool Device::Submit(Req* r, bool reap) {
  Ring* g = r->ring;
  uint64_t submitted;
  {
    std::lock_guard<std::mutex> l(g->mu);
    io_uring_sqe* sqe = io_uring_get_sqe(&g->ring);
    if (sqe == nullptr) {
      // The queue is full of entries not yet handed to the kernel (a turn queued more
      // than the ring holds, or an earlier submit failed with EAGAIN/EBUSY): push them,
      // then retry once.
      io_uring_submit(&g->ring);
      sqe = io_uring_get_sqe(&g->ring);
      if (sqe == nullptr) return false;
    }
    PrepSqe(r, sqe);
    r->submit_seq = g->submits + 1;  // the SubmitQueued that will carry it
    r->handoff.fetch_add(1, std::memory_order_release);
    if (reap) {
      // A callout on an event loop (ABI 1.5): the SQE waits for the end of the loop's
      // turn, which submits every I/O the turn queued in one io_uring_enter and reaps.
      if (g->submit_deferred) return true;
      if (HostHasLoopServices()) {
        RingRef(g);  // the end-of-turn step's, dropped when it has run
        if (g_host->loop_defer(&Device::OnTurnEnd, g) == 0) {
          g->submit_deferred = true;
          return true;
        }
        g->refs.fetch_sub(1, std::memory_order_relaxed);  // not the last: the device holds one
      }
    }
    SubmitQueued(g, reap);
    submitted = g->submits;
  }
  if (reap) Drain(g, submitted);
  return true;
}

void Device::SubmitQueued(Ring* g, bool quiet) {
  // The caller reaps its own ring right after: CQEs posted meanwhile need not signal the
  // eventfd. (-EOPNOTSUPP on kernels before 5.8: the reaper just wakes.)
  if (quiet) io_uring_cq_eventfd_toggle(&g->ring, false);
  for (int attempt = 0;; attempt++) {
    const int rc = io_uring_submit(&g->ring);
    if (rc >= 0) break;
    if (rc == -EINTR) continue;
    if ((rc == -EAGAIN || rc == -EBUSY) && attempt < 100) {
      // Kernel short of memory, or the completion queue overflowing: give the
      // completion thread a moment. The SQE stays queued either way.
      std::this_thread::yield();
      continue;
    }
    // The SQE is in the ring and will go with the next successful submit: it will
    // complete then. Report success so it is not completed twice.
    g_host->log(MODTGT_LOG_WARN, "io_uring_submit: %s; the I/O goes with the next submission",
                ErrnoText(-rc).c_str());
    break;
  }
  // Re-enabled before the CQ is read: a CQE posted after this read signals.
  if (quiet) io_uring_cq_eventfd_toggle(&g->ring, true);
  g->submits++;
}

void Device::OnTurnEnd(void* arg) {
  Ring* g = static_cast<Ring*>(arg);
  uint64_t submitted;
  {
    std::lock_guard<std::mutex> l(g->mu);
    g->submit_deferred = false;
    SubmitQueued(g, true);
    submitted = g->submits;
  }
  Drain(g, submitted);
  RingUnref(g);
}

void Device::OnInlineReadTurnEnd(void* arg) {
  Ring* g = static_cast<Ring*>(arg);
  g->inline_read_turn.store(false, std::memory_order_relaxed);
  {
    // Runs before the turn's submission step (deferred after it): ring I/O queued in the
    // same turn after the inline read makes this a busy turn.
    std::lock_guard<std::mutex> l(g->mu);
    if (g->submit_deferred) g->inline_skip.store(kInlineReadSkip, std::memory_order_relaxed);
  }
  RingUnref(g);
}

int Device::Start(Req* r, int failure) {
  InlineStart start;
  start.req = r;
  r->inline_owner = &start;
  InlineStart* const outer = t_inline;
  t_inline = &start;
  const bool queued = Submit(r, true);
  t_inline = outer;
  if (!queued) {
    g_host->log(MODTGT_LOG_WARN, "io_uring submission queue full; the I/O is retried as BUSY");
    FreeReq(r);
    return failure;
  }
  return start.done ? start.status : MODTGT_STS_ASYNC;
}

// ---- Callouts ----

// Points r at the caller's buffer, or, for O_DIRECT with unaligned iovecs, at an aligned
// bounce buffer: filled from iov now for a write, copied back to iov at completion for a
// read (Finish). r->offset and r->op must be set. False when out of memory.
bool Device::SetData(Req* r, const iovec* iov, int iovcnt) {
  const size_t total = IovBytes(iov, iovcnt);
  r->end = r->offset + total;
  try {
    if (direct_ && !IovAligned(iov, iovcnt)) {
      r->buf = BounceAlloc(total);
      if (r->buf == nullptr) return false;
      if (r->op == Op::kWrite) {
        uint8_t* dst = r->buf;
        for (int i = 0; i < iovcnt; i++) {
          std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
          dst += iov[i].iov_len;
        }
      } else {
        r->user_iov = iov;
        r->user_iovcnt = iovcnt;
      }
      r->iov.push_back(iovec{r->buf, total});
    } else {
      r->iov.assign(iov, iov + iovcnt);
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

// At QD1 a cached 4 KiB read through the ring costs the same system calls as bs_rdwr's
// preadv2(RWF_NOWAIT) (one io_uring_enter at the end of the turn), plus the ring's work: a
// request, an SQE, the end-of-turn step, reaping the CQE and completing through the host
// (the response then goes out from the turn-end step). Trying preadv2(RWF_NOWAIT) first
// completes it in its callout, as bs_rdwr does. Only the first read of a loop turn: the
// other reads of a busy turn (QD32) join one io_uring_enter, as before (a preadv2 for each
// made 1.35 system calls per read at QD32 instead of 0.47). And a turn that had both (an
// inline read, then ring I/O) means the loop is busy: the next kInlineReadSkip reads go
// through the ring without trying, so a QD32 load stays batched as it was. The checks take
// no lock: a read that is not tried costs the ring path a few loads.
int Device::ReadInline(Ring* g, const iovec* iov, int iovcnt, uint64_t offset, size_t* done) {
  *done = 0;
  if (direct_ || iovcnt > kMaxIovPerSqe || !nowait_reads_.load(std::memory_order_relaxed)) {
    return MODTGT_STS_ASYNC;
  }
  if (g->inline_read_turn.load(std::memory_order_relaxed)) return MODTGT_STS_ASYNC;
  if (const uint32_t skip = g->inline_skip.load(std::memory_order_relaxed); skip > 0) {
    g->inline_skip.store(skip - 1, std::memory_order_relaxed);
    return MODTGT_STS_ASYNC;
  }
  const size_t total = IovBytes(iov, iovcnt);
  if (total == 0 || total > kInlineReadMax) return MODTGT_STS_ASYNC;
  ssize_t n;
  do {
    n = preadv2(fd_, iov, iovcnt, static_cast<off_t>(offset), RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EOPNOTSUPP && nowait_reads_.exchange(false, std::memory_order_relaxed)) {
      g_host->log(MODTGT_LOG_DEBUG, "'%s': preadv2(RWF_NOWAIT) unsupported; reads go through "
                  "io_uring", path_.c_str());
    }
    return MODTGT_STS_ASYNC;
  }
  *done = static_cast<size_t>(n);
  if (*done != total) return MODTGT_STS_ASYNC;  // the ring reads the rest (this turn's batch)
  // On a loop, the turn's other reads go through the ring until its end. (Off a loop each
  // I/O is submitted on its own: there is no batch to keep.)
  if (HostHasLoopServices()) {
    RingRef(g);  // the step's, dropped when it has run
    if (g_host->loop_defer(&Device::OnInlineReadTurnEnd, g) == 0) {
      g->inline_read_turn.store(true, std::memory_order_relaxed);
    } else {
      g->refs.fetch_sub(1, std::memory_order_relaxed);  // not the last: the device holds one
    }
  }
  return MODTGT_STS_OK;
}

int Device::Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset) {
  Ring* const g = ThisRing();
  size_t done = 0;
  const int inline_status = ReadInline(g, iov, iovcnt, offset, &done);
  if (inline_status != MODTGT_STS_ASYNC) return inline_status;
  Req* r = AllocReq(g);
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kRead;
  r->offset = offset;
  if (!SetData(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  if (done > 0) Advance(r, done);  // a part was cached: the ring reads the rest
  if (direct_ && r->end - offset >= kDirectReadWorkerMin) {
    const uint32_t n = direct_reads_.fetch_add(1, std::memory_order_relaxed);
    if (n % kDirectReadProbeEvery != 0 &&
        direct_reads_to_threads_.load(std::memory_order_relaxed) && QueueToWriters(r)) {
      return MODTGT_STS_ASYNC;
    }
    r->probe = true;
  }
  return Start(r, MODTGT_STS_BUSY);
}

namespace {
uint64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

// ext4 (and most file systems) have no non-blocking buffered writes (RWF_NOWAIT gives
// EOPNOTSUPP): io_uring hands every buffered write to one of its io-wq worker threads, and
// the completion comes back through the eventfd, which costs two thread switches per write
// where copying 4 KiB into the page cache costs a few microseconds. So a plain buffered
// write (no O_DIRECT, no O_SYNC, no FUA or WCE=0, not atomic) of up to kInlineWriteMax
// bytes is a pwritev on the calling thread, as long as the page cache takes it quickly: one that takes longer than
// kSlowInlineWriteNs (dirty-page throttling, a journal wait) sends buffered writes through
// io_uring for kInlineWriteBackoffNs, so an event loop is not held by a throttled device.
int Device::PwriteAll(const iovec* iov, int iovcnt, uint64_t offset, size_t total,
                      size_t* done) {
  *done = 0;
  iovec rest[kMaxIovPerSqe];
  const iovec* v = iov;
  int n = iovcnt;
  while (*done < total) {
    const ssize_t w = pwritev(fd_, v, n, static_cast<off_t>(offset + *done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;  // no progress
    *done += static_cast<size_t>(w);
    if (*done >= total) break;
    // A short write: the iovecs still to go.
    size_t skip = *done;
    int k = 0;
    for (int i = 0; i < iovcnt; i++) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      rest[k].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + skip;
      rest[k].iov_len = iov[i].iov_len - skip;
      skip = 0;
      k++;
    }
    v = rest;
    n = k;
  }
  return 0;
}

bool Device::PlainBufferedWrite(int iovcnt, uint32_t flags) const {
  return !direct_ && !osync_ && SyncFlags(flags) == 0 && !(flags & MODTGT_IO_ATOMIC) &&
         iovcnt <= kMaxIovPerSqe;
}

int Device::WriteInline(const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags) {
  if (!PlainBufferedWrite(iovcnt, flags)) return MODTGT_STS_ASYNC;
  const size_t total = IovBytes(iov, iovcnt);
  if (total > kInlineWriteMax) return MODTGT_STS_ASYNC;
  const uint64_t off_until = inline_writes_off_until_.load(std::memory_order_relaxed);
  const uint64_t start = NowNs();
  if (off_until != 0 && start < off_until) return MODTGT_STS_ASYNC;
  size_t done = 0;
  const int e = PwriteAll(iov, iovcnt, offset, total, &done);
  if (e != 0) {
    if (done == 0) return MODTGT_STS_ASYNC;  // io_uring retries it and reports errors
    g_host->log(MODTGT_LOG_ERROR, "'%s': write at %llu failed: %s", path_.c_str(),
                static_cast<unsigned long long>(offset + done), ErrnoText(e).c_str());
    return MODTGT_STS_WRITE_ERROR;
  }
  const uint64_t took = NowNs() - start;
  if (took > kSlowInlineWriteNs) {
    inline_writes_off_until_.store(start + took + kInlineWriteBackoffNs,
                                   std::memory_order_relaxed);
  }
  return MODTGT_STS_OK;
}

int Device::Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags) {
  const size_t bytes = IovBytes(iov, iovcnt);
  if ((flags & MODTGT_IO_ATOMIC) &&
      (atomic_unit_ == 0 || bytes != atomic_unit_ || offset % atomic_unit_ != 0)) {
    // The core sends only what the declared limits allow; anything else is not atomic.
    g_host->log(MODTGT_LOG_ERROR, "'%s': atomic write of %zu bytes at %llu outside the limits",
                path_.c_str(), bytes, static_cast<unsigned long long>(offset));
    return MODTGT_STS_WRITE_ERROR;
  }
  const int inline_status = WriteInline(iov, iovcnt, offset, flags);
  if (inline_status != MODTGT_STS_ASYNC) return inline_status;
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kWrite;
  r->offset = offset;
  if (PlainBufferedWrite(iovcnt, flags) && bytes >= kWriterMin) {
    try {
      r->iov.assign(iov, iov + iovcnt);
    } catch (const std::bad_alloc&) {
      FreeReq(r);
      return MODTGT_STS_NO_RESOURCE;
    }
    r->end = offset + bytes;
    if (QueueToWriters(r)) return MODTGT_STS_ASYNC;
    r->iov.clear();  // no writer thread could be started: through io_uring
  }
  r->rw_flags = SyncFlags(flags);
  if (flags & MODTGT_IO_ATOMIC) {
    r->atomic = true;
    r->rw_flags |= kRwfAtomic;
  }
  if (!SetData(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  return Start(r, MODTGT_STS_BUSY);
}

int Device::Flush(modtgt_io* io) {
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kFlush;
  return Start(r, MODTGT_STS_BUSY);
}

int Device::Unmap(modtgt_io* io, uint64_t offset, uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->offset = offset;
  r->end = offset + length;
  r->zero_range = false;
  if (punch_works_.load(std::memory_order_relaxed)) {
    r->op = Op::kFallocate;
    r->fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  } else {
    r->op = Op::kFill;  // zeros: unmapped blocks read as zeros either way
    r->fill_start = offset;
    r->block = block_;
    r->rw_flags = SyncFlags(0);
  }
  return Start(r, MODTGT_STS_BUSY);
}

int Device::WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                      uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  const size_t pattern = IovBytes(iov, iovcnt);
  if (pattern == 0 || length % pattern != 0 || kWriteChunk % pattern != 0) {
    g_host->log(MODTGT_LOG_ERROR, "write_same: pattern of %zu bytes for %llu bytes", pattern,
                static_cast<unsigned long long>(length));
    return MODTGT_STS_WRITE_ERROR;
  }
  bool zeros = true;
  for (int i = 0; i < iovcnt && zeros; i++) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    for (size_t j = 0; j < iov[i].iov_len; j++) {
      if (p[j] != 0) {
        zeros = false;
        break;
      }
    }
  }
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->offset = offset;
  r->end = offset + length;
  r->fill_start = offset;
  r->block = static_cast<uint32_t>(pattern);
  r->rw_flags = SyncFlags(0);
  r->zero_range = true;
  if (zeros && zero_works_.load(std::memory_order_relaxed)) {
    r->op = Op::kFallocate;
    r->fallocate_mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
  } else {
    r->op = Op::kFill;
    if (!zeros) {
      // Replicate the block over up to kWriteChunk bytes (a multiple of the pattern).
      r->buf_len = static_cast<size_t>(std::min<uint64_t>(length, kWriteChunk));
      r->buf = AlignedAlloc(r->buf_len);
      if (r->buf == nullptr) {
        FreeReq(r);
        return MODTGT_STS_NO_RESOURCE;
      }
      uint8_t* dst = r->buf;
      for (int i = 0; i < iovcnt; i++) {
        std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
      }
      for (size_t have = pattern; have < r->buf_len;) {
        const size_t n = std::min(have, r->buf_len - have);
        std::memcpy(r->buf + have, r->buf, n);
        have += n;
      }
    }
  }
  return Start(r, MODTGT_STS_BUSY);
}

}  // namespace bs_uring
