/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_rdwr: a regular file or a block device, read and written with preadv/pwritev. Written
 * in plain C against modtgt/module.h only: the in-tree example of a C module, and of an
 * asynchronous one (nr_threads == 0).
 *
 *   read        on the event loop: preadv2(RWF_NOWAIT), which succeeds when the data is in
 *               the page cache; otherwise (or with O_DIRECT) on the device's own worker
 *               threads: preadv loop (short transfers and EINTR handled)
 *   write       worker threads (or pwritev2(RWF_NOWAIT) on the loop where the file system
 *               supports it): pwritev loop; FUA or write cache off (WCE=0) -> fdatasync
 *   flush       worker threads: fdatasync
 *   unmap       worker threads: fallocate(PUNCH_HOLE|KEEP_SIZE); where unsupported, zeros
 *   get_lba_status  worker threads: lseek(SEEK_DATA/SEEK_HOLE) (block devices: mapped)
 *
 * Why its own threads instead of the daemon's pool (nr_threads > 0): a page-cache hit then
 * costs one syscall on the loop instead of two thread hand-offs (queue, wake a worker,
 * post the completion back, wake the loop), which is most of the CPU of a cached 4 KiB I/O.
 * Work handed to the threads completes through host->complete() (MODTGT_STS_ASYNC).
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
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/lba_status.h"
#include "modtgt/module.h"

#define RDWR_NR_THREADS 8
#define RDWR_MAX_IOV 64
#define RDWR_REQ_CHUNK 64
/* A fast request (a buffered write: a page-cache copy of a few microseconds) wakes another
 * worker only when the queue is this many times longer than the workers awake: a wake-up
 * and two context switches cost more than the copy. A slow one (a read the page cache
 * could not serve, a flush, a synchronous or O_DIRECT write) wakes one whenever the queue
 * is longer than the workers awake, so slow storage sees the queue depth in parallel. */
#define RDWR_FAST_BATCH 4

static const modtgt_host* host;

enum rdwr_op { RDWR_READ, RDWR_WRITE, RDWR_FLUSH, RDWR_UNMAP, RDWR_LBA_STATUS };

/* One I/O handed to the worker threads. Pooled per device: no allocation per I/O once
 * the pool has grown to the queue depth. */
struct rdwr_req {
  struct rdwr_req* next;
  modtgt_io* io;
  const struct iovec* iov; /* the daemon's, valid until host->complete() */
  int iovcnt;
  int op;
  uint32_t flags;
  uint64_t offset;
  uint64_t length;
  modtgt_lba_status* status; /* RDWR_LBA_STATUS: the daemon's, valid until complete() */
};

struct rdwr_chunk {
  struct rdwr_chunk* next;
  struct rdwr_req reqs[RDWR_REQ_CHUNK];
};

struct rdwr_dev {
  int fd;
  int is_blockdev;
  int punch_hole_works; /* cleared after the first EOPNOTSUPP */
  int nowait_reads;     /* try reads inline with RWF_NOWAIT (not with O_DIRECT) */
  int nowait_writes;    /* same for writes; cleared where the file system refuses */
  int buffered;         /* not O_DIRECT / O_SYNC: writes usually end in the page cache */
  modtgt_dev* dev;

  pthread_mutex_t mu;
  pthread_cond_t cv;
  struct rdwr_req* head; /* GUARDED_BY(mu): queued work, FIFO */
  struct rdwr_req* tail; /* GUARDED_BY(mu) */
  struct rdwr_req* free_reqs;  /* GUARDED_BY(mu) */
  struct rdwr_chunk* chunks;   /* GUARDED_BY(mu) */
  int queued;                  /* GUARDED_BY(mu): requests in the queue */
  int idle;                    /* GUARDED_BY(mu): workers waiting on cv */
  int wakes;                   /* GUARDED_BY(mu): signals not yet taken by a worker */
  int stopping;                /* GUARDED_BY(mu) */
  int nthreads;
  pthread_t threads[RDWR_NR_THREADS];
};

static void* rdwr_worker(void* arg);

/* Stops and joins the worker threads. REQUIRES: no queued or running I/O. */
static void stop_workers(struct rdwr_dev* d) {
  pthread_mutex_lock(&d->mu);
  d->stopping = 1;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
  for (int i = 0; i < d->nthreads; i++) pthread_join(d->threads[i], NULL);
  d->nthreads = 0;
}

static void free_dev(struct rdwr_dev* d) {
  struct rdwr_chunk* c = d->chunks;
  while (c != NULL) {
    struct rdwr_chunk* next = c->next;
    free(c);
    c = next;
  }
  pthread_cond_destroy(&d->cv);
  pthread_mutex_destroy(&d->mu);
  free(d);
}

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

/* Makes the file at fd `want` bytes long when it has `have` (regular, writable files only).
 * Returns 0 or a MODTGT_E* with the reason through host->error(). */
static int grow_file(int fd, int is_blockdev, int readonly, const char* path, uint64_t have,
                     uint64_t want) {
  if (is_blockdev) {
    host->error("block device '%s' has %llu bytes, fewer than the size %llu asked for", path,
                (unsigned long long)have, (unsigned long long)want);
    return MODTGT_EINVAL;
  }
  if (readonly) {
    host->error("'%s' has %llu bytes, fewer than the size %llu asked for, and the LUN is "
                "read-only (the file cannot be extended)", path, (unsigned long long)have,
                (unsigned long long)want);
    return MODTGT_EINVAL;
  }
  if (ftruncate(fd, (off_t)want) != 0) {
    host->error("cannot extend '%s' to %llu bytes: %s", path, (unsigned long long)want,
                strerror(errno));
    return errno == ENOSPC || errno == EFBIG ? MODTGT_EINVAL : MODTGT_EIO;
  }
  return 0;
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
      /* A regular file grows (sparse) to the size asked for, as targetcli's fileio does;
       * a block device or a read-only LUN cannot. */
      int rc2 = grow_file(fd, is_blockdev, cfg->readonly, cfg->path, size, cfg->size);
      if (rc2 != 0) {
        close(fd);
        return rc2;
      }
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
  d->nowait_reads = !(flags & O_DIRECT);
  d->nowait_writes = !(flags & (O_DIRECT | O_SYNC));
  d->buffered = !(flags & (O_DIRECT | O_SYNC));
  d->dev = dev;
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cv, NULL);
  for (int i = 0; i < RDWR_NR_THREADS; i++) {
    int e = pthread_create(&d->threads[i], NULL, rdwr_worker, d);
    if (e != 0) {
      host->error("cannot start I/O threads: %s", strerror(e));
      stop_workers(d);
      free_dev(d);
      close(fd);
      return MODTGT_ENOMEM;
    }
    d->nthreads++;
  }
  host->dev_set_private(dev, d);
  host->dev_set_size(dev, size);
  host->log(MODTGT_LOG_DEBUG, "opened '%s' (%llu bytes%s%s)", cfg->path, (unsigned long long)size,
            (flags & O_DIRECT) ? ", O_DIRECT" : "", (flags & O_SYNC) ? ", O_SYNC" : "");
  return 0;
}

static void rdwr_close(modtgt_dev* dev) {
  struct rdwr_dev* d = host->dev_get_private(dev);
  if (d == NULL) return;
  stop_workers(d); /* no I/O is in flight (module.h), so the queue is empty */
  close(d->fd);
  free_dev(d);
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

/* ---- Blocking implementations (worker threads) ---- */

static int do_read(struct rdwr_dev* d, const struct iovec* iov, int iovcnt, uint64_t offset) {
  int e = transfer(d->fd, 0, iov, iovcnt, offset);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "read at %llu failed: %s", (unsigned long long)offset, strerror(e));
    return MODTGT_STS_READ_ERROR;
  }
  return MODTGT_STS_OK;
}

static int needs_sync(struct rdwr_dev* d, uint32_t flags) {
  return (flags & MODTGT_IO_FUA) || !host->dev_get_config(d->dev)->write_cache;
}

static int do_write(struct rdwr_dev* d, const struct iovec* iov, int iovcnt, uint64_t offset,
                    uint32_t flags) {
  int e = transfer(d->fd, 1, iov, iovcnt, offset);
  if (e == 0 && needs_sync(d, flags)) e = do_fdatasync(d->fd);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "write at %llu failed: %s", (unsigned long long)offset, strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

static int do_flush(struct rdwr_dev* d) {
  int e = do_fdatasync(d->fd);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "fdatasync failed: %s", strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  return MODTGT_STS_OK;
}

static int do_unmap(struct rdwr_dev* d, uint64_t offset, uint64_t length) {
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

static int run_req(struct rdwr_dev* d, const struct rdwr_req* r) {
  switch (r->op) {
    case RDWR_READ: return do_read(d, r->iov, r->iovcnt, r->offset);
    case RDWR_WRITE: return do_write(d, r->iov, r->iovcnt, r->offset, r->flags);
    case RDWR_FLUSH: return do_flush(d);
    case RDWR_UNMAP: return do_unmap(d, r->offset, r->length);
    case RDWR_LBA_STATUS:
      modtgt_fd_lba_status(d->fd, d->is_blockdev, r->offset, r->length, r->status);
      return MODTGT_STS_OK;
  }
  return MODTGT_STS_UNSUPPORTED;
}

/* ---- Worker threads ---- */

static void* rdwr_worker(void* arg) {
  struct rdwr_dev* d = arg;
  struct rdwr_req* done = NULL; /* returned to the pool at the next lock, not after complete */
  pthread_mutex_lock(&d->mu);
  for (;;) {
    if (done != NULL) {
      done->next = d->free_reqs;
      d->free_reqs = done;
      done = NULL;
    }
    while (d->head == NULL && !d->stopping) {
      d->idle++;
      pthread_cond_wait(&d->cv, &d->mu);
      d->idle--;
      if (d->wakes > 0) d->wakes--;
    }
    if (d->head == NULL) break; /* stopping and drained */
    struct rdwr_req* r = d->head;
    d->head = r->next;
    if (d->head == NULL) d->tail = NULL;
    d->queued--;
    pthread_mutex_unlock(&d->mu);
    int st = run_req(d, r);
    /* After complete() the daemon may close the device as soon as nothing is in flight;
     * close() joins this thread first, so touching d (not the I/O) afterwards is safe. */
    host->complete(r->io, (modtgt_status)st);
    done = r;
    pthread_mutex_lock(&d->mu);
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

/* Hands an I/O to the workers. Returns MODTGT_STS_ASYNC, or MODTGT_STS_NO_RESOURCE when
 * no request record can be allocated. */
static int queue_req(struct rdwr_dev* d, modtgt_io* io, int op, const struct iovec* iov,
                     int iovcnt, uint64_t offset, uint64_t length, uint32_t flags,
                     modtgt_lba_status* status) {
  pthread_mutex_lock(&d->mu);
  if (d->free_reqs == NULL) {
    /* The pool grows to the deepest queue this device has seen, then stops allocating. */
    struct rdwr_chunk* c = malloc(sizeof(*c));
    if (c == NULL) {
      pthread_mutex_unlock(&d->mu);
      host->log(MODTGT_LOG_ERROR, "out of memory queueing an I/O");
      return MODTGT_STS_NO_RESOURCE;
    }
    c->next = d->chunks;
    d->chunks = c;
    for (int i = 0; i < RDWR_REQ_CHUNK; i++) {
      c->reqs[i].next = d->free_reqs;
      d->free_reqs = &c->reqs[i];
    }
  }
  struct rdwr_req* r = d->free_reqs;
  d->free_reqs = r->next;
  r->next = NULL;
  r->io = io;
  r->iov = iov;
  r->iovcnt = iovcnt;
  r->op = op;
  r->flags = flags;
  r->offset = offset;
  r->length = length;
  r->status = status;
  if (d->tail != NULL) {
    d->tail->next = r;
  } else {
    d->head = r;
  }
  d->tail = r;
  d->queued++;
  int awake = d->nthreads - d->idle + d->wakes; /* each will take one request soon */
  int slow = op != RDWR_WRITE || needs_sync(d, flags) || !d->buffered;
  int wake = d->idle > d->wakes &&
             (awake == 0 || d->queued > (slow ? awake : awake * RDWR_FAST_BATCH));
  if (wake) d->wakes++;
  pthread_mutex_unlock(&d->mu);
  if (wake) pthread_cond_signal(&d->cv);
  return MODTGT_STS_ASYNC;
}

/* One non-blocking attempt on the event loop: 1 = done, 0 = hand it to the workers. A
 * short transfer is redone whole by the workers (idempotent: same data, same place). */
static int try_nowait(struct rdwr_dev* d, int is_write, const struct iovec* iov, int iovcnt,
                      uint64_t offset) {
  int* enabled = is_write ? &d->nowait_writes : &d->nowait_reads;
  if (!__atomic_load_n(enabled, __ATOMIC_RELAXED) || iovcnt > RDWR_MAX_IOV) return 0;
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) total += iov[i].iov_len;
  ssize_t n;
  do {
    n = is_write ? pwritev2(d->fd, iov, iovcnt, (off_t)offset, RWF_NOWAIT)
                 : preadv2(d->fd, iov, iovcnt, (off_t)offset, RWF_NOWAIT);
  } while (n < 0 && errno == EINTR);
  if (n >= 0) return (size_t)n == total;
  if (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS) {
    /* This file system (or kernel) cannot do it: stop trying, use the workers. */
    __atomic_store_n(enabled, 0, __ATOMIC_RELAXED);
    host->log(MODTGT_LOG_DEBUG, "RWF_NOWAIT %ss unsupported here (%s); using I/O threads",
              is_write ? "write" : "read", strerror(errno));
  }
  return 0; /* EAGAIN (not cached, or would block), or an error the workers will report */
}

/* ---- I/O callouts (nr_threads == 0: on the event loop; must not block) ---- */

static int rdwr_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                     uint64_t offset) {
  struct rdwr_dev* d = host->dev_get_private(dev);
  if (try_nowait(d, 0, iov, iovcnt, offset)) return MODTGT_STS_OK;
  return queue_req(d, io, RDWR_READ, iov, iovcnt, offset, 0, 0, NULL);
}

static int rdwr_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                      uint64_t offset, uint32_t flags) {
  struct rdwr_dev* d = host->dev_get_private(dev);
  if (!needs_sync(d, flags) && try_nowait(d, 1, iov, iovcnt, offset)) return MODTGT_STS_OK;
  return queue_req(d, io, RDWR_WRITE, iov, iovcnt, offset, 0, flags, NULL);
}

static int rdwr_flush(modtgt_dev* dev, modtgt_io* io) {
  return queue_req(host->dev_get_private(dev), io, RDWR_FLUSH, NULL, 0, 0, 0, 0, NULL);
}

static int rdwr_unmap(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length) {
  return queue_req(host->dev_get_private(dev), io, RDWR_UNMAP, NULL, 0, offset, length, 0, NULL);
}

static int rdwr_get_lba_status(modtgt_dev* dev, modtgt_io* io, uint64_t offset,
                               uint64_t length, modtgt_lba_status* out) {
  return queue_req(host->dev_get_private(dev), io, RDWR_LBA_STATUS, NULL, 0, offset, length, 0,
                   out);
}

/* Live changes (module.h reconfig). SIZE arrives with no I/O in flight: a larger size
 * extends a regular file (a block device must already be that large); a smaller one only
 * shrinks the LUN, never the file (its data past the new end is kept, as tcmu-runner's file
 * handler does). WRITE_CACHE needs nothing: writes read config->write_cache each time
 * (needs_sync). Another file is a new LUN, not a reconfig. */
static int rdwr_reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) {
  struct rdwr_dev* d = host->dev_get_private(dev);
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    if (strcmp(rc->path, cfg->path) != 0) {
      host->error("rdwr cannot switch a live LUN from '%s' to '%s'; delete and re-create it",
                  cfg->path, rc->path);
      return MODTGT_EINVAL;
    }
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    struct stat st;
    if (fstat(d->fd, &st) != 0) {
      host->error("fstat '%s': %s", cfg->path, strerror(errno));
      return MODTGT_EIO;
    }
    uint64_t have = (uint64_t)st.st_size;
    if (d->is_blockdev && ioctl(d->fd, BLKGETSIZE64, &have) != 0) {
      host->error("BLKGETSIZE64 on '%s': %s", cfg->path, strerror(errno));
      return MODTGT_EIO;
    }
    if (rc->size > have) {
      int e = grow_file(d->fd, d->is_blockdev, cfg->readonly, cfg->path, have, rc->size);
      if (e != 0) return e;
    }
    host->dev_set_size(dev, rc->size);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    host->log(MODTGT_LOG_DEBUG, "'%s': write cache %s", cfg->path,
              rc->write_cache ? "on" : "off (every write synchronous)");
  }
  return 0;
}

static const modtgt_backing_store rdwr_store = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .caps = MODTGT_CAP_THIN,
    .name = "rdwr",
    .subtype = NULL,
    .version = "1.0.0",
    .description = "a regular file or block device: page-cache hits on the loop, the rest on I/O threads",
    .cfg_desc = "path of a file or block device; bsoflags direct,sync",
    .nr_threads = 0, /* callouts on the event loop; blocking work on our own threads */
    .check_config = rdwr_check_config,
    .open = rdwr_open,
    .close = rdwr_close,
    .read = rdwr_read,
    .write = rdwr_write,
    .flush = rdwr_flush,
    .unmap = rdwr_unmap,
    .device_type = MODTGT_DEVTYPE_DISK,
    .reconfig = rdwr_reconfig,
    .get_lba_status = rdwr_get_lba_status,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h);

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &rdwr_store;
}
