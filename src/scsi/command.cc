// SPDX-License-Identifier: Apache-2.0
#include "scsi/command.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace modtgt::scsi {

const uint8_t* ZeroBuffer() {
  static const uint8_t* const zeros = [] {
    void* p = mmap(nullptr, kZeroBufferBytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      LOG_ERROR("cannot map the %zu-byte zero buffer", kZeroBufferBytes);
      std::abort();
    }
    return static_cast<const uint8_t*>(p);
  }();
  return zeros;
}

Buffer::~Buffer() { std::free(data_); }

void Buffer::Resize(size_t n) {
  if (n > capacity_) {
    size_t cap = capacity_ ? capacity_ : 4096;
    while (cap < n) cap *= 2;
    void* p = nullptr;
    if (posix_memalign(&p, 4096, cap) != 0) {
      LOG_ERROR("out of memory allocating a %zu-byte command buffer", cap);
      std::abort();
    }
    if (size_) std::memcpy(p, data_, size_);
    std::free(data_);
    data_ = static_cast<uint8_t*>(p);
    capacity_ = cap;
  }
  size_ = n;
}

void Buffer::ResizeZeroed(size_t n) {
  Resize(n);
  if (n) std::memset(data_, 0, n);
}

void Buffer::Trim(size_t keep_bytes) {
  if (capacity_ > keep_bytes) {
    std::free(data_);
    data_ = nullptr;
    capacity_ = size_ = 0;
  }
}

void Command::Reset() {
  cdb_len = 0;
  lun = 0;
  attr = TaskAttribute::kSimple;
  dir = DataDirection::kNone;
  expected_length = 0;
  tag = 0;
  nexus = nullptr;
  owner = nullptr;
  data.Resize(0);
  status = Status::kGood;
  sense_len = 0;
  data_in_length = 0;
  data_zero = false;
  data_out_needed = 0;
  lu.reset();
  io = IoRequest{};
  aborted.store(false, std::memory_order_relaxed);
  sbc = SbcState{};
  next = nullptr;
  run = nullptr;
}

}  // namespace modtgt::scsi
