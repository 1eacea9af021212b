// SPDX-License-Identifier: Apache-2.0
#include "scsi/background_io.h"

#include "modtgt/module.h"

namespace modtgt::scsi {

BackgroundIo::BackgroundIo(env::EventLoop* loop) : loop_(loop) {
  cmd_.self = this;
  cmd_.owner = this;
  cmd_.io.status = MODTGT_STS_OK;
}

BackgroundIo::~BackgroundIo() = default;

void BackgroundIo::SetIo(Backend* backend, IoOp op, uint64_t offset, uint64_t length,
                         uint32_t flags) {
  backend_ = backend;
  IoRequest& io = cmd_.io;
  io = IoRequest{};
  io.op = op;
  io.flags = flags;
  io.offset = offset;
  io.length = length;
  if (op == IoOp::kRead || op == IoOp::kWrite) {
    io.iov[0].iov_base = cmd_.data.data();
    io.iov[0].iov_len = length;
    io.iovcnt = 1;
  }
  io.done = &BackgroundIo::OnDone;
}

void BackgroundIo::Pump() {
  for (;;) {
    if (!Next()) return;  // `this` may be gone
    in_submit_ = true;
    completed_inline_ = false;
    backend_->Submit(&cmd_);
    in_submit_ = false;
    if (!completed_inline_) return;  // OnDone continues on the loop
  }
}

void BackgroundIo::OnDone(Command* cmd) {
  BackgroundIo* self = static_cast<IoCommand*>(cmd)->self;
  if (self->in_submit_) {
    self->completed_inline_ = true;  // Pump's loop goes on
    return;
  }
  self->Pump();
}

}  // namespace modtgt::scsi
