/* SPDX-License-Identifier: Apache-2.0
 *
 * lu_features: what an LU advertises for the optional features its backing store decides,
 * so a test can hold a store to what it advertised instead of assuming it:
 *   - atomic writes, from the Block Limits VPD page (SBC-4 6.6.4);
 *   - SANITIZE BLOCK ERASE, from WABEREQ in the Block Device Characteristics VPD page
 *     (SBC-4 6.6.2: nonzero exactly where BLOCK ERASE is supported).
 *
 *   lu_features iscsi://HOST:PORT/IQN/LUN
 * Prints one line: "max_atomic=N alignment=A granularity=G block_erase=B" (logical blocks;
 * N = 0: no atomic writes; B = 0 or 1). Exit code 1 on any failure.
 */
#include <stdio.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include "tool_connect.h"

/* The parsed VPD page `page` of `lun`, its task in *task (to free), or NULL. */
static void* vpd(struct iscsi_context* iscsi, int lun, int page, struct scsi_task** task) {
  *task = iscsi_inquiry_sync(iscsi, lun, 1, page, 255);
  if (*task == NULL || (*task)->status != SCSI_STATUS_GOOD) {
    fprintf(stderr, "INQUIRY of VPD page 0x%02x failed: %s\n", page, iscsi_get_error(iscsi));
    return NULL;
  }
  void* p = scsi_datain_unmarshall(*task);
  if (p == NULL) fprintf(stderr, "cannot parse VPD page 0x%02x\n", page);
  return p;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s iscsi://HOST:PORT/IQN/LUN\n", argv[0]);
    return 1;
  }
  int lun = 0;
  struct iscsi_context* iscsi =
      tool_connect("iqn.2026-11.org.modtgt.test:lu-features", argv[1], &lun);
  if (iscsi == NULL) return 1;
  struct scsi_task* t1 = NULL;
  struct scsi_task* t2 = NULL;
  struct scsi_inquiry_block_limits* bl = vpd(iscsi, lun, SCSI_INQUIRY_PAGECODE_BLOCK_LIMITS, &t1);
  struct scsi_inquiry_block_device_characteristics* bdc =
      bl ? vpd(iscsi, lun, SCSI_INQUIRY_PAGECODE_BLOCK_DEVICE_CHARACTERISTICS, &t2) : NULL;
  if (bdc != NULL) {
    printf("max_atomic=%u alignment=%u granularity=%u block_erase=%d\n", bl->max_atomic_xfer_len,
           bl->atomic_align, bl->atomic_gran, bdc->wabereq != 0);
  }
  if (t1) scsi_free_scsi_task(t1);
  if (t2) scsi_free_scsi_task(t2);
  iscsi_logout_sync(iscsi);
  iscsi_destroy_context(iscsi);
  return bdc != NULL ? 0 : 1;
}
