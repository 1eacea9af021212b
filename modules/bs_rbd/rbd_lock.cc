// SPDX-License-Identifier: Apache-2.0
// bs_rbd: the exclusive lock (the lock group: lock, unlock, get_lock_tag) and the
// monitor thread (lock ownership, the cluster connection, size changes made outside).
// See the top of rbd.cc for the design and rbd_device.h for the types.
#include <cerrno>
#include <cstdio>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "rbd_device.h"

namespace modtgt::rbd {

// REQUIRES: lock_op_mu_ held.
int Device::TakeLock(rbd_image_t image, uint16_t tag, std::string* why) {
  int owner = 0;
  int r = rbd_is_exclusive_lock_owner(image, &owner);
  if (r == 0 && !owner) {
    rbd_lock_mode_t mode;
    char* owners[kMaxLockOwners];
    size_t n = kMaxLockOwners;
    r = rbd_lock_get_owners(image, &mode, owners, &n);
    if (r == 0 && n > 0) {
      const std::string other = owners[0];
      rbd_lock_get_owners_cleanup(owners, n);
      // Blocklists the holder (rbd_blocklist_on_break_lock): it can never write again.
      g_host->log(MODTGT_LOG_WARN, "%s: breaking the exclusive lock of %s",
                  cfg_.Name().c_str(), other.c_str());
      r = rbd_lock_break(image, mode, other.c_str());
      if (r < 0 && r != -ENOENT) {
        *why = "cannot break the exclusive lock of " + other + " on '" + cfg_.Name() +
               "': " + ErrText(r);
        return r;
      }
    } else if (r < 0 && r != -ENOENT) {
      *why = "cannot list the lock owners of '" + cfg_.Name() + "': " + ErrText(r);
      return r;
    }
    r = rbd_lock_acquire(image, RBD_LOCK_MODE_EXCLUSIVE);
    if (r < 0) {
      *why = "cannot acquire the exclusive lock of '" + cfg_.Name() + "': " + ErrText(r);
      return r;
    }
  } else if (r < 0) {
    *why = "cannot check the exclusive lock of '" + cfg_.Name() + "': " + ErrText(r);
    return r;
  }
  rbd_lock_mode_t mode;
  char* owners[kMaxLockOwners];
  size_t n = kMaxLockOwners;
  r = rbd_lock_get_owners(image, &mode, owners, &n);
  if (r < 0 || n == 0) {
    *why = "acquired the exclusive lock of '" + cfg_.Name() + "' but cannot read it back: " +
           ErrText(r < 0 ? r : -ENOENT);
    return r < 0 ? r : -EIO;
  }
  owner_ = owners[0];
  rbd_lock_get_owners_cleanup(owners, n);
  // The tag (the ALUA target port group) is kept with the owner it belongs to, so that a
  // stale entry of an earlier holder is never taken for the current one's.
  const std::string value = std::to_string(tag) + " " + owner_;
  r = rbd_metadata_set(image, kTagKey, value.c_str());
  if (r < 0) {
    g_host->log(MODTGT_LOG_WARN, "%s: cannot record the lock tag: %s", cfg_.Name().c_str(),
                ErrText(r).c_str());
  }
  g_host->log(MODTGT_LOG_INFO, "%s: exclusive lock acquired as %s (tag %u)",
              cfg_.Name().c_str(), owner_.c_str(), tag);
  return 0;
}

// ---- Monitor thread: lock ownership, connection, size ----

void Device::OnImageUpdate(void* arg) {
  auto* d = static_cast<Device*>(arg);
  std::lock_guard<std::mutex> l(d->mon_mu_);
  d->mon_size_dirty_ = true;
  d->mon_cv_.notify_all();
}

void Device::StartMonitor() {
  {
    std::lock_guard<std::mutex> l(mon_mu_);
    mon_stop_ = false;
  }
  monitor_ = std::thread([this] { MonitorLoop(); });
}

void Device::StopMonitor() {
  {
    std::lock_guard<std::mutex> l(mon_mu_);
    mon_stop_ = true;
    mon_cv_.notify_all();
  }
  if (monitor_.joinable()) monitor_.join();  // at most one librbd call (osd_op_timeout)
}

void Device::MonitorLoop() {
  for (;;) {
    bool size_dirty;
    {
      std::unique_lock<std::mutex> l(mon_mu_);
      mon_cv_.wait_for(l, kMonitorPeriod, [this] { return mon_stop_ || mon_size_dirty_; });
      if (mon_stop_) return;
      size_dirty = mon_size_dirty_;
      mon_size_dirty_ = false;
    }
    {
      std::shared_lock<std::shared_mutex> l(conn_mu_);
      if (conn_) Probe(conn_.get(), size_dirty);
    }
    // After a lost lock this client is (most likely) blocklisted: replace it, so that the
    // LUN is a clean standby (reads, get_lock_tag, a quick lock()).
    if (lock_lost_.load()) Reconnect();
  }
}

// REQUIRES: conn_mu_ held (shared); conn is conn_.
void Device::Probe(Connection* conn, bool size_dirty) {
  rbd_image_t image = conn->image();
  bool waited = false;  // a call already waited out osd_op_timeout: one per round at most
  if (size_dirty) {
    // Read and applied under size_mu_: a resize by reconfig (which holds it) cannot be
    // overtaken by a size read before it.
    std::lock_guard<std::mutex> sl(size_mu_);
    uint64_t image_size = 0;
    if (rbd_get_size(image, &image_size) == 0) ApplyImageSize(image_size);
  }
  if (lock_state_.load() == MODTGT_LOCK_LOCKED) {
    // librbd asserts the lock on the header object: a broken lock or a blocklisted
    // client shows here even with no I/O.
    int owner = 0;
    const int r = rbd_is_exclusive_lock_owner(image, &owner);
    if (r == 0 && owner) {
      // Still ours as far as librbd knows (it may answer without asking the cluster).
    } else if (r == 0 || r == -ESHUTDOWN) {
      std::string who;
      rbd_lock_mode_t mode;
      char* owners[kMaxLockOwners];
      size_t n = kMaxLockOwners;
      if (r == 0 && rbd_lock_get_owners(image, &mode, owners, &n) == 0 && n > 0) {
        who = owners[0];
        rbd_lock_get_owners_cleanup(owners, n);
      }
      LockLost(who.empty() ? (r == -ESHUTDOWN ? "this client was blocklisted"
                                              : "the lock was released or broken")
                           : "taken by " + who,
               r == -ESHUTDOWN);
    } else {
      NoteResult(r, false);
      waited = r == -ETIMEDOUT;
    }
  }
  if (conn_lost_.load() && !waited) {
    // Is the cluster back? Only an answer from an OSD says so.
    const int r = conn->Ping();
    NoteResult(r == -ENOENT ? 0 : r, true);
  }
}

// Monitor thread. A new client in place of one that lost the lock. Skipped (retried a
// second later) while lock(), unlock() or reconfig run: they hold lock_op_mu_.
void Device::Reconnect() {
  std::unique_lock<std::mutex> op(lock_op_mu_, std::try_to_lock);
  if (!op.owns_lock() || !lock_lost_.load()) return;
  std::unique_ptr<Connection> conn;
  std::string why;
  const int rc = Connection::Open(cfg_, readonly_, &Device::OnImageUpdate, this, &conn, &why);
  if (rc != 0) {
    if (!reconnect_failing_) {
      g_host->log(MODTGT_LOG_WARN, "%s: cannot reconnect after the lost lock (retrying): %s",
                  cfg_.Name().c_str(), why.c_str());
    }
    reconnect_failing_ = true;
    return;
  }
  reconnect_failing_ = false;
  std::unique_ptr<Connection> old;
  {
    std::unique_lock<std::shared_mutex> l(conn_mu_);
    old.swap(conn_);
    conn_ = std::move(conn);
  }
  old.reset();
  lock_lost_.store(false);
  g_host->log(MODTGT_LOG_INFO, "%s: reconnected as a standby client (writes wait for lock())",
              cfg_.Name().c_str());
}

// REQUIRES: size_mu_ held.
void Device::ApplyImageSize(uint64_t image_size) {
  if (image_size == image_size_) return;
  g_host->log(MODTGT_LOG_INFO, "%s: the image is now %llu bytes (was %llu)%s",
              cfg_.Name().c_str(), static_cast<unsigned long long>(image_size),
              static_cast<unsigned long long>(image_size_), ", resized outside this LUN");
  image_size_ = image_size;
  const uint64_t lun = image_size - image_size % block_;
  if (lun != 0 && lun != size_.load()) {
    size_.store(lun);
    g_host->dev_set_size(dev_, lun);  // initiators get CAPACITY DATA HAS CHANGED
  }
}

// Events from what librbd answered: a timeout means the cluster is unreachable; the next
// answer from the cluster after it (the monitor's ping) means it is back.
void Device::NoteResult(int ret, bool from_cluster) {
  if (ret == -ETIMEDOUT || ret == -ENOTCONN || ret == -ECONNRESET) {
    if (!conn_lost_.exchange(true)) {
      const std::string why = "no answer from the Ceph cluster for " + cfg_.Name() +
                              " (" + ErrText(ret) + " after osd_op_timeout " +
                              std::to_string(cfg_.osd_op_timeout) + " s)";
      g_host->dev_report_event(dev_, MODTGT_EVENT_CONN_LOST, why.c_str());
    }
  } else if (from_cluster && ret >= 0 && conn_lost_.load()) {
    if (conn_lost_.exchange(false)) {
      g_host->dev_report_event(dev_, MODTGT_EVENT_CONN_RESTORED, cfg_.Name().c_str());
    }
  }
}

// Any thread. Reports a lost lock once; from then on writes are refused here.
void Device::LockLost(const std::string& why, bool blocklisted) {
  if (readonly_ || !has_lock_feature_.load()) {
    g_host->log(MODTGT_LOG_ERROR, "%s: %s", cfg_.Name().c_str(), why.c_str());
    return;
  }
  may_write_.store(false);
  lock_lost_.store(true);
  int expected = MODTGT_LOCK_LOCKED;
  if (!lock_state_.compare_exchange_strong(expected, MODTGT_LOCK_UNLOCKED)) return;
  const std::string detail = "exclusive lock of " + cfg_.Name() + " lost: " + why +
                             (blocklisted ? "" : "; writes are refused from now on");
  g_host->log(MODTGT_LOG_WARN, "%s", detail.c_str());
  g_host->dev_report_event(dev_, MODTGT_EVENT_LOCK_LOST, detail.c_str());
}

// ---- Cluster lock group ----

int Device::Lock(uint16_t tag) {
  std::lock_guard<std::mutex> op(lock_op_mu_);
  if (readonly_ || !has_lock_feature_) {
    g_host->log(MODTGT_LOG_WARN, "%s: lock() on a %s", cfg_.Name().c_str(),
                readonly_ ? "read-only LUN (never locks)" : "image without exclusive-lock");
    return MODTGT_STS_UNSUPPORTED;
  }
  lock_state_.store(MODTGT_LOCK_LOCKING);
  std::string why;
  if (lock_lost_.load()) {
    // Our client is (most likely) blocklisted: a new connection, then the lock. Made before
    // the old one is dropped, swapped in quickly: I/O keeps flowing (and getting BUSY).
    std::unique_ptr<Connection> conn;
    const int rc = Connection::Open(cfg_, readonly_, &Device::OnImageUpdate, this, &conn, &why);
    if (rc != 0) {
      g_host->log(MODTGT_LOG_WARN, "%s: lock(): cannot reconnect: %s", cfg_.Name().c_str(),
                  why.c_str());
      lock_state_.store(MODTGT_LOCK_UNKNOWN);
      return MODTGT_STS_NO_RESOURCE;
    }
    std::unique_ptr<Connection> old;
    {
      std::unique_lock<std::shared_mutex> l(conn_mu_);
      old.swap(conn_);
      conn_ = std::move(conn);
    }
    old.reset();
    lock_lost_.store(false);
  }
  int r;
  {
    std::shared_lock<std::shared_mutex> l(conn_mu_);
    r = conn_ ? TakeLock(conn_->image(), tag, &why) : -ENOTCONN;
  }
  if (r < 0) {
    g_host->log(MODTGT_LOG_WARN, "%s: lock(): %s", cfg_.Name().c_str(), why.c_str());
    if (Retriable(r) && r != -EROFS && r != -EBUSY) {
      lock_state_.store(MODTGT_LOCK_UNKNOWN);
      return MODTGT_STS_NO_RESOURCE;
    }
    lock_state_.store(MODTGT_LOCK_UNLOCKED);
    return MODTGT_STS_BUSY;
  }
  may_write_.store(true);
  lock_state_.store(MODTGT_LOCK_LOCKED);
  return MODTGT_STS_OK;
}

int Device::Unlock() {
  std::lock_guard<std::mutex> op(lock_op_mu_);
  if (readonly_ || !has_lock_feature_) return MODTGT_STS_OK;
  may_write_.store(false);  // standby from here on
  const int prev = lock_state_.exchange(MODTGT_LOCK_UNLOCKED);
  if (prev != MODTGT_LOCK_LOCKED) return MODTGT_STS_OK;
  std::shared_lock<std::shared_mutex> l(conn_mu_);
  const int r = conn_ ? rbd_lock_release(conn_->image()) : -ENOTCONN;
  if (r < 0 && r != -ENOENT && r != -EINVAL) {
    g_host->log(MODTGT_LOG_WARN, "%s: rbd_lock_release: %s", cfg_.Name().c_str(),
                ErrText(r).c_str());
    return Retriable(r) ? MODTGT_STS_BUSY : MODTGT_STS_WRITE_ERROR;
  }
  g_host->log(MODTGT_LOG_INFO, "%s: exclusive lock released", cfg_.Name().c_str());
  return MODTGT_STS_OK;
}

int Device::GetLockTag(uint16_t* tag) {
  std::shared_lock<std::shared_mutex> l(conn_mu_);
  if (!conn_) return MODTGT_STS_NO_RESOURCE;
  if (!has_lock_feature_) return MODTGT_STS_NOT_HANDLED;
  rbd_lock_mode_t mode;
  char* owners[kMaxLockOwners];
  size_t n = kMaxLockOwners;
  int r = rbd_lock_get_owners(conn_->image(), &mode, owners, &n);
  if (r == -ENOENT || (r == 0 && n == 0)) return MODTGT_STS_NOT_HANDLED;
  if (r < 0) return Retriable(r) ? MODTGT_STS_NO_RESOURCE : MODTGT_STS_READ_ERROR;
  const std::string holder = owners[0];
  rbd_lock_get_owners_cleanup(owners, n);
  char value[512];
  size_t len = sizeof(value);
  r = rbd_metadata_get(conn_->image(), kTagKey, value, &len);
  if (r < 0) return MODTGT_STS_BUSY;  // held, but its holder recorded no tag (yet)
  unsigned t = 0;
  char who[sizeof(value)];
  if (std::sscanf(value, "%u %511[^\n]", &t, who) != 2 || holder != who || t > 0xffff) {
    return MODTGT_STS_BUSY;  // the tag is an earlier holder's: the new one has not set it
  }
  *tag = static_cast<uint16_t>(t);
  return MODTGT_STS_OK;
}

}  // namespace modtgt::rbd
