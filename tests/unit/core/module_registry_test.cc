// SPDX-License-Identifier: Apache-2.0
#include "core/module_registry.h"

#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/io_loop.h"
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/device.h"
#include "env/event_loop.h"
#include "scsi/backend.h"
#include "scsi/command.h"

namespace modtgt::core {
namespace {

using ::testing::HasSubstr;

std::string TestModule(const std::string& name) {
  return std::string(MODTGT_TEST_MODULE_DIR) + "/backing-store/bs_" + name + ".so";
}

// True while the file is mapped into the process (dlopen(RTLD_NOLOAD) finds it).
bool IsMapped(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) return false;
  dlclose(h);
  return true;
}

bool HasCap(const ModuleInfo& m, const std::string& cap) {
  return std::find(m.capabilities.begin(), m.capabilities.end(), cap) != m.capabilities.end();
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

// ---- Refusals: each names the problem, and nothing stays loaded. ----

struct Refusal {
  const char* module;
  const char* message_part;
};

class ModuleRefusal : public ::testing::TestWithParam<Refusal> {};

TEST_P(ModuleRefusal, IsRefusedWithClearMessageAndUnmapped) {
  const Refusal& r = GetParam();
  const std::string path = TestModule(r.module);
  ModuleRegistry reg;
  Status s = reg.LoadFile(path);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(r.message_part));
  EXPECT_TRUE(reg.List().empty());
  EXPECT_FALSE(IsMapped(path)) << "a refused module must be dlclosed";
}

// This daemon's ABI as text ("1.4"), from module.h.
#define ABI_STR2(x) #x
#define ABI_STR(x) ABI_STR2(x)
#define kAbiText ABI_STR(MODTGT_ABI_MAJOR) "." ABI_STR(MODTGT_ABI_MINOR)

INSTANTIATE_TEST_SUITE_P(
    Loader, ModuleRefusal,
    ::testing::Values(
        Refusal{"abi2", "module bs_abi2.so was built for ABI 2.0, this daemon speaks " kAbiText},
        Refusal{"abiminor", "was built for ABI 1.7, newer than this daemon's " kAbiText},
        Refusal{"noread", "backing store 'noread' has no .read callback"},
        Refusal{"noentry", "module bs_noentry.so has no entry point modtgt_module_init"},
        Refusal{"nulldesc", "module bs_nulldesc.so returned a NULL descriptor"},
        Refusal{"small", "16-byte descriptor, too small"},
        Refusal{"badkind", "has kind 7, expected 1 (backing store)"},
        Refusal{"badname", "invalid name 'Bad-Name'"},
        Refusal{"thinnounmap", "declares MODTGT_CAP_THIN but has no .unmap callback"},
        Refusal{"undef", "modtgt_test_no_such_symbol"},
        Refusal{"missingdep", "libmodtgt_test_gone.so"}),
    [](const ::testing::TestParamInfo<Refusal>& i) { return std::string(i.param.module); });

TEST(ModuleRegistry, RefusesNonElfFileWithDlerrorText) {
  ModuleRegistry reg;
  Status s = reg.LoadFile(TestModule("notelf"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot load module"));
  EXPECT_THAT(s.message(), HasSubstr("bs_notelf.so"));
  // glibc says "invalid ELF header" or "file too short" depending on the size.
  EXPECT_TRUE(s.message().find("ELF") != std::string::npos ||
              s.message().find("too short") != std::string::npos)
      << s.message();
  EXPECT_TRUE(reg.List().empty());
}

TEST(ModuleRegistry, RefusesMissingFile) {
  ModuleRegistry reg;
  Status s = reg.LoadFile(TestModule("does_not_exist"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot load module"));
}

TEST(ModuleRegistry, RefusesDuplicateNameAndSubtype) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  Status dup = reg.LoadFile(TestModule("dupname"));
  EXPECT_EQ(dup.code(), Code::kAlreadyExists);
  EXPECT_THAT(dup.message(), HasSubstr("duplicate backing store name 'ctest'"));
  Status sub = reg.LoadFile(TestModule("dupsub"));
  EXPECT_EQ(sub.code(), Code::kAlreadyExists);
  EXPECT_THAT(sub.message(), HasSubstr("duplicate backing store subtype 'ctest'"));
  EXPECT_EQ(reg.List().size(), 1u);
  EXPECT_FALSE(IsMapped(TestModule("dupname")));
  // The same file twice.
  EXPECT_EQ(reg.LoadFile(TestModule("ctest")).code(), Code::kAlreadyExists);
}

// ---- Load failures: kept in state error, retried. ----

TEST(ModuleRegistry, FailedLoadIsKeptInErrorStateWithReason) {
  ModuleRegistry reg;
  Status s = reg.LoadFile(TestModule("loadfail"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kIoError);  // load() returned MODTGT_EIO
  EXPECT_THAT(s.message(), HasSubstr("no licence for the frobnicator"));
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "loadfail");
  EXPECT_EQ(list[0].state, ModuleState::kError);
  EXPECT_EQ(list[0].error, "no licence for the frobnicator");

  Status open = reg.OpenDevice(Cfg("loadfail", "x")).status();
  EXPECT_EQ(open.code(), Code::kUnavailable);
  EXPECT_THAT(open.message(), HasSubstr("state error: no licence for the frobnicator"));
  EXPECT_EQ(reg.CheckConfig(Cfg("loadfail", "x")).code(), Code::kUnavailable);
}

TEST(ModuleRegistry, RetryOfErroredModuleBecomesReady) {
  ModuleRegistry reg;
  Status first = reg.LoadFile(TestModule("loadretry"));
  ASSERT_FALSE(first.ok());
  EXPECT_THAT(first.message(), HasSubstr("first attempt fails (attempt 1)"));
  ASSERT_EQ(reg.List()[0].state, ModuleState::kError);

  Status second = reg.LoadFile(TestModule("loadretry"));
  EXPECT_TRUE(second.ok()) << second.ToString();
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].state, ModuleState::kReady);
  EXPECT_TRUE(list[0].error.empty());
  EXPECT_EQ(reg.LoadFile(TestModule("loadretry")).code(), Code::kAlreadyExists);
  auto dev = reg.OpenDevice(Cfg("loadretry", "x"));
  EXPECT_TRUE(dev.ok()) << dev.status().ToString();
}

// ---- Descriptor copy: min(sizeof, struct_size), the rest zero. ----

TEST(ModuleRegistry, ShortDescriptorIsZeroFilledPastStructSize) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("short")).ok());
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_FALSE(HasCap(list[0], "handle_cmd")) << "handle_cmd lies past struct_size";
  auto dev = reg.OpenDevice(Cfg("short", "x"));
  ASSERT_TRUE(dev.ok());
  EXPECT_FALSE((*dev)->has_handle_cmd());
}

// ---- A correct C module. ----

TEST(ModuleRegistry, ListsCModuleWithCapabilities) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  const ModuleInfo& m = list[0];
  EXPECT_EQ(m.kind, "backing-store");
  EXPECT_EQ(m.name, "ctest");
  EXPECT_EQ(m.subtype, "ctest");
  EXPECT_EQ(m.version, "2.1");
  EXPECT_EQ(m.abi_version, MODTGT_ABI_VERSION);
  EXPECT_EQ(m.state, ModuleState::kReady);
  EXPECT_EQ(m.nr_threads, 2u);
  EXPECT_EQ(m.description, "C test module (RAM disk)");
  for (const char* cap : {"read", "write", "flush", "unmap", "handle_cmd", "thin", "check_config"}) {
    EXPECT_TRUE(HasCap(m, cap)) << cap;
  }
  EXPECT_FALSE(HasCap(m, "write_same"));
  EXPECT_FALSE(HasCap(m, "caw"));
  EXPECT_THAT(m.path, HasSubstr("bs_ctest.so"));

  // load() ran exactly once.
  void* h = dlopen(TestModule("ctest").c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(*static_cast<int*>(dlsym(h, "ctest_loads")), 1);
  EXPECT_EQ(*static_cast<int*>(dlsym(h, "ctest_unloads")), 0);
  dlclose(h);
}

TEST(ModuleRegistry, CheckConfigReturnsTheModulesReason) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  EXPECT_TRUE(reg.CheckConfig(Cfg("ctest", "fine")).ok());
  Status s = reg.CheckConfig(Cfg("ctest", "reject"));
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("ctest rejects path 'reject'"));
  // "subtype/config" strings: the path is what follows the subtype.
  EXPECT_THAT(reg.CheckConfig(Cfg("ctest", "ctest/reject")).message(),
              HasSubstr("ctest rejects path 'reject'"));
  // No bstype: found by the cfgstring's subtype.
  EXPECT_FALSE(reg.CheckConfig(Cfg("", "ctest/reject")).ok());
  EXPECT_TRUE(reg.CheckConfig(Cfg("", "ctest/fine")).ok());

  Status unknown = reg.CheckConfig(Cfg("nope", "x"));
  EXPECT_EQ(unknown.code(), Code::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("unknown backing store type 'nope' (loaded: ctest)"));

  DeviceConfig bad_bs = Cfg("ctest", "fine");
  bad_bs.block_size = 1000;
  EXPECT_THAT(reg.CheckConfig(bad_bs).message(), HasSubstr("invalid block size 1000"));
}

TEST(ModuleRegistry, FailedOpenReturnsReasonAndLeavesNoUser) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  auto dev = reg.OpenDevice(Cfg("ctest", "fail-open", "tid 1 lun 1"));
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().code(), Code::kNotFound);  // MODTGT_ENOENT
  EXPECT_THAT(dev.status().message(), HasSubstr("cannot open 'fail-open': simulated failure"));
  EXPECT_TRUE(reg.List()[0].users.empty());
  // A config check_config rejects never reaches open().
  EXPECT_THAT(reg.OpenDevice(Cfg("ctest", "reject")).status().message(),
              HasSubstr("ctest rejects path 'reject'"));
}

TEST(ModuleRegistry, TracksUsersAndRefusesUnloadWhileUsed) {
  ModuleRegistry reg;
  const std::string path = TestModule("ctest");
  ASSERT_TRUE(reg.LoadFile(path).ok());
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  int* open_devices = static_cast<int*>(dlsym(h, "ctest_open_devices"));
  int* unloads = static_cast<int*>(dlsym(h, "ctest_unloads"));
  {
    auto a = reg.OpenDevice(Cfg("ctest", "a", "tid 1 lun 1"));
    auto b = reg.OpenDevice(Cfg("ctest", "b", "tid 2 lun 3"));
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*open_devices, 2);
    auto users = reg.List()[0].users;
    std::sort(users.begin(), users.end());
    EXPECT_EQ(users, (std::vector<std::string>{"tid 1 lun 1", "tid 2 lun 3"}));
    Status busy = reg.Unload("ctest");
    EXPECT_EQ(busy.code(), Code::kBusy);
    EXPECT_THAT(busy.message(), HasSubstr("tid 1 lun 1"));
    EXPECT_THAT(busy.message(), HasSubstr("tid 2 lun 3"));
  }
  EXPECT_EQ(*open_devices, 0) << "destroying the Backend must call close()";
  EXPECT_TRUE(reg.List()[0].users.empty());
  EXPECT_EQ(*unloads, 0);
  dlclose(h);
  EXPECT_TRUE(reg.Unload("ctest").ok());
  EXPECT_TRUE(reg.List().empty());
  EXPECT_FALSE(IsMapped(path));
  EXPECT_EQ(reg.Unload("ctest").code(), Code::kNotFound);
}

TEST(ModuleRegistry, CModuleIoOnWorkerPool) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  DeviceConfig cfg = Cfg("ctest", "ram");
  cfg.size = 1 << 20;
  auto dev = reg.OpenDevice(cfg);
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  scsi::Backend* b = dev->get();
  EXPECT_EQ(b->size_bytes(), 1u << 20);
  EXPECT_TRUE(b->has_flush() && b->has_unmap() && b->thin() && b->has_handle_cmd());
  EXPECT_FALSE(b->has_write_same() || b->has_caw());

  IoLoop io;
  std::vector<uint8_t> out(4096), in(4096, 0);
  for (size_t i = 0; i < out.size(); i++) out[i] = static_cast<uint8_t>(i * 7);
  EXPECT_EQ(io.Write(b, out.data(), out.size(), 8192), MODTGT_STS_OK);
  EXPECT_EQ(io.Read(b, in.data(), in.size(), 8192), MODTGT_STS_OK);
  EXPECT_EQ(in, out);
  EXPECT_EQ(io.Read(b, in.data(), in.size(), (1 << 20) - 512), MODTGT_STS_LBA_OUT_OF_RANGE);
  // Asynchronous flush: completed from the module's own thread via host->complete.
  EXPECT_EQ(io.Simple(b, scsi::IoOp::kFlush), MODTGT_STS_OK);
  EXPECT_EQ(io.Simple(b, scsi::IoOp::kUnmap, 8192, 4096), MODTGT_STS_OK);
  EXPECT_EQ(io.Read(b, in.data(), in.size(), 8192), MODTGT_STS_OK);
  EXPECT_EQ(in, std::vector<uint8_t>(4096, 0));
  // No write_same callout: the core emulates it; the Device answers UNSUPPORTED.
  EXPECT_EQ(io.Simple(b, scsi::IoOp::kWriteSame), MODTGT_STS_UNSUPPORTED);
}

TEST(ModuleRegistry, HandleCmdHostServices) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  auto dev = reg.OpenDevice(Cfg("ctest", "ram"));
  ASSERT_TRUE(dev.ok());
  IoLoop io;
  {
    IoLoop::Cmd c;
    c.cdb[0] = 0xc0;
    c.cdb_len = 6;
    c.dir = scsi::DataDirection::kRead;
    c.expected_length = 64;
    c.io.op = scsi::IoOp::kHandleCmd;
    EXPECT_EQ(io.Run(dev->get(), &c), MODTGT_STS_OK);
    EXPECT_EQ(c.data_in_length, 5u);
    ASSERT_GE(c.data.size(), 5u);
    EXPECT_EQ(std::memcmp(c.data.data(), "CTEST", 5), 0);
  }
  {
    IoLoop::Cmd c;
    c.cdb[0] = 0xc1;
    c.cdb_len = 6;
    c.io.op = scsi::IoOp::kHandleCmd;
    EXPECT_EQ(io.Run(dev->get(), &c), MODTGT_STS_SENSE_SET);
    EXPECT_EQ(c.status, scsi::Status::kCheckCondition);
    ASSERT_EQ(c.sense_len, 18);
    EXPECT_EQ(c.sense[0], 0x70);
    EXPECT_EQ(c.sense[2], 0x05);
    EXPECT_EQ(c.sense[12], 0x24);
    EXPECT_EQ(c.sense[13], 0x00);
  }
  {
    IoLoop::Cmd c;
    c.cdb[0] = 0x00;
    c.cdb_len = 6;
    c.io.op = scsi::IoOp::kHandleCmd;
    EXPECT_EQ(io.Run(dev->get(), &c), MODTGT_STS_NOT_HANDLED);
  }
}

// ---- A module built with module.hpp. ----

TEST(ModuleRegistry, CxxModuleTrampolines) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("cxxtest")).ok());
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].version, "3.0");
  EXPECT_EQ(list[0].nr_threads, 0u);
  EXPECT_TRUE(HasCap(list[0], "flush"));
  EXPECT_TRUE(HasCap(list[0], "check_config"));
  EXPECT_FALSE(HasCap(list[0], "unmap"));

  // A thrown modtgt::Error fails open with its code and message.
  auto thrown = reg.OpenDevice(Cfg("cxxtest", "throw"));
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(thrown.status().message(), HasSubstr("cxxtest refuses path 'throw'"));
  // Any other exception: MODTGT_EINTERNAL with its what().
  DeviceConfig bad = Cfg("cxxtest", "x");
  bad.bsopts = "bad";
  Status s = reg.CheckConfig(bad);
  EXPECT_EQ(s.code(), Code::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("unexpected exception: bsopts 'bad' are bad"));

  auto dev = reg.OpenDevice(Cfg("cxxtest", "ram"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ((*dev)->size_bytes(), 64u * 1024);
  EXPECT_FALSE((*dev)->has_unmap());
  IoLoop io;
  std::vector<uint8_t> out(512, 0xab), in(512);
  EXPECT_EQ(io.Write(dev->get(), out.data(), out.size(), 512), MODTGT_STS_OK);
  EXPECT_EQ(io.Read(dev->get(), in.data(), in.size(), 512), MODTGT_STS_OK);
  EXPECT_EQ(in, out);
  EXPECT_EQ(io.Simple(dev->get(), scsi::IoOp::kUnmap, 0, 512), MODTGT_STS_UNSUPPORTED);

  // An exception in an I/O callout becomes a read error, not a crash.
  auto throwing = reg.OpenDevice(Cfg("cxxtest", "throw-io"));
  ASSERT_TRUE(throwing.ok());
  EXPECT_EQ(io.Read(throwing->get(), in.data(), in.size(), 0), MODTGT_STS_READ_ERROR);
}

// ---- Directories ----

TEST(ModuleRegistry, LoadDirectoryOnlyNamesUnknownModule) {
  ModuleRegistry reg;
  Status s = reg.LoadDirectory(MODTGT_BUILD_MODULE_DIR, {"rdwr", "nosuch"});
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("unknown backing store 'nosuch'"));
  // The message lists what exists: every bs_*.so of the folder, sorted, comma separated.
  std::vector<std::string> names;
  if (DIR* d = opendir((std::string(MODTGT_BUILD_MODULE_DIR) + "/backing-store").c_str())) {
    while (dirent* e = readdir(d)) {
      std::string f = e->d_name;
      if (f.size() > 6 && f.rfind("bs_", 0) == 0 && f.compare(f.size() - 3, 3, ".so") == 0) {
        names.push_back(f.substr(3, f.size() - 6));
      }
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  ASSERT_GE(names.size(), 3u);
  std::string listed;
  for (const auto& n : names) listed += (listed.empty() ? "" : ", ") + n;
  EXPECT_THAT(s.message(), HasSubstr(listed));
  EXPECT_TRUE(reg.List().empty());
  EXPECT_EQ(reg.LoadDirectory("/nonexistent-modtgt", {}).code(), Code::kNotFound);
}

TEST(ModuleRegistry, LoadDirectoryOnlyLoadsTheNamedOnes) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadDirectory(MODTGT_BUILD_MODULE_DIR, {"null"}).ok());
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "null");
}

TEST(ModuleRegistry, LoadDirectorySkipsRefusalsAndKeepsFailedLoads) {
  ModuleRegistry reg;
  EXPECT_TRUE(reg.LoadDirectory(MODTGT_TEST_MODULE_DIR, {}).ok());
  auto list = reg.List();
  ASSERT_NE(FindModuleInfo(list, "ctest"), nullptr);
  EXPECT_EQ(FindModuleInfo(list, "ctest")->state, ModuleState::kReady);
  ASSERT_NE(FindModuleInfo(list, "cxxtest"), nullptr);
  ASSERT_NE(FindModuleInfo(list, "loadfail"), nullptr);
  EXPECT_EQ(FindModuleInfo(list, "loadfail")->state, ModuleState::kError);
  for (const char* refused : {"abi2", "noread", "nulldesc", "undef", "missingdep", "dupsub"}) {
    EXPECT_EQ(FindModuleInfo(list, refused), nullptr) << refused;
  }
  // bs_dupname.so also says "ctest": the first one loaded stays, the other is refused.
  ASSERT_NE(FindModuleInfo(list, "ctest"), nullptr);
  EXPECT_THAT(FindModuleInfo(list, "ctest")->path, HasSubstr("bs_ctest.so"));
  EXPECT_FALSE(IsMapped(TestModule("dupname")));
  // A second scan loads nothing new and does not disturb what is loaded.
  EXPECT_TRUE(reg.LoadDirectory(MODTGT_TEST_MODULE_DIR, {}).ok());
  EXPECT_EQ(reg.List().size(), list.size());
  // Explicitly asked-for refusals are an error.
  ModuleRegistry reg2;
  Status s = reg2.LoadDirectory(MODTGT_TEST_MODULE_DIR, {"ctest", "abi2"});
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("ABI 2.0"));
  EXPECT_EQ(reg2.List().size(), 1u);
}

// ---- bs_rdwr ----

class RdwrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-rdwr-XXXXXX";
    fd_ = mkstemp(tmpl);
    ASSERT_GE(fd_, 0);
    path_ = tmpl;
    ASSERT_EQ(ftruncate(fd_, 1 << 20), 0);
    ASSERT_TRUE(reg_.LoadDirectory(MODTGT_BUILD_MODULE_DIR, {"rdwr", "null"}).ok());
  }
  void TearDown() override {
    if (fd_ >= 0) close(fd_);
    unlink(path_.c_str());
  }
  ModuleRegistry reg_;
  int fd_ = -1;
  std::string path_;
};

TEST_F(RdwrTest, ReadWriteFlushUnmapThroughDevice) {
  auto dev = reg_.OpenDevice(Cfg("rdwr", path_, "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  scsi::Backend* b = dev->get();
  EXPECT_EQ(b->size_bytes(), 1u << 20);
  EXPECT_TRUE(b->has_flush() && b->has_unmap() && b->thin());
  EXPECT_EQ(FindModuleInfo(reg_.List(), "rdwr")->users, std::vector<std::string>{"tid 1 lun 1"});

  IoLoop io;
  std::vector<uint8_t> out(8192), in(8192);
  for (size_t i = 0; i < out.size(); i++) out[i] = static_cast<uint8_t>(i ^ 0x5a);
  EXPECT_EQ(io.Write(b, out.data(), out.size(), 4096, MODTGT_IO_FUA), MODTGT_STS_OK);
  std::vector<uint8_t> direct(8192);
  ASSERT_EQ(pread(fd_, direct.data(), direct.size(), 4096), 8192);
  EXPECT_EQ(direct, out) << "the write must be in the file";
  EXPECT_EQ(io.Read(b, in.data(), in.size(), 4096), MODTGT_STS_OK);
  EXPECT_EQ(in, out);
  EXPECT_EQ(io.Simple(b, scsi::IoOp::kFlush), MODTGT_STS_OK);
  EXPECT_EQ(io.Simple(b, scsi::IoOp::kUnmap, 4096, 4096), MODTGT_STS_OK);
  EXPECT_EQ(io.Read(b, in.data(), in.size(), 4096), MODTGT_STS_OK);
  EXPECT_EQ(std::vector<uint8_t>(in.begin(), in.begin() + 4096), std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(std::vector<uint8_t>(in.begin() + 4096, in.end()),
            std::vector<uint8_t>(out.begin() + 4096, out.end()));
}

TEST_F(RdwrTest, ScatterGatherAcrossTwoIovecs) {
  auto dev = reg_.OpenDevice(Cfg("rdwr", "rdwr/" + path_));  // "subtype/path" form
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  IoLoop io;
  std::vector<uint8_t> a(512, 1), b(1024, 2);
  IoLoop::Cmd w;
  w.io.op = scsi::IoOp::kWrite;
  w.io.iov[0] = iovec{a.data(), a.size()};
  w.io.iov[1] = iovec{b.data(), b.size()};
  w.io.iovcnt = 2;
  w.io.offset = 512;
  EXPECT_EQ(io.Run(dev->get(), &w), MODTGT_STS_OK);
  std::vector<uint8_t> in(1536);
  EXPECT_EQ(io.Read(dev->get(), in.data(), in.size(), 512), MODTGT_STS_OK);
  EXPECT_EQ(in[0], 1);
  EXPECT_EQ(in[511], 1);
  EXPECT_EQ(in[512], 2);
  EXPECT_EQ(in[1535], 2);
}

TEST_F(RdwrTest, MissingFileIsRefusedWithReason) {
  Status s = reg_.CheckConfig(Cfg("rdwr", "/nonexistent/modtgt-disk.img"));
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/modtgt-disk.img"));
  EXPECT_THAT(s.message(), HasSubstr("No such file"));
  EXPECT_FALSE(reg_.OpenDevice(Cfg("rdwr", "/nonexistent/modtgt-disk.img")).ok());
  EXPECT_THAT(reg_.CheckConfig(Cfg("rdwr", "/tmp")).message(),
              HasSubstr("neither a regular file nor a block device"));
  EXPECT_THAT(reg_.CheckConfig(Cfg("rdwr", "")).message(), HasSubstr("no file given"));
  EXPECT_TRUE(FindModuleInfo(reg_.List(), "rdwr")->users.empty());
}

TEST_F(RdwrTest, ConfiguredSizeLargerThanFileExtendsItUnlessReadOnly) {
  DeviceConfig c = Cfg("rdwr", path_);
  c.size = 2 << 20;
  c.readonly = true;
  auto ro = reg_.OpenDevice(c);
  ASSERT_FALSE(ro.ok());
  EXPECT_THAT(ro.status().message(), HasSubstr("read-only (the file cannot be extended)"));
  c.readonly = false;
  auto dev = reg_.OpenDevice(c);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  EXPECT_EQ((*dev)->size_bytes(), 2u << 20);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 2 << 20);  // sparse-extended, like targetcli's fileio
  dev->reset();
  c.size = 512 * 1024;
  auto smaller = reg_.OpenDevice(c);
  ASSERT_TRUE(smaller.ok());
  EXPECT_EQ((*smaller)->size_bytes(), 512u * 1024);
}

// reconfig SIZE through Device::Reconfigure: the file grows, the size-changed callback (the
// LU's CAPACITY DATA HAS CHANGED) fires once, a shrink keeps the file, and an unaligned
// size or another file is refused with the reason.
TEST_F(RdwrTest, ReconfigureResizesLiveDevice) {
  auto dev = reg_.OpenDevice(Cfg("rdwr", path_));
  ASSERT_TRUE(dev.ok());
  const uint64_t before = (*dev)->size_bytes();
  std::atomic<int> changes{0};
  (*dev)->SetSizeChangedCallback([&] { changes++; });
  scsi::BackendReconfig rc;
  rc.size = before * 2;
  ASSERT_TRUE((*dev)->Reconfigure(rc).ok());
  EXPECT_EQ((*dev)->size_bytes(), before * 2);
  EXPECT_EQ(changes.load(), 1);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), before * 2);
  rc.size = before / 2;
  ASSERT_TRUE((*dev)->Reconfigure(rc).ok());
  EXPECT_EQ((*dev)->size_bytes(), before / 2);
  EXPECT_EQ(changes.load(), 2);
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), before * 2);  // data past the end is kept
  rc.size = before + 100;
  EXPECT_THAT((*dev)->Reconfigure(rc).message(), HasSubstr("not a multiple of the block size"));
  scsi::BackendReconfig other;
  other.cfgstring = "/tmp/some-other-file";
  Status s = (*dev)->Reconfigure(other);
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("cannot switch a live LUN"));
  EXPECT_EQ((*dev)->size_bytes(), before / 2);
  EXPECT_EQ(changes.load(), 2);
}

TEST_F(RdwrTest, ReadOnlyDeviceCannotWrite) {
  DeviceConfig c = Cfg("rdwr", path_);
  c.readonly = true;
  auto dev = reg_.OpenDevice(c);
  ASSERT_TRUE(dev.ok());
  IoLoop io;
  std::vector<uint8_t> buf(512, 9);
  EXPECT_EQ(io.Write(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(io.Read(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_OK);
}

// ---- bs_null ----

TEST_F(RdwrTest, NullSizes) {
  struct Case {
    std::string cfgstring, bsopts;
    uint64_t size;
    uint64_t want;
  } const cases[] = {
      {"null0", "", 0, 1ull << 40},             // tgt's default
      {"x", "size=10G", 0, 10ull << 30},
      {"x", "size=512MiB", 0, 512ull << 20},
      {"null/2T", "", 0, 2ull << 40},
      {"4096", "", 0, 4096},
      {"x", "size=10G", 1 << 20, 1 << 20},    // the configured size wins
  };
  for (const Case& c : cases) {
    DeviceConfig cfg = Cfg("null", c.cfgstring);
    cfg.bsopts = c.bsopts;
    cfg.size = c.size;
    auto dev = reg_.OpenDevice(cfg);
    ASSERT_TRUE(dev.ok()) << c.cfgstring << " " << c.bsopts << ": " << dev.status().ToString();
    EXPECT_EQ((*dev)->size_bytes(), c.want) << c.cfgstring << " " << c.bsopts;
  }
  DeviceConfig bad = Cfg("null", "x");
  bad.bsopts = "size=abc";
  EXPECT_THAT(reg_.CheckConfig(bad).message(), HasSubstr("invalid size 'abc'"));
  bad.bsopts = "colour=blue";
  EXPECT_THAT(reg_.CheckConfig(bad).message(), HasSubstr("unknown option 'colour=blue'"));
  bad.bsopts = "size=1000";
  EXPECT_THAT(reg_.CheckConfig(bad).message(), HasSubstr("not a multiple"));
  bad.bsopts = "size=99999999999999999999999";
  EXPECT_FALSE(reg_.CheckConfig(bad).ok());
}

TEST_F(RdwrTest, NullReadsZerosInline) {
  auto dev = reg_.OpenDevice(Cfg("null", "n"));
  ASSERT_TRUE(dev.ok());
  EXPECT_TRUE((*dev)->thin() && (*dev)->has_unmap() && (*dev)->has_write_same());
  IoLoop io;
  std::vector<uint8_t> buf(4096, 0xff);
  EXPECT_EQ(io.Write(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_OK);
  EXPECT_EQ(io.Read(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_OK);
  EXPECT_EQ(buf, std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(io.Simple(dev->get(), scsi::IoOp::kUnmap, 0, 4096), MODTGT_STS_OK);
}

// ABI 1.6: on this daemon bs_null answers reads with MODTGT_STS_ZEROS and writes nothing;
// a user that takes the flag (a READ) gets it, any other gets the zeros filled in.
TEST_F(RdwrTest, NullReadsAnswerZerosWithoutTouchingTheBuffer) {
  auto dev = reg_.OpenDevice(Cfg("null", "n"));
  ASSERT_TRUE(dev.ok());
  IoLoop io;
  std::vector<uint8_t> buf(8192, 0xff);
  IoLoop::Cmd cmd;
  io.Prepare(&cmd, scsi::IoOp::kRead);
  cmd.io.iov[0] = iovec{buf.data(), 4096};
  cmd.io.iov[1] = iovec{buf.data() + 4096, 4096};
  cmd.io.iovcnt = 2;
  cmd.io.zeros_ok = true;
  EXPECT_EQ(io.Run(dev->get(), &cmd), MODTGT_STS_OK);
  EXPECT_TRUE(cmd.io.zeros);
  EXPECT_EQ(buf, std::vector<uint8_t>(8192, 0xff));
  cmd.io.zeros_ok = false;
  cmd.io.zeros = false;
  EXPECT_EQ(io.Run(dev->get(), &cmd), MODTGT_STS_OK);
  EXPECT_FALSE(cmd.io.zeros);
  EXPECT_EQ(buf, std::vector<uint8_t>(8192, 0));
}

TEST(ModuleRegistry, HostTableStampsItsVersion) {
  const modtgt_host* h = ModuleRegistry::HostTable();
  EXPECT_EQ(h->struct_size, sizeof(modtgt_host));
  EXPECT_EQ(h->abi_version, MODTGT_ABI_VERSION);
  EXPECT_NE(h->log, nullptr);
  EXPECT_NE(h->cmd_complete, nullptr);
}


// ---- Live reload, rollback, unload and replace (DESIGN.md "Modules" rule 6) ----
// bs_ver1/bs_ver2 are two builds of module 'ver' (versions 1.0/2.0, reads fill 0x11/0x22):
// what a read returns tells which code runs.

class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/modtgt-reload-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  // Installs test module `from` as dir_/bs_NAME.so the way packagers do: write a new file,
  // rename it over the old one (a mapped file is never overwritten in place).
  std::string Install(const std::string& from, const std::string& name = "ver") {
    const std::string dst = dir_ + "/bs_" + name + ".so";
    const std::string tmp = dst + ".tmp";
    std::string cmd = "cp '" + TestModule(from) + "' '" + tmp + "' && mv -f '" + tmp + "' '" +
                      dst + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return dst;
  }
  // The byte a read from the device returns (the running code's MOD_FILL), or -1.
  int FillByte(scsi::Backend* b) {
    std::vector<uint8_t> buf(512, 0xee);
    if (io_.Read(b, buf.data(), buf.size(), 0) != MODTGT_STS_OK) return -1;
    return buf[0];
  }
  static std::string Version(const ModuleRegistry& reg) {
    const auto list = reg.List();
    const ModuleInfo* m = FindModuleInfo(list, "ver");
    return m ? m->version : "(not listed)";
  }

  std::string dir_;
  IoLoop io_;
};

TEST_F(ReloadTest, ReloadSwapsTheCodeUnderAnOpenDevice) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver1")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  EXPECT_EQ(FillByte(dev->get()), 0x11);
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver2")).ok());
  EXPECT_EQ(Version(reg), "2.0");
  EXPECT_EQ(FillByte(dev->get()), 0x22);
  EXPECT_FALSE(IsMapped(TestModule("ver1"))) << "the old code must be dlclosed";
  const auto list = reg.List();
  ASSERT_NE(FindModuleInfo(list, "ver"), nullptr);
  EXPECT_EQ(FindModuleInfo(list, "ver")->users, std::vector<std::string>{"tid 1 lun 1"});
  EXPECT_EQ(FindModuleInfo(list, "ver")->path, TestModule("ver2"));
  // And back again, many times.
  for (int i = 0; i < 10; i++) {
    ASSERT_TRUE(reg.Reload("ver", TestModule(i % 2 ? "ver2" : "ver1")).ok());
    EXPECT_EQ(FillByte(dev->get()), i % 2 ? 0x22 : 0x11);
  }
  dev->reset();
  EXPECT_TRUE(reg.Unload("ver").ok());
}

// A LUN whose data lives in storage the host keeps (ABI 1.3 dev_keep_fd) is never reopened
// on a module older than 1.3, which would not take the storage back: the reload is refused
// naming the LUN, rolled back, and the device keeps serving with its storage.
TEST_F(ReloadTest, ReloadToAPre13ModuleIsRefusedForALunWithKeptStorage) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver2")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  // Without kept storage an ABI 1.1 module may take the device (nothing to lose).
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver11")).ok());
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver2")).ok());
  modtgt_dev* d = static_cast<Device*>(dev->get())->dev();
  const int mfd = memfd_create("reload-test", MFD_CLOEXEC);
  ASSERT_GE(mfd, 0);
  ASSERT_EQ(ModuleRegistry::HostTable()->dev_keep_fd(d, mfd), 0);
  close(mfd);
  const int kept = ModuleRegistry::HostTable()->dev_kept_fd(d);
  Status s = reg.Reload("ver", TestModule("ver11"));
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("tid 1 lun 1 keeps its data in storage the daemon holds"));
  EXPECT_THAT(s.message(), HasSubstr("is built for ABI 1.1: it would reopen the LUN empty"));
  EXPECT_THAT(s.message(), HasSubstr("rolled back to the previous code"));
  EXPECT_EQ(Version(reg), "2.0");
  EXPECT_EQ(FillByte(dev->get()), 0x22);
  EXPECT_EQ(ModuleRegistry::HostTable()->dev_kept_fd(d), kept);
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver2")).ok());  // current code: fine
  dev->reset();
}

// ABI 1.4 (MODTGT_STS_NOT_LOCK_OWNER) keeps every 1.3 rule: a module built for 1.3 loads,
// reports its ABI, and takes over a LUN whose storage the host keeps.
TEST_F(ReloadTest, AnAbi13ModuleLoadsAndTakesALunWithKeptStorage) {
  static_assert(MODTGT_ABI_MINOR >= 4);
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver2")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  modtgt_dev* d = static_cast<Device*>(dev->get())->dev();
  const int mfd = memfd_create("reload-test", MFD_CLOEXEC);
  ASSERT_GE(mfd, 0);
  ASSERT_EQ(ModuleRegistry::HostTable()->dev_keep_fd(d, mfd), 0);
  close(mfd);
  const int kept = ModuleRegistry::HostTable()->dev_kept_fd(d);
  Status s = reg.Reload("ver", TestModule("ver13"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].abi_version, (1u << 16) | 3u);
  EXPECT_EQ(Version(reg), "1.3");
  EXPECT_EQ(FillByte(dev->get()), 0x13);
  EXPECT_EQ(ModuleRegistry::HostTable()->dev_kept_fd(d), kept);
  dev->reset();
}

// ABI 1.5 appended the event-loop services to the host table and changed nothing else: a
// module built for 1.4 loads, reports its ABI and serves I/O; the host table it gets has
// the services, which act only on an event-loop thread (this test thread is none).
TEST_F(ReloadTest, AnAbi14ModuleLoadsUnderA15Host) {
  static_assert(MODTGT_ABI_MINOR >= 5);
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver2")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok()) << dev.status().ToString();
  Status s = reg.Reload("ver", TestModule("ver14"));
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto list = reg.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].abi_version, (1u << 16) | 4u);
  EXPECT_EQ(Version(reg), "1.4");
  EXPECT_EQ(FillByte(dev->get()), 0x14);
  const modtgt_host* host = ModuleRegistry::HostTable();
  ASSERT_GE(host->struct_size, offsetof(modtgt_host, loop_unwatch) + sizeof(void*));
  EXPECT_EQ(host->loop_defer([](void*) {}, nullptr), MODTGT_ENOTSUP);
  EXPECT_EQ(host->loop_watch_fd(0, [](void*) {}, nullptr), nullptr);
  dev->reset();
}

TEST_F(ReloadTest, ReloadWithoutPathRereadsTheReplacedFile) {
  ModuleRegistry reg;
  const std::string path = Install("ver1");
  ASSERT_TRUE(reg.LoadFile(path).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  Install("ver2");
  ASSERT_TRUE(reg.Reload("ver", "").ok());
  EXPECT_EQ(Version(reg), "2.0");
  EXPECT_EQ(FillByte(dev->get()), 0x22);
}

struct BadReload {
  const char* file;  // test module name, or "-" for a missing file
  const char* message_part;
};

class ReloadRollback : public ReloadTest, public ::testing::WithParamInterface<BadReload> {};

TEST_P(ReloadRollback, FailedReloadRollsBackAndKeepsServing) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());  // another module: subtype clash
  ASSERT_TRUE(reg.LoadFile(TestModule("ver1")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  const std::string file = std::string(GetParam().file) == "-" ? dir_ + "/bs_missing.so"
                                                               : TestModule(GetParam().file);
  Status s = reg.Reload("ver", file);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr(GetParam().message_part));
  EXPECT_THAT(s.message(), HasSubstr("rolled back to the previous code"));
  EXPECT_EQ(Version(reg), "1.0");
  const auto list = reg.List();
  ASSERT_NE(FindModuleInfo(list, "ver"), nullptr);
  EXPECT_EQ(FindModuleInfo(list, "ver")->state, ModuleState::kReady);
  EXPECT_EQ(FindModuleInfo(list, "ver")->users, std::vector<std::string>{"tid 1 lun 1"});
  EXPECT_EQ(FillByte(dev->get()), 0x11) << "the old code serves again";
  // A good reload still works afterwards.
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver2")).ok());
  EXPECT_EQ(FillByte(dev->get()), 0x22);
}

INSTANTIATE_TEST_SUITE_P(
    Files, ReloadRollback,
    ::testing::Values(BadReload{"verloadfail", "no licence for the frobnicator"},
                      BadReload{"verreopenfail", "this build refuses to reopen devices"},
                      BadReload{"notelf", "invalid ELF header"},
                      BadReload{"noentry", "has no entry point modtgt_module_init"},
                      BadReload{"abi2", "built for ABI 2.0, this daemon speaks 1."},
                      BadReload{"loadretry", "is backing store 'loadretry', not 'ver'"},
                      BadReload{"versub", "duplicate backing store subtype 'ctest'"},
                      BadReload{"-", "cannot load module"}),
    [](const auto& info) {
      std::string n = info.param.file;
      return n == "-" ? std::string("missing") : n;
    });

TEST_F(ReloadTest, RollbackFindsTheOldCodeAfterThePathWasReplaced) {
  ModuleRegistry reg;
  const std::string path = Install("ver1");
  ASSERT_TRUE(reg.LoadFile(path).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  Install("verreopenfail");  // the path now names a build that cannot reopen
  Status s = reg.Reload("ver", "");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("rolled back"));
  EXPECT_EQ(Version(reg), "1.0");
  EXPECT_EQ(FillByte(dev->get()), 0x11);
}

TEST_F(ReloadTest, ReloadRefusesUnknownAndFailedModules) {
  ModuleRegistry reg;
  EXPECT_EQ(reg.Reload("nope", "").code(), Code::kNotFound);
  EXPECT_FALSE(reg.LoadFile(TestModule("loadfail")).ok());
  Status s = reg.Reload("loadfail", "");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("no licence for the frobnicator"));
}

TEST_F(ReloadTest, ReloadWithoutDevicesSwapsTheFile) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ver1")).ok());
  ASSERT_TRUE(reg.Reload("ver", TestModule("ver2")).ok());
  EXPECT_EQ(Version(reg), "2.0");
  EXPECT_FALSE(IsMapped(TestModule("ver1")));
}

TEST_F(ReloadTest, UnloadReallyDlclosesSoAReplacedFileLoadsNewCode) {
  ModuleRegistry reg;
  const std::string path = Install("ver1");
  ASSERT_TRUE(reg.LoadFile(path).ok());
  {
    auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
    ASSERT_TRUE(dev.ok());
    EXPECT_EQ(FillByte(dev->get()), 0x11);
    Status busy = reg.Unload("ver");
    EXPECT_EQ(busy.code(), Code::kBusy);
    EXPECT_THAT(busy.message(), HasSubstr("tid 1 lun 1"));
  }
  ASSERT_TRUE(reg.Unload("ver").ok());
  EXPECT_FALSE(IsMapped(path));
  EXPECT_EQ(FindModuleInfo(reg.List(), "ver"), nullptr);
  Install("ver2");
  ASSERT_TRUE(reg.LoadFile(path).ok());
  EXPECT_EQ(Version(reg), "2.0");
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(FillByte(dev->get()), 0x22);
}

TEST_F(ReloadTest, ReloadUnderConcurrentIoOnAWorkerPoolModule) {
  // bs_ctest runs its callouts on a 2-thread daemon pool and completes flushes
  // asynchronously: the pool is stopped and restarted by each reload, and no command may
  // fail or be lost while the loop keeps submitting.
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("ctest")).ok());
  auto dev = reg.OpenDevice(Cfg("ctest", "ram", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  scsi::Backend* b = dev->get();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::thread io([&] {
    std::vector<uint8_t> buf(4096, 0x5a);
    for (int i = 0; !stop; i++) {
      int st = i % 3 == 0   ? io_.Write(b, buf.data(), buf.size(), 4096 * (i % 64))
               : i % 3 == 1 ? io_.Read(b, buf.data(), buf.size(), 4096 * (i % 64))
                            : io_.Simple(b, scsi::IoOp::kFlush);
      (st == MODTGT_STS_OK ? ok : bad)++;
    }
  });
  for (int i = 0; i < 20; i++) {
    Status s = reg.Reload("ctest", "");
    EXPECT_TRUE(s.ok()) << s.ToString();
    // Let I/O complete between reloads (a wait on the I/O itself, not on time).
    const int before = ok.load() + bad.load();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (ok.load() + bad.load() < before + 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
  }
  stop = true;
  io.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(ok.load(), 20);
  const auto list = reg.List();
  ASSERT_NE(FindModuleInfo(list, "ctest"), nullptr);
  EXPECT_EQ(FindModuleInfo(list, "ctest")->users, std::vector<std::string>{"tid 1 lun 1"});
}

TEST_F(ReloadTest, FailedRollbackFailsTheDeviceIoButKeepsTheModuleListed) {
  ModuleRegistry reg;
  ASSERT_TRUE(reg.LoadFile(TestModule("verenv")).ok());
  auto dev = reg.OpenDevice(Cfg("ver", "x", "tid 1 lun 1"));
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(FillByte(dev->get()), 0x55);
  ASSERT_EQ(setenv("MODTGT_TEST_REOPEN_FAIL", "1", 1), 0);
  // The new build refuses to reopen; so does the old one when the rollback reopens.
  Status s = reg.Reload("ver", TestModule("verreopenfail"));
  unsetenv("MODTGT_TEST_REOPEN_FAIL");
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("this build refuses to reopen devices"));
  EXPECT_THAT(s.message(), HasSubstr("ROLLBACK FAILED"));
  EXPECT_THAT(s.message(), HasSubstr("reopen refused by MODTGT_TEST_REOPEN_FAIL"));
  EXPECT_EQ(FillByte(dev->get()), -1) << "the failed device answers with an error";
  std::vector<uint8_t> buf(512);
  EXPECT_EQ(io_.Write(dev->get(), buf.data(), buf.size(), 0), MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(Version(reg), "5.0");  // the old code is loaded again, without the device
  dev->reset();                    // deleting the LUN still works
  EXPECT_TRUE(reg.Unload("ver").ok());
}

}  // namespace
}  // namespace modtgt::core
