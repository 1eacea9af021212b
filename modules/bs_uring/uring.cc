// SPDX-License-Identifier: Apache-2.0
//
// bs_uring: a regular file or a block device through io_uring (liburing).
//
// Asynchronous (nr_threads = 0): the callouts run on the daemon's event-loop threads and turn
// each I/O into an SQE on that thread's own ring (one ring per device and submitting
// thread: no lock shared between loops). With the ABI 1.5 loop services, the first SQE of
// a loop turn defers one submission of the whole turn to the end of that turn
// (host->loop_defer), which then reaps the ring; the ring's registered eventfd is watched
// by that loop (host->loop_watch_fd), which reaps what completes later itself. Without them
// (an older daemon, a non-loop thread) each I/O is submitted at once and reaped right
// after: an I/O the kernel finished inside io_uring_enter (a buffered read from the page
// cache) is answered by the callout itself with its status; completions that arrive later
// wake the device's completion thread through the eventfd (disabled while a thread submits
// and reaps itself), which calls host->complete().
//
//   read / write   IORING_OP_READV / WRITEV; FUA or write cache off (WCE=0) -> RWF_DSYNC.
//                  Short transfers are resubmitted for the rest, -EAGAIN / -EINTR retried,
//                  a read that meets the end of a (shrunk) file fills the rest with zeros.
//                  Plain buffered writes (no O_DIRECT/O_SYNC/FUA/WCE=0/atomic): up to
//                  16 KiB a pwritev in the callout, from 64 KiB a pwritev on one of the
//                  device's 8 writer threads (uring_writers.cc): io_uring would hand both to
//                  io-wq, which runs one file's buffered writes one after the other.
//                  O_DIRECT reads from 64 KiB: a preadv on those threads while the last one
//                  given to io_uring went to the disk (iomap builds the bios and zero-fills
//                  the holes in the submitting thread, the loop); reads of holes only,
//                  done inside their submission, stay on io_uring.
//   flush          IORING_OP_FSYNC with IORING_FSYNC_DATASYNC (fdatasync).
//   unmap          IORING_OP_FALLOCATE(PUNCH_HOLE | KEEP_SIZE): a file system frees the
//                  blocks, a block device zeroes them (unmap-zeroing). Where unsupported
//                  (-EOPNOTSUPP) zeros are written instead, so an unmapped block always
//                  reads back as zeros (SBC-4 4.7.4.5 LBPRZ) and MODTGT_CAP_THIN is true.
//   write_same     a one-block pattern of zeros -> IORING_OP_FALLOCATE(ZERO_RANGE |
//                  KEEP_SIZE) (fallback: written zeros); any other pattern is replicated
//                  into a buffer of up to 1 MiB and written chunk after chunk.
//   caw            none: the core emulates COMPARE AND WRITE with the LBA range locked.
//   atomic write   only with O_DIRECT where statx (STATX_WRITE_ATOMIC) says the file or
//                  device takes RWF_ATOMIC writes: one size U (the atomic unit min, at least
//                  a block, a power of two), aligned to U, declared as maximum, alignment
//                  and granularity, because RWF_ATOMIC needs naturally aligned powers of two,
//                  which the Block Limits VPD page cannot express for a range of sizes.
//                  One IORING_OP_WRITE with RWF_ATOMIC: the kernel guarantees no torn write
//                  on a crash; a short transfer fails the write instead of being resumed.
//   get_lba_status lseek(SEEK_DATA/SEEK_HOLE) inline (io_uring has no lseek; the extent
//                  map is normally cached in memory); a block device reads as mapped.
//
// O_DIRECT (--bsoflags direct): iovecs whose base or length is not 4096-aligned go
// through an aligned bounce buffer (copied in for writes, out for reads on completion).
//
// Threading: callouts of one device run on several event-loop threads at once, each on its
// own Ring (found by a per-thread slot; threads beyond kMaxRings share rings, which stays
// correct). A Ring's mutex guards its submission queue, the consumption of its completion
// queue and its Req pool; only its loop and the completion thread take it. close() runs
// when no I/O is in flight: it wakes the completion thread through stop_efd_, joins it,
// unwatches the loop-watched eventfds and tears the rings down.
//
// The files: see uring_internal.h.
#include "uring_internal.h"

namespace bs_uring {
namespace {

// ---- The C ABI ----

Device* Self(modtgt_dev* dev) { return static_cast<Device*>(g_host->dev_get_private(dev)); }

int UringCheckConfig(const modtgt_dev_config* cfg) noexcept { return CheckConfig(cfg); }

int UringOpen(modtgt_dev* dev, int /*reopen*/) noexcept {
  Device* d = nullptr;
  return Device::Open(dev, &d);
}

void UringClose(modtgt_dev* dev) noexcept {
  delete Self(dev);
  g_host->dev_set_private(dev, nullptr);
}

int UringRead(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt,
              uint64_t offset) noexcept {
  return Self(dev)->Read(io, iov, iovcnt, offset);
}

int UringWrite(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
               uint32_t flags) noexcept {
  return Self(dev)->Write(io, iov, iovcnt, offset, flags);
}

int UringFlush(modtgt_dev* dev, modtgt_io* io) noexcept { return Self(dev)->Flush(io); }

int UringUnmap(modtgt_dev* dev, modtgt_io* io, uint64_t offset, uint64_t length) noexcept {
  return Self(dev)->Unmap(io, offset, length);
}

int UringWriteSame(modtgt_dev* dev, modtgt_io* io, const iovec* iov, int iovcnt,
                   uint64_t offset, uint64_t length) noexcept {
  return Self(dev)->WriteSame(io, iov, iovcnt, offset, length);
}

int UringGetLbaStatus(modtgt_dev* dev, modtgt_io* /*io*/, uint64_t offset, uint64_t length,
                      modtgt_lba_status* out) noexcept {
  return Self(dev)->GetLbaStatus(offset, length, out);
}

int UringReconfig(modtgt_dev* dev, const modtgt_reconfig* rc) noexcept {
  return Self(dev)->Reconfig(rc);
}

// Fails the module's load when this kernel has no usable io_uring (seccomp, sysctl
// kernel.io_uring_disabled) or lacks an opcode the module needs.
int UringLoad() noexcept {
  io_uring ring;
  const int rc = io_uring_queue_init(4, &ring, 0);
  if (rc < 0) {
    g_host->error("io_uring is not available: %s (seccomp, or sysctl kernel.io_uring_disabled)",
                  ErrnoText(-rc).c_str());
    return MODTGT_ENOTSUP;
  }
  io_uring_probe* probe = io_uring_get_probe_ring(&ring);
  io_uring_queue_exit(&ring);
  if (probe == nullptr) {
    g_host->error("io_uring: cannot probe the supported operations (kernel older than 5.6?)");
    return MODTGT_ENOTSUP;
  }
  const struct {
    int op;
    const char* name;
  } needed[] = {{IORING_OP_READV, "READV"}, {IORING_OP_WRITEV, "WRITEV"},
                {IORING_OP_WRITE, "WRITE"}, {IORING_OP_FSYNC, "FSYNC"},
                {IORING_OP_FALLOCATE, "FALLOCATE"}, {IORING_OP_NOP, "NOP"}};
  for (const auto& n : needed) {
    if (!io_uring_opcode_supported(probe, n.op)) {
      io_uring_free_probe(probe);
      g_host->error("this kernel's io_uring lacks IORING_OP_%s (needs Linux 5.6 or later)",
                    n.name);
      return MODTGT_ENOTSUP;
    }
  }
  io_uring_free_probe(probe);
  return 0;
}

constexpr modtgt_backing_store MakeDescriptor() {
  modtgt_backing_store d{};
  d.struct_size = sizeof(modtgt_backing_store);
  d.abi_version = MODTGT_ABI_VERSION;
  d.kind = MODTGT_KIND_BACKING_STORE;
  // UNMAP frees space (or writes zeros): reads give zeros. Atomic writes where the file
  // system offers RWF_ATOMIC (each device declares its limits at open).
  d.caps = MODTGT_CAP_THIN | MODTGT_CAP_ATOMIC_WRITE;
  d.name = "uring";
  d.subtype = "uring";
  d.version = "1.0.0";
  d.description = "a regular file or block device through io_uring (asynchronous)";
  d.cfg_desc = "uring/PATH (or a plain path) of a file or block device; --size to set or "
               "extend; bsoflags direct,sync";
  d.nr_threads = 0;  // callouts submit SQEs on the loop; a completion thread per device
  d.load = UringLoad;
  d.check_config = UringCheckConfig;
  d.open = UringOpen;
  d.close = UringClose;
  d.read = UringRead;
  d.write = UringWrite;
  d.flush = UringFlush;
  d.unmap = UringUnmap;
  d.write_same = UringWriteSame;
  d.caw = nullptr;  // the core emulates COMPARE AND WRITE
  d.device_type = MODTGT_DEVTYPE_DISK;
  d.default_block_size = 512;
  d.reconfig = UringReconfig;
  d.get_lba_status = UringGetLbaStatus;
  return d;
}

constexpr modtgt_backing_store kDescriptor = MakeDescriptor();

}  // namespace
}  // namespace bs_uring

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host);

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host) {
  bs_uring::g_host = host;
  return &bs_uring::kDescriptor;
}
