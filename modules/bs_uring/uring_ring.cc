// SPDX-License-Identifier: Apache-2.0
// bs_uring: a ring per submitting thread, the per-ring Req pool, bounce buffers, and the
// completion thread that reaps what does not complete while its loop reaps.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <new>

#include "uring_internal.h"

namespace bs_uring {

// Zeros for the write-zeros fallback; aligned for O_DIRECT. Never written (not const, so
// it stays in .bss instead of adding 1 MiB of .rodata to the module file).
alignas(kDirectAlign) uint8_t g_zeros[kWriteChunk];

// The slot of the calling thread: the index of its ring in every device.
int ThreadSlot() {
  static std::atomic<int> next{0};
  thread_local const int slot = next.fetch_add(1, std::memory_order_relaxed) % kMaxRings;
  return slot;
}

size_t IovBytes(const iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  return total;
}

bool IovAligned(const iovec* iov, int n) {
  for (int i = 0; i < n; i++) {
    if (reinterpret_cast<uintptr_t>(iov[i].iov_base) % kDirectAlign != 0 ||
        iov[i].iov_len % kDirectAlign != 0) {
      return false;
    }
  }
  return true;
}

uint8_t* AlignedAlloc(size_t n) {
  const size_t rounded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  return static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, rounded ? rounded : kDirectAlign));
}

Ring* Device::NewRing(std::string* why, bool on_loop) {
  auto g = std::make_unique<Ring>();
  g->dev = this;
  io_uring_params params{};
  int rc = io_uring_queue_init_params(kRingEntries, &g->ring, &params);
  if (rc < 0) {
    *why = "io_uring_queue_init: " + ErrnoText(-rc) +
           " (is io_uring disabled by seccomp or kernel.io_uring_disabled?)";
    return nullptr;
  }
  g->ready = true;
  if (!(params.features & IORING_FEAT_NODROP)) {
    g_host->log(MODTGT_LOG_WARN, "kernel lacks IORING_FEAT_NODROP: completions may be lost "
                                 "above %u I/Os in flight", params.cq_entries);
  }
  g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g->efd < 0) {
    *why = "eventfd: " + ErrnoText(errno);
    return nullptr;
  }
  rc = io_uring_register_eventfd(&g->ring, g->efd);
  if (rc < 0) {
    *why = "io_uring_register_eventfd: " + ErrnoText(-rc);
    return nullptr;
  }
  Ring* const ring = g.get();
  try {
    rings_.push_back(ring);
  } catch (const std::bad_alloc&) {
    *why = "out of memory";
    return nullptr;  // g's destructor closes the fd
  }
  g.release();  // rings_ holds the device's reference
  // On an event loop (ABI 1.5): the loop watches the eventfd and reaps the ring itself, so
  // a completion that arrives later (O_DIRECT, a write the kernel gave to its workers)
  // costs one wake-up of that loop and no hand-off between threads.
  if (on_loop && HostHasLoopServices()) {
    ring->watch = g_host->loop_watch_fd(ring->efd, &Device::OnRingReadable, ring);
    if (ring->watch != nullptr) return ring;
  }
  epoll_event ev{};
  // Edge-triggered: every eventfd signal is an event, so the completion thread never needs
  // to read the counter (one system call less per wake-up; it cannot overflow in practice).
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = ring;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, ring->efd, &ev) != 0) {
    *why = "epoll_ctl: " + ErrnoText(errno);
    rings_.pop_back();
    RingUnref(ring);
    return nullptr;
  }
  return ring;
}

void Device::OnRingReadable(void* arg) {
  Ring* g = static_cast<Ring*>(arg);
  RingRef(g);  // completing the last I/O may let the device close meanwhile
  Drain(g);    // a CQE posted after this drained the ring signals a new edge
  RingUnref(g);
}

Ring* Device::ThisRing() {
  const int slot = ThreadSlot();
  Ring* g = slots_[slot].load(std::memory_order_acquire);
  if (g != nullptr) return g;
  std::lock_guard<std::mutex> l(rings_mu_);
  g = slots_[slot].load(std::memory_order_relaxed);
  if (g != nullptr) return g;
  std::string why;
  g = NewRing(&why, true);
  if (g == nullptr) {
    g_host->log(MODTGT_LOG_WARN, "'%s': %s; this thread shares the first ring", path_.c_str(),
                why.c_str());
    g = first_;
  }
  slots_[slot].store(g, std::memory_order_release);
  return g;
}

Req* Device::AllocReq(Ring* g) {
  std::lock_guard<std::mutex> l(g->mu);
  Req* r = g->free_reqs;
  if (r != nullptr) {
    g->free_reqs = r->next_free;
  } else {
    r = new (std::nothrow) Req();
    if (r == nullptr) return nullptr;
    try {
      g->all_reqs.push_back(r);
    } catch (...) {
      delete r;
      return nullptr;
    }
    r->ring = g;
  }
  r->next_free = nullptr;
  r->inline_owner = nullptr;
  r->iov.clear();
  r->iov_first = 0;
  r->atomic = false;
  r->rw_flags = 0;
  r->no_progress = 0;
  r->probe = false;
  r->buf = nullptr;
  r->buf_len = 0;
  r->user_iov = nullptr;
  r->user_iovcnt = 0;
  return r;
}

void Device::FreeReq(Req* r) {
  std::free(r->buf);
  r->buf = nullptr;
  Ring* g = r->ring;
  std::lock_guard<std::mutex> l(g->mu);
  r->next_free = g->free_reqs;
  g->free_reqs = r;
}

// An aligned buffer for an O_DIRECT transfer whose iovecs are not aligned.
uint8_t* Device::BounceAlloc(size_t n) {
  if (!bounce_logged_.exchange(true, std::memory_order_relaxed)) {
    g_host->log(MODTGT_LOG_DEBUG, "'%s': O_DIRECT with unaligned buffers: using bounce buffers",
                path_.c_str());
  }
  return AlignedAlloc(n);
}

void Device::CompletionLoop() {
  for (;;) {
    epoll_event evs[kMaxRings + 1];
    const int n = epoll_wait(epfd_, evs, kMaxRings + 1, -1);
    if (n < 0) {
      if (errno != EINTR) {
        g_host->log(MODTGT_LOG_ERROR, "'%s': epoll_wait: %s", path_.c_str(),
                    ErrnoText(errno).c_str());
        std::this_thread::yield();
      }
      continue;
    }
    bool stop = false;
    for (int i = 0; i < n; i++) {
      Ring* g = static_cast<Ring*>(evs[i].data.ptr);
      if (g == nullptr) {
        stop = true;  // close(): nothing is in flight
        continue;
      }
      Drain(g);  // a CQE posted after this drained the ring signals a new edge
    }
    if (stop) return;
  }
}

}  // namespace bs_uring
