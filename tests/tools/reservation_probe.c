/* SPDX-License-Identifier: Apache-2.0
 *
 * reservation_probe: persistent reservations (SPC-4 6.15, 6.16) and target resets
 * (RFC 7143 11.5.1) over one libiscsi session, as initiator INITIATOR with the same ISID
 * in every run (so INITIATOR is one initiator port from run to run).
 *
 *   reservation_probe INITIATOR iscsi://HOST:PORT/IQN/LUN COMMAND...  (run in order)
 *     register KEY         PROUT REGISTER AND IGNORE EXISTING KEY, APTPL 0; prints "ok"
 *     register-aptpl KEY   ... with APTPL 1
 *     reserve KEY TYPE     PROUT RESERVE (TYPE: 1 WE, 3 EA, 5 WE-RO, 6 EA-RO, 7 WE-AR, 8 EA-AR)
 *     keys                 PRIN READ KEYS: "keys GEN KEY..." (hex)
 *     reservation          PRIN READ RESERVATION: "reservation KEY TYPE" or "reservation none"
 *     caps                 PRIN REPORT CAPABILITIES: "ptpl_c=0|1 ptpl_a=0|1"
 *     read | write         READ (10) / WRITE (10) of LBA 0, one 512-byte block: "ok"
 *     tur                  TEST UNIT READY: "ok"
 *     reserve6 | release6  SPC-2 RESERVE (6) / RELEASE (6): "ok"
 *     pause                prints "paused" and waits for a line on stdin (the session stays
 *                          logged in meanwhile: a second initiator acts in between)
 *     warm-reset | cold-reset   TARGET WARM / COLD RESET: "ok" or "tmf failed" (after a
 *                          cold reset the target has dropped the connection: no logout)
 * Anything but GOOD prints "sense K/AA/QQ" (CHECK CONDITION) or "status 0xSS" (e.g. 0x18,
 * RESERVATION CONFLICT) and the program goes on with the next command; the exit code is 2
 * if any command got one, 1 on a transport failure or bad usage, else 0.
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

static uint64_t be64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}

static uint32_t be32(const unsigned char* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* PERSISTENT RESERVE OUT with the basic 24-byte parameter list. */
static void prout(int sa, int type, uint64_t key, uint64_t sa_key, int aptpl, int* rc) {
  unsigned char cdb[10] = {0x5f, (unsigned char)sa, (unsigned char)type, 0, 0, 0, 0, 0, 24, 0};
  unsigned char p[24] = {0};
  for (int i = 0; i < 8; i++) {
    p[i] = (unsigned char)(key >> (56 - 8 * i));
    p[8 + i] = (unsigned char)(sa_key >> (56 - 8 * i));
  }
  p[20] = aptpl ? 0x01 : 0;
  struct scsi_task* t = run(cdb, 10, SCSI_XFER_WRITE, 24, p, rc);
  if (t == NULL) return;
  printf("ok\n");
  scsi_free_scsi_task(t);
}

/* PERSISTENT RESERVE IN; returns the task or NULL. */
static struct scsi_task* prin(int sa, int* rc) {
  unsigned char cdb[10] = {0x5e, (unsigned char)sa, 0, 0, 0, 0, 0, 0x10, 0x00, 0};
  return run(cdb, 10, SCSI_XFER_READ, 4096, NULL, rc);
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s INITIATOR iscsi://HOST:PORT/IQN/LUN COMMAND...\n", argv[0]);
    return 1;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);  /* line by line: a test reads it while we run */
  /* One ISID for every run: each run is the same I_T nexus port as the last, as a host's
   * initiator is across reconnects, so its registration is still its own. */
  iscsi = tool_connect_isid(argv[1], argv[2], &lun, 1);
  if (iscsi == NULL) return 1;
  int rc = 0;
  int dropped = 0;  /* after a cold reset the target has closed the connection */
  for (int i = 3; i < argc && rc != 1; i++) {
    const char* c = argv[i];
    if (strcmp(c, "register") == 0 || strcmp(c, "register-aptpl") == 0) {
      if (i + 1 >= argc) break;
      prout(6, 0, 0, strtoull(argv[++i], NULL, 0), strcmp(c, "register-aptpl") == 0, &rc);
    } else if (strcmp(c, "reserve") == 0) {
      if (i + 2 >= argc) break;
      uint64_t key = strtoull(argv[++i], NULL, 0);
      prout(1, atoi(argv[++i]), key, 0, 0, &rc);
    } else if (strcmp(c, "keys") == 0) {
      struct scsi_task* t = prin(0, &rc);
      if (t == NULL) continue;
      printf("keys %u", be32(t->datain.data));
      uint32_t n = be32(t->datain.data + 4);
      for (uint32_t off = 8; off + 8 <= 8 + n && off + 8 <= (uint32_t)t->datain.size; off += 8) {
        printf(" 0x%llx", (unsigned long long)be64(t->datain.data + off));
      }
      printf("\n");
      scsi_free_scsi_task(t);
    } else if (strcmp(c, "reservation") == 0) {
      struct scsi_task* t = prin(1, &rc);
      if (t == NULL) continue;
      if (be32(t->datain.data + 4) >= 16 && t->datain.size >= 24) {
        printf("reservation 0x%llx %d\n", (unsigned long long)be64(t->datain.data + 8),
               t->datain.data[21] & 0x0f);
      } else {
        printf("reservation none\n");
      }
      scsi_free_scsi_task(t);
    } else if (strcmp(c, "caps") == 0) {
      struct scsi_task* t = prin(2, &rc);
      if (t == NULL) continue;
      printf("ptpl_c=%d ptpl_a=%d\n", t->datain.data[2] & 1, t->datain.data[3] & 1);
      scsi_free_scsi_task(t);
    } else if (strcmp(c, "read") == 0 || strcmp(c, "write") == 0) {
      const int w = strcmp(c, "write") == 0;
      unsigned char cdb[10] = {w ? 0x2a : 0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};
      unsigned char block[512] = {0};
      struct scsi_task* t =
          run(cdb, 10, w ? SCSI_XFER_WRITE : SCSI_XFER_READ, 512, w ? block : NULL, &rc);
      if (t == NULL) continue;
      printf("ok\n");
      scsi_free_scsi_task(t);
    } else if (strcmp(c, "pause") == 0) {
      char line[64];
      printf("paused\n");
      fflush(stdout);
      if (fgets(line, sizeof(line), stdin) == NULL) break;
    } else if (strcmp(c, "tur") == 0 || strcmp(c, "reserve6") == 0 || strcmp(c, "release6") == 0) {
      unsigned char cdb[6] = {0};
      if (strcmp(c, "reserve6") == 0) cdb[0] = 0x16;
      if (strcmp(c, "release6") == 0) cdb[0] = 0x17;
      struct scsi_task* t = run(cdb, 6, SCSI_XFER_NONE, 0, NULL, &rc);
      if (t == NULL) continue;
      printf("ok\n");
      scsi_free_scsi_task(t);
    } else if (strcmp(c, "warm-reset") == 0 || strcmp(c, "cold-reset") == 0) {
      int r = strcmp(c, "warm-reset") == 0 ? iscsi_task_mgmt_target_warm_reset_sync(iscsi)
                                           : iscsi_task_mgmt_target_cold_reset_sync(iscsi);
      if (strcmp(c, "cold-reset") == 0) dropped = 1;
      if (r == 0) {
        printf("ok\n");
      } else {
        printf("tmf failed: %s\n", iscsi_get_error(iscsi));
        if (rc == 0) rc = 2;
      }
    } else {
      fprintf(stderr, "unknown command %s\n", c);
      rc = 1;
    }
  }
  fflush(stdout);
  if (!dropped) iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return rc;
}
