/* SPDX-License-Identifier: Apache-2.0
 *
 * The login the tools share: a normal session to the LU of an iscsi:// URL, no digests.
 * A header of static functions (each tool is one .c file built on its own).
 */
#ifndef MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_
#define MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_

#include <stdio.h>

#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

/* Logs in as `initiator` to the LU that `text` names. Returns the context and the LU's
 * number in *lun, or NULL after printing why to stderr ("bad URL ...", "login failed: ...").
 * With fixed_isid, the session's ISID is the same in every run of the tool (random format,
 * fixed value), so the initiator port, and with it a persistent-reservation registration,
 * is the same from one run to the next; otherwise libiscsi picks one. */
static struct iscsi_context* tool_connect_isid(const char* initiator, const char* text,
                                               int* lun, int fixed_isid) {
  struct iscsi_context* iscsi = iscsi_create_context(initiator);
  if (iscsi != NULL && fixed_isid) iscsi_set_isid_random(iscsi, 0x5a17e, 0);
  struct iscsi_url* url = iscsi ? iscsi_parse_full_url(iscsi, text) : NULL;
  if (url == NULL) {
    fprintf(stderr, "bad URL %s\n", text);
    return NULL;
  }
  iscsi_set_targetname(iscsi, url->target);
  iscsi_set_session_type(iscsi, ISCSI_SESSION_NORMAL);
  iscsi_set_header_digest(iscsi, ISCSI_HEADER_DIGEST_NONE);
  *lun = url->lun;
  const int rc = iscsi_full_connect_sync(iscsi, url->portal, url->lun);
  iscsi_destroy_url(url);
  if (rc != 0) {
    fprintf(stderr, "login failed: %s\n", iscsi_get_error(iscsi));
    iscsi_destroy_context(iscsi);
    return NULL;
  }
  return iscsi;
}

static inline struct iscsi_context* tool_connect(const char* initiator, const char* text,
                                                int* lun) {
  return tool_connect_isid(initiator, text, lun, 0);
}

/* Runs cdb on lun with `len` bytes of data (to the target when out != NULL). Returns the
 * task (the caller frees it) on GOOD. Otherwise returns NULL: a CHECK CONDITION prints
 * "sense K/AA/QQ" and another status "status 0xSS" on stdout, and *rc becomes 2 if it was 0;
 * a transport failure prints why on stderr and sets *rc to 1. */
static inline struct scsi_task* tool_run(struct iscsi_context* iscsi, int lun,
                                         const unsigned char* cdb,
                                         int cdb_len, int dir, int len, unsigned char* out,
                                         int* rc) {
  struct scsi_task* task = scsi_create_task(cdb_len, (unsigned char*)cdb, dir, len);
  if (task == NULL) {
    *rc = 1;
    return NULL;
  }
  struct iscsi_data d = {.size = (size_t)len, .data = out};
  if (iscsi_scsi_command_sync(iscsi, lun, task, out ? &d : NULL) == NULL) {
    fprintf(stderr, "command 0x%02x failed: %s\n", cdb[0], iscsi_get_error(iscsi));
    scsi_free_scsi_task(task);
    *rc = 1;
    return NULL;
  }
  if (task->status != SCSI_STATUS_GOOD) {
    if (task->status == SCSI_STATUS_CHECK_CONDITION) {
      printf("sense %x/%02x/%02x\n", task->sense.key, (task->sense.ascq >> 8) & 0xff,
             task->sense.ascq & 0xff);
    } else {
      printf("status 0x%02x\n", task->status);
    }
    scsi_free_scsi_task(task);
    if (*rc == 0) *rc = 2;
    return NULL;
  }
  return task;
}

#endif  // MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_
