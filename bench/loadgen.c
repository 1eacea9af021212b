/* SPDX-License-Identifier: Apache-2.0
 *
 * loadgen: an iSCSI load generator on libiscsi's asynchronous API (iscsi_read16_task /
 * iscsi_write16_task driven by poll + iscsi_service), so that the target, not the client,
 * is the limit. Several sessions, spread round robin over the URLs given (several targets
 * or LUNs), each keeping --qd commands in flight; --threads client threads share the
 * sessions (each thread polls its own). Offsets are truly random (xorshift64*, a seed per
 * session) or sequential (each session its own stretch of the span).
 *
 * Usage: loadgen [options] iscsi://HOST:PORT/IQN/LUN [URL...]
 *   --sessions N     sessions (default 1); session i logs in to URL i % #URLs
 *   --qd N           commands in flight per session (default 32)
 *   --bs BYTES       I/O size, a multiple of the LU's block size (default 4096)
 *   --rw MODE        randread | randwrite | randrw | read | write (default randread);
 *                    seqread/seqwrite are read/write
 *   --mix PCT        reads in percent for randrw (default 70)
 *   --time S         measured seconds (default 5); --ramp S: unmeasured warm-up (0)
 *   --span BYTES     use the first BYTES of each LU (default: all of it)
 *   --threads N      client threads (default 1)
 *   --verify         data checked: every block written carries a pattern keyed on its LBA
 *                    (and the seed); reads check it. The span is written first (not
 *                    measured) so that every block read has the pattern.
 *   --no-fill        with --verify: skip that first write (an earlier run with the same
 *                    --seed and --span wrote it), so reads check what is stored
 *   --idle           no I/O: log in every session, keep them logged in (answering the
 *                    target's NOPs) for --time seconds, log out; for memory measurements
 *   --seed N         pattern and offset seed (default 1)
 *   --initiator IQN  initiator name prefix (default iqn.2026-12.org.modtgt:loadgen);
 *                    session i is PREFIX-PID-i
 *
 * Output (stdout): a readable line and one machine line
 *   result iops=N mbps=N lat_mean_us=N lat_p99_us=N lat_max_us=N ios=N secs=N errors=N
 *          verify_errors=N client_cpu_s=N sessions=N
 * I/Os completed inside the measured window count (the ones still in flight at its end are
 * waited for, not counted). Latency: submission to completion callback, 1 us buckets up to
 * 1 s. MB/s = 10^6 bytes/s. Exit 0; 1 on a SCSI error or a verify mismatch; 2 on usage or
 * login errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

enum { kHistBuckets = 1000000, kMaxSessions = 1024 };  // 1 us buckets up to 1 s

enum rw_mode { kRandRead, kRandWrite, kRandRw, kSeqRead, kSeqWrite };

struct options {
  int sessions, qd, threads, verify, no_fill, idle, mix;
  uint32_t bs;
  enum rw_mode rw;
  double secs, ramp;
  uint64_t span, seed;
  const char* initiator;
  char** urls;
  int nurls;
};
static struct options o = {.sessions = 1, .qd = 32, .threads = 1, .mix = 70, .bs = 4096,
                           .rw = kRandRead, .secs = 5, .seed = 1,
                           .initiator = "iqn.2026-12.org.modtgt:loadgen"};

struct session;
struct slot {  // one command in flight
  struct session* s;
  unsigned char* buf;
  uint64_t lba;
  int write;
  struct timespec t0;
  struct scsi_iovec iov;
};

struct session {
  struct iscsi_context* iscsi;
  int lun;
  uint32_t block_size;
  uint64_t blocks;      // blocks in the span
  uint64_t rng;         // xorshift64* state
  uint64_t seq_next;    // next block for sequential shapes
  uint64_t seq_first, seq_end;
  int inflight;
  struct slot* slots;
  struct worker* w;
  int failed;
};

struct worker {
  pthread_t thread;
  struct session** sessions;
  int nsessions;
  uint64_t* hist;
  uint64_t ios, errors, verify_errors, overflow, lat_max_us;
  double lat_sum_us;
  int fill;             // the fill phase: write the span once, sequentially
};

static double g_start, g_end;      // the measured window (CLOCK_MONOTONIC seconds)
static volatile int g_stop;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t next_rand(uint64_t* x) {
  *x ^= *x >> 12;
  *x ^= *x << 25;
  *x ^= *x >> 27;
  return *x * 0x2545F4914F6CDD1DULL;
}

/* The pattern of block `lba`: 8-byte words keyed on (seed, lba, word index). */
static void fill_pattern(unsigned char* p, uint64_t lba, uint32_t nblocks, uint32_t bsz) {
  for (uint32_t b = 0; b < nblocks; ++b) {
    uint64_t* w = (uint64_t*)(p + (size_t)b * bsz);
    uint64_t k = (o.seed * 0x9E3779B97F4A7C15ULL) ^ ((lba + b) * 0xBF58476D1CE4E5B9ULL);
    for (uint32_t i = 0; i < bsz / 8; ++i) w[i] = k + i;
  }
}

static int check_pattern(const unsigned char* p, uint64_t lba, uint32_t nblocks, uint32_t bsz) {
  for (uint32_t b = 0; b < nblocks; ++b) {
    const uint64_t* w = (const uint64_t*)(p + (size_t)b * bsz);
    uint64_t k = (o.seed * 0x9E3779B97F4A7C15ULL) ^ ((lba + b) * 0xBF58476D1CE4E5B9ULL);
    for (uint32_t i = 0; i < bsz / 8; ++i) {
      if (w[i] != k + i) {
        fprintf(stderr, "loadgen: verify mismatch at LBA %" PRIu64 " word %u\n", lba + b, i);
        return -1;
      }
    }
  }
  return 0;
}

static void submit(struct slot* sl);

static void done(struct iscsi_context* iscsi, int status, void* command_data, void* private_data) {
  struct slot* sl = private_data;
  struct session* s = sl->s;
  struct worker* w = s->w;
  struct scsi_task* task = command_data;
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double t1s = t1.tv_sec + t1.tv_nsec / 1e9;
  uint32_t nblocks = o.bs / s->block_size;
  s->inflight--;
  if (status != SCSI_STATUS_GOOD) {
    if (w->errors++ < 5)
      fprintf(stderr, "loadgen: %s LBA %" PRIu64 " failed: %s\n", sl->write ? "write" : "read",
              sl->lba, iscsi_get_error(iscsi));
    s->failed = 1;
  } else if (!sl->write && o.verify && check_pattern(sl->buf, sl->lba, nblocks, s->block_size)) {
    w->verify_errors++;
    s->failed = 1;
  }
  if (task) scsi_free_scsi_task(task);
  if (!w->fill && t1s >= g_start && t1s <= g_end) {
    double us = (t1s - (sl->t0.tv_sec + sl->t0.tv_nsec / 1e9)) * 1e6;
    uint64_t b = us < 0 ? 0 : (uint64_t)us;
    if (b < kHistBuckets) w->hist[b]++; else w->overflow++;
    if (b > w->lat_max_us) w->lat_max_us = b;
    w->lat_sum_us += us;
    w->ios++;
  }
  if (!g_stop && !s->failed) submit(sl);
}

static void submit(struct slot* sl) {
  struct session* s = sl->s;
  uint32_t nblocks = o.bs / s->block_size;
  uint64_t units = s->blocks / nblocks;  // I/O-sized units in the span
  int write;
  if (s->w->fill) {
    if (s->seq_next >= s->seq_end) return;  // this session's stretch is written
    sl->lba = s->seq_next;
    s->seq_next += nblocks;
    write = 1;
  } else if (o.rw == kSeqRead || o.rw == kSeqWrite) {
    if (s->seq_next + nblocks > s->seq_end) s->seq_next = s->seq_first;
    sl->lba = s->seq_next;
    s->seq_next += nblocks;
    write = o.rw == kSeqWrite;
  } else {
    sl->lba = next_rand(&s->rng) % units * nblocks;
    write = o.rw == kRandWrite ||
            (o.rw == kRandRw && (int)(next_rand(&s->rng) % 100) >= o.mix);
  }
  sl->write = write;
  struct scsi_task* t;
  clock_gettime(CLOCK_MONOTONIC, &sl->t0);
  if (write) {
    if (o.verify) fill_pattern(sl->buf, sl->lba, nblocks, s->block_size);
    t = iscsi_write16_task(s->iscsi, s->lun, sl->lba, sl->buf, o.bs, (int)s->block_size, 0, 0, 0,
                           0, 0, done, sl);
  } else {
    t = iscsi_read16_task(s->iscsi, s->lun, sl->lba, o.bs, (int)s->block_size, 0, 0, 0, 0, 0,
                          done, sl);
    if (t) {  // Data-In lands in our buffer (no copy by libiscsi)
      sl->iov.iov_base = sl->buf;
      sl->iov.iov_len = o.bs;
      scsi_task_set_iov_in(t, &sl->iov, 1);
    }
  }
  if (t == NULL) {
    fprintf(stderr, "loadgen: cannot queue a command: %s\n", iscsi_get_error(s->iscsi));
    s->failed = 1;
    s->w->errors++;
    return;
  }
  s->inflight++;
}

/* Runs the worker's sessions until stop and nothing is in flight. */
static void pump(struct worker* w, volatile int* stop_flag, double deadline) {
  struct pollfd pfd[kMaxSessions];
  for (;;) {
    int busy = 0;
    for (int i = 0; i < w->nsessions; ++i) {
      struct session* s = w->sessions[i];
      pfd[i].fd = iscsi_get_fd(s->iscsi);
      pfd[i].events = (short)iscsi_which_events(s->iscsi);
      pfd[i].revents = 0;
      busy += s->inflight;
    }
    if (busy == 0) return;
    if (deadline > 0 && now() > deadline) {
      fprintf(stderr, "loadgen: commands still in flight 30 s after the end\n");
      w->errors++;
      return;
    }
    int n = poll(pfd, (nfds_t)w->nsessions, 100);
    if (n < 0 && errno != EINTR) {
      perror("loadgen: poll");
      exit(1);
    }
    for (int i = 0; i < w->nsessions; ++i) {
      if (pfd[i].revents == 0) continue;
      if (iscsi_service(w->sessions[i]->iscsi, pfd[i].revents) < 0) {
        fprintf(stderr, "loadgen: session %d: %s\n", i, iscsi_get_error(w->sessions[i]->iscsi));
        w->sessions[i]->inflight = 0;
        w->sessions[i]->failed = 1;
        w->errors++;
      }
    }
    (void)stop_flag;
  }
}

static void start_slots(struct worker* w) {
  for (int i = 0; i < w->nsessions; ++i)
    for (int q = 0; q < o.qd; ++q) submit(&w->sessions[i]->slots[q]);
}

static void* worker_main(void* arg) {
  struct worker* w = arg;
  start_slots(w);
  pump(w, &g_stop, 0);  // returns when g_stop is set and everything has drained
  return NULL;
}

static void* timer_main(void* arg) {
  (void)arg;
  double t;
  while ((t = now()) < g_end) usleep((useconds_t)((g_end - t) * 1e6 > 20000 ? 20000 : (g_end - t) * 1e6 + 1));
  g_stop = 1;
  return NULL;
}

static int parse_rw(const char* v) {
  if (!strcmp(v, "randread")) o.rw = kRandRead;
  else if (!strcmp(v, "randwrite")) o.rw = kRandWrite;
  else if (!strcmp(v, "randrw")) o.rw = kRandRw;
  else if (!strcmp(v, "read") || !strcmp(v, "seqread")) o.rw = kSeqRead;
  else if (!strcmp(v, "write") || !strcmp(v, "seqwrite")) o.rw = kSeqWrite;
  else return -1;
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen [--sessions N] [--qd N] [--bs BYTES] [--rw randread|randwrite|randrw|"
          "read|write]\n               [--mix PCT] [--time S] [--ramp S] [--span BYTES] "
          "[--threads N] [--verify [--no-fill]] [--idle] [--seed N]\n               [--initiator IQN] URL...\n");
  exit(2);
}

int main(int argc, char** argv) {
  static char* urls[kMaxSessions];
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : NULL;
    char* end = NULL;
    if (!strncmp(a, "iscsi://", 8)) {
      if (o.nurls == kMaxSessions) usage();
      urls[o.nurls++] = argv[i];
      continue;
    }
    if (!strcmp(a, "--verify")) { o.verify = 1; continue; }
    if (!strcmp(a, "--no-fill")) { o.no_fill = 1; continue; }
    if (!strcmp(a, "--idle")) { o.idle = 1; continue; }
    if (v == NULL) usage();
    ++i;
    if (!strcmp(a, "--sessions")) o.sessions = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--qd")) o.qd = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--bs")) o.bs = (uint32_t)strtoul(v, &end, 0);
    else if (!strcmp(a, "--rw")) { if (parse_rw(v)) usage(); end = (char*)v + strlen(v); }
    else if (!strcmp(a, "--mix")) o.mix = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--time")) o.secs = strtod(v, &end);
    else if (!strcmp(a, "--ramp")) o.ramp = strtod(v, &end);
    else if (!strcmp(a, "--span")) o.span = strtoull(v, &end, 0);
    else if (!strcmp(a, "--threads")) o.threads = (int)strtol(v, &end, 10);
    else if (!strcmp(a, "--seed")) o.seed = strtoull(v, &end, 0);
    else if (!strcmp(a, "--initiator")) { o.initiator = v; end = (char*)v + strlen(v); }
    else usage();
    if (end == NULL || *end != '\0') {
      fprintf(stderr, "loadgen: bad value '%s' for %s\n", v, a);
      return 2;
    }
  }
  if (o.nurls == 0 || o.sessions < 1 || o.sessions > kMaxSessions || o.qd < 1 || o.qd > 1024 ||
      o.bs == 0 || o.bs % 512 || o.mix < 0 || o.mix > 100 || o.secs <= 0 || o.ramp < 0 ||
      o.threads < 1 || o.threads > o.sessions) {
    fprintf(stderr, "loadgen: need a URL, 1 <= sessions <= %d, 1 <= qd <= 1024, bs a multiple "
                    "of 512, 0 <= mix <= 100, time > 0, 1 <= threads <= sessions\n", kMaxSessions);
    return 2;
  }
  o.urls = urls;

  struct session* ss = calloc((size_t)o.sessions, sizeof(*ss));
  struct worker* ws = calloc((size_t)o.threads, sizeof(*ws));
  if (!ss || !ws) return 2;
  for (int t = 0; t < o.threads; ++t) {
    ws[t].sessions = calloc((size_t)o.sessions, sizeof(struct session*));
    ws[t].hist = calloc(kHistBuckets, sizeof(uint64_t));
    if (!ws[t].sessions || !ws[t].hist) return 2;
  }
  for (int i = 0; i < o.sessions; ++i) {
    struct session* s = &ss[i];
    char name[256];
    snprintf(name, sizeof(name), "%s-%d-%d", o.initiator, (int)getpid(), i);
    s->iscsi = iscsi_create_context(name);
    struct iscsi_url* url = s->iscsi ? iscsi_parse_full_url(s->iscsi, o.urls[i % o.nurls]) : NULL;
    if (url == NULL) {
      fprintf(stderr, "loadgen: bad URL %s\n", o.urls[i % o.nurls]);
      return 2;
    }
    iscsi_set_targetname(s->iscsi, url->target);
    iscsi_set_session_type(s->iscsi, ISCSI_SESSION_NORMAL);
    iscsi_set_header_digest(s->iscsi, ISCSI_HEADER_DIGEST_NONE);
    s->lun = url->lun;
    int rc = iscsi_full_connect_sync(s->iscsi, url->portal, url->lun);
    iscsi_destroy_url(url);
    if (rc != 0) {
      fprintf(stderr, "loadgen: session %d: login to %s failed: %s\n", i, o.urls[i % o.nurls],
              iscsi_get_error(s->iscsi));
      return 2;
    }
    struct scsi_task* rc16 = iscsi_readcapacity16_sync(s->iscsi, s->lun);
    struct scsi_readcapacity16* cap = NULL;
    if (rc16 == NULL || rc16->status != SCSI_STATUS_GOOD ||
        (cap = scsi_datain_unmarshall(rc16)) == NULL) {
      fprintf(stderr, "loadgen: READ CAPACITY(16) failed: %s\n", iscsi_get_error(s->iscsi));
      return 2;
    }
    s->block_size = cap->block_length;
    uint64_t lu_blocks = cap->returned_lba + 1;
    scsi_free_scsi_task(rc16);
    if (s->block_size == 0 || o.bs % s->block_size) {
      fprintf(stderr, "loadgen: --bs %u is not a multiple of the block size %u\n", o.bs,
              s->block_size);
      return 2;
    }
    uint32_t nblocks = o.bs / s->block_size;
    s->blocks = o.span ? o.span / s->block_size : lu_blocks;
    if (s->blocks > lu_blocks) s->blocks = lu_blocks;
    s->blocks -= s->blocks % nblocks;
    if (s->blocks < nblocks) {
      fprintf(stderr, "loadgen: the span holds no %u-byte I/O\n", o.bs);
      return 2;
    }
    s->rng = (o.seed + 0x1234567ULL) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)i << 32 | 1);
    // Sessions on the same URL share the span: each starts in its own stretch.
    int same = (o.sessions + o.nurls - 1 - i % o.nurls) / o.nurls;  // sessions on this URL
    int k = i / o.nurls;
    uint64_t units = s->blocks / nblocks;
    s->seq_first = units * (uint64_t)k / (uint64_t)same * nblocks;
    s->seq_end = units * (uint64_t)(k + 1) / (uint64_t)same * nblocks;
    if (o.rw == kSeqRead || o.rw == kSeqWrite) {
      if (s->seq_end == s->seq_first) s->seq_end = s->blocks;  // more sessions than units
    }
    s->seq_next = s->seq_first;
    s->slots = calloc((size_t)o.qd, sizeof(struct slot));
    if (!s->slots) return 2;
    for (int q = 0; q < o.qd; ++q) {
      s->slots[q].s = s;
      if (posix_memalign((void**)&s->slots[q].buf, 4096, o.bs)) return 2;
      memset(s->slots[q].buf, 0, o.bs);
    }
    struct worker* w = &ws[i % o.threads];
    s->w = w;
    w->sessions[w->nsessions++] = s;
  }

  if (o.idle) {  // sessions logged in, no I/O
    fprintf(stderr, "loadgen: %d session(s) logged in, idle for %.1f s\n", o.sessions, o.secs);
    fflush(stderr);
    struct pollfd pfd[kMaxSessions];
    double end = now() + o.secs;
    int lost = 0;
    while (now() < end && !lost) {
      for (int i = 0; i < o.sessions; ++i) {
        pfd[i].fd = iscsi_get_fd(ss[i].iscsi);
        pfd[i].events = (short)iscsi_which_events(ss[i].iscsi);
        pfd[i].revents = 0;
      }
      if (poll(pfd, (nfds_t)o.sessions, 100) < 0 && errno != EINTR) break;
      for (int i = 0; i < o.sessions; ++i)
        if (pfd[i].revents && iscsi_service(ss[i].iscsi, pfd[i].revents) < 0) {
          fprintf(stderr, "loadgen: session %d lost: %s\n", i, iscsi_get_error(ss[i].iscsi));
          lost = 1;
        }
    }
    printf("result idle_secs=%.1f sessions=%d errors=%d\n", o.secs, o.sessions, lost);
    for (int i = 0; i < o.sessions; ++i) {
      iscsi_logout_sync(ss[i].iscsi);
      iscsi_destroy_context(ss[i].iscsi);
    }
    return lost;
  }

  if (o.verify && !o.no_fill) {  // write the span once (each session its stretch), not measured
    for (int t = 0; t < o.threads; ++t) {
      ws[t].fill = 1;
      start_slots(&ws[t]);
      pump(&ws[t], &g_stop, 0);
      ws[t].fill = 0;
    }
    for (int i = 0; i < o.sessions; ++i) {
      if (ss[i].failed) {
        fprintf(stderr, "loadgen: the fill phase failed\n");
        return 1;
      }
      ss[i].seq_next = ss[i].seq_first;
    }
  }

  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  g_start = now() + o.ramp;
  g_end = g_start + o.secs;
  pthread_t timer;
  pthread_create(&timer, NULL, timer_main, NULL);
  for (int t = 0; t < o.threads; ++t) pthread_create(&ws[t].thread, NULL, worker_main, &ws[t]);
  pthread_join(timer, NULL);
  for (int t = 0; t < o.threads; ++t) pthread_join(ws[t].thread, NULL);
  getrusage(RUSAGE_SELF, &ru1);

  uint64_t ios = 0, errors = 0, verrors = 0, overflow = 0, lmax = 0;
  double lsum = 0;
  for (int t = 0; t < o.threads; ++t) {
    ios += ws[t].ios;
    errors += ws[t].errors;
    verrors += ws[t].verify_errors;
    overflow += ws[t].overflow;
    lsum += ws[t].lat_sum_us;
    if (ws[t].lat_max_us > lmax) lmax = ws[t].lat_max_us;
  }
  uint64_t want = (ios * 99 + 99) / 100, seen = 0, p99 = 0;
  for (uint64_t b = 0; b < kHistBuckets && seen < want; ++b) {
    for (int t = 0; t < o.threads; ++t) seen += ws[t].hist[b];
    p99 = b;
  }
  if (seen < want) p99 = lmax;  // in the overflow: beyond 1 s
  double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
               ((ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec)) / 1e6;
  double iops = ios / o.secs;
  printf("loadgen: %d session(s) x QD %d, %u-byte %s: %.0f IOPS, %.1f MB/s, mean %.1f us, p99 %" PRIu64
         " us, client CPU %.2f s\n", o.sessions, o.qd, o.bs,
         o.rw == kRandRead ? "randread" : o.rw == kRandWrite ? "randwrite" : o.rw == kRandRw ? "randrw"
         : o.rw == kSeqRead ? "read" : "write", iops, iops * o.bs / 1e6, ios ? lsum / ios : 0.0, p99, cpu);
  printf("result iops=%.0f mbps=%.1f lat_mean_us=%.1f lat_p99_us=%" PRIu64 " lat_max_us=%" PRIu64
         " ios=%" PRIu64 " secs=%.2f errors=%" PRIu64 " verify_errors=%" PRIu64
         " client_cpu_s=%.2f sessions=%d\n",
         iops, iops * o.bs / 1e6, ios ? lsum / ios : 0.0, p99, lmax, ios, o.secs, errors, verrors, cpu,
         o.sessions);
  (void)overflow;
  for (int i = 0; i < o.sessions; ++i) {
    iscsi_logout_sync(ss[i].iscsi);
    iscsi_destroy_context(ss[i].iscsi);
  }
  return errors || verrors ? 1 : 0;
}
