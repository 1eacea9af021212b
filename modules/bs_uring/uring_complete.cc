// SPDX-License-Identifier: Apache-2.0
// bs_uring: the completion side: taking CQEs, resuming short transfers and fallbacks, and
// finishing an I/O (in its callout when it completed inline, else through host->complete).
#include <linux/falloc.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "uring_internal.h"

namespace bs_uring {

unsigned Device::TakeCqes(Ring* g, Done* out) {
  io_uring_cqe* cqes[kReapBatch];
  const unsigned n = io_uring_peek_batch_cqe(&g->ring, cqes, kReapBatch);
  for (unsigned i = 0; i < n; i++) {
    out[i] = Done{reinterpret_cast<Req*>(static_cast<uintptr_t>(io_uring_cqe_get_data64(cqes[i]))),
                  cqes[i]->res};
  }
  io_uring_cq_advance(&g->ring, n);
  // Push entries an earlier failed submit left behind (see Submit).
  if (io_uring_sq_ready(&g->ring) > 0) io_uring_submit(&g->ring);
  return n;
}

void Device::Drain(Ring* g, uint64_t submitted) {
  Done done[kReapBatch];
  for (;;) {
    unsigned n;
    {
      std::lock_guard<std::mutex> l(g->mu);
      n = TakeCqes(g, done);
    }
    if (n == 0) return;
    for (unsigned i = 0; i < n; i++) {
      Req* const r = done[i].req;
      (void)r->handoff.load(std::memory_order_acquire);
      if (r->probe) {
        // Done inside its submission (holes only): stays on io_uring; else to the threads.
        r->probe = false;
        g->dev->direct_reads_to_threads_.store(submitted == 0 || r->submit_seq != submitted,
                                               std::memory_order_relaxed);
      }
      g->dev->OnCqe(r, done[i].res);
    }
  }
}

void Device::Finish(Req* r, modtgt_status st) {
  if (st == MODTGT_STS_OK && r->op == Op::kRead && r->user_iov != nullptr) {
    const uint8_t* src = r->buf;
    for (int i = 0; i < r->user_iovcnt; i++) {
      std::memcpy(r->user_iov[i].iov_base, src, r->user_iov[i].iov_len);
      src += r->user_iov[i].iov_len;
    }
  }
  modtgt_io* io = r->io;
  InlineStart* const start = t_inline;
  FreeReq(r);
  if (start != nullptr && start->req == r && r->inline_owner == start) {
    // Completed before its callout returned: the callout returns the status.
    start->done = true;
    start->status = st;
    start->req = nullptr;  // r may be reused from here on
    return;
  }
  g_host->complete(io, st);
}

// Drops n transferred bytes from the front of r's iovecs.
void Device::Advance(Req* r, size_t n) {
  r->offset += n;
  while (n > 0 && r->iov_first < r->iov.size()) {
    iovec& v = r->iov[r->iov_first];
    const size_t take = std::min(n, v.iov_len);
    v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
    v.iov_len -= take;
    n -= take;
    if (v.iov_len == 0) r->iov_first++;
  }
  while (r->iov_first < r->iov.size() && r->iov[r->iov_first].iov_len == 0) r->iov_first++;
}

void Device::ZeroRest(Req* r) {
  for (size_t i = r->iov_first; i < r->iov.size(); i++) {
    std::memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
  }
  r->iov_first = r->iov.size();
}

void Device::OnCqe(Req* r, int res) {
  const bool is_read = r->op == Op::kRead;
  const modtgt_status failure = is_read ? MODTGT_STS_READ_ERROR : MODTGT_STS_WRITE_ERROR;
  bool again = false;
  if (res == -EINTR || res == -EAGAIN) {
    again = ++r->no_progress <= kMaxZeroProgress * 64;
  } else if (res < 0) {
    if (r->op == Op::kFallocate && (res == -EOPNOTSUPP || res == -ENOSYS ||
                                    (res == -EINVAL && blockdev_))) {
      // This storage cannot punch/zero a range: write zeros instead (and from now on).
      std::atomic<bool>& works = r->zero_range ? zero_works_ : punch_works_;
      if (works.exchange(false)) {
        g_host->log(MODTGT_LOG_INFO, "'%s': fallocate(%s) unsupported (%s); writing zeros",
                    path_.c_str(), r->zero_range ? "ZERO_RANGE" : "PUNCH_HOLE",
                    ErrnoText(-res).c_str());
      }
      r->op = Op::kFill;
      r->fill_start = r->offset;
      r->block = block_;
      r->rw_flags = SyncFlags(0);
      again = true;
    } else {
      g_host->log(MODTGT_LOG_ERROR, "'%s': %s at %llu failed: %s", path_.c_str(),
                  is_read ? "read" : r->op == Op::kFlush ? "flush" : "write",
                  static_cast<unsigned long long>(r->offset), ErrnoText(-res).c_str());
      Finish(r, failure);
      return;
    }
  } else {
    switch (r->op) {
      case Op::kFlush:
      case Op::kFallocate:
        Finish(r, MODTGT_STS_OK);
        return;
      case Op::kRead:
      case Op::kWrite:
        if (res == 0 && is_read) {
          // End of file inside the device: the file is shorter than the LUN (shrunk
          // underneath us, or sparse-extended by another tool). Past EOF reads as zeros.
          ZeroRest(r);
        } else if (res == 0) {
          again = ++r->no_progress <= kMaxZeroProgress;
          if (!again) {
            g_host->log(MODTGT_LOG_ERROR, "'%s': write at %llu makes no progress",
                        path_.c_str(), static_cast<unsigned long long>(r->offset));
            Finish(r, failure);
            return;
          }
          break;
        } else if (r->atomic && static_cast<uint64_t>(res) != r->end - r->offset) {
          // An atomic write is never resumed: the rest would not be atomic with the part.
          g_host->log(MODTGT_LOG_ERROR, "'%s': atomic write at %llu moved %d of %llu bytes",
                      path_.c_str(), static_cast<unsigned long long>(r->offset), res,
                      static_cast<unsigned long long>(r->end - r->offset));
          Finish(r, failure);
          return;
        } else {
          r->no_progress = 0;
          Advance(r, static_cast<size_t>(res));
        }
        if (r->iov_first >= r->iov.size()) {
          Finish(r, MODTGT_STS_OK);
          return;
        }
        again = true;  // short transfer, or more than kMaxIovPerSqe iovecs: the rest
        break;
      case Op::kFill:
        if (res == 0) {
          again = ++r->no_progress <= kMaxZeroProgress;
          if (!again) {
            Finish(r, failure);
            return;
          }
          break;
        }
        r->no_progress = 0;
        r->offset += static_cast<uint64_t>(res);
        if (r->offset >= r->end) {
          Finish(r, MODTGT_STS_OK);
          return;
        }
        again = true;
        break;
    }
  }
  if (!again) {
    g_host->log(MODTGT_LOG_ERROR, "'%s': I/O at %llu keeps failing with EAGAIN/EINTR",
                path_.c_str(), static_cast<unsigned long long>(r->offset));
    Finish(r, failure);
    return;
  }
  if (!Submit(r, false)) {
    g_host->log(MODTGT_LOG_ERROR, "'%s': cannot resubmit the rest of an I/O (queue full)",
                path_.c_str());
    Finish(r, failure);
  }
}

}  // namespace bs_uring
