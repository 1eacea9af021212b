// SPDX-License-Identifier: Apache-2.0
// BackgroundIo: backend I/O that is not one command's own, for the operations of the SCSI
// layer that need it: SANITIZE, whose operation outlives the command that started it (IMMED,
// an aborted command, a lost I_T nexus), and EXTENDED COPY, which reads and writes the
// backends of other LUs. One I/O at a time through an internal Command whose data Buffer is
// the operation's chunk buffer: the operation's memory is bounded by that buffer however
// much it moves.
//
// A subclass implements Next(): it looks at the I/O that just completed (last_status(),
// io()), then prepares the next one with SetIo() and returns true, or ends the operation
// and returns false. Pump() runs Next() and the I/O it prepares in a loop; a backend that
// completes inline makes the loop go round instead of recursing, so a million chunks do not
// grow the stack.
//
// Threading: owned by one event loop (the one of the command that started the operation;
// nullptr in tests without loops, where backends complete inline). Next() always runs there.
// The object must stay alive while an I/O is in flight; after Next() returned false the
// loop touches nothing of it, so Next() may delete it.
#pragma once

#include <cstdint>

#include "scsi/backend.h"
#include "scsi/command.h"

namespace modtgt::scsi {

class BackgroundIo : public CommandOwner {
 public:
  explicit BackgroundIo(env::EventLoop* loop);
  ~BackgroundIo() override;
  BackgroundIo(const BackgroundIo&) = delete;
  BackgroundIo& operator=(const BackgroundIo&) = delete;

  env::EventLoop* loop() const override { return loop_; }
  // Internal commands are never completed through scsi::Complete.
  void CommandDone(Command*) override {}

  // Runs Next() and its I/O until Next() returns false or an I/O goes asynchronous (the
  // loop continues when it completes). REQUIRES: on loop(), no I/O in flight.
  void Pump();

 protected:
  // See the file comment. Runs on loop().
  virtual bool Next() = 0;

  // Prepares the next I/O: `op` on `backend` at byte `offset`; kRead and kWrite move the
  // first `length` bytes of buffer(), the others take `length` as their range.
  void SetIo(Backend* backend, IoOp op, uint64_t offset, uint64_t length, uint32_t flags = 0);
  // The chunk buffer (the internal command's data): size it once, it never shrinks.
  Buffer& buffer() { return cmd_.data; }
  // The modtgt_status of the I/O that completed last (MODTGT_STS_OK before the first).
  int last_status() const { return cmd_.io.status; }
  const IoRequest& io() const { return cmd_.io; }

 private:
  struct IoCommand : Command {
    BackgroundIo* self = nullptr;
  };
  static void OnDone(Command* cmd);

  env::EventLoop* const loop_;
  IoCommand cmd_;
  Backend* backend_ = nullptr;  // the backend of the prepared I/O
  bool in_submit_ = false;       // Backend::Submit of our I/O has not returned yet
  bool completed_inline_ = false;
};

}  // namespace modtgt::scsi
