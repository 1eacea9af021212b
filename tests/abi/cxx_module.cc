// SPDX-License-Identifier: Apache-2.0
//
// bs_cxxtest: a backing store written with modtgt/module.hpp: a RAM disk run inline on the
// loop (nr_threads = 0). Path "throw" makes the constructor (open) throw modtgt::Error;
// path "throw-io" makes every read throw std::runtime_error; bsopts "bad" fails
// check_config with a thrown std::logic_error (not modtgt::Error); path "bad-status"
// makes reads return a value that is not a modtgt_status. ABI 1.2 members: GetLbaStatus
// (every range mapped, in 4 KiB steps) and 32 KiB atomic writes declared through
// modtgt::Device::set_atomic_limits (path "atomic" only).
#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "modtgt/module.hpp"

namespace {

class RamDevice {
 public:
  static void CheckConfig(const modtgt_dev_config& cfg) {
    if (std::string(cfg.bsopts) == "bad") throw std::logic_error("bsopts 'bad' are bad");
  }

  RamDevice(modtgt::Device dev, bool /*reopen*/)
      : throw_io_(std::string(dev.config().path) == "throw-io"),
        bad_status_(std::string(dev.config().path) == "bad-status") {
    if (std::string(dev.config().path) == "throw") {
      throw modtgt::Error(MODTGT_EINVAL, "cxxtest refuses path 'throw'");
    }
    data_.resize(dev.config().size ? dev.config().size : 64 * 1024);
    if (!dev.config().size) dev.set_size(data_.size());
    if (std::string(dev.config().path) == "atomic") dev.set_atomic_limits(32 * 1024, 0, 0);
  }

  int GetLbaStatus(modtgt_io*, uint64_t offset, uint64_t length, modtgt_lba_status* out) {
    out->state = MODTGT_LBA_MAPPED;
    out->length = std::min<uint64_t>(length, 4096 - offset % 4096);
    return MODTGT_STS_OK;
  }

  int Read(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset) {
    if (throw_io_) throw std::runtime_error("simulated read exception");
    if (bad_status_) return 77;  // not a modtgt_status: the daemon must cope
    for (int i = 0; i < iovcnt; i++) {
      if (offset + iov[i].iov_len > data_.size()) return MODTGT_STS_LBA_OUT_OF_RANGE;
      std::memcpy(iov[i].iov_base, data_.data() + offset, iov[i].iov_len);
      offset += iov[i].iov_len;
    }
    return MODTGT_STS_OK;
  }

  int Write(modtgt_io*, const iovec* iov, int iovcnt, uint64_t offset, uint32_t) {
    for (int i = 0; i < iovcnt; i++) {
      if (offset + iov[i].iov_len > data_.size()) return MODTGT_STS_LBA_OUT_OF_RANGE;
      std::memcpy(data_.data() + offset, iov[i].iov_base, iov[i].iov_len);
      offset += iov[i].iov_len;
    }
    return MODTGT_STS_OK;
  }

  int Flush(modtgt_io*) { return MODTGT_STS_OK; }

 private:
  bool throw_io_;
  bool bad_status_;
  std::vector<unsigned char> data_;
};

}  // namespace

MODTGT_REGISTER_BACKING_STORE(RamDevice, "cxxtest", .version = "3.0",
                              .description = "C++ test module (module.hpp)",
                              .caps = MODTGT_CAP_ATOMIC_WRITE)
