// SPDX-License-Identifier: Apache-2.0
//
// bs_ram: a thin, memory-backed backing store. Memory is taken in 64 KiB chunks on the
// first write that touches a chunk and given back when UNMAP (or WRITE SAME with UNMAP)
// covers a whole chunk; unwritten and unmapped ranges read as zeros. Contents last as long
// as the device is open (a module reload reopens it empty: reload is for code, and RAM
// contents cannot survive the old code being unmapped).
//
// Config: "ram/" (or any name) with the size from --size (targetcli style) or bsopts
// size=<N>[KMGT]; a size is required. --op update --size resizes it live. I/O runs inline on the event loops (nr_threads = 0); a per-device mutex
// serialises the chunk map across loops.
//
// Atomic writes (ABI 1.2): every read and write holds that mutex for its whole range, so a
// write of any size is all or nothing for every other command, and there is no power
// loss to survive (the contents die with the process). Declared up to kAtomicMaxBytes.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../common/config_size.h"
#include "modtgt/module.hpp"

namespace {

constexpr uint64_t kChunk = 64 * 1024;
// The largest atomic write declared: how long one write may hold the device's mutex.
constexpr uint32_t kAtomicMaxBytes = 8u << 20;

class RamDevice {
 public:
  static void CheckConfig(const modtgt_dev_config& cfg) { (void)SizeOf(cfg); }
  static uint64_t SizeOf(const modtgt_dev_config& cfg) {
    return modtgt::modules::SizeFromConfig(cfg, 0, "ram");
  }

  RamDevice(modtgt::Device dev, bool /*reopen*/) : size_(SizeOf(dev.config())) {
    dev.set_size(size_);
    dev.set_atomic_limits(kAtomicMaxBytes, 0, 0);
  }

  int Read(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset) {
    std::lock_guard<std::mutex> l(mu_);
    for (int i = 0; i < iovcnt; i++) {
      auto* p = static_cast<uint8_t*>(iov[i].iov_base);
      ForEachChunk(offset, iov[i].iov_len, [&](uint64_t off, uint8_t* chunk, size_t n) {
        if (chunk) std::memcpy(p, chunk + off % kChunk, n);
        else std::memset(p, 0, n);
        p += n;
      }, /*allocate=*/false);
      offset += iov[i].iov_len;
    }
    return MODTGT_STS_OK;
  }

  int Write(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset, uint32_t) {
    std::lock_guard<std::mutex> l(mu_);
    for (int i = 0; i < iovcnt; i++) {
      const auto* p = static_cast<const uint8_t*>(iov[i].iov_base);
      ForEachChunk(offset, iov[i].iov_len, [&](uint64_t off, uint8_t* chunk, size_t n) {
        std::memcpy(chunk + off % kChunk, p, n);
        p += n;
      }, /*allocate=*/true);
      offset += iov[i].iov_len;
    }
    return MODTGT_STS_OK;
  }

  int Flush(modtgt_io*) { return MODTGT_STS_OK; }

  // SIZE: grows, or shrinks and frees what lies past the new end (so growing again reads
  // zeros there). No I/O is in flight (module.h). WRITE_CACHE: RAM has no stable storage
  // behind it; nothing to change. Another config string names no other storage: refused.
  int Reconfig(const modtgt_reconfig& rc) {
    if (rc.what & MODTGT_RECONFIG_CFGSTRING) {
      throw modtgt::Error(MODTGT_EINVAL, "ram has no storage to switch to; delete and re-create the LUN");
    }
    if (rc.what & MODTGT_RECONFIG_SIZE) {
      std::lock_guard<std::mutex> l(mu_);
      if (rc.size < size_) {
        for (auto it = chunks_.begin(); it != chunks_.end();) {
          const uint64_t start = it->first * kChunk;
          if (start >= rc.size) {
            it = chunks_.erase(it);
          } else {
            if (start + kChunk > rc.size) {
              std::memset(it->second.get() + (rc.size - start), 0, start + kChunk - rc.size);
            }
            ++it;
          }
        }
      }
      size_ = rc.size;
    }
    return 0;
  }

  // GET LBA STATUS: a run of chunks that hold memory is mapped, a run without is
  // deallocated (a partly unmapped chunk keeps its memory: mapped).
  int GetLbaStatus(modtgt_io*, uint64_t offset, uint64_t length, modtgt_lba_status* out) {
    std::lock_guard<std::mutex> l(mu_);
    const bool mapped = chunks_.count(offset / kChunk) != 0;
    uint64_t end = (offset / kChunk + 1) * kChunk;
    while (end < offset + length && (chunks_.count(end / kChunk) != 0) == mapped) end += kChunk;
    out->state = mapped ? MODTGT_LBA_MAPPED : MODTGT_LBA_DEALLOCATED;
    out->length = std::min(end, offset + length) - offset;
    return MODTGT_STS_OK;
  }

  // Frees whole chunks in [offset, offset+length) and zeroes the partial ones at the ends.
  int Unmap(modtgt_io*, uint64_t offset, uint64_t length) {
    std::lock_guard<std::mutex> l(mu_);
    ForEachChunk(offset, length, [&](uint64_t off, uint8_t* chunk, size_t n) {
      if (chunk == nullptr) return;
      if (n == kChunk) {
        chunks_.erase(off / kChunk);
      } else {
        std::memset(chunk + off % kChunk, 0, n);
      }
    }, /*allocate=*/false);
    return MODTGT_STS_OK;
  }

 private:
  // Walks [offset, offset+len) chunk by chunk, calling fn(offset, chunk or nullptr, bytes).
  // REQUIRES: mu_ held.
  template <typename Fn>
  void ForEachChunk(uint64_t offset, uint64_t len, Fn fn, bool allocate) {
    while (len > 0) {
      const uint64_t index = offset / kChunk;
      const size_t n = static_cast<size_t>(std::min<uint64_t>(len, kChunk - offset % kChunk));
      uint8_t* chunk = nullptr;
      auto it = chunks_.find(index);
      if (it != chunks_.end()) {
        chunk = it->second.get();
      } else if (allocate) {
        auto mem = std::make_unique<uint8_t[]>(kChunk);  // value-initialised: zeros
        chunk = mem.get();
        chunks_.emplace(index, std::move(mem));
      }
      fn(offset, chunk, n);
      offset += n;
      len -= n;
    }
  }

  uint64_t size_;  // GUARDED_BY(mu_) after construction
  std::mutex mu_;
  std::unordered_map<uint64_t, std::unique_ptr<uint8_t[]>> chunks_;  // GUARDED_BY(mu_)
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(RamDevice, "ram", .version = "1.0.0",
                              .description = "thin memory-backed store (pages on first write, freed on UNMAP)",
                              .cfg_desc = "ram/ with --size SIZE (or --bsopts size=<N>[KMGT])",
                              .nr_threads = 0, .caps = MODTGT_CAP_THIN | MODTGT_CAP_ATOMIC_WRITE)
