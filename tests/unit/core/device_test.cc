// SPDX-License-Identifier: Apache-2.0
#include "core/device.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/io_loop.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/module_registry.h"
#include "env/event_loop.h"
#include "scsi/command.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

std::string TestModule(const std::string& name) {
  return std::string(MODTGT_TEST_MODULE_DIR) + "/backing-store/bs_" + name + ".so";
}

using testing::IoLoop;

DeviceConfig Cfg(const std::string& bstype, const std::string& cfgstring,
                 const std::string& user = "") {
  DeviceConfig c;
  c.bstype = bstype;
  c.cfgstring = cfgstring;
  c.user = user;
  return c;
}

// Loads bs_`module` into `reg` and opens a device with `cfg` on it.
Result<std::unique_ptr<scsi::Backend>> LoadAndOpen(ModuleRegistry* reg, const std::string& module,
                                                   const DeviceConfig& cfg) {
  if (Status s = reg->LoadFile(TestModule(module)); !s.ok()) return s;
  return reg->OpenDevice(cfg);
}

// Loads bs_ctest into `reg` and opens a RAM device of `size` bytes (0: the module's default).
Result<std::unique_ptr<scsi::Backend>> OpenCtestRam(ModuleRegistry* reg, uint64_t size = 0,
                                                    const std::string& user = "") {
  DeviceConfig cfg = Cfg("ctest", "ram", user);
  cfg.size = size;
  return LoadAndOpen(reg, "ctest", cfg);
}

Device* AsDevice(const Result<std::unique_ptr<scsi::Backend>>& dev) {
  return dynamic_cast<Device*>(dev->get());
}

// A counter the test modules export (ctest_open_devices, ...), looked up in the loaded module.
// The module stays loaded while this is alive.
class ModuleCounter {
 public:
  ModuleCounter(const std::string& module, const char* symbol)
      : handle_(dlopen(TestModule(module).c_str(), RTLD_NOW | RTLD_NOLOAD)),
        value_(handle_ ? static_cast<int*>(dlsym(handle_, symbol)) : nullptr) {}
  ~ModuleCounter() {
    if (handle_) dlclose(handle_);
  }
  ModuleCounter(const ModuleCounter&) = delete;
  ModuleCounter& operator=(const ModuleCounter&) = delete;
  bool ok() const { return value_ != nullptr; }
  int operator*() const { return __atomic_load_n(value_, __ATOMIC_SEQ_CST); }

 private:
  void* handle_;
  int* value_;
};

// Prepares `cmd` as a read of buf.size() bytes at `offset` into `buf`.
void PrepareRead(IoLoop& loop, IoLoop::Cmd* cmd, std::vector<uint8_t>& buf, uint64_t offset = 0) {
  loop.Prepare(cmd, scsi::IoOp::kRead);
  cmd->io.iov[0] = iovec{buf.data(), buf.size()};
  cmd->io.iovcnt = 1;
  cmd->io.offset = offset;
}

TEST(Device, FillDevConfigStripsOnlyTheModulesSubtype) {
  DeviceConfig c = Cfg("rdwr", "rdwr//srv/disk.img");
  c.bsopts = "a=b";
  c.oflags = MODTGT_OFLAG_DIRECT;
  c.readonly = true;
  c.size = 4096;
  c.block_size = 4096;
  c.write_cache = false;
  modtgt_dev d;
  FillDevConfig(c, "rdwr", &d);
  EXPECT_EQ(d.config.struct_size, sizeof(modtgt_dev_config));
  EXPECT_STREQ(d.config.cfgstring, "rdwr//srv/disk.img");
  EXPECT_STREQ(d.config.path, "/srv/disk.img");
  EXPECT_STREQ(d.config.bsopts, "a=b");
  EXPECT_EQ(d.config.oflags, MODTGT_OFLAG_DIRECT);
  EXPECT_EQ(d.config.readonly, 1u);
  EXPECT_EQ(d.config.size, 4096u);
  EXPECT_EQ(d.config.block_size, 4096u);
  EXPECT_EQ(d.config.write_cache, 0u);
  FillDevConfig(Cfg("rdwr", "null/x"), "rdwr", &d);
  EXPECT_STREQ(d.config.path, "null/x");
  FillDevConfig(Cfg("rdwr", ""), "rdwr", &d);
  EXPECT_STREQ(d.config.path, "");
  EXPECT_STREQ(d.config.bsopts, "");
}

TEST(Device, MissingCalloutsCompleteWithoutTheModule) {
  ModuleRegistry reg;
  auto dev = LoadAndOpen(&reg, "short", Cfg("short", "x"));  // read + write only
  ASSERT_TRUE(dev.ok());
  scsi::Backend* b = dev->get();
  EXPECT_FALSE(b->has_flush() || b->has_unmap() || b->has_write_same() || b->has_caw() ||
               b->has_handle_cmd() || b->thin() || b->has_lba_status());
  EXPECT_EQ(b->atomic_limits().max_bytes, 0u);
  IoLoop loop;
  struct {
    scsi::IoOp op;
    int want;
  } const cases[] = {
      {scsi::IoOp::kFlush, MODTGT_STS_OK},  // nothing to flush
      {scsi::IoOp::kUnmap, MODTGT_STS_UNSUPPORTED},
      {scsi::IoOp::kWriteSame, MODTGT_STS_UNSUPPORTED},
      {scsi::IoOp::kCaw, MODTGT_STS_UNSUPPORTED},
      {scsi::IoOp::kHandleCmd, MODTGT_STS_NOT_HANDLED},
      {scsi::IoOp::kLbaStatus, MODTGT_STS_UNSUPPORTED},  // the SCSI layer emulates "mapped"
  };
  for (const auto& c : cases) {
    IoLoop::Cmd cmd;
    loop.Prepare(&cmd, c.op);
    EXPECT_EQ(loop.Run(b, &cmd), c.want) << static_cast<int>(c.op);
  }
}

TEST(Device, InvalidStatusFromModuleBecomesMediumError) {
  ModuleRegistry reg;
  auto dev = LoadAndOpen(&reg, "cxxtest", Cfg("cxxtest", "bad-status"));
  ASSERT_TRUE(dev.ok());
  IoLoop loop;
  std::vector<uint8_t> buf(512);
  IoLoop::Cmd cmd;
  PrepareRead(loop, &cmd, buf);
  EXPECT_EQ(loop.Run(dev->get(), &cmd), MODTGT_STS_READ_ERROR);
}

// MODTGT_STS_ZEROS (12) is a 1.6 status: from a module built for 1.6 a read succeeds with
// the buffer zero-filled by the core (or flagged, for a user that takes the flag); from the
// same module built for 1.5 it is an invalid status, a medium error, as before 1.6.
TEST(Device, ZerosStatusIsTakenOnlyFromAnAbi16Module) {
  IoLoop loop;
  // A read by a user that takes the zeros as a flag (a READ): its status.
  auto flagged_read = [&loop](scsi::Backend* b, std::vector<uint8_t>* buf, IoLoop::Cmd* cmd) {
    loop.Prepare(cmd, scsi::IoOp::kRead);
    cmd->io.iov[0] = iovec{buf->data(), buf->size()};
    cmd->io.iovcnt = 1;
    cmd->io.zeros_ok = true;
    return loop.Run(b, cmd);
  };
  {
    ModuleRegistry reg;
    auto dev = LoadAndOpen(&reg, "zeros16", Cfg("zeros16", "x"));
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    std::vector<uint8_t> buf(1024, 0x5a);
    EXPECT_EQ(loop.Read(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_OK);
    EXPECT_EQ(buf, std::vector<uint8_t>(1024, 0));  // the module left 0xEE: the core filled
    IoLoop::Cmd cmd;
    EXPECT_EQ(flagged_read(dev->get(), &buf, &cmd), MODTGT_STS_OK);
    EXPECT_TRUE(cmd.io.zeros);
    EXPECT_EQ(buf, std::vector<uint8_t>(1024, 0xee));  // not filled: the transport sends zeros
    // Not a status of the other callouts (the module's writes say OK).
    EXPECT_EQ(loop.Write(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_OK);
  }
  {
    ModuleRegistry reg;
    auto dev = LoadAndOpen(&reg, "zeros15", Cfg("zeros15", "x"));
    ASSERT_TRUE(dev.ok()) << dev.status().ToString();
    EXPECT_EQ(reg.List()[0].abi_version, (1u << 16) | 5u);
    std::vector<uint8_t> buf(1024, 0x5a);
    EXPECT_EQ(loop.Read(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_READ_ERROR);
    IoLoop::Cmd cmd;
    EXPECT_EQ(flagged_read(dev->get(), &buf, &cmd), MODTGT_STS_READ_ERROR);
    EXPECT_FALSE(cmd.io.zeros);
  }
}

TEST(Device, ManyConcurrentIosOnThePoolAllComplete) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg, 1 << 20);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->nr_threads(), 2u);
  IoLoop loop;
  constexpr int kN = 200;  // more than one slot chunk, mixed sync and async callouts
  std::vector<std::unique_ptr<IoLoop::Cmd>> cmds;
  std::vector<std::vector<uint8_t>> bufs(kN, std::vector<uint8_t>(512));
  for (int i = 0; i < kN; i++) {
    auto c = std::make_unique<IoLoop::Cmd>();
    if (i % 3 == 2) {
      loop.Prepare(c.get(), scsi::IoOp::kFlush);  // completes from a module thread
    } else {
      loop.Prepare(c.get(), i % 3 == 0 ? scsi::IoOp::kWrite : scsi::IoOp::kRead);
      bufs[i].assign(512, static_cast<uint8_t>(i));
      c->io.iov[0] = iovec{bufs[i].data(), 512};
      c->io.iovcnt = 1;
      c->io.offset = static_cast<uint64_t>(i) * 512;
    }
    cmds.push_back(std::move(c));
  }
  loop.ev().Post([&] {
    for (auto& c : cmds) d->Submit(c.get());
  });
  ASSERT_TRUE(loop.WaitDone(kN));
  for (auto& c : cmds) {
    EXPECT_TRUE(c->finished.load());
    EXPECT_EQ(c->io.status, MODTGT_STS_OK);
  }
  EXPECT_EQ(d->inflight(), 0u);
}

// The slot pool and the in-flight count take no lock on the I/O path: two loops submit to
// one device at once, round after round, while the test thread holds and resumes it. Every
// command completes once with its data, held ones after Resume, and the count ends at 0.
TEST(Device, TwoLoopsSubmitAtOnceThroughHoldsWithoutLosingAnIo) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg, 4 << 20);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_NE(d, nullptr);
  constexpr int kRounds = 20, kPerRound = 100;  // 100 in flight per loop: several chunks
  IoLoop loops[2];
  std::vector<std::unique_ptr<IoLoop::Cmd>> cmds[2];
  std::vector<std::vector<uint8_t>> bufs[2];
  for (int l = 0; l < 2; l++) {
    bufs[l].assign(kRounds * kPerRound, std::vector<uint8_t>(512));
    for (int i = 0; i < kRounds * kPerRound; i++) {
      auto c = std::make_unique<IoLoop::Cmd>();
      // Writes to each loop's own half, tagged with the round and index.
      loops[l].Prepare(c.get(), scsi::IoOp::kWrite);
      bufs[l][i].assign(512, static_cast<uint8_t>(i * 7 + l));
      c->io.iov[0] = iovec{bufs[l][i].data(), 512};
      c->io.iovcnt = 1;
      c->io.offset = (static_cast<uint64_t>(l) * kRounds * kPerRound + i) * 512;
      cmds[l].push_back(std::move(c));
    }
  }
  for (int r = 0; r < kRounds; r++) {
    for (int l = 0; l < 2; l++) {
      loops[l].ev().Post([&, l, r] {
        for (int i = r * kPerRound; i < (r + 1) * kPerRound; i++) d->Submit(cmds[l][i].get());
      });
    }
    if (r % 4 == 1) {
      ASSERT_TRUE(d->Hold(std::chrono::seconds(10)).ok());
      EXPECT_EQ(d->inflight(), 0u);
      d->Resume();
    }
  }
  for (int l = 0; l < 2; l++) ASSERT_TRUE(loops[l].WaitDone(kRounds * kPerRound));
  for (int l = 0; l < 2; l++) {
    for (auto& c : cmds[l]) {
      EXPECT_TRUE(c->finished.load());
      EXPECT_EQ(c->io.status, MODTGT_STS_OK);
    }
  }
  EXPECT_EQ(d->inflight(), 0u);
  EXPECT_EQ(d->held_count(), 0u);
  std::vector<uint8_t> got(512);
  for (int l = 0; l < 2; l++) {
    for (int i = 0; i < kRounds * kPerRound; i += 97) {
      ASSERT_EQ(loops[l].Read(d, got.data(), 512,
                              (static_cast<uint64_t>(l) * kRounds * kPerRound + i) * 512),
                MODTGT_STS_OK);
      EXPECT_EQ(got, bufs[l][i]);
    }
  }
}

TEST(Device, DestructionWaitsForInFlightAsyncIo) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  ModuleCounter open_devices("ctest", "ctest_open_devices");
  ASSERT_TRUE(open_devices.ok());
  EXPECT_EQ(*open_devices, 1);
  std::unique_ptr<scsi::Backend> b = std::move(*dev);
  IoLoop loop;
  IoLoop::Cmd cmd;
  loop.Prepare(&cmd, scsi::IoOp::kFlush);  // the module completes it ~1 ms later
  std::atomic<bool> destroyed{false};
  loop.ev().Post([&] {
    b->Submit(&cmd);
    b.reset();  // must wait for the flush, then close()
    destroyed = true;
  });
  ASSERT_TRUE(loop.WaitDone(1));
  // The completion ran on the loop after the closure that destroyed the device.
  EXPECT_TRUE(destroyed);
  EXPECT_EQ(cmd.io.status, MODTGT_STS_OK);
  EXPECT_EQ(*open_devices, 0);
}

TEST(Device, SetWriteCacheIsVisibleToTheModule) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_NE(d, nullptr);
  const modtgt_dev_config* cfg = ModuleRegistry::HostTable()->dev_get_config(d->dev());
  EXPECT_EQ(cfg->write_cache, 1u);
  d->SetWriteCache(false);
  EXPECT_EQ(cfg->write_cache, 0u);
  EXPECT_EQ(d->module_name(), "ctest");
}

TEST(Device, ModuleOutlivesRegistryWhileDevicesAreOpen) {
  const std::string path = TestModule("ctest");
  std::unique_ptr<scsi::Backend> b;
  {
    ModuleRegistry reg;
    ASSERT_TRUE(reg.LoadFile(path).ok());
    auto dev = reg.OpenDevice(Cfg("ctest", "ram"));
    ASSERT_TRUE(dev.ok());
    b = std::move(*dev);
  }
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << "the module must stay mapped while a device uses it";
  dlclose(h);
  IoLoop loop;
  std::vector<uint8_t> buf(512);
  IoLoop::Cmd cmd;
  PrepareRead(loop, &cmd, buf);
  EXPECT_EQ(loop.Run(b.get(), &cmd), MODTGT_STS_OK);
  b.reset();
  h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  EXPECT_EQ(h, nullptr) << "the last device gone, the module is unloaded";
  if (h) dlclose(h);
}


// ---- Reload protocol pieces (ModuleRegistry::Reload drives them) ----

TEST(Device, HoldQueuesCommandsWithoutBlockingTheLoopAndResumeRunsThem) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_NE(d, nullptr);
  IoLoop loop;
  ASSERT_TRUE(d->Hold(std::chrono::seconds(1)).ok());
  EXPECT_TRUE(d->held());
  std::vector<uint8_t> buf(512);
  IoLoop::Cmd cmd;
  PrepareRead(loop, &cmd, buf);
  std::atomic<bool> submitted{false};
  loop.ev().Post([&] {
    d->Submit(&cmd);
    submitted = true;  // Submit returned: the loop was not blocked
  });
  ASSERT_TRUE(loop.Sync());
  EXPECT_TRUE(submitted);
  // Queued inside the device: never handed to the module.
  EXPECT_EQ(d->held_count(), 1u);
  EXPECT_EQ(d->inflight(), 0u);
  EXPECT_FALSE(cmd.finished.load());
  d->Resume();
  ASSERT_TRUE(loop.WaitDone(1));
  EXPECT_EQ(cmd.io.status, MODTGT_STS_OK);
  EXPECT_FALSE(d->held());
}

TEST(Device, HoldWaitsForAsyncInFlightIoThenCloseAndReopen) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg, 0, "tid 1 lun 1");
  ASSERT_TRUE(dev.ok());
  ModuleCounter open_devices("ctest", "ctest_open_devices");
  ASSERT_TRUE(open_devices.ok());
  Device* d = AsDevice(dev);
  IoLoop loop;
  IoLoop::Cmd flush;
  loop.Prepare(&flush, scsi::IoOp::kFlush);  // the module completes it ~1 ms later
  std::atomic<bool> submitted{false};
  loop.ev().Post([&] {
    d->Submit(&flush);
    submitted = true;
  });
  ASSERT_TRUE(loop.Sync());
  ASSERT_TRUE(submitted);
  ASSERT_TRUE(d->Hold(std::chrono::seconds(5)).ok());
  EXPECT_EQ(d->inflight(), 0u);
  ASSERT_TRUE(loop.WaitDone(1));
  EXPECT_EQ(flush.io.status, MODTGT_STS_OK);
  std::shared_ptr<LoadedModule> m = d->module();
  ASSERT_NE(m, nullptr);
  const uint64_t size = d->size_bytes();
  ASSERT_GT(size, 0u);
  d->CloseForReload();
  EXPECT_EQ(d->module(), nullptr);
  EXPECT_EQ(*open_devices, 0);
  // Commands keep being range-checked against the size while the device is closed.
  EXPECT_EQ(d->size_bytes(), size);
  EXPECT_TRUE(m->UserList().empty());
  ASSERT_TRUE(d->Reopen(m).ok());
  EXPECT_EQ(*open_devices, 1);
  EXPECT_EQ(m->UserList(), std::vector<std::string>{"tid 1 lun 1"});
  d->Resume();
  IoLoop::Cmd again;
  loop.Prepare(&again, scsi::IoOp::kFlush);
  EXPECT_EQ(loop.Run(d, &again), MODTGT_STS_OK);
  dev->reset();
  EXPECT_EQ(*open_devices, 0);
}

TEST(Device, FailCompletesHeldAndLaterCommandsWithAnError) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  IoLoop loop;
  ASSERT_TRUE(d->Hold(std::chrono::seconds(1)).ok());
  std::vector<uint8_t> buf(512);
  IoLoop::Cmd held;
  PrepareRead(loop, &held, buf);
  loop.ev().Post([&] { d->Submit(&held); });
  ASSERT_TRUE(loop.Sync());
  ASSERT_EQ(d->held_count(), 1u);
  d->CloseForReload();
  d->Fail();
  ASSERT_TRUE(loop.WaitDone(1));
  EXPECT_EQ(held.io.status, MODTGT_STS_READ_ERROR);
  IoLoop::Cmd later;
  loop.Prepare(&later, scsi::IoOp::kWrite);
  EXPECT_EQ(loop.Run(d, &later), MODTGT_STS_WRITE_ERROR);
}


// ---- ABI 1.1 ----

// Runs a handle_cmd with `cdb` on dev and returns the command's io status.
int RunCdb(IoLoop& loop, scsi::Backend* b, IoLoop::Cmd* cmd, std::initializer_list<uint8_t> cdb) {
  loop.Prepare(cmd, scsi::IoOp::kHandleCmd);
  std::copy(cdb.begin(), cdb.end(), cmd->cdb);
  cmd->cdb_len = 16;
  return loop.Run(b, cmd);
}

TEST(Device, WriteCacheChangeReachesTheModulesReconfig) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  ModuleCounter calls("ctest", "ctest_wce_calls"), last("ctest", "ctest_last_wce");
  ASSERT_TRUE(calls.ok() && last.ok());
  const int before = *calls;
  (*dev)->SetWriteCache(false);
  EXPECT_EQ(*calls, before + 1);
  EXPECT_EQ(*last, 0);
  (*dev)->SetWriteCache(true);
  EXPECT_EQ(*calls, before + 2);
  EXPECT_EQ(*last, 1);
}

TEST(Device, ReconfigureSizeAndConfigString) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  int changes = 0;
  d->SetSizeChangedCallback([&] { changes++; });
  scsi::BackendReconfig rc;
  rc.size = 4u << 20;
  ASSERT_TRUE(d->Reconfigure(rc).ok());
  EXPECT_EQ(d->size_bytes(), 4u << 20);
  EXPECT_EQ(changes, 1);
  // The module's own dev_set_size and the core agree: no second notification.
  EXPECT_EQ(ModuleRegistry::HostTable()->dev_get_config(d->dev())->size, 4u << 20);

  scsi::BackendReconfig bad;
  bad.cfgstring = "ctest/refuse";
  Status s = d->Reconfigure(bad);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("ctest refuses config string 'ctest/refuse'"));
  EXPECT_STREQ(ModuleRegistry::HostTable()->dev_get_config(d->dev())->cfgstring, "ram");
  scsi::BackendReconfig ok;
  ok.cfgstring = "ctest/other";
  ASSERT_TRUE(d->Reconfigure(ok).ok());
  EXPECT_STREQ(ModuleRegistry::HostTable()->dev_get_config(d->dev())->path, "other");
  EXPECT_FALSE(d->held());  // every path resumes the device
}

TEST(Device, ReconfigureWithoutModuleReconfigIsRefused) {
  ModuleRegistry reg;
  auto dev = LoadAndOpen(&reg, "short", Cfg("short", "x"));
  ASSERT_TRUE(dev.ok());
  scsi::BackendReconfig rc;
  rc.size = 8192;
  Status s = (*dev)->Reconfigure(rc);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("no reconfig"));
  (*dev)->SetWriteCache(false);  // no reconfig: only the config changes
  Device* d = AsDevice(dev);
  EXPECT_EQ(ModuleRegistry::HostTable()->dev_get_config(d->dev())->write_cache, 0u);
}

TEST(Device, SizeChangeByTheModuleItselfNotifies) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  int changes = 0;
  d->SetSizeChangedCallback([&] { changes++; });
  ModuleRegistry::HostTable()->dev_set_size(d->dev(), d->size_bytes());  // same: no news
  EXPECT_EQ(changes, 0);
  ModuleRegistry::HostTable()->dev_set_size(d->dev(), d->size_bytes() * 2);
  EXPECT_EQ(changes, 1);
}

TEST(Device, LockGroupGoesToTheModule) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_TRUE(d->has_lock());
  uint16_t tag = 0;
  EXPECT_EQ(d->GetLockState(), MODTGT_LOCK_UNLOCKED);
  EXPECT_EQ(d->GetLockTag(&tag), MODTGT_STS_NOT_HANDLED);
  EXPECT_EQ(d->Lock(0xffff), MODTGT_STS_BUSY);
  EXPECT_EQ(d->Lock(3), MODTGT_STS_OK);
  EXPECT_EQ(d->GetLockState(), MODTGT_LOCK_LOCKED);
  EXPECT_EQ(d->GetLockTag(&tag), MODTGT_STS_OK);
  EXPECT_EQ(tag, 3);
  EXPECT_EQ(d->Unlock(), MODTGT_STS_OK);
  EXPECT_EQ(d->GetLockState(), MODTGT_LOCK_UNLOCKED);

  ModuleRegistry reg2;
  ASSERT_TRUE(reg2.LoadFile(TestModule("short")).ok());
  auto plain = reg2.OpenDevice(Cfg("short", "x"));
  ASSERT_TRUE(plain.ok());
  auto* p = dynamic_cast<Device*>(plain->get());
  EXPECT_FALSE(p->has_lock());
  EXPECT_EQ(p->Lock(1), MODTGT_STS_UNSUPPORTED);
  EXPECT_EQ(p->GetLockState(), MODTGT_LOCK_UNKNOWN);
}

TEST(Device, SenseHelpersStatusAndEventsFromHandleCmd) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  IoLoop loop;
  {  // cmd_set_sense_ex: NOT READY / FORMAT IN PROGRESS, progress 0x4000, INFORMATION 7
    IoLoop::Cmd cmd;
    EXPECT_EQ(RunCdb(loop, d, &cmd, {0xc2}), MODTGT_STS_SENSE_SET);
    EXPECT_EQ(cmd.status, scsi::Status::kCheckCondition);
    ASSERT_EQ(cmd.sense_len, 18);
    EXPECT_EQ(cmd.sense[0], 0xf0);  // VALID | 0x70
    EXPECT_EQ(cmd.sense[2], 0x02);
    EXPECT_EQ(cmd.sense[6], 7);     // INFORMATION
    EXPECT_EQ(cmd.sense[12], 0x04);
    EXPECT_EQ(cmd.sense[13], 0x04);
    EXPECT_EQ(cmd.sense[15], 0x80);  // SKSV
    EXPECT_EQ(cmd.sense[16], 0x40);  // PROGRESS INDICATION 0x4000
    EXPECT_EQ(cmd.sense[17], 0x00);
  }
  {  // cmd_set_status: BUSY, no sense
    IoLoop::Cmd cmd;
    EXPECT_EQ(RunCdb(loop, d, &cmd, {0xc3}), MODTGT_STS_SENSE_SET);
    EXPECT_EQ(cmd.status, scsi::Status::kBusy);
    EXPECT_EQ(cmd.sense_len, 0);
  }
  {  // cmd_set_sense_raw: valid bytes are taken as they are
    IoLoop::Cmd cmd;
    EXPECT_EQ(RunCdb(loop, d, &cmd, {0xc4, 0}), MODTGT_STS_SENSE_SET);
    EXPECT_EQ(cmd.status, scsi::Status::kCheckCondition);
    ASSERT_EQ(cmd.sense_len, 18);
    EXPECT_EQ(cmd.sense[2], 0x03);
    EXPECT_EQ(cmd.sense[12], 0x11);
    EXPECT_EQ(cmd.sense[13], 0x05);
  }
  {  // ... invalid ones are refused (the module then sets its own)
    IoLoop::Cmd cmd;
    EXPECT_EQ(RunCdb(loop, d, &cmd, {0xc4, 1}), MODTGT_STS_SENSE_SET);
    EXPECT_EQ(cmd.sense[2], 0x04);
    EXPECT_EQ(cmd.sense[12], 0x44);
  }
  EXPECT_EQ(d->events().lock_lost, 0u);
  {
    IoLoop::Cmd cmd;
    EXPECT_EQ(RunCdb(loop, d, &cmd, {0xc5}), MODTGT_STS_OK);
  }
  Device::EventCounts ev = d->events();
  EXPECT_EQ(ev.lock_lost, 1u);
  EXPECT_TRUE(ev.connected);
  EXPECT_EQ(ev.last, "lock lost: taken by node 2");
  d->ReportEvent(MODTGT_EVENT_CONN_LOST, nullptr);
  EXPECT_FALSE(d->events().connected);
  d->ReportEvent(MODTGT_EVENT_CONN_RESTORED, "back");
  EXPECT_TRUE(d->events().connected);
  EXPECT_EQ(d->events().conn_lost, 1u);
  d->ReportEvent(99, "bogus");  // logged and ignored
  EXPECT_EQ(d->events().last, "connection restored: back");
}

TEST(Device, DataAreaBudgetBoundsBytesInFlight) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());  // 2 pool threads
  DeviceConfig cfg = Cfg("ctest", "ram");
  cfg.size = 8u << 20;
  cfg.max_data_area_mb = 1;
  auto dev = reg.OpenDevice(cfg);
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  EXPECT_EQ(d->data_area_budget(), 1u << 20);
  IoLoop loop;
  constexpr int kIos = 24;
  constexpr size_t kLen = 384 * 1024;  // two fit in the budget, three do not
  std::vector<std::vector<uint8_t>> bufs(kIos, std::vector<uint8_t>(kLen));
  std::vector<IoLoop::Cmd> cmds(kIos);
  for (int i = 0; i < kIos; i++) {
    loop.Prepare(&cmds[i], scsi::IoOp::kRead);
    cmds[i].io.iov[0] = iovec{bufs[i].data(), kLen};
    cmds[i].io.iovcnt = 1;
    cmds[i].io.offset = (i % 16) * kLen;
  }
  loop.ev().Post([&] {
    for (auto& c : cmds) d->Submit(&c);
  });
  ASSERT_TRUE(loop.WaitDone(kIos));
  for (auto& c : cmds) EXPECT_EQ(c.io.status, MODTGT_STS_OK);
  EXPECT_LE(d->data_area_peak(), 1u << 20);
  EXPECT_GE(d->data_area_peak(), kLen);
  EXPECT_EQ(d->data_area_waiting(), 0u);
  EXPECT_EQ(d->inflight(), 0u);
}

TEST(Device, Abi10ModuleHasNoneOfThe11Callouts) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver1")).ok());  // built as ABI 1.0
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].abi_version, (1u << 16) | 0u);
  EXPECT_FALSE(list[0].has_reconfig);
  EXPECT_FALSE(list[0].has_lock);
  EXPECT_EQ(list[0].device_type, 0u);
  auto dev = reg.OpenDevice(Cfg("ver", "x"));
  ASSERT_TRUE(dev.ok());
  scsi::BackendReconfig rc;
  rc.size = 1u << 20;
  EXPECT_FALSE((*dev)->Reconfigure(rc).ok());
}

TEST(Device, Abi11ModuleHasNoneOfThe12Callouts) {
  ModuleRegistry reg;
  // Built as ABI 1.1 with a garbage get_lba_status beyond its struct_size and the bit that
  // 1.2 calls MODTGT_CAP_ATOMIC_WRITE (it meant nothing in 1.1).
  ASSERT_TRUE(reg.LoadFile(TestModule("ver11")).ok());
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].abi_version, (1u << 16) | 1u);
  auto dev = reg.OpenDevice(Cfg("ver", "x"));
  ASSERT_TRUE(dev.ok());
  scsi::Backend* b = dev->get();
  EXPECT_FALSE(b->has_lba_status());
  EXPECT_EQ(b->atomic_limits().max_bytes, 0u);
  IoLoop loop;
  EXPECT_EQ(loop.Simple(b, scsi::IoOp::kLbaStatus, 0, 4096), MODTGT_STS_UNSUPPORTED);
  std::vector<uint8_t> buf(512);
  EXPECT_EQ(loop.Read(b, buf.data(), buf.size(), 0), MODTGT_STS_OK);
  EXPECT_EQ(buf[0], 0x11);
  // An atomic write never reaches a module that did not promise to honour it.
  EXPECT_EQ(loop.Write(b, buf.data(), buf.size(), 0, MODTGT_IO_ATOMIC), MODTGT_STS_UNSUPPORTED);
}

// get_lba_status through a C module (ABI 1.2): zero 4 KiB units are deallocated.
TEST(Device, LbaStatusComesFromTheModule) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg, 64 * 1024);
  ASSERT_TRUE(dev.ok());
  scsi::Backend* b = dev->get();
  ASSERT_TRUE(b->has_lba_status());
  IoLoop loop;
  std::vector<uint8_t> data(8192, 0x5a);
  ASSERT_EQ(loop.Write(b, data.data(), data.size(), 16384), MODTGT_STS_OK);
  scsi::LbaExtent e;
  ASSERT_EQ(loop.LbaStatus(b, 0, 64 * 1024, &e), MODTGT_STS_OK);
  EXPECT_EQ(e.state, MODTGT_LBA_DEALLOCATED);
  EXPECT_EQ(e.length, 16384u);
  ASSERT_EQ(loop.LbaStatus(b, 16384, 48 * 1024, &e), MODTGT_STS_OK);
  EXPECT_EQ(e.state, MODTGT_LBA_MAPPED);
  EXPECT_EQ(e.length, 8192u);
}

// Atomic write limits declared from open() reach the SCSI layer; MODTGT_IO_ATOMIC reaches
// the module's write().
TEST(Device, AtomicLimitsAndFlagReachTheModule) {
  ModuleRegistry reg;
  auto dev = OpenCtestRam(&reg, 1 << 20);
  ASSERT_TRUE(dev.ok());
  scsi::Backend* b = dev->get();
  EXPECT_EQ(b->atomic_limits().max_bytes, 64u * 1024);
  ModuleCounter atomic_writes("ctest", "ctest_atomic_writes");
  ASSERT_TRUE(atomic_writes.ok());
  const int before = *atomic_writes;
  IoLoop loop;
  std::vector<uint8_t> data(4096, 1);
  EXPECT_EQ(loop.Write(b, data.data(), data.size(), 0, MODTGT_IO_ATOMIC), MODTGT_STS_OK);
  EXPECT_EQ(loop.Write(b, data.data(), data.size(), 0, 0), MODTGT_STS_OK);
  EXPECT_EQ(*atomic_writes, before + 1);
}

// module.hpp maps GetLbaStatus and Device::set_atomic_limits; the limits are per device.
TEST(Device, CxxModuleDeclaresAtomicLimitsPerDevice) {
  ModuleRegistry reg;
  auto plain = LoadAndOpen(&reg, "cxxtest", Cfg("cxxtest", "ram"));
  auto atomic = reg.OpenDevice(Cfg("cxxtest", "atomic"));
  ASSERT_TRUE(plain.ok() && atomic.ok());
  EXPECT_EQ((*plain)->atomic_limits().max_bytes, 0u);
  EXPECT_EQ((*atomic)->atomic_limits().max_bytes, 32u * 1024);
  ASSERT_TRUE((*plain)->has_lba_status());
  IoLoop loop;
  scsi::LbaExtent e;
  ASSERT_EQ(loop.LbaStatus(plain->get(), 1024, 16384, &e), MODTGT_STS_OK);
  EXPECT_EQ(e.state, MODTGT_LBA_MAPPED);
  EXPECT_EQ(e.length, 3072u);
}

// A module without MODTGT_CAP_ATOMIC_WRITE cannot make the daemon advertise atomic writes.
TEST(Device, AtomicLimitsWithoutTheCapabilityAreIgnored) {
  ModuleRegistry reg;
  auto dev = LoadAndOpen(&reg, "short", Cfg("short", "x"));
  ASSERT_TRUE(dev.ok());
  Device* d = AsDevice(dev);
  ASSERT_NE(d, nullptr);
  modtgt_atomic_limits lim{};
  lim.struct_size = sizeof(lim);
  lim.max_bytes = 65536;
  d->SetAtomicLimitsFromModule(lim);
  EXPECT_EQ(d->atomic_limits().max_bytes, 0u);
}

// ABI 1.3 dev_keep_fd: the host keeps a duplicate with the LUN; a rebuilt LU's new device
// (OpenDevice with the old backend) gets the same storage, a reload keeps it, and it is
// closed with the last device holding it.
TEST(Device, KeptStorageFollowsTheLunAcrossARebuildAndAReload) {
  ModuleRegistry reg;
  auto old_dev = OpenCtestRam(&reg, 1 << 20);
  ASSERT_TRUE(old_dev.ok()) << old_dev.status().message();
  auto* d = static_cast<Device*>(old_dev->get());
  const modtgt_host* host = ModuleRegistry::HostTable();
  EXPECT_EQ(host->dev_kept_fd(d->dev()), -1);
  EXPECT_EQ(host->dev_keep_fd(d->dev(), -1), MODTGT_EINVAL);
  const int mfd = memfd_create("device-test", MFD_CLOEXEC);
  ASSERT_GE(mfd, 0);
  struct stat want {};
  ASSERT_EQ(fstat(mfd, &want), 0);
  ASSERT_EQ(host->dev_keep_fd(d->dev(), mfd), 0);
  close(mfd);  // the host holds its own duplicate
  const int kept = host->dev_kept_fd(d->dev());
  ASSERT_GE(kept, 0);
  struct stat got {};
  ASSERT_EQ(fstat(kept, &got), 0);
  EXPECT_EQ(got.st_ino, want.st_ino);

  DeviceConfig cfg = Cfg("ctest", "ram");
  cfg.size = 1 << 20;
  auto fresh = reg.OpenDevice(cfg, old_dev->get());
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  auto* f = static_cast<Device*>(fresh->get());
  EXPECT_EQ(host->dev_kept_fd(f->dev()), kept);
  auto unrelated = reg.OpenDevice(cfg);
  ASSERT_TRUE(unrelated.ok());
  EXPECT_EQ(host->dev_kept_fd(static_cast<Device*>(unrelated->get())->dev()), -1);
  old_dev->reset();
  ASSERT_EQ(fcntl(kept, F_GETFD), FD_CLOEXEC) << "closed while the rebuilt device holds it";

  ASSERT_TRUE(reg.Reload("ctest", "").ok());
  EXPECT_EQ(host->dev_kept_fd(f->dev()), kept);
  fresh->reset();
  EXPECT_EQ(fcntl(kept, F_GETFD), -1) << "the kept fd outlived the last device of its LUN";
}

}  // namespace
}  // namespace modtgt::core
