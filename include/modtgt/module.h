/* SPDX-License-Identifier: Apache-2.0
 *
 * modtgt/module.h - the stable C ABI between modtgtd and its backing-store modules.
 *
 * This is the ONLY header a module includes. It is pure C (C99), uses no daemon type and
 * no C++ type, and is versioned: a module records the ABI it was built against in its
 * descriptor and the daemon refuses a module whose major version it does not speak.
 *
 * Lifecycle of a backing-store module (one .so, one descriptor, many devices = LUNs):
 *
 *   dlopen(bs_NAME.so)
 *     |
 *   modtgt_module_init(host)   exported entry point; returns the static descriptor.
 *     |                        Must not fail and must not start anything.
 *   host checks struct_size, abi_version, mandatory callbacks   (refusal -> dlclose)
 *     |
 *   desc->load()               optional, module-global setup; may fail (module state
 *     |                        "error" with the reason given to host->error; retried
 *     |                        by a later bsload)
 *     |      +-------------------- per device (LUN) --------------------+
 *     |      | check_config(cfg)        side-effect free validation     |
 *     |      | open(dev, reopen)        acquire the backing storage     |
 *     |      |   read/write/flush/...   I/O callouts, any number        |
 *     |      |   handle_cmd             optional full CDB takeover      |
 *     |      | close(dev)               release; no I/O is in flight    |
 *     |      +----------------------------------------------------------+
 *   desc->unload()             optional; must stop every thread and timer the module
 *     |                        started: after it returns the code is unmapped.
 *   dlclose
 *
 * Threading:
 *   - load, unload, check_config, open, close are called from the daemon's admin thread,
 *     never concurrently with each other for one module.
 *   - I/O callouts run where nr_threads says (see struct modtgt_backing_store).
 *   - host services are thread-safe unless their doc says otherwise.
 *
 * Errors: callbacks return 0 / MODTGT_STS_OK on success. Lifecycle callbacks return a
 * negative MODTGT_E* value on failure and describe it with host->error() on the calling
 * thread (like nbdkit_error). I/O callouts return a MODTGT_STS_* completion status.
 * Nothing may unwind (throw) across this ABI.
 *
 * Version history (fields are only ever appended; see docs/module-sdk.md):
 *   1.0  the foundation: descriptor through handle_cmd, host through cmd_complete.
 *   1.1  reconfig (size, config string, write cache); the cluster lock group (lock,
 *        unlock, get_lock_tag, get_lock_state) and host->dev_report_event; device_type and
 *        default_block_size; host sense helpers (cmd_set_status, cmd_set_sense_ex,
 *        cmd_set_sense_raw); dev_config hw_max_sectors, max_data_area_mb, wwn.
 *   1.2  get_lba_status (the store's real allocation, for GET LBA STATUS); atomic writes:
 *        MODTGT_CAP_ATOMIC_WRITE, the write flag MODTGT_IO_ATOMIC and
 *        host->dev_set_atomic_limits (WRITE ATOMIC (16), Block Limits VPD).
 *   1.3  MODTGT_STS_SPACE_EXHAUSTED (a thin store out of space: SPACE ALLOCATION FAILED
 *        WRITE PROTECT); host->dev_keep_fd and host->dev_kept_fd (storage the host holds
 *        for a LUN across a module reload and a rebuild of the LU, e.g. bs_ram's memfd).
 *   1.4  MODTGT_STS_NOT_LOCK_OWNER (an I/O refused because this node does not hold the
 *        cluster lock: the core answers with the ALUA standby sense, so multipath retries
 *        on another gateway); the lock group is called from the core's ALUA thread (SET
 *        TARGET PORT GROUPS, implicit ALUA, a refresh of get_lock_state/get_lock_tag
 *        once a second).
 *   1.5  event-loop services for asynchronous modules: host->loop_defer (run a function
 *        once the current event-loop turn has dispatched its events, before the loop
 *        waits: submit a turn's I/O at once) and host->loop_watch_fd / loop_unwatch (the
 *        calling loop calls a function when an fd becomes readable: completions reaped by
 *        the loop itself, with no thread of the module in between).
 *   1.6  MODTGT_STS_ZEROS: a read callout (or handle_cmd) completes saying "the range
 *        reads as zeros" without writing its iovecs; the transport sends the Data-In from
 *        one shared read-only zero buffer (no fill, no copy); see modtgt_status.
 */
#ifndef MODTGT_MODULE_H
#define MODTGT_MODULE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version: major in the high 16 bits, minor in the low 16. A daemon loads a module
 * whose major equals its own and whose minor is <= its own (fields are only appended,
 * so an older module simply has a shorter descriptor). */
#define MODTGT_ABI_MAJOR 1
#define MODTGT_ABI_MINOR 6
#define MODTGT_ABI_VERSION ((uint32_t)((MODTGT_ABI_MAJOR << 16) | MODTGT_ABI_MINOR))
#define MODTGT_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define MODTGT_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* The single exported symbol of every module. */
#define MODTGT_MODULE_INIT_SYMBOL "modtgt_module_init"

#if defined(__GNUC__)
#define MODTGT_EXPORT __attribute__((visibility("default")))
#define MODTGT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MODTGT_EXPORT
#define MODTGT_PRINTF(f, a)
#endif

/* ---- Error codes for lifecycle callbacks (negative return values). ---- */
#define MODTGT_OK 0
#define MODTGT_EINVAL (-22)   /* bad configuration */
#define MODTGT_ENOENT (-2)    /* backing storage not found */
#define MODTGT_EACCES (-13)   /* permission denied */
#define MODTGT_EIO (-5)       /* I/O error */
#define MODTGT_ENOMEM (-12)   /* out of memory */
#define MODTGT_EBUSY (-16)    /* resource busy */
#define MODTGT_ENOTSUP (-95)  /* operation not supported */
#define MODTGT_EINTERNAL (-1000) /* module bug (e.g. a C++ exception caught at the ABI) */

/* ---- Completion status of an I/O callout (SCSI-shaped, like TCMU_STS_*). ----
 * The core maps each to status + sense data. */
typedef enum modtgt_status {
  MODTGT_STS_OK = 0,
  MODTGT_STS_READ_ERROR = 1,       /* MEDIUM ERROR / UNRECOVERED READ ERROR */
  MODTGT_STS_WRITE_ERROR = 2,      /* MEDIUM ERROR / WRITE ERROR */
  MODTGT_STS_LBA_OUT_OF_RANGE = 3, /* ILLEGAL REQUEST / LBA OUT OF RANGE */
  MODTGT_STS_MISCOMPARE = 4,       /* MISCOMPARE / MISCOMPARE DURING VERIFY */
  MODTGT_STS_BUSY = 5,             /* BUSY status; the initiator retries */
  MODTGT_STS_NO_RESOURCE = 6,      /* TASK SET FULL */
  MODTGT_STS_UNSUPPORTED = 7,      /* ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE */
  MODTGT_STS_NOT_HANDLED = 8,      /* handle_cmd only: let the core emulate the CDB */
  MODTGT_STS_SENSE_SET = 9,        /* handle_cmd only: status + sense set by the module */
  MODTGT_STS_SPACE_EXHAUSTED = 10, /* (1.3) write-type callouts: a thin store has no space
                                      for the data (nothing was written). DATA PROTECT /
                                      SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h,
                                      SBC-4 4.7.3.6) */
  MODTGT_STS_NOT_LOCK_OWNER = 11,  /* (1.4) this node does not hold the cluster lock (never
                                      took it, or lost it): NOT READY / TARGET PORT IN
                                      STANDBY STATE (04/0B); an ALUA LU's port group
                                      becomes non-holder. Never for an I/O that reached
                                      the storage. */
  MODTGT_STS_ZEROS = 12,           /* (1.6) read and handle_cmd only: success, and every
                                      byte the callout was to produce reads as zero. The
                                      module did NOT write the iovecs (or the handle_cmd
                                      data buffer): the daemon sends zeros from a shared
                                      read-only buffer, or zero-fills the buffer itself
                                      for its own users of the data (COMPARE AND WRITE,
                                      VERIFY, EXTENDED COPY, ...). handle_cmd: the bytes
                                      are the Data-In length set with
                                      cmd_set_data_in_length. A daemon takes it only
                                      from a module whose descriptor says 1.6 or newer
                                      (older daemons refuse such a module at load); from
                                      a module built for 1.0-1.5 the value stays an
                                      invalid status (a medium error). */
  MODTGT_STS_ASYNC = 0x100         /* the callout started the I/O and will report its
                                      status later through host->complete() */
} modtgt_status;

/* Opaque handles owned by the daemon. */
typedef struct modtgt_dev modtgt_dev; /* one opened device (LUN) */
typedef struct modtgt_io modtgt_io;   /* one in-flight I/O callout */
typedef struct modtgt_cmd modtgt_cmd; /* one SCSI command (handle_cmd only) */
typedef struct modtgt_watch modtgt_watch; /* (1.5) an fd watched by an event loop */

/* Log levels for host->log. */
typedef enum modtgt_log_level {
  MODTGT_LOG_ERROR = 0,
  MODTGT_LOG_WARN = 1,
  MODTGT_LOG_INFO = 2,
  MODTGT_LOG_DEBUG = 3
} modtgt_log_level;

/* Module kinds (struct modtgt_backing_store.kind). */
#define MODTGT_KIND_BACKING_STORE 1u
#define MODTGT_KIND_FILTER 2u /* reserved: a backing store wrapping the next one */

/* Flags for write callouts. */
#define MODTGT_IO_FUA 0x1u /* the data must be on stable storage before completion */
/* (1.2) All or nothing: after the write completes, or is interrupted by anything (an
 * error, a crash, a power loss), every block of the range holds either all old or all new
 * data, and no concurrent read sees a mix. Only sent to a device of a module with
 * MODTGT_CAP_ATOMIC_WRITE, within the limits the device set with
 * host->dev_set_atomic_limits, as one iovec. */
#define MODTGT_IO_ATOMIC 0x2u

/* Device configuration as given by the administrator. OWNERSHIP: the daemon's; valid
 * from open() until close() returns (and during check_config() for its argument).
 * Fields are only appended; check struct_size before reading a field added later. */
typedef struct modtgt_dev_config {
  uint32_t struct_size;
  uint32_t block_size;      /* logical block size in bytes (512 or 4096) */
  const char* cfgstring;    /* "subtype/config" or tgtadm's --backing-store path; never NULL */
  const char* path;         /* cfgstring without a leading "subtype/", never NULL */
  const char* bsopts;       /* --bsopts string, "" if none; never NULL */
  uint32_t oflags;          /* MODTGT_OFLAG_* from --bsoflags */
  uint32_t readonly;        /* 1 if the LUN is read-only */
  uint64_t size;            /* requested size in bytes, 0 = let the module decide */
  uint32_t write_cache;     /* 1 if the write cache is enabled (WCE); see reconfig */
  uint32_t reserved;
  /* ---- added in 1.1 (check struct_size) ---- */
  uint32_t hw_max_sectors;   /* largest transfer per command, in logical blocks (VPD 0xB0) */
  uint32_t max_data_area_mb; /* data the LUN may have in flight at once, MiB (0 = default) */
  const char* wwn;           /* unit serial number given with --wwn, "" if derived; never NULL */
} modtgt_dev_config;

/* A configuration change of an open device (struct modtgt_backing_store.reconfig, 1.1).
 * OWNERSHIP: the daemon's, valid during the call. */
#define MODTGT_RECONFIG_SIZE 0x1u        /* new size in `size` (bytes, block aligned) */
#define MODTGT_RECONFIG_CFGSTRING 0x2u   /* new config string (e.g. a new optical medium) */
#define MODTGT_RECONFIG_WRITE_CACHE 0x4u /* write cache turned on/off (MODE SELECT, admin) */
typedef struct modtgt_reconfig {
  uint32_t struct_size;
  uint32_t what;          /* MODTGT_RECONFIG_* bits: the fields below that are meant */
  uint64_t size;          /* SIZE */
  const char* cfgstring;  /* CFGSTRING: the whole new string, e.g. "optical/new.iso" */
  const char* path;       /* CFGSTRING: its part after "subtype/" */
  uint32_t write_cache;   /* WRITE_CACHE: 1 = enabled */
  uint32_t reserved;
} modtgt_reconfig;

/* Cluster lock state (struct modtgt_backing_store.get_lock_state, 1.1). */
typedef enum modtgt_lock_state {
  MODTGT_LOCK_UNLOCKED = 0,
  MODTGT_LOCK_LOCKED = 1,   /* this daemon holds the lock */
  MODTGT_LOCK_LOCKING = 2,  /* an acquisition is in progress */
  MODTGT_LOCK_UNKNOWN = 3   /* e.g. the cluster is unreachable */
} modtgt_lock_state;

/* Events a module reports about a device (host->dev_report_event, 1.1). The core logs
 * them, counts them per device (shown by `logicalunit show`) and acts on them: a lost
 * lock makes the core consider the lock released (an ALUA-aware core moves the LUN's
 * port group to standby and tries lock() again); a lost connection means I/O fails until
 * the module reports MODTGT_EVENT_CONN_RESTORED. */
typedef enum modtgt_event {
  MODTGT_EVENT_LOCK_LOST = 1,      /* another node took the cluster lock */
  MODTGT_EVENT_CONN_LOST = 2,      /* the connection to the storage cluster is gone */
  MODTGT_EVENT_CONN_RESTORED = 3   /* ... and is back */
} modtgt_event;

/* Sense data to report from handle_cmd (host->cmd_set_sense_ex, 1.1). The core writes it in
 * the format the initiator selected (fixed or descriptor, control mode page D_SENSE). */
#define MODTGT_SENSE_INFO 0x1u          /* `info` goes into the INFORMATION field */
#define MODTGT_SENSE_PROGRESS 0x2u      /* `progress` goes into the sense-key specific
                                           PROGRESS INDICATION (NOT READY, NO SENSE) */
#define MODTGT_SENSE_FIELD_POINTER 0x4u /* `field_pointer` (+ `bit_pointer` when
                                           bit_pointer_valid) marks the bad byte: in the CDB
                                           when field_in_cdb, else in the parameter list */
typedef struct modtgt_sense {
  uint8_t key;              /* sense key, e.g. 0x2 NOT READY */
  uint8_t asc;              /* additional sense code, e.g. 0x04 */
  uint8_t ascq;             /* qualifier, e.g. 0x04 FORMAT IN PROGRESS */
  uint8_t flags;            /* MODTGT_SENSE_* */
  uint16_t progress;        /* fraction done, in 1/65536ths (SPC-4 4.5.2.4.4) */
  uint16_t field_pointer;
  uint8_t bit_pointer;      /* 0..7 */
  uint8_t bit_pointer_valid;
  uint8_t field_in_cdb;
  uint8_t reserved;
  uint64_t info;
} modtgt_sense;

/* Provisioning state of a byte range (struct modtgt_backing_store.get_lba_status, 1.2). */
#define MODTGT_LBA_MAPPED 0u      /* written (or unknown): reads return stored data */
#define MODTGT_LBA_DEALLOCATED 1u /* no storage behind it (a hole): reads return zeros */
/* The answer of get_lba_status: the state of the range starting at the offset asked about,
 * and how many bytes from there share it. OWNERSHIP: the daemon's; valid until the I/O
 * completes. */
typedef struct modtgt_lba_status {
  uint64_t length; /* bytes from the offset with this state: 1 .. the length asked about */
  uint32_t state;  /* MODTGT_LBA_* */
  uint32_t reserved;
} modtgt_lba_status;

/* Atomic write limits of one device (host->dev_set_atomic_limits, 1.2), in bytes. A write
 * with MODTGT_IO_ATOMIC has an offset that is a multiple of align_bytes and a length that
 * is a multiple of granularity_bytes and at most max_bytes. max_bytes == 0: no atomic
 * writes. OWNERSHIP: the caller's; copied by the call. */
typedef struct modtgt_atomic_limits {
  uint32_t struct_size;       /* sizeof(modtgt_atomic_limits) as the module saw it */
  uint32_t max_bytes;         /* largest atomic write (0 = none) */
  uint32_t align_bytes;       /* offset alignment (0 = the logical block) */
  uint32_t granularity_bytes; /* length granularity (0 = the logical block) */
} modtgt_atomic_limits;

#define MODTGT_OFLAG_DIRECT 0x1u /* open with O_DIRECT */
#define MODTGT_OFLAG_SYNC 0x2u   /* open with O_SYNC */

/* Host services. OWNERSHIP: the daemon's; valid from modtgt_module_init() until the
 * module is dlclosed. Fields are only appended: check struct_size before using a field
 * this header marks as added in a later minor version. */
typedef struct modtgt_host {
  uint32_t struct_size;
  uint32_t abi_version; /* MODTGT_ABI_VERSION of the daemon */

  /* Logs a message attributed to the module. Any thread. */
  void (*log)(modtgt_log_level level, const char* fmt, ...) MODTGT_PRINTF(2, 3);

  /* Records the reason for the failure the current callback is about to return, on the
   * calling thread (the daemon reads it after the callback returns). Any thread. */
  void (*error)(const char* fmt, ...) MODTGT_PRINTF(1, 2);

  /* Per-device private pointer, set in open(). OWNERSHIP: the module's. */
  void (*dev_set_private)(modtgt_dev* dev, void* priv);
  void* (*dev_get_private)(modtgt_dev* dev);

  /* The device's configuration. Valid until close() returns. */
  const modtgt_dev_config* (*dev_get_config)(modtgt_dev* dev);

  /* Sets the device size in bytes; open() must call it unless config->size is set.
   * Called from open() or reconfig-style admin paths only. */
  void (*dev_set_size)(modtgt_dev* dev, uint64_t bytes);

  /* Completes an I/O for which a callout returned MODTGT_STS_ASYNC. Exactly once per
   * such I/O, from any thread. The iovecs given to the callout stay valid until then. */
  void (*complete)(modtgt_io* io, modtgt_status status);

  /* handle_cmd helpers: the CDB, the data buffer, and a way to set status and sense.
   * Valid only for the modtgt_cmd passed to handle_cmd, until it completes. */
  const uint8_t* (*cmd_cdb)(modtgt_cmd* cmd, size_t* len);
  struct iovec* (*cmd_data)(modtgt_cmd* cmd, int* iovcnt);
  /* Sets fixed-format sense (key/asc/ascq) with CHECK CONDITION status. */
  void (*cmd_set_sense)(modtgt_cmd* cmd, uint8_t key, uint8_t asc, uint8_t ascq);
  /* Number of Data-In bytes the command produced (for reads done by the module). */
  void (*cmd_set_data_in_length)(modtgt_cmd* cmd, uint32_t bytes);
  /* Completes a command for which handle_cmd returned MODTGT_STS_ASYNC. */
  void (*cmd_complete)(modtgt_cmd* cmd, modtgt_status status);

  /* ---- added in 1.1 (check struct_size, or the host's abi_version minor >= 1) ---- */

  /* Reports an event about the device (modtgt_event); `detail` is a short reason for the
   * log and listings, may be NULL. Any thread, any time while the device is open. */
  void (*dev_report_event)(modtgt_dev* dev, modtgt_event event, const char* detail);
  /* handle_cmd: sets a SCSI status without sense data (e.g. 0x08 BUSY, 0x18 RESERVATION
   * CONFLICT, 0x28 TASK SET FULL); return MODTGT_STS_SENSE_SET afterwards. 0x02 CHECK
   * CONDITION needs sense: use the helpers below. */
  void (*cmd_set_status)(modtgt_cmd* cmd, uint8_t scsi_status);
  /* handle_cmd: CHECK CONDITION with sense built from *sense (INFORMATION, PROGRESS
   * INDICATION or a field pointer when flagged), in the format the initiator chose.
   * Return MODTGT_STS_SENSE_SET afterwards. */
  void (*cmd_set_sense_ex)(modtgt_cmd* cmd, const modtgt_sense* sense);
  /* handle_cmd: CHECK CONDITION with exactly these sense bytes (fixed 0x70/0x71 or
   * descriptor 0x72/0x73 format, 8..96 bytes, the additional length consistent). Returns
   * 0, or MODTGT_EINVAL (and sets nothing) when the bytes are not valid sense data. */
  int (*cmd_set_sense_raw)(modtgt_cmd* cmd, const uint8_t* sense, size_t len);

  /* ---- added in 1.2 (check struct_size, or the host's abi_version minor >= 2) ---- */

  /* Declares the device's atomic write limits (WRITE ATOMIC (16), the Block Limits VPD
   * page). Only for a module with MODTGT_CAP_ATOMIC_WRITE (otherwise ignored and logged),
   * from open() (or reconfig()): what the storage really guarantees, probed at open (e.g.
   * statx STATX_WRITE_ATOMIC). Never called, or max_bytes 0: the device has no atomic
   * writes and none are advertised. The daemon clamps the limits to the LUN's maximum
   * transfer length and logical block. */
  void (*dev_set_atomic_limits)(modtgt_dev* dev, const modtgt_atomic_limits* limits);

  /* ---- added in 1.3 (check struct_size, or the host's abi_version minor >= 3) ---- */

  /* Storage the host keeps for a LUN: for a store whose data lives only in the process
   * (bs_ram's memfd), so that it outlives the module's code. dev_keep_fd duplicates `fd`
   * (the module keeps its own) and holds the duplicate with the LUN: across a module
   * reload (bsreload: the next open() of this device, on the new code, gets it back), and
   * across a rebuild of the LU by `logicalunit --op update` (the newly opened device gets
   * the same kept fd while the old one may still be open). The host closes it when the
   * LUN is deleted (or the daemon exits): nothing is kept across a restart. Calling it
   * again replaces the kept fd. Returns 0, or MODTGT_EINVAL (bad fd) / MODTGT_ENOMEM.
   * From open() or reconfig(), on the admin thread.
   * dev_kept_fd returns the kept fd (OWNERSHIP: the host's; dup() it to keep it past
   * close()), or -1 when the host keeps none for this LUN. From open() onwards, any
   * thread. A module that finds a kept fd in open() must take its data from it: a newer
   * module built for ABI 1.2 or older is refused at reload for a device with a kept fd
   * (it could not take the data back). */
  int (*dev_keep_fd)(modtgt_dev* dev, int fd);
  int (*dev_kept_fd)(modtgt_dev* dev);

  /* ---- added in 1.5 (check struct_size, or the host's abi_version minor >= 5) ---- */

  /* Event-loop services, for asynchronous modules (nr_threads == 0), whose callouts run on
   * the daemon's event-loop threads. loop_defer and loop_watch_fd act on the event loop of
   * the calling thread; called from any other thread (a worker, the admin thread, a
   * thread of the module) they do nothing and return MODTGT_ENOTSUP / NULL: the module
   * then does the work itself (submits at once, reaps on a thread of its own).
   *
   * loop_defer: fn(arg) runs once on this loop thread after the loop has dispatched the
   * events of its current turn (every callout the turn's received commands make) and
   * before it waits again, in FIFO order with the host's own end-of-turn work. For
   * batching: queue each I/O of the turn, defer one submission of all of them. fn may
   * call host->complete and loop_defer (which then runs before the loop waits, too). No
   * allocation once the loop has seen its largest turn. Returns 0 or MODTGT_ENOTSUP.
   *
   * loop_watch_fd: until loop_unwatch, fn(arg) runs on this loop thread each time `fd`
   * becomes readable (edge-triggered, EPOLLET: an eventfd signals every write, so it need
   * not be read; anything else must be drained by fn, or no new edge comes). Returns a
   * handle, or NULL (not a loop thread, or out of memory). The fd stays the module's: it
   * must stay open until loop_unwatch returns.
   * loop_unwatch: any thread. When it returns, fn is not running and will not run again
   * (called from inside fn itself, fn only finishes its current call); the handle is
   * freed by the host. */
  int (*loop_defer)(void (*fn)(void* arg), void* arg);
  modtgt_watch* (*loop_watch_fd)(int fd, void (*fn)(void* arg), void* arg);
  void (*loop_unwatch)(modtgt_watch* watch);
} modtgt_host;

/* Capabilities a backing store may declare (struct modtgt_backing_store.caps). */
#define MODTGT_CAP_THIN 0x1u /* storage is thin: UNMAP frees space, reads of unmapped are 0 */
/* (1.2) write() honours MODTGT_IO_ATOMIC on the devices that declared atomic limits with
 * host->dev_set_atomic_limits. */
#define MODTGT_CAP_ATOMIC_WRITE 0x2u

/* Device types a backing store may serve by default (struct modtgt_backing_store
 * .device_type, 1.1; the SPC peripheral device type). The admin may still choose. */
#define MODTGT_DEVTYPE_DISK 0x00u  /* SBC direct-access block device */
#define MODTGT_DEVTYPE_CDROM 0x05u /* MMC CD/DVD device (read-only, removable) */

/* The descriptor of a backing-store module. OWNERSHIP: the module's; must stay valid
 * (normally a static const object) until unload() returns.
 *
 * Mandatory: struct_size, abi_version, kind, name, open, close, read, write.
 * Everything else may be NULL/0; the core emulates what is missing:
 *   flush missing      -> SYNCHRONIZE CACHE succeeds without calling the module
 *   unmap missing      -> no UNMAP advertised (VPD 0xB0/0xB2), UNMAP is ILLEGAL REQUEST
 *   write_same missing -> WRITE SAME emulated with write()
 *   caw missing        -> COMPARE AND WRITE emulated with read() + write(), LBA range locked
 *   get_lba_status missing -> GET LBA STATUS reports every LBA mapped (1.2)
 *
 * Where callouts run, and what their return value means:
 *   nr_threads == 0: on the event-loop thread that owns the command. They must not
 *     block: return the final status at once, or MODTGT_STS_ASYNC and call
 *     host->complete() later from any thread.
 *   nr_threads  > 0: on a pool of that many daemon-owned worker threads per device.
 *     They may block; they return the final status (MODTGT_STS_ASYNC also allowed).
 */
typedef struct modtgt_backing_store {
  uint32_t struct_size; /* sizeof(modtgt_backing_store) as the module saw it */
  uint32_t abi_version; /* MODTGT_ABI_VERSION the module was built against */
  uint32_t kind;        /* MODTGT_KIND_BACKING_STORE */
  uint32_t caps;        /* MODTGT_CAP_* */
  const char* name;     /* --bstype name, e.g. "rdwr"; [a-z0-9_]+ */
  const char* subtype;  /* matched against cfgstring "subtype/..."; NULL = same as name */
  const char* version;  /* the module's own version, e.g. "1.0.0" */
  const char* description; /* one line for listings */
  const char* cfg_desc;    /* what the config string means, for --help and listings */
  uint32_t nr_threads;     /* see above */
  uint32_t reserved0;

  /* Module-global setup/teardown, optional. unload() must leave no thread, timer or
   * callback of the module running. */
  int (*load)(void);
  void (*unload)(void);

  /* Validates a configuration with no side effect; optional (NULL = always valid).
   * Returns 0 or a negative MODTGT_E*, with the reason through host->error(). */
  int (*check_config)(const modtgt_dev_config* cfg);

  /* Opens the backing storage of one device. reopen is 1 when the module was reloaded
   * under a live LUN (same configuration). Returns 0 or a negative MODTGT_E* with the
   * reason through host->error(). */
  int (*open)(modtgt_dev* dev, int reopen);
  /* Closes it. No callout for dev is running or will run. */
  void (*close)(modtgt_dev* dev);

  /* I/O callouts. offset and lengths are in bytes and block aligned; the core has
   * already checked them against the device size. iov/iovcnt describe the buffer
   * (OWNERSHIP: the daemon's, valid until the I/O completes). */
  int (*read)(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
              uint64_t offset);
  int (*write)(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
               uint64_t offset, uint32_t flags);
  int (*flush)(modtgt_dev* dev, modtgt_io* io);
  int (*unmap)(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length);
  /* Writes the single block in iov to every block of [offset, offset+length). */
  int (*write_same)(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
                    uint64_t offset, uint64_t length);
  /* COMPARE AND WRITE: iov holds length bytes to compare followed by length bytes to
   * write. Return MODTGT_STS_MISCOMPARE when the data differs. */
  int (*caw)(modtgt_dev* dev, modtgt_io* io, const struct iovec* iov, int iovcnt,
             uint64_t offset, uint64_t length);

  /* Full takeover, optional: called for every CDB before the core's emulation. Return
   * MODTGT_STS_NOT_HANDLED to let the core handle it, a final status, or
   * MODTGT_STS_ASYNC and later host->cmd_complete(). Runs like the I/O callouts. */
  int (*handle_cmd)(modtgt_dev* dev, modtgt_cmd* cmd);

  /* ---- added in 1.1 (a 1.0 module's shorter descriptor reads as all zero here) ---- */

  /* The peripheral device type a LUN of this store gets unless the admin says otherwise
   * (MODTGT_DEVTYPE_*), and its default logical block size (0 = 512). */
  uint32_t device_type;
  uint32_t default_block_size;

  /* Changes the configuration of an open device; optional. rc->what says what changes.
   * Return 0 to accept (the core then updates the config it shows through
   * dev_get_config), or a negative MODTGT_E* with the reason through host->error() (the
   * device keeps its old configuration).
   *   SIZE, CFGSTRING: called on the admin thread with no I/O in flight on the device
   *     (the core holds new commands until reconfig returns). SIZE: make the storage that
   *     large (grow or shrink); the core sets the new size when reconfig returns 0 unless
   *     the module called dev_set_size() itself. CFGSTRING: switch to the new storage
   *     (e.g. a new medium) and call dev_set_size() with its size.
   *   WRITE_CACHE: from any thread (MODE SELECT runs on an event loop), I/O may be in
   *     flight; must not block. Without reconfig the core still changes WCE and the
   *     module sees it in dev_get_config()->write_cache.
   * Without reconfig, SIZE and CFGSTRING changes are refused. */
  int (*reconfig)(modtgt_dev* dev, const modtgt_reconfig* rc);

  /* Cluster lock group (tcmu-runner's lock, unlock, get_lock_tag, get_lock_state);
   * optional, all four or none. For stores shared by several target nodes (e.g. Ceph
   * RBD's exclusive lock): the node holding the lock is the one that may write. Called on
   * the admin thread or the core's ALUA thread, never concurrently for one device (nor
   * with open/close/reconfig); they may block. get_lock_state and get_lock_tag are called
   * once a second for an LU of an ALUA target: keep them cheap.
   *   lock(dev, tag): acquire the lock for this node, recording `tag` (the ALUA target port
   *     group id) with it. MODTGT_STS_OK, MODTGT_STS_BUSY (another node holds it; retry
   *     later) or MODTGT_STS_NO_RESOURCE (the cluster cannot be reached).
   *   unlock(dev): release it. MODTGT_STS_OK or an error status.
   *   get_lock_tag(dev, &tag): the tag of the current holder. MODTGT_STS_OK, or
   *     MODTGT_STS_NOT_HANDLED when nobody holds the lock.
   *   get_lock_state(dev): a modtgt_lock_state (this node's view).
   * Losing the lock later is reported with host->dev_report_event(LOCK_LOST). */
  int (*lock)(modtgt_dev* dev, uint16_t tag);
  int (*unlock)(modtgt_dev* dev);
  int (*get_lock_tag)(modtgt_dev* dev, uint16_t* tag);
  int (*get_lock_state)(modtgt_dev* dev);

  /* ---- added in 1.2 (a 1.0 or 1.1 module's shorter descriptor reads as zero here) ---- */

  /* The provisioning state of the storage at `offset`, for GET LBA STATUS; optional. Fill
   * *out with the state at offset and the number of bytes from offset (at most `length`,
   * at least 1) that share it, e.g. with lseek(SEEK_DATA/SEEK_HOLE) or from the store's
   * own allocation map. offset and length are block aligned and within the device. Report
   * MODTGT_LBA_MAPPED when unsure: DEALLOCATED promises that the bytes read back as zeros
   * and hold no storage. The core asks range after range and rounds deallocated ranges
   * to whole physical blocks. Runs like the I/O callouts (nr_threads); returns a final
   * status, or MODTGT_STS_ASYNC and host->complete() later (out stays valid until then).
   * Without it, every LBA reads as mapped. */
  int (*get_lba_status)(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length,
                        modtgt_lba_status* out);
} modtgt_backing_store;

/* The entry point every module exports. Called once after dlopen with the host table
 * (store the pointer; it stays valid until dlclose). Returns the module's descriptor;
 * must not fail, allocate, or start threads (do that in load()). */
typedef const modtgt_backing_store* (*modtgt_module_init_fn)(const modtgt_host* host);

#ifdef __cplusplus
}
#endif
#endif /* MODTGT_MODULE_H */
