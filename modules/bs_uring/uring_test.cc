// SPDX-License-Identifier: Apache-2.0
//
// bs_uring against the shared fake host (tests/unit/fakes/module_host.h, no daemon; its
// fake event loop stands in for the daemon's ABI 1.5 loop services): the paths the iSCSI
// tests cannot reach or cannot see — the end of a shrunk file read as zeros, more iovecs
// than one READV takes, multi-chunk WRITE SAME patterns, O_DIRECT with unaligned buffers,
// concurrent submitters (more threads than rings, I/O queued), cached reads completed by
// their own callout (small ones with preadv2(RWF_NOWAIT), the rest finished by the ring), check_config and reconfig reasons, get_lba_status from the file's
// holes, submission and reaping on a loop, large buffered writes on the writer threads, the
// inline-write back-off (on a clock the test sets), and atomic writes declared only where
// the file system takes RWF_ATOMIC (with
// $MODTGT_TEST_ATOMIC_DIR naming a folder on such a file system, e.g. XFS on Linux 6.16+,
// the positive case runs too). The module's sources are compiled into this binary; it is
// driven through its descriptor only, as the daemon does.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/module_host.h"
#include "modtgt/module.h"
#include "uring_internal.h"

// ---- The module's clock, set by the test (the inline-write back-off) ----
// bs_uring times each inline buffered write with clock_gettime(CLOCK_MONOTONIC) around its
// pwritev (Device::WriteInline, uring_submit.cc). Its sources are compiled into this binary,
// so the two calls bind to the definitions below (a link seam: the module has no test hook,
// and a real slow write could not be made on demand). On a thread with t_fake_clock set,
// CLOCK_MONOTONIC reads t_fake_now_ns and every pwritev advances it by t_pwritev_takes_ns
// before writing for real; any other call goes to libc (found with RTLD_NEXT).
namespace {
// preadv2 (Device::ReadInline): every call is counted; a test may make the next calls fail
// with g_preadv2_errno, or read at most g_preadv2_max bytes (a page cache that holds only
// the start of the range).
std::atomic<int> g_preadv2_calls{0};
std::atomic<int> g_preadv2_errno{0};
std::atomic<size_t> g_preadv2_max{0};  // 0: no limit
thread_local bool t_fake_clock = false;
thread_local uint64_t t_fake_now_ns = 0;
thread_local uint64_t t_pwritev_takes_ns = 0;
thread_local int t_pwritevs = 0;  // pwritev calls under the fake clock
template <class F>
F Libc(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) std::abort();
  return reinterpret_cast<F>(f);
}
}  // namespace

extern "C" int clock_gettime(clockid_t clock, timespec* ts) noexcept {
  if (t_fake_clock && clock == CLOCK_MONOTONIC) {
    ts->tv_sec = static_cast<time_t>(t_fake_now_ns / 1000000000u);
    ts->tv_nsec = static_cast<long>(t_fake_now_ns % 1000000000u);
    return 0;
  }
  static const auto real = Libc<int (*)(clockid_t, timespec*)>("clock_gettime");
  return real(clock, ts);
}

extern "C" ssize_t pwritev(int fd, const iovec* iov, int iovcnt, off_t offset) {
  if (t_fake_clock) {
    t_pwritevs++;
    t_fake_now_ns += t_pwritev_takes_ns;
  }
  static const auto real = Libc<ssize_t (*)(int, const iovec*, int, off_t)>("pwritev");
  return real(fd, iov, iovcnt, offset);
}

extern "C" ssize_t preadv2(int fd, const iovec* iov, int iovcnt, off_t offset, int flags) {
  g_preadv2_calls++;
  if (const int e = g_preadv2_errno.load()) {
    errno = e;
    return -1;
  }
  static const auto real = Libc<ssize_t (*)(int, const iovec*, int, off_t, int)>("preadv2");
  const size_t max = g_preadv2_max.load();
  if (max == 0 || iovcnt < 1) return real(fd, iov, iovcnt, offset, flags);
  iovec first{iov[0].iov_base, std::min(max, iov[0].iov_len)};
  return real(fd, &first, 1, offset, flags);
}

namespace {

using modtgt::fake_host::Done;
using modtgt::fake_host::Eventually;
using modtgt::fake_host::g_atomic;
using modtgt::fake_host::g_done;
using modtgt::fake_host::g_mu;
using modtgt::fake_host::ScopedLoop;
using modtgt::fake_host::t_error;
using modtgt::fake_host::Take;

const modtgt_host g_host = modtgt::fake_host::MakeHost();
const modtgt_backing_store* D() { return modtgt::fake_host::Descriptor(&g_host); }

// Distinct I/O handles: the module treats them as opaque.
modtgt_io* Io(uintptr_t n) { return reinterpret_cast<modtgt_io*>(n * 16 + 16); }

// Waits for an async I/O (or returns the synchronous status).
int Wait(modtgt_io* io, int rc) { return modtgt::fake_host::Wait(io, rc, std::chrono::seconds(20)); }

// Handles first..first+n-1 (and first2..first2+n2-1).
std::vector<modtgt_io*> Ios(uintptr_t first, int n, uintptr_t first2 = 0, int n2 = 0) {
  std::vector<modtgt_io*> v;
  for (int i = 0; i < n; i++) v.push_back(Io(first + i));
  for (int i = 0; i < n2; i++) v.push_back(Io(first2 + i));
  return v;
}

// Turns `loop` (up to 100 ms a turn) until every one of `ios` has completed.
bool TurnUntilDone(modtgt::fake_host::FakeLoop& loop, const std::vector<modtgt_io*>& ios,
                   int seconds) {
  return Eventually([&] { return std::all_of(ios.begin(), ios.end(), Done); },
                    std::chrono::seconds(seconds), [&] { loop.Turn(100); });
}

class UringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bs_uring_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/disk.img";
    ASSERT_EQ(D()->load(), 0) << t_error;
    g_preadv2_errno = 0;
    g_preadv2_max = 0;
  }
  void TearDown() override {
    if (open_) D()->close(&dev_);
    std::lock_guard<std::mutex> l(g_mu);
    g_atomic.clear();
    std::string cmd = "rm -rf " + dir_;
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void Config(const std::string& path, uint64_t size = 0, uint32_t oflags = 0,
              uint32_t readonly = 0, const char* bsopts = "") {
    dev_.cfgstring = "uring/" + path;
    dev_.path = path;
    dev_.config = modtgt_dev_config{};
    dev_.config.struct_size = sizeof(modtgt_dev_config);
    dev_.config.block_size = 512;
    dev_.config.cfgstring = dev_.cfgstring.c_str();
    dev_.config.path = dev_.path.c_str();
    dev_.config.bsopts = bsopts;
    dev_.config.oflags = oflags;
    dev_.config.readonly = readonly;
    dev_.config.size = size;
    dev_.config.write_cache = 1;
    dev_.config.wwn = "";
  }
  int Open() {
    int rc = D()->open(&dev_, 0);
    open_ = rc == 0;
    return rc;
  }
  void MakeFile(uint64_t size) { ASSERT_EQ(truncate(Create().c_str(), static_cast<off_t>(size)), 0); }
  std::string Create() {
    int fd = open(path_.c_str(), O_CREAT | O_RDWR, 0644);
    EXPECT_GE(fd, 0);
    close(fd);
    return path_;
  }
  std::string FileBytes(uint64_t off, size_t n) {
    std::string s(n, '\0');
    int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, s.data(), n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
    close(fd);
    return s;
  }
  int Write(uintptr_t id, const void* p, size_t n, uint64_t off, uint32_t flags = 0) {
    iovec v{const_cast<void*>(p), n};
    return Wait(Io(id), D()->write(&dev_, Io(id), &v, 1, off, flags));
  }
  int Read(uintptr_t id, void* p, size_t n, uint64_t off) {
    iovec v{p, n};
    return Wait(Io(id), D()->read(&dev_, Io(id), &v, 1, off));
  }

  void RunOnLoop(const std::string& data);  // OnALoopATurnsIoIsSubmitted...'s loop thread

  std::string dir_, path_;
  modtgt_dev dev_;
  bool open_ = false;
};

std::string Random(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(g());
  return s;
}

TEST_F(UringTest, CheckConfigGivesReasons) {
  Config(dir_ + "/missing.img");
  EXPECT_EQ(D()->check_config(&dev_.config), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("No such file"), std::string::npos) << t_error;
  Config(dir_);
  EXPECT_EQ(D()->check_config(&dev_.config), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("neither a regular file nor a block device"), std::string::npos);
  MakeFile(1 << 20);
  Config(path_, 0, 0, 0, "size=1G");
  EXPECT_EQ(D()->check_config(&dev_.config), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("no bsopts"), std::string::npos) << t_error;
  Config(path_, 2 << 20, 0, /*readonly=*/1);
  EXPECT_EQ(D()->check_config(&dev_.config), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("read-only"), std::string::npos) << t_error;
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20) << "check_config must not change the file";
  Config(path_, 2 << 20);
  EXPECT_EQ(D()->check_config(&dev_.config), 0) << t_error;
}

TEST_F(UringTest, OpenExtendsShortFileToConfiguredSize) {
  MakeFile(1 << 20);
  Config(path_, 4 << 20);
  ASSERT_EQ(Open(), 0) << t_error;
  EXPECT_EQ(dev_.size.load(), 4u << 20);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4 << 20);
}

TEST_F(UringTest, ReadPastEndOfShrunkFileIsZeros) {
  MakeFile(64 << 10);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  std::string data = Random(64 << 10, 1);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  ASSERT_EQ(truncate(path_.c_str(), 4096), 0);  // shrunk underneath the LUN
  std::string back(64 << 10, 'x');
  ASSERT_EQ(Read(2, back.data(), back.size(), 0), MODTGT_STS_OK);
  EXPECT_EQ(back.substr(0, 4096), data.substr(0, 4096));
  EXPECT_EQ(back.substr(4096), std::string((64 << 10) - 4096, '\0'));
}

TEST_F(UringTest, MoreIovecsThanOneSubmissionTakes) {
  MakeFile(2 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const int n = 3000;  // > IOV_MAX (1024): three READV/WRITEV submissions
  std::string data = Random(static_cast<size_t>(n) * 512, 2);
  std::vector<iovec> v(n);
  for (int i = 0; i < n; i++) v[i] = iovec{data.data() + i * 512, 512};
  ASSERT_EQ(Wait(Io(1), D()->write(&dev_, Io(1), v.data(), n, 4096, 0)), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(4096, data.size()), data);
  std::string back(data.size(), '\0');
  for (int i = 0; i < n; i++) v[i] = iovec{back.data() + i * 512, 512};
  ASSERT_EQ(Wait(Io(2), D()->read(&dev_, Io(2), v.data(), n, 4096)), MODTGT_STS_OK);
  EXPECT_EQ(back, data);
}

TEST_F(UringTest, WriteSamePatternAndZeros) {
  MakeFile(8 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  std::string data = Random(8 << 20, 3);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  // A pattern over 3 MiB + 1 block: four chunks, the last one partial.
  std::string block = Random(512, 4);
  iovec v{block.data(), block.size()};
  const uint64_t off = 512 * 7, len = (3 << 20) + 512;
  ASSERT_EQ(Wait(Io(2), D()->write_same(&dev_, Io(2), &v, 1, off, len)), MODTGT_STS_OK);
  std::string got = FileBytes(0, 8 << 20);
  EXPECT_EQ(got.substr(0, off), data.substr(0, off));
  for (uint64_t o = off; o < off + len; o += 512) {
    ASSERT_EQ(got.compare(o, 512, block), 0) << "block at " << o;
  }
  EXPECT_EQ(got.substr(off + len), data.substr(off + len));
  // Zeros (ZERO_RANGE).
  std::string zeros(512, '\0');
  v = iovec{zeros.data(), zeros.size()};
  ASSERT_EQ(Wait(Io(3), D()->write_same(&dev_, Io(3), &v, 1, 5 << 20, 1 << 20)), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(5 << 20, 1 << 20), std::string(1 << 20, '\0'));
  EXPECT_EQ(FileBytes(6 << 20, 4096), data.substr(6 << 20, 4096));
}

TEST_F(UringTest, UnmapPunchesHoles) {
  MakeFile(4 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  std::string data = Random(4 << 20, 5);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  ASSERT_EQ(Wait(Io(2), D()->flush(&dev_, Io(2))), MODTGT_STS_OK);
  struct stat before, after;
  ASSERT_EQ(stat(path_.c_str(), &before), 0);
  ASSERT_EQ(Wait(Io(3), D()->unmap(&dev_, Io(3), 1 << 20, 2 << 20)), MODTGT_STS_OK);
  ASSERT_EQ(stat(path_.c_str(), &after), 0);
  EXPECT_LE(after.st_blocks, before.st_blocks - (2 << 20) / 512 + 64);
  EXPECT_EQ(after.st_size, before.st_size);
  EXPECT_EQ(FileBytes(1 << 20, 2 << 20), std::string(2 << 20, '\0'));
  EXPECT_EQ(FileBytes(3 << 20, 1 << 20), data.substr(3 << 20));
}

TEST_F(UringTest, DirectWithUnalignedBuffersBounces) {
  MakeFile(1 << 20);
  Config(path_, 0, MODTGT_OFLAG_DIRECT);
  ASSERT_EQ(Open(), 0) << t_error;
  std::string data = Random(3 * 4096 + 1, 6);
  // Base off by one byte, two iovecs of odd lengths (block multiples in total).
  iovec w[2] = {{data.data() + 1, 4096 + 512}, {data.data() + 1 + 4096 + 512, 2 * 4096 - 512}};
  ASSERT_EQ(Wait(Io(1), D()->write(&dev_, Io(1), w, 2, 8192, MODTGT_IO_FUA)), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(8192, 3 * 4096), data.substr(1, 3 * 4096));
  std::string back(3 * 4096 + 3, 'x');
  iovec r[2] = {{back.data() + 3, 512}, {back.data() + 3 + 512, 3 * 4096 - 512}};
  ASSERT_EQ(Wait(Io(2), D()->read(&dev_, Io(2), r, 2, 8192)), MODTGT_STS_OK);
  EXPECT_EQ(back.substr(3), data.substr(1, 3 * 4096));
}

TEST_F(UringTest, ConcurrentSubmittersKeepEveryBlock) {
  const int kThreads = 4, kPerThread = 400;
  MakeFile(static_cast<uint64_t>(kThreads) * kPerThread * 4096);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([this, t] {
      std::string buf(4096, '\0');
      for (int i = 0; i < kPerThread; i++) {
        const uint64_t blk = static_cast<uint64_t>(i) * kThreads + t;
        std::memset(buf.data(), static_cast<int>(blk % 251), buf.size());
        std::memcpy(buf.data(), &blk, sizeof(blk));
        EXPECT_EQ(Write(1000 + blk, buf.data(), buf.size(), blk * 4096, 0), MODTGT_STS_OK);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::string all = FileBytes(0, static_cast<size_t>(kThreads) * kPerThread * 4096);
  for (uint64_t blk = 0; blk < static_cast<uint64_t>(kThreads) * kPerThread; blk++) {
    uint64_t tag;
    std::memcpy(&tag, all.data() + blk * 4096, sizeof(tag));
    ASSERT_EQ(tag, blk);
    ASSERT_EQ(static_cast<uint8_t>(all[blk * 4096 + 4095]), blk % 251);
  }
}

// More submitting threads than the module has rings per device (so some share one), each
// with 32 I/Os in flight at once: every write lands, every read returns its block, and
// every I/O is completed exactly once (inline by its callout or through host->complete).
TEST_F(UringTest, ManyThreadsWithQueuedIoSharingRings) {
  const int kThreads = 20, kDepth = 32, kRounds = 4;
  const uint64_t blocks = static_cast<uint64_t>(kThreads) * kDepth * kRounds;
  MakeFile(blocks * 4096);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([this, t] {
      std::vector<std::string> bufs(kDepth, std::string(4096, '\0'));
      std::vector<iovec> iov(kDepth);
      std::vector<int> rc(kDepth);
      for (int pass = 0; pass < 2; pass++) {  // writes, then reads of the same blocks
        for (int round = 0; round < kRounds; round++) {
          for (int i = 0; i < kDepth; i++) {
            const uint64_t blk = (static_cast<uint64_t>(round) * kDepth + i) * kThreads + t;
            const uintptr_t id = 100000 + pass * 50000 + blk;
            if (pass == 0) {
              std::memset(bufs[i].data(), static_cast<int>(blk % 253), 4096);
              std::memcpy(bufs[i].data(), &blk, sizeof(blk));
            } else {
              std::memset(bufs[i].data(), 0xee, 4096);
            }
            iov[i] = iovec{bufs[i].data(), 4096};
            rc[i] = pass == 0 ? D()->write(&dev_, Io(id), &iov[i], 1, blk * 4096, 0)
                              : D()->read(&dev_, Io(id), &iov[i], 1, blk * 4096);
          }
          for (int i = 0; i < kDepth; i++) {
            const uint64_t blk = (static_cast<uint64_t>(round) * kDepth + i) * kThreads + t;
            const uintptr_t id = 100000 + pass * 50000 + blk;
            EXPECT_EQ(Wait(Io(id), rc[i]), MODTGT_STS_OK);
            if (pass == 1) {
              uint64_t tag;
              std::memcpy(&tag, bufs[i].data(), sizeof(tag));
              EXPECT_EQ(tag, blk);
              EXPECT_EQ(static_cast<uint8_t>(bufs[i][4095]), blk % 253);
            }
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  std::lock_guard<std::mutex> l(g_mu);
  EXPECT_TRUE(g_done.empty()) << g_done.size() << " I/Os completed twice or never waited for";
}

// A buffered read of data in the page cache completes inside io_uring_enter: the loop that
// submitted it reaps it at once and the callout returns the status itself (no completion
// thread, no hand-off). At least most such reads must take that path (the kernel may punt
// one now and then); the data is right either way.
TEST_F(UringTest, CachedReadsCompleteInTheirCallout) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string data = Random(1 << 20, 7);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  int inline_done = 0;
  for (int i = 0; i < 100; i++) {
    std::string buf(4096, '\0');
    iovec v{buf.data(), buf.size()};
    const uint64_t off = static_cast<uint64_t>(i % 256) * 4096;
    const int rc = D()->read(&dev_, Io(10 + i), &v, 1, off);
    if (rc == MODTGT_STS_OK) inline_done++;
    ASSERT_EQ(Wait(Io(10 + i), rc), MODTGT_STS_OK);
    ASSERT_EQ(buf, data.substr(off, 4096));
  }
  EXPECT_GE(inline_done, 50);
}

TEST_F(UringTest, ReconfigSizeAndConfigString) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_CFGSTRING;
  std::string other = dir_ + "/other.img";
  rc.path = other.c_str();
  rc.cfgstring = "uring/x";
  EXPECT_EQ(D()->reconfig(&dev_, &rc), MODTGT_ENOTSUP);
  EXPECT_NE(t_error.find("delete and re-create the LUN"), std::string::npos) << t_error;
  rc.path = path_.c_str();
  EXPECT_EQ(D()->reconfig(&dev_, &rc), 0) << "the same file is no change";
  rc.what = MODTGT_RECONFIG_SIZE;
  rc.size = 3 << 20;
  ASSERT_EQ(D()->reconfig(&dev_, &rc), 0) << t_error;
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3 << 20);
  EXPECT_EQ(dev_.size.load(), 3u << 20);
  rc.size = 512 * 1000;
  ASSERT_EQ(D()->reconfig(&dev_, &rc), 0) << t_error;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 512 * 1000);
  rc.size = 1000;  // not a block multiple
  EXPECT_EQ(D()->reconfig(&dev_, &rc), MODTGT_EINVAL);
  EXPECT_EQ(t_error, "size 1000 is not a positive multiple of the 512-byte block size");
  rc.size = 0;
  EXPECT_EQ(D()->reconfig(&dev_, &rc), MODTGT_EINVAL);
  rc.what = MODTGT_RECONFIG_WRITE_CACHE;
  rc.write_cache = 0;
  EXPECT_EQ(D()->reconfig(&dev_, &rc), 0);
  std::string data = Random(4096, 7);
  EXPECT_EQ(Write(9, data.data(), data.size(), 0), MODTGT_STS_OK);  // RWF_DSYNC now
  EXPECT_EQ(FileBytes(0, 4096), data);
}

TEST_F(UringTest, LbaStatusFollowsTheFilesHoles) {
  MakeFile(8 << 20);  // sparse: one hole
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  ASSERT_NE(D()->get_lba_status, nullptr);
  modtgt_lba_status st{};
  ASSERT_EQ(D()->get_lba_status(&dev_, Io(1), 0, 8 << 20, &st), MODTGT_STS_OK);
  EXPECT_EQ(st.state, MODTGT_LBA_DEALLOCATED);
  EXPECT_EQ(st.length, 8u << 20);
  std::string data = Random(1 << 20, 8);
  ASSERT_EQ(Write(2, data.data(), data.size(), 2 << 20), MODTGT_STS_OK);
  ASSERT_EQ(Wait(Io(3), D()->flush(&dev_, Io(3))), MODTGT_STS_OK);
  ASSERT_EQ(D()->get_lba_status(&dev_, Io(4), 0, 8 << 20, &st), MODTGT_STS_OK);
  EXPECT_EQ(st.state, MODTGT_LBA_DEALLOCATED);
  EXPECT_EQ(st.length, 2u << 20);
  ASSERT_EQ(D()->get_lba_status(&dev_, Io(5), 2 << 20, 6 << 20, &st), MODTGT_STS_OK);
  EXPECT_EQ(st.state, MODTGT_LBA_MAPPED);
  EXPECT_EQ(st.length, 1u << 20);
  // Never beyond what was asked.
  ASSERT_EQ(D()->get_lba_status(&dev_, Io(6), 2 << 20, 4096, &st), MODTGT_STS_OK);
  EXPECT_EQ(st.length, 4096u);
  ASSERT_EQ(Wait(Io(7), D()->unmap(&dev_, Io(7), 2 << 20, 1 << 20)), MODTGT_STS_OK);
  ASSERT_EQ(D()->get_lba_status(&dev_, Io(8), 0, 8 << 20, &st), MODTGT_STS_OK);
  EXPECT_EQ(st.state, MODTGT_LBA_DEALLOCATED);
  EXPECT_EQ(st.length, 8u << 20);
}

TEST_F(UringTest, NoAtomicWritesThroughThePageCache) {
  MakeFile(1 << 20);
  Config(path_);  // buffered: RWF_ATOMIC is for direct I/O only
  ASSERT_EQ(Open(), 0) << t_error;
  EXPECT_EQ(g_atomic.count(&dev_), 0u);
  std::string data = Random(4096, 9);
  EXPECT_EQ(Write(1, data.data(), data.size(), 0, MODTGT_IO_ATOMIC), MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(FileBytes(0, 4096), std::string(4096, '\0'));
}

TEST_F(UringTest, AtomicWritesWhereTheFileSystemOffersThem) {
  const char* dir = std::getenv("MODTGT_TEST_ATOMIC_DIR");
  if (dir == nullptr) GTEST_SKIP() << "MODTGT_TEST_ATOMIC_DIR (a folder on XFS or ext4 with RWF_ATOMIC) not set";
  path_ = std::string(dir) + "/bs_uring_test_atomic.img";
  MakeFile(1 << 20);
  Config(path_, 0, MODTGT_OFLAG_DIRECT);
  ASSERT_EQ(Open(), 0) << t_error;
  ASSERT_EQ(g_atomic.count(&dev_), 1u) << "the file system offers no RWF_ATOMIC here";
  const modtgt_atomic_limits l = g_atomic[&dev_];
  EXPECT_EQ(l.max_bytes, l.align_bytes);
  EXPECT_EQ(l.max_bytes, l.granularity_bytes);
  EXPECT_EQ(l.max_bytes & (l.max_bytes - 1), 0u);
  void* buf = nullptr;
  ASSERT_EQ(posix_memalign(&buf, 4096, 2 * l.max_bytes), 0);
  std::memset(buf, 0x5a, 2 * l.max_bytes);
  EXPECT_EQ(Write(1, buf, l.max_bytes, l.max_bytes, MODTGT_IO_ATOMIC), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(l.max_bytes, l.max_bytes), std::string(l.max_bytes, '\x5a'));
  // Not the declared unit, or not aligned to it: refused, nothing written.
  EXPECT_EQ(Write(2, buf, 2 * l.max_bytes, 0, MODTGT_IO_ATOMIC), MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(Write(3, buf, l.max_bytes, 512, MODTGT_IO_ATOMIC), MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(FileBytes(0, 4096), std::string(4096, '\0'));
  std::free(buf);
  D()->close(&dev_);
  open_ = false;
  unlink(path_.c_str());
}

}  // namespace

// On an event loop (ABI 1.5): the callouts of one turn queue their I/O and the end of the
// turn submits all of it at once; nothing is submitted before (a cached read, which
// completes inside io_uring_enter, would otherwise return OK from its callout), and every
// completion reaches the host on the loop thread: reaped at the end of the turn or when
// the ring's eventfd, watched by the loop, says so. No completion thread in between.
TEST_F(UringTest, OnALoopATurnsIoIsSubmittedAtItsEndAndReapedByTheLoop) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string data = Random(1 << 20, 11);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);  // not a loop: at once
  // A thread of its own: its first I/O makes its ring, on the loop (as a daemon loop's).
  std::thread([&] { RunOnLoop(data); }).join();
}

void UringTest::RunOnLoop(const std::string& data) {
  ScopedLoop loop;
  // Reads the page cache does not hold (preadv2(RWF_NOWAIT) fails with EAGAIN): through the
  // ring, at the end of the turn (cached ones complete in their callout: the test below).
  g_preadv2_errno = EAGAIN;
  constexpr int kIos = 32;
  std::vector<std::string> bufs(kIos, std::string(4096, '\0'));
  std::vector<iovec> iov(kIos);
  for (int i = 0; i < kIos; i++) {
    iov[i] = iovec{bufs[i].data(), 4096};
    ASSERT_EQ(D()->read(&dev_, Io(100 + i), &iov[i], 1, static_cast<uint64_t>(i) * 4096),
              MODTGT_STS_ASYNC);
  }
  // FUA writes in the same turn (through io_uring: ext4 hands them to io_uring's workers,
  // and they come back through the watched eventfd).
  const std::string wdata = Random(kIos * 4096, 12);
  std::vector<iovec> wiov(kIos);
  for (int i = 0; i < kIos; i++) {
    wiov[i] = iovec{const_cast<char*>(wdata.data()) + i * 4096, 4096};
    ASSERT_EQ(D()->write(&dev_, Io(200 + i), &wiov[i], 1, (1 << 19) + i * 4096, MODTGT_IO_FUA),
              MODTGT_STS_ASYNC);
  }
  EXPECT_EQ(loop.deferred.size(), 1u) << "one submission for the turn";
  EXPECT_EQ(loop.watches, 1) << "the loop's ring is watched by the loop";
  for (int i = 0; i < kIos; i++) EXPECT_FALSE(Done(Io(100 + i))) << "submitted early";
  loop.EndTurn();
  ASSERT_TRUE(TurnUntilDone(loop, Ios(100, kIos, 200, kIos), 20)) << "completions lost";
  for (int i = 0; i < kIos; i++) {
    for (modtgt_io* io : {Io(100 + i), Io(200 + i)}) {
      const auto [st, on] = Take(io);
      EXPECT_EQ(st, MODTGT_STS_OK);
      EXPECT_EQ(on, std::this_thread::get_id()) << "completed off the loop";
    }
    EXPECT_EQ(bufs[i], data.substr(static_cast<size_t>(i) * 4096, 4096));
  }
  EXPECT_EQ(FileBytes(1 << 19, wdata.size()), wdata);
  D()->close(&dev_);
  open_ = false;
  EXPECT_EQ(loop.watches, 0) << "close() unwatches the ring's eventfd";
  EXPECT_EQ(loop.unwatched, 1);
}

// More I/O in one turn than the ring has entries (FUA writes: through io_uring): the full
// queue is pushed to the kernel and the turn goes on; every I/O completes once.
TEST_F(UringTest, OnALoopATurnLargerThanTheRing) {
  MakeFile(8 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  ScopedLoop loop;
  constexpr int kIos = 600;  // > 256 ring entries
  const std::string wdata = Random(4096, 13);
  iovec v{const_cast<char*>(wdata.data()), 4096};
  for (int i = 0; i < kIos; i++) {
    ASSERT_EQ(D()->write(&dev_, Io(1000 + i), &v, 1, static_cast<uint64_t>(i) * 4096,
                         MODTGT_IO_FUA),
              MODTGT_STS_ASYNC);
  }
  loop.EndTurn();
  ASSERT_TRUE(TurnUntilDone(loop, Ios(1000, kIos), 30)) << "completions lost";
  for (int i = 0; i < kIos; i++) EXPECT_EQ(Take(Io(1000 + i)).first, MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(599 * 4096, 4096), wdata);
  D()->close(&dev_);
  open_ = false;
}

// A plain buffered write is a pwritev in its callout (ext4 has no non-blocking buffered
// writes: io_uring would give each one to a worker thread); FUA, WCE=0 and O_SYNC writes go
// through io_uring, whose completion brings their durability.
TEST_F(UringTest, PlainBufferedWritesCompleteInTheirCallout) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string a = Random(8192, 21), b = Random(4096, 22), c = Random(4096, 23);
  // Two iovecs, one callout, no host->complete.
  iovec v[2] = {{const_cast<char*>(a.data()), 4096}, {const_cast<char*>(a.data()) + 4096, 4096}};
  EXPECT_EQ(D()->write(&dev_, Io(1), v, 2, 4096, 0), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(4096, 8192), a);
  iovec vb{const_cast<char*>(b.data()), 4096};
  const int fua = D()->write(&dev_, Io(2), &vb, 1, 65536, MODTGT_IO_FUA);
  EXPECT_EQ(fua, MODTGT_STS_ASYNC);
  EXPECT_EQ(Wait(Io(2), fua), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(65536, 4096), b);
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_WRITE_CACHE;
  rc.write_cache = 0;
  ASSERT_EQ(D()->reconfig(&dev_, &rc), 0);
  iovec vc{const_cast<char*>(c.data()), 4096};
  const int wce0 = D()->write(&dev_, Io(3), &vc, 1, 131072, 0);
  EXPECT_EQ(wce0, MODTGT_STS_ASYNC);
  EXPECT_EQ(Wait(Io(3), wce0), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(131072, 4096), c);
  std::lock_guard<std::mutex> l(g_mu);
  EXPECT_EQ(g_done.count(Io(1)), 0u) << "an inline write also completed through the host";
}

// The daemon may close a device as soon as its last I/O completed, and on a loop that can
// happen before the end-of-turn step the turn had queued for the ring runs (the eventfd
// callback reaped the I/O first): that step then finds a ring the closed device no longer
// owns, which its reference keeps alive (AddressSanitizer would see a use after free).
TEST_F(UringTest, OnALoopADeviceClosedBeforeItsTurnEnds) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string data = Random(4096, 31);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  g_preadv2_errno = EAGAIN;  // a read through the ring (not cached, as far as it knows)
  std::thread([&] {
    ScopedLoop loop;
    std::string buf(4096, '\0');
    iovec v{buf.data(), buf.size()};
    ASSERT_EQ(D()->read(&dev_, Io(5), &v, 1, 0), MODTGT_STS_ASYNC);
    ASSERT_EQ(loop.deferred.size(), 1u);
    // The eventfd callback reaps (and pushes the queued SQE) before the turn ends.
    ASSERT_TRUE(Eventually([] { return Done(Io(5)); }, std::chrono::seconds(20),
                           [&] { loop.FireWatches(); }));
    EXPECT_EQ(buf, data);
    D()->close(&dev_);
    open_ = false;
    EXPECT_EQ(loop.watches, 0);
    loop.EndTurn();  // the queued step runs on the ring the device left behind
    EXPECT_TRUE(loop.deferred.empty());
  }).join();
  EXPECT_EQ(Take(Io(5)).first, MODTGT_STS_OK);
}

// A plain buffered write is done inline (a pwritev in its callout) unless one took longer
// than kSlowInlineWriteNs: then buffered writes go through io_uring for
// kInlineWriteBackoffNs (an event loop is not held by a throttled device), and inline again
// after. On the test's clock (above), where a pwritev takes as long as the test says, so
// the slow write happens on demand; no sleeps. Whether a write went inline shows in the
// pwritev calls, not in the callout's status: where the file system takes buffered writes
// without blocking (tmpfs, XFS), io_uring completes them in the callout too.
TEST_F(UringTest, ASlowInlineWriteSendsBufferedWritesToIoUringForAWhile) {
  using bs_uring::kInlineWriteBackoffNs;
  using bs_uring::kSlowInlineWriteNs;
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  int n = 0;
  // Write n: 4 KiB at block n, starting at `now` on the test's clock, a pwritev taking
  // `takes`. Returns the number of pwritev calls it made (1: inline, 0: through io_uring)
  // once it has completed and its data is in the file.
  auto write_at = [&](uint64_t now, uint64_t takes) {
    n++;
    const std::string data = Random(4096, 100 + n);
    iovec v{const_cast<char*>(data.data()), data.size()};
    t_fake_now_ns = now;
    t_pwritev_takes_ns = takes;
    const int before = t_pwritevs;
    t_fake_clock = true;
    const int rc = D()->write(&dev_, Io(5000 + n), &v, 1, static_cast<uint64_t>(n) * 4096, 0);
    t_fake_clock = false;
    EXPECT_EQ(Wait(Io(5000 + n), rc), MODTGT_STS_OK) << "write " << n;
    EXPECT_EQ(FileBytes(static_cast<uint64_t>(n) * 4096, 4096), data) << "write " << n;
    return t_pwritevs - before;
  };
  const uint64_t t0 = uint64_t{1} << 40;  // any time: the clock is the test's
  EXPECT_EQ(write_at(t0, 1000), 1);
  EXPECT_EQ(write_at(t0 + 2000, kSlowInlineWriteNs / 2), 1);
  EXPECT_EQ(write_at(t0 + kSlowInlineWriteNs, 1000), 1)
      << "a write under the threshold starts no back-off";
  // The slow one: done inline itself; the back-off runs from its end.
  const uint64_t t1 = t0 + 10 * kSlowInlineWriteNs;
  const uint64_t slow = 2 * kSlowInlineWriteNs;
  EXPECT_EQ(write_at(t1, slow), 1);
  const uint64_t end = t1 + slow + kInlineWriteBackoffNs;
  for (uint64_t at : {t1 + slow, t1 + slow + kInlineWriteBackoffNs / 2, end - slow - 1}) {
    EXPECT_EQ(write_at(at, 1000), 0) << "inline " << (at - t1) << " ns after the slow write began";
  }
  // Over: inline again, and a fast inline write starts no new back-off.
  EXPECT_EQ(write_at(end, 1000), 1) << "still backing off when it should have ended";
  EXPECT_EQ(write_at(end + 2000, 1000), 1);
}

namespace {
// Threads of this process named "uring-wr" (the writer threads of bs_uring devices).
int WriterThreads() {
  int n = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "uring-wr") n++;
  }
  closedir(d);
  return n;
}

// Plain buffered writes of kWriterMin bytes or more go to the device's writer threads
// (uring_writers.cc): the callout returns ASYNC and a writer completes them through the
// host; a failing pwritev is a WRITE ERROR; close() joins the idle writers.
TEST_F(UringTest, LargePlainBufferedWritesGoToWriterThreads) {
  MakeFile(4 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  constexpr int kIos = 24;
  constexpr size_t kLen = 128 * 1024;
  static_assert(kLen >= bs_uring::kWriterMin);
  const std::string data = Random(kIos * kLen, 41);
  std::vector<iovec> iov(2 * kIos);
  for (int i = 0; i < kIos; i++) {
    char* p = const_cast<char*>(data.data()) + i * kLen;
    iov[2 * i] = iovec{p, 4096};  // two iovecs, as the core's segments may be
    iov[2 * i + 1] = iovec{p + 4096, kLen - 4096};
    ASSERT_EQ(D()->write(&dev_, Io(300 + i), &iov[2 * i], 2, static_cast<uint64_t>(i) * kLen, 0),
              MODTGT_STS_ASYNC);
  }
  const std::vector<modtgt_io*> ios = Ios(300, kIos);
  ASSERT_TRUE(Eventually([&] { return std::all_of(ios.begin(), ios.end(), Done); },
                         std::chrono::seconds(20), [] { std::this_thread::yield(); }));
  for (modtgt_io* io : ios) {
    const auto [st, on] = Take(io);
    EXPECT_EQ(st, MODTGT_STS_OK);
    EXPECT_NE(on, std::this_thread::get_id());
  }
  EXPECT_EQ(FileBytes(0, data.size()), data);
  // Past what any file can hold: pwritev fails (EINVAL/EFBIG), the write reports it.
  iovec bad{const_cast<char*>(data.data()), kLen};
  const int rc = D()->write(&dev_, Io(399), &bad, 1, 0x7fffffffffff0000ull, 0);
  EXPECT_EQ(Wait(Io(399), rc), MODTGT_STS_WRITE_ERROR);
  // FUA stays on io_uring (RWF_DSYNC) and still lands.
  const std::string f = Random(kLen, 42);
  iovec fv{const_cast<char*>(f.data()), kLen};
  EXPECT_EQ(Wait(Io(398), D()->write(&dev_, Io(398), &fv, 1, 0, MODTGT_IO_FUA)), MODTGT_STS_OK);
  EXPECT_EQ(FileBytes(0, kLen), f);
  EXPECT_EQ(WriterThreads(), bs_uring::kWriterThreads) << "the writes went through the writers";
  D()->close(&dev_);
  open_ = false;
  EXPECT_EQ(WriterThreads(), 0) << "close() joins the writer threads";
}
}  // namespace

// A small cached buffered read on a loop, the first I/O of its turn, is one
// preadv2(RWF_NOWAIT) in its callout, with no ring work; the turn's later reads go through
// the ring (one io_uring_enter for the turn), and after such a busy turn the next
// kInlineReadSkip reads do too. Reads larger than kInlineReadMax are not tried inline.
TEST_F(UringTest, OnALoopACachedSmallReadIsOnePreadv2InItsCallout) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string data = Random(1 << 20, 21);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  std::thread([&] {
    ScopedLoop loop;
    std::string buf(4096, '\0');
    iovec v{buf.data(), buf.size()};
    const int calls = g_preadv2_calls;
    ASSERT_EQ(D()->read(&dev_, Io(10), &v, 1, 8192), MODTGT_STS_OK);
    EXPECT_EQ(g_preadv2_calls - calls, 1);
    EXPECT_EQ(buf, data.substr(8192, 4096));
    EXPECT_EQ(loop.deferred.size(), 1u) << "the turn's inline read is marked until its end";
    // The turn's next read goes through the ring (a busy turn's reads: one submission).
    std::string buf1(4096, '\0');
    iovec v1{buf1.data(), buf1.size()};
    ASSERT_EQ(D()->read(&dev_, Io(11), &v1, 1, 4 * 4096), MODTGT_STS_ASYNC);
    EXPECT_EQ(g_preadv2_calls - calls, 1);
    loop.EndTurn();
    ASSERT_TRUE(TurnUntilDone(loop, Ios(11, 1), 20));
    EXPECT_EQ(Take(Io(11)).first, MODTGT_STS_OK);
    EXPECT_EQ(buf1, data.substr(4 * 4096, 4096));
    // That turn was busy (an inline read and ring I/O): the next kInlineReadSkip reads go
    // through the ring, one a turn, without a preadv2; then inline again.
    for (uint32_t i = 0; i < bs_uring::kInlineReadSkip; i++) {
      ASSERT_EQ(D()->read(&dev_, Io(1000 + i), &v1, 1, 6 * 4096), MODTGT_STS_ASYNC) << i;
      loop.EndTurn();
      ASSERT_TRUE(TurnUntilDone(loop, Ios(1000 + i, 1), 20));
      EXPECT_EQ(Take(Io(1000 + i)).first, MODTGT_STS_OK);
    }
    EXPECT_EQ(g_preadv2_calls - calls, 1);
    EXPECT_EQ(buf1, data.substr(6 * 4096, 4096));
    for (int i = 0; i < 3; i++) {  // quiet turns, one read each (QD1): inline every time
      ASSERT_EQ(D()->read(&dev_, Io(15), &v, 1, (5 + i) * 4096), MODTGT_STS_OK) << i;
      EXPECT_EQ(g_preadv2_calls - calls, 2 + i);
      EXPECT_EQ(buf, data.substr((5 + i) * 4096, 4096));
      loop.EndTurn();
    }
    // A FUA write goes through the ring at the end of the turn; the turn's first read is
    // still tried inline (concurrent commands have no order), and sees the data the write
    // has not replaced yet.
    const std::string w = Random(4096, 22);
    iovec wv{const_cast<char*>(w.data()), w.size()};
    ASSERT_EQ(D()->write(&dev_, Io(12), &wv, 1, 8192, MODTGT_IO_FUA), MODTGT_STS_ASYNC);
    const int before = g_preadv2_calls;
    std::string buf2(4096, '\0');
    iovec v2{buf2.data(), buf2.size()};
    ASSERT_EQ(D()->read(&dev_, Io(13), &v2, 1, 8192), MODTGT_STS_OK);
    EXPECT_EQ(g_preadv2_calls - before, 1);
    EXPECT_EQ(buf2, data.substr(8192, 4096));
    loop.EndTurn();
    ASSERT_TRUE(TurnUntilDone(loop, Ios(12, 1), 20));
    EXPECT_EQ(Take(Io(12)).first, MODTGT_STS_OK);
    EXPECT_EQ(FileBytes(8192, 4096), w);
    // More than kInlineReadMax: through the ring.
    std::string big(bs_uring::kInlineReadMax + 4096, '\0');
    iovec bv{big.data(), big.size()};
    const int before_big = g_preadv2_calls;
    const int rc = D()->read(&dev_, Io(14), &bv, 1, 65536);
    loop.EndTurn();
    ASSERT_EQ(Wait(Io(14), rc), MODTGT_STS_OK);
    EXPECT_EQ(g_preadv2_calls, before_big);
    EXPECT_EQ(big, data.substr(65536, big.size()));
    D()->close(&dev_);
    open_ = false;
  }).join();
}

// preadv2 reads only a part (the page cache holds the start of the range): the ring reads
// the rest into the right iovecs at the right offset; EAGAIN (nothing cached): the ring
// reads it all; EOPNOTSUPP (no RWF_NOWAIT here): the ring, and preadv2 is not tried again.
TEST_F(UringTest, APartlyCachedOrRefusedInlineReadIsFinishedByTheRing) {
  MakeFile(1 << 20);
  Config(path_);
  ASSERT_EQ(Open(), 0) << t_error;
  const std::string data = Random(1 << 20, 23);
  ASSERT_EQ(Write(1, data.data(), data.size(), 0), MODTGT_STS_OK);
  std::string a(1024, '\0'), b(4096, '\0'), c(4096 - 1024, '\0');
  iovec v[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
  auto joined = [&] { return a + b + c; };
  g_preadv2_max = 512;
  int calls = g_preadv2_calls;
  ASSERT_EQ(Wait(Io(20), D()->read(&dev_, Io(20), v, 3, 12288)), MODTGT_STS_OK);
  EXPECT_EQ(g_preadv2_calls - calls, 1);
  EXPECT_EQ(joined(), data.substr(12288, 8192));
  g_preadv2_max = 0;
  for (int e : {EAGAIN, EIO}) {
    g_preadv2_errno = e;
    a.assign(a.size(), '\0');
    calls = g_preadv2_calls;
    ASSERT_EQ(Wait(Io(21), D()->read(&dev_, Io(21), v, 3, 40960)), MODTGT_STS_OK) << e;
    EXPECT_EQ(g_preadv2_calls - calls, 1);
    EXPECT_EQ(joined(), data.substr(40960, 8192));
  }
  g_preadv2_errno = EOPNOTSUPP;
  calls = g_preadv2_calls;
  for (uint64_t off : {0u, 4096u, 8192u}) {
    ASSERT_EQ(Wait(Io(22), D()->read(&dev_, Io(22), v, 3, off)), MODTGT_STS_OK);
    EXPECT_EQ(joined(), data.substr(off, 8192));
  }
  EXPECT_EQ(g_preadv2_calls - calls, 1) << "tried again after EOPNOTSUPP";
}

// O_DIRECT reads never take the inline path.
TEST_F(UringTest, DirectReadsAreNotTriedInline) {
  MakeFile(1 << 20);
  Config(path_, 0, MODTGT_OFLAG_DIRECT);
  ASSERT_EQ(Open(), 0) << t_error;
  void* p = nullptr;
  ASSERT_EQ(posix_memalign(&p, 4096, 4096), 0);
  const int calls = g_preadv2_calls;
  EXPECT_EQ(Read(30, p, 4096, 0), MODTGT_STS_OK);
  EXPECT_EQ(g_preadv2_calls, calls);
  free(p);
}
namespace {
// O_DIRECT reads of kDirectReadWorkerMin bytes or more go to the writer threads (preadv)
// while the last one the device gave io_uring did not complete inside its submission (it
// went to the disk); reads of holes only complete there and stay on io_uring; every
// kDirectReadProbeEvery-th goes to io_uring to tell again. A callout's status tells which:
// a read that returns ASYNC was not reaped right after its submission. The data is right on
// either path: holes, written blocks, a bounce buffer, the end of a shrunk file (zeros
// after), and a failing read (an offset O_DIRECT refuses) is a READ ERROR.
TEST_F(UringTest, LargeDirectReadsFromTheDiskGoToWriterThreads) {
  constexpr size_t kLen = 128 * 1024;
  constexpr uint32_t kProbe = bs_uring::kDirectReadProbeEvery;
  static_assert(kLen >= bs_uring::kDirectReadWorkerMin && 4096 < bs_uring::kDirectReadWorkerMin);
  MakeFile(8 * kLen);
  std::string data(8 * kLen, '\0');  // the first 4 x kLen holes, then a block every 20 KiB
  {
    const int fd = open(path_.c_str(), O_WRONLY);
    for (size_t off = 4 * kLen + 4096; off < data.size(); off += 5 * 4096) {
      const std::string b = Random(4096, static_cast<unsigned>(off));
      data.replace(off, 4096, b);
      ASSERT_EQ(pwrite(fd, b.data(), b.size(), static_cast<off_t>(off)), 4096);
    }
    ASSERT_EQ(fsync(fd), 0);
    close(fd);
  }
  Config(path_, 0, MODTGT_OFLAG_DIRECT);
  ASSERT_EQ(Open(), 0) << t_error;
  auto* buf = reinterpret_cast<char*>(bs_uring::AlignedAlloc(kLen + 4096));
  ASSERT_NE(buf, nullptr);
  ASSERT_EQ(Read(1, buf, 4096, 4 * kLen + 4096), MODTGT_STS_OK);  // small: never counted
  EXPECT_EQ(std::string(buf, 4096), data.substr(4 * kLen + 4096, 4096));
  // The module's rule, followed here from each callout's status: a read goes to io_uring
  // when it is a probe (n % kProbe == 0) or the last read on io_uring was done inside its
  // submission (its callout returned the status); else to the threads.
  uint32_t n = 0;               // large reads so far
  bool last_async = false;      // the last read on io_uring returned ASYNC
  bool routed = false;          // a read went to the threads
  int on_uring[2] = {0, 0}, async[2] = {0, 0};  // reads on io_uring (of holes, of data)
  auto read = [&](uintptr_t id, char* p, uint64_t off) {
    iovec v{p, kLen};
    const bool to_threads = n++ % kProbe != 0 && last_async;
    const int rc = D()->read(&dev_, Io(id), &v, 1, off);
    if (to_threads) {
      routed = true;
    } else {
      last_async = rc == MODTGT_STS_ASYNC;
      on_uring[off >= 4 * kLen]++;
      async[off >= 4 * kLen] += last_async;
    }
    return Wait(Io(id), rc);
  };
  const int none = 0;
  // Holes: all done inside their submission (io_uring may punt one to io-wq now and then).
  for (uint64_t i = 0; i < 4 * kProbe; i++) {
    ASSERT_EQ(read(100 + i, buf, i % 4 * kLen), MODTGT_STS_OK);
    ASSERT_EQ(std::string(buf, kLen), std::string(kLen, '\0'));
    ASSERT_EQ(WriterThreads(), routed ? bs_uring::kWriterThreads : none) << i;
  }
  EXPECT_LT(async[0], on_uring[0]) << "no read of holes was done inside its submission";
  // Holes and data, from the disk: after a read that was not done at submission, the next
  // ones go to the threads.
  for (uint64_t i = 0; i < 3 * kProbe; i++) {
    const uint64_t off = (4 + i % 4) * kLen;
    ASSERT_EQ(read(200 + i, buf, off), MODTGT_STS_OK);
    ASSERT_EQ(std::string(buf, kLen), data.substr(off, kLen));
    ASSERT_EQ(WriterThreads(), routed ? bs_uring::kWriterThreads : none) << i;
  }
  // (Only a file system that completes O_DIRECT reads inside their submission, as tmpfs,
  // keeps every read on io_uring.)
  if (async[1] > 0) {
    EXPECT_TRUE(routed);
  }
  ASSERT_EQ(read(300, buf + 1, 5 * kLen), MODTGT_STS_OK);  // unaligned: bounced
  EXPECT_EQ(std::string(buf + 1, kLen), data.substr(5 * kLen, kLen));
  ASSERT_EQ(truncate(path_.c_str(), static_cast<off_t>(7 * kLen + 8192)), 0);
  ASSERT_EQ(read(301, buf, 7 * kLen), MODTGT_STS_OK);
  EXPECT_EQ(std::string(buf, 8192), data.substr(7 * kLen, 8192));
  EXPECT_EQ(std::string(buf + 8192, kLen - 8192), std::string(kLen - 8192, '\0'));
  EXPECT_EQ(read(302, buf, 4 * kLen + 513), MODTGT_STS_READ_ERROR);
  std::free(buf);
}
}  // namespace
