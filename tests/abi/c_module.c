/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_ctest: a correct backing store in plain C (C11, module.h only): a RAM disk run on a
 * 2-thread pool, with an asynchronous flush, thin unmap, check_config, reconfig, the
 * cluster lock group, and a handle_cmd that answers vendor-specific opcodes 0xc0-0xc5
 * (data, sense helpers, status, events). ABI 1.2: get_lba_status (a 4 KiB unit that is
 * all zeros is reported deallocated) and atomic writes of up to 64 KiB (a per-device mutex
 * makes every read and write all-or-nothing). Counters are exported for the unit tests.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modtgt/module.h"

__attribute__((visibility("default"))) int ctest_loads;
__attribute__((visibility("default"))) int ctest_unloads;
__attribute__((visibility("default"))) int ctest_open_devices;

static const modtgt_host* host;

__attribute__((visibility("default"))) int ctest_wce_calls;
__attribute__((visibility("default"))) int ctest_last_wce = -1;
__attribute__((visibility("default"))) int ctest_atomic_writes;

#define CTEST_UNIT 4096u

struct ram {
  pthread_mutex_t mu; /* reads and writes of one device are atomic w.r.t. each other */
  unsigned char* data;
  uint64_t size;
  int locked;        /* cluster lock group state (see c_lock) */
  uint16_t lock_tag;
};

static int c_load(void) {
  __atomic_add_fetch(&ctest_loads, 1, __ATOMIC_SEQ_CST);
  return 0;
}
static void join_flush_threads_locked(void);
static pthread_mutex_t flush_mu;
static void c_unload(void) {
  pthread_mutex_lock(&flush_mu);
  join_flush_threads_locked();
  pthread_mutex_unlock(&flush_mu);
  __atomic_add_fetch(&ctest_unloads, 1, __ATOMIC_SEQ_CST);
}

static int c_check_config(const modtgt_dev_config* cfg) {
  if (strcmp(cfg->path, "reject") == 0) {
    host->error("ctest rejects path '%s'", cfg->path);
    return MODTGT_EINVAL;
  }
  return 0;
}

static int c_open(modtgt_dev* dev, int reopen) {
  (void)reopen;
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  if (strcmp(cfg->path, "fail-open") == 0) {
    host->error("cannot open '%s': simulated failure", cfg->path);
    return MODTGT_ENOENT;
  }
  struct ram* r = calloc(1, sizeof(*r));
  if (!r) return MODTGT_ENOMEM;
  r->size = cfg->size ? cfg->size : (1u << 20);
  r->data = calloc(1, r->size);
  if (!r->data) {
    free(r);
    host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  pthread_mutex_init(&r->mu, NULL);
  host->dev_set_private(dev, r);
  if (!cfg->size) host->dev_set_size(dev, r->size);
  modtgt_atomic_limits lim = {.struct_size = sizeof(lim), .max_bytes = 64 * 1024};
  host->dev_set_atomic_limits(dev, &lim);
  __atomic_add_fetch(&ctest_open_devices, 1, __ATOMIC_SEQ_CST);
  host->log(MODTGT_LOG_DEBUG, "ctest opened %s", cfg->cfgstring);
  return 0;
}

static void c_close(modtgt_dev* dev) {
  struct ram* r = host->dev_get_private(dev);
  pthread_mutex_destroy(&r->mu);
  free(r->data);
  free(r);
  __atomic_sub_fetch(&ctest_open_devices, 1, __ATOMIC_SEQ_CST);
}

static int c_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                  uint64_t offset) {
  (void)io;
  struct ram* r = host->dev_get_private(dev);
  int st = MODTGT_STS_OK;
  pthread_mutex_lock(&r->mu);
  for (int i = 0; i < iovcnt && st == MODTGT_STS_OK; i++) {
    if (offset + iov[i].iov_len > r->size) {
      st = MODTGT_STS_LBA_OUT_OF_RANGE;
      break;
    }
    memcpy(iov[i].iov_base, r->data + offset, iov[i].iov_len);
    offset += iov[i].iov_len;
  }
  pthread_mutex_unlock(&r->mu);
  return st;
}

static int c_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                   uint64_t offset, uint32_t flags) {
  (void)io;
  struct ram* r = host->dev_get_private(dev);
  if (flags & MODTGT_IO_ATOMIC) __atomic_add_fetch(&ctest_atomic_writes, 1, __ATOMIC_SEQ_CST);
  int st = MODTGT_STS_OK;
  pthread_mutex_lock(&r->mu);
  for (int i = 0; i < iovcnt; i++) {
    if (offset + iov[i].iov_len > r->size) {
      st = MODTGT_STS_LBA_OUT_OF_RANGE;
      break;
    }
    memcpy(r->data + offset, iov[i].iov_base, iov[i].iov_len);
    offset += iov[i].iov_len;
  }
  pthread_mutex_unlock(&r->mu);
  return st;
}

static int unit_is_zero(const struct ram* r, uint64_t off) {
  for (uint64_t i = off; i < off + CTEST_UNIT && i < r->size; i++) {
    if (r->data[i] != 0) return 0;
  }
  return 1;
}

/* get_lba_status: 4 KiB units that are all zeros count as deallocated. */
static int c_get_lba_status(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length,
                            modtgt_lba_status* out) {
  (void)io;
  struct ram* r = host->dev_get_private(dev);
  pthread_mutex_lock(&r->mu);
  uint64_t unit = offset / CTEST_UNIT * CTEST_UNIT;
  const int zero = unit_is_zero(r, unit);
  uint64_t end = unit + CTEST_UNIT;
  while (end < offset + length && unit_is_zero(r, end) == zero) end += CTEST_UNIT;
  pthread_mutex_unlock(&r->mu);
  out->length = (end < offset + length ? end : offset + length) - offset;
  out->state = zero ? MODTGT_LBA_DEALLOCATED : MODTGT_LBA_MAPPED;
  return MODTGT_STS_OK;
}

static int c_unmap(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length) {
  (void)io;
  struct ram* r = host->dev_get_private(dev);
  pthread_mutex_lock(&r->mu);
  memset(r->data + offset, 0, length);
  pthread_mutex_unlock(&r->mu);
  return MODTGT_STS_OK;
}

/* Asynchronous flush: completes from a thread of the module's own. The threads are
 * joinable and joined by unload() (or when the table fills up): the ABI requires that no
 * module thread runs after unload() returns, since the code is unmapped next. */
#define MAX_FLUSH_THREADS 64
static pthread_mutex_t flush_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_t flush_threads[MAX_FLUSH_THREADS];
static int nr_flush_threads;

static void join_flush_threads_locked(void) {
  for (int i = 0; i < nr_flush_threads; i++) pthread_join(flush_threads[i], NULL);
  nr_flush_threads = 0;
}

static void* flush_thread(void* arg) {
  usleep(1000);
  host->complete((modtgt_io*)arg, MODTGT_STS_OK);
  return NULL;
}
static int c_flush(modtgt_dev* dev, modtgt_io* io) {
  (void)dev;
  pthread_mutex_lock(&flush_mu);
  if (nr_flush_threads == MAX_FLUSH_THREADS) join_flush_threads_locked();
  int rc = pthread_create(&flush_threads[nr_flush_threads], NULL, flush_thread, io);
  if (rc == 0) nr_flush_threads++;
  pthread_mutex_unlock(&flush_mu);
  return rc == 0 ? MODTGT_STS_ASYNC : MODTGT_STS_NO_RESOURCE;
}

/* reconfig: SIZE reallocates (zero-filled growth); WRITE_CACHE is counted; a config
 * string "refuse" is refused with a reason, any other accepted. */
static int c_reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) {
  struct ram* r = host->dev_get_private(dev);
  if ((rc->what & MODTGT_RECONFIG_CFGSTRING) && strcmp(rc->path, "refuse") == 0) {
    host->error("ctest refuses config string '%s'", rc->cfgstring);
    return MODTGT_EINVAL;
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    unsigned char* p = realloc(r->data, rc->size);
    if (p == NULL) {
      host->error("out of memory for %llu bytes", (unsigned long long)rc->size);
      return MODTGT_ENOMEM;
    }
    if (rc->size > r->size) memset(p + r->size, 0, rc->size - r->size);
    r->data = p;
    r->size = rc->size;
    host->dev_set_size(dev, rc->size);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    __atomic_add_fetch(&ctest_wce_calls, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&ctest_last_wce, (int)rc->write_cache, __ATOMIC_SEQ_CST);
  }
  return 0;
}

/* Cluster lock group: tag 0xffff plays "another node holds it". */
static int c_lock(modtgt_dev* dev, uint16_t tag) {
  struct ram* r = host->dev_get_private(dev);
  if (tag == 0xffff) return MODTGT_STS_BUSY;
  r->locked = 1;
  r->lock_tag = tag;
  return MODTGT_STS_OK;
}
static int c_unlock(modtgt_dev* dev) {
  struct ram* r = host->dev_get_private(dev);
  r->locked = 0;
  return MODTGT_STS_OK;
}
static int c_get_lock_tag(modtgt_dev* dev, uint16_t* tag) {
  struct ram* r = host->dev_get_private(dev);
  if (!r->locked) return MODTGT_STS_NOT_HANDLED;
  *tag = r->lock_tag;
  return MODTGT_STS_OK;
}
static int c_get_lock_state(modtgt_dev* dev) {
  struct ram* r = host->dev_get_private(dev);
  return r->locked ? MODTGT_LOCK_LOCKED : MODTGT_LOCK_UNLOCKED;
}

static int c_handle_cmd(modtgt_dev* dev, modtgt_cmd* cmd) {
  size_t len;
  const uint8_t* cdb = host->cmd_cdb(cmd, &len);
  if (len > 0 && cdb[0] == 0xc0) { /* vendor specific: returns "CTEST" */
    int n;
    struct iovec* v = host->cmd_data(cmd, &n);
    if (n < 1 || v[0].iov_len < 5) return MODTGT_STS_UNSUPPORTED;
    memcpy(v[0].iov_base, "CTEST", 5);
    host->cmd_set_data_in_length(cmd, 5);
    return MODTGT_STS_OK;
  }
  if (len > 0 && cdb[0] == 0xc2) { /* NOT READY / FORMAT IN PROGRESS, 25% done, INFO 7 */
    modtgt_sense s = {.key = 0x2, .asc = 0x04, .ascq = 0x04,
                      .flags = MODTGT_SENSE_PROGRESS | MODTGT_SENSE_INFO,
                      .progress = 0x4000, .info = 7};
    host->cmd_set_sense_ex(cmd, &s);
    return MODTGT_STS_SENSE_SET;
  }
  if (len > 0 && cdb[0] == 0xc3) { /* BUSY without sense */
    host->cmd_set_status(cmd, 0x08);
    return MODTGT_STS_SENSE_SET;
  }
  if (len > 0 && cdb[0] == 0xc4) { /* raw sense: valid (cdb[1]=0) or not (cdb[1]=1) */
    static const uint8_t good[18] = {0x70, 0, 0x3, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x11, 0x05};
    static const uint8_t bad[8] = {0x42, 0, 0, 0, 0, 0, 0, 0};
    if (host->cmd_set_sense_raw(cmd, cdb[1] ? bad : good, cdb[1] ? sizeof(bad) : sizeof(good)) != 0) {
      host->cmd_set_sense(cmd, 0x4, 0x44, 0x00); /* our own fallback */
    }
    return MODTGT_STS_SENSE_SET;
  }
  if (len > 0 && cdb[0] == 0xc5) { /* reports a lost lock */
    host->dev_report_event(dev, MODTGT_EVENT_LOCK_LOST, "taken by node 2");
    return MODTGT_STS_OK;
  }
  if (len > 0 && cdb[0] == 0xc1) { /* ILLEGAL REQUEST / INVALID FIELD IN CDB */
    host->cmd_set_sense(cmd, 0x5, 0x24, 0x00);
    return MODTGT_STS_SENSE_SET;
  }
  return MODTGT_STS_NOT_HANDLED;
}

static const modtgt_backing_store desc = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .caps = MODTGT_CAP_THIN | MODTGT_CAP_ATOMIC_WRITE,
    .name = "ctest",
    .version = "2.1",
    .description = "C test module (RAM disk)",
    .cfg_desc = "any name; 'reject' fails check_config, 'fail-open' fails open",
    .nr_threads = 2,
    .load = c_load,
    .unload = c_unload,
    .check_config = c_check_config,
    .open = c_open,
    .close = c_close,
    .read = c_read,
    .write = c_write,
    .flush = c_flush,
    .unmap = c_unmap,
    .handle_cmd = c_handle_cmd,
    .reconfig = c_reconfig,
    .lock = c_lock,
    .unlock = c_unlock,
    .get_lock_tag = c_get_lock_tag,
    .get_lock_state = c_get_lock_state,
    .get_lba_status = c_get_lba_status,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h);
MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &desc;
}
