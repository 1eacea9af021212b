// SPDX-License-Identifier: Apache-2.0
// EventLoop: one epoll loop owned by one thread. Connections and the commands they carry
// belong to exactly one loop; work from other threads reaches it through Post() and
// PostCompletion(), which wake the loop with an eventfd.
//
// Threading: Run() makes the calling thread the loop thread. Add/Modify/Remove/AddTimer/
// CancelTimer require the loop thread (or a loop that is not running yet). Post,
// PostCompletion, Stop and InLoopThread are thread-safe.
//
// Wake-ups (the per-I/O cost that matters): a completion posted on the loop thread itself
// goes to a local FIFO run before the loop next sleeps (no eventfd, no extra epoll turn);
// one posted from another thread writes the eventfd only if the loop is (about to be)
// asleep in epoll_wait and the completion is the first of a batch.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace modtgt::env {

class EventHandler {
 public:
  virtual ~EventHandler() = default;
  // Called on the loop thread with the epoll event mask (EPOLLIN, EPOLLOUT, ...).
  virtual void OnEvents(uint32_t events) = 0;
};

// An intrusive work item handed to a loop from any thread without allocation.
struct Completion {
  Completion* next = nullptr;
  void (*run)(Completion* self) = nullptr;
};

class EventLoop {
 public:
  explicit EventLoop(int index);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Status Init();
  // Runs until Stop(). Drains posted work before returning.
  void Run();
  // Thread-safe; Run() returns soon after.
  void Stop();
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_.load(); }
  int index() const { return index_; }
  // The loop the calling thread runs (inside Run()), or nullptr.
  static EventLoop* Current();

  Status Add(int fd, uint32_t events, EventHandler* handler);
  Status Modify(int fd, uint32_t events, EventHandler* handler);
  void Remove(int fd);

  // Runs fn on the loop thread. Thread-safe. Allocates: not for the per-I/O path.
  void Post(std::function<void()> fn);
  // Runs c->run(c) on the loop thread, in FIFO order with other completions posted from
  // the same thread. From the loop thread it runs later in this loop turn, before the loop
  // sleeps again (never inside this call). Thread-safe, lock-free, no allocation: this is
  // the per-I/O path.
  void PostCompletion(Completion* c);

  // One-shot timer; returns an id for CancelTimer. REQUIRES: loop thread.
  uint64_t AddTimer(uint64_t delay_ms, std::function<void()> fn);
  void CancelTimer(uint64_t id);

  // Monotonic milliseconds.
  static uint64_t NowMs();

 private:
  void Wake();
  void DrainPosted();
  // Runs the completions posted from other threads, then the local FIFO until it is empty.
  void RunCompletions();
  void RunLocal();
  void RunTimers();
  void ArmTimerFd();

  const int index_;
  int epfd_ = -1;
  int wakefd_ = -1;
  int timerfd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<std::thread::id> thread_id_{};
  std::atomic<Completion*> completions_{nullptr};  // LIFO stack pushed by other threads
  // True while the loop thread may be blocked in epoll_wait: only then do posters write
  // the eventfd (Dekker-style with completions_, both seq_cst).
  std::atomic<bool> sleeping_{false};
  Completion* local_head_ = nullptr;  // FIFO of loop-thread posts (loop thread only)
  Completion* local_tail_ = nullptr;
  std::mutex post_mu_;
  std::vector<std::function<void()>> posted_;  // GUARDED_BY(post_mu_)
  std::multimap<uint64_t, std::pair<uint64_t, std::function<void()>>> timers_;  // deadline -> (id, fn)
  uint64_t next_timer_id_ = 1;
};

// A fixed set of worker threads consuming intrusive work items: runs the callouts of
// synchronous (nr_threads > 0) backing stores. Thread-safe.
class WorkQueue {
 public:
  WorkQueue() = default;
  ~WorkQueue();
  void Start(int nthreads, const char* name);
  // Finishes queued work, then joins the threads.
  void Stop();
  void Push(Completion* work);
  int nthreads() const { return static_cast<int>(threads_.size()); }

 private:
  void Worker();
  std::mutex mu_;
  std::condition_variable cv_;
  Completion* head_ = nullptr;  // GUARDED_BY(mu_)
  Completion* tail_ = nullptr;  // GUARDED_BY(mu_)
  bool stopping_ = false;       // GUARDED_BY(mu_)
  std::vector<std::thread> threads_;
};

}  // namespace modtgt::env
