/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_rdwr: a regular file or a block device, read and written with preadv/pwritev on the
 * daemon's worker pool (nr_threads > 0, so the callouts may block). Written in plain C
 * against modtgt/module.h only: the in-tree example of a C module.
 *
 *   read        preadv loop (short transfers and EINTR handled)
 *   write       pwritev loop; FUA or write cache off (WCE=0) -> fdatasync afterwards
 *   flush       fdatasync
 *   unmap       fallocate(PUNCH_HOLE|KEEP_SIZE); where unsupported, writes zeros
 *
 * Options: the cfgstring is the path ("rdwr//srv/disk.img" or just "/srv/disk.img");
 * --bsoflags direct,sync map to O_DIRECT/O_SYNC; a read-only LUN opens O_RDONLY. The size
 * is the file's (or the block device's), or the configured size when smaller.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "modtgt/module.h"

#define RDWR_NR_THREADS 8
#define RDWR_MAX_IOV 64

static const modtgt_host* host;

struct rdwr_dev {
  int fd;
  int is_blockdev;
  int punch_hole_works; /* cleared after the first EOPNOTSUPP */
};

/* Zeros for unmap fallbacks, aligned for O_DIRECT. */
static const char zero_buf[64 * 1024] __attribute__((aligned(4096)));

/* Checks that the path names an existing regular file or block device we may open.
 * Returns 0 or a negative MODTGT_E* with the reason through host->error. */
static int check_path(const modtgt_dev_config* cfg, struct stat* st) {
  if (cfg->path[0] == '\0') {
    host->error("no file given: the backing store is the path of a file or block device");
    return MODTGT_EINVAL;
  }
  if (stat(cfg->path, st) != 0) {
    int e = errno;
    host->error("cannot use '%s': %s", cfg->path, strerror(e));
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EINVAL;
  }
  if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
    host->error("'%s' is neither a regular file nor a block device", cfg->path);
    return MODTGT_EINVAL;
  }
  if (access(cfg->path, cfg->readonly ? R_OK : (R_OK | W_OK)) != 0) {
    host->error("no %s permission on '%s': %s", cfg->readonly ? "read" : "read/write",
                cfg->path, strerror(errno));
    return MODTGT_EACCES;
  }
  if (cfg->oflags & ~(MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC)) {
    host->error("unknown oflags 0x%x (rdwr supports direct and sync)", cfg->oflags);
    return MODTGT_EINVAL;
  }
  if (cfg->bsopts[0] != '\0') {
    host->error("rdwr takes no bsopts (got '%s')", cfg->bsopts);
    return MODTGT_EINVAL;
  }
  return 0;
}

static int rdwr_check_config(const modtgt_dev_config* cfg) {
  struct stat st;
  return check_path(cfg, &st);
}

static int rdwr_open(modtgt_dev* dev, int reopen) {
  (void)reopen;
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  struct stat st;
  int rc = check_path(cfg, &st);
  if (rc != 0) return rc;

  int flags = (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (cfg->oflags & MODTGT_OFLAG_DIRECT) flags |= O_DIRECT;
  if (cfg->oflags & MODTGT_OFLAG_SYNC) flags |= O_SYNC;
  int fd = open(cfg->path, flags);
  if (fd < 0) {
    int e = errno;
    host->error("cannot open '%s': %s", cfg->path, strerror(e));
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EIO;
  }
  if (fstat(fd, &st) != 0) {
    host->error("fstat '%s': %s", cfg->path, strerror(errno));
    close(fd);
    return MODTGT_EIO;
  }
  uint64_t size;
  int is_blockdev = S_ISBLK(st.st_mode);
  if (is_blockdev) {
    if (ioctl(fd, BLKGETSIZE64, &size) != 0) {
      host->error("BLKGETSIZE64 on '%s': %s", cfg->path, strerror(errno));
      close(fd);
      return MODTGT_EIO;
    }
  } else {
    size = (uint64_t)st.st_size;
  }
  if (cfg->size != 0) {
    if (cfg->size > size) {
      host->error("'%s' has %llu bytes, fewer than the configured size %llu", cfg->path,
                  (unsigned long long)size, (unsigned long long)cfg->size);
      close(fd);
      return MODTGT_EINVAL;
    }
    size = cfg->size;
  }
  uint32_t bs = cfg->block_size ? cfg->block_size : 512;
  size -= size % bs;
  if (size == 0) {
    host->error("'%s' is smaller than one %u-byte block", cfg->path, bs);
    close(fd);
    return MODTGT_EINVAL;
  }
  struct rdwr_dev* d = calloc(1, sizeof(*d));
  if (d == NULL) {
    host->error("out of memory");
    close(fd);
    return MODTGT_ENOMEM;
  }
  d->fd = fd;
  d->is_blockdev = is_blockdev;
  d->punch_hole_works = 1;
  host->dev_set_private(dev, d);
  host->dev_set_size(dev, size);
  host->log(MODTGT_LOG_DEBUG, "opened '%s' (%llu bytes%s%s)", cfg->path, (unsigned long long)size,
            (flags & O_DIRECT) ? ", O_DIRECT" : "", (flags & O_SYNC) ? ", O_SYNC" : "");
  return 0;
}

static void rdwr_close(modtgt_dev* dev) {
  struct rdwr_dev* d = host->dev_get_private(dev);
  if (d == NULL) return;
  close(d->fd);
  free(d);
  host->dev_set_private(dev, NULL);
}

/* Transfers the whole iovec array at offset, resuming after short transfers and EINTR.
 * Returns 0 or an errno value (EIO for an unexpected end of file). */
static int transfer(int fd, int is_write, const struct iovec* iov_in, int iovcnt, uint64_t offset) {
  struct iovec local[RDWR_MAX_IOV];
  const struct iovec* iov = iov_in;
  if (iovcnt > RDWR_MAX_IOV) {
    /* Rare: do it in RDWR_MAX_IOV-sized groups. */
    uint64_t off = offset;
    for (int i = 0; i < iovcnt; i += RDWR_MAX_IOV) {
      int n = iovcnt - i < RDWR_MAX_IOV ? iovcnt - i : RDWR_MAX_IOV;
      int rc = transfer(fd, is_write, iov_in + i, n, off);
      if (rc != 0) return rc;
      for (int j = 0; j < n; j++) off += iov_in[i + j].iov_len;
    }
    return 0;
  }
  int copied = 0; /* iov is the caller's until we have to advance it */
  while (iovcnt > 0) {
    ssize_t n = is_write ? pwritev(fd, iov, iovcnt, (off_t)offset)
                         : preadv(fd, iov, iovcnt, (off_t)offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO; /* end of file inside the device: the file shrank */
    offset += (uint64_t)n;
    /* Skip the fully transferred segments, then trim the partial one. */
    size_t left = (size_t)n;
    while (iovcnt > 0 && left >= iov[0].iov_len) {
      left -= iov[0].iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt == 0) break;
    if (!copied) {
      memcpy(local, iov, (size_t)iovcnt * sizeof(*iov));
      iov = local;
      copied = 1;
    } else if (iov != local) {
      memmove(local, iov, (size_t)iovcnt * sizeof(*iov));
      iov = local;
    }
    local[0].iov_base = (char*)local[0].iov_base + left;
    local[0].iov_len -= left;
  }
  return 0;
}

static int do_fdatasync(int fd) {
  while (fdatasync(fd) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

static int rdwr_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                     uint64_t offset) {
  (void)io;
  struct rdwr_dev* d = host->dev_get_private(dev);
  int e = transfer(d->fd, 0, iov, iovcnt, offset);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "read at %llu failed: %s", (unsigned long long)offset, strerror(e));
    return MODTGT_STS_READ_ERROR;
  }
  return MODTGT_STS_OK;
}

static int rdwr_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                      uint64_t offset, uint32_t flags) {
  (void)io;
  struct rdwr_dev* d = host->dev_get_private(dev);
  int e = transfer(d->fd, 1, iov, iovcnt, offset);
  if (e == 0 && ((flags & MODTGT_IO_FUA) || !host->dev_get_config(dev)->write_cache)) {
    e = do_fdatasync(d->fd);
  }
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "write at %llu failed: %s", (unsigned long long)offset, strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

static int rdwr_flush(modtgt_dev* dev, modtgt_io* io) {
  (void)io;
  struct rdwr_dev* d = host->dev_get_private(dev);
  int e = do_fdatasync(d->fd);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "fdatasync failed: %s", strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

static int write_zeros(int fd, uint64_t offset, uint64_t length) {
  struct iovec v;
  while (length > 0) {
    size_t n = length < sizeof(zero_buf) ? (size_t)length : sizeof(zero_buf);
    v.iov_base = (void*)zero_buf;
    v.iov_len = n;
    int e = transfer(fd, 1, &v, 1, offset);
    if (e != 0) return e;
    offset += n;
    length -= n;
  }
  return 0;
}

static int rdwr_unmap(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length) {
  (void)io;
  struct rdwr_dev* d = host->dev_get_private(dev);
  int e = 0;
  if (__atomic_load_n(&d->punch_hole_works, __ATOMIC_RELAXED)) {
    while (fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset,
                     (off_t)length) != 0) {
      e = errno;
      if (e != EINTR) break;
      e = 0;
    }
    if (e == EOPNOTSUPP || e == ENOSYS) {
      __atomic_store_n(&d->punch_hole_works, 0, __ATOMIC_RELAXED);
      host->log(MODTGT_LOG_INFO, "hole punching unsupported here; unmap writes zeros");
    } else if (e == 0) {
      return MODTGT_STS_OK;
    }
  }
  if (e == 0 || e == EOPNOTSUPP || e == ENOSYS) e = write_zeros(d->fd, offset, length);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "unmap of %llu+%llu failed: %s", (unsigned long long)offset,
              (unsigned long long)length, strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

static const modtgt_backing_store rdwr_store = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .caps = MODTGT_CAP_THIN,
    .name = "rdwr",
    .subtype = NULL,
    .version = "1.0.0",
    .description = "a regular file or block device, with pread/pwrite on a thread pool",
    .cfg_desc = "path of a file or block device; bsoflags direct,sync",
    .nr_threads = RDWR_NR_THREADS,
    .check_config = rdwr_check_config,
    .open = rdwr_open,
    .close = rdwr_close,
    .read = rdwr_read,
    .write = rdwr_write,
    .flush = rdwr_flush,
    .unmap = rdwr_unmap,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h);

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &rdwr_store;
}
