// SPDX-License-Identifier: Apache-2.0
// Test helpers for running SCSI commands to completion without a transport:
//   FakeOwner     a CommandOwner that records CommandDone calls (optionally on a loop)
//   LoopThread    an env::EventLoop running on its own thread for a test's lifetime
//   FakeTarget    a TargetView over a fixed LUN map, for going through scsi::Submit
//   RunHandler()  runs a command's handler from a DeviceType table (what Submit does
//                 after its checks) and waits for CommandDone
//   RunSubmit()   runs scsi::Submit and waits for CommandDone
//   SyncLoop()    waits until what was posted to a loop before has run
//   InitCommand() fills a test command's CDB, owner and Data-Out
//   InitNexus()   the tests' I_T nexus i
// With a null loop everything runs inline on the calling thread, which only works with
// backends that complete inline; asynchronous backends need a LoopThread.
//
// Threading: FakeOwner is thread-safe; the rest is for the test's main thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "env/event_loop.h"
#include "scsi/command.h"
#include "scsi/device_type.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"

namespace modtgt::testing {

class FakeOwner : public scsi::CommandOwner {
 public:
  explicit FakeOwner(env::EventLoop* loop = nullptr) : loop_(loop) {}
  env::EventLoop* loop() const override { return loop_; }
  void CommandDone(scsi::Command* cmd) override {
    std::lock_guard<std::mutex> l(mu_);
    ++done_;
    last_ = cmd;
    cv_.notify_all();
  }
  int done_count() {
    std::lock_guard<std::mutex> l(mu_);
    return done_;
  }
  // Waits until CommandDone has been called at least n times in total.
  bool WaitForDone(int n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return done_ >= n; });
  }

 private:
  env::EventLoop* const loop_;
  std::mutex mu_;
  std::condition_variable cv_;
  int done_ = 0;
  scsi::Command* last_ = nullptr;
};

class LoopThread {
 public:
  LoopThread() : loop_(0) {
    Status s = loop_.Init();
    if (!s.ok()) std::abort();
    thread_ = std::thread([this] { loop_.Run(); });
  }
  ~LoopThread() {
    loop_.Stop();
    thread_.join();
  }
  env::EventLoop* loop() { return &loop_; }

 private:
  env::EventLoop loop_;
  std::thread thread_;
};

class FakeTarget : public scsi::TargetView {
 public:
  void Add(std::shared_ptr<scsi::LogicalUnit> lu) { luns_[lu->lun()] = std::move(lu); }
  std::shared_ptr<scsi::LogicalUnit> FindLun(uint64_t lun) const override {
    auto it = luns_.find(lun);
    return it == luns_.end() ? nullptr : it->second;
  }
  std::vector<uint64_t> ListLuns() const override {
    std::vector<uint64_t> v;
    for (const auto& [n, lu] : luns_) v.push_back(n);
    return v;
  }

 private:
  std::map<uint64_t, std::shared_ptr<scsi::LogicalUnit>> luns_;
};

// Nexus i of the tests: initiator iqn.2024-01.test:init<i> (ISID ...0<i>) to target port
// 1 of `target_name`, over `target`.
inline void InitNexus(scsi::Nexus* n, uint64_t id, int i, const std::string& target_name,
                      std::shared_ptr<scsi::TargetView> target) {
  n->id = id;
  n->initiator_name = "iqn.2024-01.test:init" + std::to_string(i);
  n->initiator_port = n->initiator_name + ",i,0x00023d00000" + std::to_string(i);
  n->target_name = target_name;
  n->target_port = target_name + ",t,0x0001";
  n->relative_port_id = 1;
  n->target = std::move(target);
}

// Fills what every test command needs: the CDB, the owner, and the direction and Data-Out
// buffer from `out` (empty: a read). The caller sets lu or nexus/lun and expected_length.
inline void InitCommand(scsi::Command* cmd, const std::vector<uint8_t>& cdb,
                        const std::vector<uint8_t>& out, scsi::CommandOwner* owner) {
  std::memcpy(cmd->cdb, cdb.data(), cdb.size());
  cmd->cdb_len = static_cast<uint8_t>(cdb.size());
  cmd->owner = owner;
  cmd->dir = out.empty() ? scsi::DataDirection::kRead : scsi::DataDirection::kWrite;
  cmd->data.Resize(out.size());
  if (!out.empty()) std::memcpy(cmd->data.data(), out.data(), out.size());
}

// Waits until every closure posted to `loop` before this call has run (false on timeout).
inline bool SyncLoop(env::EventLoop* loop,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  std::mutex m;
  std::condition_variable cv;
  bool ran = false;
  loop->Post([&] {
    std::lock_guard<std::mutex> l(m);
    ran = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> l(m);
  return cv.wait_for(l, timeout, [&] { return ran; });
}

// Runs fn on owner's loop (or inline) and waits for one more CommandDone.
template <typename Fn>
bool RunAndWait(FakeOwner* owner, Fn fn) {
  const int before = owner->done_count();
  if (owner->loop() == nullptr) {
    fn();
  } else {
    owner->loop()->Post(fn);
  }
  return owner->WaitForDone(before + 1);
}

// REQUIRES: cmd->lu and cmd->owner == owner are set; cmd->cdb/cdb_len, dir,
// expected_length and data filled. Returns false if the opcode has no entry in type or
// the command did not complete in time.
inline bool RunHandler(const scsi::DeviceType& type, scsi::Command* cmd, FakeOwner* owner) {
  const scsi::OpInfo* op = type.Find(cmd->cdb[0], scsi::ServiceActionOf(cmd->cdb, cmd->cdb_len));
  if (op == nullptr || op->handler == nullptr) return false;
  cmd->status = scsi::Status::kGood;
  cmd->sense_len = 0;
  cmd->data_in_length = 0;
  cmd->lu->inflight.fetch_add(1, std::memory_order_relaxed);  // as Submit does
  return RunAndWait(owner, [op, cmd] { op->handler(cmd); });
}

// REQUIRES: cmd->nexus (with a target) and cmd->owner == owner are set.
inline bool RunSubmit(scsi::Command* cmd, FakeOwner* owner) {
  return RunAndWait(owner, [cmd] { scsi::Submit(cmd); });
}

}  // namespace modtgt::testing
