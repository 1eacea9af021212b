// SPDX-License-Identifier: Apache-2.0
// TaskSet: the tasks of one session. A fixed pool of Tasks allocated once when the session
// enters full feature phase (no allocation per I/O), the table that finds a task by its
// Initiator Task Tag (ITTs are unique within a session, RFC 7143 11.2.1.8), the Target
// Transfer Tags that name a task's R2Ts, and the queue of tasks held until the CmdSNs
// before theirs arrive (RFC 7143 3.2.2.1).
//
// It is a container: it knows nothing of the CmdSN window or of connections. Session
// (session.h) combines it with the window; ReleaseTask there is the one way back to the
// pool for a task that was admitted.
//
// Threading: not thread-safe. Owned by a Session and used only on the session's loop.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "iscsi/scsi_task.h"

namespace modtgt::iscsi {

// The pool behind a CmdSN window of `depth` commands: a full window plus tasks whose
// responses are still being written.
inline constexpr uint32_t TaskPoolSize(uint32_t depth) { return 2 * depth + 32; }

class TaskSet {
 public:
  // Non-immediate commands a session may have outstanding (its CmdSN window) by default
  // and at most (ResourceLimits::max_cmds_per_session).
  static constexpr uint32_t kQueueDepth = 128;
  static constexpr uint32_t kMaxQueueDepth = 256;
  static constexpr uint32_t kPoolSize = TaskPoolSize(kQueueDepth);
  // The low 10 bits of a TTT name the task; this value names none (Text, NOP-In).
  static constexpr uint32_t kNoTaskIndex = 0x3ff;

  TaskSet() = default;
  TaskSet(const TaskSet&) = delete;
  TaskSet& operator=(const TaskSet&) = delete;

  // Allocates the pool for a window of `depth` (1..kMaxQueueDepth) commands, the first call
  // only. A discovery session never calls it.
  void Allocate(uint32_t depth = kQueueDepth);
  // Idle pooled buffers are kept up to this many bytes in all (beyond it a returned task's
  // buffer is freed); the default keeps every buffer up to kTrimBytes.
  void set_retain_limit(uint64_t bytes) { retain_limit_ = bytes; }
  uint64_t retained_bytes() const { return retained_; }
  bool allocated() const { return !pool_.empty(); }
  // True when the pool is allocated and every task is in use: a new SCSI Command waits.
  bool exhausted() const { return free_ == nullptr && !pool_.empty(); }

  // A free task, reset for a new command: state kCollecting, no ITT (0xffffffff), no
  // connection. Null if none is free.
  Task* Alloc();
  // Returns t to the pool: its ITT leaves the table, its LU reference is dropped and a
  // buffer above kTrimBytes is freed. Does nothing for a free task. The caller gives back
  // the task's CmdSN window slot first (Session::ReleaseTask).
  void Free(Task* t);

  // The task with this ITT in the table, or null.
  Task* Find(uint32_t itt);
  // Enters t->itt in the table. REQUIRES: Find(t->itt) == null.
  void Insert(Task* t);

  // A new Target Transfer Tag: a running count in the high 22 bits, `index` (a task's
  // pool index, or kNoTaskIndex) in the low 10; never the reserved 0xffffffff.
  uint32_t NewTtt(uint32_t index);
  // The collecting task with an outstanding R2T tagged ttt (and that R2T), or null.
  Task* FindByTtt(uint32_t ttt, R2t** r2t);

  // The held queue, in arrival order.
  void Hold(Task* t) { held_.push_back(t); }
  // Removes and returns the held task with this CmdSN, or null.
  Task* TakeHeld(uint32_t cmd_sn);
  // Forgets held tasks that have gone back to the pool.
  void ForgetFreedHeld();
  bool has_held() const { return !held_.empty(); }

  // Calls f(Task*) for every task of the pool, free ones included.
  template <typename F>
  void ForEach(F&& f) {
    for (auto& t : pool_) f(t.get());
  }

 private:
  void Erase(uint32_t itt);
  size_t Hash(uint32_t itt) const { return (itt * 0x9E3779B1u) >> itt_shift_; }

  std::vector<std::unique_ptr<Task>> pool_;
  Task* free_ = nullptr;
  std::vector<uint16_t> itt_slots_;  // open addressing: task index + 1, 0 = empty
  int itt_shift_ = 22;               // 32 - log2(itt_slots_.size())
  uint64_t retain_limit_ = UINT64_MAX;
  uint64_t retained_ = 0;            // capacity of the free tasks' buffers
  std::vector<Task*> held_;
  uint32_t ttt_gen_ = 1;
};
static_assert(TaskPoolSize(TaskSet::kMaxQueueDepth) <= TaskSet::kNoTaskIndex,
              "a pool index fits the 10 bits of a TTT");

}  // namespace modtgt::iscsi
