// SPDX-License-Identifier: Apache-2.0
// bs_uring: writer threads for large plain buffered writes, and large O_DIRECT reads.
//
// io_uring cannot write to a file's page cache without blocking on ext4 (and most file
// systems): it hands every buffered write to a worker of its io-wq, and io-wq runs all
// writes to one regular file on one worker after the other (the work is hashed by inode,
// `hashed queue` in the io_uring_queue_async_work trace). docs/perf-profile.md (branch
// uring-large) has what that gave for 128 KiB writes at QD16 against bs_rdwr's eight
// threads doing pwritev, and what else was tried. A plain buffered write of at least
// kWriterMin bytes therefore goes to kWriterThreads threads of the device that do what
// bs_rdwr does: pwritev, then host->complete(). Smaller buffered writes stay inline
// (uring_submit.cc WriteInline); everything else (O_DIRECT, FUA, WCE=0, O_SYNC) stays on
// io_uring, where the kernel completes it without a thread of ours.
//
// The same threads preadv large O_DIRECT reads (kDirectReadWorkerMin) while such reads go to
// the disk: submitted through io_uring, iomap would build each read's bios and zero-fill the
// holes between its extents in the event loop that submits (uring_internal.h, Device::Read).
//
// The threads start on the first such write or read (a LUN that never gets one costs
// nothing) and stop at close(), which has no I/O in flight by contract.
#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <exception>

#include "uring_internal.h"

namespace bs_uring {

bool Device::QueueToWriters(Req* r) {
  std::unique_lock<std::mutex> l(writers_mu_);
  if (writers_stop_) return false;
  if (writers_.empty()) {
    try {
      writers_.reserve(kWriterThreads);
      for (int i = 0; i < kWriterThreads; i++) {
        writers_.emplace_back([this] { WriterLoop(); });
        // Named for top and perf (a thread started by an event loop inherits its name).
        pthread_setname_np(writers_.back().native_handle(), "uring-wr");
      }
    } catch (const std::exception& ex) {
      if (writers_.empty()) {
        g_host->log(MODTGT_LOG_WARN, "'%s': cannot start writer threads (%s); large writes "
                    "go through io_uring", path_.c_str(), ex.what());
        writers_stop_ = true;  // do not try again for every write
        return false;
      }
    }
  }
  r->next_free = nullptr;
  if (writers_tail_ != nullptr) {
    writers_tail_->next_free = r;
  } else {
    writers_head_ = r;
  }
  writers_tail_ = r;
  l.unlock();
  writers_cv_.notify_one();
  return true;
}

void Device::WriterLoop() {
  for (;;) {
    Req* r;
    {
      std::unique_lock<std::mutex> l(writers_mu_);
      writers_cv_.wait(l, [this] { return writers_head_ != nullptr || writers_stop_; });
      if (writers_head_ == nullptr) return;  // stopping, nothing queued
      r = writers_head_;
      writers_head_ = r->next_free;
      if (writers_head_ == nullptr) writers_tail_ = nullptr;
    }
    r->next_free = nullptr;
    if (r->op == Op::kRead) {
      Finish(r, PreadAll(r));
      continue;
    }
    size_t done = 0;
    const size_t total = static_cast<size_t>(r->end - r->offset);
    const int e = PwriteAll(r->iov.data(), static_cast<int>(r->iov.size()), r->offset, total,
                            &done);
    modtgt_status st = MODTGT_STS_OK;
    if (e != 0) {
      g_host->log(MODTGT_LOG_ERROR, "'%s': write at %llu failed: %s", path_.c_str(),
                  static_cast<unsigned long long>(r->offset + done),
                  e == EIO && done < total ? "no progress or I/O error" : ErrnoText(e).c_str());
      st = MODTGT_STS_WRITE_ERROR;
    }
    modtgt_io* io = r->io;
    FreeReq(r);
    g_host->complete(io, st);
  }
}

modtgt_status Device::PreadAll(Req* r) {
  while (r->iov_first < r->iov.size()) {
    const size_t left = r->iov.size() - r->iov_first;
    const int n = static_cast<int>(std::min<size_t>(left, kMaxIovPerSqe));
    const ssize_t got =
        preadv(fd_, r->iov.data() + r->iov_first, n, static_cast<off_t>(r->offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      g_host->log(MODTGT_LOG_ERROR, "'%s': read at %llu failed: %s", path_.c_str(),
                  static_cast<unsigned long long>(r->offset), ErrnoText(errno).c_str());
      return MODTGT_STS_READ_ERROR;
    }
    if (got == 0) {
      ZeroRest(r);  // past the end of a file shorter than the LUN: zeros (as OnCqe)
      break;
    }
    Advance(r, static_cast<size_t>(got));
  }
  return MODTGT_STS_OK;
}

void Device::StopWriters() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> l(writers_mu_);
    writers_stop_ = true;
    threads.swap(writers_);
  }
  writers_cv_.notify_all();
  for (std::thread& t : threads) t.join();
}

}  // namespace bs_uring
