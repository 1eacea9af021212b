// SPDX-License-Identifier: Apache-2.0
//
// bs_rbd against a fake host (no daemon) and a real single-node Ceph cluster (started by
// rbd_test.sh with tests/e2e/ceph.sh; RBD_TEST_CONF, RBD_TEST_KEYRING and RBD_TEST_POOL
// name it). rbd.cc is compiled into this binary and driven through its descriptor only, as
// the daemon does; the test checks what reached the image with its own librbd client.
// Covered here rather than through iSCSI: check_config reasons and its lack of side
// effects, more iovecs than librbd takes, FUA / WCE=0, partial-object UNMAP zeros, native
// and emulated COMPARE AND WRITE, size changes made outside, a config string switch and its
// rollback, and the lock group with two devices (two cluster clients) on one image.
#include <rados/librados.h>
#include <rbd/librbd.h>
#include <sys/uio.h>

#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/module_host.h"
#include "modtgt/module.h"

namespace {

using modtgt::fake_host::t_error;

// bs_rbd's messages go to stderr: INFO and above, everything with $RBD_TEST_DEBUG set.
void HostLog(modtgt_log_level level, const char* fmt, ...) {
  if (level > MODTGT_LOG_INFO && !std::getenv("RBD_TEST_DEBUG")) return;
  va_list ap;
  va_start(ap, fmt);
  std::fprintf(stderr, "  [bs_rbd] ");
  std::vfprintf(stderr, fmt, ap);
  std::fprintf(stderr, "\n");
  va_end(ap);
}
modtgt_host MakeHost() {
  modtgt_host h = modtgt::fake_host::MakeHost();
  h.log = HostLog;
  return h;
}
const modtgt_host g_host = MakeHost();
const modtgt_backing_store* D() { return modtgt::fake_host::Descriptor(&g_host); }

std::atomic<uintptr_t> g_next_io{1};
modtgt_io* NewIo() { return reinterpret_cast<modtgt_io*>(g_next_io.fetch_add(1) * 16); }

// Waits for an async I/O (or returns the synchronous status).
int Wait(modtgt_io* io, int rc) {
  return modtgt::fake_host::Wait(io, rc, std::chrono::seconds(60));
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string Random(size_t n, unsigned seed) {
  std::mt19937 g(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(g());
  return s;
}

// Polls `pred` for up to `seconds`.
template <class F>
bool Eventually(F pred, int seconds = 20) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

// The test's own librbd client: creates images, reads what the module wrote.
class Admin {
 public:
  Admin() {
    EXPECT_EQ(rados_create(&cluster_, "admin"), 0);
    EXPECT_EQ(rados_conf_read_file(cluster_, Env("RBD_TEST_CONF").c_str()), 0);
    EXPECT_EQ(rados_conf_set(cluster_, "keyring", Env("RBD_TEST_KEYRING").c_str()), 0);
    EXPECT_EQ(rados_connect(cluster_), 0);
    EXPECT_EQ(rados_ioctx_create(cluster_, Env("RBD_TEST_POOL").c_str(), &io_), 0);
  }
  ~Admin() {
    rados_ioctx_destroy(io_);
    rados_shutdown(cluster_);
  }
  void Create(const std::string& name, uint64_t size, bool exclusive_lock = true) {
    rbd_image_options_t opts;
    rbd_image_options_create(&opts);
    uint64_t features = RBD_FEATURE_LAYERING | (exclusive_lock ? RBD_FEATURE_EXCLUSIVE_LOCK : 0);
    rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FEATURES, features);
    rbd_image_options_set_uint64(opts, RBD_IMAGE_OPTION_FORMAT, 2);
    ASSERT_EQ(rbd_create4(io_, name.c_str(), size, opts), 0) << name;
    rbd_image_options_destroy(opts);
  }
  std::string Read(const std::string& name, uint64_t off, size_t n, const char* snap = nullptr) {
    rbd_image_t img;
    std::string s(n, '\0');
    EXPECT_EQ(rbd_open_read_only(io_, name.c_str(), &img, snap), 0);
    EXPECT_EQ(rbd_read(img, off, n, s.data()), static_cast<ssize_t>(n));
    rbd_close(img);
    return s;
  }
  void Write(const std::string& name, uint64_t off, const std::string& data) {
    rbd_image_t img;
    ASSERT_EQ(rbd_open(io_, name.c_str(), &img, nullptr), 0);
    ASSERT_EQ(rbd_write(img, off, data.size(), data.data()), static_cast<ssize_t>(data.size()));
    rbd_close(img);
  }
  uint64_t Size(const std::string& name) {
    rbd_image_t img;
    uint64_t size = 0;
    EXPECT_EQ(rbd_open_read_only(io_, name.c_str(), &img, nullptr), 0);
    EXPECT_EQ(rbd_get_size(img, &size), 0);
    rbd_close(img);
    return size;
  }
  void Resize(const std::string& name, uint64_t size) {
    rbd_image_t img;
    ASSERT_EQ(rbd_open(io_, name.c_str(), &img, nullptr), 0);
    // The module holds the exclusive lock (and refuses to hand it over): break it? No --
    // a resize is a maintenance operation librbd forwards to the lock owner.
    ASSERT_EQ(rbd_resize(img, size), 0);
    rbd_close(img);
  }
  void Snap(const std::string& name, const std::string& snap) {
    rbd_image_t img;
    ASSERT_EQ(rbd_open(io_, name.c_str(), &img, nullptr), 0);
    ASSERT_EQ(rbd_snap_create(img, snap.c_str()), 0);
    rbd_close(img);
  }
  size_t LockOwners(const std::string& name, std::string* first = nullptr) {
    rbd_image_t img;
    // (librbd answers EINVAL to rbd_lock_get_owners on a read-only open.)
    EXPECT_EQ(rbd_open(io_, name.c_str(), &img, nullptr), 0);
    rbd_lock_mode_t mode;
    char* owners[8];
    size_t n = 8;
    int r = rbd_lock_get_owners(img, &mode, owners, &n);
    rbd_close(img);
    if (r == -ENOENT) return 0;
    EXPECT_EQ(r, 0);
    if (first && n > 0) *first = owners[0];
    rbd_lock_get_owners_cleanup(owners, n);
    return n;
  }

 private:
  rados_t cluster_ = nullptr;
  rados_ioctx_t io_ = nullptr;
};

Admin& A() {
  static Admin* admin = new Admin();
  return *admin;
}

// One device as the daemon would hold it.
class Dev {
 public:
  explicit Dev(const std::string& path, uint32_t readonly = 0, uint32_t block = 512,
               uint64_t size = 0, const std::string& bsopts = "") {
    d_.path = path;
    d_.cfgstring = "rbd/" + path;
    d_.bsopts = bsopts;
    d_.config.struct_size = sizeof(modtgt_dev_config);
    d_.config.block_size = block;
    d_.config.cfgstring = d_.cfgstring.c_str();
    d_.config.path = d_.path.c_str();
    d_.config.bsopts = d_.bsopts.c_str();
    d_.config.readonly = readonly;
    d_.config.size = size;
    d_.config.write_cache = 1;
    d_.config.wwn = "";
  }
  ~Dev() { Close(); }
  int Check() { return D()->check_config(&d_.config); }
  int Open() {
    const int rc = D()->open(&d_, 0);
    open_ = rc == 0;
    return rc;
  }
  void Close() {
    if (open_) D()->close(&d_);
    open_ = false;
  }
  int Write(const std::string& data, uint64_t off, uint32_t flags = 0) {
    iovec v{const_cast<char*>(data.data()), data.size()};
    modtgt_io* io = NewIo();
    return Wait(io, D()->write(&d_, io, &v, 1, off, flags));
  }
  int Read(std::string* out, size_t n, uint64_t off) {
    out->assign(n, '\0');
    iovec v{out->data(), n};
    modtgt_io* io = NewIo();
    return Wait(io, D()->read(&d_, io, &v, 1, off));
  }
  int Flush() {
    modtgt_io* io = NewIo();
    return Wait(io, D()->flush(&d_, io));
  }
  int Unmap(uint64_t off, uint64_t len) {
    modtgt_io* io = NewIo();
    return Wait(io, D()->unmap(&d_, io, off, len));
  }
  int WriteSame(const std::string& block, uint64_t off, uint64_t len) {
    iovec v{const_cast<char*>(block.data()), block.size()};
    modtgt_io* io = NewIo();
    return Wait(io, D()->write_same(&d_, io, &v, 1, off, len));
  }
  int Caw(const std::string& cmp, const std::string& data, uint64_t off) {
    iovec v[2] = {{const_cast<char*>(cmp.data()), cmp.size()},
                  {const_cast<char*>(data.data()), data.size()}};
    modtgt_io* io = NewIo();
    return Wait(io, D()->caw(&d_, io, v, 2, off, cmp.size()));
  }
  int Reconfig(const modtgt_reconfig& rc) { return D()->reconfig(&d_, &rc); }
  int Resize(uint64_t size) {
    modtgt_reconfig rc{};
    rc.struct_size = sizeof(rc);
    rc.what = MODTGT_RECONFIG_SIZE;
    rc.size = size;
    return Reconfig(rc);
  }
  int SetWriteCache(bool on) {
    modtgt_reconfig rc{};
    rc.struct_size = sizeof(rc);
    rc.what = MODTGT_RECONFIG_WRITE_CACHE;
    rc.write_cache = on;
    d_.config.write_cache = on;
    return Reconfig(rc);
  }
  int Lock(uint16_t tag) { return D()->lock(&d_, tag); }
  int Unlock() { return D()->unlock(&d_); }
  int LockState() { return D()->get_lock_state(&d_); }
  int LockTag(uint16_t* tag) { return D()->get_lock_tag(&d_, tag); }
  size_t Events(int type) {
    std::lock_guard<std::mutex> l(d_.mu);
    size_t n = 0;
    for (const auto& e : d_.events) n += e.first == type;
    return n;
  }
  std::string LastEvent() {
    std::lock_guard<std::mutex> l(d_.mu);
    return d_.events.empty() ? "" : d_.events.back().second;
  }
  uint64_t size() const { return d_.size.load(); }
  modtgt_dev* raw() { return &d_; }

 private:
  modtgt_dev d_;
  bool open_ = false;
};

std::string Opts() {
  return ";conf=" + Env("RBD_TEST_CONF") + ";id=admin;keyring=" + Env("RBD_TEST_KEYRING");
}
std::string Path(const std::string& image, const std::string& extra = "") {
  return Env("RBD_TEST_POOL") + "/" + image + extra + Opts();
}
std::string NewImage(const char* base, uint64_t size, bool exclusive_lock = true) {
  static int n = 0;
  std::string name = std::string(base) + std::to_string(++n);
  A().Create(name, size, exclusive_lock);
  return name;
}

class RbdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Env("RBD_TEST_CONF").empty()) GTEST_SKIP() << "run through rbd_test.sh (a cluster)";
    ASSERT_EQ(D()->load(), 0) << t_error;
  }
};

TEST_F(RbdTest, CheckConfigGivesReasonsAndChangesNothing) {
  const std::string img = NewImage("check", 8 << 20);
  Dev missing_image(Path("nosuchimage"));
  EXPECT_EQ(missing_image.Check(), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("does not exist"), std::string::npos) << t_error;
  Dev missing_pool("nosuchpool/x" + Opts());
  EXPECT_EQ(missing_pool.Check(), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("pool 'nosuchpool' does not exist"), std::string::npos) << t_error;
  Dev missing_snap(Path(img, "@nosnap"), 1);
  EXPECT_EQ(missing_snap.Check(), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("has no snapshot 'nosnap'"), std::string::npos) << t_error;
  Dev snap_rw(Path(img, "@s"));
  EXPECT_EQ(snap_rw.Check(), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("readonly=1"), std::string::npos) << t_error;
  Dev bad_conf(Env("RBD_TEST_POOL") + "/" + img + ";conf=/nonexistent/ceph.conf");
  EXPECT_EQ(bad_conf.Check(), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("/nonexistent/ceph.conf"), std::string::npos) << t_error;
  Dev bad_user(Env("RBD_TEST_POOL") + "/" + img + ";conf=" + Env("RBD_TEST_CONF") +
               ";id=nobody;keyring=" + Env("RBD_TEST_KEYRING"));
  EXPECT_LT(bad_user.Check(), 0);
  EXPECT_NE(t_error.find("client.nobody"), std::string::npos) << t_error;
  Dev bad_opt(Path(img, ";frobnicate=1"));
  EXPECT_EQ(bad_opt.Check(), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("unknown option 'frobnicate'"), std::string::npos) << t_error;
  Dev ro_grow(Path(img), 1, 512, 16 << 20);
  EXPECT_EQ(ro_grow.Check(), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("read-only"), std::string::npos) << t_error;
  Dev ok(Path(img), 0, 512, 16 << 20);
  EXPECT_EQ(ok.Check(), 0) << t_error;
  EXPECT_EQ(A().Size(img), 8u << 20) << "check_config must not resize";
  EXPECT_EQ(A().LockOwners(img), 0u) << "check_config must not take the lock";
}

TEST_F(RbdTest, OpenGrowsToSizeTakesLockAndKeepsData) {
  const std::string img = NewImage("open", 4 << 20);
  Dev d(Path(img), 0, 512, 8 << 20);
  ASSERT_EQ(d.Open(), 0) << t_error;
  EXPECT_EQ(d.size(), 8u << 20);
  EXPECT_EQ(A().Size(img), 8u << 20);
  EXPECT_EQ(d.LockState(), MODTGT_LOCK_LOCKED);
  EXPECT_EQ(A().LockOwners(img), 1u);
  uint16_t tag = 99;
  EXPECT_EQ(d.LockTag(&tag), MODTGT_STS_OK);
  EXPECT_EQ(tag, 0);
  const std::string data = Random(1 << 20, 1);
  ASSERT_EQ(d.Write(data, 3 << 20), MODTGT_STS_OK);
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 3 << 20, 1 << 20), data);
  std::string back;
  ASSERT_EQ(d.Read(&back, 1 << 20, 3 << 20), MODTGT_STS_OK);
  EXPECT_EQ(back, data);
  d.Close();
  EXPECT_EQ(A().LockOwners(img), 0u) << "close releases the lock";
}

TEST_F(RbdTest, ManyIovecsFuaAndWriteCacheOff) {
  const std::string img = NewImage("iov", 8 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  // More iovecs than librbd takes in one call (IOV_MAX = 1024): 2048 x 512 bytes.
  const std::string data = Random(1 << 20, 2);
  std::vector<iovec> v;
  for (size_t off = 0; off < data.size(); off += 512) {
    v.push_back(iovec{const_cast<char*>(data.data() + off), 512});
  }
  modtgt_io* io = NewIo();
  ASSERT_EQ(Wait(io, D()->write(d.raw(), io, v.data(), static_cast<int>(v.size()), 0,
                                MODTGT_IO_FUA)),
            MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 0, data.size()), data) << "a FUA write is on the OSDs at completion";
  std::string back(data.size(), '\0');
  std::vector<iovec> r;
  for (size_t off = 0; off < back.size(); off += 512) r.push_back(iovec{back.data() + off, 512});
  io = NewIo();
  ASSERT_EQ(Wait(io, D()->read(d.raw(), io, r.data(), static_cast<int>(r.size()), 0)),
            MODTGT_STS_OK);
  EXPECT_EQ(back, data);
  ASSERT_EQ(d.SetWriteCache(false), 0);
  const std::string more = Random(64 << 10, 3);
  ASSERT_EQ(d.Write(more, 4 << 20), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 4 << 20, more.size()), more) << "WCE=0 writes are stable";
}

TEST_F(RbdTest, UnmapReadsZerosEvenInsideAnObject) {
  const std::string img = NewImage("unmap", 8 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string data = Random(8 << 20, 4);
  ASSERT_EQ(d.Write(data, 0), MODTGT_STS_OK);
  ASSERT_EQ(d.Unmap(4 << 20, 4 << 20), MODTGT_STS_OK);     // a whole object
  ASSERT_EQ(d.Unmap(512 * 3, 4096), MODTGT_STS_OK);         // inside the first one
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  const std::string img_data = A().Read(img, 0, 8 << 20);
  EXPECT_EQ(img_data.substr(0, 1536), data.substr(0, 1536));
  EXPECT_EQ(img_data.substr(1536, 4096), std::string(4096, '\0'));
  EXPECT_EQ(img_data.substr(1536 + 4096, (4 << 20) - 1536 - 4096),
            data.substr(1536 + 4096, (4 << 20) - 1536 - 4096));
  EXPECT_EQ(img_data.substr(4 << 20), std::string(4 << 20, '\0'));
}

TEST_F(RbdTest, WriteSamePatternAndZeros) {
  const std::string img = NewImage("ws", 8 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string block = Random(512, 5);
  ASSERT_EQ(d.WriteSame(block, 1 << 20, 3 << 20), MODTGT_STS_OK);
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  std::string expect;
  for (int i = 0; i < (3 << 20) / 512; i++) expect += block;
  EXPECT_EQ(A().Read(img, 1 << 20, 3 << 20), expect);
  ASSERT_EQ(d.WriteSame(std::string(512, '\0'), 2 << 20, 512 * 10), MODTGT_STS_OK);
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 2 << 20, 5120), std::string(5120, '\0'));
  EXPECT_EQ(A().Read(img, (2 << 20) + 5120, 512), block);
}

TEST_F(RbdTest, CompareAndWriteNative512) {
  const std::string img = NewImage("caw", 4 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string a = Random(512, 6), b = Random(512, 7), c = Random(512, 8);
  ASSERT_EQ(d.Write(a, 4096), MODTGT_STS_OK);
  EXPECT_EQ(d.Caw(a, b, 4096), MODTGT_STS_OK);
  EXPECT_EQ(d.Caw(a, c, 4096), MODTGT_STS_MISCOMPARE);
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 4096, 512), b);
}

TEST_F(RbdTest, CompareAndWriteEmulated4096Serialised) {
  const std::string img = NewImage("caw4k", 4 << 20);
  Dev d(Path(img), 0, 4096);
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string a = Random(4096, 9), b = Random(4096, 10);
  ASSERT_EQ(d.Write(a, 8192), MODTGT_STS_OK);
  EXPECT_EQ(d.Caw(b, a, 8192), MODTGT_STS_MISCOMPARE);
  EXPECT_EQ(A().Read(img, 8192, 4096), a) << "a miscompare writes nothing";
  // 16 concurrent CAWs all comparing with `a` and writing distinct data: exactly one wins.
  std::vector<std::string> datas;
  for (int i = 0; i < 16; i++) datas.push_back(Random(4096, 100 + i));
  std::vector<modtgt_io*> ios;
  std::vector<std::vector<iovec>> vs(16);
  for (int i = 0; i < 16; i++) {
    vs[i] = {{const_cast<char*>(a.data()), 4096}, {const_cast<char*>(datas[i].data()), 4096}};
    ios.push_back(NewIo());
  }
  std::vector<int> rcs(16);
  for (int i = 0; i < 16; i++) rcs[i] = D()->caw(d.raw(), ios[i], vs[i].data(), 2, 8192, 4096);
  int ok = 0, miscompare = 0, winner = -1;
  for (int i = 0; i < 16; i++) {
    const int st = Wait(ios[i], rcs[i]);
    if (st == MODTGT_STS_OK) {
      ok++;
      winner = i;
    }
    if (st == MODTGT_STS_MISCOMPARE) miscompare++;
  }
  EXPECT_EQ(ok, 1);
  EXPECT_EQ(miscompare, 15);
  ASSERT_GE(winner, 0);
  EXPECT_EQ(A().Read(img, 8192, 4096), datas[winner]);
}

TEST_F(RbdTest, ResizeByAdminAndFromOutside) {
  const std::string img = NewImage("resize", 8 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  EXPECT_EQ(d.size(), 8u << 20);
  ASSERT_EQ(d.Resize(16 << 20), 0) << t_error;
  EXPECT_EQ(A().Size(img), 16u << 20);
  EXPECT_EQ(d.size(), 16u << 20);
  ASSERT_EQ(d.Resize(12 << 20), 0) << t_error;
  EXPECT_EQ(A().Size(img), 12u << 20);
  EXPECT_EQ(d.Resize(1000), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("size 1000 is not a positive multiple of the"), std::string::npos)
      << t_error;
  EXPECT_EQ(d.Resize(0), MODTGT_EINVAL);
  // Resized by another client (librbd forwards the request to the lock owner, us): the
  // module sees the header update and sets the new size.
  A().Resize(img, 20 << 20);
  EXPECT_TRUE(Eventually([&] { return d.size() == (20u << 20); })) << d.size();
}

TEST_F(RbdTest, ReadPastTheEndOfAShrunkImageIsZeros) {
  const std::string img = NewImage("shrunk", 4 << 20);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string data = Random(8192, 19);
  ASSERT_EQ(d.Write(data, (2 << 20) - 4096, MODTGT_IO_FUA), MODTGT_STS_OK);
  A().Resize(img, 2 << 20);  // shrunk by another client; the LUN follows a moment later
  // Whatever the LUN's size: librbd clips the read at the image's end, the rest is zeros.
  std::string a(4096, '\xff'), b(4096, '\xff');
  iovec v[2] = {{a.data(), a.size()}, {b.data(), b.size()}};
  modtgt_io* io = NewIo();
  ASSERT_EQ(Wait(io, D()->read(d.raw(), io, v, 2, (2 << 20) - 4096)), MODTGT_STS_OK);
  EXPECT_EQ(a, data.substr(0, 4096));
  EXPECT_EQ(b, std::string(4096, '\0'));
  EXPECT_TRUE(Eventually([&] { return d.size() == (2u << 20); })) << d.size();
}

TEST_F(RbdTest, ConfigStringSwitchAndRollback) {
  const std::string img1 = NewImage("sw", 4 << 20), img2 = NewImage("sw", 6 << 20);
  Dev d(Path(img1));
  ASSERT_EQ(d.Open(), 0) << t_error;
  const std::string path2 = Path(img2);
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_CFGSTRING;
  const std::string cfg2 = "rbd/" + path2;
  rc.cfgstring = cfg2.c_str();
  rc.path = path2.c_str();
  ASSERT_EQ(d.Reconfig(rc), 0) << t_error;
  EXPECT_EQ(d.size(), 6u << 20);
  EXPECT_EQ(A().LockOwners(img1), 0u);
  EXPECT_EQ(A().LockOwners(img2), 1u);
  const std::string data = Random(4096, 11);
  ASSERT_EQ(d.Write(data, 0), MODTGT_STS_OK);
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img2, 0, 4096), data);
  const std::string bad = Path("nosuchimage");
  const std::string badcfg = "rbd/" + bad;
  rc.cfgstring = badcfg.c_str();
  rc.path = bad.c_str();
  EXPECT_EQ(d.Reconfig(rc), MODTGT_ENOENT);
  EXPECT_NE(t_error.find("does not exist"), std::string::npos) << t_error;
  ASSERT_EQ(d.Write(data, 4096), MODTGT_STS_OK) << "still on " << img2;
  ASSERT_EQ(d.Flush(), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img2, 4096, 4096), data);
}

TEST_F(RbdTest, SnapshotIsReadOnlyAndFrozen) {
  const std::string img = NewImage("snap", 4 << 20);
  const std::string before = Random(4096, 12), after = Random(4096, 13);
  A().Write(img, 0, before);
  A().Snap(img, "s1");
  A().Write(img, 0, after);
  Dev s(Path(img, "@s1"), 1);
  ASSERT_EQ(s.Check(), 0) << t_error;
  ASSERT_EQ(s.Open(), 0) << t_error;
  EXPECT_EQ(s.LockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_EQ(s.Lock(1), MODTGT_STS_UNSUPPORTED);
  std::string back;
  ASSERT_EQ(s.Read(&back, 4096, 0), MODTGT_STS_OK);
  EXPECT_EQ(back, before);
  EXPECT_EQ(s.Write(after, 0), MODTGT_STS_BUSY) << "the module never writes a snapshot";
  EXPECT_EQ(A().LockOwners(img), 0u);
}

TEST_F(RbdTest, LockGroupTwoGateways) {
  const std::string img = NewImage("lock", 4 << 20);
  Dev a(Path(img)), b(Path(img));
  ASSERT_EQ(a.Open(), 0) << t_error;
  EXPECT_EQ(a.LockState(), MODTGT_LOCK_LOCKED);
  const std::string x = Random(4096, 14), y = Random(4096, 15), z = Random(4096, 16);
  ASSERT_EQ(a.Write(x, 0, MODTGT_IO_FUA), MODTGT_STS_OK);
  std::string a_owner;
  ASSERT_EQ(A().LockOwners(img, &a_owner), 1u);

  // Gateway B opens with lock=take: A's lock is broken (A is blocklisted).
  ASSERT_EQ(b.Open(), 0) << t_error;
  EXPECT_EQ(b.LockState(), MODTGT_LOCK_LOCKED);
  std::string b_owner;
  ASSERT_EQ(A().LockOwners(img, &b_owner), 1u);
  EXPECT_NE(a_owner, b_owner);
  EXPECT_TRUE(Eventually([&] { return a.Events(MODTGT_EVENT_LOCK_LOST) == 1; }))
      << "A did not report the lost lock";
  EXPECT_EQ(a.LockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_NE(a.LastEvent().find("lost"), std::string::npos) << a.LastEvent();
  EXPECT_EQ(a.Write(y, 0, MODTGT_IO_FUA), MODTGT_STS_NOT_LOCK_OWNER);
  ASSERT_EQ(b.Write(z, 4096, MODTGT_IO_FUA), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 0, 4096), x) << "the gateway that lost the lock wrote";
  EXPECT_EQ(A().Read(img, 4096, 4096), z);
  uint16_t tag = 0;
  EXPECT_EQ(b.LockTag(&tag), MODTGT_STS_OK);
  EXPECT_EQ(tag, 0);

  // A takes it back with a tag (reconnecting: its old client is blocklisted).
  EXPECT_EQ(a.Lock(7), MODTGT_STS_OK) << "lock() after a loss";
  EXPECT_EQ(a.LockState(), MODTGT_LOCK_LOCKED);
  EXPECT_TRUE(Eventually([&] { return b.Events(MODTGT_EVENT_LOCK_LOST) == 1; }));
  EXPECT_EQ(b.Write(y, 4096), MODTGT_STS_NOT_LOCK_OWNER);
  ASSERT_EQ(a.Write(y, 0, MODTGT_IO_FUA), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 0, 4096), y);
  EXPECT_EQ(A().Read(img, 4096, 4096), z);
  // B reconnects by itself (its old client is blocklisted) and, standing by, sees A's tag.
  EXPECT_TRUE(Eventually([&] { return b.LockTag(&tag) == MODTGT_STS_OK && tag == 7; }))
      << "B's view of the holder's tag: " << tag;
  std::string back;
  EXPECT_TRUE(Eventually([&] { return b.Read(&back, 4096, 0) == MODTGT_STS_OK; }));
  EXPECT_EQ(back, y) << "a standby gateway reads";

  // Released: nobody holds it, and writes wait for lock() again.
  EXPECT_EQ(a.Unlock(), MODTGT_STS_OK);
  EXPECT_EQ(a.LockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_EQ(a.LockTag(&tag), MODTGT_STS_NOT_HANDLED);
  EXPECT_EQ(a.Write(x, 0), MODTGT_STS_NOT_LOCK_OWNER);
  EXPECT_EQ(a.Lock(3), MODTGT_STS_OK);
  EXPECT_EQ(a.Write(x, 0, MODTGT_IO_FUA), MODTGT_STS_OK);
}

TEST_F(RbdTest, StandbyWaitsForLock) {
  const std::string img = NewImage("standby", 4 << 20);
  Dev d(Path(img, ";lock=standby"));
  ASSERT_EQ(d.Open(), 0) << t_error;
  EXPECT_EQ(d.LockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_EQ(A().LockOwners(img), 0u);
  const std::string x = Random(4096, 17);
  EXPECT_EQ(d.Write(x, 0), MODTGT_STS_NOT_LOCK_OWNER);
  std::string back;
  EXPECT_EQ(d.Read(&back, 4096, 0), MODTGT_STS_OK) << "reads need no lock";
  EXPECT_EQ(d.Lock(2), MODTGT_STS_OK);
  EXPECT_EQ(d.LockState(), MODTGT_LOCK_LOCKED);
  EXPECT_EQ(d.Write(x, 0, MODTGT_IO_FUA), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 0, 4096), x);
}

TEST_F(RbdTest, ImageWithoutExclusiveLock) {
  const std::string img = NewImage("nolock", 4 << 20, /*exclusive_lock=*/false);
  Dev d(Path(img));
  ASSERT_EQ(d.Open(), 0) << t_error;
  EXPECT_EQ(d.LockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_EQ(d.Lock(1), MODTGT_STS_UNSUPPORTED);
  uint16_t tag;
  EXPECT_EQ(d.LockTag(&tag), MODTGT_STS_NOT_HANDLED);
  const std::string x = Random(4096, 18);
  EXPECT_EQ(d.Write(x, 0, MODTGT_IO_FUA), MODTGT_STS_OK);
  EXPECT_EQ(A().Read(img, 0, 4096), x);
}

}  // namespace
