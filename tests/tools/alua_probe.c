/* SPDX-License-Identifier: Apache-2.0
 *
 * alua_probe: one ALUA question to an LU, for tests/e2e/test-alua-ram.sh.
 *
 *   alua_probe URL tpgs              -> "tpgs=N" (INQUIRY byte 5 bits 5-4)
 *   alua_probe URL vpd83             -> "relport=N tpg=N" (VPD 0x83 types 4 and 5; -1 none)
 *   alua_probe URL rtpg [FORMAT]     -> one line per group: "group=G state=S pref=P
 *                                       status=C ports=R1,R2" (+ "format=1 itt=T" first)
 *   alua_probe URL stpg G=S[,G=S]    -> "status=0xSS [sense=K/AA/QQ]"
 *   alua_probe URL tur               -> "status=0xSS [sense=K/AA/QQ]"
 *   alua_probe URL read16 LBA        -> "status=0xSS [sense=K/AA/QQ]" (one 512-byte block)
 *   alua_probe URL write16 LBA BYTE  -> the same for a FUA write of 8 blocks of BYTE
 *   alua_probe URL ua-stpg G=S,...   -> a second session (opened and cleared of UAs first)
 *                                       answers TEST UNIT READY after the STPG on the
 *                                       first: "stpg status=0xSS other status=0xSS
 *                                       [sense=K/AA/QQ]"
 *
 * Unit attentions (a new nexus's power-on) are consumed with TEST UNIT READY first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>


static void print_status(struct scsi_task* t) {
  printf("status=0x%02x", t->status);
  if (t->status == SCSI_STATUS_CHECK_CONDITION) {
    printf(" sense=%x/%02x/%02x", t->sense.key, (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
  }
  printf("\n");
}

/* Like tests/tools/tool_connect.h, without iscsi_full_connect_sync's TEST UNIT READY (it
 * fails on a standby path). */
static struct iscsi_context* tool_connect(const char* initiator, const char* text, int* lun) {
  struct iscsi_context* iscsi = iscsi_create_context(initiator);
  struct iscsi_url* url = iscsi ? iscsi_parse_full_url(iscsi, text) : NULL;
  if (url == NULL) {
    fprintf(stderr, "bad URL %s\n", text);
    return NULL;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  *lun = url->lun;
  int rc = iscsi_connect_sync(iscsi, url->portal);
  if (rc == 0) rc = iscsi_login_sync(iscsi);
  iscsi_destroy_url(url);
  if (rc != 0) {
    fprintf(stderr, "login failed: %s\n", iscsi_get_error(iscsi));
    iscsi_destroy_context(iscsi);
    return NULL;
  }
  return iscsi;
}

static void clear_uas(struct iscsi_context* iscsi, int lun) {
  for (int i = 0; i < 8; i++) {
    struct scsi_task* t = iscsi_testunitready_sync(iscsi, lun);
    const int ua = t && t->status == SCSI_STATUS_CHECK_CONDITION &&
                   t->sense.key == SCSI_SENSE_UNIT_ATTENTION;
    if (t) scsi_free_scsi_task(t);
    if (!ua) break;
  }
}

static struct scsi_task* run(struct iscsi_context* iscsi, int lun, unsigned char* cdb, int len,
                             int dir, int xfer, unsigned char* out, int out_len) {
  struct scsi_task* t = scsi_create_task(len, cdb, dir, xfer);
  struct iscsi_data d = {.size = (size_t)out_len, .data = out};
  if (t == NULL || iscsi_scsi_command_sync(iscsi, lun, t, out ? &d : NULL) == NULL) {
    fprintf(stderr, "command failed: %s\n", iscsi_get_error(iscsi));
    exit(1);
  }
  return t;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s URL tpgs|vpd83|rtpg [FORMAT]|stpg G=S,...|tur\n", argv[0]);
    return 2;
  }
  int lun = 0;
  struct iscsi_context* iscsi = tool_connect("iqn.2026-11.org.modtgt.test:probe", argv[1], &lun);
  if (iscsi == NULL) return 1;
  const char* what = argv[2];
  clear_uas(iscsi, lun);
  struct iscsi_context* other = NULL;
  int other_lun = 0;
  if (strcmp(what, "ua-stpg") == 0) {
    other = tool_connect("iqn.2026-11.org.modtgt.test:probe2", argv[1], &other_lun);
    if (other == NULL) return 1;
    clear_uas(other, other_lun);
    what = "stpg";
    printf("stpg ");
  }
  int rc = 0;
  if (strcmp(what, "tur") == 0) {
    struct scsi_task* t = iscsi_testunitready_sync(iscsi, lun);
    print_status(t);
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "read16") == 0 && argc > 3) {
    struct scsi_task* t = iscsi_read16_sync(iscsi, lun, strtoull(argv[3], NULL, 0), 512, 512,
                                            0, 0, 0, 0, 0);
    if (t == NULL) return 1;
    print_status(t);
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "write16") == 0 && argc > 4) {
    unsigned char buf[4096];
    memset(buf, (int)strtoul(argv[4], NULL, 0), sizeof(buf));
    struct scsi_task* t = iscsi_write16_sync(iscsi, lun, strtoull(argv[3], NULL, 0), buf,
                                             sizeof(buf), 512, 0, 0, 1, 0, 0);
    if (t == NULL) return 1;
    print_status(t);
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "tpgs") == 0) {
    unsigned char cdb[6] = {0x12, 0, 0, 0, 96, 0};
    struct scsi_task* t = run(iscsi, lun, cdb, 6, SCSI_XFER_READ, 96, NULL, 0);
    if (t->status != SCSI_STATUS_GOOD || t->datain.size < 6) rc = 1;
    else printf("tpgs=%d\n", (t->datain.data[5] >> 4) & 3);
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "vpd83") == 0) {
    unsigned char cdb[6] = {0x12, 1, 0x83, 0x04, 0, 0};
    struct scsi_task* t = run(iscsi, lun, cdb, 6, SCSI_XFER_READ, 1024, NULL, 0);
    int relport = -1, tpg = -1;
    const unsigned char* d = t->datain.data;
    int len = t->datain.size >= 4 ? 4 + ((d[2] << 8) | d[3]) : 0;
    if (len > t->datain.size) len = t->datain.size;
    for (int at = 4; at + 4 <= len;) {
      const int type = d[at + 1] & 0x0f, dlen = d[at + 3];
      if (at + 4 + dlen > len) break;
      if (type == 4 && dlen >= 4) relport = (d[at + 6] << 8) | d[at + 7];
      if (type == 5 && dlen >= 4) tpg = (d[at + 6] << 8) | d[at + 7];
      at += 4 + dlen;
    }
    printf("relport=%d tpg=%d\n", relport, tpg);
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "rtpg") == 0) {
    const int format = argc > 3 ? atoi(argv[3]) : 0;
    unsigned char cdb[12] = {0xa3, (unsigned char)(0x0a | (format << 5)), 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0};
    struct scsi_task* t = run(iscsi, lun, cdb, 12, SCSI_XFER_READ, 1024, NULL, 0);
    if (t->status != SCSI_STATUS_GOOD) {
      print_status(t);
      rc = 1;
    } else {
      const unsigned char* d = t->datain.data;
      int len = 4 + (int)(((unsigned)d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]);
      if (len > t->datain.size) len = t->datain.size;
      int at = 4;
      if (format == 1) {
        printf("format=%d itt=%d\n", d[4] >> 4, d[5]);
        at = 8;
      }
      while (at + 8 <= len) {
        const int ports = d[at + 7];
        printf("group=%d state=%d pref=%d status=%d ports=", (d[at + 2] << 8) | d[at + 3],
               d[at] & 0x0f, d[at] >> 7, d[at + 5]);
        for (int p = 0; p < ports && at + 8 + 4 * p + 4 <= len; p++) {
          printf("%s%d", p ? "," : "", (d[at + 10 + 4 * p] << 8) | d[at + 11 + 4 * p]);
        }
        printf("\n");
        at += 8 + 4 * ports;
      }
    }
    scsi_free_scsi_task(t);
  } else if (strcmp(what, "stpg") == 0 && argc > 3) {
    unsigned char param[4 + 4 * 16];
    memset(param, 0, sizeof(param));
    int n = 0;
    char* list = strdup(argv[3]);
    for (char* tok = strtok(list, ","); tok && n < 16; tok = strtok(NULL, ",")) {
      int g = 0, s = 0;
      if (sscanf(tok, "%d=%d", &g, &s) != 2) return 2;
      param[4 + 4 * n] = (unsigned char)s;
      param[6 + 4 * n] = (unsigned char)(g >> 8);
      param[7 + 4 * n] = (unsigned char)g;
      n++;
    }
    free(list);
    const int plen = 4 + 4 * n;
    unsigned char cdb[12] = {0xa4, 0x0a, 0, 0, 0, 0, 0, 0, 0, (unsigned char)plen, 0, 0};
    struct scsi_task* t = run(iscsi, lun, cdb, 12, SCSI_XFER_WRITE, plen, param, plen);
    print_status(t);
    scsi_free_scsi_task(t);
    if (other != NULL) {
      t = iscsi_testunitready_sync(other, other_lun);
      printf("other ");
      print_status(t);
      scsi_free_scsi_task(t);
      iscsi_logout_sync(other);
      iscsi_destroy_context(other);
    }
  } else {
    fprintf(stderr, "unknown question %s\n", what);
    rc = 2;
  }
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return rc;
}
