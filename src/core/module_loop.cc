// SPDX-License-Identifier: Apache-2.0
// The event-loop services of the module ABI 1.5 (include/modtgt/module.h: loop_defer,
// loop_watch_fd, loop_unwatch), for asynchronous modules whose callouts run on the loops.
//
// loop_defer: a per-thread list of (fn, arg) and one env::Completion per thread, posted to
// the loop's local FIFO by the first deferral of a turn; the FIFO runs after the turn's
// events and before the loop waits (env::EventLoop::PostCompletion). Two vectors swap so a
// deferral made from a deferred function lands in the next batch, and neither allocates
// once it has grown to the largest turn.
//
// loop_watch_fd: a modtgt_watch is an env::EventHandler registered edge-triggered on the
// calling loop. loop_unwatch (any thread) removes the fd and clears `alive` under the
// watch's mutex, which OnEvents holds while it calls fn: when it returns, fn is not
// running and will not run. The loop may still hold the handler in the epoll batch it is
// dispatching, so the object is freed later on the loop itself, from its local FIFO (which
// runs after the batch); a loop that has stopped frees it with its posted work.
#include <sys/epoll.h>

#include <atomic>
#include <memory>
#include <new>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "core/module_loader.h"
#include "env/event_loop.h"
#include "modtgt/module.h"

struct modtgt_watch final : modtgt::env::EventHandler {
  struct Deleter : modtgt::env::Completion {
    modtgt_watch* watch = nullptr;
  };

  void OnEvents(uint32_t /*events*/) override {
    std::lock_guard<std::mutex> l(mu);
    if (!alive) return;
    running.store(std::this_thread::get_id(), std::memory_order_relaxed);
    fn(arg);
    running.store(std::thread::id(), std::memory_order_relaxed);
  }

  modtgt::env::EventLoop* loop = nullptr;
  int fd = -1;
  void (*fn)(void*) = nullptr;
  void* arg = nullptr;
  std::mutex mu;
  bool alive = true;                        // GUARDED_BY(mu)
  std::atomic<std::thread::id> running{};   // the thread inside fn, if any
  Deleter deleter;
};

namespace modtgt::core {
namespace {

struct Deferred {
  void (*fn)(void*);
  void* arg;
};

struct TurnEnd {
  env::Completion completion;  // posted once per batch
  bool posted = false;
  std::vector<Deferred> batch;
  std::vector<Deferred> running;
};
thread_local TurnEnd t_turn_end;

void RunDeferred(env::Completion* /*c*/) {
  TurnEnd& t = t_turn_end;
  t.posted = false;
  t.running.swap(t.batch);  // deferrals made by these functions go to the next batch
  for (const Deferred& d : t.running) d.fn(d.arg);
  t.running.clear();
}

}  // namespace

int HostLoopDefer(void (*fn)(void* arg), void* arg) {
  env::EventLoop* loop = env::EventLoop::Current();
  if (loop == nullptr || fn == nullptr) return MODTGT_ENOTSUP;
  TurnEnd& t = t_turn_end;
  try {
    t.batch.push_back(Deferred{fn, arg});
  } catch (const std::bad_alloc&) {
    return MODTGT_ENOMEM;
  }
  if (!t.posted) {
    t.posted = true;
    t.completion.run = &RunDeferred;
    loop->PostCompletion(&t.completion);
  }
  return 0;
}

modtgt_watch* HostLoopWatchFd(int fd, void (*fn)(void* arg), void* arg) {
  env::EventLoop* loop = env::EventLoop::Current();
  if (loop == nullptr || fn == nullptr || fd < 0) return nullptr;
  auto* w = new (std::nothrow) modtgt_watch();
  if (w == nullptr) return nullptr;
  w->loop = loop;
  w->fd = fd;
  w->fn = fn;
  w->arg = arg;
  Status s = loop->Add(fd, EPOLLIN | EPOLLET, w);
  if (!s.ok()) {
    LOG_WARN("module: cannot watch fd %d on loop %d: %s", fd, loop->index(),
             s.ToString().c_str());
    delete w;
    return nullptr;
  }
  return w;
}

void HostLoopUnwatch(modtgt_watch* w) {
  if (w == nullptr) return;
  env::EventLoop* loop = w->loop;
  loop->Remove(w->fd);  // epoll_ctl: safe from any thread
  if (w->running.load(std::memory_order_relaxed) == std::this_thread::get_id()) {
    w->alive = false;  // from inside fn: the mutex is ours already
  } else {
    std::lock_guard<std::mutex> l(w->mu);
    w->alive = false;
  }
  // Freed on the loop after the epoll batch that may still name it.
  w->deleter.watch = w;
  w->deleter.run = [](env::Completion* c) {
    delete static_cast<modtgt_watch::Deleter*>(c)->watch;
  };
  if (env::EventLoop::Current() == loop) {
    loop->PostCompletion(&w->deleter);
  } else {
    std::unique_ptr<modtgt_watch> owned(w);
    loop->Post([loop, p = std::make_shared<std::unique_ptr<modtgt_watch>>(std::move(owned))] {
      loop->PostCompletion(&(*p)->deleter);
      (*p).release();  // the deleter frees it now
    });
  }
}

}  // namespace modtgt::core
