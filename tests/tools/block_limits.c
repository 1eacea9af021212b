/* SPDX-License-Identifier: Apache-2.0
 *
 * block_limits: what an LU advertises for atomic writes, from its Block Limits VPD page
 * (SBC-4 6.6.4), so a test can hold a store to what it advertised instead of assuming it.
 *
 *   block_limits iscsi://HOST:PORT/IQN/LUN
 * Prints one line: "max_atomic=N alignment=A granularity=G" (logical blocks; N = 0: no
 * atomic writes). Exit code 1 on any failure.
 */
#include <stdio.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s iscsi://HOST:PORT/IQN/LUN\n", argv[0]);
    return 1;
  }
  struct iscsi_context* iscsi = iscsi_create_context("iqn.2026-11.org.modtgt.test:block-limits");
  struct iscsi_url* url = iscsi ? iscsi_parse_full_url(iscsi, argv[1]) : NULL;
  if (url == NULL) {
    fprintf(stderr, "bad URL %s\n", argv[1]);
    return 1;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  if (iscsi_full_connect_sync(iscsi, url->portal, url->lun) != 0) {
    fprintf(stderr, "login failed: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  struct scsi_task* t = iscsi_inquiry_sync(iscsi, url->lun, 1, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, 255);
  if (t == NULL || t->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "INQUIRY of the Block Limits page failed: %s\n", iscsi_get_error(iscsi));
    return 1;
  }
  struct scsi_inquiry_block_limits* bl = scsi_datain_unmarshall(t);
  if (bl == NULL) {
    fprintf(stderr, "cannot parse the Block Limits page\n");
    return 1;
  }
  printf("max_atomic=%u alignment=%u granularity=%u\n", bl->max_atomic_xfer_len,
         bl->atomic_align, bl->atomic_gran);
  scsi_free_scsi_task(t);
  iscsi_destroy_url(url);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return 0;
}
