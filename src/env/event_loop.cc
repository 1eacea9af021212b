// SPDX-License-Identifier: Apache-2.0
#include "env/event_loop.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/log.h"

namespace modtgt::env {

namespace {
thread_local EventLoop* t_current = nullptr;  // set by Run() for its thread
}  // namespace

EventLoop::EventLoop(int index) : index_(index) {}

EventLoop* EventLoop::Current() { return t_current; }

EventLoop::~EventLoop() {
  if (epfd_ >= 0) close(epfd_);
  if (wakefd_ >= 0) close(wakefd_);
  if (timerfd_ >= 0) close(timerfd_);
}

Status EventLoop::Init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return Status::FromErrno(errno, "epoll_create1");
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return Status::FromErrno(errno, "eventfd");
  timerfd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timerfd_ < 0) return Status::FromErrno(errno, "timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &wakefd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) return Status::FromErrno(errno, "epoll_ctl");
  ev.data.ptr = &timerfd_;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, timerfd_, &ev) < 0) return Status::FromErrno(errno, "epoll_ctl");
  return Status::OK();
}

uint64_t EventLoop::NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

Status EventLoop::Add(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) return Status::FromErrno(errno, "epoll_ctl(ADD)");
  return Status::OK();
}

Status EventLoop::Modify(int fd, uint32_t events, EventHandler* handler) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0) return Status::FromErrno(errno, "epoll_ctl(MOD)");
  return Status::OK();
}

void EventLoop::Remove(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

void EventLoop::Wake() {
  uint64_t one = 1;
  ssize_t n = write(wakefd_, &one, sizeof(one));
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> l(post_mu_);
    posted_.push_back(std::move(fn));
  }
  Wake();
}

void EventLoop::PostCompletion(Completion* c) {
  if (InLoopThread()) {
    // Runs before the loop sleeps again: no eventfd write, no extra epoll turn.
    c->next = nullptr;
    if (local_tail_) {
      local_tail_->next = c;
    } else {
      local_head_ = c;
    }
    local_tail_ = c;
    return;
  }
  Completion* head = completions_.load(std::memory_order_relaxed);
  do {
    c->next = head;
  } while (!completions_.compare_exchange_weak(head, c, std::memory_order_seq_cst,
                                               std::memory_order_relaxed));
  // Only the first push of a batch may need a wake-up, and only while the loop may be
  // blocked: Run() sets sleeping_ and then re-reads completions_ (both seq_cst), so either
  // it sees this push or this load sees sleeping_ == true.
  if (head == nullptr && sleeping_.load(std::memory_order_seq_cst)) Wake();
}

void EventLoop::Stop() {
  stop_.store(true);
  Wake();
}

void EventLoop::DrainPosted() {
  uint64_t v;
  ssize_t n = read(wakefd_, &v, sizeof(v));
  (void)n;
  std::vector<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> l(post_mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void EventLoop::RunLocal() {
  while (local_head_) {
    Completion* c = local_head_;
    local_head_ = c->next;
    if (!local_head_) local_tail_ = nullptr;
    c->next = nullptr;
    c->run(c);
  }
}

void EventLoop::RunCompletions() {
  if (completions_.load(std::memory_order_relaxed) != nullptr) {
    // Pop the whole stack, reverse it to FIFO order.
    Completion* c = completions_.exchange(nullptr, std::memory_order_acquire);
    Completion* fifo = nullptr;
    while (c) {
      Completion* next = c->next;
      c->next = fifo;
      fifo = c;
      c = next;
    }
    while (fifo) {
      Completion* next = fifo->next;
      fifo->next = nullptr;
      fifo->run(fifo);
      fifo = next;
    }
  }
  RunLocal();
}

uint64_t EventLoop::AddTimer(uint64_t delay_ms, std::function<void()> fn) {
  uint64_t id = next_timer_id_++;
  timers_.emplace(NowMs() + delay_ms, std::make_pair(id, std::move(fn)));
  ArmTimerFd();
  return id;
}

void EventLoop::CancelTimer(uint64_t id) {
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->second.first == id) {
      timers_.erase(it);
      break;
    }
  }
  ArmTimerFd();
}

void EventLoop::ArmTimerFd() {
  itimerspec its{};
  if (!timers_.empty()) {
    uint64_t now = NowMs();
    uint64_t deadline = timers_.begin()->first;
    uint64_t delay = deadline > now ? deadline - now : 1;
    its.it_value.tv_sec = delay / 1000;
    its.it_value.tv_nsec = (delay % 1000) * 1000000;
  }
  timerfd_settime(timerfd_, 0, &its, nullptr);
}

void EventLoop::RunTimers() {
  uint64_t v;
  ssize_t n = read(timerfd_, &v, sizeof(v));
  (void)n;
  uint64_t now = NowMs();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    auto fn = std::move(timers_.begin()->second.second);
    timers_.erase(timers_.begin());
    fn();
  }
  ArmTimerFd();
}

void EventLoop::Run() {
  thread_id_.store(std::this_thread::get_id());
  t_current = this;
  char name[16];
  snprintf(name, sizeof(name), "loop%d", index_);
  pthread_setname_np(pthread_self(), name);
  epoll_event events[128];
  for (;;) {
    RunCompletions();
    if (stop_.load(std::memory_order_relaxed)) break;
    sleeping_.store(true, std::memory_order_seq_cst);
    // Completions pushed before sleeping_ was visible did not wake us: poll instead.
    int timeout = completions_.load(std::memory_order_seq_cst) != nullptr ? 0 : -1;
    int n = epoll_wait(epfd_, events, 128, timeout);
    sleeping_.store(false, std::memory_order_relaxed);
    if (n < 0) {
      if (errno == EINTR) continue;
      LOG_ERROR("epoll_wait: %s", strerror(errno));
      abort();  // cannot fail after start-up
    }
    for (int i = 0; i < n; i++) {
      void* p = events[i].data.ptr;
      if (p == &wakefd_) {
        DrainPosted();
      } else if (p == &timerfd_) {
        RunTimers();
      } else {
        static_cast<EventHandler*>(p)->OnEvents(events[i].events);
      }
    }
  }
  // Drain what is left (bounded: work may keep posting work).
  for (int i = 0; i < 1000; i++) {
    DrainPosted();
    RunCompletions();
    bool idle = completions_.load() == nullptr && local_head_ == nullptr;
    if (idle) {
      std::lock_guard<std::mutex> l(post_mu_);
      if (posted_.empty()) break;
    }
  }
  // Posts from this thread after Run() returns take the cross-thread path again.
  thread_id_.store(std::thread::id());
  t_current = nullptr;
}

WorkQueue::~WorkQueue() { Stop(); }

void WorkQueue::Start(int nthreads, const char* name) {
  for (int i = 0; i < nthreads; i++) {
    threads_.emplace_back([this, name, i] {
      char n[16];
      snprintf(n, sizeof(n), "%.10s-%d", name, i);
      pthread_setname_np(pthread_self(), n);
      Worker();
    });
  }
}

void WorkQueue::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> l(mu_);
  stopping_ = false;
}

void WorkQueue::Push(Completion* work) {
  work->next = nullptr;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (tail_) tail_->next = work;
    else head_ = work;
    tail_ = work;
  }
  cv_.notify_one();
}

void WorkQueue::Worker() {
  for (;;) {
    Completion* w;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [this] { return head_ != nullptr || stopping_; });
      if (!head_) return;  // stopping and drained
      w = head_;
      head_ = w->next;
      if (!head_) tail_ = nullptr;
    }
    w->next = nullptr;
    w->run(w);
  }
}

}  // namespace modtgt::env
