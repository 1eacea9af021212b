// SPDX-License-Identifier: Apache-2.0
// bs_uring: configuration checks, opening and closing a device, reconfiguration, and the
// probe for atomic writes.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "../common/config_size.h"
#include "uring_internal.h"

namespace bs_uring {

const modtgt_host* g_host = nullptr;

std::string ErrnoText(int e) { return std::strerror(e); }

int ErrnoToModtgt(int e) {
  switch (e) {
    case ENOENT: return MODTGT_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS: return MODTGT_EACCES;
    case ENOMEM: return MODTGT_ENOMEM;
    case EBUSY: return MODTGT_EBUSY;
    default: return MODTGT_EIO;
  }
}

// Size of an open file or block device, or -errno.
int64_t FdSize(int fd, const struct stat& st) {
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) return -errno;
    return static_cast<int64_t>(bytes);
  }
  return static_cast<int64_t>(st.st_size);
}

// Checks the configuration without side effects (module.h check_config). Returns 0 or a
// negative MODTGT_E* with the reason through host->error.
int CheckConfig(const modtgt_dev_config* cfg) {
  const char* path = cfg->path;
  if (path[0] == '\0') {
    g_host->error("no file given: the config string is uring/PATH (a file or block device)");
    return MODTGT_EINVAL;
  }
  if (cfg->oflags & ~(MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC)) {
    g_host->error("unknown bsoflags 0x%x (uring supports direct and sync)", cfg->oflags);
    return MODTGT_EINVAL;
  }
  if (cfg->bsopts[0] != '\0') {
    g_host->error("uring takes no bsopts (got '%s'); the size comes from --size or the file",
                  cfg->bsopts);
    return MODTGT_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    const int e = errno;
    g_host->error("cannot use '%s': %s", path, ErrnoText(e).c_str());
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EINVAL;
  }
  const bool blockdev = S_ISBLK(st.st_mode);
  if (!S_ISREG(st.st_mode) && !blockdev) {
    g_host->error("'%s' is neither a regular file nor a block device", path);
    return MODTGT_EINVAL;
  }
  if (access(path, cfg->readonly ? R_OK : (R_OK | W_OK)) != 0) {
    const int e = errno;
    g_host->error("no %s permission on '%s': %s", cfg->readonly ? "read" : "read/write", path,
                  ErrnoText(e).c_str());
    return MODTGT_EACCES;
  }
  const uint32_t bs = cfg->block_size ? cfg->block_size : 512;
  if (cfg->size % bs != 0) {
    g_host->error("size %llu is not a multiple of the %u-byte block size",
                  static_cast<unsigned long long>(cfg->size), bs);
    return MODTGT_EINVAL;
  }
  if (cfg->size != 0) {
    uint64_t have = static_cast<uint64_t>(st.st_size);
    if (blockdev) {
      const int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        const int e = errno;
        g_host->error("cannot open '%s': %s", path, ErrnoText(e).c_str());
        return ErrnoToModtgt(e);
      }
      const int64_t n = FdSize(fd, st);
      close(fd);
      if (n < 0) {
        g_host->error("BLKGETSIZE64 on '%s': %s", path, ErrnoText(static_cast<int>(-n)).c_str());
        return MODTGT_EIO;
      }
      have = static_cast<uint64_t>(n);
    }
    if (cfg->size > have && (blockdev || cfg->readonly)) {
      g_host->error("'%s' has %llu bytes, fewer than the requested size %llu%s", path,
                    static_cast<unsigned long long>(have),
                    static_cast<unsigned long long>(cfg->size),
                    blockdev ? " (a block device cannot grow)"
                             : " (a read-only LUN cannot extend its file)");
      return MODTGT_EINVAL;
    }
  }
  return 0;
}

int Device::Open(modtgt_dev* dev, Device** out) {
  *out = nullptr;
  const modtgt_dev_config* cfg = g_host->dev_get_config(dev);
  int rc = CheckConfig(cfg);
  if (rc != 0) return rc;
  auto* d = new (std::nothrow) Device();
  if (d == nullptr) {
    g_host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  d->dev_ = dev;
  d->path_ = cfg->path;
  d->readonly_ = cfg->readonly != 0;
  d->direct_ = (cfg->oflags & MODTGT_OFLAG_DIRECT) != 0;
  d->block_ = cfg->block_size ? cfg->block_size : 512;
  d->write_cache_.store(cfg->write_cache != 0);
  int flags = (d->readonly_ ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (d->direct_) flags |= O_DIRECT;
  d->osync_ = (cfg->oflags & MODTGT_OFLAG_SYNC) != 0;
  if (d->osync_) flags |= O_SYNC;
  d->fd_ = open(cfg->path, flags);
  if (d->fd_ < 0) {
    const int e = errno;
    g_host->error("cannot open '%s'%s: %s", cfg->path,
                  (e == EINVAL && d->direct_) ? " with O_DIRECT (bsoflags direct)" : "",
                  ErrnoText(e).c_str());
    delete d;
    return e == EINVAL ? MODTGT_ENOTSUP : ErrnoToModtgt(e);
  }
  struct stat st;
  if (fstat(d->fd_, &st) != 0) {
    g_host->error("fstat '%s': %s", cfg->path, ErrnoText(errno).c_str());
    delete d;
    return MODTGT_EIO;
  }
  d->blockdev_ = S_ISBLK(st.st_mode);
  const int64_t have = FdSize(d->fd_, st);
  if (have < 0) {
    g_host->error("BLKGETSIZE64 on '%s': %s", cfg->path, ErrnoText(static_cast<int>(-have)).c_str());
    delete d;
    return MODTGT_EIO;
  }
  uint64_t size = static_cast<uint64_t>(have);
  if (cfg->size != 0) {
    if (cfg->size > size) {
      if (d->blockdev_ || d->readonly_) {  // CheckConfig said so already; the file changed
        g_host->error("'%s' has %llu bytes, fewer than the requested size %llu", cfg->path,
                      static_cast<unsigned long long>(size),
                      static_cast<unsigned long long>(cfg->size));
        delete d;
        return MODTGT_EINVAL;
      }
      if (ftruncate(d->fd_, static_cast<off_t>(cfg->size)) != 0) {
        const int e = errno;
        g_host->error("cannot extend '%s' to %llu bytes: %s", cfg->path,
                      static_cast<unsigned long long>(cfg->size), ErrnoText(e).c_str());
        delete d;
        return ErrnoToModtgt(e);
      }
    }
    size = cfg->size;
  }
  size -= size % d->block_;
  if (size == 0) {
    g_host->error("'%s' is smaller than one %u-byte block", cfg->path, d->block_);
    delete d;
    return MODTGT_EINVAL;
  }
  if (d->direct_) {
    // O_DIRECT needs offsets and lengths aligned to the storage's logical block: a LUN
    // block smaller than that would fail every I/O. Probe one block at offset 0.
    uint8_t* probe = AlignedAlloc(d->block_);
    ssize_t n;
    do {
      n = pread(d->fd_, probe, d->block_, 0);
    } while (n < 0 && errno == EINTR);
    const int e = errno;
    std::free(probe);
    if (n < 0 && e == EINVAL) {
      g_host->error("'%s' cannot do O_DIRECT I/O of %u-byte blocks (its logical block is "
                    "larger); use a larger block size or no bsoflags direct",
                    cfg->path, d->block_);
      delete d;
      return MODTGT_ENOTSUP;
    }
  }
  d->epfd_ = epoll_create1(EPOLL_CLOEXEC);
  d->stop_efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d->epfd_ < 0 || d->stop_efd_ < 0) {
    g_host->error("epoll/eventfd: %s", ErrnoText(errno).c_str());
    delete d;
    return MODTGT_ENOMEM;
  }
  epoll_event stop_ev{};
  stop_ev.events = EPOLLIN;
  stop_ev.data.ptr = nullptr;  // nullptr: the stop fd; otherwise a Ring*
  if (epoll_ctl(d->epfd_, EPOLL_CTL_ADD, d->stop_efd_, &stop_ev) != 0) {
    g_host->error("epoll_ctl: %s", ErrnoText(errno).c_str());
    delete d;
    return MODTGT_ENOMEM;
  }
  {
    std::string why;
    std::lock_guard<std::mutex> l(d->rings_mu_);
    d->first_ = d->NewRing(&why, false);  // the admin thread's: the completion thread reaps it
    if (d->first_ == nullptr) {
      g_host->error("%s", why.c_str());
      delete d;
      return MODTGT_ENOTSUP;
    }
  }
  try {
    d->reaper_ = std::thread([d] { d->CompletionLoop(); });
  } catch (const std::exception& ex) {
    g_host->error("cannot start the completion thread: %s", ex.what());
    delete d;
    return MODTGT_ENOMEM;
  }
  d->size_.store(size);
  d->ProbeAtomicWrites();
  g_host->dev_set_private(dev, d);
  g_host->dev_set_size(dev, size);
  g_host->log(MODTGT_LOG_DEBUG, "opened '%s' (%llu bytes%s%s%s)", cfg->path,
              static_cast<unsigned long long>(size), d->blockdev_ ? ", block device" : "",
              d->direct_ ? ", O_DIRECT" : "", (flags & O_SYNC) ? ", O_SYNC" : "");
  *out = d;
  return 0;
}

Device::~Device() {
  if (reaper_.joinable()) {
    // REQUIRES (module.h close): no I/O in flight.
    const uint64_t one = 1;
    ssize_t n;
    do {
      n = write(stop_efd_, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    reaper_.join();
  }
  // No I/O is in flight (module.h close), but an end-of-turn step may still be queued on a
  // loop, or an eventfd callback finishing: they hold references, and the last one frees
  // the ring. After loop_unwatch the loop calls nothing more for it.
  for (Ring* g : rings_) {
    if (g->watch != nullptr) g_host->loop_unwatch(g->watch);
    g->watch = nullptr;
    RingUnref(g);
  }
  rings_.clear();
  if (epfd_ >= 0) close(epfd_);
  if (stop_efd_ >= 0) close(stop_efd_);
  if (fd_ >= 0) close(fd_);
}

void Device::ProbeAtomicWrites() {
  atomic_unit_ = 0;
  if (!direct_ || readonly_) return;  // RWF_ATOMIC is for direct I/O (buffered: EOPNOTSUPP)
  alignas(8) uint8_t stx[kStatxSize] = {};
  if (syscall(SYS_statx, fd_, "", AT_EMPTY_PATH, kStatxWriteAtomic, stx) != 0) return;
  uint32_t mask;
  uint64_t attributes;
  uint32_t unit_min, unit_max, segments;
  std::memcpy(&mask, stx, sizeof(mask));
  std::memcpy(&attributes, stx + kStatxAttributes, sizeof(attributes));
  std::memcpy(&unit_min, stx + kStatxAtomicUnitMin, sizeof(unit_min));
  std::memcpy(&unit_max, stx + kStatxAtomicUnitMax, sizeof(unit_max));
  std::memcpy(&segments, stx + kStatxAtomicSegmentsMax, sizeof(segments));
  if (!(mask & kStatxWriteAtomic) || !(attributes & kStatxAttrWriteAtomic) || unit_min == 0 ||
      segments == 0) {
    return;  // an older kernel, or storage without atomic writes
  }
  const uint32_t unit = std::max(unit_min, block_);
  if ((unit & (unit - 1)) != 0 || unit > unit_max || unit > kMaxAtomicUnit) return;
  // A 1.2 module is only loaded by a 1.2 daemon, which has the service; checked anyway.
  if (g_host->struct_size < offsetof(modtgt_host, dev_set_atomic_limits) + sizeof(void*) ||
      g_host->dev_set_atomic_limits == nullptr) {
    return;
  }
  atomic_unit_ = unit;
  modtgt_atomic_limits lim{};
  lim.struct_size = sizeof(lim);
  lim.max_bytes = unit;
  lim.align_bytes = unit;
  lim.granularity_bytes = unit;
  g_host->dev_set_atomic_limits(dev_, &lim);
  g_host->log(MODTGT_LOG_INFO, "'%s': atomic writes of %u bytes (RWF_ATOMIC; unit %u..%u)",
              path_.c_str(), unit, unit_min, unit_max);
}

int Device::Reconfig(const modtgt_reconfig* rc) {
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    if (rc->path == nullptr || path_ != rc->path) {
      g_host->error("cannot change the file of a live uring device; delete and re-create "
                    "the LUN");
      return MODTGT_ENOTSUP;
    }
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    const uint64_t want = rc->size;
    if (const std::string why = modtgt::modules::ResizeError(want, block_); !why.empty()) {
      g_host->error("%s", why.c_str());
      return MODTGT_EINVAL;
    }
    struct stat st;
    if (fstat(fd_, &st) != 0) {
      g_host->error("fstat '%s': %s", path_.c_str(), ErrnoText(errno).c_str());
      return MODTGT_EIO;
    }
    const int64_t have = FdSize(fd_, st);
    if (have < 0) {
      g_host->error("BLKGETSIZE64 on '%s': %s", path_.c_str(),
                    ErrnoText(static_cast<int>(-have)).c_str());
      return MODTGT_EIO;
    }
    if (blockdev_) {
      if (want > static_cast<uint64_t>(have)) {
        g_host->error("block device '%s' has %lld bytes: cannot grow the LUN to %llu",
                      path_.c_str(), static_cast<long long>(have),
                      static_cast<unsigned long long>(want));
        return MODTGT_EINVAL;
      }
    } else if (readonly_) {
      if (want > static_cast<uint64_t>(have)) {
        g_host->error("'%s' has %lld bytes and the LUN is read-only: cannot extend it to %llu",
                      path_.c_str(), static_cast<long long>(have),
                      static_cast<unsigned long long>(want));
        return MODTGT_EINVAL;
      }
    } else if (want != static_cast<uint64_t>(have) &&
               (want > static_cast<uint64_t>(have) || want < size_.load())) {
      // Grow: extend a shorter file. Shrink: the file follows the LUN down (the data past
      // the new end is what the administrator asked to drop). A file already longer than
      // the LUN is never cut by a grow.
      if (ftruncate(fd_, static_cast<off_t>(want)) != 0) {
        const int e = errno;
        g_host->error("cannot resize '%s' to %llu bytes: %s", path_.c_str(),
                      static_cast<unsigned long long>(want), ErrnoText(e).c_str());
        return ErrnoToModtgt(e);
      }
    }
    size_.store(want);
    g_host->dev_set_size(dev_, want);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    write_cache_.store(rc->write_cache != 0);
  }
  return 0;
}

}  // namespace bs_uring
