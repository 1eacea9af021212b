// SPDX-License-Identifier: Apache-2.0
// Transmitter: the transmit side of one iSCSI/TCP connection. PDUs are queued as iovecs:
// headers (with their header digest) and control data are copied into one staging buffer;
// a Data-In payload is not copied, its iovec points into the command's buffer. Flush()
// writes the queue with sendmsg, up to kMaxIov iovecs per call, and picks up after a
// partial write. A PDU may carry a Task to release: once its last byte has been written
// (or dropped), the task goes to Handler::Sent, which returns it to the pool.
//
// Threading: not thread-safe; owned by a Connection and used on its loop only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "iscsi/pdu.h"

namespace modtgt::iscsi {

struct Task;

class Transmitter {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // The PDU that carried t is written (or dropped): t's buffer is no longer referenced.
    virtual void Sent(Task* t) = 0;
  };

  enum class FlushStatus {
    kEmpty,    // everything queued is written
    kBlocked,  // the socket is full: wait for EPOLLOUT and flush again
    kError,    // a write error: the connection is finished
  };

  explicit Transmitter(Handler* handler);
  Transmitter(const Transmitter&) = delete;
  Transmitter& operator=(const Transmitter&) = delete;

  // CRC32C digests from now on (PDUs queued after the login's final response).
  void SetDigests(bool header, bool data) {
    header_digest_ = header;
    data_digest_ = data;
  }

  // Queues one PDU: `bhs` with DataSegmentLength set to len, the header digest, `len`
  // bytes of data, padding and the data digest. copy: the data is copied now; otherwise it
  // must stay valid and unchanged until `release` comes back through Handler::Sent (a
  // Data-In from the command's buffer). release may be null.
  void Queue(const Bhs& bhs, const uint8_t* data, uint32_t len, bool copy, Task* release);
  // Queues one PDU like Queue (no copy) whose `len` data bytes are zeros: the data goes
  // out from scsi::ZeroBuffer(), one iovec per kZeroBufferBytes, nothing is filled or
  // copied; the data digest is the CRC32C of those zeros (the last length's is kept).
  void QueueZeros(const Bhs& bhs, uint32_t len, Task* release);
  // Writes as much as the socket takes.
  FlushStatus Flush(int fd);
  // Drops everything not yet written; every release goes to Handler::Sent.
  void Drop();
  bool empty() const { return count_ == 0; }
  // Bytes staged (headers, copied data) since the queue was last empty.
  size_t queued_bytes() const { return stage_.size(); }

 private:
  struct Item {
    const uint8_t* ext = nullptr;  // null: staged at stage_[off]
    uint32_t off = 0;
    uint32_t len = 0;
    Task* release = nullptr;  // to Handler::Sent once written
  };

  size_t StageReserve(size_t n);
  // Stages the header (and its digest) of a PDU with `len` data bytes; returns its
  // offset in stage_ and sets *hlen.
  size_t StageHeader(const Bhs& bhs, uint32_t len, size_t extra, size_t* hlen);
  // Ends a PDU: pushes the digest/padding trailer (tlen bytes of trailer) carrying
  // `release`, or attaches release to the PDU's last item when there is no trailer.
  void PushTrailer(const uint8_t* trailer, size_t tlen, Task* release);
  void Push(const Item& item);
  // Removes the head item and hands its release to the Handler.
  void PopHead();

  Handler* const handler_;
  bool header_digest_ = false;
  bool data_digest_ = false;
  std::vector<uint8_t> stage_;
  std::vector<Item> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
  size_t head_written_ = 0;  // bytes of the head item already written
  // QueueZeros: the data digest of the last zero-data length (len + padding), if any.
  uint32_t zero_digest_len_ = 0;
  uint32_t zero_digest_ = 0;
};

}  // namespace modtgt::iscsi
