/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_file_callouts: a file-backed disk with I/O callouts only, in the style of
 * tcmu-runner's file_example.c. The module never sees a CDB: the core decodes every
 * command (INQUIRY, READ CAPACITY, MODE SENSE, READ/WRITE, VERIFY, WRITE SAME, COMPARE
 * AND WRITE, ...) and calls read/write/flush with byte offsets it has already checked
 * against the device size.
 *
 *   config string   file_callouts/PATH     (PATH: an existing regular file, read/write)
 *   size            --params size=N grows (or shrinks) the file to N bytes at open;
 *                   without it the LUN is as large as the file
 *   threads         nr_threads = 4: the daemon runs 4 workers per device and the callouts
 *                   block in plain pread/pwrite/fdatasync, like a tcmu-runner handler
 *                   with nr_threads set
 *
 * What it deliberately lacks, and what the core does instead (module.h):
 *   unmap        NULL -> VPD 0xB0/0xB2 advertise no UNMAP (LBPU=0, LBPWS=0, LBPME=0 in
 *                READ CAPACITY(16)) even when the LUN asks for thin_provisioning, and
 *                UNMAP answers ILLEGAL REQUEST
 *   write_same   NULL -> WRITE SAME (10/16) is emulated with write() of a replicated block
 *   caw          NULL -> COMPARE AND WRITE is emulated with read() + compare + write()
 *                under the core's LBA range lock
 *   handle_cmd   NULL -> every CDB is the core's
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <modtgt/module.h>

#define FILE_CALLOUTS_NR_THREADS 4

static const modtgt_host* host;

struct fc_dev {
  int fd;
  /* Whether the initiator enabled the volatile write cache (MODE SENSE WCE). Off: every
   * write is made durable before it completes, as if it carried FUA (SBC-4 caching mode
   * page, WCE=0: GOOD only once the data is on the medium). Written by
   * reconfig from an event loop, read by the workers: an int is enough for a flag whose
   * readers tolerate either value during the switch. */
  volatile int write_cache;
};

/* Validates the configuration: PATH must name an existing regular file that we may read
 * and write. No side effect (it runs for `--op check` and before open). */
static int fc_check_config(const modtgt_dev_config* cfg) {
  const char* path = cfg->path;
  if (path[0] == '\0') {
    host->error("file_callouts needs a file: --backing-store file_callouts/PATH");
    return MODTGT_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    host->error("cannot use '%s': %s", path, strerror(e));
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EINVAL;
  }
  if (!S_ISREG(st.st_mode)) {
    host->error("'%s' is not a regular file (file_callouts serves files only)", path);
    return MODTGT_EINVAL;
  }
  if (access(path, cfg->readonly ? R_OK : (R_OK | W_OK)) != 0) {
    host->error("'%s' is not %s by the daemon: %s", path,
                cfg->readonly ? "readable" : "readable and writable", strerror(errno));
    return MODTGT_EACCES;
  }
  if (cfg->bsopts[0] != '\0') {
    host->error("file_callouts takes no --bsopts (got '%s')", cfg->bsopts);
    return MODTGT_EINVAL;
  }
  if (cfg->size != 0 && cfg->size % cfg->block_size != 0) {
    host->error("size %llu is not a multiple of the block size %u",
                (unsigned long long)cfg->size, cfg->block_size);
    return MODTGT_EINVAL;
  }
  return MODTGT_OK;
}

static int fc_open(modtgt_dev* dev, int reopen) {
  (void)reopen; /* the file is still there after a module reload: nothing differs */
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  int rc = fc_check_config(cfg); /* open() may come without check_config (reopen) */
  if (rc != MODTGT_OK) return rc;
  int fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) {
    host->error("cannot open '%s': %s", cfg->path, strerror(errno));
    return errno == EACCES ? MODTGT_EACCES : MODTGT_EIO;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    host->error("cannot stat '%s': %s", cfg->path, strerror(errno));
    close(fd);
    return MODTGT_EIO;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (cfg->size != 0 && cfg->size != size) {
    if (cfg->readonly) {
      host->error("'%s' is %llu bytes; a read-only LUN cannot resize it to %llu", cfg->path,
                  (unsigned long long)size, (unsigned long long)cfg->size);
      close(fd);
      return MODTGT_EINVAL;
    }
    if (ftruncate(fd, (off_t)cfg->size) != 0) {
      host->error("cannot resize '%s' to %llu bytes: %s", cfg->path,
                  (unsigned long long)cfg->size, strerror(errno));
      close(fd);
      return MODTGT_EIO;
    }
    size = cfg->size;
  }
  /* A trailing partial block is not addressable. */
  size -= size % cfg->block_size;
  struct fc_dev* f = calloc(1, sizeof(*f));
  if (f == NULL) {
    host->error("out of memory");
    close(fd);
    return MODTGT_ENOMEM;
  }
  f->fd = fd;
  f->write_cache = cfg->write_cache != 0;
  host->dev_set_private(dev, f);
  host->dev_set_size(dev, size);
  host->log(MODTGT_LOG_INFO, "'%s', %llu bytes, write cache %s", cfg->path,
            (unsigned long long)size, f->write_cache ? "on" : "off");
  return MODTGT_OK;
}

static void fc_close(modtgt_dev* dev) {
  struct fc_dev* f = host->dev_get_private(dev);
  if (f == NULL) return;
  close(f->fd);
  free(f);
  host->dev_set_private(dev, NULL);
}

/* Reads all of iov at offset, looping over short transfers and EINTR. */
static int fc_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                   uint64_t offset) {
  (void)io; /* synchronous: the return value is the completion */
  struct fc_dev* f = host->dev_get_private(dev);
  for (int i = 0; i < iovcnt; i++) {
    uint8_t* p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0) {
      ssize_t n = pread(f->fd, p, left, (off_t)offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        host->log(MODTGT_LOG_ERROR, "read at %llu: %s",
                  (unsigned long long)offset, strerror(errno));
        return MODTGT_STS_READ_ERROR;
      }
      if (n == 0) { /* the file shrank behind our back: what is missing reads as 0 */
        memset(p, 0, left);
        n = (ssize_t)left;
      }
      p += n;
      left -= (size_t)n;
      offset += (uint64_t)n;
    }
  }
  return MODTGT_STS_OK;
}

/* Writes all of iov at offset; FUA (or the write cache off) makes it durable first. */
static int fc_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                    uint64_t offset, uint32_t flags) {
  (void)io;
  struct fc_dev* f = host->dev_get_private(dev);
  const int sync = (flags & MODTGT_IO_FUA) || !f->write_cache;
  for (int i = 0; i < iovcnt; i++) {
    const uint8_t* p = iov[i].iov_base;
    size_t left = iov[i].iov_len;
    while (left > 0) {
      ssize_t n = pwrite(f->fd, p, left, (off_t)offset);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        host->log(MODTGT_LOG_ERROR, "write at %llu: %s",
                  (unsigned long long)offset, n < 0 ? strerror(errno) : "no progress");
        return MODTGT_STS_WRITE_ERROR;
      }
      p += n;
      left -= (size_t)n;
      offset += (uint64_t)n;
    }
  }
  /* SBC-4 5.40 (WRITE(10)) FUA: the data must be on the medium before GOOD. One
   * fdatasync after the whole transfer covers it (pwritev2 with RWF_DSYNC would do the
   * same per call). */
  if (sync && fdatasync(f->fd) != 0) {
    host->log(MODTGT_LOG_ERROR, "fdatasync: %s", strerror(errno));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

/* SYNCHRONIZE CACHE (SBC-4 5.24/5.25): the whole file, whatever range was asked. */
static int fc_flush(modtgt_dev* dev, modtgt_io* io) {
  (void)io;
  struct fc_dev* f = host->dev_get_private(dev);
  if (fdatasync(f->fd) != 0) {
    host->log(MODTGT_LOG_ERROR, "fdatasync: %s", strerror(errno));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

/* SIZE (admin thread, no I/O in flight): truncate or extend the file; the core then
 * reports CAPACITY DATA HAS CHANGED. WRITE_CACHE (any thread, must not block): remember
 * it for fc_write. CFGSTRING: refused, a LUN keeps its file. */
static int fc_reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) {
  struct fc_dev* f = host->dev_get_private(dev);
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    host->error("file_callouts cannot switch files; delete and re-create the LUN");
    return MODTGT_ENOTSUP;
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    const modtgt_dev_config* cfg = host->dev_get_config(dev);
    if (cfg->readonly) {
      host->error("the LUN is read-only: its file is not resized");
      return MODTGT_EINVAL;
    }
    if (ftruncate(f->fd, (off_t)rc->size) != 0) {
      host->error("cannot resize to %llu bytes: %s", (unsigned long long)rc->size,
                  strerror(errno));
      return MODTGT_EIO;
    }
    host->dev_set_size(dev, rc->size);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) f->write_cache = rc->write_cache != 0;
  return MODTGT_OK;
}

static const modtgt_backing_store file_callouts_desc = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .name = "file_callouts",
    .subtype = "file_callouts",
    .version = "1.0.0",
    .description = "example: a file through I/O callouts only (tcmu-runner file_example style)",
    .cfg_desc = "file_callouts/PATH: an existing regular file; --params size=N resizes it",
    .nr_threads = FILE_CALLOUTS_NR_THREADS,
    .check_config = fc_check_config,
    .open = fc_open,
    .close = fc_close,
    .read = fc_read,
    .write = fc_write,
    .flush = fc_flush,
    /* .unmap, .write_same, .caw, .handle_cmd: deliberately NULL (see the top comment). */
    .device_type = MODTGT_DEVTYPE_DISK,
    .reconfig = fc_reconfig,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &file_callouts_desc;
}
