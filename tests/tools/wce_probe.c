/* SPDX-License-Identifier: Apache-2.0
 *
 * wce_probe: the caching mode page's WCE bit (SBC-4 6.5.5) over one libiscsi session.
 *
 *   wce_probe iscsi://HOST:PORT/IQN/LUN COMMAND...   (commands run in order)
 *     get      MODE SENSE (10) page 0x08, current values: prints "wce=0|1"
 *     set0     MODE SELECT (10) of the page with WCE=0 (PF=1); prints "ok"
 *     set1     ... with WCE=1
 *     tur      TEST UNIT READY: prints "ok" or the sense
 * A CHECK CONDITION prints "sense K/AA/QQ" and the program goes on with the next command;
 * the exit code is 2 if any command got one, 1 on transport failure, else 0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "tool_connect.h"

static struct iscsi_context* iscsi;
static int lun;

/* Runs cdb on this tool's session (tool_run in tool_connect.h); *rc as in the header. */
static struct scsi_task* run(const unsigned char* cdb, int cdb_len, int dir, int len,
                             unsigned char* out, int* rc) {
  return tool_run(iscsi, lun, cdb, cdb_len, dir, len, out, rc);
}

/* MODE SENSE (10), DBD=1, page 0x08 current values, into page[] (20 bytes). */
static int sense_caching(unsigned char* page, int* rc) {
  unsigned char cdb[10] = {0x5a, 0x08, 0x08, 0, 0, 0, 0, 0, 255, 0};
  struct scsi_task* t = run(cdb, 10, SCSI_XFER_READ, 255, NULL, rc);
  if (t == NULL) return -1;
  int ok = -1;
  /* 8-byte header, no block descriptor (DBD=1), then the page. */
  if (t->datain.size >= 8 + 20 && (t->datain.data[8] & 0x3f) == 0x08) {
    memcpy(page, t->datain.data + 8, 20);
    ok = 0;
  } else {
    fprintf(stderr, "no caching page in the MODE SENSE data (%d bytes)\n", t->datain.size);
    *rc = 1;
  }
  scsi_free_scsi_task(t);
  return ok;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s iscsi://HOST:PORT/IQN/LUN get|set0|set1|tur...\n", argv[0]);
    return 1;
  }
  iscsi = tool_connect("iqn.2026-11.org.modtgt.test:wce-probe", argv[1], &lun);
  if (iscsi == NULL) return 1;
  int rc = 0;
  for (int i = 2; i < argc && rc != 1; i++) {
    unsigned char page[20];
    if (!strcmp(argv[i], "get")) {
      if (sense_caching(page, &rc) == 0) printf("wce=%d\n", (page[2] >> 2) & 1);
    } else if (!strcmp(argv[i], "set0") || !strcmp(argv[i], "set1")) {
      if (sense_caching(page, &rc) != 0) continue;
      unsigned char data[8 + 20] = {0};
      memcpy(data + 8, page, 20);
      data[8] &= 0x3f;  /* PS is reserved in MODE SELECT */
      data[10] = (unsigned char)((data[10] & ~0x04) | (argv[i][3] == '1' ? 0x04 : 0));
      unsigned char cdb[10] = {0x55, 0x10, 0, 0, 0, 0, 0, 0, sizeof(data), 0};
      struct scsi_task* t = run(cdb, 10, SCSI_XFER_WRITE, sizeof(data), data, &rc);
      if (t) {
        printf("ok\n");
        scsi_free_scsi_task(t);
      }
    } else if (!strcmp(argv[i], "tur")) {
      unsigned char cdb[6] = {0};
      struct scsi_task* t = run(cdb, 6, SCSI_XFER_NONE, 0, NULL, &rc);
      if (t) {
        printf("ok\n");
        scsi_free_scsi_task(t);
      }
    } else {
      fprintf(stderr, "unknown command %s\n", argv[i]);
      rc = 1;
    }
  }
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return rc;
}
