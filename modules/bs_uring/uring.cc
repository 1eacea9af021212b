// SPDX-License-Identifier: Apache-2.0
//
// bs_uring: a regular file or a block device through io_uring (liburing).
//
// Asynchronous (nr_threads = 0): the callouts run on the daemon's event-loop threads and turn
// each I/O into one io_uring submission on that thread's own ring (one ring per device and
// submitting thread: no lock shared between loops). Right after submitting, the loop reaps
// what its ring has completed: an I/O the kernel finished inside io_uring_enter (a buffered
// read from the page cache) is answered by the callout itself with its status, with no
// thread hop and no wake-up; other completions found then are completed from the loop too.
// Completions that arrive later wake the device's completion thread through the ring's
// registered eventfd (disabled while the loop submits and reaps itself); it reaps them in
// batches and calls host->complete() from there.
//
//   read / write   IORING_OP_READV / WRITEV; FUA or write cache off (WCE=0) -> RWF_DSYNC.
//                  Short transfers are resubmitted for the rest, -EAGAIN / -EINTR retried,
//                  a read that meets the end of a (shrunk) file fills the rest with zeros.
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
// when no I/O is in flight: it wakes the completion thread through stop_efd_, joins it and
// tears the rings down.
#include <fcntl.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "../common/lba_status.h"
#include "modtgt/module.h"

namespace {

const modtgt_host* g_host = nullptr;

constexpr unsigned kRingEntries = 256;
constexpr size_t kDirectAlign = 4096;        // memory alignment used for O_DIRECT buffers
constexpr size_t kWriteChunk = 1 << 20;      // write_same / zero-fill chunk
constexpr int kMaxIovPerSqe = IOV_MAX;       // READV/WRITEV limit per submission
constexpr int kMaxZeroProgress = 16;         // resubmissions without progress before EIO
constexpr int kMaxRings = 16;                // per-thread rings of one device
constexpr unsigned kReapBatch = 64;          // CQEs taken per lock

// Zeros for the write-zeros fallback; aligned for O_DIRECT. Never written (not const, so
// it stays in .bss instead of adding 1 MiB of .rodata to the module file).
alignas(kDirectAlign) uint8_t g_zeros[kWriteChunk];

// Atomic writes (Linux 6.11 uapi), which Debian 12's headers do not have yet: the statx
// request bit and attribute, the write flag, and where struct statx keeps the limits
// (include/uapi/linux/stat.h: stx_atomic_write_unit_min/_max/_segments_max).
constexpr unsigned kStatxWriteAtomic = 0x00010000u;         // STATX_WRITE_ATOMIC
constexpr uint64_t kStatxAttrWriteAtomic = 0x00400000u;     // STATX_ATTR_WRITE_ATOMIC
constexpr int kRwfAtomic = 0x00000040;                      // RWF_ATOMIC
constexpr size_t kStatxSize = 256;                          // sizeof(struct statx)
constexpr size_t kStatxAttributes = 0x08;                   // __u64 stx_attributes
constexpr size_t kStatxAtomicUnitMin = 0xa8;                // __u32 stx_atomic_write_unit_min
constexpr size_t kStatxAtomicUnitMax = 0xac;                // __u32 stx_atomic_write_unit_max
constexpr size_t kStatxAtomicSegmentsMax = 0xb0;            // __u32 ..._segments_max
constexpr uint32_t kMaxAtomicUnit = 1 << 20;                // our single-buffer bound

enum class Op { kRead, kWrite, kFlush, kFallocate, kFill };

struct Ring;

// One I/O in flight. Pooled per ring; the iovec vector keeps its capacity across uses.
struct Req {
  Req* next_free = nullptr;
  Ring* ring = nullptr;    // where it is submitted (and resubmitted), and whose pool owns it
  // The Start (on its thread's stack) waiting for this I/O's status, if it completes before
  // its callout returns. Compared together with InlineStart::req: neither alone tells this
  // I/O from a later one that reuses the Req or the stack slot.
  struct InlineStart* inline_owner = nullptr;
  modtgt_io* io = nullptr;
  Op op = Op::kRead;
  std::vector<iovec> iov;  // what is still to transfer (kRead/kWrite), advanced on progress
  size_t iov_first = 0;    // index of the first iovec still to transfer
  uint64_t offset = 0;     // next file offset
  uint64_t end = 0;        // kRead/kWrite/kFill/kFallocate: end of the range
  int rw_flags = 0;        // RWF_DSYNC for FUA / WCE=0
  int fallocate_mode = 0;  // kFallocate
  bool zero_range = false; // kFallocate: ZERO_RANGE (write_same of zeros), else PUNCH_HOLE
  bool atomic = false;     // kWrite with RWF_ATOMIC: one IORING_OP_WRITE, never resumed
  int no_progress = 0;     // consecutive retries that moved nothing
  // O_DIRECT bounce buffer (kRead/kWrite) or the replicated pattern (kFill).
  uint8_t* buf = nullptr;
  size_t buf_len = 0;      // kFill: bytes of the pattern buffer (a multiple of the block)
  uint64_t fill_start = 0; // kFill: offset the pattern repeats from
  uint32_t block = 0;      // kFill: pattern period (the block size)
  const iovec* user_iov = nullptr;  // kRead with a bounce buffer: where the data goes
  int user_iovcnt = 0;
  // Hand-off to the completion thread. The kernel orders the submission before its CQE,
  // but ThreadSanitizer cannot see through the ring: this release/acquire pair makes the
  // edge visible to it (and costs nothing on x86).
  std::atomic<uint32_t> handoff{0};
};

// One io_uring instance, submitted to by one event-loop thread (its slot's).
struct Ring {
  ~Ring() {
    if (ready) io_uring_queue_exit(&ring);
    if (efd >= 0) close(efd);
    for (Req* r : all_reqs) {
      std::free(r->buf);
      delete r;
    }
  }
  io_uring ring{};
  bool ready = false;
  int efd = -1;  // registered with the ring: a CQE posted while enabled makes it readable
  // The submission side, the consumption of the CQ and the pool: the ring's loop thread
  // and the completion thread.
  std::mutex mu;
  Req* free_reqs = nullptr;     // GUARDED_BY(mu)
  std::vector<Req*> all_reqs;   // GUARDED_BY(mu); owned
};

// A completion copied out of the CQ, handled after the ring's lock is released.
struct Done {
  Req* req;
  int res;
};

// The slot of the calling thread: the index of its ring in every device.
int ThreadSlot() {
  static std::atomic<int> next{0};
  thread_local const int slot = next.fetch_add(1, std::memory_order_relaxed) % kMaxRings;
  return slot;
}

// The I/O a callout on this thread is starting: if the loop reaps its completion before the
// callout returns, Finish records the status here and the callout returns it (no
// host->complete, no hand-off).
struct InlineStart {
  Req* req = nullptr;
  bool done = false;
  modtgt_status status = MODTGT_STS_OK;
};
thread_local InlineStart* t_inline = nullptr;

std::string ErrnoText(int e) { return std::strerror(e); }

int ErrnoToModtgt(int e) {
  switch (e) {
    case ENOENT: return MODTGT_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS: return MODTGT_EACCES;
    case ENOMEM: return MODTGT_ENOMEM;
    case EBUSY: return MODTGT_EBUSY;
    default: return MODTGT_EIO;
  }
}

size_t IovBytes(const iovec* iov, int n) {
  size_t total = 0;
  for (int i = 0; i < n; i++) total += iov[i].iov_len;
  return total;
}

bool IovAligned(const iovec* iov, int n) {
  for (int i = 0; i < n; i++) {
    if (reinterpret_cast<uintptr_t>(iov[i].iov_base) % kDirectAlign != 0 ||
        iov[i].iov_len % kDirectAlign != 0) {
      return false;
    }
  }
  return true;
}

uint8_t* AlignedAlloc(size_t n) {
  const size_t rounded = (n + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
  return static_cast<uint8_t*>(std::aligned_alloc(kDirectAlign, rounded ? rounded : kDirectAlign));
}

// Size of an open file or block device, or -errno.
int64_t FdSize(int fd, const struct stat& st) {
  if (S_ISBLK(st.st_mode)) {
    uint64_t bytes = 0;
    if (ioctl(fd, BLKGETSIZE64, &bytes) != 0) return -errno;
    return static_cast<int64_t>(bytes);
  }
  return static_cast<int64_t>(st.st_size);
}

// Checks the configuration without side effects (module.h check_config). Returns 0 or a
// negative MODTGT_E* with the reason through host->error.
int CheckConfig(const modtgt_dev_config* cfg) {
  const char* path = cfg->path;
  if (path[0] == '\0') {
    g_host->error("no file given: the config string is uring/PATH (a file or block device)");
    return MODTGT_EINVAL;
  }
  if (cfg->oflags & ~(MODTGT_OFLAG_DIRECT | MODTGT_OFLAG_SYNC)) {
    g_host->error("unknown bsoflags 0x%x (uring supports direct and sync)", cfg->oflags);
    return MODTGT_EINVAL;
  }
  if (cfg->bsopts[0] != '\0') {
    g_host->error("uring takes no bsopts (got '%s'); the size comes from --size or the file",
                  cfg->bsopts);
    return MODTGT_EINVAL;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    const int e = errno;
    g_host->error("cannot use '%s': %s", path, ErrnoText(e).c_str());
    return e == ENOENT ? MODTGT_ENOENT : e == EACCES ? MODTGT_EACCES : MODTGT_EINVAL;
  }
  const bool blockdev = S_ISBLK(st.st_mode);
  if (!S_ISREG(st.st_mode) && !blockdev) {
    g_host->error("'%s' is neither a regular file nor a block device", path);
    return MODTGT_EINVAL;
  }
  if (access(path, cfg->readonly ? R_OK : (R_OK | W_OK)) != 0) {
    const int e = errno;
    g_host->error("no %s permission on '%s': %s", cfg->readonly ? "read" : "read/write", path,
                  ErrnoText(e).c_str());
    return MODTGT_EACCES;
  }
  const uint32_t bs = cfg->block_size ? cfg->block_size : 512;
  if (cfg->size % bs != 0) {
    g_host->error("size %llu is not a multiple of the %u-byte block size",
                  static_cast<unsigned long long>(cfg->size), bs);
    return MODTGT_EINVAL;
  }
  if (cfg->size != 0) {
    uint64_t have = static_cast<uint64_t>(st.st_size);
    if (blockdev) {
      const int fd = open(path, O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        const int e = errno;
        g_host->error("cannot open '%s': %s", path, ErrnoText(e).c_str());
        return ErrnoToModtgt(e);
      }
      const int64_t n = FdSize(fd, st);
      close(fd);
      if (n < 0) {
        g_host->error("BLKGETSIZE64 on '%s': %s", path, ErrnoText(static_cast<int>(-n)).c_str());
        return MODTGT_EIO;
      }
      have = static_cast<uint64_t>(n);
    }
    if (cfg->size > have && (blockdev || cfg->readonly)) {
      g_host->error("'%s' has %llu bytes, fewer than the requested size %llu%s", path,
                    static_cast<unsigned long long>(have),
                    static_cast<unsigned long long>(cfg->size),
                    blockdev ? " (a block device cannot grow)"
                             : " (a read-only LUN cannot extend its file)");
      return MODTGT_EINVAL;
    }
  }
  return 0;
}

// ---- One device: the file, its ring, the completion thread ----

class Device {
 public:
  // Opens the storage and starts the ring; on failure returns a negative MODTGT_E* with the
  // reason through host->error and leaves *out null.
  static int Open(modtgt_dev* dev, Device** out);
  ~Device();

  int Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset);
  int Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags);
  int Flush(modtgt_io* io);
  int Unmap(modtgt_io* io, uint64_t offset, uint64_t length);
  int WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint64_t length);
  int GetLbaStatus(uint64_t offset, uint64_t length, modtgt_lba_status* out) {
    modtgt_fd_lba_status(fd_, blockdev_, offset, length, out);
    return MODTGT_STS_OK;
  }
  // Admin thread, no I/O in flight (SIZE, CFGSTRING); any thread (WRITE_CACHE).
  int Reconfig(const modtgt_reconfig* rc);

 private:
  Device() = default;

  Req* AllocReq();                  // nullptr when out of memory
  void FreeReq(Req* r);
  // The calling thread's ring (created on first use); the first ring if one cannot be made.
  Ring* ThisRing();
  // A new ring with its eventfd registered and watched by the completion thread; nullptr
  // (with the reason in *why) on failure. REQUIRES: rings_mu_ held.
  Ring* NewRing(std::string* why);
  // Queues r's next step on r->ring. Returns false (nothing queued) when no SQE could be
  // obtained; the caller fails the I/O. reap: the caller is the ring's loop, which then
  // reaps and handles what the ring has completed (see the file comment).
  bool Submit(Req* r, bool reap);
  // Takes up to kReapBatch CQEs of g. REQUIRES: g->mu held.
  static unsigned TakeCqes(Ring* g, Done* out);
  // Reaps g until its CQ is empty, handling each completion with the lock released.
  void Drain(Ring* g);
  void PrepSqe(Req* r, io_uring_sqe* sqe);
  // Starts r from a callout: MODTGT_STS_ASYNC, or `failure` after releasing r.
  int Start(Req* r, int failure);
  void Finish(Req* r, modtgt_status st);
  void OnCqe(Req* r, int res);
  void Advance(Req* r, size_t n);
  void ZeroRest(Req* r);
  int SyncFlags(uint32_t flags) const;
  // Sets atomic_unit_ and declares the atomic limits when the kernel and file system take
  // RWF_ATOMIC writes on this file (O_DIRECT only).
  void ProbeAtomicWrites();
  uint8_t* BounceAlloc(size_t n);
  bool SetData(Req* r, const iovec* iov, int iovcnt);
  void CompletionLoop();

  modtgt_dev* dev_ = nullptr;
  std::string path_;
  int fd_ = -1;
  bool blockdev_ = false;
  bool direct_ = false;
  bool readonly_ = false;
  uint32_t atomic_unit_ = 0;  // the one atomic write size (bytes), 0 = none
  uint32_t block_ = 512;
  std::atomic<uint64_t> size_{0};
  std::atomic<bool> write_cache_{true};
  std::atomic<bool> punch_works_{true};  // cleared after the first EOPNOTSUPP
  std::atomic<bool> zero_works_{true};
  std::atomic<bool> bounce_logged_{false};

  std::atomic<Ring*> slots_[kMaxRings] = {};  // by ThreadSlot(); set once
  Ring* first_ = nullptr;                      // made by Open; the fallback ring
  std::mutex rings_mu_;                        // ring creation
  std::vector<std::unique_ptr<Ring>> rings_;   // GUARDED_BY(rings_mu_); owned
  int epfd_ = -1;      // the completion thread waits here on every ring's eventfd
  int stop_efd_ = -1;  // close(): wakes the completion thread for good
  std::thread reaper_;
};

int Device::Open(modtgt_dev* dev, Device** out) {
  *out = nullptr;
  const modtgt_dev_config* cfg = g_host->dev_get_config(dev);
  int rc = CheckConfig(cfg);
  if (rc != 0) return rc;
  auto* d = new (std::nothrow) Device();
  if (d == nullptr) {
    g_host->error("out of memory");
    return MODTGT_ENOMEM;
  }
  d->dev_ = dev;
  d->path_ = cfg->path;
  d->readonly_ = cfg->readonly != 0;
  d->direct_ = (cfg->oflags & MODTGT_OFLAG_DIRECT) != 0;
  d->block_ = cfg->block_size ? cfg->block_size : 512;
  d->write_cache_.store(cfg->write_cache != 0);
  int flags = (d->readonly_ ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (d->direct_) flags |= O_DIRECT;
  if (cfg->oflags & MODTGT_OFLAG_SYNC) flags |= O_SYNC;
  d->fd_ = open(cfg->path, flags);
  if (d->fd_ < 0) {
    const int e = errno;
    g_host->error("cannot open '%s'%s: %s", cfg->path,
                  (e == EINVAL && d->direct_) ? " with O_DIRECT (bsoflags direct)" : "",
                  ErrnoText(e).c_str());
    delete d;
    return e == EINVAL ? MODTGT_ENOTSUP : ErrnoToModtgt(e);
  }
  struct stat st;
  if (fstat(d->fd_, &st) != 0) {
    g_host->error("fstat '%s': %s", cfg->path, ErrnoText(errno).c_str());
    delete d;
    return MODTGT_EIO;
  }
  d->blockdev_ = S_ISBLK(st.st_mode);
  const int64_t have = FdSize(d->fd_, st);
  if (have < 0) {
    g_host->error("BLKGETSIZE64 on '%s': %s", cfg->path, ErrnoText(static_cast<int>(-have)).c_str());
    delete d;
    return MODTGT_EIO;
  }
  uint64_t size = static_cast<uint64_t>(have);
  if (cfg->size != 0) {
    if (cfg->size > size) {
      if (d->blockdev_ || d->readonly_) {  // CheckConfig said so already; the file changed
        g_host->error("'%s' has %llu bytes, fewer than the requested size %llu", cfg->path,
                      static_cast<unsigned long long>(size),
                      static_cast<unsigned long long>(cfg->size));
        delete d;
        return MODTGT_EINVAL;
      }
      if (ftruncate(d->fd_, static_cast<off_t>(cfg->size)) != 0) {
        const int e = errno;
        g_host->error("cannot extend '%s' to %llu bytes: %s", cfg->path,
                      static_cast<unsigned long long>(cfg->size), ErrnoText(e).c_str());
        delete d;
        return ErrnoToModtgt(e);
      }
    }
    size = cfg->size;
  }
  size -= size % d->block_;
  if (size == 0) {
    g_host->error("'%s' is smaller than one %u-byte block", cfg->path, d->block_);
    delete d;
    return MODTGT_EINVAL;
  }
  if (d->direct_) {
    // O_DIRECT needs offsets and lengths aligned to the storage's logical block: a LUN
    // block smaller than that would fail every I/O. Probe one block at offset 0.
    uint8_t* probe = AlignedAlloc(d->block_);
    ssize_t n;
    do {
      n = pread(d->fd_, probe, d->block_, 0);
    } while (n < 0 && errno == EINTR);
    const int e = errno;
    std::free(probe);
    if (n < 0 && e == EINVAL) {
      g_host->error("'%s' cannot do O_DIRECT I/O of %u-byte blocks (its logical block is "
                    "larger); use a larger block size or no bsoflags direct",
                    cfg->path, d->block_);
      delete d;
      return MODTGT_ENOTSUP;
    }
  }
  d->epfd_ = epoll_create1(EPOLL_CLOEXEC);
  d->stop_efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (d->epfd_ < 0 || d->stop_efd_ < 0) {
    g_host->error("epoll/eventfd: %s", ErrnoText(errno).c_str());
    delete d;
    return MODTGT_ENOMEM;
  }
  epoll_event stop_ev{};
  stop_ev.events = EPOLLIN;
  stop_ev.data.ptr = nullptr;  // nullptr: the stop fd; otherwise a Ring*
  if (epoll_ctl(d->epfd_, EPOLL_CTL_ADD, d->stop_efd_, &stop_ev) != 0) {
    g_host->error("epoll_ctl: %s", ErrnoText(errno).c_str());
    delete d;
    return MODTGT_ENOMEM;
  }
  {
    std::string why;
    std::lock_guard<std::mutex> l(d->rings_mu_);
    d->first_ = d->NewRing(&why);
    if (d->first_ == nullptr) {
      g_host->error("%s", why.c_str());
      delete d;
      return MODTGT_ENOTSUP;
    }
  }
  try {
    d->reaper_ = std::thread([d] { d->CompletionLoop(); });
  } catch (const std::exception& ex) {
    g_host->error("cannot start the completion thread: %s", ex.what());
    delete d;
    return MODTGT_ENOMEM;
  }
  d->size_.store(size);
  d->ProbeAtomicWrites();
  g_host->dev_set_private(dev, d);
  g_host->dev_set_size(dev, size);
  g_host->log(MODTGT_LOG_DEBUG, "opened '%s' (%llu bytes%s%s%s)", cfg->path,
              static_cast<unsigned long long>(size), d->blockdev_ ? ", block device" : "",
              d->direct_ ? ", O_DIRECT" : "", (flags & O_SYNC) ? ", O_SYNC" : "");
  *out = d;
  return 0;
}

Device::~Device() {
  if (reaper_.joinable()) {
    // REQUIRES (module.h close): no I/O in flight.
    const uint64_t one = 1;
    ssize_t n;
    do {
      n = write(stop_efd_, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
    reaper_.join();
  }
  rings_.clear();
  if (epfd_ >= 0) close(epfd_);
  if (stop_efd_ >= 0) close(stop_efd_);
  if (fd_ >= 0) close(fd_);
}

Ring* Device::NewRing(std::string* why) {
  auto g = std::make_unique<Ring>();
  io_uring_params params{};
  int rc = io_uring_queue_init_params(kRingEntries, &g->ring, &params);
  if (rc < 0) {
    *why = "io_uring_queue_init: " + ErrnoText(-rc) +
           " (is io_uring disabled by seccomp or kernel.io_uring_disabled?)";
    return nullptr;
  }
  g->ready = true;
  if (!(params.features & IORING_FEAT_NODROP)) {
    g_host->log(MODTGT_LOG_WARN, "kernel lacks IORING_FEAT_NODROP: completions may be lost "
                                 "above %u I/Os in flight", params.cq_entries);
  }
  g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (g->efd < 0) {
    *why = "eventfd: " + ErrnoText(errno);
    return nullptr;
  }
  rc = io_uring_register_eventfd(&g->ring, g->efd);
  if (rc < 0) {
    *why = "io_uring_register_eventfd: " + ErrnoText(-rc);
    return nullptr;
  }
  epoll_event ev{};
  // Edge-triggered: every eventfd signal is an event, so the completion thread never needs
  // to read the counter (one system call less per wake-up; it cannot overflow in practice).
  ev.events = EPOLLIN | EPOLLET;
  ev.data.ptr = g.get();
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, g->efd, &ev) != 0) {
    *why = "epoll_ctl: " + ErrnoText(errno);
    return nullptr;
  }
  try {
    rings_.push_back(std::move(g));
  } catch (const std::bad_alloc&) {
    *why = "out of memory";
    return nullptr;  // g's destructor closes the fd, which leaves the epoll set
  }
  return rings_.back().get();
}

Ring* Device::ThisRing() {
  const int slot = ThreadSlot();
  Ring* g = slots_[slot].load(std::memory_order_acquire);
  if (g != nullptr) return g;
  std::lock_guard<std::mutex> l(rings_mu_);
  g = slots_[slot].load(std::memory_order_relaxed);
  if (g != nullptr) return g;
  std::string why;
  g = NewRing(&why);
  if (g == nullptr) {
    g_host->log(MODTGT_LOG_WARN, "'%s': %s; this thread shares the first ring", path_.c_str(),
                why.c_str());
    g = first_;
  }
  slots_[slot].store(g, std::memory_order_release);
  return g;
}

Req* Device::AllocReq() {
  Ring* g = ThisRing();
  std::lock_guard<std::mutex> l(g->mu);
  Req* r = g->free_reqs;
  if (r != nullptr) {
    g->free_reqs = r->next_free;
  } else {
    r = new (std::nothrow) Req();
    if (r == nullptr) return nullptr;
    try {
      g->all_reqs.push_back(r);
    } catch (...) {
      delete r;
      return nullptr;
    }
    r->ring = g;
  }
  r->next_free = nullptr;
  r->inline_owner = nullptr;
  r->iov.clear();
  r->iov_first = 0;
  r->atomic = false;
  r->rw_flags = 0;
  r->no_progress = 0;
  r->buf = nullptr;
  r->buf_len = 0;
  r->user_iov = nullptr;
  r->user_iovcnt = 0;
  return r;
}

void Device::FreeReq(Req* r) {
  std::free(r->buf);
  r->buf = nullptr;
  Ring* g = r->ring;
  std::lock_guard<std::mutex> l(g->mu);
  r->next_free = g->free_reqs;
  g->free_reqs = r;
}

// An aligned buffer for an O_DIRECT transfer whose iovecs are not aligned.
uint8_t* Device::BounceAlloc(size_t n) {
  if (!bounce_logged_.exchange(true, std::memory_order_relaxed)) {
    g_host->log(MODTGT_LOG_DEBUG, "'%s': O_DIRECT with unaligned buffers: using bounce buffers",
                path_.c_str());
  }
  return AlignedAlloc(n);
}

int Device::SyncFlags(uint32_t flags) const {
  return ((flags & MODTGT_IO_FUA) || !write_cache_.load(std::memory_order_relaxed)) ? RWF_DSYNC
                                                                                    : 0;
}

void Device::PrepSqe(Req* r, io_uring_sqe* sqe) {
  switch (r->op) {
    case Op::kRead:
    case Op::kWrite: {
      const size_t left = r->iov.size() - r->iov_first;
      const unsigned n = static_cast<unsigned>(std::min<size_t>(left, kMaxIovPerSqe));
      if (r->op == Op::kRead) {
        io_uring_prep_readv(sqe, fd_, r->iov.data() + r->iov_first, n, r->offset);
      } else if (r->atomic) {
        // One user buffer (RWF_ATOMIC takes a single segment): SetData made it one iovec.
        io_uring_prep_write(sqe, fd_, r->iov[0].iov_base, static_cast<unsigned>(r->iov[0].iov_len),
                            r->offset);
        sqe->rw_flags = r->rw_flags;
      } else {
        io_uring_prep_writev(sqe, fd_, r->iov.data() + r->iov_first, n, r->offset);
        sqe->rw_flags = r->rw_flags;
      }
      break;
    }
    case Op::kFlush:
      io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
      break;
    case Op::kFallocate:
      io_uring_prep_fallocate(sqe, fd_, r->fallocate_mode, static_cast<off_t>(r->offset),
                              static_cast<off_t>(r->end - r->offset));
      break;
    case Op::kFill: {
      // The buffer repeats the pattern from fill_start on, so any offset maps into it.
      const size_t pos = r->buf == nullptr ? 0 : static_cast<size_t>((r->offset - r->fill_start) % r->block);
      const uint8_t* base = r->buf == nullptr ? g_zeros : r->buf;
      const size_t cap = r->buf == nullptr ? sizeof(g_zeros) : r->buf_len;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(r->end - r->offset, cap - pos));
      io_uring_prep_write(sqe, fd_, base + pos, static_cast<unsigned>(n), r->offset);
      sqe->rw_flags = r->rw_flags;
      break;
    }
  }
  io_uring_sqe_set_data(sqe, r);
}

bool Device::Submit(Req* r, bool reap) {
  Ring* g = r->ring;
  {
    std::lock_guard<std::mutex> l(g->mu);
    io_uring_sqe* sqe = io_uring_get_sqe(&g->ring);
    if (sqe == nullptr) {
      // The queue is full of entries not yet handed to the kernel (an earlier submit
      // failed with EAGAIN/EBUSY): push them, then retry once.
      io_uring_submit(&g->ring);
      sqe = io_uring_get_sqe(&g->ring);
      if (sqe == nullptr) return false;
    }
    PrepSqe(r, sqe);
    r->handoff.fetch_add(1, std::memory_order_release);
    // The loop reaps its own ring right after: CQEs posted meanwhile need not wake the
    // completion thread. (-EOPNOTSUPP on kernels before 5.8: the thread just wakes.)
    if (reap) io_uring_cq_eventfd_toggle(&g->ring, false);
    for (int attempt = 0;; attempt++) {
      const int rc = io_uring_submit(&g->ring);
      if (rc >= 0) break;
      if (rc == -EINTR) continue;
      if ((rc == -EAGAIN || rc == -EBUSY) && attempt < 100) {
        // Kernel short of memory, or the completion queue overflowing: give the
        // completion thread a moment. The SQE stays queued either way.
        std::this_thread::yield();
        continue;
      }
      // The SQE is in the ring and will go with the next successful submit: it will
      // complete then. Report success so it is not completed twice.
      g_host->log(MODTGT_LOG_WARN, "io_uring_submit: %s; the I/O goes with the next submission",
                  ErrnoText(-rc).c_str());
      break;
    }
    // Re-enabled before the CQ is read: a CQE posted after this read wakes the thread.
    if (reap) io_uring_cq_eventfd_toggle(&g->ring, true);
  }
  if (reap) Drain(g);
  return true;
}

unsigned Device::TakeCqes(Ring* g, Done* out) {
  io_uring_cqe* cqes[kReapBatch];
  const unsigned n = io_uring_peek_batch_cqe(&g->ring, cqes, kReapBatch);
  for (unsigned i = 0; i < n; i++) {
    out[i] = Done{reinterpret_cast<Req*>(static_cast<uintptr_t>(io_uring_cqe_get_data64(cqes[i]))),
                  cqes[i]->res};
  }
  io_uring_cq_advance(&g->ring, n);
  // Push entries an earlier failed submit left behind (see Submit).
  if (io_uring_sq_ready(&g->ring) > 0) io_uring_submit(&g->ring);
  return n;
}

void Device::Drain(Ring* g) {
  Done done[kReapBatch];
  for (;;) {
    unsigned n;
    {
      std::lock_guard<std::mutex> l(g->mu);
      n = TakeCqes(g, done);
    }
    if (n == 0) return;
    for (unsigned i = 0; i < n; i++) {
      (void)done[i].req->handoff.load(std::memory_order_acquire);
      OnCqe(done[i].req, done[i].res);
    }
  }
}

int Device::Start(Req* r, int failure) {
  InlineStart start;
  start.req = r;
  r->inline_owner = &start;
  InlineStart* const outer = t_inline;
  t_inline = &start;
  const bool queued = Submit(r, true);
  t_inline = outer;
  if (!queued) {
    g_host->log(MODTGT_LOG_WARN, "io_uring submission queue full; the I/O is retried as BUSY");
    FreeReq(r);
    return failure;
  }
  return start.done ? start.status : MODTGT_STS_ASYNC;
}

void Device::Finish(Req* r, modtgt_status st) {
  if (st == MODTGT_STS_OK && r->op == Op::kRead && r->user_iov != nullptr) {
    const uint8_t* src = r->buf;
    for (int i = 0; i < r->user_iovcnt; i++) {
      std::memcpy(r->user_iov[i].iov_base, src, r->user_iov[i].iov_len);
      src += r->user_iov[i].iov_len;
    }
  }
  modtgt_io* io = r->io;
  InlineStart* const start = t_inline;
  FreeReq(r);
  if (start != nullptr && start->req == r && r->inline_owner == start) {
    // Completed before its callout returned: the callout returns the status.
    start->done = true;
    start->status = st;
    start->req = nullptr;  // r may be reused from here on
    return;
  }
  g_host->complete(io, st);
}

// Drops n transferred bytes from the front of r's iovecs.
void Device::Advance(Req* r, size_t n) {
  r->offset += n;
  while (n > 0 && r->iov_first < r->iov.size()) {
    iovec& v = r->iov[r->iov_first];
    const size_t take = std::min(n, v.iov_len);
    v.iov_base = static_cast<uint8_t*>(v.iov_base) + take;
    v.iov_len -= take;
    n -= take;
    if (v.iov_len == 0) r->iov_first++;
  }
  while (r->iov_first < r->iov.size() && r->iov[r->iov_first].iov_len == 0) r->iov_first++;
}

void Device::ZeroRest(Req* r) {
  for (size_t i = r->iov_first; i < r->iov.size(); i++) {
    std::memset(r->iov[i].iov_base, 0, r->iov[i].iov_len);
  }
  r->iov_first = r->iov.size();
}

void Device::OnCqe(Req* r, int res) {
  const bool is_read = r->op == Op::kRead;
  const modtgt_status failure = is_read ? MODTGT_STS_READ_ERROR : MODTGT_STS_WRITE_ERROR;
  bool again = false;
  if (res == -EINTR || res == -EAGAIN) {
    again = ++r->no_progress <= kMaxZeroProgress * 64;
  } else if (res < 0) {
    if (r->op == Op::kFallocate && (res == -EOPNOTSUPP || res == -ENOSYS ||
                                    (res == -EINVAL && blockdev_))) {
      // This storage cannot punch/zero a range: write zeros instead (and from now on).
      std::atomic<bool>& works = r->zero_range ? zero_works_ : punch_works_;
      if (works.exchange(false)) {
        g_host->log(MODTGT_LOG_INFO, "'%s': fallocate(%s) unsupported (%s); writing zeros",
                    path_.c_str(), r->zero_range ? "ZERO_RANGE" : "PUNCH_HOLE",
                    ErrnoText(-res).c_str());
      }
      r->op = Op::kFill;
      r->fill_start = r->offset;
      r->block = block_;
      r->rw_flags = SyncFlags(0);
      again = true;
    } else {
      g_host->log(MODTGT_LOG_ERROR, "'%s': %s at %llu failed: %s", path_.c_str(),
                  is_read ? "read" : r->op == Op::kFlush ? "flush" : "write",
                  static_cast<unsigned long long>(r->offset), ErrnoText(-res).c_str());
      Finish(r, failure);
      return;
    }
  } else {
    switch (r->op) {
      case Op::kFlush:
      case Op::kFallocate:
        Finish(r, MODTGT_STS_OK);
        return;
      case Op::kRead:
      case Op::kWrite:
        if (res == 0 && is_read) {
          // End of file inside the device: the file is shorter than the LUN (shrunk
          // underneath us, or sparse-extended by another tool). Past EOF reads as zeros.
          ZeroRest(r);
        } else if (res == 0) {
          again = ++r->no_progress <= kMaxZeroProgress;
          if (!again) {
            g_host->log(MODTGT_LOG_ERROR, "'%s': write at %llu makes no progress",
                        path_.c_str(), static_cast<unsigned long long>(r->offset));
            Finish(r, failure);
            return;
          }
          break;
        } else if (r->atomic && static_cast<uint64_t>(res) != r->end - r->offset) {
          // An atomic write is never resumed: the rest would not be atomic with the part.
          g_host->log(MODTGT_LOG_ERROR, "'%s': atomic write at %llu moved %d of %llu bytes",
                      path_.c_str(), static_cast<unsigned long long>(r->offset), res,
                      static_cast<unsigned long long>(r->end - r->offset));
          Finish(r, failure);
          return;
        } else {
          r->no_progress = 0;
          Advance(r, static_cast<size_t>(res));
        }
        if (r->iov_first >= r->iov.size()) {
          Finish(r, MODTGT_STS_OK);
          return;
        }
        again = true;  // short transfer, or more than kMaxIovPerSqe iovecs: the rest
        break;
      case Op::kFill:
        if (res == 0) {
          again = ++r->no_progress <= kMaxZeroProgress;
          if (!again) {
            Finish(r, failure);
            return;
          }
          break;
        }
        r->no_progress = 0;
        r->offset += static_cast<uint64_t>(res);
        if (r->offset >= r->end) {
          Finish(r, MODTGT_STS_OK);
          return;
        }
        again = true;
        break;
    }
  }
  if (!again) {
    g_host->log(MODTGT_LOG_ERROR, "'%s': I/O at %llu keeps failing with EAGAIN/EINTR",
                path_.c_str(), static_cast<unsigned long long>(r->offset));
    Finish(r, failure);
    return;
  }
  if (!Submit(r, false)) {
    g_host->log(MODTGT_LOG_ERROR, "'%s': cannot resubmit the rest of an I/O (queue full)",
                path_.c_str());
    Finish(r, failure);
  }
}

void Device::CompletionLoop() {
  for (;;) {
    epoll_event evs[kMaxRings + 1];
    const int n = epoll_wait(epfd_, evs, kMaxRings + 1, -1);
    if (n < 0) {
      if (errno != EINTR) {
        g_host->log(MODTGT_LOG_ERROR, "'%s': epoll_wait: %s", path_.c_str(),
                    ErrnoText(errno).c_str());
        std::this_thread::yield();
      }
      continue;
    }
    bool stop = false;
    for (int i = 0; i < n; i++) {
      Ring* g = static_cast<Ring*>(evs[i].data.ptr);
      if (g == nullptr) {
        stop = true;  // close(): nothing is in flight
        continue;
      }
      Drain(g);  // a CQE posted after this drained the ring signals a new edge
    }
    if (stop) return;
  }
}

// ---- Callouts ----

// Points r at the caller's buffer, or, for O_DIRECT with unaligned iovecs, at an aligned
// bounce buffer: filled from iov now for a write, copied back to iov at completion for a
// read (Finish). r->offset and r->op must be set. False when out of memory.
bool Device::SetData(Req* r, const iovec* iov, int iovcnt) {
  const size_t total = IovBytes(iov, iovcnt);
  r->end = r->offset + total;
  try {
    if (direct_ && !IovAligned(iov, iovcnt)) {
      r->buf = BounceAlloc(total);
      if (r->buf == nullptr) return false;
      if (r->op == Op::kWrite) {
        uint8_t* dst = r->buf;
        for (int i = 0; i < iovcnt; i++) {
          std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
          dst += iov[i].iov_len;
        }
      } else {
        r->user_iov = iov;
        r->user_iovcnt = iovcnt;
      }
      r->iov.push_back(iovec{r->buf, total});
    } else {
      r->iov.assign(iov, iov + iovcnt);
    }
  } catch (const std::bad_alloc&) {
    return false;
  }
  return true;
}

int Device::Read(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset) {
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kRead;
  r->offset = offset;
  if (!SetData(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  return Start(r, MODTGT_STS_BUSY);
}

void Device::ProbeAtomicWrites() {
  atomic_unit_ = 0;
  if (!direct_ || readonly_) return;  // RWF_ATOMIC is for direct I/O (buffered: EOPNOTSUPP)
  alignas(8) uint8_t stx[kStatxSize] = {};
  if (syscall(SYS_statx, fd_, "", AT_EMPTY_PATH, kStatxWriteAtomic, stx) != 0) return;
  uint32_t mask;
  uint64_t attributes;
  uint32_t unit_min, unit_max, segments;
  std::memcpy(&mask, stx, sizeof(mask));
  std::memcpy(&attributes, stx + kStatxAttributes, sizeof(attributes));
  std::memcpy(&unit_min, stx + kStatxAtomicUnitMin, sizeof(unit_min));
  std::memcpy(&unit_max, stx + kStatxAtomicUnitMax, sizeof(unit_max));
  std::memcpy(&segments, stx + kStatxAtomicSegmentsMax, sizeof(segments));
  if (!(mask & kStatxWriteAtomic) || !(attributes & kStatxAttrWriteAtomic) || unit_min == 0 ||
      segments == 0) {
    return;  // an older kernel, or storage without atomic writes
  }
  const uint32_t unit = std::max(unit_min, block_);
  if ((unit & (unit - 1)) != 0 || unit > unit_max || unit > kMaxAtomicUnit) return;
  // A 1.2 module is only loaded by a 1.2 daemon, which has the service; checked anyway.
  if (g_host->struct_size < offsetof(modtgt_host, dev_set_atomic_limits) + sizeof(void*) ||
      g_host->dev_set_atomic_limits == nullptr) {
    return;
  }
  atomic_unit_ = unit;
  modtgt_atomic_limits lim{};
  lim.struct_size = sizeof(lim);
  lim.max_bytes = unit;
  lim.align_bytes = unit;
  lim.granularity_bytes = unit;
  g_host->dev_set_atomic_limits(dev_, &lim);
  g_host->log(MODTGT_LOG_INFO, "'%s': atomic writes of %u bytes (RWF_ATOMIC; unit %u..%u)",
              path_.c_str(), unit, unit_min, unit_max);
}

int Device::Write(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags) {
  if ((flags & MODTGT_IO_ATOMIC) &&
      (atomic_unit_ == 0 || IovBytes(iov, iovcnt) != atomic_unit_ || offset % atomic_unit_ != 0)) {
    // The core sends only what the declared limits allow; anything else is not atomic.
    g_host->log(MODTGT_LOG_ERROR, "'%s': atomic write of %zu bytes at %llu outside the limits",
                path_.c_str(), IovBytes(iov, iovcnt), static_cast<unsigned long long>(offset));
    return MODTGT_STS_WRITE_ERROR;
  }
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kWrite;
  r->offset = offset;
  r->rw_flags = SyncFlags(flags);
  if (flags & MODTGT_IO_ATOMIC) {
    r->atomic = true;
    r->rw_flags |= kRwfAtomic;
  }
  if (!SetData(r, iov, iovcnt)) {
    FreeReq(r);
    return MODTGT_STS_NO_RESOURCE;
  }
  return Start(r, MODTGT_STS_BUSY);
}

int Device::Flush(modtgt_io* io) {
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->op = Op::kFlush;
  return Start(r, MODTGT_STS_BUSY);
}

int Device::Unmap(modtgt_io* io, uint64_t offset, uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->offset = offset;
  r->end = offset + length;
  r->zero_range = false;
  if (punch_works_.load(std::memory_order_relaxed)) {
    r->op = Op::kFallocate;
    r->fallocate_mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  } else {
    r->op = Op::kFill;  // zeros: unmapped blocks read as zeros either way
    r->fill_start = offset;
    r->block = block_;
    r->rw_flags = SyncFlags(0);
  }
  return Start(r, MODTGT_STS_BUSY);
}

int Device::WriteSame(modtgt_io* io, const iovec* iov, int iovcnt, uint64_t offset,
                      uint64_t length) {
  if (length == 0) return MODTGT_STS_OK;
  const size_t pattern = IovBytes(iov, iovcnt);
  if (pattern == 0 || length % pattern != 0 || kWriteChunk % pattern != 0) {
    g_host->log(MODTGT_LOG_ERROR, "write_same: pattern of %zu bytes for %llu bytes", pattern,
                static_cast<unsigned long long>(length));
    return MODTGT_STS_WRITE_ERROR;
  }
  bool zeros = true;
  for (int i = 0; i < iovcnt && zeros; i++) {
    const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
    for (size_t j = 0; j < iov[i].iov_len; j++) {
      if (p[j] != 0) {
        zeros = false;
        break;
      }
    }
  }
  Req* r = AllocReq();
  if (r == nullptr) return MODTGT_STS_NO_RESOURCE;
  r->io = io;
  r->offset = offset;
  r->end = offset + length;
  r->fill_start = offset;
  r->block = static_cast<uint32_t>(pattern);
  r->rw_flags = SyncFlags(0);
  r->zero_range = true;
  if (zeros && zero_works_.load(std::memory_order_relaxed)) {
    r->op = Op::kFallocate;
    r->fallocate_mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
  } else {
    r->op = Op::kFill;
    if (!zeros) {
      // Replicate the block over up to kWriteChunk bytes (a multiple of the pattern).
      r->buf_len = static_cast<size_t>(std::min<uint64_t>(length, kWriteChunk));
      r->buf = AlignedAlloc(r->buf_len);
      if (r->buf == nullptr) {
        FreeReq(r);
        return MODTGT_STS_NO_RESOURCE;
      }
      uint8_t* dst = r->buf;
      for (int i = 0; i < iovcnt; i++) {
        std::memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
      }
      for (size_t have = pattern; have < r->buf_len;) {
        const size_t n = std::min(have, r->buf_len - have);
        std::memcpy(r->buf + have, r->buf, n);
        have += n;
      }
    }
  }
  return Start(r, MODTGT_STS_BUSY);
}

int Device::Reconfig(const modtgt_reconfig* rc) {
  if (rc->what & MODTGT_RECONFIG_CFGSTRING) {
    if (rc->path == nullptr || path_ != rc->path) {
      g_host->error("cannot change the file of a live uring device; delete and re-create "
                    "the LUN");
      return MODTGT_ENOTSUP;
    }
  }
  if (rc->what & MODTGT_RECONFIG_SIZE) {
    const uint64_t want = rc->size;
    if (want == 0 || want % block_ != 0) {
      g_host->error("size %llu is not a positive multiple of the %u-byte block size",
                    static_cast<unsigned long long>(want), block_);
      return MODTGT_EINVAL;
    }
    struct stat st;
    if (fstat(fd_, &st) != 0) {
      g_host->error("fstat '%s': %s", path_.c_str(), ErrnoText(errno).c_str());
      return MODTGT_EIO;
    }
    const int64_t have = FdSize(fd_, st);
    if (have < 0) {
      g_host->error("BLKGETSIZE64 on '%s': %s", path_.c_str(),
                    ErrnoText(static_cast<int>(-have)).c_str());
      return MODTGT_EIO;
    }
    if (blockdev_) {
      if (want > static_cast<uint64_t>(have)) {
        g_host->error("block device '%s' has %lld bytes: cannot grow the LUN to %llu",
                      path_.c_str(), static_cast<long long>(have),
                      static_cast<unsigned long long>(want));
        return MODTGT_EINVAL;
      }
    } else if (readonly_) {
      if (want > static_cast<uint64_t>(have)) {
        g_host->error("'%s' has %lld bytes and the LUN is read-only: cannot extend it to %llu",
                      path_.c_str(), static_cast<long long>(have),
                      static_cast<unsigned long long>(want));
        return MODTGT_EINVAL;
      }
    } else if (want != static_cast<uint64_t>(have) &&
               (want > static_cast<uint64_t>(have) || want < size_.load())) {
      // Grow: extend a shorter file. Shrink: the file follows the LUN down (the data past
      // the new end is what the administrator asked to drop). A file already longer than
      // the LUN is never cut by a grow.
      if (ftruncate(fd_, static_cast<off_t>(want)) != 0) {
        const int e = errno;
        g_host->error("cannot resize '%s' to %llu bytes: %s", path_.c_str(),
                      static_cast<unsigned long long>(want), ErrnoText(e).c_str());
        return ErrnoToModtgt(e);
      }
    }
    size_.store(want);
    g_host->dev_set_size(dev_, want);
  }
  if (rc->what & MODTGT_RECONFIG_WRITE_CACHE) {
    write_cache_.store(rc->write_cache != 0);
  }
  return 0;
}

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

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host);

extern "C" MODTGT_EXPORT const modtgt_backing_store* modtgt_module_init(const modtgt_host* host) {
  g_host = host;
  return &kDescriptor;
}
