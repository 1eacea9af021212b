// SPDX-License-Identifier: Apache-2.0
//
// bs_ram against a fake host (no daemon): the memory budget (parsing, creation and resize
// refusals, SPACE_EXHAUSTED with nothing written, memory given back by UNMAP, shrink and
// close), and the memory the host keeps (ABI 1.3 dev_keep_fd): a reload (unload + load +
// open of the same LUN) and a second device of the same LUN (a rebuild) find the data,
// charged once. ram.cc is compiled into this binary and driven through its descriptor.
#include <fcntl.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fakes/module_host.h"
#include "modtgt/module.h"
#include "ram_budget.h"

namespace {

using modtgt::fake_host::t_error;
const modtgt_host g_host = modtgt::fake_host::MakeHost();
const modtgt_backing_store* D() { return modtgt::fake_host::Descriptor(&g_host); }
modtgt_io* Io() { return reinterpret_cast<modtgt_io*>(16); }

constexpr uint64_t kPage = 4096;

class RamTest : public ::testing::Test {
 protected:
  void SetUp() override { Load("64K"); }
  void TearDown() override {
    for (auto* d : open_) D()->close(d);
    open_.clear();
    D()->unload ? D()->unload() : void();
    unsetenv(modtgt::ram::kBudgetEnv);
  }
  void Load(const char* budget) {
    setenv(modtgt::ram::kBudgetEnv, budget, 1);
    ASSERT_EQ(D()->load(), 0) << t_error;
  }
  static void Config(modtgt_dev* d, uint64_t size) {
    d->config = modtgt_dev_config{};
    d->config.struct_size = sizeof(modtgt_dev_config);
    d->config.block_size = 512;
    d->cfgstring = "ram/";
    d->config.cfgstring = d->cfgstring.c_str();
    d->config.path = d->path.c_str();
    d->config.bsopts = "";
    d->config.size = size;
    d->config.write_cache = 1;
    d->config.wwn = "";
  }
  int Open(modtgt_dev* d, uint64_t size, int reopen = 0) {
    Config(d, size);
    const int rc = D()->open(d, reopen);
    if (rc == 0) open_.push_back(d);
    return rc;
  }
  void Close(modtgt_dev* d) {
    D()->close(d);
    open_.erase(std::find(open_.begin(), open_.end(), d));
  }
  static int Write(modtgt_dev* d, uint64_t off, size_t len, uint8_t byte) {
    std::vector<uint8_t> buf(len, byte);
    iovec v{buf.data(), len};
    return D()->write(d, Io(), &v, 1, off, 0);
  }
  static std::vector<uint8_t> Read(modtgt_dev* d, uint64_t off, size_t len) {
    std::vector<uint8_t> buf(len, 0x55);
    iovec v{buf.data(), len};
    EXPECT_EQ(D()->read(d, Io(), &v, 1, off), MODTGT_STS_OK);
    return buf;
  }
  // Devices live in the fixture: TearDown closes the ones still open.
  modtgt_dev& Dev() { return devs_.emplace_back(); }
  std::deque<modtgt_dev> devs_;
  std::vector<modtgt_dev*> open_;
};

TEST(RamBudget, ParsesSizesAndPercentages) {
  uint64_t b = 0;
  std::string err;
  EXPECT_TRUE(modtgt::ram::ParseBudget("8G", 0, &b, &err));
  EXPECT_EQ(b, 8ull << 30);
  EXPECT_TRUE(modtgt::ram::ParseBudget("25%", 1000, &b, &err));
  EXPECT_EQ(b, 250u);
  EXPECT_TRUE(modtgt::ram::ParseBudget("100%", 1ull << 40, &b, &err));
  EXPECT_EQ(b, 1ull << 40);
  for (const char* bad : {"", "lots", "0", "0%", "101%", "%", "-5%", "8X", "1000%"}) {
    EXPECT_FALSE(modtgt::ram::ParseBudget(bad, 1000, &b, &err)) << bad;
    EXPECT_NE(err.find("MODTGT_RAM_BUDGET"), std::string::npos) << err;
  }
}

TEST(RamBudget, ChargesUpToTheLimitOnly) {
  modtgt::ram::Budget b;
  b.set_limit(100);
  EXPECT_TRUE(b.Charge(60));
  EXPECT_FALSE(b.Charge(41));
  EXPECT_TRUE(b.Charge(40));
  EXPECT_FALSE(b.Charge(1));
  b.Release(50);
  EXPECT_TRUE(b.Charge(50));
  EXPECT_FALSE(b.Charge(UINT64_MAX));
  EXPECT_EQ(b.used(), 100u);
}

TEST_F(RamTest, BadBudgetFailsLoadWithTheReason) {
  setenv(modtgt::ram::kBudgetEnv, "lots", 1);
  t_error.clear();
  EXPECT_NE(D()->load(), 0);
  EXPECT_NE(t_error.find("MODTGT_RAM_BUDGET='lots' is not a size"), std::string::npos) << t_error;
  Load("64K");
}

TEST_F(RamTest, SizeBeyondTheBudgetIsRefusedAtCreationAndResize) {
  modtgt_dev& d = Dev();
  Config(&d, 128 << 10);
  t_error.clear();
  EXPECT_EQ(D()->check_config(&d.config), MODTGT_EINVAL);
  EXPECT_NE(t_error.find("larger than the memory budget of all ram LUNs, 64.0 KiB"),
            std::string::npos) << t_error;
  Config(&d, UINT64_MAX / 512 * 512);  // 16 EiB: no allocation is attempted
  EXPECT_EQ(D()->check_config(&d.config), MODTGT_EINVAL);
  EXPECT_NE(D()->open(&d, 0), 0);
  ASSERT_EQ(Open(&d, 64 << 10), 0) << t_error;
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_SIZE;
  rc.size = 1 << 20;
  EXPECT_EQ(D()->reconfig(&d, &rc), MODTGT_EINVAL);
}

TEST_F(RamTest, WritePastTheBudgetIsSpaceExhaustedAndWritesNothing) {
  modtgt_dev& a = Dev();
  modtgt_dev& b = Dev();
  ASSERT_EQ(Open(&a, 64 << 10), 0) << t_error;
  ASSERT_EQ(Open(&b, 64 << 10), 0) << t_error;  // overcommitted together: allowed
  EXPECT_EQ(Write(&a, 0, 48 << 10, 0x11), MODTGT_STS_OK);
  EXPECT_EQ(Write(&b, 0, 16 << 10, 0x22), MODTGT_STS_OK);  // 64K used: the whole budget
  // A write spanning an allocated page and a new one: refused whole.
  EXPECT_EQ(Write(&b, 12 << 10, 8 << 10, 0x33), MODTGT_STS_SPACE_EXHAUSTED);
  std::vector<uint8_t> want(8 << 10, 0);
  std::memset(want.data(), 0x22, 4 << 10);
  EXPECT_EQ(Read(&b, 12 << 10, 8 << 10), want);
  // Rewriting pages that hold memory needs no more.
  EXPECT_EQ(Write(&a, 0, 512, 0x44), MODTGT_STS_OK);
  // UNMAP gives whole pages back (a partial page is zeroed, still held).
  modtgt_io* io = Io();
  EXPECT_EQ(D()->unmap(&a, io, 0, kPage + 512), MODTGT_STS_OK);
  EXPECT_EQ(Read(&a, 0, kPage + 512), std::vector<uint8_t>(kPage + 512, 0));
  EXPECT_EQ(Write(&b, 16 << 10, kPage, 0x55), MODTGT_STS_OK);  // the freed page
  EXPECT_EQ(Write(&b, 20 << 10, kPage, 0x55), MODTGT_STS_SPACE_EXHAUSTED);
  // Shrinking gives the pages past the end back.
  modtgt_reconfig rc{};
  rc.struct_size = sizeof(rc);
  rc.what = MODTGT_RECONFIG_SIZE;
  rc.size = 16 << 10;
  ASSERT_EQ(D()->reconfig(&a, &rc), 0) << t_error;  // a keeps pages 1-3, b has 0-4
  EXPECT_EQ(Write(&b, 20 << 10, 32 << 10, 0x66), MODTGT_STS_OK);  // b: pages 0-12
  EXPECT_EQ(Write(&b, 52 << 10, kPage, 0x66), MODTGT_STS_SPACE_EXHAUSTED);
  // Closing the last device of a LUN gives all of it back.
  Close(&a);
  EXPECT_EQ(Write(&b, 52 << 10, 12 << 10, 0x77), MODTGT_STS_OK);
}

TEST_F(RamTest, DataSurvivesAReloadInTheMemoryTheHostKeeps) {
  modtgt_dev& d = Dev();
  ASSERT_EQ(Open(&d, 64 << 10), 0) << t_error;
  ASSERT_GE(*d.kept, 0) << "the module did not hand its memory to the host";
  EXPECT_EQ(Write(&d, 8 << 10, 8 << 10, 0xa5), MODTGT_STS_OK);
  EXPECT_EQ(Write(&d, 40 << 10, 512, 0x5a), MODTGT_STS_OK);
  // bsreload: close, unload, load (the module's globals start over), open(dev, 1).
  Close(&d);
  D()->unload ? D()->unload() : void();
  Load("64K");
  ASSERT_EQ(Open(&d, 64 << 10, /*reopen=*/1), 0) << t_error;
  EXPECT_EQ(Read(&d, 8 << 10, 8 << 10), std::vector<uint8_t>(8 << 10, 0xa5));
  EXPECT_EQ(Read(&d, 40 << 10, 512), std::vector<uint8_t>(512, 0x5a));
  EXPECT_EQ(Read(&d, 0, 8 << 10), std::vector<uint8_t>(8 << 10, 0));
  // The reopened LUN was charged for its 3 pages again: 13 more fit, the 14th does not.
  modtgt_dev& other = Dev();
  ASSERT_EQ(Open(&other, 64 << 10), 0) << t_error;
  EXPECT_EQ(Write(&other, 0, 52 << 10, 1), MODTGT_STS_OK);
  EXPECT_EQ(Write(&other, 52 << 10, 512, 1), MODTGT_STS_SPACE_EXHAUSTED);
}

TEST_F(RamTest, ARebuiltLuSharesTheMemoryAndIsChargedOnce) {
  modtgt_dev& old_dev = Dev();
  ASSERT_EQ(Open(&old_dev, 64 << 10), 0) << t_error;
  EXPECT_EQ(Write(&old_dev, 0, 48 << 10, 0x42), MODTGT_STS_OK);
  // The rebuild opens a new device on the same kept memory while the old one is open.
  modtgt_dev& fresh = Dev();
  fresh.kept = old_dev.kept;
  ASSERT_EQ(Open(&fresh, 64 << 10), 0) << t_error;
  EXPECT_EQ(Read(&fresh, 0, 48 << 10), std::vector<uint8_t>(48 << 10, 0x42));
  // I/O through the old device (still in flight at the swap) lands in the same memory.
  EXPECT_EQ(Write(&old_dev, 48 << 10, kPage, 0x43), MODTGT_STS_OK);
  EXPECT_EQ(Read(&fresh, 48 << 10, kPage), std::vector<uint8_t>(kPage, 0x43));
  Close(&old_dev);
  // 52K in use, counted once: 12K more fit.
  EXPECT_EQ(Write(&fresh, 52 << 10, 12 << 10, 0x44), MODTGT_STS_OK);
  modtgt_dev& other = Dev();
  ASSERT_EQ(Open(&other, 16 << 10), 0) << t_error;
  EXPECT_EQ(Write(&other, 0, 512, 1), MODTGT_STS_SPACE_EXHAUSTED);
  EXPECT_EQ(Read(&fresh, 0, 48 << 10), std::vector<uint8_t>(48 << 10, 0x42));
}

}  // namespace
