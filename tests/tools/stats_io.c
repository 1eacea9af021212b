/* SPDX-License-Identifier: Apache-2.0
 *
 * stats_io: a known number of SCSI commands over one libiscsi session, in steps the caller
 * paces, so a test can read the target's counters between them (test-stats-counters.sh).
 *
 *   stats_io URL
 *
 * Logs in (libiscsi's connect sends TEST UNIT READY until no unit attention is left), then
 * reads commands from stdin, one a line, answering each with one line on stdout:
 *   write LBA BLOCKS N   N x WRITE (16) of BLOCKS 512-byte blocks at LBA   -> "ok N"
 *   read LBA BLOCKS N    N x READ (16) of BLOCKS blocks at LBA             -> "ok N"
 *   bad                  one READ (16) past the end of the LU: CHECK CONDITION -> "ok 1"
 *   tur N                N x TEST UNIT READY                              -> "ok N"
 *   quit                 logs out and exits                                -> "bye"
 * "ready" is printed once the session is up. Any failure: "error: ..." and exit status 2.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#define INITIATOR "iqn.2026-11.org.modtgt.test:stats-io"

static int fail(const char* what, struct iscsi_context* iscsi) {
  printf("error: %s: %s\n", what, iscsi ? iscsi_get_error(iscsi) : "");
  fflush(stdout);
  return 2;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: stats_io URL\n");
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct iscsi_context* iscsi = iscsi_create_context(INITIATOR);
  if (iscsi == NULL) return fail("context", NULL);
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (url == NULL) return fail("url", iscsi);
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) return fail("login", iscsi);
  printf("ready\n");
  char line[256];
  while (fgets(line, sizeof(line), stdin) != NULL) {
    char op[16] = "";
    uint64_t lba = 0;
    unsigned blocks = 0, n = 1;
    if (sscanf(line, "%15s", op) != 1) continue;
    if (strcmp(op, "quit") == 0) break;
    if (strcmp(op, "write") == 0 || strcmp(op, "read") == 0) {
      if (sscanf(line, "%*s %" SCNu64 " %u %u", &lba, &blocks, &n) != 3 || blocks == 0) {
        return fail("bad command line", NULL);
      }
      const size_t len = (size_t)blocks * 512;
      unsigned char* buf = malloc(len);
      if (buf == NULL) return fail("malloc", NULL);
      memset(buf, 0x5a, len);
      for (unsigned i = 0; i < n; i++) {
        struct scsi_task* t =
            strcmp(op, "write") == 0
                ? iscsi_write16_sync(iscsi, url->lun, lba, buf, (uint32_t)len, 512, 0, 0, 0, 0, 0)
                : iscsi_read16_sync(iscsi, url->lun, lba, (uint32_t)len, 512, 0, 0, 0, 0, 0);
        if (t == NULL || t->status != SCSI_STATUS_GOOD) return fail(op, iscsi);
        scsi_free_scsi_task(t);
      }
      free(buf);
    } else if (strcmp(op, "tur") == 0) {
      if (sscanf(line, "%*s %u", &n) != 1) return fail("bad command line", NULL);
      for (unsigned i = 0; i < n; i++) {
        struct scsi_task* t = iscsi_testunitready_sync(iscsi, url->lun);
        if (t == NULL || t->status != SCSI_STATUS_GOOD) return fail("tur", iscsi);
        scsi_free_scsi_task(t);
      }
    } else if (strcmp(op, "bad") == 0) {
      n = 1;
      struct scsi_task* t =
          iscsi_read16_sync(iscsi, url->lun, UINT64_C(0xffffffffffff), 512, 512, 0, 0, 0, 0, 0);
      if (t == NULL || t->status != SCSI_STATUS_CHECK_CONDITION) return fail("bad read", iscsi);
      scsi_free_scsi_task(t);
    } else {
      return fail("unknown command", NULL);
    }
    printf("ok %u\n", n);
  }
  iscsi_logout_sync(iscsi);
  iscsi_destroy_url(url);
  iscsi_destroy_context(iscsi);
  printf("bye\n");
  return 0;
}
