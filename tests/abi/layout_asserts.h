/* SPDX-License-Identifier: Apache-2.0
 *
 * Layout of every ABI struct in modtgt/module.h on x86_64 (LP64). Included from a C file
 * and a C++ file so both compilers agree. A failure here means the ABI changed: fields may
 * only be appended (and MODTGT_ABI_MINOR bumped); anything else is a new major version.
 */
#include <assert.h>
#include <stddef.h>

#include "modtgt/module.h"

#if defined(__x86_64__)
#define ABI_ASSERT(cond) static_assert(cond, #cond)

ABI_ASSERT(MODTGT_ABI_VERSION == 0x00010006u);
ABI_ASSERT(sizeof(modtgt_status) == 4);
ABI_ASSERT(sizeof(modtgt_log_level) == 4);

/* 1.0 ended at 56 bytes; 1.1 appended three fields. */
ABI_ASSERT(sizeof(modtgt_dev_config) == 72);
ABI_ASSERT(offsetof(modtgt_dev_config, hw_max_sectors) == 56);
ABI_ASSERT(offsetof(modtgt_dev_config, max_data_area_mb) == 60);
ABI_ASSERT(offsetof(modtgt_dev_config, wwn) == 64);
ABI_ASSERT(offsetof(modtgt_dev_config, struct_size) == 0);
ABI_ASSERT(offsetof(modtgt_dev_config, block_size) == 4);
ABI_ASSERT(offsetof(modtgt_dev_config, cfgstring) == 8);
ABI_ASSERT(offsetof(modtgt_dev_config, path) == 16);
ABI_ASSERT(offsetof(modtgt_dev_config, bsopts) == 24);
ABI_ASSERT(offsetof(modtgt_dev_config, oflags) == 32);
ABI_ASSERT(offsetof(modtgt_dev_config, readonly) == 36);
ABI_ASSERT(offsetof(modtgt_dev_config, size) == 40);
ABI_ASSERT(offsetof(modtgt_dev_config, write_cache) == 48);
ABI_ASSERT(offsetof(modtgt_dev_config, reserved) == 52);

ABI_ASSERT(offsetof(modtgt_host, struct_size) == 0);
ABI_ASSERT(offsetof(modtgt_host, abi_version) == 4);
ABI_ASSERT(offsetof(modtgt_host, log) == 8);
ABI_ASSERT(offsetof(modtgt_host, error) == 16);
ABI_ASSERT(offsetof(modtgt_host, dev_set_private) == 24);
ABI_ASSERT(offsetof(modtgt_host, dev_get_private) == 32);
ABI_ASSERT(offsetof(modtgt_host, dev_get_config) == 40);
ABI_ASSERT(offsetof(modtgt_host, dev_set_size) == 48);
ABI_ASSERT(offsetof(modtgt_host, complete) == 56);
ABI_ASSERT(offsetof(modtgt_host, cmd_cdb) == 64);
ABI_ASSERT(offsetof(modtgt_host, cmd_data) == 72);
ABI_ASSERT(offsetof(modtgt_host, cmd_set_sense) == 80);
ABI_ASSERT(offsetof(modtgt_host, cmd_set_data_in_length) == 88);
ABI_ASSERT(offsetof(modtgt_host, cmd_complete) == 96);
/* 1.1 */
ABI_ASSERT(offsetof(modtgt_host, dev_report_event) == 104);
ABI_ASSERT(offsetof(modtgt_host, cmd_set_status) == 112);
ABI_ASSERT(offsetof(modtgt_host, cmd_set_sense_ex) == 120);
ABI_ASSERT(offsetof(modtgt_host, cmd_set_sense_raw) == 128);
/* 1.2 */
ABI_ASSERT(offsetof(modtgt_host, dev_set_atomic_limits) == 136);
/* 1.3 */
ABI_ASSERT(offsetof(modtgt_host, dev_keep_fd) == 144);
ABI_ASSERT(offsetof(modtgt_host, dev_kept_fd) == 152);
/* 1.5 */
ABI_ASSERT(offsetof(modtgt_host, loop_defer) == 160);
ABI_ASSERT(offsetof(modtgt_host, loop_watch_fd) == 168);
ABI_ASSERT(offsetof(modtgt_host, loop_unwatch) == 176);
ABI_ASSERT(sizeof(modtgt_host) == 184);
ABI_ASSERT(MODTGT_STS_SPACE_EXHAUSTED == 10);

ABI_ASSERT(sizeof(modtgt_lba_status) == 16);
ABI_ASSERT(offsetof(modtgt_lba_status, length) == 0);
ABI_ASSERT(offsetof(modtgt_lba_status, state) == 8);
ABI_ASSERT(sizeof(modtgt_atomic_limits) == 16);
ABI_ASSERT(offsetof(modtgt_atomic_limits, max_bytes) == 4);
ABI_ASSERT(offsetof(modtgt_atomic_limits, align_bytes) == 8);
ABI_ASSERT(offsetof(modtgt_atomic_limits, granularity_bytes) == 12);

ABI_ASSERT(sizeof(modtgt_reconfig) == 40);
ABI_ASSERT(offsetof(modtgt_reconfig, what) == 4);
ABI_ASSERT(offsetof(modtgt_reconfig, size) == 8);
ABI_ASSERT(offsetof(modtgt_reconfig, cfgstring) == 16);
ABI_ASSERT(offsetof(modtgt_reconfig, path) == 24);
ABI_ASSERT(offsetof(modtgt_reconfig, write_cache) == 32);
ABI_ASSERT(sizeof(modtgt_sense) == 24);
ABI_ASSERT(offsetof(modtgt_sense, progress) == 4);
ABI_ASSERT(offsetof(modtgt_sense, field_pointer) == 6);
ABI_ASSERT(offsetof(modtgt_sense, info) == 16);

/* 1.0 ended at 160 bytes (after handle_cmd); 1.1 appended device_type .. get_lock_state
 * (208 bytes); 1.2 appended get_lba_status. */
ABI_ASSERT(sizeof(modtgt_backing_store) == 216);
ABI_ASSERT(offsetof(modtgt_backing_store, get_lba_status) == 208);
ABI_ASSERT(offsetof(modtgt_backing_store, device_type) == 160);
ABI_ASSERT(offsetof(modtgt_backing_store, default_block_size) == 164);
ABI_ASSERT(offsetof(modtgt_backing_store, reconfig) == 168);
ABI_ASSERT(offsetof(modtgt_backing_store, lock) == 176);
ABI_ASSERT(offsetof(modtgt_backing_store, unlock) == 184);
ABI_ASSERT(offsetof(modtgt_backing_store, get_lock_tag) == 192);
ABI_ASSERT(offsetof(modtgt_backing_store, get_lock_state) == 200);
ABI_ASSERT(offsetof(modtgt_backing_store, struct_size) == 0);
ABI_ASSERT(offsetof(modtgt_backing_store, abi_version) == 4);
ABI_ASSERT(offsetof(modtgt_backing_store, kind) == 8);
ABI_ASSERT(offsetof(modtgt_backing_store, caps) == 12);
ABI_ASSERT(offsetof(modtgt_backing_store, name) == 16);
ABI_ASSERT(offsetof(modtgt_backing_store, subtype) == 24);
ABI_ASSERT(offsetof(modtgt_backing_store, version) == 32);
ABI_ASSERT(offsetof(modtgt_backing_store, description) == 40);
ABI_ASSERT(offsetof(modtgt_backing_store, cfg_desc) == 48);
ABI_ASSERT(offsetof(modtgt_backing_store, nr_threads) == 56);
ABI_ASSERT(offsetof(modtgt_backing_store, reserved0) == 60);
ABI_ASSERT(offsetof(modtgt_backing_store, load) == 64);
ABI_ASSERT(offsetof(modtgt_backing_store, unload) == 72);
ABI_ASSERT(offsetof(modtgt_backing_store, check_config) == 80);
ABI_ASSERT(offsetof(modtgt_backing_store, open) == 88);
ABI_ASSERT(offsetof(modtgt_backing_store, close) == 96);
ABI_ASSERT(offsetof(modtgt_backing_store, read) == 104);
ABI_ASSERT(offsetof(modtgt_backing_store, write) == 112);
ABI_ASSERT(offsetof(modtgt_backing_store, flush) == 120);
ABI_ASSERT(offsetof(modtgt_backing_store, unmap) == 128);
ABI_ASSERT(offsetof(modtgt_backing_store, write_same) == 136);
ABI_ASSERT(offsetof(modtgt_backing_store, caw) == 144);
ABI_ASSERT(offsetof(modtgt_backing_store, handle_cmd) == 152);

/* Stable values: they are compiled into module binaries. */
ABI_ASSERT(MODTGT_STS_OK == 0 && MODTGT_STS_READ_ERROR == 1 && MODTGT_STS_WRITE_ERROR == 2);
ABI_ASSERT(MODTGT_STS_LBA_OUT_OF_RANGE == 3 && MODTGT_STS_MISCOMPARE == 4);
ABI_ASSERT(MODTGT_STS_BUSY == 5 && MODTGT_STS_NO_RESOURCE == 6 && MODTGT_STS_UNSUPPORTED == 7);
ABI_ASSERT(MODTGT_STS_NOT_HANDLED == 8 && MODTGT_STS_SENSE_SET == 9 && MODTGT_STS_ASYNC == 0x100);
ABI_ASSERT(MODTGT_STS_NOT_LOCK_OWNER == 11); /* 1.4 */
ABI_ASSERT(MODTGT_STS_ZEROS == 12);          /* 1.6 */
ABI_ASSERT(MODTGT_KIND_BACKING_STORE == 1 && MODTGT_KIND_FILTER == 2);
ABI_ASSERT(MODTGT_IO_FUA == 1 && MODTGT_CAP_THIN == 1);
ABI_ASSERT(MODTGT_IO_ATOMIC == 2 && MODTGT_CAP_ATOMIC_WRITE == 2);
ABI_ASSERT(MODTGT_LBA_MAPPED == 0 && MODTGT_LBA_DEALLOCATED == 1);
ABI_ASSERT(MODTGT_OFLAG_DIRECT == 1 && MODTGT_OFLAG_SYNC == 2);
ABI_ASSERT(MODTGT_RECONFIG_SIZE == 1 && MODTGT_RECONFIG_CFGSTRING == 2 &&
           MODTGT_RECONFIG_WRITE_CACHE == 4);
ABI_ASSERT(MODTGT_LOCK_UNLOCKED == 0 && MODTGT_LOCK_LOCKED == 1 && MODTGT_LOCK_LOCKING == 2 &&
           MODTGT_LOCK_UNKNOWN == 3);
ABI_ASSERT(MODTGT_EVENT_LOCK_LOST == 1 && MODTGT_EVENT_CONN_LOST == 2 &&
           MODTGT_EVENT_CONN_RESTORED == 3);
ABI_ASSERT(MODTGT_SENSE_INFO == 1 && MODTGT_SENSE_PROGRESS == 2 && MODTGT_SENSE_FIELD_POINTER == 4);
ABI_ASSERT(MODTGT_DEVTYPE_DISK == 0 && MODTGT_DEVTYPE_CDROM == 5);
#endif
