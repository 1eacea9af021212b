/* SPDX-License-Identifier: Apache-2.0
 *
 * get_lba_status for stores backed by a file descriptor (bs_rdwr, bs_uring): the
 * allocation of a regular file from lseek(SEEK_DATA / SEEK_HOLE). Header-only C (C99 and
 * C++), a module includes it next to modtgt/module.h.
 *
 * A block device, a file system without SEEK_DATA, or any error reads as mapped ("mapped
 * or unknown", SBC-4 5.7.2): DEALLOCATED is only claimed for a range the file system says
 * is a hole. Blocking: lseek reads the file system's extent map, which may come from disk
 * the first time; call it where blocking is acceptable (or accept that rare stall).
 */
#ifndef MODTGT_MODULES_LBA_STATUS_H
#define MODTGT_MODULES_LBA_STATUS_H

#ifndef _GNU_SOURCE
#error "define _GNU_SOURCE before any include: SEEK_DATA/SEEK_HOLE need it"
#endif
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "modtgt/module.h"

/* Fills *out for [offset, offset + length) of fd (length > 0). */
static inline void modtgt_fd_lba_status(int fd, int is_blockdev, uint64_t offset,
                                        uint64_t length, modtgt_lba_status* out) {
  out->state = MODTGT_LBA_MAPPED;
  out->length = length;
  if (is_blockdev) return;
  off_t data = lseek(fd, (off_t)offset, SEEK_DATA);
  if (data < 0) {
    /* ENXIO: no data at or after offset (the rest of the file is a hole). */
    if (errno == ENXIO) out->state = MODTGT_LBA_DEALLOCATED;
    return;
  }
  if ((uint64_t)data > offset) {
    out->state = MODTGT_LBA_DEALLOCATED;
    if ((uint64_t)data - offset < length) out->length = (uint64_t)data - offset;
    return;
  }
  off_t hole = lseek(fd, (off_t)offset, SEEK_HOLE);
  if (hole > (off_t)offset && (uint64_t)hole - offset < length) out->length = (uint64_t)hole - offset;
}

#endif /* MODTGT_MODULES_LBA_STATUS_H */
