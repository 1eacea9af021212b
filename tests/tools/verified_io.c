/* SPDX-License-Identifier: Apache-2.0
 *
 * verified_io: continuous verified I/O through libiscsi, for the live-reload tests
 * (test-module-bs-reload.sh, test-lun-ram-reload.sh).
 * usage: verified_io URL NBLOCKS STOPFILE
 * Keeps QD writes/reads in flight on random blocks until STOPFILE exists, checks every read
 * against what was last written (a block is never read and written at once), then reads all
 * blocks back and verifies them. Any SCSI error, lost connection or mismatch: exit 1. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define BS 512
#define QD 16

static uint32_t* gen;     /* generation last written to each block; 0 = never (zeros) */
static uint8_t* busy;
static uint32_t nblocks;
static long writes, reads, errors, inflight;

struct op {
  uint32_t lba, g;
  int write;
  uint8_t buf[BS];
};

static void fill(uint8_t* b, uint32_t lba, uint32_t g) {
  uint32_t* w = (uint32_t*)b;
  for (int k = 0; k < BS / 4; k++) w[k] = g ? (lba * 2654435761u) ^ (g * 40503u) ^ (uint32_t)k : 0;
}

static void done(struct iscsi_context* iscsi, int status, void* data, void* pd) {
  struct op* o = pd;
  struct scsi_task* t = data;
  inflight--;
  busy[o->lba] = 0;
  if (status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "verified_io: %s lba %u failed: status %d: %s\n", o->write ? "write" : "read",
            o->lba, status, iscsi_get_error(iscsi));
    errors++;
  } else if (o->write) {
    gen[o->lba] = o->g;
    writes++;
  } else {
    uint8_t want[BS];
    fill(want, o->lba, o->g);
    if (t->datain.size != BS || memcmp(t->datain.data, want, BS) != 0) {
      fprintf(stderr, "verified_io: lba %u: data mismatch (expected generation %u)\n", o->lba, o->g);
      errors++;
    }
    reads++;
  }
  if (t) scsi_free_scsi_task(t);
  free(o);
}

static int issue(struct iscsi_context* iscsi, int lun, uint32_t lba, int write) {
  struct op* o = calloc(1, sizeof(*o));
  o->lba = lba;
  o->write = write;
  busy[lba] = 1;
  struct scsi_task* t;
  if (write) {
    o->g = gen[lba] + 1;
    fill(o->buf, lba, o->g);
    t = iscsi_write16_task(iscsi, lun, lba, o->buf, BS, BS, 0, 0, 0, 0, 0, done, o);
  } else {
    o->g = gen[lba];
    t = iscsi_read16_task(iscsi, lun, lba, BS, BS, 0, 0, 0, 0, 0, done, o);
  }
  if (t == NULL) {
    fprintf(stderr, "verified_io: cannot queue: %s\n", iscsi_get_error(iscsi));
    busy[lba] = 0;
    free(o);
    return -1;
  }
  inflight++;
  return 0;
}

static int service(struct iscsi_context* iscsi) {
  struct pollfd p = {.fd = iscsi_get_fd(iscsi), .events = iscsi_which_events(iscsi)};
  if (poll(&p, 1, 1000) < 0) return -1;
  if (iscsi_service(iscsi, p.revents) < 0) {
    fprintf(stderr, "verified_io: service: %s\n", iscsi_get_error(iscsi));
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  nblocks = (uint32_t)atoi(argv[2]);
  gen = calloc(nblocks, sizeof(*gen));
  busy = calloc(nblocks, 1);
  struct iscsi_context* iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:iotest");
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (!url) {
    fprintf(stderr, "verified_io: bad url: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_noautoreconnect(iscsi, 1); /* a dropped session must fail the test */
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "verified_io: login: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  int lun = url->lun;
  srandom(1);
  while (access(argv[3], F_OK) != 0 && errors == 0) {
    while (inflight < QD) {
      uint32_t lba = (uint32_t)random() % nblocks;
      if (busy[lba]) continue;
      if (issue(iscsi, lun, lba, random() % 2) != 0) return 1;
    }
    if (service(iscsi) != 0) return 1;
  }
  while (inflight > 0) {
    if (service(iscsi) != 0) return 1;
  }
  long during = writes + reads;
  /* Final pass: every block, as last written. */
  for (uint32_t lba = 0; lba < nblocks && errors == 0;) {
    while (inflight < QD && lba < nblocks) {
      if (issue(iscsi, lun, lba++, 0) != 0) return 1;
    }
    if (service(iscsi) != 0) return 1;
  }
  while (inflight > 0) {
    if (service(iscsi) != 0) return 1;
  }
  long written = 0;
  for (uint32_t i = 0; i < nblocks; i++) written += gen[i] != 0;
  printf("verified_io: %ld writes, %ld reads during the run, %ld blocks written and verified, %ld errors\n",
         writes, during - writes, written, errors);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  iscsi_destroy_url(url);
  return errors == 0 && writes > 0 ? 0 : 1;
}
