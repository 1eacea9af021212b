// SPDX-License-Identifier: Apache-2.0
//
// bs_uring's internals, shared by its files (one module, one shared object):
//   uring.cc           the C ABI: descriptor, callout trampolines, load()
//   uring_config.cc    check_config, open/close of a Device, reconfig, atomic-write probe
//   uring_ring.cc      rings per submitting thread, the Req pool, the completion thread
//   uring_submit.cc    the I/O callouts and their submission (SQE preparation, submit)
//   uring_complete.cc  reaping CQEs, resuming short transfers, finishing an I/O
// See uring.cc for what the module does and its threading rules.
#pragma once

#include <liburing.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../common/lba_status.h"
#include "modtgt/module.h"

namespace bs_uring {

extern const modtgt_host* g_host;

constexpr unsigned kRingEntries = 256;
constexpr size_t kDirectAlign = 4096;        // memory alignment used for O_DIRECT buffers
constexpr size_t kWriteChunk = 1 << 20;      // write_same / zero-fill chunk
constexpr int kMaxIovPerSqe = IOV_MAX;       // READV/WRITEV limit per submission
constexpr int kMaxZeroProgress = 16;         // resubmissions without progress before EIO
constexpr int kMaxRings = 16;                // per-thread rings of one device
constexpr unsigned kReapBatch = 64;          // CQEs taken per lock
// Buffered writes done inline (see Device::WriteInline): one slower than this turns them
// off for kInlineWriteBackoffNs, during which they go through io_uring.
constexpr uint64_t kSlowInlineWriteNs = 500 * 1000;
constexpr uint64_t kInlineWriteBackoffNs = 100 * 1000 * 1000;
// Larger buffered writes go through io_uring: its io-wq worker copies them into the page
// cache on another core while the loop receives the next ones (inline, 128 KiB writes ran
// at 0.53-0.89x bs_rdwr's throughput; 4 KiB ones at 0.42-0.54x its CPU per I/O).
constexpr size_t kInlineWriteMax = 16 * 1024;
// Plain buffered writes of at least kWriterMin bytes go to the device's writer threads
// (uring_writers.cc), started on the first such write: io_uring would give each to its
// io-wq, which runs all buffered writes to one file on one worker (hashed by inode).
constexpr size_t kWriterMin = 64 * 1024;
constexpr int kWriterThreads = 8;  // as bs_rdwr (4 ran at 0.83x its throughput)
// Buffered reads up to this size are first tried with preadv2(RWF_NOWAIT) in the callout
// (see Device::ReadInline): a page-cache hit then costs one system call and no ring work.
constexpr size_t kInlineReadMax = 16 * 1024;
// After a loop turn that had both an inline read and I/O on the ring, this many reads go
// through the ring before the next inline attempt (see Device::ReadInline).
constexpr uint32_t kInlineReadSkip = 64;
// O_DIRECT reads of at least kDirectReadWorkerMin bytes go to the same threads (preadv, as
// bs_rdwr) while the device's last such read submitted to io_uring did not complete inside
// its own submission, i.e. it went to the disk: iomap builds a read's bios and zero-fills
// the holes between them in the submitting thread, which for io_uring is the event loop
// (0.64-0.90x bs_rdwr's 128 KiB QD16 throughput on a file of holes and 4 KiB blocks). A read
// of holes only is all zero-filling, done at submission: that stays on io_uring (a thread
// hop made it 0.76x). Every kDirectReadProbeEvery-th such read goes to io_uring to learn it
// again. docs/perf-profile.md, "bs_uring: large O_DIRECT reads".
constexpr size_t kDirectReadWorkerMin = 64 * 1024;
constexpr uint32_t kDirectReadProbeEvery = 16;

// Zeros for the write-zeros fallback (uring_ring.cc); aligned for O_DIRECT, never written.
extern uint8_t g_zeros[kWriteChunk];

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
  // A large O_DIRECT read whose first CQE tells whether such reads complete at submission
  // (see kDirectReadWorkerMin); submit_seq: the ring's submits count that carried it.
  bool probe = false;
  uint64_t submit_seq = 0;
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
  // The device; a ring may outlive it (see refs), but then nothing is in flight on it and
  // no CQE will ever name it.
  class Device* dev = nullptr;
  // References: the device's (dropped at close), plus one per pending end-of-turn step
  // (loop_defer) and per running eventfd callback. Those run outside any callout, so the
  // daemon may close the device right after they complete its last I/O; the ring, which
  // they still touch, is freed by the last reference.
  std::atomic<int> refs{1};
  // Set when the ring's eventfd is watched by the event loop that created the ring (ABI
  // 1.5 loop_watch_fd): that loop reaps it; otherwise the completion thread does.
  modtgt_watch* watch = nullptr;
  // The submission side, the consumption of the CQ and the pool: the ring's loop thread
  // and the completion thread.
  std::mutex mu;
  Req* free_reqs = nullptr;     // GUARDED_BY(mu)
  // SQEs are queued, and a loop's end of turn (ABI 1.5 loop_defer) will submit them.
  bool submit_deferred = false; // GUARDED_BY(mu)
  // Device::ReadInline's state, used by the ring's loop thread only; atomic (relaxed)
  // because threads beyond kMaxRings share rings, where a race only changes whether a read
  // is tried inline. A read of this loop turn was done inline; cleared by an end-of-turn
  // step of its own (ABI 1.5 loop_defer):
  std::atomic<bool> inline_read_turn{false};
  // Reads still to send through the ring without trying inline: set to kInlineReadSkip by
  // a turn that had an inline read and then I/O on the ring (a busy loop: QD32).
  std::atomic<uint32_t> inline_skip{0};
  uint64_t submits = 0;         // GUARDED_BY(mu); SubmitQueued calls
  std::vector<Req*> all_reqs;   // GUARDED_BY(mu); owned
};

inline void RingRef(Ring* g) { g->refs.fetch_add(1, std::memory_order_relaxed); }
inline void RingUnref(Ring* g) {
  if (g->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete g;
}

// A completion copied out of the CQ, handled after the ring's lock is released.
struct Done {
  Req* req;
  int res;
};


// The slot of the calling thread: the index of its ring in every device.
int ThreadSlot();

// The I/O a callout on this thread is starting: if the loop reaps its completion before the
// callout returns, Finish records the status here and the callout returns it (no
// host->complete, no hand-off).
struct InlineStart {
  Req* req = nullptr;
  bool done = false;
  modtgt_status status = MODTGT_STS_OK;
};
extern thread_local InlineStart* t_inline;

std::string ErrnoText(int e);
int ErrnoToModtgt(int e);
size_t IovBytes(const iovec* iov, int n);
bool IovAligned(const iovec* iov, int n);
uint8_t* AlignedAlloc(size_t n);
// The host has the ABI 1.5 event-loop services (loop_defer, loop_watch_fd, loop_unwatch).
inline bool HostHasLoopServices() {
  return g_host->struct_size >= offsetof(modtgt_host, loop_unwatch) + sizeof(void*) &&
         g_host->loop_defer != nullptr && g_host->loop_watch_fd != nullptr &&
         g_host->loop_unwatch != nullptr;
}
// Size of an open file or block device, or -errno.
int64_t FdSize(int fd, const struct stat& st);
// Checks the configuration without side effects (module.h check_config). Returns 0 or a
// negative MODTGT_E* with the reason through host->error.
int CheckConfig(const modtgt_dev_config* cfg);

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

  Req* AllocReq() { return AllocReq(ThisRing()); }  // nullptr when out of memory
  Req* AllocReq(Ring* g);           // from g, the calling thread's ring
  void FreeReq(Req* r);
  // The calling thread's ring (created on first use); the first ring if one cannot be made.
  Ring* ThisRing();
  // A new ring with its eventfd registered and watched by the completion thread; nullptr
  // (with the reason in *why) on failure. REQUIRES: rings_mu_ held.
  // on_loop: the calling thread may be an event loop, which then reaps the ring itself.
  Ring* NewRing(std::string* why, bool on_loop);
  // Queues r's next step on r->ring. Returns false (nothing queued) when no SQE could be
  // obtained; the caller fails the I/O. reap: the caller is the ring's loop, which then
  // reaps and handles what the ring has completed (see the file comment).
  bool Submit(Req* r, bool reap);
  // io_uring_submit with retries. REQUIRES: g->mu held. quiet: the caller reaps right
  // after, so completions posted meanwhile need not signal the eventfd.
  static void SubmitQueued(Ring* g, bool quiet);
  // ABI 1.5 loop callbacks (arg: the Ring): the end of the loop's turn submits what the
  // turn queued and reaps; a readable eventfd on a loop-watched ring reaps.
  static void OnTurnEnd(void* arg);
  static void OnRingReadable(void* arg);
  static void OnInlineReadTurnEnd(void* arg);  // clears Ring::inline_read_turn
  // Takes up to kReapBatch CQEs of g. REQUIRES: g->mu held.
  static unsigned TakeCqes(Ring* g, Done* out);
  // Reaps g until its CQ is empty, handling each completion with the lock released.
  // Static: it touches the device only for CQEs, i.e. while I/O is in flight.
  // submitted: g->submits of the SubmitQueued just before, whose I/Os that are reaped here
  // completed inside their submission; 0 when not right after one.
  static void Drain(Ring* g, uint64_t submitted = 0);
  void PrepSqe(Req* r, io_uring_sqe* sqe);
  // Starts r from a callout: MODTGT_STS_ASYNC, or `failure` after releasing r.
  int Start(Req* r, int failure);
  void Finish(Req* r, modtgt_status st);
  void OnCqe(Req* r, int res);
  void Advance(Req* r, size_t n);
  void ZeroRest(Req* r);
  int SyncFlags(uint32_t flags) const;
  // A plain buffered write done at once with pwritev on the calling thread: the status, or
  // MODTGT_STS_ASYNC when the write must go through io_uring instead (not a plain buffered
  // write, inline writes backed off, or pwritev refused it).
  int WriteInline(const iovec* iov, int iovcnt, uint64_t offset, uint32_t flags);
  // A small buffered read done at once with preadv2(RWF_NOWAIT) on the calling thread, when
  // the page cache holds it and it is the first read of the loop's turn on this ring,
  // unless a recent turn was busy (the I/O of a busy turn stays one io_uring_enter).
  // Returns MODTGT_STS_OK (all read), or MODTGT_STS_ASYNC with *done bytes already read
  // (0 or a part) when io_uring must read the rest: not a small buffered read, not all
  // cached (EAGAIN), end of file, an error (io_uring reports it), or no RWF_NOWAIT here
  // (EOPNOTSUPP: not tried again). g: the calling thread's ring.
  int ReadInline(Ring* g, const iovec* iov, int iovcnt, uint64_t offset, size_t* done);
  // A write with no O_DIRECT, O_SYNC, FUA, WCE=0 or atomicity: page cache only.
  bool PlainBufferedWrite(int iovcnt, uint32_t flags) const;
  // pwritev until total bytes are written: 0, or the errno that stopped it (*done: bytes
  // written before it; EIO for a write that makes no progress).
  int PwriteAll(const iovec* iov, int iovcnt, uint64_t offset, size_t total, size_t* done);
  // ---- Writer threads: large plain buffered writes, large O_DIRECT reads (uring_writers.cc)
  // Queues r (op kWrite or kRead; iov, offset, end set) to the writer threads, starting them
  // on first use: true, or false (nothing queued) when no thread could be started.
  bool QueueToWriters(Req* r);
  void WriterLoop();
  void StopWriters();  // joins them; REQUIRES: no I/O in flight
  // preadv of what r (op kRead) still has to read: OK, or READ_ERROR (logged).
  modtgt_status PreadAll(Req* r);
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
  std::atomic<bool> nowait_reads_{true};  // cleared when preadv2(RWF_NOWAIT) is refused
  // Large O_DIRECT reads (kDirectReadWorkerMin): to the writer threads, and how many came.
  std::atomic<bool> direct_reads_to_threads_{false};
  std::atomic<uint32_t> direct_reads_{0};
  bool osync_ = false;  // opened O_SYNC (bsoflags sync)
  // CLOCK_MONOTONIC ns until which buffered writes go through io_uring (a slow inline one).
  std::atomic<uint64_t> inline_writes_off_until_{0};

  std::mutex writers_mu_;
  std::condition_variable writers_cv_;
  Req* writers_head_ = nullptr;      // GUARDED_BY(writers_mu_); FIFO through Req::next_free
  Req* writers_tail_ = nullptr;      // GUARDED_BY(writers_mu_)
  bool writers_stop_ = false;        // GUARDED_BY(writers_mu_)
  std::vector<std::thread> writers_; // GUARDED_BY(writers_mu_) until StopWriters

  std::atomic<Ring*> slots_[kMaxRings] = {};  // by ThreadSlot(); set once
  Ring* first_ = nullptr;                      // made by Open; the fallback ring
  std::mutex rings_mu_;                        // ring creation
  std::vector<Ring*> rings_;                   // GUARDED_BY(rings_mu_); one reference each
  int epfd_ = -1;      // the completion thread waits here on every ring's eventfd
  int stop_efd_ = -1;  // close(): wakes the completion thread for good
  std::thread reaper_;
};

}  // namespace bs_uring
