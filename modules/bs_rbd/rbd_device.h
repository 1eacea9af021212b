// SPDX-License-Identifier: Apache-2.0
// bs_rbd internals shared by its files: the cluster connection, one in-flight request
// (Req) and the device (Device). rbd.cc: open/close, I/O, reconfiguration and the C ABI;
// rbd_lock.cc: the exclusive lock (lock group) and the monitor thread. Threading and the
// lock design are described at the top of rbd.cc.
#pragma once

#include <dlfcn.h>
#include <limits.h>
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <new>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "modtgt/module.h"
#include "rbd_config.h"

namespace modtgt::rbd {

// The host services table (set by modtgt_module_init).
extern const modtgt_host* g_host;

inline constexpr size_t kMaxLockOwners = 8;
inline constexpr auto kMonitorPeriod = std::chrono::seconds(1);
inline constexpr uint64_t kNativeCawMax = 512;  // librbd 16: compare-and-write within one sector
inline constexpr const char* kTagKey = "modtgt.lock_tag";  // image metadata: "TAG OWNER"

std::string ErrText(int e);

// I/O errors that say "not now" rather than "this data is bad": the initiator should retry
// (later, or on another gateway). -ESHUTDOWN is librados' EBLOCKLISTED.
bool Retriable(int r);

// librados' and librbd's connection and open errors as a MODTGT_E* code.
int ModtgtError(int r);

// librbd calls the progress callback of rbd_resize2 unconditionally: it must not be NULL.
int NoProgress(uint64_t, uint64_t, void*);

std::string UserName(const RbdConfig& c);

// ---- Connection: one cluster handle, pool context and open image ----

class Connection {
 public:
  using WatchFn = void (*)(void*);
  // Connects as cfg says and opens the image (read-only when `readonly` or for a snapshot).
  // With `watch`, registers it for image header updates (size changes). Returns 0, or a
  // negative MODTGT_E* with the reason in *why.
  static int Open(const RbdConfig& cfg, bool readonly, WatchFn watch, void* watch_arg,
                  std::unique_ptr<Connection>* out, std::string* why);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  rbd_image_t image() const { return image_; }
  // One round trip to the OSD holding the image's header object (rados_stat, bounded by
  // osd_op_timeout; librbd's cache cannot answer it). 0 or -ENOENT: the cluster answered.
  int Ping();

 private:
  Connection() = default;
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
  rbd_image_t image_ = nullptr;
  std::string header_oid_;  // the image's header object, for Ping
  bool watching_ = false;
  uint64_t watch_handle_ = 0;
};

// ---- One device (LUN) ----

class Device;

enum class Op { kRead, kWrite, kFlush, kDiscard, kWriteSame, kCaw, kCawRead, kCawWrite };

// One I/O in flight. Pooled per device; buf keeps its capacity across uses.
struct Req {
  Req* next_free = nullptr;
  Device* dev = nullptr;
  modtgt_io* io = nullptr;
  Op op = Op::kRead;
  bool flush_after = false;  // FUA / WCE=0: rbd_aio_flush before completing
  bool flushing = false;     // the flush stage is running
  uint64_t offset = 0;
  uint64_t length = 0;
  std::vector<uint8_t> buf;  // bounce (reads/writes with > IOV_MAX iovecs), pattern, CAW
  const iovec* user_iov = nullptr;  // kRead: the caller's buffer
  int user_iovcnt = 0;
  bool bounce = false;              // kRead: read into buf, copied to user_iov at the end
  uint64_t mismatch_off = 0;  // rbd_aio_compare_and_write's out-parameter
};

class Device {
 public:
  // Opens the device (connect, open, lock); on failure returns a negative MODTGT_E* with the
  // reason through host->error and leaves *out null.
  static int Open(modtgt_dev* dev, Device** out);
  ~Device();

  int Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset);
  int Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags);
  int Flush(modtgt_io* io);
  int Unmap(modtgt_io* io, uint64_t offset, uint64_t length);
  int WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint64_t length);
  int Caw(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint64_t length);
  int Reconfig(const modtgt_reconfig* rc);
  int ReconfigLocked(const modtgt_reconfig* rc);
  int Lock(uint16_t tag);
  int Unlock();
  int GetLockTag(uint16_t* tag);
  int GetLockState() const { return lock_state_.load(); }

 private:
  Device() = default;

  // Connects cfg_ and, for a writable image with the exclusive-lock feature and lock=take,
  // takes the lock. Returns 0 or MODTGT_E* with *why; *conn is the new connection.
  // REQUIRES: lock_op_mu_ held.
  int Connect(bool take_lock, std::unique_ptr<Connection>* conn, std::string* why);
  // Breaks another holder's lock and acquires it on `image`; records `tag`. Returns 0 or a
  // negative errno with *why.
  int TakeLock(rbd_image_t image, uint16_t tag, std::string* why);
  // The monitor saw the image's size change (rbd resize elsewhere): the LUN follows.
  // REQUIRES: size_mu_ held.
  void ApplyImageSize(uint64_t image_size);

  Req* AllocReq();
  void FreeReq(Req* r);
  // Starts r's current stage on the current connection. Returns MODTGT_STS_ASYNC, or a
  // final status (r is then still the caller's).
  int Start(Req* r);
  // Start() from a callout: releases r when it did not start.
  int StartCallout(Req* r);
  int Submit(Req* r, rbd_image_t image, rbd_completion_t c);
  static void OnAio(rbd_completion_t c, void* arg);
  void OnDone(Req* r, ssize_t ret);
  void Finish(Req* r, int status);
  int StatusFor(const Req* r, int ret);
  // A result seen by I/O or the monitor: a timeout (no answer) reports CONN_LOST. Only a
  // result that came from the cluster (`from_cluster`: Connection::Ping) reports
  // CONN_RESTORED: an I/O can complete from librbd's cache with the cluster still away.
  void NoteResult(int ret, bool from_cluster);
  void LockLost(const std::string& why, bool blocklisted);
  void CawNext();
  bool Gather(Req* r, const iovec* iov, int iovcnt);

  static void OnImageUpdate(void* arg);
  void MonitorLoop();
  // One round of the monitor on the current image: size, lock ownership, connection.
  void Probe(Connection* conn, bool size_dirty);
  void Reconnect();
  void StartMonitor();
  void StopMonitor();

  modtgt_dev* dev_ = nullptr;
  RbdConfig cfg_;
  uint32_t block_ = 512;
  bool readonly_ = false;       // the LUN is read-only, or cfg_ is a snapshot
  std::atomic<bool> has_lock_feature_{false};

  mutable std::shared_mutex conn_mu_;
  std::unique_ptr<Connection> conn_;  // GUARDED_BY(conn_mu_); null only while failed

  std::atomic<bool> write_cache_{true};
  std::atomic<bool> may_write_{true};  // false: no lock (standby, lost); writes refused
  // The status of a write refused here: a read-only LUN (snapshot) never writes (BUSY: the
  // core does not send writes to it anyway); a writable one without the lock answers
  // NOT_LOCK_OWNER (02/04/0B: multipath retries on the gateway holding the lock).
  int WriteRefused() const { return readonly_ ? MODTGT_STS_BUSY : MODTGT_STS_NOT_LOCK_OWNER; }
  std::atomic<int> lock_state_{MODTGT_LOCK_UNLOCKED};
  std::atomic<bool> lock_lost_{false};   // lost since the last lock(): reconnect first
  std::atomic<bool> conn_lost_{false};   // CONN_LOST reported, CONN_RESTORED not yet
  std::mutex lock_op_mu_;                // lock(), unlock(), reconfig: one at a time
  std::string owner_;                    // our lock owner string; GUARDED_BY(lock_op_mu_)

  std::mutex size_mu_;
  uint64_t image_size_ = 0;              // GUARDED_BY(size_mu_): last seen image size
  std::atomic<uint64_t> size_{0};        // the LUN's size

  std::mutex caw_mu_;
  bool caw_active_ = false;              // GUARDED_BY(caw_mu_): an emulated CAW runs
  std::deque<Req*> caw_queue_;           // GUARDED_BY(caw_mu_)

  std::mutex mon_mu_;
  std::condition_variable mon_cv_;
  bool mon_stop_ = false;                // GUARDED_BY(mon_mu_)
  bool mon_size_dirty_ = false;          // GUARDED_BY(mon_mu_)
  bool reconnect_failing_ = false;       // monitor thread only
  std::thread monitor_;

  std::mutex pool_mu_;
  Req* free_reqs_ = nullptr;             // GUARDED_BY(pool_mu_)
  std::vector<Req*> all_reqs_;           // GUARDED_BY(pool_mu_); owned
};

}  // namespace modtgt::rbd
