/* SPDX-License-Identifier: Apache-2.0
 *
 * xcopy: EXTENDED COPY (LID1) over one libiscsi session, the way a hypervisor offloads a
 * copy (VMware's XCOPY, Windows ODX's LID1 fallback): the copy manager is the LU of the URL,
 * copy targets are named by the NAA designators of their VPD page 0x83.
 *
 *   xcopy [-i INITIATOR] naa URL
 *       logs in to URL and prints the LU's NAA designator (32 hex digits)
 *   xcopy [-i INITIATOR] copy URL SRC_NAA DST_NAA SRC_LBA DST_LBA BLOCKS
 *       logs in to URL and sends EXTENDED COPY of BLOCKS blocks (the block size of the
 *       URL's LU) from SRC_NAA at SRC_LBA to DST_NAA at DST_LBA ("self" = the URL's LU),
 *       in segments of at most 65535 blocks, at most 64 segments per command; then
 *       RECEIVE COPY RESULTS (COPY STATUS) of the last command. Prints "copied N bytes"
 *       on success, "sense K/AA/QQ" on CHECK CONDITION.
 * Exit code: 0 success, 2 CHECK CONDITION (or another SCSI status), 1 anything else (a
 * login that fails included: "login failed: ...").
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "tool_connect.h"

#define NAA_LEN 16
#define MAX_SEGMENT_BLOCKS 65535u
#define MAX_SEGMENTS 64u

static struct iscsi_context* iscsi;
static int lun;

static int connect_url(const char* initiator, const char* text) {
  iscsi = tool_connect(initiator, text, &lun);
  return iscsi ? 0 : -1;
}

/* Prints a failed task; returns the exit code it means. */
static int report(struct scsi_task* t, const char* what) {
  if (t == NULL) {
    fprintf(stderr, "%s failed: %s\n", what, iscsi_get_error(iscsi));
    return 1;
  }
  if (t->status == SCSI_STATUS_CHECK_CONDITION) {
    printf("sense %x/%02x/%02x\n", t->sense.key, (t->sense.ascq >> 8) & 0xff, t->sense.ascq & 0xff);
  } else {
    printf("status 0x%02x\n", t->status);
  }
  return 2;
}

/* The NAA designator (association: logical unit) of the session's LU. */
static int own_naa(unsigned char* naa) {
  struct scsi_task* t = iscsi_inquiry_sync(iscsi, lun, 1, SCSI_INQUIRY_PAGECODE_DEVICE_IDENTIFICATION, 255);
  if (t == NULL || t->status != SCSI_STATUS_GOOD) return -report(t, "INQUIRY");
  struct scsi_inquiry_device_identification* di = scsi_datain_unmarshall(t);
  int rc = -1;
  for (struct scsi_inquiry_device_designator* d = di ? di->designators : NULL; d; d = d->next) {
    if (d->designator_type == SCSI_DESIGNATOR_TYPE_NAA &&
        d->association == SCSI_ASSOCIATION_LOGICAL_UNIT && d->designator_length == NAA_LEN) {
      memcpy(naa, d->designator, NAA_LEN);
      rc = 0;
      break;
    }
  }
  if (rc != 0) fprintf(stderr, "no NAA designator in VPD page 0x83\n");
  scsi_free_scsi_task(t);
  return rc;
}

static int parse_naa(const char* s, unsigned char* naa) {
  if (strlen(s) != 2 * NAA_LEN) return -1;
  for (int i = 0; i < NAA_LEN; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
    naa[i] = (unsigned char)v;
  }
  return 0;
}

/* An identification descriptor target descriptor (E4h) for a block device. */
static void target_descriptor(unsigned char* d, const unsigned char* naa, uint32_t block) {
  memset(d, 0, 32);
  d[0] = 0xe4;
  d[4] = 0x01; /* binary */
  d[5] = 0x03; /* association LU, type NAA */
  d[7] = NAA_LEN;
  memcpy(d + 8, naa, NAA_LEN);
  d[29] = (block >> 16) & 0xff;
  d[30] = (block >> 8) & 0xff;
  d[31] = block & 0xff;
}

static void put_be(unsigned char* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) p[i] = v & 0xff;
}

static int copy(const unsigned char* src, const unsigned char* dst, uint64_t src_lba,
                uint64_t dst_lba, uint64_t blocks) {
  struct scsi_task* t = iscsi_readcapacity16_sync(iscsi, lun);
  if (t == NULL || t->status != SCSI_STATUS_GOOD) return report(t, "READ CAPACITY (16)");
  struct scsi_readcapacity16* rc16 = scsi_datain_unmarshall(t);
  const uint32_t bs = rc16 ? rc16->block_length : 512;
  scsi_free_scsi_task(t);
  uint64_t copied = 0;
  uint8_t list_id = 1;
  while (copied < blocks) {
    unsigned char buf[16 + 2 * 32 + MAX_SEGMENTS * 28];
    memset(buf, 0, sizeof(buf));
    target_descriptor(buf + 16, src, bs);
    target_descriptor(buf + 48, dst, bs);
    size_t off = 16 + 64;
    unsigned nseg = 0;
    for (; nseg < MAX_SEGMENTS && copied < blocks; nseg++) {
      const uint64_t n = blocks - copied < MAX_SEGMENT_BLOCKS ? blocks - copied : MAX_SEGMENT_BLOCKS;
      unsigned char* s = buf + off;
      s[0] = 0x02;
      put_be(s + 2, 0x18, 2);
      put_be(s + 4, 0, 2);
      put_be(s + 6, 1, 2);
      put_be(s + 10, n, 2);
      put_be(s + 12, src_lba + copied, 8);
      put_be(s + 20, dst_lba + copied, 8);
      off += 28;
      copied += n;
    }
    buf[0] = list_id;
    buf[1] = 0; /* LIST ID USAGE 00b: hold the status */
    put_be(buf + 2, 64, 2);
    put_be(buf + 8, nseg * 28, 4);
    struct iscsi_data data = {.size = off, .data = buf};
    t = iscsi_extended_copy_sync(iscsi, lun, &data);
    if (t == NULL || t->status != SCSI_STATUS_GOOD) return report(t, "EXTENDED COPY");
    scsi_free_scsi_task(t);
    t = iscsi_receive_copy_results_sync(iscsi, lun, SCSI_COPY_RESULTS_COPY_STATUS, list_id, 1024);
    if (t == NULL || t->status != SCSI_STATUS_GOOD) return report(t, "RECEIVE COPY RESULTS");
    struct scsi_copy_results_copy_status* cs = scsi_datain_unmarshall(t);
    if (cs == NULL || cs->copy_manager_status != 1 || cs->segments_processed != nseg) {
      fprintf(stderr, "copy status: %d, %d of %u segments\n", cs ? cs->copy_manager_status : -1,
              cs ? cs->segments_processed : -1, nseg);
      scsi_free_scsi_task(t);
      return 1;
    }
    scsi_free_scsi_task(t);
    list_id++;
  }
  printf("copied %" PRIu64 " bytes\n", blocks * bs);
  return 0;
}

int main(int argc, char** argv) {
  const char* initiator = "iqn.2026-11.org.modtgt.test:xcopy";
  int opt;
  while ((opt = getopt(argc, argv, "i:")) != -1) {
    if (opt == 'i') {
      initiator = optarg;
    } else {
      return 1;
    }
  }
  argc -= optind;
  argv += optind;
  if (argc == 2 && !strcmp(argv[0], "naa")) {
    unsigned char naa[NAA_LEN];
    if (connect_url(initiator, argv[1]) != 0 || own_naa(naa) != 0) return 1;
    for (int i = 0; i < NAA_LEN; i++) printf("%02x", naa[i]);
    printf("\n");
    return 0;
  }
  if (argc == 7 && !strcmp(argv[0], "copy")) {
    unsigned char src[NAA_LEN], dst[NAA_LEN], self[NAA_LEN];
    if (connect_url(initiator, argv[1]) != 0 || own_naa(self) != 0) return 1;
    if (!strcmp(argv[2], "self")) memcpy(src, self, NAA_LEN);
    else if (parse_naa(argv[2], src) != 0) return 1;
    if (!strcmp(argv[3], "self")) memcpy(dst, self, NAA_LEN);
    else if (parse_naa(argv[3], dst) != 0) return 1;
    return copy(src, dst, strtoull(argv[4], NULL, 0), strtoull(argv[5], NULL, 0),
                strtoull(argv[6], NULL, 0));
  }
  fprintf(stderr,
          "usage: xcopy [-i INITIATOR] naa URL\n"
          "       xcopy [-i INITIATOR] copy URL SRC_NAA|self DST_NAA|self SRC_LBA DST_LBA BLOCKS\n");
  return 1;
}
