/* SPDX-License-Identifier: Apache-2.0
 *
 * bs_file_takeover: a file-backed disk that takes over the SCSI commands it cares about,
 * in the style of tcmu-runner's file_optical.c. handle_cmd sees every CDB first (except
 * the few whose state lives in the core: REQUEST SENSE, REPORT LUNS, reservations) and
 *
 *   executes itself       READ(10/16), WRITE(10/16), SYNCHRONIZE CACHE(10),
 *                         TEST UNIT READY, FORMAT UNIT
 *   answers NOT_HANDLED   for everything else: INQUIRY, READ CAPACITY, MODE SENSE/SELECT,
 *                         VERIFY, WRITE SAME, COMPARE AND WRITE, READ(6/12), ... are the
 *                         core's emulation, which reaches the file through the read/write
 *                         callouts below (mandatory in the ABI for exactly this reason).
 *
 * The module parses its CDBs itself (SBC-4 5.16/5.17 READ, 5.40/5.41 WRITE, 5.24
 * SYNCHRONIZE CACHE(10), 5.3 FORMAT UNIT, SPC-4 6.47 TEST UNIT READY), checks the LBA range
 * and answers with its own status and sense through the host helpers:
 *   - READ/WRITE beyond the end: ILLEGAL REQUEST / LBA OUT OF RANGE (05/21/00) built with
 *     host->cmd_set_sense_ex, INFORMATION = the first LBA asked for;
 *   - SYNCHRONIZE CACHE beyond the end: the plain MODTGT_STS_LBA_OUT_OF_RANGE status (the
 *     core maps it), to show the other way;
 *   - while a format runs: NOT READY / LOGICAL UNIT NOT READY, FORMAT IN PROGRESS
 *     (02/04/04) with the sense-key specific PROGRESS INDICATION (SPC-4 4.5.2.4.4).
 *
 * FORMAT UNIT zeroes the whole file on the device's own format thread (started in open(),
 * stopped and joined in close()). With IMMED=1 in the parameter list header the command
 * returns GOOD at once; without it handle_cmd returns MODTGT_STS_ASYNC and the format
 * thread completes the command with host->cmd_complete() when the last chunk is zeroed.
 *
 * Threads: nr_threads = 4. handle_cmd and the callouts run on 4 daemon workers per device
 * and simply block in pread/pwrite/fdatasync (tcmu-runner's file_optical is synchronous
 * too); the one long-running job, FORMAT, gets its own thread so that it neither holds a
 * worker nor the event loop, and shows completion from a module-owned thread.
 *
 *   config string   file_takeover/PATH   (an existing regular file, read/write)
 *   --params size=N resizes the file at open
 *   --bsopts format_rate=N[K|M|G]   zero at most N bytes per second while formatting
 *                                   (0 or absent: as fast as the file system goes); lets a
 *                                   test watch the progress indication grow
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
#include <time.h>
#include <unistd.h>

#include <modtgt/module.h>

#define FT_NR_THREADS 4
#define FT_FORMAT_CHUNK (1u << 20) /* bytes zeroed per pwrite while formatting */

/* Operation codes (SPC-4 / SBC-4 annex). */
#define OP_TEST_UNIT_READY 0x00
#define OP_FORMAT_UNIT 0x04
#define OP_INQUIRY 0x12
#define OP_READ10 0x28
#define OP_WRITE10 0x2a
#define OP_SYNCHRONIZE_CACHE10 0x35
#define OP_READ16 0x88
#define OP_WRITE16 0x8a

/* Sense keys and additional sense codes used here (SPC-4 4.5.6, annex D). */
#define KEY_NOT_READY 0x2
#define KEY_ILLEGAL_REQUEST 0x5
#define KEY_DATA_PROTECT 0x7

static const modtgt_host* host;

struct ft_dev {
  int fd;
  uint32_t block_size;
  uint64_t size;          /* bytes; written by reconfig (no I/O in flight), read by workers */
  int write_cache;        /* WCE; atomic accesses (reconfig runs on any thread) */
  uint64_t format_rate;   /* bytes per second, 0 = unlimited */
  char* path;             /* for log messages */

  pthread_mutex_t mu;     /* guards everything below */
  pthread_cond_t cv;      /* format thread: work / stop / inflight == 0 / throttle */
  pthread_t thread;
  int thread_started;
  int stop;               /* close(): the format thread must end */
  int format_requested;   /* a FORMAT UNIT was accepted and not yet started */
  int formatting;         /* from the accepted FORMAT UNIT until the file is zeroed */
  uint64_t format_done;   /* bytes zeroed so far */
  uint64_t format_total;  /* bytes to zero */
  modtgt_cmd* format_cmd; /* a FORMAT UNIT without IMMED, completed by the format thread */
  int inflight;           /* media accesses running now (takeover or callout) */

  /* Statistics, logged at close (the e2e test reads them to prove the takeover path). */
  uint64_t takeover_reads, takeover_writes, callout_reads, callout_writes, formats;
};

/* ---- helpers ---- */

static uint64_t get_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

static uint64_t load_size(struct ft_dev* f) { return __atomic_load_n(&f->size, __ATOMIC_ACQUIRE); }

/* Parses "N[K|M|G]" (powers of 1024). Returns 0 and *out, or -1. */
static int parse_bytes(const char* s, size_t len, uint64_t* out) {
  uint64_t v = 0;
  size_t i = 0;
  if (len == 0) return -1;
  for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
    if (v > (UINT64_MAX - 9) / 10) return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (i == 0) return -1;
  int shift = 0;
  if (i < len) {
    switch (s[i]) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return -1;
    }
    if (++i != len) return -1;
  }
  if (shift && v > (UINT64_MAX >> shift)) return -1;
  *out = v << shift;
  return 0;
}

/* --bsopts: comma-separated key=value; only format_rate is known. */
static int parse_bsopts(const char* opts, uint64_t* format_rate) {
  *format_rate = 0;
  const char* p = opts;
  while (*p != '\0') {
    const char* end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    static const char kKey[] = "format_rate=";
    if (len >= sizeof(kKey) - 1 && strncmp(p, kKey, sizeof(kKey) - 1) == 0) {
      if (parse_bytes(p + sizeof(kKey) - 1, len - (sizeof(kKey) - 1), format_rate) != 0) {
        host->error("format_rate: expected bytes per second, e.g. 64M (got '%.*s')", (int)len, p);
        return MODTGT_EINVAL;
      }
    } else if (len > 0) {
      host->error("unknown --bsopts option '%.*s' (known: format_rate=N[K|M|G])", (int)len, p);
      return MODTGT_EINVAL;
    }
    p += len + (end ? 1 : 0);
  }
  return MODTGT_OK;
}

/* Media access bracket: refused while a format runs (the caller reports it), counted
 * otherwise so that a starting format waits until running accesses are done. */
static int begin_media(struct ft_dev* f) {
  pthread_mutex_lock(&f->mu);
  int ok = !f->formatting;
  if (ok) f->inflight++;
  pthread_mutex_unlock(&f->mu);
  return ok;
}

static void end_media(struct ft_dev* f) {
  pthread_mutex_lock(&f->mu);
  if (--f->inflight == 0) pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
}

static void count(uint64_t* c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }

/* preadv/pwritev of the whole iovec list at offset, short transfers and EINTR handled.
 * Reads past the end of the file (it shrank) give zeros. Returns 0 or an errno. */
static int rw_all(int fd, int write, const struct iovec* iov, int iovcnt, uint64_t offset,
                  size_t limit, int dsync) {
  for (int i = 0; i < iovcnt && limit > 0; i++) {
    uint8_t* p = iov[i].iov_base;
    size_t left = iov[i].iov_len < limit ? iov[i].iov_len : limit;
    limit -= left;
    while (left > 0) {
      struct iovec one = {p, left};
      ssize_t n = write ? pwritev2(fd, &one, 1, (off_t)offset, dsync ? RWF_DSYNC : 0)
                        : preadv(fd, &one, 1, (off_t)offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) {
        if (write) return EIO;
        memset(p, 0, left);
        n = (ssize_t)left;
      }
      p += n;
      left -= (size_t)n;
      offset += (uint64_t)n;
    }
  }
  return 0;
}

static size_t iov_total(const struct iovec* iov, int iovcnt) {
  size_t t = 0;
  for (int i = 0; i < iovcnt; i++) t += iov[i].iov_len;
  return t;
}

/* ---- sense replies ---- */

static int sense(modtgt_cmd* cmd, uint8_t key, uint8_t asc, uint8_t ascq) {
  modtgt_sense s = {.key = key, .asc = asc, .ascq = ascq};
  host->cmd_set_sense_ex(cmd, &s);
  return MODTGT_STS_SENSE_SET;
}

/* ILLEGAL REQUEST / INVALID FIELD IN CDB (24/00) or IN PARAMETER LIST (26/00) with the
 * sense-key specific field pointer (SPC-4 4.5.2.4.2). */
static int invalid_field(modtgt_cmd* cmd, int in_cdb, uint16_t byte, int bit) {
  modtgt_sense s = {.key = KEY_ILLEGAL_REQUEST, .asc = in_cdb ? 0x24 : 0x26, .ascq = 0x00,
                    .flags = MODTGT_SENSE_FIELD_POINTER, .field_pointer = byte,
                    .field_in_cdb = (uint8_t)(in_cdb != 0)};
  if (bit >= 0) {
    s.bit_pointer = (uint8_t)bit;
    s.bit_pointer_valid = 1;
  }
  host->cmd_set_sense_ex(cmd, &s);
  return MODTGT_STS_SENSE_SET;
}

/* ILLEGAL REQUEST / LBA OUT OF RANGE (21/00), INFORMATION = the LBA asked for. */
static int lba_out_of_range(modtgt_cmd* cmd, uint64_t lba) {
  modtgt_sense s = {.key = KEY_ILLEGAL_REQUEST, .asc = 0x21, .ascq = 0x00,
                    .flags = MODTGT_SENSE_INFO, .info = lba};
  host->cmd_set_sense_ex(cmd, &s);
  return MODTGT_STS_SENSE_SET;
}

/* NOT READY / LOGICAL UNIT NOT READY, FORMAT IN PROGRESS (02/04/04) with the PROGRESS
 * INDICATION: the fraction done in 1/65536ths (SPC-4 4.5.2.4.4). REQUIRES: f->mu held. */
static int format_in_progress_locked(struct ft_dev* f, modtgt_cmd* cmd) {
  uint64_t p = f->format_total
                   ? (uint64_t)((double)f->format_done / (double)f->format_total * 65536.0)
                   : 0;
  modtgt_sense s = {.key = KEY_NOT_READY, .asc = 0x04, .ascq = 0x04,
                    .flags = MODTGT_SENSE_PROGRESS,
                    .progress = (uint16_t)(p > 65535 ? 65535 : p)};
  host->cmd_set_sense_ex(cmd, &s);
  return MODTGT_STS_SENSE_SET;
}

/* ---- the format thread ---- */

static void add_ns(struct timespec* t, uint64_t ns) {
  ns += (uint64_t)t->tv_nsec;
  t->tv_sec += (time_t)(ns / 1000000000u);
  t->tv_nsec = (long)(ns % 1000000000u);
}

/* Zeroes [0, total) chunk by chunk, publishing progress, honouring format_rate, stopping
 * early when close() asks. Returns MODTGT_STS_OK, WRITE_ERROR, or BUSY when stopped. */
static int format_file(struct ft_dev* f, uint64_t total) {
  size_t chunk = FT_FORMAT_CHUNK;
  if (f->format_rate != 0 && f->format_rate / 20 < chunk) {
    /* At least ~20 progress steps a second when throttled. */
    chunk = f->format_rate / 20 > f->block_size ? (size_t)(f->format_rate / 20) : f->block_size;
  }
  uint8_t* zeros = calloc(1, chunk);
  if (zeros == NULL) return MODTGT_STS_WRITE_ERROR;
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status = MODTGT_STS_OK;
  uint64_t off = 0;
  while (off < total) {
    size_t n = total - off < chunk ? (size_t)(total - off) : chunk;
    struct iovec v = {zeros, n};
    int e = rw_all(f->fd, 1, &v, 1, off, n, 0);
    if (e != 0) {
      host->log(MODTGT_LOG_ERROR, "file_takeover: '%s': format write at %llu: %s", f->path,
                (unsigned long long)off, strerror(e));
      status = MODTGT_STS_WRITE_ERROR;
      break;
    }
    off += n;
    pthread_mutex_lock(&f->mu);
    f->format_done = off;
    if (f->format_rate != 0 && off < total) {
      /* Throttle: chunk k may end no earlier than start + k*chunk/rate. */
      struct timespec deadline = start;
      add_ns(&deadline, (uint64_t)((double)off * 1e9 / (double)f->format_rate));
      while (!f->stop &&
             pthread_cond_timedwait(&f->cv, &f->mu, &deadline) != ETIMEDOUT) {
      }
    }
    int stop = f->stop;
    pthread_mutex_unlock(&f->mu);
    if (stop) {
      status = MODTGT_STS_BUSY;
      break;
    }
  }
  free(zeros);
  if (status == MODTGT_STS_OK && fdatasync(f->fd) != 0) {
    host->log(MODTGT_LOG_ERROR, "file_takeover: '%s': fdatasync after format: %s", f->path,
              strerror(errno));
    status = MODTGT_STS_WRITE_ERROR;
  }
  return status;
}

/* The format thread's messages name the module themselves: the host attributes a log
 * line to a module only on threads running one of its callouts. */
static void* format_thread(void* arg) {
  struct ft_dev* f = arg;
  pthread_mutex_lock(&f->mu);
  for (;;) {
    while (!f->stop && !f->format_requested) pthread_cond_wait(&f->cv, &f->mu);
    if (f->stop) break;
    f->format_requested = 0;
    /* Media accesses admitted before the format was accepted finish first, so none of
     * them writes into the zeroed file afterwards. */
    while (!f->stop && f->inflight > 0) pthread_cond_wait(&f->cv, &f->mu);
    if (f->stop) break;
    uint64_t total = f->format_total;
    pthread_mutex_unlock(&f->mu);

    host->log(MODTGT_LOG_INFO, "file_takeover: '%s': formatting %llu bytes", f->path,
              (unsigned long long)total);
    int status = format_file(f, total);

    pthread_mutex_lock(&f->mu);
    f->formatting = 0;
    modtgt_cmd* cmd = f->format_cmd;
    f->format_cmd = NULL;
    pthread_mutex_unlock(&f->mu);
    host->log(status == MODTGT_STS_WRITE_ERROR ? MODTGT_LOG_ERROR : MODTGT_LOG_INFO,
              "file_takeover: '%s': format %s", f->path,
              status == MODTGT_STS_OK ? "done" : status == MODTGT_STS_BUSY
                                                     ? "stopped: the device is closing"
                                                     : "failed");
    /* The FORMAT UNIT without IMMED ends now, from this module-owned thread. */
    if (cmd != NULL) host->cmd_complete(cmd, (modtgt_status)status);
    pthread_mutex_lock(&f->mu);
  }
  pthread_mutex_unlock(&f->mu);
  return NULL;
}

/* ---- the takeover commands ---- */

/* READ(10) / READ(16): SBC-4 5.16 / 5.17. */
static int do_read(struct ft_dev* f, modtgt_cmd* cmd, const uint8_t* cdb, int is16) {
  if (cdb[1] & 0xe0) return invalid_field(cmd, 1, 1, 7); /* RDPROTECT: no protection info */
  const uint64_t lba = is16 ? get_be(cdb + 2, 8) : get_be(cdb + 2, 4);
  const uint64_t blocks = is16 ? get_be(cdb + 10, 4) : get_be(cdb + 7, 2);
  const uint64_t nb = load_size(f) / f->block_size;
  if (lba > nb || blocks > nb - lba) return lba_out_of_range(cmd, lba);
  if (blocks == 0) return MODTGT_STS_OK; /* SBC-4: not an error, nothing transferred */
  int iovcnt = 0;
  struct iovec* iov = host->cmd_data(cmd, &iovcnt);
  const uint64_t bytes = blocks * f->block_size;
  /* The buffer holds what the initiator expects (EDTL); read no more than that. */
  size_t want = iov_total(iov, iovcnt);
  if (want > bytes) want = (size_t)bytes;
  int e = rw_all(f->fd, 0, iov, iovcnt, lba * f->block_size, want, 0);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "'%s': read at LBA %llu: %s", f->path,
              (unsigned long long)lba, strerror(e));
    return MODTGT_STS_READ_ERROR;
  }
  host->cmd_set_data_in_length(cmd, (uint32_t)want);
  count(&f->takeover_reads);
  return MODTGT_STS_OK;
}

/* WRITE(10) / WRITE(16): SBC-4 5.40 / 5.41. */
static int do_write(struct ft_dev* f, modtgt_cmd* cmd, const uint8_t* cdb, int is16) {
  if (cdb[1] & 0xe0) return invalid_field(cmd, 1, 1, 7); /* WRPROTECT */
  const uint64_t lba = is16 ? get_be(cdb + 2, 8) : get_be(cdb + 2, 4);
  const uint64_t blocks = is16 ? get_be(cdb + 10, 4) : get_be(cdb + 7, 2);
  const uint64_t nb = load_size(f) / f->block_size;
  if (lba > nb || blocks > nb - lba) return lba_out_of_range(cmd, lba);
  if (blocks == 0) return MODTGT_STS_OK;
  int iovcnt = 0;
  struct iovec* iov = host->cmd_data(cmd, &iovcnt);
  const uint64_t bytes = blocks * f->block_size;
  size_t have = iov_total(iov, iovcnt);
  if (have < bytes && have % f->block_size != 0) {
    /* Less Data-Out than the CDB says and not whole blocks: write nothing (FCP-4 9.4.2,
     * as the core does): ILLEGAL REQUEST / INVALID FIELD IN INFORMATION UNIT. */
    return sense(cmd, KEY_ILLEGAL_REQUEST, 0x0e, 0x03);
  }
  if (have > bytes) have = (size_t)bytes;
  /* FUA (byte 1 bit 3), or the write cache off: durable before GOOD, here with
   * pwritev2(RWF_DSYNC) per call. */
  const int dsync = (cdb[1] & 0x08) || !__atomic_load_n(&f->write_cache, __ATOMIC_RELAXED);
  int e = rw_all(f->fd, 1, iov, iovcnt, lba * f->block_size, have, dsync);
  if (e != 0) {
    host->log(MODTGT_LOG_ERROR, "'%s': write at LBA %llu: %s", f->path,
              (unsigned long long)lba, strerror(e));
    return MODTGT_STS_WRITE_ERROR;
  }
  count(&f->takeover_writes);
  return MODTGT_STS_OK;
}

/* SYNCHRONIZE CACHE(10): SBC-4 5.24. The whole file is synced whatever the range. */
static int do_sync(struct ft_dev* f, const uint8_t* cdb) {
  const uint64_t lba = get_be(cdb + 2, 4);
  const uint64_t blocks = get_be(cdb + 7, 2);
  const uint64_t nb = load_size(f) / f->block_size;
  /* The status-only way: the core builds ILLEGAL REQUEST / LBA OUT OF RANGE itself. */
  if (lba > nb || blocks > nb - lba) return MODTGT_STS_LBA_OUT_OF_RANGE;
  return fdatasync(f->fd) == 0 ? MODTGT_STS_OK : MODTGT_STS_WRITE_ERROR;
}

/* FORMAT UNIT: SBC-4 5.3. Supported: FMTPINFO=0, no defect list, no initialization
 * pattern; FMTDATA=1 brings the parameter list header (short, or long with LONGLIST)
 * whose IMMED bit makes the command end before the format does. */
static int do_format(struct ft_dev* f, modtgt_dev* dev, modtgt_cmd* cmd, const uint8_t* cdb) {
  if (host->dev_get_config(dev)->readonly) {
    return sense(cmd, KEY_DATA_PROTECT, 0x27, 0x00); /* WRITE PROTECTED */
  }
  if (cdb[1] & 0xc0) return invalid_field(cmd, 1, 1, 7); /* FMTPINFO: no protection */
  const int longlist = (cdb[1] & 0x20) != 0;
  const int fmtdata = (cdb[1] & 0x10) != 0;
  int immed = 0;
  if (fmtdata) {
    const size_t hlen = longlist ? 8 : 4;
    int iovcnt = 0;
    struct iovec* iov = host->cmd_data(cmd, &iovcnt);
    uint8_t h[8] = {0};
    if (iov_total(iov, iovcnt) < hlen) {
      return sense(cmd, KEY_ILLEGAL_REQUEST, 0x1a, 0x00); /* PARAMETER LIST LENGTH ERROR */
    }
    size_t got = 0;
    for (int i = 0; i < iovcnt && got < hlen; i++) {
      size_t n = iov[i].iov_len < hlen - got ? iov[i].iov_len : hlen - got;
      memcpy(h + got, iov[i].iov_base, n);
      got += n;
    }
    if (h[0] & 0x07) return invalid_field(cmd, 0, 0, 2); /* PROTECTION FIELD USAGE */
    if (h[1] & 0x08) return invalid_field(cmd, 0, 1, 3); /* IP: no initialization pattern */
    const uint64_t dll = longlist ? get_be(h + 4, 4) : get_be(h + 2, 2);
    if (dll != 0) return invalid_field(cmd, 0, longlist ? 4 : 2, -1); /* no defect list */
    immed = (h[1] & 0x02) != 0;
  }
  pthread_mutex_lock(&f->mu);
  if (f->formatting) { /* a second FORMAT UNIT while one runs */
    int st = format_in_progress_locked(f, cmd);
    pthread_mutex_unlock(&f->mu);
    return st;
  }
  f->formatting = 1;
  f->format_requested = 1;
  f->format_done = 0;
  f->format_total = load_size(f);
  f->format_cmd = immed ? NULL : cmd;
  f->formats++;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  /* IMMED: GOOD now, progress through TEST UNIT READY. Else: the format thread calls
   * host->cmd_complete(cmd) when the file is zeroed. */
  return immed ? MODTGT_STS_OK : MODTGT_STS_ASYNC;
}

static int ft_handle_cmd(modtgt_dev* dev, modtgt_cmd* cmd) {
  struct ft_dev* f = host->dev_get_private(dev);
  size_t len = 0;
  const uint8_t* cdb = host->cmd_cdb(cmd, &len);
  const uint8_t op = len > 0 ? cdb[0] : 0xff;
  const int media = op == OP_READ10 || op == OP_READ16 || op == OP_WRITE10 ||
                    op == OP_WRITE16 || op == OP_SYNCHRONIZE_CACHE10;

  if (op != OP_INQUIRY && op != OP_FORMAT_UNIT) {
    /* While a format runs, the device server answers every command but INQUIRY (and the
     * core's REQUEST SENSE / REPORT LUNS) with NOT READY, FORMAT IN PROGRESS (SBC-4 5.3.1,
     * FORMAT UNIT overview; the progress tells the initiator how far it got). For media
     * accesses the check is made together with counting them in (begin_media), so a
     * format accepted a moment later waits for them. */
    if (media) {
      if (!begin_media(f)) {
        pthread_mutex_lock(&f->mu);
        int st = f->formatting ? format_in_progress_locked(f, cmd) : MODTGT_STS_BUSY;
        pthread_mutex_unlock(&f->mu);
        return st;
      }
    } else {
      pthread_mutex_lock(&f->mu);
      if (f->formatting) {
        int st = format_in_progress_locked(f, cmd);
        pthread_mutex_unlock(&f->mu);
        return st;
      }
      pthread_mutex_unlock(&f->mu);
    }
  }

  int st;
  switch (op) {
    case OP_TEST_UNIT_READY:
      return MODTGT_STS_OK; /* ready: not formatting (checked above) */
    case OP_FORMAT_UNIT:
      return len >= 6 ? do_format(f, dev, cmd, cdb) : invalid_field(cmd, 1, 0, -1);
    case OP_READ10:
    case OP_READ16:
      st = len >= (op == OP_READ16 ? 16u : 10u) ? do_read(f, cmd, cdb, op == OP_READ16)
                                                  : invalid_field(cmd, 1, 0, -1);
      break;
    case OP_WRITE10:
    case OP_WRITE16:
      st = len >= (op == OP_WRITE16 ? 16u : 10u) ? do_write(f, cmd, cdb, op == OP_WRITE16)
                                                   : invalid_field(cmd, 1, 0, -1);
      break;
    case OP_SYNCHRONIZE_CACHE10:
      st = len >= 10 ? do_sync(f, cdb) : invalid_field(cmd, 1, 0, -1);
      break;
    default:
      /* INQUIRY, READ CAPACITY, MODE SENSE, VERIFY, WRITE SAME, ...: the core's. */
      return MODTGT_STS_NOT_HANDLED;
  }
  end_media(f);
  return st;
}

/* ---- I/O callouts: used by the core's emulation (WRITE SAME, COMPARE AND WRITE, VERIFY,
 * READ/WRITE(6/12), WRITE AND VERIFY, ...) after handle_cmd answered NOT_HANDLED. ---- */

static int ft_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                   uint64_t offset) {
  (void)io;
  struct ft_dev* f = host->dev_get_private(dev);
  /* A format accepted after handle_cmd let this command through: BUSY, the initiator
   * retries and then sees FORMAT IN PROGRESS. */
  if (!begin_media(f)) return MODTGT_STS_BUSY;
  int e = rw_all(f->fd, 0, iov, iovcnt, offset, iov_total(iov, iovcnt), 0);
  end_media(f);
  if (e != 0) return MODTGT_STS_READ_ERROR;
  count(&f->callout_reads);
  return MODTGT_STS_OK;
}

static int ft_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                    uint64_t offset, uint32_t flags) {
  (void)io;
  struct ft_dev* f = host->dev_get_private(dev);
  if (!begin_media(f)) return MODTGT_STS_BUSY;
  const int dsync =
      (flags & MODTGT_IO_FUA) || !__atomic_load_n(&f->write_cache, __ATOMIC_RELAXED);
  int e = rw_all(f->fd, 1, iov, iovcnt, offset, iov_total(iov, iovcnt), dsync);
  end_media(f);
  if (e != 0) return MODTGT_STS_WRITE_ERROR;
  count(&f->callout_writes);
  return MODTGT_STS_OK;
}

static int ft_flush(modtgt_dev* dev, modtgt_io* io) {
  (void)io;
  struct ft_dev* f = host->dev_get_private(dev);
  return fdatasync(f->fd) == 0 ? MODTGT_STS_OK : MODTGT_STS_WRITE_ERROR;
}

/* ---- lifecycle ---- */

static int ft_check_config(const modtgt_dev_config* cfg) {
  const char* path = cfg->path;
  if (path[0] == '\0') {
    host->error("file_takeover needs a file: --backing-store file_takeover/PATH");
    return MODTGT_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    host->error("cannot use '%s': %s", path, strerror(e));
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EINVAL;
  }
  if (!S_ISREG(st.st_mode)) {
    host->error("'%s' is not a regular file (file_takeover serves files only)", path);
    return MODTGT_EINVAL;
  }
  if (access(path, cfg->readonly ? R_OK : (R_OK | W_OK)) != 0) {
    host->error("'%s' is not %s by the daemon: %s", path,
                cfg->readonly ? "readable" : "readable and writable", strerror(errno));
    return MODTGT_EACCES;
  }
  if (cfg->size != 0 && cfg->size % cfg->block_size != 0) {
    host->error("size %llu is not a multiple of the block size %u",
                (unsigned long long)cfg->size, cfg->block_size);
    return MODTGT_EINVAL;
  }
  uint64_t rate;
  return parse_bsopts(cfg->bsopts, &rate);
}

static void ft_free(struct ft_dev* f) {
  if (f->fd >= 0) close(f->fd);
  pthread_cond_destroy(&f->cv);
  pthread_mutex_destroy(&f->mu);
  free(f->path);
  free(f);
}

static int ft_open(modtgt_dev* dev, int reopen) {
  const modtgt_dev_config* cfg = host->dev_get_config(dev);
  int rc = ft_check_config(cfg);
  if (rc != MODTGT_OK) return rc;
  struct ft_dev* f = calloc(1, sizeof(*f));
  if (f == NULL || (f->path = strdup(cfg->path)) == NULL) {
    free(f);
    host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  f->fd = -1;
  pthread_mutex_init(&f->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the throttle's deadlines */
  pthread_cond_init(&f->cv, &ca);
  pthread_condattr_destroy(&ca);
  parse_bsopts(cfg->bsopts, &f->format_rate); /* validated above */
  f->block_size = cfg->block_size;
  f->write_cache = cfg->write_cache != 0;
  f->fd = open(cfg->path, (cfg->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  struct stat st;
  if (f->fd < 0 || fstat(f->fd, &st) != 0) {
    int e = errno;
    host->error("cannot open '%s': %s", cfg->path, strerror(e));
    ft_free(f);
    return e == EACCES ? MODTGT_EACCES : MODTGT_EIO;
  }
  uint64_t size = (uint64_t)st.st_size;
  if (cfg->size != 0 && cfg->size != size) {
    if (cfg->readonly || ftruncate(f->fd, (off_t)cfg->size) != 0) {
      host->error("cannot resize '%s' to %llu bytes: %s", cfg->path,
                  (unsigned long long)cfg->size,
                  cfg->readonly ? "the LUN is read-only" : strerror(errno));
      ft_free(f);
      return MODTGT_EINVAL;
    }
    size = cfg->size;
  }
  f->size = size - size % f->block_size;
  int e = pthread_create(&f->thread, NULL, format_thread, f);
  if (e != 0) {
    host->error("cannot start the format thread: %s", strerror(e));
    ft_free(f);
    return MODTGT_ENOMEM;
  }
  f->thread_started = 1;
  host->dev_set_private(dev, f);
  host->dev_set_size(dev, f->size);
  host->log(MODTGT_LOG_INFO, "%s'%s', %llu bytes, format rate %s%llu B/s",
            reopen ? "reopened " : "", cfg->path, (unsigned long long)f->size,
            f->format_rate ? "" : "unlimited ", (unsigned long long)f->format_rate);
  return MODTGT_OK;
}

static void ft_close(modtgt_dev* dev) {
  struct ft_dev* f = host->dev_get_private(dev);
  if (f == NULL) return;
  pthread_mutex_lock(&f->mu);
  const int was_formatting = f->formatting;
  f->stop = 1;
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->mu);
  if (f->thread_started) pthread_join(f->thread, NULL);
  if (was_formatting) {
    /* Only an IMMED format can still run here (the core closes with no command in
     * flight): it stops half way, the file is partly zeroed. */
    host->log(MODTGT_LOG_WARN, "'%s': closed during a FORMAT UNIT (%llu of "
              "%llu bytes zeroed)", f->path, (unsigned long long)f->format_done,
              (unsigned long long)f->format_total);
  }
  host->log(MODTGT_LOG_INFO,
            "closed '%s': handle_cmd did %llu reads, %llu writes, %llu "
            "formats; callouts did %llu reads, %llu writes", f->path,
            (unsigned long long)f->takeover_reads, (unsigned long long)f->takeover_writes,
            (unsigned long long)f->formats, (unsigned long long)f->callout_reads,
            (unsigned long long)f->callout_writes);
  ft_free(f);
  host->dev_set_private(dev, NULL);
}

/* SIZE: admin thread, no command in flight, but a FORMAT with IMMED may be running:
 * refused then. WRITE_CACHE: any thread, just a flag. */
static int ft_reconfig(modtgt_dev* dev, const modtgt_reconfig* rc) {
  struct ft_dev* f = host->dev_get_private(dev);
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    host->error("file_takeover cannot switch files; delete and re-create the LUN");
    return MODTGT_ENOTSUP;
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    pthread_mutex_lock(&f->mu);
    const int formatting = f->formatting;
    pthread_mutex_unlock(&f->mu);
    if (formatting) {
      host->error("a FORMAT UNIT is in progress; resize after it");
      return MODTGT_EBUSY;
    }
    if (host->dev_get_config(dev)->readonly || ftruncate(f->fd, (off_t)rc->size) != 0) {
      host->error("cannot resize to %llu bytes: %s", (unsigned long long)rc->size,
                  host->dev_get_config(dev)->readonly ? "the LUN is read-only"
                                                      : strerror(errno));
      return MODTGT_EIO;
    }
    __atomic_store_n(&f->size, rc->size, __ATOMIC_RELEASE);
    host->dev_set_size(dev, rc->size);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    __atomic_store_n(&f->write_cache, rc->write_cache != 0, __ATOMIC_RELAXED);
  }
  return MODTGT_OK;
}

static const modtgt_backing_store file_takeover_desc = {
    .struct_size = sizeof(modtgt_backing_store),
    .abi_version = MODTGT_ABI_VERSION,
    .kind = MODTGT_KIND_BACKING_STORE,
    .name = "file_takeover",
    .subtype = "file_takeover",
    .version = "1.0.0",
    .description = "example: a file disk with full CDB takeover (tcmu-runner file_optical style)",
    .cfg_desc = "file_takeover/PATH: an existing regular file; --params size=N resizes it; "
                "--bsopts format_rate=N[K|M|G] throttles FORMAT UNIT",
    .nr_threads = FT_NR_THREADS,
    .check_config = ft_check_config,
    .open = ft_open,
    .close = ft_close,
    .read = ft_read,
    .write = ft_write,
    .flush = ft_flush,
    .handle_cmd = ft_handle_cmd,
    .device_type = MODTGT_DEVTYPE_DISK,
    .reconfig = ft_reconfig,
};

MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* h) {
  host = h;
  return &file_takeover_desc;
}
