// SPDX-License-Identifier: Apache-2.0
#include "iscsi/transmitter.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "scsi/command.h"

namespace modtgt::iscsi {

namespace {

constexpr size_t kMaxIov = 64;
constexpr size_t kInitialRing = 256;
constexpr size_t kInitialStage = 16384;

}  // namespace

Transmitter::Transmitter(Handler* handler) : handler_(handler) {
  ring_.resize(kInitialRing);
  stage_.reserve(kInitialStage);
}

size_t Transmitter::StageReserve(size_t n) {
  size_t off = stage_.size();
  stage_.resize(off + n);
  return off;
}

void Transmitter::Push(const Item& item) {
  if (count_ == ring_.size()) {
    std::vector<Item> bigger(ring_.size() * 2);
    for (size_t i = 0; i < count_; i++) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_.swap(bigger);
    head_ = 0;
  }
  ring_[(head_ + count_) % ring_.size()] = item;
  count_++;
}

void Transmitter::PopHead() {
  Task* t = ring_[head_].release;
  head_ = (head_ + 1) % ring_.size();
  count_--;
  head_written_ = 0;
  if (t) handler_->Sent(t);
}

size_t Transmitter::StageHeader(const Bhs& bhs, uint32_t len, size_t extra, size_t* hlen) {
  *hlen = kBhsLength + (header_digest_ ? kDigestLength : 0);
  size_t off = StageReserve(*hlen + extra);
  uint8_t* p = stage_.data() + off;
  std::memcpy(p, bhs.b.data(), kBhsLength);
  PutBe24(p + 5, len);
  if (header_digest_) {
    PutDigest(p + kBhsLength, DigestFinal(DigestUpdate(kDigestInit, p, kBhsLength)));
  }
  return off;
}

void Transmitter::PushTrailer(const uint8_t* trailer, size_t tlen, Task* release) {
  if (tlen) {
    size_t toff = StageReserve(tlen);
    std::memcpy(stage_.data() + toff, trailer, tlen);
    Push({nullptr, static_cast<uint32_t>(toff), static_cast<uint32_t>(tlen), release});
  } else if (release) {
    // No trailer: the PDU's last item (its data, or its header alone) carries it.
    ring_[(head_ + count_ - 1) % ring_.size()].release = release;
  }
}

void Transmitter::Queue(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy,
                        Task* release) {
  uint32_t pad = Pad4(len) - len;
  size_t tlen = pad + (data_digest_ && len ? kDigestLength : 0);
  size_t hlen = 0;
  size_t off = StageHeader(bhs, len, copy ? len + tlen : 0, &hlen);
  uint8_t trailer[8] = {};
  if (data_digest_ && len) {
    uint32_t st = DigestUpdate(kDigestInit, data, len);
    if (pad) st = DigestUpdate(st, trailer, pad);
    PutDigest(trailer + pad, DigestFinal(st));
  }
  if (copy) {
    uint8_t* p = stage_.data() + off;
    if (len) std::memcpy(p + hlen, data, len);
    std::memcpy(p + hlen + len, trailer, tlen);
    Push({nullptr, static_cast<uint32_t>(off), static_cast<uint32_t>(hlen + len + tlen), release});
    return;
  }
  Push({nullptr, static_cast<uint32_t>(off), static_cast<uint32_t>(hlen), nullptr});
  if (len) Push({data, 0, len, nullptr});
  PushTrailer(trailer, tlen, release);
}

void Transmitter::QueueZeros(const Bhs& bhs, uint32_t len, Task* release) {
  const uint8_t* zeros = scsi::ZeroBuffer();
  uint32_t pad = Pad4(len) - len;
  size_t tlen = pad + (data_digest_ && len ? kDigestLength : 0);
  size_t hlen = 0;
  size_t off = StageHeader(bhs, len, 0, &hlen);
  uint8_t trailer[8] = {};
  if (data_digest_ && len) {
    const uint32_t n = len + pad;  // the padding is zeros too
    if (zero_digest_len_ != n) {
      uint32_t st = kDigestInit;
      for (uint32_t done = 0; done < n;) {
        const uint32_t k = static_cast<uint32_t>(std::min<size_t>(n - done, scsi::kZeroBufferBytes));
        st = DigestUpdate(st, zeros, k);
        done += k;
      }
      zero_digest_ = DigestFinal(st);
      zero_digest_len_ = n;
    }
    PutDigest(trailer + pad, zero_digest_);
  }
  Push({nullptr, static_cast<uint32_t>(off), static_cast<uint32_t>(hlen), nullptr});
  for (uint32_t done = 0; done < len;) {
    const uint32_t k = static_cast<uint32_t>(std::min<size_t>(len - done, scsi::kZeroBufferBytes));
    done += k;
    Push({zeros, 0, k, nullptr});
  }
  PushTrailer(trailer, tlen, release);
}

Transmitter::FlushStatus Transmitter::Flush(int fd) {
  while (count_ > 0) {
    iovec iov[kMaxIov];
    size_t n = 0;
    size_t total = 0;
    for (size_t i = 0; i < count_ && n < kMaxIov; i++) {
      const Item& it = ring_[(head_ + i) % ring_.size()];
      const uint8_t* base = it.ext ? it.ext : stage_.data() + it.off;
      size_t skip = i == 0 ? head_written_ : 0;
      iov[n].iov_base = const_cast<uint8_t*>(base + skip);
      iov[n].iov_len = it.len - skip;
      total += iov[n].iov_len;
      n++;
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    ssize_t w = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return FlushStatus::kBlocked;
      return FlushStatus::kError;
    }
    size_t done = static_cast<size_t>(w);
    while (done > 0 && count_ > 0) {
      size_t rest = ring_[head_].len - head_written_;
      if (done < rest) {
        head_written_ += done;
        break;
      }
      done -= rest;
      PopHead();
    }
    if (static_cast<size_t>(w) < total) return FlushStatus::kBlocked;
  }
  stage_.clear();
  head_ = 0;
  return FlushStatus::kEmpty;
}

void Transmitter::Drop() {
  while (count_ > 0) PopHead();
  stage_.clear();
  head_ = 0;
}

}  // namespace modtgt::iscsi
