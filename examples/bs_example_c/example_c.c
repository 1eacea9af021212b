/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_example_c: a RAM disk, written in plain C against <modtgt/module.h> only. An example
 * of an out-of-tree module built with the installed SDK (see README.md and the Makefile).
 *
 * Each LUN is its own anonymous memory mapping of the configured size
 * (modtgtadm ... --bstype example_c --backing-store ANY-NAME --params size=64M). Pages are
 * allocated by the kernel on first write (MAP_NORESERVE), so a large, mostly unwritten
 * disk costs little; unwritten blocks read as zeros. The data is gone when the LUN is
 * deleted or the daemon stops.
 *
 * Shows: check_config (side-effect free validation with host->error), open/close with a
 * private pointer, read/write/flush callouts, inline execution on the event loop
 * (nr_threads == 0: memcpy never blocks), and a reader/writer lock because the event
 * loops of several sessions may run callouts of the same device at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <modtgt/module.h>

/* Refuse sizes above this: a typo like size=64T must not reserve 64 TiB of address
 * space for a toy. */
#define EXAMPLE_MAX_SIZE (64ull << 30) /* 64 GiB */

/* The host services table, given to modtgt_module_init; valid until the module is
 * unloaded. */
static const modtgt_host* host;

struct mem_dev {
  uint8_t* data;
  uint64_t size;
  /* Callouts of one device may run on several event-loop threads at once (one per
   * session): reads share the lock, writes take it alone, so a read never sees half of
   * a write to the same blocks. */
  pthread_rwlock_t lock;
};

static int mem_check_config(const modtgt_dev_config* cfg) {
  if (cfg->size == 0) {
    host->error("example_c needs a size: --params size=<bytes>[K|M|G]");
    return MODTGT_EINVAL;
  }
  if (cfg->size > EXAMPLE_MAX_SIZE) {
    host->error("size %llu is above the example's limit of %llu bytes",
                (unsigned long long)cfg->size, (unsigned long long)EXAMPLE_MAX_SIZE);
    return MODTGT_EINVAL;
  }
  if (cfg->bsopts[0] != '\0') {
    host->error("example_c takes no --bsopts (got '%s')", cfg->bsopts);
    return MODTGT_EINVAL;
  }
  return MODTGT_OK;
}

static int mem_open(modtgt_dev* dev, int reopen) {
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  /* open() may be called without a check_config() first (reopen after a module
   * reload): validate again. */
  int rc = mem_check_config(cfg);
  if (rc != MODTGT_OK) return rc;
  if (reopen) {
    /* A RAM disk cannot survive its module being unloaded: the old mapping is gone. */
    host->log(MODTGT_LOG_WARN, "example_c: reopened '%s' starts empty", cfg->path);
  }
  struct mem_dev* m = calloc(1, sizeof(*m));
  if (m == NULL) {
    host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  m->size = cfg->size;
  void* p = mmap(NULL, m->size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    host->error("cannot map %llu bytes: %s", (unsigned long long)m->size, strerror(errno));
    free(m);
    return MODTGT_ENOMEM;
  }
  m->data = p;
  pthread_rwlock_init(&m->lock, NULL);
  host->dev_set_private(dev, m);
  host->dev_set_size(dev, m->size);
  host->log(MODTGT_LOG_INFO, "example_c: '%s' is a %llu-byte RAM disk", cfg->path,
            (unsigned long long)m->size);
  return MODTGT_OK;
}

static void mem_close(modtgt_dev* dev) {
  struct mem_dev* m = host->dev_get_private(dev);
  if (m == NULL) return;
  munmap(m->data, m->size);
  pthread_rwlock_destroy(&m->lock);
  free(m);
  host->dev_set_private(dev, NULL);
}

/* The core has checked offset + length against the size: no bounds check needed, but a
 * cheap one keeps a core bug from becoming memory corruption. */
static int in_range(const struct mem_dev* m, const struct iovec* iov, int iovcnt,
                    uint64_t offset) {
  uint64_t len = 0;
  for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
  return offset <= m->size && len <= m->size - offset;
}

static int mem_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                    uint64_t offset) {
  (void)io; /* only needed to complete asynchronously (host->complete) */
  struct mem_dev* m = host->dev_get_private(dev);
  if (!in_range(m, iov, iovcnt, offset)) return MODTGT_STS_LBA_OUT_OF_RANGE;
  pthread_rwlock_rdlock(&m->lock);
  for (int i = 0; i < iovcnt; i++) {
    memcpy(iov[i].iov_base, m->data + offset, iov[i].iov_len);
    offset += iov[i].iov_len;
  }
  pthread_rwlock_unlock(&m->lock);
  return MODTGT_STS_OK;
}

static int mem_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                     uint64_t offset, uint32_t flags) {
  (void)io;
  /* MODTGT_IO_FUA in flags asks for stable storage; memory is as stable as this store
   * gets, so there is nothing more to do. */
  (void)flags;
  struct mem_dev* m = host->dev_get_private(dev);
  if (!in_range(m, iov, iovcnt, offset)) return MODTGT_STS_LBA_OUT_OF_RANGE;
  pthread_rwlock_wrlock(&m->lock);
  for (int i = 0; i < iovcnt; i++) {
    memcpy(m->data + offset, iov[i].iov_base, iov[i].iov_len);
    offset += iov[i].iov_len;
  }
  pthread_rwlock_unlock(&m->lock);
  return MODTGT_STS_OK;
}

/* SYNCHRONIZE CACHE: nothing is cached in front of the memory. (Leaving .flush NULL
 * would do the same; it is here to show the callout.) */
static int mem_flush(modtgt_dev* dev, modtgt_io* io) {
  (void)dev;
  (void)io;
  return MODTGT_STS_OK;
}

static const modtgt_backing_store example_c_desc = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .name = "example_c",
    .version = "1.0.0",
    .description = "example RAM disk (plain C, out-of-tree SDK build)",
    .cfg_desc = "any name; --params size=<bytes> sets the size (at most 64 GiB)",
    .nr_threads = 0, /* inline on the event loop: the callouts never block */
    .check_config = mem_check_config,
    .open = mem_open,
    .close = mem_close,
    .read = mem_read,
    .write = mem_write,
    .flush = mem_flush,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &example_c_desc;
}
