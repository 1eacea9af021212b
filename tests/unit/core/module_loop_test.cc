// SPDX-License-Identifier: Apache-2.0
// The ABI 1.5 event-loop services of the host table (src/core/module_loop.cc) on a real
// env::EventLoop: loop_defer runs after the turn's events and before the loop waits, once
// per call, and may defer again; loop_watch_fd calls back on the loop thread for each
// eventfd signal; loop_unwatch from another thread stops the calls; off a loop both refuse.
#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "core/module_registry.h"
#include "env/event_loop.h"
#include "modtgt/module.h"

namespace modtgt::core {
namespace {

class LoopThread {
 public:
  LoopThread() : loop_(0) {
    EXPECT_TRUE(loop_.Init().ok());
    thread_ = std::thread([this] { loop_.Run(); });
    std::promise<void> p;
    loop_.Post([&p] { p.set_value(); });
    p.get_future().wait();
  }
  ~LoopThread() {
    loop_.Stop();
    thread_.join();
  }
  // Runs fn on the loop thread and waits for it.
  template <typename F>
  void On(F fn) {
    std::promise<void> p;
    loop_.Post([&] {
      fn();
      p.set_value();
    });
    p.get_future().wait();
  }
  env::EventLoop& loop() { return loop_; }

 private:
  env::EventLoop loop_;
  std::thread thread_;
};

const modtgt_host* Host() { return ModuleRegistry::HostTable(); }

TEST(ModuleLoopServices, OffALoopThreadTheyRefuse) {
  EXPECT_EQ(Host()->loop_defer([](void*) {}, nullptr), MODTGT_ENOTSUP);
  const int efd = eventfd(0, EFD_CLOEXEC);
  EXPECT_EQ(Host()->loop_watch_fd(efd, [](void*) {}, nullptr), nullptr);
  close(efd);
}

struct Trace {
  std::vector<int> order;
  std::promise<void> done;
};

TEST(ModuleLoopServices, DeferRunsAfterTheTurnsWorkAndBeforeTheLoopWaits) {
  LoopThread t;
  Trace trace;
  std::thread::id loop_id;
  t.loop().Post([&] {
    loop_id = std::this_thread::get_id();
    trace.order.push_back(1);
    EXPECT_EQ(Host()->loop_defer([](void* a) { static_cast<Trace*>(a)->order.push_back(3); },
                                 &trace),
              0);
    EXPECT_EQ(Host()->loop_defer(
                  [](void* a) {
                    auto* tr = static_cast<Trace*>(a);
                    tr->order.push_back(4);
                    // Deferred from a deferred function: still before the loop waits.
                    EXPECT_EQ(Host()->loop_defer(
                                  [](void* b) {
                                    auto* t2 = static_cast<Trace*>(b);
                                    t2->order.push_back(5);
                                    t2->done.set_value();
                                  },
                                  tr),
                              0);
                  },
                  &trace),
              0);
    trace.order.push_back(2);  // the rest of the turn runs first
  });
  ASSERT_EQ(trace.done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
  t.On([] {});
  EXPECT_EQ(trace.order, (std::vector<int>{1, 2, 3, 4, 5}));
}

struct WatchState {
  int efd = -1;
  std::atomic<int> calls{0};
  std::atomic<bool> on_loop{true};
  std::thread::id loop_id;
};

TEST(ModuleLoopServices, WatchCallsBackOnTheLoopUntilUnwatched) {
  LoopThread t;
  WatchState st;
  st.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(st.efd, 0);
  modtgt_watch* w = nullptr;
  t.On([&] {
    st.loop_id = std::this_thread::get_id();
    w = Host()->loop_watch_fd(
        st.efd,
        [](void* a) {
          auto* s = static_cast<WatchState*>(a);
          if (std::this_thread::get_id() != s->loop_id) s->on_loop = false;
          s->calls.fetch_add(1);
        },
        &st);
  });
  ASSERT_NE(w, nullptr);
  // Each signal of the eventfd is a new edge, without reading it.
  for (int i = 1; i <= 3; i++) {
    const uint64_t one = 1;
    ASSERT_EQ(write(st.efd, &one, sizeof(one)), 8);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (st.calls.load() < i) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
      t.On([] {});  // one loop turn
    }
  }
  EXPECT_TRUE(st.on_loop.load());
  Host()->loop_unwatch(w);  // from this (non-loop) thread
  const int before = st.calls.load();
  const uint64_t one = 1;
  ASSERT_EQ(write(st.efd, &one, sizeof(one)), 8);
  t.On([] {});
  t.On([] {});
  EXPECT_EQ(st.calls.load(), before);
  close(st.efd);
}

}  // namespace
}  // namespace modtgt::core
