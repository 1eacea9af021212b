// SPDX-License-Identifier: Apache-2.0
#include "iscsi/receiver.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "env/event_loop.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kDirectReadMin = 4096;  // data segments this long skip the recv buffer
constexpr int kReadsPerEvent = 8;          // then back to the loop (fairness)
// After a data segment this long, the next read into the receive buffer asks for one BHS
// (and header digest) only, so that the next PDU's data segment, likely as long, is still
// unread when its header is parsed and goes straight into its destination. Below this, a
// copy costs less than the extra read per PDU.
constexpr uint32_t kHeaderOnlyMin = 16 * 1024;

}  // namespace

Receiver::Receiver(Handler* handler) : handler_(handler) {
  rcap_ = kLoginBufferSize;
  rbuf_ = std::make_unique<uint8_t[]>(rcap_);
}

void Receiver::ApplyCapacity() {
  if (want_cap_ <= rcap_) return;
  auto bigger = std::make_unique<uint8_t[]>(want_cap_);
  std::memcpy(bigger.get(), rbuf_.get() + rhead_, rtail_ - rhead_);
  rtail_ -= rhead_;
  rhead_ = 0;
  rbuf_ = std::move(bigger);
  rcap_ = want_cap_;
}

void Receiver::MarkActivity() { last_read_ms_ = env::EventLoop::NowMs(); }

Receiver::ReadStatus Receiver::ReadFrom(int fd) {
  for (int iter = 0; iter < kReadsPerEvent && !stopped_ && !paused_; iter++) {
    ApplyCapacity();
    if (rhead_ == rtail_) {
      rhead_ = rtail_ = 0;
    } else if (rhead_ > rcap_ / 2 || (rtail_ == rcap_ && rhead_ > 0)) {
      std::memmove(rbuf_.get(), rbuf_.get() + rhead_, rtail_ - rhead_);
      rtail_ -= rhead_;
      rhead_ = 0;
    }
    if (rtail_ == rcap_) {
      // A full buffer (left so by a pause) is parsed before more is read: a zero-length
      // read would look like the end of the stream.
      const size_t before = rhead_;
      ParseBuffered();
      if (rhead_ == before) break;
      continue;
    }
    iovec iov[3];
    int niov = 0;
    size_t want_data = 0, want_trailer = 0;
    if (state_ == State::kData && rhead_ == rtail_ && data_len_ - data_got_ >= kDirectReadMin) {
      want_data = data_len_ - data_got_;
      iov[niov++] = {data_dest_ + data_got_, want_data};
      want_trailer = trailer_len_ - trailer_got_;
      if (want_trailer) iov[niov++] = {trailer_ + trailer_got_, want_trailer};
    }
    size_t want_buf = rcap_ - rtail_;
    if (header_only_) {
      // Long data segments: read up to the end of the next BHS only (see kHeaderOnlyMin).
      size_t upto = kBhsLength + (header_digest_ ? kDigestLength : 0);
      if (state_ == State::kData && !want_data) {
        upto += (data_len_ - data_got_) + (trailer_len_ - trailer_got_);
      }
      size_t have = rtail_ - rhead_;
      if (upto > have) want_buf = std::min(want_buf, upto - have);
    }
    iov[niov++] = {rbuf_.get() + rtail_, want_buf};
    ssize_t n = ::readv(fd, iov, niov);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return ReadStatus::kError;
    }
    if (n == 0) return ReadStatus::kPeerClosed;
    MarkActivity();
    size_t got = static_cast<size_t>(n);
    size_t total_want = want_data + want_trailer + want_buf;
    if (want_data) {
      size_t d = std::min(got, want_data);
      data_got_ += static_cast<uint32_t>(d);
      got -= d;
      size_t t = std::min(got, want_trailer);
      trailer_got_ += static_cast<uint32_t>(t);
      got -= t;
      if (data_got_ == data_len_ && trailer_got_ == trailer_len_) DataComplete();
    }
    rtail_ += got;
    ParseBuffered();
    if (static_cast<size_t>(n) < total_want) break;  // socket drained
  }
  return ReadStatus::kOk;
}

void Receiver::ParseBuffered() {
  while (!stopped_ && !paused_) {
    size_t avail = rtail_ - rhead_;
    if (state_ == State::kHeader) {
      if (avail < kBhsLength) return;
      const uint8_t* p = rbuf_.get() + rhead_;
      if (!handler_->CanTake(p)) return;
      size_t need = kBhsLength + p[4] * 4u + (header_digest_ ? kDigestLength : 0);
      if (avail < need) return;
      std::memcpy(hdr_, p, need);
      hdr_len_ = need;
      rhead_ += need;
      if (!HeaderComplete()) continue;
    } else {
      if (avail == 0) return;
      if (data_got_ < data_len_) {
        size_t n = std::min<size_t>(avail, data_len_ - data_got_);
        std::memcpy(data_dest_ + data_got_, rbuf_.get() + rhead_, n);
        data_got_ += static_cast<uint32_t>(n);
        copied_bytes_ += n;
        rhead_ += n;
        avail -= n;
      }
      if (data_got_ == data_len_ && trailer_got_ < trailer_len_ && avail > 0) {
        size_t n = std::min<size_t>(avail, trailer_len_ - trailer_got_);
        std::memcpy(trailer_ + trailer_got_, rbuf_.get() + rhead_, n);
        trailer_got_ += static_cast<uint32_t>(n);
        rhead_ += n;
      }
      if (data_got_ == data_len_ && trailer_got_ == trailer_len_) DataComplete();
    }
  }
}

bool Receiver::HeaderComplete() {
  bool digest_ok = true;
  if (header_digest_) {
    uint32_t d = DigestFinal(DigestUpdate(kDigestInit, hdr_, hdr_len_ - kDigestLength));
    digest_ok = d == GetDigest(hdr_ + hdr_len_ - kDigestLength);
  }
  uint8_t* dest = handler_->OnHeader(digest_ok);
  if (stopped_) return false;
  uint32_t dsl = data_segment_length();
  if (!dest) {
    ctrl_data_.resize(dsl);
    dest = ctrl_data_.data();
  }
  header_only_ = dsl >= kHeaderOnlyMin;
  if (dsl == 0) {
    // No data segment: no data digest either (RFC 7143 11.2.1).
    state_ = State::kHeader;
    handler_->OnPdu(true);
    return false;
  }
  BeginData(dest, dsl);
  return true;
}

void Receiver::BeginData(uint8_t* dest, uint32_t len) {
  data_dest_ = dest;
  data_len_ = len;
  data_got_ = 0;
  trailer_len_ = Pad4(len) - len + (data_digest_ ? kDigestLength : 0);
  trailer_got_ = 0;
  state_ = State::kData;
}

void Receiver::DataComplete() {
  state_ = State::kHeader;
  bool ok = true;
  if (data_digest_) {
    uint32_t pad = Pad4(data_len_) - data_len_;
    uint32_t st = DigestUpdate(kDigestInit, data_dest_, data_len_);
    if (pad) st = DigestUpdate(st, trailer_, pad);
    ok = DigestFinal(st) == GetDigest(trailer_ + pad);
  }
  handler_->OnPdu(ok);
}

}  // namespace modtgt::iscsi
