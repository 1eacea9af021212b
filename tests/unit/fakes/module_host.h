// SPDX-License-Identifier: Apache-2.0
// A fake host for a module's own unit tests (modules/*/..._test.cc): the host services of
// include/modtgt/module.h without the daemon, so a test compiles the module's sources into
// its binary and drives it through its descriptor only, as the daemon does.
//
//   modtgt_dev             one device as the host sees it: its config (the test fills it),
//                          the module's private pointer, the size the module set, the fd
//                          the host keeps (shared by devices of one LUN, as
//                          core::Device::InheritKeptStorage does) and the events reported
//   MakeHost()             a host table with every service; a test overrides what it wants
//   Descriptor(host)       modtgt_module_init(host) once, as dlopen would run it
//   t_error                the last message given to host->error on this thread
//   Wait(io, rc, timeout)  the status of an I/O: rc when synchronous, else the status
//                          host->complete got (the test fails after `timeout`)
//   Done(io), Take(io)     whether host->complete got io (not yet waited for); its status and
//                          the thread that completed it, forgotten after
//   FakeLoop, t_loop       the ABI 1.5 loop services (docs/module-sdk.md section 15): the
//   ScopedLoop             thread that sets t_loop (or makes a ScopedLoop) is a loop thread,
//                          which the test turns itself (EndTurn, Turn, FireWatches); on any
//                          other thread loop_defer and loop_watch_fd say MODTGT_ENOTSUP /
//                          NULL, as in the daemon
//   Eventually(done, timeout, step)
//                          step() until done() holds (false after `timeout`): a poll, no sleep
//
// One test binary includes this once (its definitions are the binary's host services).
#pragma once

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "modtgt/module.h"

extern "C" const modtgt_backing_store* modtgt_module_init(const modtgt_host* host);

struct modtgt_dev {
  modtgt_dev_config config{};
  std::string cfgstring, path, bsopts;  // what config's strings point at
  void* priv = nullptr;
  std::atomic<uint64_t> size{0};  // set from the module's threads too
  std::shared_ptr<int> kept = std::make_shared<int>(-1);
  std::mutex mu;
  std::vector<std::pair<int, std::string>> events;  // GUARDED_BY(mu)
};

namespace modtgt::fake_host {

inline thread_local std::string t_error;

inline std::mutex g_mu;
inline std::condition_variable g_cv;
inline std::map<modtgt_io*, int> g_done;                          // GUARDED_BY(g_mu)
inline std::map<modtgt_dev*, modtgt_atomic_limits> g_atomic;      // GUARDED_BY(g_mu): what dev_set_atomic_limits got
inline std::map<modtgt_io*, std::thread::id> g_done_on;          // GUARDED_BY(g_mu): the completing thread

inline void Log(modtgt_log_level, const char*, ...) {}
inline void Error(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  t_error = buf;
}
inline void SetPrivate(modtgt_dev* d, void* p) { d->priv = p; }
inline void* GetPrivate(modtgt_dev* d) { return d->priv; }
inline const modtgt_dev_config* GetConfig(modtgt_dev* d) { return &d->config; }
inline void SetSize(modtgt_dev* d, uint64_t n) { d->size.store(n); }
inline void SetAtomicLimits(modtgt_dev* d, const modtgt_atomic_limits* l) {
  std::lock_guard<std::mutex> g(g_mu);
  g_atomic[d] = *l;
}
inline void Complete(modtgt_io* io, modtgt_status st) {
  std::lock_guard<std::mutex> l(g_mu);
  EXPECT_EQ(g_done.count(io), 0u) << "completed twice";
  g_done[io] = st;
  g_done_on[io] = std::this_thread::get_id();
  g_cv.notify_all();
}
inline void ReportEvent(modtgt_dev* d, modtgt_event e, const char* detail) {
  std::lock_guard<std::mutex> l(d->mu);
  d->events.emplace_back(e, detail ? detail : "");
}
inline int KeepFd(modtgt_dev* d, int fd) {
  if (*d->kept >= 0) close(*d->kept);
  *d->kept = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return *d->kept >= 0 ? 0 : MODTGT_EINVAL;
}
inline int KeptFd(modtgt_dev* d) { return *d->kept; }

// A stand-in for one of the daemon's event loops (ABI 1.5). Not thread-safe: its thread
// (the one that set t_loop) turns it and makes the module's callouts.
struct FakeLoop {
  struct Watch {
    FakeLoop* loop;
    int fd;
    void (*fn)(void*);
    void* arg;
  };
  FakeLoop() : epfd(epoll_create1(EPOLL_CLOEXEC)) {}
  ~FakeLoop() { close(epfd); }
  FakeLoop(const FakeLoop&) = delete;
  FakeLoop& operator=(const FakeLoop&) = delete;
  // The end of a turn: what the turn deferred, until nothing more is deferred.
  void EndTurn() {
    while (!deferred.empty()) {
      auto batch = std::move(deferred);
      deferred.clear();
      for (auto& d : batch) d.first(d.second);
    }
  }
  // One turn: dispatch the readable watched fds (waiting up to `ms`), then the end of the turn.
  void Turn(int ms) {
    epoll_event ev[8];
    const int n = epoll_wait(epfd, ev, 8, ms);
    for (int i = 0; i < n; i++) {
      auto* w = static_cast<Watch*>(ev[i].data.ptr);
      w->fn(w->arg);
    }
    EndTurn();
  }
  // Calls every watched fd's function as an edge would (no end of turn).
  void FireWatches() {
    const std::vector<Watch*> now = live;
    for (Watch* w : now) {
      if (std::find(live.begin(), live.end(), w) != live.end()) w->fn(w->arg);
    }
  }
  int epfd;
  std::vector<Watch*> live;                                // watched, in watch order
  std::vector<std::pair<void (*)(void*), void*>> deferred;  // loop_defer's, this turn
  int watches = 0;                                         // live.size(), for the tests
  int unwatched = 0;                                       // loop_unwatch calls
};
inline thread_local FakeLoop* t_loop = nullptr;

// A FakeLoop that makes the constructing thread its loop thread until it is destroyed.
struct ScopedLoop : FakeLoop {
  ScopedLoop() { t_loop = this; }
  ~ScopedLoop() { t_loop = nullptr; }
};

inline int LoopDefer(void (*fn)(void*), void* arg) {
  if (t_loop == nullptr) return MODTGT_ENOTSUP;
  t_loop->deferred.emplace_back(fn, arg);
  return 0;
}
inline modtgt_watch* LoopWatchFd(int fd, void (*fn)(void*), void* arg) {
  if (t_loop == nullptr) return nullptr;
  auto* w = new FakeLoop::Watch{t_loop, fd, fn, arg};
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = w;
  EXPECT_EQ(epoll_ctl(t_loop->epfd, EPOLL_CTL_ADD, fd, &ev), 0);
  t_loop->watches++;
  t_loop->live.push_back(w);
  return reinterpret_cast<modtgt_watch*>(w);
}
// Any thread, as in the daemon, but not while the watch's loop turns on another.
inline void LoopUnwatch(modtgt_watch* h) {
  auto* w = reinterpret_cast<FakeLoop::Watch*>(h);
  FakeLoop* loop = w->loop;
  EXPECT_EQ(epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, nullptr), 0);
  loop->watches--;
  loop->unwatched++;
  std::erase(loop->live, w);
  delete w;
}

inline modtgt_host MakeHost() {
  modtgt_host h{};
  h.struct_size = sizeof(h);
  h.abi_version = MODTGT_ABI_VERSION;
  h.log = Log;
  h.error = Error;
  h.dev_set_private = SetPrivate;
  h.dev_get_private = GetPrivate;
  h.dev_get_config = GetConfig;
  h.dev_set_size = SetSize;
  h.complete = Complete;
  h.dev_report_event = ReportEvent;
  h.dev_set_atomic_limits = SetAtomicLimits;
  h.dev_keep_fd = KeepFd;
  h.dev_kept_fd = KeptFd;
  h.loop_defer = LoopDefer;
  h.loop_watch_fd = LoopWatchFd;
  h.loop_unwatch = LoopUnwatch;
  return h;
}

// `host` must outlive the test binary's use of the module (a static in the test).
inline const modtgt_backing_store* Descriptor(const modtgt_host* host) {
  static const modtgt_backing_store* desc = modtgt_module_init(host);
  return desc;
}

inline int Wait(modtgt_io* io, int rc, std::chrono::seconds timeout) {
  if (rc != MODTGT_STS_ASYNC) return rc;
  std::unique_lock<std::mutex> l(g_mu);
  EXPECT_TRUE(g_cv.wait_for(l, timeout, [&] { return g_done.count(io) > 0; }));
  int st = g_done[io];
  g_done.erase(io);
  g_done_on.erase(io);
  return st;
}

inline bool Done(modtgt_io* io) {
  std::lock_guard<std::mutex> l(g_mu);
  return g_done.count(io) > 0;
}

// The status host->complete got for `io` and the thread it was called on; the test fails
// if it was not called. Forgets both (as Wait does).
inline std::pair<int, std::thread::id> Take(modtgt_io* io) {
  std::lock_guard<std::mutex> l(g_mu);
  auto it = g_done.find(io);
  if (it == g_done.end()) {
    ADD_FAILURE() << "I/O " << io << " was not completed";
    return {-1, std::thread::id()};
  }
  std::pair<int, std::thread::id> r{it->second, g_done_on[io]};
  g_done.erase(it);
  g_done_on.erase(io);
  return r;
}

template <class Pred, class Step>
bool Eventually(Pred done, std::chrono::seconds timeout, Step step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    step();
  }
  return true;
}

}  // namespace modtgt::fake_host
