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
//
// One test binary includes this once (its definitions are the binary's host services).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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
  return st;
}

}  // namespace modtgt::fake_host
