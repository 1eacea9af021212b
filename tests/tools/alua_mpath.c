/* SPDX-License-Identifier: Apache-2.0
 *
 * alua_mpath: a small multipath initiator over libiscsi for the ALUA failover tests.
 *
 *   alua_mpath URL_A URL_B BLOCKS MODEL_FILE
 *
 * Two sessions (paths) to one LU exported by two gateways. The LU is cut into BLOCKS
 * blocks of 4 KiB; the tool writes and reads them at random, one command at a time, and
 * verifies every read against what it wrote last (each block holds its number and a
 * generation). Multipath logic as dm-multipath's ALUA handler does it: REPORT TARGET PORT
 * GROUPS tells which path's group is active/optimized; I/O goes there; a path that fails
 * (connection lost, NOT READY standby/unavailable, ASYMMETRIC ACCESS STATE CHANGED) is
 * dropped and the groups are asked again; when no group is active/optimized, SET TARGET
 * PORT GROUPS on a live path makes its group so. An I/O is retried (with its data) until it
 * succeeds; one that has not succeeded after 60 s is an I/O error for the application, and
 * the tool exits 1.
 *
 * Control files, looked at between two I/Os (signals would interrupt libiscsi's waits):
 * MODEL_FILE.moveback appearing = move back: make path A's group active/optimized (STPG on
 * A) and use it (the file is removed). MODEL_FILE.stop (or SIGTERM/SIGINT) = stop: writes
 * MODEL_FILE (one line per block written: "BLOCK GEN") and exits 0 when no I/O error
 * reached the application.
 *
 * Progress lines on stdout (flushed), for the test to poll:
 *   path A|B group G            the group each path reports (VPD 0x83)
 *   active A|B <ns>             I/O now goes to that path (CLOCK_REALTIME ns)
 *   first-ok A|B <ns> ops=N     the first I/O that completed on a path after a switch
 *   error A|B <ns> what         a failure seen on a path
 *   progress ops=N <ns>         every 250 application I/Os
 *   done ops=N writes=N reads=N retries=N errors=0
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BLOCK 4096
#define RETRY_DEADLINE_NS (60ll * 1000000000ll)

struct path {
  const char* url;
  char name;                 /* 'A' or 'B' */
  struct iscsi_context* iscsi;
  int lun;
  int group;                 /* target port group (VPD 0x83 type 5), -1 unknown */
  int64_t next_connect_ns;   /* no reconnect before */
};

static volatile sig_atomic_t g_stop;
static struct path g_paths[2];
static int g_active = -1;    /* index of the path I/O goes to */
static int g_switched = 0;   /* the next success on g_active is its first after a switch */
static uint64_t g_ops, g_writes, g_reads, g_retries;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void sleep_ms(int ms) { poll(NULL, 0, ms); }

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void drop_path(struct path* p, const char* why) {
  printf("error %c %" PRId64 " %s\n", p->name, now_ns(), why);
  fflush(stdout);
  if (p->iscsi) {
    iscsi_destroy_context(p->iscsi);
    p->iscsi = NULL;
  }
  p->next_connect_ns = now_ns() + 200000000ll;
  if (g_active >= 0 && &g_paths[g_active] == p) g_active = -1;
}

static struct scsi_task* command(struct path* p, const unsigned char* cdb, int cdb_len,
                                 int dir, int xfer, unsigned char* out, int out_len) {
  struct scsi_task* task = scsi_create_task(cdb_len, (unsigned char*)cdb, dir, xfer);
  if (task == NULL) return NULL;
  struct iscsi_data d = {.size = (size_t)out_len, .data = out};
  if (iscsi_scsi_command_sync(p->iscsi, p->lun, task, out ? &d : NULL) == NULL ||
      (unsigned)task->status > 0xff) {  /* libiscsi's codes for a failed path */
    scsi_free_scsi_task(task);
    return NULL;
  }
  return task;
}

/* The path's target port group from VPD 0x83 (designator type 5), or -1. */
static int read_group(struct path* p) {
  unsigned char cdb[6] = {0x12, 0x01, 0x83, 0x04, 0x00, 0};
  struct scsi_task* t = command(p, cdb, 6, SCSI_XFER_READ, 1024, NULL, 0);
  if (t == NULL) return -2;
  int group = -1;
  if (t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
    const unsigned char* d = t->datain.data;
    int len = 4 + ((d[2] << 8) | d[3]);
    if (len > t->datain.size) len = t->datain.size;
    for (int at = 4; at + 4 <= len;) {
      const int dlen = d[at + 3];
      if ((d[at + 1] & 0x0f) == 0x05 && dlen >= 4 && at + 4 + dlen <= len) {
        group = (d[at + 6] << 8) | d[at + 7];
      }
      at += 4 + dlen;
    }
  }
  scsi_free_scsi_task(t);
  return group;
}

static int connect_path(struct path* p) {
  if (p->iscsi) return 0;
  if (now_ns() < p->next_connect_ns) return -1;
  p->next_connect_ns = now_ns() + 500000000ll;
  struct iscsi_context* iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:mpath");
  struct iscsi_url* url = iscsi ? iscsi_parse_full_url(iscsi, p->url) : NULL;
  if (url == NULL) {
    fprintf(stderr, "bad URL %s\n", p->url);
    exit(2);
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  iscsi_set_noautoreconnect(iscsi, 1);
  iscsi_set_timeout(iscsi, 10);
  p->lun = url->lun;
  /* Connect and log in only: iscsi_full_connect_sync's TEST UNIT READY would fail on a
   * standby path (NOT READY), which is a good path for failover. */
  int rc = iscsi_connect_sync(iscsi, url->portal);
  if (rc == 0) rc = iscsi_login_sync(iscsi);
  iscsi_destroy_url(url);
  if (rc != 0) {
    iscsi_destroy_context(iscsi);
    return -1;
  }
  p->iscsi = iscsi;
  /* The first commands collect the unit attentions a new nexus has (power on...). */
  for (int i = 0; i < 8; i++) {
    const int g = read_group(p);
    if (g == -2) {
      drop_path(p, "inquiry failed");
      return -1;
    }
    if (g >= 0) {
      p->group = g;
      break;
    }
  }
  printf("path %c group %d\n", p->name, p->group);
  fflush(stdout);
  return 0;
}

/* REPORT TARGET PORT GROUPS on p: the group that is active/optimized, -1 none, -2 failed. */
static int report_groups(struct path* p) {
  unsigned char cdb[12] = {0xa3, 0x0a, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0};
  for (int tries = 0; tries < 4; tries++) {
    struct scsi_task* t = command(p, cdb, 12, SCSI_XFER_READ, 1024, NULL, 0);
    if (t == NULL) return -2;
    if (t->status == SCSI_STATUS_CHECK_CONDITION && t->sense.key == SCSI_SENSE_UNIT_ATTENTION) {
      scsi_free_scsi_task(t);
      continue;
    }
    int ao = -1;
    if (t->status == SCSI_STATUS_GOOD && t->datain.size >= 4) {
      const unsigned char* d = t->datain.data;
      int len = 4 + (int)(((uint32_t)d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]);
      if (len > t->datain.size) len = t->datain.size;
      for (int at = 4; at + 8 <= len;) {
        const int state = d[at] & 0x0f, id = (d[at + 2] << 8) | d[at + 3], ports = d[at + 7];
        if (state == 0) ao = id;
        at += 8 + 4 * ports;
      }
      scsi_free_scsi_task(t);
      return ao;
    }
    scsi_free_scsi_task(t);
    return -2;
  }
  return -2;
}

/* SET TARGET PORT GROUPS on p: its own group active/optimized. 0 on GOOD. */
static int set_active(struct path* p) {
  unsigned char param[8] = {0, 0, 0, 0, 0x00, 0, (unsigned char)(p->group >> 8),
                            (unsigned char)p->group};
  unsigned char cdb[12] = {0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, sizeof(param), 0, 0};
  for (int tries = 0; tries < 4; tries++) {
    struct scsi_task* t = command(p, cdb, 12, SCSI_XFER_WRITE, sizeof(param), param, sizeof(param));
    if (t == NULL) return -2;
    const int st = t->status, key = t->sense.key, ascq = t->sense.ascq;
    scsi_free_scsi_task(t);
    if (st == SCSI_STATUS_GOOD) return 0;
    if (st == SCSI_STATUS_CHECK_CONDITION && key == SCSI_SENSE_UNIT_ATTENTION) continue;
    fprintf(stderr, "STPG on %c: status 0x%x sense %x/%04x\n", p->name, st, key, ascq);
    return -1;
  }
  return -1;
}

static void set_active_path(int i) {
  if (g_active != i) {
    g_active = i;
    g_switched = 1;
    printf("active %c %" PRId64 "\n", g_paths[i].name, now_ns());
    fflush(stdout);
  }
}

/* Picks the path for I/O: the live path whose group is active/optimized; if none is,
 * makes one so with STPG (prefer = that path first). */
static void choose_path(int prefer) {
  for (int k = 0; k < 2; k++) connect_path(&g_paths[k]);
  int ao = -1;
  for (int k = 0; k < 2 && ao == -1; k++) {
    struct path* p = &g_paths[k];
    if (p->iscsi == NULL) continue;
    const int r = report_groups(p);
    if (r == -2) {
      drop_path(p, "report target port groups failed");
      continue;
    }
    ao = r;
  }
  for (int k = 0; k < 2; k++) {
    if (ao >= 0 && g_paths[k].iscsi && g_paths[k].group == ao) {
      set_active_path(k);
      return;
    }
  }
  /* Nobody live is active/optimized: the holder is gone or nobody holds the lock. */
  for (int n = 0; n < 2; n++) {
    const int k = (prefer + n) % 2;
    struct path* p = &g_paths[k];
    if (p->iscsi == NULL || p->group < 0) continue;
    if (set_active(p) == 0) {
      set_active_path(k);
      return;
    }
  }
}

static void fill(unsigned char* buf, uint32_t block, uint32_t gen) {
  for (int off = 0; off < BLOCK; off += 16) {
    memcpy(buf + off, "MTGT", 4);
    memcpy(buf + off + 4, &block, 4);
    memcpy(buf + off + 8, &gen, 4);
    uint32_t mix = block * 2654435761u ^ gen ^ (uint32_t)off;
    memcpy(buf + off + 12, &mix, 4);
  }
}

/* One application I/O, retried across paths until it succeeds. 0, or -1 after 60 s. */
static int do_io(int write, uint32_t block, uint32_t gen, unsigned char* buf) {
  const int64_t start = now_ns();
  int tries = 0;
  for (;;) {
    if (now_ns() - start > RETRY_DEADLINE_NS) return -1;
    if (tries++ > 0) g_retries++;
    if (g_active < 0 || g_paths[g_active].iscsi == NULL) {
      choose_path(g_active < 0 ? 0 : g_active);
      if (g_active < 0) {
        sleep_ms(20);
        continue;
      }
    }
    struct path* p = &g_paths[g_active];
    const uint64_t lba = (uint64_t)block * (BLOCK / 512);
    struct scsi_task* t;
    if (write) {
      t = iscsi_write16_sync(p->iscsi, p->lun, lba, buf, BLOCK, 512, 0, 0, 0, 0, 0);
    } else {
      t = iscsi_read16_sync(p->iscsi, p->lun, lba, BLOCK, 512, 0, 0, 0, 0, 0);
    }
    if (t == NULL || (unsigned)t->status > 0xff) {
      /* libiscsi's own codes (SCSI_STATUS_ERROR, CANCELLED, TIMEOUT): the path failed. */
      if (t) scsi_free_scsi_task(t);
      drop_path(p, "connection failed");
      continue;
    }
    if (t->status == SCSI_STATUS_GOOD) {
      if (!write) {
        if (t->datain.size != BLOCK) {
          fprintf(stderr, "short read of block %u\n", block);
          exit(1);
        }
        memcpy(buf, t->datain.data, BLOCK);
      }
      scsi_free_scsi_task(t);
      if (g_switched) {
        g_switched = 0;
        printf("first-ok %c %" PRId64 " ops=%" PRIu64 "\n", p->name, now_ns(), g_ops);
        fflush(stdout);
      }
      return 0;
    }
    const int st = t->status, key = t->sense.key, ascq = t->sense.ascq;
    scsi_free_scsi_task(t);
    char why[96];
    snprintf(why, sizeof(why), "status 0x%x sense %x/%04x", st, key, ascq);
    if (st == SCSI_STATUS_CHECK_CONDITION && key == SCSI_SENSE_UNIT_ATTENTION) {
      if (ascq == 0x2a06) {  /* ASYMMETRIC ACCESS STATE CHANGED: ask again */
        printf("error %c %" PRId64 " %s\n", p->name, now_ns(), why);
        fflush(stdout);
        g_active = -1;
      }
      continue;
    }
    if (st == SCSI_STATUS_CHECK_CONDITION && key == SCSI_SENSE_NOT_READY && ascq == 0x040a) {
      sleep_ms(20);  /* transitioning: the same path, a little later */
      continue;
    }
    if (st == SCSI_STATUS_CHECK_CONDITION && key == SCSI_SENSE_NOT_READY) {
      printf("error %c %" PRId64 " %s\n", p->name, now_ns(), why);
      fflush(stdout);
      g_active = -1;  /* standby / unavailable: another path */
      continue;
    }
    if (st == SCSI_STATUS_BUSY || st == SCSI_STATUS_TASK_SET_FULL) {
      sleep_ms(20);
      continue;
    }
    fprintf(stderr, "I/O error on %c: %s\n", p->name, why);
    return -1;
  }
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s URL_A URL_B BLOCKS MODEL_FILE\n", argv[0]);
    return 2;
  }
  const uint32_t nblocks = (uint32_t)strtoul(argv[3], NULL, 10);
  if (nblocks == 0) return 2;
  g_paths[0] = (struct path){.url = argv[1], .name = 'A', .group = -1};
  g_paths[1] = (struct path){.url = argv[2], .name = 'B', .group = -1};
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  uint32_t* gen = calloc(nblocks, sizeof(uint32_t));
  unsigned char buf[BLOCK], want[BLOCK];
  srand((unsigned)getpid());
  int errors = 0;
  char move_back_file[4096], stop_file[4096];
  snprintf(move_back_file, sizeof(move_back_file), "%s.moveback", argv[4]);
  snprintf(stop_file, sizeof(stop_file), "%s.stop", argv[4]);
  while (!g_stop) {
    if (access(stop_file, F_OK) == 0) break;
    if (access(move_back_file, F_OK) == 0) {
      unlink(move_back_file);
      struct path* a = &g_paths[0];
      a->next_connect_ns = 0;
      if (connect_path(a) == 0 && set_active(a) == 0) {
        set_active_path(0);
      } else {
        printf("error A %" PRId64 " move back failed\n", now_ns());
        fflush(stdout);
      }
    }
    const uint32_t block = (uint32_t)rand() % nblocks;
    const int write = gen[block] == 0 || rand() % 100 < 60;
    if (write) {
      fill(buf, block, gen[block] + 1);
      if (do_io(1, block, gen[block] + 1, buf) != 0) {
        errors++;
        break;
      }
      gen[block]++;
      g_writes++;
    } else {
      if (do_io(0, block, gen[block], buf) != 0) {
        errors++;
        break;
      }
      fill(want, block, gen[block]);
      if (memcmp(buf, want, BLOCK) != 0) {
        uint32_t got_gen = 0;
        memcpy(&got_gen, buf + 8, 4);
        fprintf(stderr, "block %u: read generation %u, wrote %u last\n", block, got_gen,
                gen[block]);
        errors++;
        break;
      }
      g_reads++;
    }
    g_ops++;
    if (g_ops % 250 == 0) {
      printf("progress ops=%" PRIu64 " %" PRId64 "\n", g_ops, now_ns());
      fflush(stdout);
    }
  }
  FILE* f = fopen(argv[4], "w");
  if (f == NULL) return 2;
  for (uint32_t b = 0; b < nblocks; b++) {
    if (gen[b]) fprintf(f, "%u %u\n", b, gen[b]);
  }
  fclose(f);
  printf("done ops=%" PRIu64 " writes=%" PRIu64 " reads=%" PRIu64 " retries=%" PRIu64
         " errors=%d\n", g_ops, g_writes, g_reads, g_retries, errors);
  fflush(stdout);
  for (int k = 0; k < 2; k++) {
    if (g_paths[k].iscsi) {
      iscsi_logout_sync(g_paths[k].iscsi);
      iscsi_destroy_context(g_paths[k].iscsi);
    }
  }
  free(gen);
  return errors ? 1 : 0;
}
