// SPDX-License-Identifier: Apache-2.0
// Receiver: the receive side of one iSCSI/TCP connection. Reads the socket and frames the
// byte stream into PDUs (RFC 7143 11.2: BHS, AHS, header digest, data segment, padding,
// data digest), checking CRC32C digests when negotiated. What a PDU means is its Handler's
// business (the Connection).
//
// Data path: the socket is read with large reads into a receive buffer and headers are
// parsed out of it. The Handler chooses where each data segment goes; a long one (immediate
// data, Data-Out) still unread when its header is parsed is read with readv straight into
// that destination (the command's buffer), with the padding and digest in the same call.
// After a long data segment (16 KiB and more) the next read asks for one header only, so
// that a stream of long Data-Out or immediate data lands in the commands' buffers without
// a copy: one readv per PDU carries its data, padding, digest and the next header.
// Control data segments go to a buffer of the receiver's own.
//
// Threading: not thread-safe; owned by a Connection and used on its loop only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "iscsi/pdu.h"

namespace modtgt::iscsi {

class Receiver {
 public:
  // The receive buffer: small while a connection is in login (a flood of idle or slow
  // logins must cost little), large once in full feature phase.
  static constexpr size_t kLoginBufferSize = 16 * 1024;
  static constexpr size_t kRecvBufferSize = 256 * 1024;

  class Handler {
   public:
    virtual ~Handler() = default;
    // The next PDU's BHS (48 bytes) is buffered but not consumed. Returning false leaves
    // it buffered and stops parsing; the handler has called Pause() and calls Resume() and
    // ParseBuffered() later.
    virtual bool CanTake(const uint8_t* bhs) = 0;
    // A PDU header (BHS, AHS, header digest) is in header(). header_digest_ok is false
    // when a negotiated header digest did not match. Returns where the data segment
    // (data_segment_length() bytes) goes, or null for control_data(). To drop the
    // connection instead, the handler calls Stop(); the return value is then ignored.
    virtual uint8_t* OnHeader(bool header_digest_ok) = 0;
    // The whole PDU is in: header() and its data segment where OnHeader put it.
    // data_digest_ok is false when a negotiated data digest did not match.
    virtual void OnPdu(bool data_digest_ok) = 0;
  };

  enum class ReadStatus {
    kOk,          // the socket is drained (or reading stopped/paused)
    kPeerClosed,  // end of stream
    kError,       // a read error
  };

  explicit Receiver(Handler* handler);
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  // CRC32C digests from now on (the first PDU after the login's final response).
  void SetDigests(bool header, bool data) {
    header_digest_ = header;
    data_digest_ = data;
  }

  // The receive buffer grows to `bytes` before the next read (not at once: this may be
  // called from a Handler callback while a read is being accounted).
  void RequestCapacity(size_t bytes) { want_cap_ = bytes; }

  // Reads what fd has (a bounded number of reads) and parses it, calling the Handler.
  ReadStatus ReadFrom(int fd);
  // Parses what is already buffered.
  void ParseBuffered();

  // Pause: parsing stops before the next PDU until Resume (back-pressure). Stop: for good.
  void Pause() { paused_ = true; }
  void Resume() { paused_ = false; }
  void Stop() { stopped_ = true; }
  bool paused() const { return paused_; }
  bool stopped() const { return stopped_; }

  // The current PDU's header: BHS, AHS and (if negotiated) the header digest.
  const uint8_t* header() const { return hdr_; }
  size_t header_length() const { return hdr_len_; }
  uint32_t data_segment_length() const { return GetBe24(hdr_ + 5); }
  // The AHS (it follows the BHS in header()) is this long.
  size_t ahs_length() const { return hdr_len_ - kBhsLength - (header_digest_ ? kDigestLength : 0); }
  // The data segment of a PDU whose OnHeader returned null.
  const std::vector<uint8_t>& control_data() const { return ctrl_data_; }

  // Data-segment bytes copied out of the receive buffer so far (the rest was read straight
  // into its destination); for tests and profiles.
  uint64_t copied_bytes() const { return copied_bytes_; }

  // When the last bytes arrived (env::EventLoop::NowMs); MarkActivity sets it to now.
  uint64_t last_read_ms() const { return last_read_ms_; }
  void MarkActivity();

 private:
  enum class State : uint8_t { kHeader, kData };

  // A header is complete; returns true if a data phase follows.
  bool HeaderComplete();
  void ApplyCapacity();
  void BeginData(uint8_t* dest, uint32_t len);
  void DataComplete();

  Handler* const handler_;
  bool header_digest_ = false;
  bool data_digest_ = false;
  bool paused_ = false;
  bool stopped_ = false;
  bool header_only_ = false;  // the last data segment was long: read the next header alone
  uint64_t last_read_ms_ = 0;
  uint64_t copied_bytes_ = 0;

  State state_ = State::kHeader;
  std::unique_ptr<uint8_t[]> rbuf_;
  size_t rcap_ = 0;
  size_t want_cap_ = 0;
  size_t rhead_ = 0;
  size_t rtail_ = 0;
  uint8_t hdr_[kBhsLength + 255 * 4 + kDigestLength] = {};
  size_t hdr_len_ = 0;
  uint8_t* data_dest_ = nullptr;
  uint32_t data_len_ = 0;
  uint32_t data_got_ = 0;
  uint8_t trailer_[8] = {};
  uint32_t trailer_len_ = 0;
  uint32_t trailer_got_ = 0;
  std::vector<uint8_t> ctrl_data_;  // data segment of control PDUs (and discarded data)
};

}  // namespace modtgt::iscsi
