/* SPDX-License-Identifier: Apache-2.0
 *
 * The login the tools share: a normal session to the LU of an iscsi:// URL, no digests.
 * A header of static functions (each tool is one .c file built on its own).
 */
#ifndef MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_
#define MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_

#include <stdio.h>

#include <iscsi/iscsi.h>

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

#endif  // MODTGT_TESTS_TOOLS_TOOL_CONNECT_H_
