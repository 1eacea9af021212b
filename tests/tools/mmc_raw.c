/* SPDX-License-Identifier: Apache-2.0
 *
 * mmc_raw: raw MMC CDBs over one libiscsi session, for the optical e2e test.
 *
 *   mmc_raw iscsi://HOST:PORT/IQN/LUN COMMAND [ARGS...]
 *   mmc_raw iscsi://HOST:PORT/IQN/LUN -        commands from stdin, one per line; after
 *                                             each, a line "END rc=N" (for a coproc: the
 *                                             session, and its unit attentions, persist)
 *
 * Commands and their output (one "key=value ..." line unless said otherwise):
 *   inq                 type=T rmb=R
 *   tur                 ok
 *   clearua             TEST UNIT READY until no UNIT ATTENTION; "cleared=N"
 *   capacity            last_lba=N block_size=N                  READ CAPACITY (10)
 *   toc [msf]           first=F last=L, then "track=N adrctl=0xNN addr=A" per descriptor
 *                       (addr: LBA, or M:S:F with msf)           READ TOC format 0
 *   session             first_session=1 last_session=1 first_track=1 addr=0 (format 1)
 *   tocfmt N            READ TOC with format N (to see it refused)
 *   read LBA N FILE     READ (10) of N blocks from LBA into FILE; "bytes=N"
 *   read12 LBA N FILE   the same with READ (12)
 *   prevent | allow     PREVENT ALLOW MEDIUM REMOVAL; ok
 *   eject | load        START STOP UNIT LOEJ=1 START=0/1; ok
 *   events              event=E present=P tray_open=T            GET EVENT STATUS (media)
 *   getconf             profile=0xNNNN features=0xNNNN,...       GET CONFIGURATION RT=0
 *   discinfo            status=0xNN sessions=N first_track=N last_track=N
 *   trackinfo           track=N session=N start=N size=N
 *   mechstatus          door_open=D
 * Any CHECK CONDITION prints "sense K/AA/QQ" (hex) and gives rc 2; another SCSI status
 * "status 0xNN" and rc 3; a transport failure a message on stderr and rc 1.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static struct iscsi_context* iscsi;
static int lun;

/* Runs cdb; returns the task (caller frees) or NULL after printing the failure. *rc gets
 * the command's rc (0 good, 1 transport, 2 check condition, 3 other status). */
static struct scsi_task* run(const unsigned char* cdb, int cdb_len, int dir, int len, int* rc) {
  struct scsi_task* task = scsi_create_task(cdb_len, (unsigned char*)cdb, dir, len);
  if (task == NULL) {
    fprintf(stderr, "out of memory\n");
    *rc = 1;
    return NULL;
  }
  if (iscsi_scsi_command_sync(iscsi, lun, task, NULL) == NULL) {
    fprintf(stderr, "command 0x%02x failed: %s\n", cdb[0], iscsi_get_error(iscsi));
    scsi_free_scsi_task(task);
    *rc = 1;
    return NULL;
  }
  if (task->status == SCSI_STATUS_CHECK_CONDITION) {
    printf("sense %x/%02x/%02x\n", task->sense.key, (task->sense.ascq >> 8) & 0xff,
           task->sense.ascq & 0xff);
    scsi_free_scsi_task(task);
    *rc = 2;
    return NULL;
  }
  if (task->status != SCSI_STATUS_GOOD) {
    printf("status 0x%02x\n", task->status);
    scsi_free_scsi_task(task);
    *rc = 3;
    return NULL;
  }
  *rc = 0;
  return task;
}

static uint32_t be32(const unsigned char* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static uint16_t be16(const unsigned char* p) { return (uint16_t)(p[0] << 8 | p[1]); }

static int simple(const unsigned char* cdb, int len) {
  int rc;
  struct scsi_task* t = run(cdb, len, SCSI_XFER_NONE, 0, &rc);
  if (t) {
    printf("ok\n");
    scsi_free_scsi_task(t);
  }
  return rc;
}

static int do_read(int twelve, uint32_t lba, uint32_t n, const char* file) {
  unsigned char cdb[12] = {0};
  cdb[0] = twelve ? 0xa8 : 0x28;
  cdb[2] = lba >> 24;
  cdb[3] = lba >> 16;
  cdb[4] = lba >> 8;
  cdb[5] = lba;
  if (twelve) {
    cdb[6] = n >> 24;
    cdb[7] = n >> 16;
    cdb[8] = n >> 8;
    cdb[9] = n;
  } else {
    cdb[7] = n >> 8;
    cdb[8] = n;
  }
  int rc;
  struct scsi_task* t = run(cdb, twelve ? 12 : 10, SCSI_XFER_READ, (int)(n * 2048), &rc);
  if (!t) return rc;
  FILE* f = fopen(file, "wb");
  if (f == NULL || fwrite(t->datain.data, 1, (size_t)t->datain.size, f) != (size_t)t->datain.size) {
    fprintf(stderr, "cannot write %s\n", file);
    if (f) fclose(f);
    scsi_free_scsi_task(t);
    return 1;
  }
  fclose(f);
  printf("bytes=%d\n", t->datain.size);
  scsi_free_scsi_task(t);
  return 0;
}

static int do_toc(int msf, int format) {
  unsigned char cdb[10] = {0x43, (unsigned char)(msf ? 0x02 : 0), (unsigned char)format, 0, 0, 0, 0, 0x10, 0x00, 0};
  int rc;
  struct scsi_task* t = run(cdb, 10, SCSI_XFER_READ, 4096, &rc);
  if (!t) return rc;
  const unsigned char* d = t->datain.data;
  int n = t->datain.size;
  if (n < 4) {
    printf("short=%d\n", n);
    scsi_free_scsi_task(t);
    return 1;
  }
  if (format == 1) {
    printf("first_session=%d last_session=%d first_track=%d addr=%" PRIu32 "\n", d[2], d[3],
           n >= 12 ? d[6] : -1, n >= 12 ? be32(d + 8) : 0);
  } else {
    printf("first=%d last=%d length=%d\n", d[2], d[3], be16(d));
    for (int off = 4; off + 8 <= n; off += 8) {
      if (msf) {
        printf("track=%d adrctl=0x%02x addr=%d:%d:%d\n", d[off + 2], d[off + 1], d[off + 5],
               d[off + 6], d[off + 7]);
      } else {
        printf("track=%d adrctl=0x%02x addr=%" PRIu32 "\n", d[off + 2], d[off + 1], be32(d + off + 4));
      }
    }
  }
  scsi_free_scsi_task(t);
  return 0;
}

static int command(int argc, char** argv) {
  const char* c = argv[0];
  int rc;
  struct scsi_task* t;
  if (!strcmp(c, "inq")) {
    unsigned char cdb[6] = {0x12, 0, 0, 0, 96, 0};
    if (!(t = run(cdb, 6, SCSI_XFER_READ, 96, &rc))) return rc;
    printf("type=%d rmb=%d\n", t->datain.data[0] & 0x1f, (t->datain.data[1] >> 7) & 1);
  } else if (!strcmp(c, "tur")) {
    unsigned char cdb[6] = {0};
    return simple(cdb, 6);
  } else if (!strcmp(c, "clearua")) {
    int n = 0;
    for (;;) {
      unsigned char cdb[6] = {0};
      struct scsi_task* task = scsi_create_task(6, cdb, SCSI_XFER_NONE, 0);
      if (task == NULL || iscsi_scsi_command_sync(iscsi, lun, task, NULL) == NULL) {
        fprintf(stderr, "TEST UNIT READY failed: %s\n", iscsi_get_error(iscsi));
        if (task) scsi_free_scsi_task(task);
        return 1;
      }
      int ua = task->status == SCSI_STATUS_CHECK_CONDITION &&
               task->sense.key == SCSI_SENSE_UNIT_ATTENTION;
      scsi_free_scsi_task(task);
      if (!ua || ++n > 32) break;
    }
    printf("cleared=%d\n", n);
    return 0;
  } else if (!strcmp(c, "capacity")) {
    unsigned char cdb[10] = {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (!(t = run(cdb, 10, SCSI_XFER_READ, 8, &rc))) return rc;
    printf("last_lba=%" PRIu32 " block_size=%" PRIu32 "\n", be32(t->datain.data),
           be32(t->datain.data + 4));
  } else if (!strcmp(c, "toc")) {
    return do_toc(argc > 1 && !strcmp(argv[1], "msf"), 0);
  } else if (!strcmp(c, "session")) {
    return do_toc(0, 1);
  } else if (!strcmp(c, "tocfmt") && argc > 1) {
    return do_toc(0, atoi(argv[1]));
  } else if ((!strcmp(c, "read") || !strcmp(c, "read12")) && argc > 3) {
    return do_read(c[4] == '1', (uint32_t)strtoul(argv[1], NULL, 0),
                   (uint32_t)strtoul(argv[2], NULL, 0), argv[3]);
  } else if (!strcmp(c, "prevent") || !strcmp(c, "allow")) {
    unsigned char cdb[6] = {0x1e, 0, 0, 0, (unsigned char)(c[0] == 'p' ? 1 : 0), 0};
    return simple(cdb, 6);
  } else if (!strcmp(c, "eject") || !strcmp(c, "load")) {
    unsigned char cdb[6] = {0x1b, 0, 0, 0, (unsigned char)(c[0] == 'e' ? 0x02 : 0x03), 0};
    return simple(cdb, 6);
  } else if (!strcmp(c, "events")) {
    unsigned char cdb[10] = {0x4a, 0x01, 0, 0, 0x10, 0, 0, 0, 8, 0};
    if (!(t = run(cdb, 10, SCSI_XFER_READ, 8, &rc))) return rc;
    const unsigned char* d = t->datain.data;
    if (t->datain.size < 8 || (d[2] & 0x80)) {
      printf("nea=1\n");
    } else {
      printf("event=%d present=%d tray_open=%d\n", d[4] & 0x0f, (d[5] >> 1) & 1, d[5] & 1);
    }
  } else if (!strcmp(c, "getconf")) {
    unsigned char cdb[10] = {0x46, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0};
    if (!(t = run(cdb, 10, SCSI_XFER_READ, 4096, &rc))) return rc;
    const unsigned char* d = t->datain.data;
    int n = t->datain.size;
    printf("profile=0x%04x features=", n >= 8 ? be16(d + 6) : 0);
    for (int off = 8; off + 4 <= n; off += 4 + d[off + 3]) {
      printf("%s0x%04x%s", off == 8 ? "" : ",", be16(d + off), (d[off + 2] & 1) ? "*" : "");
    }
    printf("\n");
  } else if (!strcmp(c, "discinfo")) {
    unsigned char cdb[10] = {0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0};
    if (!(t = run(cdb, 10, SCSI_XFER_READ, 34, &rc))) return rc;
    const unsigned char* d = t->datain.data;
    printf("status=0x%02x sessions=%d first_track=%d last_track=%d\n", d[2], d[4], d[5], d[6]);
  } else if (!strcmp(c, "trackinfo")) {
    unsigned char cdb[10] = {0x52, 0x01, 0, 0, 0, 1, 0, 0, 48, 0};
    if (!(t = run(cdb, 10, SCSI_XFER_READ, 48, &rc))) return rc;
    const unsigned char* d = t->datain.data;
    printf("track=%d session=%d start=%" PRIu32 " size=%" PRIu32 "\n", d[2], d[3], be32(d + 8),
           be32(d + 24));
  } else if (!strcmp(c, "mechstatus")) {
    unsigned char cdb[12] = {0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0};
    if (!(t = run(cdb, 12, SCSI_XFER_READ, 8, &rc))) return rc;
    printf("door_open=%d\n", (t->datain.data[1] >> 4) & 1);
  } else {
    fprintf(stderr, "unknown command or missing arguments: %s\n", c);
    return 1;
  }
  scsi_free_scsi_task(t);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s iscsi://HOST:PORT/IQN/LUN COMMAND [ARGS] | -\n", argv[0]);
    return 1;
  }
  iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:mmc-raw");
  if (iscsi == NULL) return 1;
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (url == NULL) {
    fprintf(stderr, "bad URL %s: %s\n", argv[1], iscsi_get_error(iscsi));
    return 1;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  lun = url->lun;
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "login to %s failed: %s\n", argv[1], iscsi_get_error(iscsi));
    iscsi_destroy_url(url);
    iscsi_destroy_context(iscsi);
    return 1;
  }
  iscsi_destroy_url(url);
  int rc = 0;
  if (!strcmp(argv[2], "-")) {
    char line[1024];
    while (fgets(line, sizeof(line), stdin) != NULL) {
      char* args[16];
      int n = 0;
      for (char* tok = strtok(line, " \t\r\n"); tok != NULL && n < 16; tok = strtok(NULL, " \t\r\n")) {
        args[n++] = tok;
      }
      if (n == 0) continue;
      rc = command(n, args);
      printf("END rc=%d\n", rc);
      fflush(stdout);
    }
  } else {
    rc = command(argc - 2, argv + 2);
  }
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return rc;
}
