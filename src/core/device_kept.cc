// SPDX-License-Identifier: Apache-2.0
// Device: the storage the host keeps for a LUN (ABI 1.3 host->dev_keep_fd / dev_kept_fd;
// see device.h "Storage the host keeps"). Device::Reopen refuses a pre-1.3 module for a
// device that has some (device.cc).
//
// Threading: KeepFd and kept_fd are thread-safe (KeptStorage::mu); InheritKeptStorage runs
// before the new device opens, on the admin thread.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "core/device.h"

namespace modtgt::core {

Device::KeptStorage::~KeptStorage() {
  if (fd >= 0) close(fd);
}

void Device::InheritKeptStorage(const Device& from) { kept_ = from.kept_; }

int Device::KeepFd(int fd) {
  if (fd < 0) return MODTGT_EINVAL;
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return errno == EMFILE || errno == ENFILE ? MODTGT_ENOMEM : MODTGT_EINVAL;
  std::lock_guard<std::mutex> l(kept_->mu);
  if (kept_->fd >= 0) close(kept_->fd);
  kept_->fd = copy;
  return 0;
}

int Device::kept_fd() const {
  std::lock_guard<std::mutex> l(kept_->mu);
  return kept_->fd;
}

}  // namespace modtgt::core
