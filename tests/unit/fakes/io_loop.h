// SPDX-License-Identifier: Apache-2.0
// IoLoop: an event loop on its own thread that owns commands submitted straight to a
// scsi::Backend (core::Device or a fake), the way the SCSI layer issues I/O, and waits for
// each command's continuation (scsi::IoDone -> cmd->io.done) to run on that loop. What the
// core's device and module-registry tests drive their backends through.
//
//   Prepare(cmd, op)   makes cmd ours: owner, the op, and a continuation that records it
//   Submit(b, cmd)     posts b->Submit(cmd) to the loop; does not wait
//   Run(b, cmd)        Submit and wait for cmd's continuation: its status, or -1 on timeout
//   Read/Write/Simple  one-call I/O through Run
//   WaitDone(n)        waits until n continuations in all have run
//   Sync()             waits until every closure posted to the loop before it has run
//
// Waits give up after 10 s (the test then fails); nothing sleeps.
//
// Threading: the methods may be called from any thread but the loop's own; commands of
// one call belong to that call.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include <gtest/gtest.h>

#include "fakes/fake_owner.h"
#include "scsi/backend.h"
#include "scsi/command.h"

namespace modtgt::testing {

class IoLoop : public scsi::CommandOwner {
 public:
  static constexpr std::chrono::seconds kTimeout{10};

  struct Cmd : scsi::Command {
    IoLoop* harness = nullptr;
    std::atomic<bool> finished{false};
    std::atomic<bool> on_loop{false};  // the continuation ran on the owning loop
  };

  IoLoop() = default;
  ~IoLoop() override = default;

  env::EventLoop* loop() const override { return thread_.loop(); }
  void CommandDone(scsi::Command*) override {}
  env::EventLoop& ev() { return *thread_.loop(); }

  void Prepare(Cmd* c, scsi::IoOp op) {
    c->io.op = op;
    Arm(c);
  }

  void Submit(scsi::Backend* b, Cmd* c) {
    ev().Post([b, c] { b->Submit(c); });
  }

  int Run(scsi::Backend* b, Cmd* c) {
    Arm(c);
    Submit(b, c);
    std::unique_lock<std::mutex> l(mu_);
    if (!cv_.wait_for(l, kTimeout, [c] { return c->finished.load(); })) return -1;
    EXPECT_TRUE(c->on_loop.load()) << "the continuation must run on the owning loop";
    return c->io.status;
  }

  int Read(scsi::Backend* b, void* buf, size_t len, uint64_t off) {
    Cmd c;
    c.io.op = scsi::IoOp::kRead;
    c.io.iov[0] = iovec{buf, len};
    c.io.iovcnt = 1;
    c.io.offset = off;
    return Run(b, &c);
  }
  int Write(scsi::Backend* b, const void* buf, size_t len, uint64_t off, uint32_t flags = 0) {
    Cmd c;
    c.io.op = scsi::IoOp::kWrite;
    c.io.iov[0] = iovec{const_cast<void*>(buf), len};
    c.io.iovcnt = 1;
    c.io.offset = off;
    c.io.flags = flags;
    return Run(b, &c);
  }
  int Simple(scsi::Backend* b, scsi::IoOp op, uint64_t off = 0, uint64_t len = 0) {
    Cmd c;
    c.io.op = op;
    c.io.offset = off;
    c.io.length = len;
    return Run(b, &c);
  }

  // get_lba_status at [off, off + len): the status, the extent in *out.
  int LbaStatus(scsi::Backend* b, uint64_t off, uint64_t len, scsi::LbaExtent* out) {
    Cmd c;
    c.io.op = scsi::IoOp::kLbaStatus;
    c.io.offset = off;
    c.io.length = len;
    const int status = Run(b, &c);
    *out = c.io.extent;
    return status;
  }

  bool WaitDone(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, kTimeout, [&] { return done_ >= n; });
  }

  bool Sync() { return SyncLoop(&ev(), kTimeout); }

 private:
  void Arm(Cmd* c) {
    c->owner = this;
    c->harness = this;
    c->finished.store(false);
    c->on_loop.store(false);
    c->io.done = [](scsi::Command* sc) {
      auto* t = static_cast<Cmd*>(sc);
      t->on_loop.store(t->harness->loop()->InLoopThread());
      std::lock_guard<std::mutex> l(t->harness->mu_);
      t->finished.store(true);
      t->harness->done_++;
      t->harness->cv_.notify_all();
    };
  }

  mutable LoopThread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace modtgt::testing
