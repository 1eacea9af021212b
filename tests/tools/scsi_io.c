/* SPDX-License-Identifier: Apache-2.0
 *
 * scsi_io: one READ (16) or WRITE (16) over its own libiscsi session, reporting the SCSI
 * status, the sense and how long the command took (for the RBD tests: a write refused with
 * DATA PROTECT on a snapshot, BUSY from a gateway that lost its lock or whose cluster is
 * gone, and the time until that answer).
 *
 *   scsi_io URL read LBA BLOCKS [FILE]        READ (16); the data goes to FILE if given
 *   scsi_io URL write LBA BLOCKS BYTE [fua]   WRITE (16) of BLOCKS blocks filled with BYTE
 *                                             (0..255), FUA bit if "fua"
 *
 * Output, one line: "status=0xSS ms=N" plus " sense=K/AA/QQ" (hex) for CHECK CONDITION.
 * A UNIT ATTENTION (e.g. CAPACITY DATA HAS CHANGED after a resize) is printed on stderr and
 * the command sent again, up to 5 times. Exit status: 0 the command ran (the caller judges
 * the status), 1 bad usage, 2 connection or transport failure.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR "iqn.2026-11.org.modtgt.test:scsi-io"

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(void) {
  fprintf(stderr,
          "usage: scsi_io URL read LBA BLOCKS [FILE]\n"
          "       scsi_io URL write LBA BLOCKS BYTE [fua]\n");
  return 1;
}

int main(int argc, char** argv) {
  if (argc < 5) return usage();
  const char* op = argv[2];
  const uint64_t lba = strtoull(argv[3], NULL, 0);
  const uint32_t blocks = (uint32_t)strtoul(argv[4], NULL, 0);
  const int is_write = strcmp(op, "write") == 0;
  if (!is_write && strcmp(op, "read") != 0) return usage();
  if (is_write && argc < 6) return usage();
  struct iscsi_context* iscsi = iscsi_create_context(INITIATOR);
  if (iscsi == NULL) {
    fprintf(stderr, "scsi_io: cannot create a libiscsi context\n");
    return 2;
  }
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (url == NULL) {
    fprintf(stderr, "scsi_io: bad URL %s: %s\n", argv[1], iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "scsi_io: login to %s: %s\n", argv[1], iscsi_get_error(iscsi));
    return 2;
  }
  struct scsi_task* cap = iscsi_readcapacity16_sync(iscsi, url->lun);
  uint32_t bs = 512;
  if (cap != NULL && cap->status == SCSI_STATUS_GOOD) {
    struct scsi_readcapacity16* rc16 = scsi_datain_unmarshall(cap);
    if (rc16 != NULL) bs = rc16->block_length;
  }
  if (cap != NULL) scsi_free_scsi_task(cap);
  const size_t len = (size_t)blocks * bs;
  unsigned char* buf = calloc(1, len ? len : 1);
  if (buf == NULL) return 2;
  int fua = 0;
  if (is_write) {
    memset(buf, (int)strtol(argv[5], NULL, 0), len);
    fua = argc > 6 && strcmp(argv[6], "fua") == 0;
  }
  struct scsi_task* t = NULL;
  long long t0 = 0;
  for (int attempt = 0; attempt < 5; attempt++) {
    if (t != NULL) scsi_free_scsi_task(t);
    t0 = now_ms();
    t = is_write ? iscsi_write16_sync(iscsi, url->lun, lba, buf, (uint32_t)len, bs, 0, 0, fua, 0, 0)
                 : iscsi_read16_sync(iscsi, url->lun, lba, (uint32_t)len, bs, 0, 0, 0, 0, 0);
    if (t == NULL) {
      fprintf(stderr, "scsi_io: %s: %s\n", op, iscsi_get_error(iscsi));
      return 2;
    }
    if (t->status != SCSI_STATUS_CHECK_CONDITION || t->sense.key != SCSI_SENSE_UNIT_ATTENTION) break;
    fprintf(stderr, "scsi_io: unit attention %02x/%02x, again\n", t->sense.ascq >> 8,
            t->sense.ascq & 0xff);
  }
  const long long ms = now_ms() - t0;
  printf("status=0x%02x ms=%lld", t->status, ms);
  if (t->status == SCSI_STATUS_CHECK_CONDITION) {
    printf(" sense=%x/%02x/%02x", t->sense.key, t->sense.ascq >> 8, t->sense.ascq & 0xff);
  }
  printf("\n");
  if (!is_write && argc > 5 && t->status == SCSI_STATUS_GOOD) {
    FILE* f = fopen(argv[5], "wb");
    if (f == NULL || fwrite(t->datain.data, 1, (size_t)t->datain.size, f) != (size_t)t->datain.size) {
      fprintf(stderr, "scsi_io: cannot write %s\n", argv[5]);
      return 2;
    }
    fclose(f);
  }
  scsi_free_scsi_task(t);
  free(buf);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_url(url);
  iscsi_destroy_context(iscsi);
  return 0;
}
