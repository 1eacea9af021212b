/* SPDX-License-Identifier: Apache-2.0
 *
 * capacity_watch: a libiscsi initiator that stays logged in across a live resize
 * (tests/e2e/test-lun-resize.sh).
 *
 *   capacity_watch iscsi://HOST:PORT/IQN/LUN GO_FILE [TIMEOUT_SECONDS]
 *
 * Logs in (libiscsi's connect consumes the power-on unit attention), sends READ CAPACITY
 * (16) and prints "capacity BLOCKS BLOCK_LENGTH". Then it waits, answering the target's
 * NOP-Ins, until GO_FILE exists (the script creates it after resizing the LUN), and sends:
 *   TEST UNIT READY   -> prints "tur good" or "tur check KEY/ASC/ASCQ" (hex), e.g. the
 *                        expected UNIT ATTENTION / CAPACITY DATA HAS CHANGED "6/2a/09"
 *   TEST UNIT READY   -> again ("tur good" once the unit attention was reported)
 *   READ CAPACITY(16) -> "capacity BLOCKS BLOCK_LENGTH" (the new size)
 *   READ (16) of the last block -> "read-last ok" or "read-last failed ..."
 * Exit status: 0 when every command ran (the script judges the values), 1 on a transport
 * failure, 2 on bad usage, 3 when GO_FILE did not appear in time.
 *
 *   capacity_watch --naa iscsi://HOST:PORT/IQN/LUN
 *
 * prints the logical unit's NAA designators from VPD page 0x83 as hex ("naa 6001405..."),
 * which iscsi-inq cannot show (it prints binary designators as text).
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

static int read_capacity(struct iscsi_context* iscsi, int lun, uint64_t* blocks,
                         uint32_t* block_length) {
  struct scsi_task* task = iscsi_readcapacity16_sync(iscsi, lun);
  if (task == NULL) {
    fprintf(stderr, "READ CAPACITY(16): %s\n", iscsi_get_error(iscsi));
    return -1;
  }
  if (task->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "READ CAPACITY(16) status 0x%x sense %x/%04x\n", task->status,
            task->sense.key, task->sense.ascq);
    scsi_free_scsi_task(task);
    return -1;
  }
  struct scsi_readcapacity16* rc16 = scsi_datain_unmarshall(task);
  if (rc16 == NULL) {
    fprintf(stderr, "READ CAPACITY(16): cannot unmarshall the data\n");
    scsi_free_scsi_task(task);
    return -1;
  }
  *blocks = rc16->returned_lba + 1;
  *block_length = rc16->block_length;
  printf("capacity %llu %u\n", (unsigned long long)*blocks, *block_length);
  fflush(stdout);
  scsi_free_scsi_task(task);
  return 0;
}

static int test_unit_ready(struct iscsi_context* iscsi, int lun) {
  struct scsi_task* task = iscsi_testunitready_sync(iscsi, lun);
  if (task == NULL) {
    fprintf(stderr, "TEST UNIT READY: %s\n", iscsi_get_error(iscsi));
    return -1;
  }
  if (task->status == SCSI_STATUS_GOOD) {
    printf("tur good\n");
  } else if (task->status == SCSI_STATUS_CHECK_CONDITION) {
    printf("tur check %x/%02x/%02x\n", task->sense.key, (task->sense.ascq >> 8) & 0xff,
           task->sense.ascq & 0xff);
  } else {
    printf("tur status 0x%x\n", task->status);
  }
  fflush(stdout);
  scsi_free_scsi_task(task);
  return 0;
}

/* Waits for `path` to exist while servicing the connection (NOP-In pings). */
static int wait_for_file(struct iscsi_context* iscsi, const char* path, int timeout_s) {
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    if (access(path, F_OK) == 0) return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= timeout_s) return -1;
    struct pollfd pfd = {.fd = iscsi_get_fd(iscsi), .events = (short)iscsi_which_events(iscsi)};
    int n = poll(&pfd, 1, 20);
    if (n > 0 && iscsi_service(iscsi, pfd.revents) < 0) {
      fprintf(stderr, "connection failed while waiting: %s\n", iscsi_get_error(iscsi));
      return -2;
    }
  }
}

/* SPC-4 7.8.6: walks the designation descriptors of VPD 0x83 and prints every NAA one
 * (designator type 3) associated with the logical unit. */
static int print_naa(struct iscsi_context* iscsi, int lun) {
  struct scsi_task* task = iscsi_inquiry_sync(iscsi, lun, 1, 0x83, 255);
  if (task == NULL || task->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "INQUIRY VPD 0x83 failed: %s\n", iscsi_get_error(iscsi));
    if (task) scsi_free_scsi_task(task);
    return -1;
  }
  const unsigned char* d = task->datain.data;
  int n = task->datain.size;
  int len = n >= 4 ? ((d[2] << 8) | d[3]) + 4 : 0;
  if (len > n) len = n;
  for (int off = 4; off + 4 <= len;) {
    int dlen = d[off + 3];
    if (off + 4 + dlen > len) break;
    int assoc = (d[off + 1] >> 4) & 0x3, type = d[off + 1] & 0xf;
    if (type == 3 && assoc == 0) {
      printf("naa ");
      for (int i = 0; i < dlen; i++) printf("%02x", d[off + 4 + i]);
      printf("\n");
    }
    off += 4 + dlen;
  }
  scsi_free_scsi_task(task);
  return 0;
}

int main(int argc, char** argv) {
  int naa_mode = argc == 3 && strcmp(argv[1], "--naa") == 0;
  if (naa_mode) {
    argv++;
    argc--;
  }
  if (!naa_mode && (argc < 3 || argc > 4)) {
    fprintf(stderr, "usage: %s iscsi://HOST:PORT/IQN/LUN GO_FILE [TIMEOUT_SECONDS]\n       %s --naa iscsi://HOST:PORT/IQN/LUN\n", argv[0], argv[0]);
    return 2;
  }
  int timeout_s = argc == 4 ? atoi(argv[3]) : 60;
  struct iscsi_context* iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:capacity-watch");
  if (iscsi == NULL) {
    fprintf(stderr, "cannot create an iSCSI context\n");
    return 1;
  }
  struct iscsi_url* url = iscsi_parse_full_url(iscsi, argv[1]);
  if (url == NULL) {
    fprintf(stderr, "bad URL %s: %s\n", argv[1], iscsi_get_error(iscsi));
    iscsi_destroy_context(iscsi);
    return 2;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE_CRC32C);
  int rc = 1;
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "login to %s failed: %s\n", argv[1], iscsi_get_error(iscsi));
    goto out;
  }
  if (naa_mode) {
    rc = print_naa(iscsi, url->lun) == 0 ? 0 : 1;
    iscsi_logout_sync(iscsi);
    goto out;
  }
  uint64_t blocks = 0;
  uint32_t block_length = 0;
  if (read_capacity(iscsi, url->lun, &blocks, &block_length) != 0) goto out;
  int w = wait_for_file(iscsi, argv[2], timeout_s);
  if (w != 0) {
    if (w == -1) fprintf(stderr, "%s did not appear within %d s\n", argv[2], timeout_s);
    rc = w == -1 ? 3 : 1;
    goto out;
  }
  if (test_unit_ready(iscsi, url->lun) != 0 || test_unit_ready(iscsi, url->lun) != 0) goto out;
  if (read_capacity(iscsi, url->lun, &blocks, &block_length) != 0) goto out;
  {
    struct scsi_task* task = iscsi_read16_sync(iscsi, url->lun, blocks - 1, block_length,
                                               block_length, 0, 0, 0, 0, 0);
    if (task == NULL) {
      fprintf(stderr, "READ(16): %s\n", iscsi_get_error(iscsi));
      goto out;
    }
    if (task->status == SCSI_STATUS_GOOD) {
      printf("read-last ok\n");
    } else {
      printf("read-last failed status 0x%x sense %x/%04x\n", task->status, task->sense.key,
             task->sense.ascq);
    }
    scsi_free_scsi_task(task);
  }
  fflush(stdout);
  iscsi_logout_sync(iscsi);
  rc = 0;
out:
  iscsi_destroy_url(url);
  iscsi_destroy_context(iscsi);
  return rc;
}
