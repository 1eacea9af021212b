// SPDX-License-Identifier: Apache-2.0
//
// bs_rbd: a Ceph RBD image, or a snapshot of one, through librbd's asynchronous API.
//
// Asynchronous (nr_threads = 0): the callouts run on the daemon's event-loop threads, start
// one librbd aio operation each and return MODTGT_STS_ASYNC; librbd calls back on its own
// threads, where the module calls host->complete(). No thread per I/O, nothing blocks a loop
// (librbd's rbd_non_blocking_aio, on by default, queues the aio calls to its own thread).
//
//   read / write   rbd_aio_readv / rbd_aio_writev. FUA, or the write cache off (WCE=0):
//                  the write, then rbd_aio_flush before the completion.
//   flush          rbd_aio_flush.
//   unmap          rbd_aio_discard, with rbd_skip_partial_discard=false so that a partial
//                  object is zeroed: unmapped blocks always read as zeros (LBPRZ, thin).
//   write_same     rbd_aio_writesame (librbd turns a zero pattern into a discard).
//   caw            rbd_aio_compare_and_write when the range is inside one 512-byte sector
//                  (librbd 16's limit: always so with 512-byte blocks, the core sends one
//                  block); larger blocks are read, compared and written by the module, one
//                  COMPARE AND WRITE at a time per LUN, under the exclusive lock.
//
// Cluster connection: one rados_t per LUN (so that blocklisting one LUN's client, when
// another gateway breaks its lock, touches no other LUN), with rados_osd_op_timeout,
// rados_mon_op_timeout and client_mount_timeout from the config: an unreachable cluster
// fails I/O with BUSY (the initiator retries) within osd_op_timeout, and librados reconnects
// by itself when the cluster is back. A timeout of any I/O reports CONN_LOST; the monitor
// thread then pings the image's header object once a second and its first answer reports
// CONN_RESTORED (an I/O's success proves nothing: librbd's cache may have answered it).
//
// Exclusive lock (images with the exclusive-lock feature, writable LUNs): with lock=take
// (default) open() breaks any other holder's lock (librbd blocklists it) and acquires it with
// rbd_lock_acquire, which also makes librbd refuse to hand the lock over cooperatively. A
// monitor thread per LUN asks rbd_is_exclusive_lock_owner every second (librbd asserts the
// lock on the OSD, so a break is seen); a lost lock is reported (LOCK_LOST) and from then on
// the module refuses every write itself (MODTGT_STS_NOT_LOCK_OWNER: NOT READY, TARGET PORT IN
// STANDBY STATE, so multipath retries on the gateway holding the lock), besides the OSDs
// refusing a blocklisted client. lock() takes the lock back (reconnecting first: the old
// client is blocklisted).
// The monitor also applies size changes made outside (rbd resize), seen through
// rbd_update_watch, with host->dev_set_size.
//
// Files: rbd_device.h (Connection, Req, Device), this file (open/close, I/O,
// reconfiguration, the C ABI), rbd_lock.cc (the exclusive lock and the monitor thread).
//
// Threading: callouts run on several event loops at once; the connection they use is read
// under conn_mu_ (shared), replaced under conn_mu_ (exclusive) by reconfig (device drained)
// and lock() (quickly: the new connection is made before, the old one closed after).
// Completions run on librbd's threads. Lifecycle and lock-group callouts run on the admin
// thread, one at a time. close() stops the monitor thread and closes the image (librbd waits
// for its callbacks).
#include <dlfcn.h>
#include <limits.h>

#include "../common/config_size.h"
#include "rbd_device.h"

namespace modtgt::rbd {

const modtgt_host* g_host = nullptr;

std::string ErrText(int e) { return std::strerror(e < 0 ? -e : e); }

// I/O errors that say "not now" rather than "this data is bad": the initiator should retry
// (later, or on another gateway). -ESHUTDOWN is librados' EBLOCKLISTED.
bool Retriable(int r) {
  return r == -ETIMEDOUT || r == -ENOTCONN || r == -ECONNRESET || r == -ESHUTDOWN ||
         r == -EROFS || r == -EAGAIN || r == -EBUSY;
}

// librados' and librbd's connection and open errors as a MODTGT_E* code.
int ModtgtError(int r) {
  switch (-r) {
    case ENOENT: return MODTGT_ENOENT;
    case EACCES:
    case EPERM: return MODTGT_EACCES;
    case ENOMEM: return MODTGT_ENOMEM;
    case EBUSY: return MODTGT_EBUSY;
    case EINVAL: return MODTGT_EINVAL;
    case EOPNOTSUPP: return MODTGT_ENOTSUP;
    default: return MODTGT_EIO;
  }
}

// librbd calls the progress callback of rbd_resize2 unconditionally: it must not be NULL.
int NoProgress(uint64_t, uint64_t, void*) { return 0; }

std::string UserName(const RbdConfig& c) { return "client." + (c.id.empty() ? "admin" : c.id); }

int Connection::Open(const RbdConfig& cfg, bool readonly, WatchFn watch, void* watch_arg,
                     std::unique_ptr<Connection>* out, std::string* why) {
  std::unique_ptr<Connection> c(new (std::nothrow) Connection());
  if (!c) {
    *why = "out of memory";
    return MODTGT_ENOMEM;
  }
  const std::string user = UserName(cfg);
  int r = rados_create(&c->cluster_, cfg.id.empty() ? nullptr : cfg.id.c_str());
  if (r < 0) {
    c->cluster_ = nullptr;
    *why = "rados_create(" + user + "): " + ErrText(r);
    return ModtgtError(r);
  }
  r = rados_conf_read_file(c->cluster_, cfg.conf.empty() ? nullptr : cfg.conf.c_str());
  if (r < 0 && !cfg.conf.empty()) {
    *why = "cannot read the Ceph configuration '" + cfg.conf + "': " + ErrText(r);
    return r == -ENOENT ? MODTGT_ENOENT : MODTGT_EINVAL;
  }
  rados_conf_parse_env(c->cluster_, nullptr);  // CEPH_ARGS, as the ceph tools do
  struct {
    const char* key;
    std::string value;
  } const settings[] = {
      {"keyring", cfg.keyring},
      {"rados_osd_op_timeout", std::to_string(cfg.osd_op_timeout)},
      {"rados_mon_op_timeout", std::to_string(cfg.mon_op_timeout)},
      {"client_mount_timeout", std::to_string(cfg.mon_op_timeout)},
      // Partial-object discards zero the range instead of being skipped, so unmapped
      // blocks read as zeros (the module declares MODTGT_CAP_THIN / LBPRZ).
      {"rbd_skip_partial_discard", "false"},
  };
  for (const auto& s : settings) {
    if (s.value.empty()) continue;
    r = rados_conf_set(c->cluster_, s.key, s.value.c_str());
    if (r < 0) {
      *why = std::string("cannot set ") + s.key + "=" + s.value + ": " + ErrText(r);
      return MODTGT_EINVAL;
    }
  }
  r = rados_connect(c->cluster_);
  if (r < 0) {
    const std::string where = cfg.conf.empty() ? "the default Ceph configuration"
                                               : "'" + cfg.conf + "'";
    if (r == -ETIMEDOUT) {
      *why = "cannot reach the Ceph monitors of " + where + " within " +
             std::to_string(cfg.mon_op_timeout) + " s (mon_op_timeout)";
    } else if (r == -EACCES || r == -EPERM) {
      *why = "the cluster of " + where + " refused " + user + ": " + ErrText(r) +
             " (check id= and keyring=)";
    } else if (r == -ENOENT) {
      *why = "cannot connect as " + user + " with " + where + ": " + ErrText(r) +
             " (no monitor address, or no keyring for the user: check conf= and keyring=)";
    } else {
      *why = "cannot connect as " + user + " with " + where + ": " + ErrText(r);
    }
    rados_shutdown(c->cluster_);  // a failed connect still needs its handle released
    c->cluster_ = nullptr;
    return ModtgtError(r);
  }
  r = rados_ioctx_create(c->cluster_, cfg.pool.c_str(), &c->io_);
  if (r < 0) {
    c->io_ = nullptr;
    *why = r == -ENOENT ? "pool '" + cfg.pool + "' does not exist"
                        : "cannot open pool '" + cfg.pool + "': " + ErrText(r);
    return ModtgtError(r);
  }
  if (!cfg.ns.empty()) rados_ioctx_set_namespace(c->io_, cfg.ns.c_str());
  const char* snap = cfg.snap.empty() ? nullptr : cfg.snap.c_str();
  if (readonly || snap != nullptr) {
    r = rbd_open_read_only(c->io_, cfg.image.c_str(), &c->image_, snap);
  } else {
    r = rbd_open(c->io_, cfg.image.c_str(), &c->image_, nullptr);
  }
  if (r < 0) {
    c->image_ = nullptr;
    RbdConfig head = cfg;
    head.snap.clear();
    if (r == -ENOENT && snap != nullptr) {
      rbd_image_t probe = nullptr;
      if (rbd_open_read_only(c->io_, cfg.image.c_str(), &probe, nullptr) == 0) {
        rbd_close(probe);
        *why = "image '" + head.Name() + "' has no snapshot '" + cfg.snap + "'";
        return MODTGT_ENOENT;
      }
    }
    *why = r == -ENOENT ? "image '" + head.Name() + "' does not exist"
                        : "cannot open image '" + cfg.Name() + "': " + ErrText(r);
    return ModtgtError(r);
  }
  if (watch != nullptr) {
    r = rbd_update_watch(c->image_, &c->watch_handle_, watch, watch_arg);
    if (r < 0) {
      *why = "cannot watch image '" + cfg.Name() + "' for changes: " + ErrText(r);
      return ModtgtError(r);
    }
    c->watching_ = true;
  }
  char id[64];
  if (rbd_get_id(c->image_, id, sizeof(id)) == 0) {
    c->header_oid_ = std::string("rbd_header.") + id;
  } else {
    c->header_oid_ = cfg.image + ".rbd";  // format 1 image
  }
  *out = std::move(c);
  return 0;
}

int Connection::Ping() {
  uint64_t size = 0;
  time_t mtime = 0;
  return rados_stat(io_, header_oid_.c_str(), &size, &mtime);
}

Connection::~Connection() {
  if (watching_) rbd_update_unwatch(image_, watch_handle_);  // waits for its callbacks
  if (image_ != nullptr) rbd_close(image_);                   // releases a held lock
  if (io_ != nullptr) rados_ioctx_destroy(io_);
  if (cluster_ != nullptr) rados_shutdown(cluster_);
}

// ---- Checks shared by check_config, open and reconfig ----

// Parses the device's config string and bsopts and checks what needs no cluster.
int ParseDevConfig(const modtgt_dev_config* cfg, const char* path, RbdConfig* out,
                   std::string* why) {
  if (!ParseRbdConfig(path, cfg->bsopts, out, why)) return MODTGT_EINVAL;
  const uint32_t bs = cfg->block_size ? cfg->block_size : 512;
  if (cfg->size % bs != 0) {
    *why = "size " + std::to_string(cfg->size) + " is not a multiple of the " +
           std::to_string(bs) + "-byte block size";
    return MODTGT_EINVAL;
  }
  if (cfg->oflags != 0) {
    *why = "rbd takes no bsoflags (direct/sync are file options; the write cache and FUA "
           "are honoured with librbd flushes)";
    return MODTGT_EINVAL;
  }
  if (!out->snap.empty() && !cfg->readonly) {
    *why = "'" + out->Name() + "' is a snapshot, which is read-only: create the LUN with "
           "--params readonly=1";
    return MODTGT_EINVAL;
  }
  if (out->lock_given && (cfg->readonly || !out->snap.empty())) {
    *why = "lock= applies to writable LUNs only (a read-only LUN never takes the lock)";
    return MODTGT_EINVAL;
  }
  return 0;
}

int Device::Open(modtgt_dev* dev, Device** out) {
  *out = nullptr;
  const modtgt_dev_config* cfg = g_host->dev_get_config(dev);
  std::unique_ptr<Device> d(new (std::nothrow) Device());
  if (!d) {
    g_host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  std::string why;
  int rc = ParseDevConfig(cfg, cfg->path, &d->cfg_, &why);
  if (rc != 0) {
    g_host->error("%s", why.c_str());
    return rc;
  }
  d->dev_ = dev;
  d->block_ = cfg->block_size ? cfg->block_size : 512;
  d->readonly_ = cfg->readonly != 0 || !d->cfg_.snap.empty();
  d->write_cache_.store(cfg->write_cache != 0);
  std::unique_ptr<Connection> conn;
  {
    std::lock_guard<std::mutex> l(d->lock_op_mu_);
    rc = d->Connect(d->cfg_.lock == LockMode::kTake, &conn, &why);
  }
  if (rc != 0) {
    g_host->error("%s", why.c_str());
    return rc;
  }
  uint64_t image_size = 0;
  int r = rbd_get_size(conn->image(), &image_size);
  if (r < 0) {
    g_host->error("cannot get the size of '%s': %s", d->cfg_.Name().c_str(), ErrText(r).c_str());
    return ModtgtError(r);
  }
  if (cfg->size > image_size) {
    if (d->readonly_) {
      g_host->error("'%s' has %llu bytes, fewer than the requested size %llu (a read-only "
                    "LUN cannot grow its image)", d->cfg_.Name().c_str(),
                    static_cast<unsigned long long>(image_size),
                    static_cast<unsigned long long>(cfg->size));
      return MODTGT_EINVAL;
    }
    if (!d->may_write_.load()) {
      g_host->error("'%s' has %llu bytes, fewer than the requested size %llu, and this "
                    "gateway does not hold its exclusive lock (lock=standby)",
                    d->cfg_.Name().c_str(), static_cast<unsigned long long>(image_size),
                    static_cast<unsigned long long>(cfg->size));
      return MODTGT_EINVAL;
    }
    r = rbd_resize2(conn->image(), cfg->size, false, NoProgress, nullptr);
    if (r < 0) {
      g_host->error("cannot grow '%s' to %llu bytes: %s", d->cfg_.Name().c_str(),
                    static_cast<unsigned long long>(cfg->size), ErrText(r).c_str());
      return ModtgtError(r);
    }
    image_size = cfg->size;
  }
  const uint64_t lun = cfg->size != 0 ? cfg->size : image_size - image_size % d->block_;
  if (lun == 0) {
    g_host->error("'%s' is smaller than one %u-byte block", d->cfg_.Name().c_str(), d->block_);
    return MODTGT_EINVAL;
  }
  {
    std::lock_guard<std::mutex> l(d->size_mu_);
    d->image_size_ = image_size;
  }
  d->size_.store(lun);
  {
    std::unique_lock<std::shared_mutex> l(d->conn_mu_);
    d->conn_ = std::move(conn);
  }
  g_host->dev_set_private(dev, d.get());
  g_host->dev_set_size(dev, lun);
  d->StartMonitor();
  g_host->log(MODTGT_LOG_INFO, "opened %s as %s (%llu bytes%s%s)", d->cfg_.Name().c_str(),
              UserName(d->cfg_).c_str(), static_cast<unsigned long long>(lun),
              d->readonly_ ? ", read-only" : "",
              d->lock_state_.load() == MODTGT_LOCK_LOCKED ? ", exclusive lock held"
              : d->has_lock_feature_ && !d->readonly_     ? ", standby (no lock)"
                                                          : "");
  *out = d.release();
  return 0;
}

int Device::Connect(bool take_lock, std::unique_ptr<Connection>* conn, std::string* why) {
  int rc = Connection::Open(cfg_, readonly_, &Device::OnImageUpdate, this, conn, why);
  if (rc != 0) return rc;
  uint64_t features = 0;
  int r = rbd_get_features((*conn)->image(), &features);
  if (r < 0) {
    *why = "cannot read the features of '" + cfg_.Name() + "': " + ErrText(r);
    conn->reset();
    return ModtgtError(r);
  }
  has_lock_feature_.store((features & RBD_FEATURE_EXCLUSIVE_LOCK) != 0);
  if (readonly_ || !has_lock_feature_) {
    if (!readonly_) {
      g_host->log(MODTGT_LOG_WARN, "%s has no exclusive-lock feature: nothing stops another "
                  "gateway from writing it at the same time (rbd feature enable %s "
                  "exclusive-lock)", cfg_.Name().c_str(), cfg_.Name().c_str());
    }
    lock_state_.store(MODTGT_LOCK_UNLOCKED);
    may_write_.store(!readonly_);
    return 0;
  }
  if (!take_lock) {
    lock_state_.store(MODTGT_LOCK_UNLOCKED);
    may_write_.store(false);
    return 0;
  }
  lock_state_.store(MODTGT_LOCK_LOCKING);
  r = TakeLock((*conn)->image(), 0, why);
  if (r < 0) {
    lock_state_.store(MODTGT_LOCK_UNLOCKED);
    conn->reset();
    return ModtgtError(r);
  }
  lock_state_.store(MODTGT_LOCK_LOCKED);
  lock_lost_.store(false);
  may_write_.store(true);
  return 0;
}

Device::~Device() {
  StopMonitor();
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock<std::shared_mutex> l(conn_mu_);
    conn.swap(conn_);
  }
  conn.reset();  // rbd_close waits for librbd's callbacks and releases the lock
  std::lock_guard<std::mutex> l(pool_mu_);
  for (Req* r : all_reqs_) delete r;
}

// ---- I/O ----

Req* Device::AllocReq() {
  std::lock_guard<std::mutex> l(pool_mu_);
  if (free_reqs_ != nullptr) {
    Req* r = free_reqs_;
    free_reqs_ = r->next_free;
    return r;
  }
  Req* r = new (std::nothrow) Req();
  if (r == nullptr) return nullptr;
  try {
    all_reqs_.push_back(r);
  } catch (const std::bad_alloc&) {
    delete r;
    return nullptr;
  }
  r->dev = this;
  return r;
}

void Device::FreeReq(Req* r) {
  r->io = nullptr;
  r->flush_after = false;
  r->flushing = false;
  r->user_iov = nullptr;
  r->user_iovcnt = 0;
  r->bounce = false;
  r->buf.clear();
  std::lock_guard<std::mutex> l(pool_mu_);
  r->next_free = free_reqs_;
  free_reqs_ = r;
}

// Copies iov into r->buf (contiguous). False when out of memory.
bool Device::Gather(Req* r, const iovec* iov, int iovcnt) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  try {
    r->buf.resize(total);
  } catch (const std::bad_alloc&) {
    return false;
  }
  uint8_t* dst = r->buf.data();
  for (int i = 0; i < iovcnt; i++) {
    std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
    dst += iov[i].iov_len;
  }
  return true;
}

int Device::StatusFor(const Req* r, int ret) {
  if (ret >= 0) return MODTGT_STS_OK;
  if (ret == -EILSEQ && r->op == Op::kCaw) return MODTGT_STS_MISCOMPARE;
  if ((ret == -ESHUTDOWN || ret == -EROFS) && has_lock_feature_.load() && !readonly_) {
    // Blocklisted (another gateway broke our lock) or refused without the lock: nothing
    // reached the image; the initiator's multipath retries on the gateway holding it.
    if (ret == -ESHUTDOWN) LockLost("this client was blocklisted", true);
    return MODTGT_STS_NOT_LOCK_OWNER;
  }
  if (Retriable(ret)) return MODTGT_STS_BUSY;
  if (ret == -ENOMEM) return MODTGT_STS_NO_RESOURCE;
  const bool read = r->op == Op::kRead || r->op == Op::kCawRead;
  g_host->log(MODTGT_LOG_ERROR, "%s: %s at %llu (+%llu) failed: %s", cfg_.Name().c_str(),
              read ? "read" : r->flushing ? "flush" : "write",
              static_cast<unsigned long long>(r->offset),
              static_cast<unsigned long long>(r->length), ErrText(ret).c_str());
  return read ? MODTGT_STS_READ_ERROR : MODTGT_STS_WRITE_ERROR;
}

// The librbd call for r's current stage. Returns librbd's submission result.
int Device::Submit(Req* r, rbd_image_t image, rbd_completion_t c) {
  if (r->flushing) return rbd_aio_flush(image, c);
  switch (r->op) {
    case Op::kRead:  // only reads through buf come here (Read() submits the others)
      return rbd_aio_read(image, r->offset, r->length, reinterpret_cast<char*>(r->buf.data()),
                          c);
    case Op::kCawRead:  // the medium goes after the compare and write data
      return rbd_aio_read(image, r->offset, r->length,
                          reinterpret_cast<char*>(r->buf.data() + 2 * r->length), c);
    case Op::kWrite:
      return rbd_aio_write(image, r->offset, r->length,
                           reinterpret_cast<const char*>(r->buf.data()), c);
    case Op::kCawWrite:
      return rbd_aio_write(image, r->offset, r->length,
                           reinterpret_cast<const char*>(r->buf.data() + r->length), c);
    case Op::kFlush:
      return rbd_aio_flush(image, c);
    case Op::kDiscard:
      return rbd_aio_discard(image, r->offset, r->length, c);
    case Op::kWriteSame:
      return rbd_aio_writesame(image, r->offset, r->length,
                               reinterpret_cast<const char*>(r->buf.data()), r->buf.size(), c,
                               0);
    case Op::kCaw: {
      const ssize_t n = rbd_aio_compare_and_write(
          image, r->offset, r->length, reinterpret_cast<const char*>(r->buf.data()),
          reinterpret_cast<const char*>(r->buf.data() + r->length), c, &r->mismatch_off, 0);
      return n < 0 ? static_cast<int>(n) : 0;
    }
  }
  return -EINVAL;
}

int Device::Start(Req* r) {
  std::shared_lock<std::shared_mutex> l(conn_mu_);
  if (!conn_) return MODTGT_STS_BUSY;
  rbd_completion_t c = nullptr;
  int ret = rbd_aio_create_completion(r, &Device::OnAio, &c);
  if (ret < 0) return MODTGT_STS_NO_RESOURCE;
  ret = Submit(r, conn_->image(), c);
  if (ret < 0) {
    rbd_aio_release(c);
    return StatusFor(r, ret);
  }
  return MODTGT_STS_ASYNC;
}

int Device::StartCallout(Req* r) {
  const int st = Start(r);
  if (st != MODTGT_STS_ASYNC) FreeReq(r);
  return st;
}

void Device::OnAio(rbd_completion_t c, void* arg) {
  const ssize_t ret = rbd_aio_get_return_value(c);
  rbd_aio_release(c);
  Req* r = static_cast<Req*>(arg);
  r->dev->OnDone(r, ret);
}

// On a librbd thread: the next stage of r, or its completion.
void Device::OnDone(Req* r, ssize_t ret) {
  const int rv = ret < 0 ? static_cast<int>(ret) : 0;
  NoteResult(rv, false);
  if (rv == -ESHUTDOWN || (rv == -EROFS && !readonly_ && !r->flushing &&
                           r->op != Op::kRead && r->op != Op::kCawRead)) {
    LockLost(rv == -ESHUTDOWN ? "this client was blocklisted (an I/O was refused)"
                              : "librbd refused a write (the lock is not ours)",
             rv == -ESHUTDOWN);
  }
  if (rv == 0) {
    switch (r->op) {
      case Op::kRead:
      case Op::kCawRead:
        if (static_cast<uint64_t>(ret) < r->length) {
          // librbd clips a read at the end of the image: past it (an image shrunk underneath
          // before the LUN followed) reads as zeros.
          if (r->op == Op::kCawRead || r->bounce) {
            uint8_t* base = r->buf.data() + (r->op == Op::kCawRead ? 2 * r->length : 0);
            std::memset(base + ret, 0, r->length - static_cast<uint64_t>(ret));
          } else {
            uint64_t skip = static_cast<uint64_t>(ret);
            for (int i = 0; i < r->user_iovcnt; i++) {
              const uint64_t len = r->user_iov[i].iov_len;
              if (skip >= len) {
                skip -= len;
                continue;
              }
              std::memset(static_cast<uint8_t*>(r->user_iov[i].iov_base) + skip, 0, len - skip);
              skip = 0;
            }
          }
        }
        if (r->op == Op::kCawRead) {
          // Emulated COMPARE AND WRITE: compare, then write (still one at a time per LUN).
          if (std::memcmp(r->buf.data(), r->buf.data() + 2 * r->length, r->length) != 0) {
            Finish(r, MODTGT_STS_MISCOMPARE);
            return;
          }
          r->op = Op::kCawWrite;
          const int st = Start(r);
          if (st != MODTGT_STS_ASYNC) Finish(r, st);
          return;
        }
        if (r->bounce) {
          const uint8_t* src = r->buf.data();
          for (int i = 0; i < r->user_iovcnt; i++) {
            std::memcpy(r->user_iov[i].iov_base, src, r->user_iov[i].iov_len);
            src += r->user_iov[i].iov_len;
          }
        }
        break;
      default:
        break;
    }
    if (r->flush_after && !r->flushing) {
      // The same request again as a flush: it covers this write and everything before it.
      r->flushing = true;
      const int st = Start(r);
      if (st != MODTGT_STS_ASYNC) Finish(r, st);
      return;
    }
  }
  Finish(r, StatusFor(r, rv));
}

// Completes r's I/O with status: releases r first (the core may close the device as soon
// as the last I/O completes).
void Device::Finish(Req* r, int status) {
  modtgt_io* io = r->io;
  const bool emulated_caw = r->op == Op::kCawRead || r->op == Op::kCawWrite;
  FreeReq(r);
  if (emulated_caw) CawNext();
  g_host->complete(io, static_cast<modtgt_status>(status));
}

int Device::Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  if (total == 0) return MODTGT_STS_OK;
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kRead;
  r->offset = offset;
  r->length = total;
  r->user_iov = iov;
  r->user_iovcnt = iovcnt;
  if (iovcnt > IOV_MAX) {  // librbd takes at most IOV_MAX iovecs: read through one buffer
    try {
      r->buf.resize(total);
    } catch (const std::bad_alloc&) {
      FreeReq(r);
      return MODTGT_STS_NO_RESOURCE;
    }
    r->bounce = true;
    return StartCallout(r);
  }
  std::shared_lock<std::shared_mutex> l(conn_mu_);
  if (!conn_) {
    FreeReq(r);
    return MODTGT_STS_BUSY;
  }
  rbd_completion_t c = nullptr;
  if (rbd_aio_create_completion(r, &Device::OnAio, &c) < 0) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  const int ret = rbd_aio_readv(conn_->image(), iov, iovcnt, offset, c);
  if (ret < 0) {
    rbd_aio_release(c);
    const int st = StatusFor(r, ret);
    FreeReq(r);
    return st;
  }
  return MODTGT_STS_ASYNC;
}

int Device::Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                  uint32_t flags) {
  if (!may_write_.load(std::memory_order_relaxed)) return WriteRefused();
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  if (total == 0) return MODTGT_STS_OK;
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kWrite;
  r->offset = offset;
  r->length = total;
  r->flush_after = (flags & MODTGT_IO_FUA) != 0 || !write_cache_.load(std::memory_order_relaxed);
  if (iovcnt > IOV_MAX) {
    if (!Gather(r, iov, iovcnt)) {
      FreeReq(r);
      return MODTGT_STS_NO_RESOURCE;
    }
    return StartCallout(r);
  }
  std::shared_lock<std::shared_mutex> l(conn_mu_);
  if (!conn_) {
    FreeReq(r);
    return MODTGT_STS_BUSY;
  }
  rbd_completion_t c = nullptr;
  if (rbd_aio_create_completion(r, &Device::OnAio, &c) < 0) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  // librbd copies the data at submission (rbd_disable_zero_copy_writes, the default).
  const int ret = rbd_aio_writev(conn_->image(), iov, iovcnt, offset, c);
  if (ret < 0) {
    rbd_aio_release(c);
    const int st = StatusFor(r, ret);
    FreeReq(r);
    return st;
  }
  return MODTGT_STS_ASYNC;
}

int Device::Flush(modtgt_io* io) {
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kFlush;
  return StartCallout(r);
}

int Device::Unmap(modtgt_io* io, uint64_t offset, uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  if (!may_write_.load(std::memory_order_relaxed)) return WriteRefused();
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kDiscard;
  r->offset = offset;
  r->length = length;
  r->flush_after = !write_cache_.load(std::memory_order_relaxed);
  return StartCallout(r);
}

int Device::WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                      uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  if (!may_write_.load(std::memory_order_relaxed)) return WriteRefused();
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kWriteSame;
  r->offset = offset;
  r->length = length;
  r->flush_after = !write_cache_.load(std::memory_order_relaxed);
  if (!Gather(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  if (r->buf.empty() || length % r->buf.size() != 0) {
    g_host->log(MODTGT_LOG_ERROR, "write_same: pattern of %zu bytes for %llu bytes",
                r->buf.size(), static_cast<unsigned long long>(length));
    FreeReq(r);
    return MODTGT_STS_WRITE_ERROR;
  }
  return StartCallout(r);
}

int Device::Caw(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  if (!may_write_.load(std::memory_order_relaxed)) return WriteRefused();
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->offset = offset;
  r->length = length;
  r->flush_after = !write_cache_.load(std::memory_order_relaxed);
  if (!Gather(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  if (r->buf.size() != 2 * length) {
    g_host->log(MODTGT_LOG_ERROR, "caw: %zu bytes of data for %llu bytes", r->buf.size(),
                static_cast<unsigned long long>(length));
    FreeReq(r);
    return MODTGT_STS_WRITE_ERROR;
  }
  if (offset % kNativeCawMax + length <= kNativeCawMax) {
    r->op = Op::kCaw;  // atomic on the OSD (cmpext + write)
    return StartCallout(r);
  }
  // Emulated: read into the third part of buf, compare, write; one at a time per LUN.
  try {
    r->buf.resize(3 * length);
  } catch (const std::bad_alloc&) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  r->op = Op::kCawRead;
  {
    std::lock_guard<std::mutex> l(caw_mu_);
    if (caw_active_) {
      caw_queue_.push_back(r);
      return MODTGT_STS_ASYNC;
    }
    caw_active_ = true;
  }
  const int st = StartCallout(r);
  if (st != MODTGT_STS_ASYNC) CawNext();
  return st;
}

// An emulated COMPARE AND WRITE ended: start the next queued one, if any.
void Device::CawNext() {
  for (;;) {
    Req* next = nullptr;
    {
      std::lock_guard<std::mutex> l(caw_mu_);
      if (caw_queue_.empty()) {
        caw_active_ = false;
        return;
      }
      next = caw_queue_.front();
      caw_queue_.pop_front();
    }
    modtgt_io* io = next->io;
    const int st =
        may_write_.load() ? StartCallout(next) : (FreeReq(next), WriteRefused());
    if (st == MODTGT_STS_ASYNC) return;
    g_host->complete(io, static_cast<modtgt_status>(st));
  }
}

// ---- Reconfiguration ----

int Device::Reconfig(const modtgt_reconfig* rc) {
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    // Any thread, I/O in flight, must not block: only the flag, read per write.
    write_cache_.store(rc->write_cache != 0);
  }
  if (!(rc->what & (MODTGT_RECONFIG_CFGSTRING | MODTGT_RECONFIG_SIZE))) return 0;
  // Admin thread, drained. The monitor is stopped first for a new connection (it may be
  // waiting for lock_op_mu_ itself, or inside a librbd call on the old image).
  const bool restart_monitor = (rc->what & MODTGT_RECONFIG_CFGSTRING) != 0;
  if (restart_monitor) StopMonitor();
  std::unique_lock<std::mutex> op(lock_op_mu_);
  const int r = ReconfigLocked(rc);
  op.unlock();
  if (restart_monitor) StartMonitor();
  return r;
}

// REQUIRES: lock_op_mu_ held; the monitor stopped when rc changes the config string.
int Device::ReconfigLocked(const modtgt_reconfig* rc) {
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    const modtgt_dev_config* cfg = g_host->dev_get_config(dev_);
    RbdConfig next;
    std::string why;
    modtgt_dev_config probe = *cfg;
    int r = ParseDevConfig(&probe, rc->path ? rc->path : "", &next, &why);
    if (r != 0) {
      g_host->error("%s", why.c_str());
      return r;
    }
    // The device is drained: close the old connection (releasing its lock), open the new
    // one; on failure reopen the old one.
    const RbdConfig old_cfg = cfg_;
    const bool old_readonly = readonly_;
    std::unique_ptr<Connection> old;
    {
      std::unique_lock<std::shared_mutex> l(conn_mu_);
      old.swap(conn_);
    }
    old.reset();
    cfg_ = next;
    readonly_ = cfg->readonly != 0 || !next.snap.empty();
    std::unique_ptr<Connection> conn;
    r = Connect(cfg_.lock == LockMode::kTake, &conn, &why);
    uint64_t image_size = 0;
    if (r == 0) {
      const int gr = rbd_get_size(conn->image(), &image_size);
      if (gr < 0) {
        why = "cannot get the size of '" + cfg_.Name() + "': " + ErrText(gr);
        r = ModtgtError(gr);
        conn.reset();
      } else if (image_size < block_) {
        why = "'" + cfg_.Name() + "' is smaller than one block";
        r = MODTGT_EINVAL;
        conn.reset();
      }
    }
    if (r != 0) {
      g_host->log(MODTGT_LOG_WARN, "switching to %s failed (%s): back to %s",
                  next.Name().c_str(), why.c_str(), old_cfg.Name().c_str());
      cfg_ = old_cfg;
      readonly_ = old_readonly;
      std::string why2;
      const int r2 = Connect(cfg_.lock == LockMode::kTake, &conn, &why2);
      if (r2 == 0) {
        std::unique_lock<std::shared_mutex> l(conn_mu_);
        conn_ = std::move(conn);
      } else {
        g_host->log(MODTGT_LOG_ERROR, "cannot reopen %s either: %s; I/O fails until the LUN "
                    "is reconfigured", cfg_.Name().c_str(), why2.c_str());
        g_host->dev_report_event(dev_, MODTGT_EVENT_CONN_LOST, why2.c_str());
      }
      g_host->error("%s", why.c_str());
      return r;
    }
    {
      std::unique_lock<std::shared_mutex> l(conn_mu_);
      conn_ = std::move(conn);
    }
    {
      std::lock_guard<std::mutex> l(size_mu_);
      image_size_ = image_size;
    }
    const uint64_t lun = image_size - image_size % block_;
    size_.store(lun);
    g_host->dev_set_size(dev_, lun);
    g_host->log(MODTGT_LOG_INFO, "now serving %s (%llu bytes)", cfg_.Name().c_str(),
                static_cast<unsigned long long>(lun));
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    const uint64_t want = rc->size;
    if (const std::string why = modtgt::modules::ResizeError(want, block_); !why.empty()) {
      g_host->error("%s", why.c_str());
      return MODTGT_EINVAL;
    }
    std::shared_lock<std::shared_mutex> l(conn_mu_);
    if (!conn_) {
      g_host->error("%s is not connected", cfg_.Name().c_str());
      return MODTGT_EIO;
    }
    std::lock_guard<std::mutex> sl(size_mu_);
    const uint64_t have = image_size_;
    const bool grow = want > have;
    const bool shrink = want < size_.load() && want < have;
    if ((grow || shrink) && readonly_) {
      if (grow) {
        g_host->error("'%s' has %llu bytes and the LUN is read-only: cannot grow it to %llu",
                      cfg_.Name().c_str(), static_cast<unsigned long long>(have),
                      static_cast<unsigned long long>(want));
        return MODTGT_EINVAL;
      }
    } else if (grow || shrink) {
      if (!may_write_.load()) {
        g_host->error("cannot resize '%s': this gateway does not hold its exclusive lock",
                      cfg_.Name().c_str());
        return MODTGT_EBUSY;
      }
      // Shrinking drops the data past the new end: what the administrator asked for (as
      // the file stores do).
      const int r = rbd_resize2(conn_->image(), want, true, NoProgress, nullptr);
      if (r < 0) {
        g_host->error("cannot resize '%s' to %llu bytes: %s", cfg_.Name().c_str(),
                      static_cast<unsigned long long>(want), ErrText(r).c_str());
        return ModtgtError(r);
      }
      image_size_ = want;
    }
    size_.store(want);
    g_host->dev_set_size(dev_, want);
  }
  return 0;
}

}  // namespace modtgt::rbd

namespace {

using namespace modtgt::rbd;  // NOLINT: the module's own namespace

// ---- The C ABI ----

Device* Self(modtgt_dev* dev) { return static_cast<Device*>(g_host->dev_get_private(dev)); }

int RbdCheckConfig(const modtgt_dev_config* cfg) noexcept {
  try {
    RbdConfig c;
    std::string why;
    int rc = ParseDevConfig(cfg, cfg->path, &c, &why);
    if (rc == 0) {
      // Connect and open the image read-only, then close: no lock taken, nothing changed.
      std::unique_ptr<Connection> conn;
      rc = Connection::Open(c, /*readonly=*/true, nullptr, nullptr, &conn, &why);
      if (rc == 0) {
        uint64_t image_size = 0;
        const int r = rbd_get_size(conn->image(), &image_size);
        const bool ro = cfg->readonly != 0 || !c.snap.empty();
        if (r < 0) {
          why = "cannot get the size of '" + c.Name() + "': " + ErrText(r);
          rc = ModtgtError(r);
        } else if (cfg->size > image_size && ro) {
          why = "'" + c.Name() + "' has " + std::to_string(image_size) +
                " bytes, fewer than the requested size " + std::to_string(cfg->size) +
                " (a read-only LUN cannot grow its image)";
          rc = MODTGT_EINVAL;
        } else if (cfg->size == 0 && image_size < (cfg->block_size ? cfg->block_size : 512)) {
          why = "'" + c.Name() + "' is smaller than one block";
          rc = MODTGT_EINVAL;
        }
      }
    }
    if (rc != 0) g_host->error("%s", why.c_str());
    return rc;
  } catch (const std::exception& e) {
    g_host->error("check_config: %s", e.what());
    return MODTGT_EINTERNAL;
  }
}

int RbdOpen(modtgt_dev* dev, int /*reopen*/) noexcept {
  try {
    Device* d = nullptr;
    return Device::Open(dev, &d);
  } catch (const std::exception& e) {
    g_host->error("open: %s", e.what());
    return MODTGT_EINTERNAL;
  }
}

void RbdClose(modtgt_dev* dev) noexcept {
  delete Self(dev);
  g_host->dev_set_private(dev, nullptr);
}

int RbdRead(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt,
            uint64_t offset) noexcept {
  return Self(dev)->Read(io, iov, iovcnt, offset);
}

int RbdWrite(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
             uint32_t flags) noexcept {
  return Self(dev)->Write(io, iov, iovcnt, offset, flags);
}

int RbdFlush(modtgt_dev* dev, modtgt_io* io) noexcept { return Self(dev)->Flush(io); }

int RbdUnmap(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length) noexcept {
  return Self(dev)->Unmap(io, offset, length);
}

int RbdWriteSame(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                 uint64_t length) noexcept {
  return Self(dev)->WriteSame(io, iov, iovcnt, offset, length);
}

int RbdCaw(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
           uint64_t length) noexcept {
  return Self(dev)->Caw(io, iov, iovcnt, offset, length);
}

int RbdReconfig(modtgt_dev* dev, const modtgt_reconfig* rc) noexcept {
  try {
    return Self(dev)->Reconfig(rc);
  } catch (const std::exception& e) {
    g_host->error("reconfig: %s", e.what());
    return MODTGT_EINTERNAL;
  }
}

int RbdLock(modtgt_dev* dev, uint16_t tag) noexcept {
  try {
    return Self(dev)->Lock(tag);
  } catch (const std::exception& e) {
    g_host->log(MODTGT_LOG_ERROR, "lock: %s", e.what());
    return MODTGT_STS_NO_RESOURCE;
  }
}

int RbdUnlock(modtgt_dev* dev) noexcept {
  try {
    return Self(dev)->Unlock();
  } catch (const std::exception& e) {
    g_host->log(MODTGT_LOG_ERROR, "unlock: %s", e.what());
    return MODTGT_STS_NO_RESOURCE;
  }
}

int RbdGetLockTag(modtgt_dev* dev, uint16_t* tag) noexcept {
  try {
    return Self(dev)->GetLockTag(tag);
  } catch (const std::exception& e) {
    g_host->log(MODTGT_LOG_ERROR, "get_lock_tag: %s", e.what());
    return MODTGT_STS_NO_RESOURCE;
  }
}

int RbdGetLockState(modtgt_dev* dev) noexcept { return Self(dev)->GetLockState(); }

// Keeps librados and librbd mapped for the life of the process: they register process-wide
// state (static destructors, atexit handlers, lttng probes) that must not be unmapped under
// a live process when bs_rbd itself is unloaded or reloaded.
int RbdLoad() noexcept {
  for (const char* lib : {"librbd.so.1", "librados.so.2"}) {
    if (dlopen(lib, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) == nullptr) {
      g_host->error("cannot pin %s: %s", lib, dlerror());
      return MODTGT_EINTERNAL;
    }
  }
  int major = 0, minor = 0, extra = 0;
  rbd_version(&major, &minor, &extra);
  g_host->log(MODTGT_LOG_DEBUG, "librbd %d.%d.%d", major, minor, extra);
  return 0;
}

constexpr modtgt_backing_store MakeDescriptor() {
  modtgt_backing_store d{};
  d.struct_size = sizeof(modtgt_backing_store);
  d.abi_version = MODTGT_ABI_VERSION;
  d.kind = MODTGT_KIND_BACKING_STORE;
  d.caps = MODTGT_CAP_THIN;  // discard frees objects; unmapped blocks read as zeros
  d.name = "rbd";
  d.subtype = "rbd";
  d.version = "1.0.0";
  d.description = "a Ceph RBD image or snapshot through librbd (asynchronous, exclusive lock)";
  d.cfg_desc = "rbd/[POOL/[NAMESPACE/]]IMAGE[@SNAP][;conf=PATH][;id=USER][;keyring=PATH]"
               "[;osd_op_timeout=S][;mon_op_timeout=S][;lock=take|standby]";
  d.nr_threads = 0;  // callouts start librbd aio; librbd's threads complete them
  d.load = RbdLoad;
  d.check_config = RbdCheckConfig;
  d.open = RbdOpen;
  d.close = RbdClose;
  d.read = RbdRead;
  d.write = RbdWrite;
  d.flush = RbdFlush;
  d.unmap = RbdUnmap;
  d.write_same = RbdWriteSame;
  d.caw = RbdCaw;
  d.device_type = MODTGT_DEVTYPE_DISK;
  d.default_block_size = 512;
  d.reconfig = RbdReconfig;
  d.lock = RbdLock;
  d.unlock = RbdUnlock;
  d.get_lock_tag = RbdGetLockTag;
  d.get_lock_state = RbdGetLockState;
  return d;
}

constexpr modtgt_backing_store kDescriptor = MakeDescriptor();

}  // namespace

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host);

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host) {
  g_host = host;
  return &kDescriptor;
}
