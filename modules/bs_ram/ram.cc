// SPDX-License-Identifier: Apache-2.0
//
// bs_ram: a thin, memory-backed backing store. A LUN's data lives in a memfd (anonymous
// shared memory) as large as the LUN: pages are taken on the first write that touches
// them and given back by UNMAP (or WRITE SAME with UNMAP; fallocate PUNCH_HOLE); holes
// read as zeros.
//
// The memfd is handed to the host (ABI 1.3 host->dev_keep_fd), which keeps it with the
// LUN: a module reload (bsreload) and a rebuild of the LU (logicalunit --op update) reopen
// the LUN on the same memory, so neither loses data. Deleting the LUN or stopping the
// daemon frees it.
//
// Memory budget: every ram LUN of the daemon shares one budget (ram_budget.h; the
// environment variable MODTGT_RAM_BUDGET, default half of the physical memory). A LUN
// larger than the budget is refused at creation and at resize; a write that would take
// the pages held by all ram LUNs past it answers SPACE ALLOCATION FAILED WRITE PROTECT
// (MODTGT_STS_SPACE_EXHAUSTED) and writes nothing.
//
// Config: "ram/" (or any name) with the size from --size (targetcli style) or bsopts
// size=<N>[KMGT]; a size is required. --op update --size resizes it live. I/O runs inline
// on the event loops (nr_threads = 0: pread/pwrite on memory never block for long); a
// mutex per LUN serialises its I/O.
//
// Atomic writes (ABI 1.2): every read and write holds that mutex for its whole range, so a
// write of any size is all or nothing for every other command, and there is no power
// loss to survive (the contents die with the process). Declared up to kAtomicMaxBytes.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../common/config_size.h"
#include "../common/lba_status.h"
#include "modtgt/module.hpp"
#include "ram_budget.h"

namespace {

using modtgt::ram::HumanBytes;

// The largest atomic write declared: how long one write may hold the device's mutex.
constexpr uint32_t kAtomicMaxBytes = 8u << 20;

modtgt::ram::Budget g_budget;

uint64_t PageSize() {
  static const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The memory of one LUN: its memfd and which pages hold memory (charged to the budget).
// Shared by the devices opened on the same memfd (the old and the new device of a
// rebuilt LU are both open for a moment).
struct RamStore {
  ~RamStore() {
    g_budget.Release(pages * PageSize());
    if (fd >= 0) close(fd);
  }
  int fd = -1;
  ino_t ino = 0;
  std::mutex mu;
  uint64_t size = 0;            // GUARDED_BY(mu)
  std::vector<uint64_t> bits;   // GUARDED_BY(mu): one bit per page, set = has memory
  uint64_t pages = 0;           // GUARDED_BY(mu): bits set = pages charged

  bool Has(uint64_t p) const { return (bits[p / 64] >> (p % 64)) & 1; }
  void Set(uint64_t p) { bits[p / 64] |= uint64_t{1} << (p % 64); }
  void Clear(uint64_t p) { bits[p / 64] &= ~(uint64_t{1} << (p % 64)); }
  void Resize(uint64_t bytes) { bits.resize((bytes / PageSize() + 64) / 64, 0); }
};

// Open stores by memfd inode, so a second open of one LUN's memory shares its accounting.
std::mutex g_stores_mu;
std::map<ino_t, std::weak_ptr<RamStore>> g_stores;  // GUARDED_BY(g_stores_mu)

// Rebuilds the page map of a kept memfd (after a reload the module's memory is new) from
// the file's holes, and charges what it holds.
void ScanPages(RamStore* s) {
  const uint64_t page = PageSize();
  uint64_t off = 0;
  while (off < s->size) {
    off_t data = lseek(s->fd, static_cast<off_t>(off), SEEK_DATA);
    if (data < 0) break;  // ENXIO: only holes from here
    off_t hole = lseek(s->fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(s->size);
    for (uint64_t p = static_cast<uint64_t>(data) / page;
         p * page < static_cast<uint64_t>(hole) && p * page < s->size; p++) {
      if (!s->Has(p)) {
        s->Set(p);
        s->pages++;
      }
    }
    off = static_cast<uint64_t>(hole);
  }
  g_budget.ForceCharge(s->pages * page);
}

// The store for a memfd the host kept, shared if another device has it open.
std::shared_ptr<RamStore> StoreForKept(int kept, uint64_t size) {
  struct stat st {};
  if (fstat(kept, &st) != 0) {
    throw modtgt::Error(MODTGT_EIO, std::string("cannot stat the LUN's kept memory: ") +
                                        std::strerror(errno));
  }
  std::lock_guard<std::mutex> l(g_stores_mu);
  if (auto it = g_stores.find(st.st_ino); it != g_stores.end()) {
    if (auto s = it->second.lock()) return s;
  }
  auto s = std::make_shared<RamStore>();
  s->fd = fcntl(kept, F_DUPFD_CLOEXEC, 0);
  if (s->fd < 0) throw modtgt::Error(MODTGT_ENOMEM, "cannot duplicate the LUN's kept memory fd");
  s->ino = st.st_ino;
  s->size = static_cast<uint64_t>(st.st_size);
  if (s->size != size) {
    // A resize the host recorded but the memory did not see (should not happen): follow
    // the configuration.
    modtgt::Log(MODTGT_LOG_WARN, "kept memory is %llu bytes, the LUN %llu: resized",
                static_cast<unsigned long long>(s->size), static_cast<unsigned long long>(size));
    if (ftruncate(s->fd, static_cast<off_t>(size)) != 0) {
      throw modtgt::Error(MODTGT_EIO, std::string("cannot resize the LUN's kept memory: ") +
                                          std::strerror(errno));
    }
    s->size = size;
  }
  s->Resize(s->size);
  ScanPages(s.get());
  g_stores[s->ino] = s;
  return s;
}

// A new, empty store, handed to the host to keep.
std::shared_ptr<RamStore> NewStore(modtgt::Device dev, uint64_t size) {
  auto s = std::make_shared<RamStore>();
  s->fd = memfd_create("modtgt-ram", MFD_CLOEXEC);
  if (s->fd < 0) {
    throw modtgt::Error(MODTGT_ENOMEM, std::string("memfd_create: ") + std::strerror(errno));
  }
  if (ftruncate(s->fd, static_cast<off_t>(size)) != 0) {
    throw modtgt::Error(MODTGT_ENOMEM, std::string("cannot size the LUN's memory to ") +
                                           HumanBytes(size) + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(s->fd, &st) == 0) s->ino = st.st_ino;
  s->size = size;
  s->Resize(size);
  const int rc = dev.keep_fd(s->fd);
  if (rc == MODTGT_ENOTSUP) {
    modtgt::Log(MODTGT_LOG_WARN, "this daemon cannot keep a LUN's memory (ABI before 1.3): "
                                 "a module reload will empty the LUN");
  } else if (rc != 0) {
    throw modtgt::Error(rc, "the daemon could not keep the LUN's memory");
  }
  std::lock_guard<std::mutex> l(g_stores_mu);
  g_stores[s->ino] = s;
  return s;
}

// Runs pread/pwrite over every iovec at `offset`. Returns 0 or an errno.
int FullIo(bool write, int fd, const iovec* iov, int iovcnt, uint64_t offset) {
  for (int i = 0; i < iovcnt; i++) {
    auto* p = static_cast<uint8_t*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left > 0) {
      const ssize_t n = write ? pwrite(fd, p, left, static_cast<off_t>(offset))
                              : pread(fd, p, left, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) {
        if (write) return EIO;
        std::memset(p, 0, left);  // past the end of the memory (the core checked: no)
        offset += left;
        break;
      }
      p += n;
      left -= static_cast<size_t>(n);
      offset += static_cast<uint64_t>(n);
    }
  }
  return 0;
}

class RamDevice {
 public:
  static uint64_t SizeOf(const modtgt_dev_config& cfg) {
    return modtgt::modules::SizeFromConfig(cfg, 0, "ram");
  }
  static void CheckSize(uint64_t size) {
    if (size > g_budget.limit()) {
      throw modtgt::Error(MODTGT_EINVAL,
                          "a ram LUN of " + HumanBytes(size) + " is larger than the memory "
                          "budget of all ram LUNs, " + HumanBytes(g_budget.limit()) + " (" +
                          modtgt::ram::kBudgetEnv + " in modtgtd's environment; default " +
                          std::to_string(modtgt::ram::kDefaultBudgetPercent) +
                          "% of the physical memory)");
    }
  }
  static void CheckConfig(const modtgt_dev_config& cfg) { CheckSize(SizeOf(cfg)); }

  // Reads the budget from the environment (a bad value fails the module's load with the
  // reason; it is listed in state error).
  static int Load() {
    const uint64_t physical =
        static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    uint64_t limit = physical / 100 * modtgt::ram::kDefaultBudgetPercent;
    const char* env = std::getenv(modtgt::ram::kBudgetEnv);
    if (env != nullptr && *env != '\0') {
      std::string error;
      if (!modtgt::ram::ParseBudget(env, physical, &limit, &error)) {
        throw modtgt::Error(MODTGT_EINVAL, error);
      }
      if (limit > physical) {
        modtgt::Log(MODTGT_LOG_WARN, "%s=%s is more than the physical memory (%s)",
                    modtgt::ram::kBudgetEnv, env, HumanBytes(physical).c_str());
      }
    }
    g_budget.set_limit(limit);
    modtgt::Log(MODTGT_LOG_INFO, "memory budget of all ram LUNs: %s%s", HumanBytes(limit).c_str(),
                env != nullptr && *env != '\0' ? "" : " (half of the physical memory)");
    return 0;
  }

  // A kept memfd (a reload, a rebuilt LU) is the LUN's data: taken back whatever `reopen`
  // says. Without one the LUN starts empty.
  RamDevice(modtgt::Device dev, bool /*reopen*/) {
    const uint64_t size = SizeOf(dev.config());
    CheckSize(size);
    const int kept = dev.kept_fd();
    store_ = kept >= 0 ? StoreForKept(kept, size) : NewStore(dev, size);
    dev.set_size(size);
    dev.set_atomic_limits(kAtomicMaxBytes, 0, 0);
  }

  ~RamDevice() {
    std::lock_guard<std::mutex> l(g_stores_mu);
    const ino_t ino = store_->ino;
    store_.reset();  // the last device of the store releases its charge and fd
    if (auto it = g_stores.find(ino); it != g_stores.end() && it->second.expired()) {
      g_stores.erase(it);
    }
  }

  int Read(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset) {
    std::lock_guard<std::mutex> l(store_->mu);
    return FullIo(false, store_->fd, iov, iovcnt, offset) == 0 ? MODTGT_STS_OK
                                                                : MODTGT_STS_READ_ERROR;
  }

  int Write(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset, uint32_t) {
    uint64_t len = 0;
    for (int i = 0; i < iovcnt; i++) len += iov[i].iov_len;
    if (len == 0) return MODTGT_STS_OK;
    RamStore& s = *store_;
    std::lock_guard<std::mutex> l(s.mu);
    const uint64_t page = PageSize();
    const uint64_t first = offset / page, last = (offset + len - 1) / page;
    uint64_t fresh = 0;
    for (uint64_t p = first; p <= last; p++) fresh += s.Has(p) ? 0 : 1;
    if (fresh != 0) {
      if (!g_budget.Charge(fresh * page)) {
        ReportExhausted();
        return MODTGT_STS_SPACE_EXHAUSTED;
      }
      exhausted_logged_ = false;
    }
    const int err = FullIo(true, s.fd, iov, iovcnt, offset);
    // Pages written even in part hold memory now (counted even after a failed write: the
    // kernel may have taken some).
    for (uint64_t p = first; p <= last; p++) {
      if (!s.Has(p)) s.Set(p);
    }
    s.pages += fresh;
    if (err == ENOSPC || err == ENOMEM) return MODTGT_STS_SPACE_EXHAUSTED;
    return err == 0 ? MODTGT_STS_OK : MODTGT_STS_WRITE_ERROR;
  }

  int Flush(modtgt_io*) { return MODTGT_STS_OK; }

  // Frees the whole pages in [offset, offset+length) and zeroes the partial ones at the
  // ends (fallocate PUNCH_HOLE does both).
  int Unmap(modtgt_io*, uint64_t offset, uint64_t length) {
    RamStore& s = *store_;
    std::lock_guard<std::mutex> l(s.mu);
    if (fallocate(s.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) != 0) {
      return MODTGT_STS_WRITE_ERROR;
    }
    const uint64_t page = PageSize();
    const uint64_t end = std::min(offset + length, s.size);
    for (uint64_t p = (offset + page - 1) / page; (p + 1) * page <= end; p++) {
      if (s.Has(p)) {
        s.Clear(p);
        s.pages--;
        g_budget.Release(page);
      }
    }
    // The last partial page of a LUN whose size is not a page multiple.
    if (end == s.size && s.size % page != 0 && offset <= s.size / page * page) {
      const uint64_t p = s.size / page;
      if (s.Has(p)) {
        s.Clear(p);
        s.pages--;
        g_budget.Release(page);
      }
    }
    return MODTGT_STS_OK;
  }

  // GET LBA STATUS from the memfd's holes (a page with memory is mapped).
  int GetLbaStatus(modtgt_io*, uint64_t offset, uint64_t length, modtgt_lba_status* out) {
    std::lock_guard<std::mutex> l(store_->mu);
    modtgt_fd_lba_status(store_->fd, 0, offset, length, out);
    return MODTGT_STS_OK;
  }

  // SIZE: within the budget; grows (zeros), or shrinks and frees what lies past the new
  // end. No I/O is in flight (module.h). WRITE_CACHE: RAM has no stable storage behind it;
  // nothing to change. Another config string names no other storage: refused.
  int Reconfig(const modtgt_reconfig& rc) {
    if (rc.what & MODTGT_RECONFIG_CFGSTRING) {
      throw modtgt::Error(MODTGT_EINVAL, "ram has no storage to switch to; delete and re-create the LUN");
    }
    if (rc.what & MODTGT_RECONFIG_SIZE) {
      CheckSize(rc.size);
      RamStore& s = *store_;
      std::lock_guard<std::mutex> l(s.mu);
      if (ftruncate(s.fd, static_cast<off_t>(rc.size)) != 0) {
        throw modtgt::Error(MODTGT_ENOMEM, std::string("cannot resize the LUN's memory: ") +
                                               std::strerror(errno));
      }
      const uint64_t page = PageSize();
      if (rc.size < s.size) {
        for (uint64_t p = (rc.size + page - 1) / page; p * page < s.size; p++) {
          if (s.Has(p)) {
            s.Clear(p);
            s.pages--;
            g_budget.Release(page);
          }
        }
      }
      s.size = rc.size;
      s.Resize(rc.size);
    }
    return 0;
  }

 private:
  // Logged once per LUN per exhaustion episode, not per write.
  void ReportExhausted() {
    if (exhausted_logged_) return;
    exhausted_logged_ = true;
    modtgt::Log(MODTGT_LOG_WARN,
                "the memory budget of all ram LUNs (%s, %s) is used up: writes to new "
                "blocks fail with SPACE ALLOCATION FAILED until LUNs are unmapped or deleted",
                HumanBytes(g_budget.limit()).c_str(), modtgt::ram::kBudgetEnv);
  }

  std::shared_ptr<RamStore> store_;
  bool exhausted_logged_ = false;  // GUARDED_BY(store_->mu)
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(RamDevice, "ram", .version = "1.1.0",
                              .description = "thin memory-backed store (memfd kept by the daemon "
                                             "across reloads; one memory budget for all)",
                              .cfg_desc = "ram/ with --size SIZE (or --bsopts size=<N>[KMGT])",
                              .nr_threads = 0, .caps = MODTGT_CAP_THIN | MODTGT_CAP_ATOMIC_WRITE)
