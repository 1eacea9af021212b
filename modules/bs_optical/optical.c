/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_optical: an ISO image (ISO 9660 or UDF) as the medium of a CD/DVD-ROM logical unit
 * (peripheral device type 5; the core's MMC emulation, src/scsi/mmc.cc, answers the MMC
 * commands and calls read() for READ (10/12)). Plain C against modtgt/module.h.
 *
 *   config      "optical/PATH": a regular file, readable, a non-zero multiple of 2048
 *               bytes, with an ISO 9660 ("CD001") or UDF ("BEA01") volume descriptor at
 *               sector 16 (byte 32769)
 *   read        pread on the daemon's worker threads (nr_threads = 2; blocking is fine)
 *   write       never called for a CD-ROM (no WRITE opcode exists in the MMC table); the
 *               ABI makes it mandatory, it answers MODTGT_STS_WRITE_ERROR
 *   reconfig    CFGSTRING: a new medium (admin `logicalunit load`): checked like open,
 *               opened, swapped in, dev_set_size, the old image closed. SIZE: refused (the
 *               medium's size is the image's). WRITE_CACHE: nothing to do.
 *
 * Threading: read() runs on two daemon-owned worker threads per device; reconfig on the
 * admin thread with no I/O in flight. The image (fd, size) is still swapped under a
 * rwlock, so a read can never see a half-changed medium.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "modtgt/module.h"

#define OPTICAL_BLOCK 2048u
/* ISO 9660 8.1 / ECMA-119: the volume descriptor set starts at sector 16; each descriptor
 * has its type at byte 0 and the standard identifier "CD001" at bytes 1-5. A UDF image
 * (ECMA-167 2/9.1) has its Volume Recognition Sequence there: "BEA01" first. */
#define OPTICAL_VD_OFFSET (16u * OPTICAL_BLOCK + 1u)

static const modtgt_host* host;

struct optical_dev {
  pthread_rwlock_t lock;
  int fd;        /* GUARDED_BY(lock) */
  uint64_t size; /* GUARDED_BY(lock) */
};

static int errno_to_rc(int e) {
  switch (e) {
    case ENOENT: return MODTGT_ENOENT;
    case EACCES:
    case EPERM: return MODTGT_EACCES;
    default: return MODTGT_EIO;
  }
}

static int read_full(int fd, void* buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (char*)buf + done, len - done, (off_t)(off + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += (size_t)n;
  }
  return 0;
}

/* Opens and checks the image at path (cfgstring for messages). On success returns 0 with
 * *fd_out open O_RDONLY (or, when fd_out is NULL, closed again) and *size_out its size.
 * Otherwise a negative MODTGT_E* with the reason through host->error. */
static int open_image(const char* cfgstring, const char* path, int* fd_out, uint64_t* size_out) {
  if (path[0] == '\0') {
    host->error("%s: no image given: the config string is optical/PATH", cfgstring);
    return MODTGT_EINVAL;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    host->error("%s: cannot open '%s' for reading: %s", cfgstring, path, strerror(e));
    return errno_to_rc(e);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    host->error("%s: fstat: %s", cfgstring, strerror(e));
    close(fd);
    return MODTGT_EIO;
  }
  if (!S_ISREG(st.st_mode)) {
    host->error("%s: '%s' is not a regular file", cfgstring, path);
    close(fd);
    return MODTGT_EINVAL;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size == 0 || size % OPTICAL_BLOCK != 0) {
    host->error("%s: the image size %llu is not a non-zero multiple of %u bytes", cfgstring,
                (unsigned long long)size, OPTICAL_BLOCK);
    close(fd);
    return MODTGT_EINVAL;
  }
  char id[5];
  if (size < OPTICAL_VD_OFFSET + sizeof(id)) {
    host->error("%s: not an ISO 9660 image (too small for a volume descriptor at sector 16)",
                cfgstring);
    close(fd);
    return MODTGT_EINVAL;
  }
  int e = read_full(fd, id, sizeof(id), OPTICAL_VD_OFFSET);
  if (e != 0) {
    host->error("%s: cannot read the volume descriptor: %s", cfgstring, strerror(e));
    close(fd);
    return MODTGT_EIO;
  }
  if (memcmp(id, "CD001", 5) != 0 && memcmp(id, "BEA01", 5) != 0) {
    host->error("%s: not an ISO 9660 image (no CD001 at byte %u) nor a UDF one (no BEA01)",
                cfgstring, OPTICAL_VD_OFFSET);
    close(fd);
    return MODTGT_EINVAL;
  }
  *size_out = size;
  if (fd_out != NULL) {
    *fd_out = fd;
  } else {
    close(fd);
  }
  return 0;
}

static int check_common(const modtgt_dev_config* cfg) {
  if (cfg->block_size != 0 && cfg->block_size != OPTICAL_BLOCK) {
    host->error("%s: an optical medium has %u-byte blocks (the LUN asks for %u)", cfg->cfgstring,
                OPTICAL_BLOCK, cfg->block_size);
    return MODTGT_EINVAL;
  }
  if (cfg->bsopts[0] != '\0') {
    host->error("%s: optical takes no bsopts (got '%s')", cfg->cfgstring, cfg->bsopts);
    return MODTGT_EINVAL;
  }
  return 0;
}

static int optical_check_config(const modtgt_dev_config* cfg) {
  int rc = check_common(cfg);
  if (rc != 0) return rc;
  uint64_t size;
  rc = open_image(cfg->cfgstring, cfg->path, NULL, &size);
  if (rc != 0) return rc;
  if (cfg->size != 0 && cfg->size != size) {
    host->error("%s: the size of an optical medium is its image's (%llu bytes), not %llu",
                cfg->cfgstring, (unsigned long long)size, (unsigned long long)cfg->size);
    return MODTGT_EINVAL;
  }
  return 0;
}

static int optical_open(modtgt_dev* dev, int reopen) {
  (void)reopen;
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  int rc = optical_check_config(cfg);
  if (rc != 0) return rc;
  struct optical_dev* d = calloc(1, sizeof(*d));
  if (d == NULL) {
    host->error("%s: out of memory", cfg->cfgstring);
    return MODTGT_ENOMEM;
  }
  rc = open_image(cfg->cfgstring, cfg->path, &d->fd, &d->size);
  if (rc != 0) {
    free(d);
    return rc;
  }
  pthread_rwlock_init(&d->lock, NULL);
  host->dev_set_private(dev, d);
  host->dev_set_size(dev, d->size);
  host->log(MODTGT_LOG_DEBUG, "opened '%s' (%llu bytes)", cfg->path, (unsigned long long)d->size);
  return 0;
}

static void optical_close(modtgt_dev* dev) {
  struct optical_dev* d = host->dev_get_private(dev);
  if (d == NULL) return;
  close(d->fd);
  pthread_rwlock_destroy(&d->lock);
  free(d);
  host->dev_set_private(dev, NULL);
}

static int optical_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                        uint64_t offset) {
  (void)io;
  struct optical_dev* d = host->dev_get_private(dev);
  int st = MODTGT_STS_OK;
  pthread_rwlock_rdlock(&d->lock);
  uint64_t off = offset;
  for (int i = 0; i < iovcnt; i++) {
    if (off + iov[i].iov_len > d->size) {
      st = MODTGT_STS_LBA_OUT_OF_RANGE; /* the medium changed under the command */
      break;
    }
    int e = read_full(d->fd, iov[i].iov_base, iov[i].iov_len, off);
    if (e != 0) {
      host->log(MODTGT_LOG_ERROR, "read at %llu failed: %s", (unsigned long long)off, strerror(e));
      st = MODTGT_STS_READ_ERROR;
      break;
    }
    off += iov[i].iov_len;
  }
  pthread_rwlock_unlock(&d->lock);
  return st;
}

/* Mandatory in the ABI; a CD-ROM LU has no WRITE opcode, so the core never calls it. */
static int optical_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                         uint64_t offset, uint32_t flags) {
  (void)dev;
  (void)io;
  (void)iov;
  (void)iovcnt;
  (void)offset;
  (void)flags;
  return MODTGT_STS_WRITE_ERROR;
}

static int optical_reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) {
  struct optical_dev* d = host->dev_get_private(dev);
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    host->error("%s: the size of an optical medium is its image's; load another image instead",
                cfg->cfgstring);
    return MODTGT_ENOTSUP;
  }
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    const char* path = rc->path != NULL ? rc->path : "";
    const char* cfgstring = rc->cfgstring != NULL ? rc->cfgstring : path;
    int fd;
    uint64_t size;
    int r = open_image(cfgstring, path, &fd, &size);
    if (r != 0) return r;
    pthread_rwlock_wrlock(&d->lock);
    int old = d->fd;
    d->fd = fd;
    d->size = size;
    pthread_rwlock_unlock(&d->lock);
    host->dev_set_size(dev, size);
    close(old);
    host->log(MODTGT_LOG_INFO, "medium changed to '%s' (%llu bytes)", path,
              (unsigned long long)size);
  }
  /* MODTGT_RECONFIG_WRITE_CACHE: read only, nothing is cached. */
  return 0;
}

static const modtgt_backing_store optical_store = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .caps = 0,
    .name = "optical",
    .subtype = "optical",
    .version = "1.0.0",
    .description = "an ISO 9660/UDF image as a read-only CD/DVD-ROM medium (MMC, peripheral type 5)",
    .cfg_desc = "optical/PATH: an ISO image, a non-zero multiple of 2048 bytes",
    .nr_threads = 2,
    .check_config = optical_check_config,
    .open = optical_open,
    .close = optical_close,
    .read = optical_read,
    .write = optical_write,
    .device_type = MODTGT_DEVTYPE_CDROM,
    .default_block_size = OPTICAL_BLOCK,
    .reconfig = optical_reconfig,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h);

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &optical_store;
}
