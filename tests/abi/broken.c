/* SPDX-License-Identifier: Apache-2.0
 *
 * One small backing store compiled many times, each time with one defect (or one
 * behaviour) chosen by a -D flag, to exercise the loader's checks:
 *   BROKEN_ABI_MAJOR   built for ABI 2.0            BROKEN_ABI_MINOR  built for ABI 1.7
 *   BROKEN_NO_READ     no .read callback            BROKEN_NO_ENTRY   no modtgt_module_init
 *   BROKEN_NULL_DESC   modtgt_module_init -> NULL   BROKEN_SMALL      struct_size 16
 *   BROKEN_KIND        kind 7                       BROKEN_NAME       name "Bad-Name"
 *   BROKEN_THIN        MODTGT_CAP_THIN, no unmap    USE_UNDEFINED     an unresolvable symbol
 *   USE_GONE_LIB       needs a library that is not installed
 *   LOAD_FAIL          load() fails with a reason   LOAD_RETRY        load() fails once
 *   ABI_1_0            built for ABI 1.0: descriptor ends after handle_cmd (valid)
 *   ABI_1_1            built for ABI 1.1: descriptor ends after get_lock_state (valid),
 *                      with a garbage 1.2 field and a 1.2 capability bit beyond its ABI
 *   SHORT_DESC         an older, shorter descriptor (valid) whose last field is garbage
 *   ABI_1_5            built for ABI 1.5 (the whole descriptor: 1.6 appended nothing)
 *   READ_ZEROS         reads return status 12 (1.6's MODTGT_STS_ZEROS) and leave 0xEE in
 *                      the buffer (with ABI_1_5: a value that module cannot mean)
 *   REOPEN_FAIL        open(dev, 1) fails (reload rollback tests)
 *   REOPEN_FAIL_ENV    open(dev, 1) fails while $MODTGT_TEST_REOPEN_FAIL is set (a
 *                      rollback that cannot reopen either)
 * MOD_NAME and MOD_SUBTYPE set the name and subtype (duplicate tests); MOD_VERSION the
 * version string and MOD_FILL the byte reads return (two builds of one module tell which
 * code is running: reload and unload/replace tests).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "modtgt/module.h"

#ifndef MOD_NAME
#define MOD_NAME "broken"
#endif
#ifndef MOD_SUBTYPE
#define MOD_SUBTYPE NULL
#endif
#ifndef MOD_VERSION
#define MOD_VERSION "0.1"
#endif
#ifndef MOD_FILL
#define MOD_FILL 0
#endif

static const modtgt_host* host;

#ifdef USE_UNDEFINED
extern int modtgt_test_no_such_symbol(void);
#endif
#ifdef USE_GONE_LIB
int modtgt_test_gone_function(void);
#endif

static int b_open(modtgt_dev* dev, int reopen) {
  (void)reopen;
#ifdef REOPEN_FAIL_ENV
  if (reopen && getenv("MODTGT_TEST_REOPEN_FAIL") != NULL) {
    host->error("reopen refused by MODTGT_TEST_REOPEN_FAIL");
    return MODTGT_EIO;
  }
#endif
#ifdef REOPEN_FAIL
  if (reopen) {
    host->error("this build refuses to reopen devices");
    return MODTGT_EIO;
  }
#endif
  host->dev_set_size(dev, 1 << 20);
  return 0;
}
static void b_close(modtgt_dev* dev) { (void)dev; }
__attribute__((unused)) static int b_read(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                  uint64_t offset) {
  (void)dev, (void)io, (void)offset;
#ifdef USE_UNDEFINED
  if (modtgt_test_no_such_symbol()) return MODTGT_STS_READ_ERROR;
#endif
#ifdef USE_GONE_LIB
  if (modtgt_test_gone_function() != 42) return MODTGT_STS_READ_ERROR;
#endif
#ifdef READ_ZEROS
  for (int i = 0; i < iovcnt; i++) memset(iov[i].iov_base, 0xee, iov[i].iov_len);
  return 12; /* MODTGT_STS_ZEROS in 1.6 */
#endif
  for (int i = 0; i < iovcnt; i++) memset(iov[i].iov_base, MOD_FILL, iov[i].iov_len);
  return MODTGT_STS_OK;
}
static int b_write(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                   uint64_t offset, uint32_t flags) {
  (void)dev, (void)io, (void)iov, (void)iovcnt, (void)offset, (void)flags;
  return MODTGT_STS_OK;
}

#ifdef LOAD_FAIL
static int b_load(void) {
  host->error("no licence for the frobnicator");
  return MODTGT_EIO;
}
#elif defined(LOAD_RETRY)
static int attempts;
static int b_load(void) {
  if (++attempts == 1) {
    host->error("first attempt fails (attempt %d)", attempts);
    return MODTGT_EBUSY;
  }
  return 0;
}
#endif

__attribute__((unused)) static const modtgt_backing_store desc = {
#ifdef BROKEN_SMALL
    .struct_size = 16,
#elif defined(SHORT_DESC)
    .struct_size = offsetof(modtgt_backing_store, handle_cmd),
#elif defined(ABI_1_0)
    /* Built as a module of ABI 1.0 would be: its descriptor ends after handle_cmd. */
    .struct_size = offsetof(modtgt_backing_store, device_type),
#elif defined(ABI_1_1)
    /* Built as a module of ABI 1.1 would be: its descriptor ends after get_lock_state. */
    .struct_size = offsetof(modtgt_backing_store, get_lba_status),
#else
    .struct_size = sizeof(modtgt_backing_store),
#endif
#ifdef BROKEN_ABI_MAJOR
    .abi_version = (2u << 16) | 0u,
#elif defined(BROKEN_ABI_MINOR)
    .abi_version = (1u << 16) | 7u,
#elif defined(ABI_1_0)
    .abi_version = (1u << 16) | 0u,
#elif defined(ABI_1_1)
    .abi_version = (1u << 16) | 1u,
#elif defined(ABI_1_3)
    /* ABI 1.4 changed no structure: a 1.3 build has the whole descriptor. */
    .abi_version = (1u << 16) | 3u,
#elif defined(ABI_1_4)
    /* ABI 1.5 appended host services only: a 1.4 build has the whole descriptor. */
    .abi_version = (1u << 16) | 4u,
#elif defined(ABI_1_5)
    /* ABI 1.6 added a status only: a 1.5 build has the whole descriptor. */
    .abi_version = (1u << 16) | 5u,
#else
    .abi_version = MODTGT_ABI_VERSION,
#endif
#ifdef BROKEN_KIND
    .kind = 7,
#else
    .kind = MODTGT_KIND_BACKING_STORE,
#endif
#ifdef BROKEN_THIN
    .caps = MODTGT_CAP_THIN,
#elif defined(ABI_1_1)
    /* Bit 1 meant nothing in 1.1: it must not make the daemon send atomic writes. */
    .caps = MODTGT_CAP_ATOMIC_WRITE,
#endif
#ifdef BROKEN_NAME
    .name = "Bad-Name",
#else
    .name = MOD_NAME,
#endif
    .subtype = MOD_SUBTYPE,
    .version = MOD_VERSION,
    .description = "loader test module",
#if defined(LOAD_FAIL) || defined(LOAD_RETRY)
    .load = b_load,
#endif
    .open = b_open,
    .close = b_close,
#ifndef BROKEN_NO_READ
    .read = b_read,
#endif
    .write = b_write,
#ifdef SHORT_DESC
    /* Beyond struct_size: the loader must not copy it (it would crash if called). */
    .handle_cmd = (int (*)(modtgt_dev*, modtgt_cmd*))1,
#endif
#ifdef ABI_1_1
    /* Beyond struct_size: the loader must not copy it (it would crash if called). */
    .get_lba_status = (int (*)(modtgt_dev*, modtgt_io*, uint64_t, uint64_t,
                               modtgt_lba_status*))1,
#endif
};

#ifdef BROKEN_NO_ENTRY
#define ENTRY modtgt_module_init_misspelled
#else
#define ENTRY modtgt_module_init
#endif

MODTGT_EXPORT const modtgt_backing_store* ENTRY(const modtgt_host* h);
MODTGT_EXPORT const modtgt_backing_store* ENTRY(const modtgt_host* h) {
  host = h;
#ifdef BROKEN_NULL_DESC
  return NULL;
#else
  return &desc;
#endif
}
