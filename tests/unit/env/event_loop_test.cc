// SPDX-License-Identifier: Apache-2.0
// EventLoop completions: cross-thread posts are never lost (the loop may be asleep or
// busy), loop-thread posts run later in the same turn, never inside PostCompletion.
#include "env/event_loop.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

namespace modtgt::env {
namespace {

class RunningLoop {
 public:
  RunningLoop() : loop_(0) {
    EXPECT_TRUE(loop_.Init().ok());
    thread_ = std::thread([this] { loop_.Run(); });
    // Wait until Run() has claimed the thread.
    std::promise<void> p;
    loop_.Post([&p] { p.set_value(); });
    p.get_future().wait();
  }
  ~RunningLoop() {
    loop_.Stop();
    thread_.join();
  }
  EventLoop& loop() { return loop_; }

 private:
  EventLoop loop_;
  std::thread thread_;
};

// A counter the loop thread bumps and a test thread waits on (no polling, no sleeping).
class Count {
 public:
  void Add() {
    std::lock_guard<std::mutex> l(mu_);
    v_.fetch_add(1, std::memory_order_relaxed);
    cv_.notify_all();
  }
  int load() const { return v_.load(); }
  // Waits (up to 10 s) until the count reaches want.
  bool WaitFor(int want) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return v_.load() >= want; });
  }

 private:
  std::atomic<int> v_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

struct Counted : Completion {
  Count* count = nullptr;
  int seq = 0;
  std::vector<int>* order = nullptr;  // loop thread only
};

void RunCounted(Completion* c) {
  auto* k = static_cast<Counted*>(c);
  if (k->order) k->order->push_back(k->seq);
  k->count->Add();
}

TEST(EventLoopTest, CrossThreadPostsAreNeverLost) {
  RunningLoop rl;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  Count count;
  std::atomic<int> posted{0};
  std::vector<std::vector<Counted>> items(kThreads, std::vector<Counted>(kPerThread));
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; t++) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; i++) {
        Counted& c = items[t][i];
        c.count = &count;
        c.run = &RunCounted;
        const int n = posted.fetch_add(1) + 1;
        rl.loop().PostCompletion(&c);
        // Now and then let the loop drain everything posted so far, so it falls asleep and
        // both the busy and the asleep paths of the wake-up logic are taken.
        if (i % 997 == 0) {
          ASSERT_TRUE(count.WaitFor(n));
        }
      }
    });
  }
  for (auto& p : posters) p.join();
  EXPECT_TRUE(count.WaitFor(kThreads * kPerThread)) << count.load();
}

TEST(EventLoopTest, SingleSlowPosterWakesTheLoopEveryTime) {
  RunningLoop rl;
  Count count;
  std::vector<Counted> items(200);
  for (int i = 0; i < 200; i++) {
    items[i].count = &count;
    items[i].run = &RunCounted;
    rl.loop().PostCompletion(&items[i]);
    // Each post finds the loop asleep: it must be woken, or this times out.
    ASSERT_TRUE(count.WaitFor(i + 1)) << "post " << i << " was not run";
  }
}

TEST(EventLoopTest, LoopThreadPostsRunLaterInTheSameTurnInFifoOrder) {
  RunningLoop rl;
  Count count;
  std::vector<int> order;
  std::vector<Counted> items(3);
  bool ran_inline = false;
  std::promise<void> done;
  rl.loop().Post([&] {
    for (int i = 0; i < 3; i++) {
      items[i].count = &count;
      items[i].seq = i;
      items[i].order = &order;
      items[i].run = &RunCounted;
      rl.loop().PostCompletion(&items[i]);
    }
    ran_inline = count.load() != 0;
    done.set_value();
  });
  done.get_future().wait();
  // Nothing else wakes the loop: the local FIFO must still run before it sleeps.
  ASSERT_TRUE(count.WaitFor(3));
  EXPECT_FALSE(ran_inline);
  std::promise<std::vector<int>> got;
  rl.loop().Post([&] { got.set_value(order); });
  EXPECT_EQ(got.get_future().get(), (std::vector<int>{0, 1, 2}));
}

TEST(EventLoopTest, CompletionPostedByACompletionRuns) {
  RunningLoop rl;
  Count count;
  struct Chain : Completion {
    EventLoop* loop = nullptr;
    Count* count = nullptr;
    int left = 0;
  } chain;
  chain.loop = &rl.loop();
  chain.count = &count;
  chain.left = 100;
  chain.run = [](Completion* c) {
    auto* ch = static_cast<Chain*>(c);
    ch->count->Add();
    if (--ch->left > 0) ch->loop->PostCompletion(ch);  // re-posts itself from the loop
  };
  rl.loop().PostCompletion(&chain);
  EXPECT_TRUE(count.WaitFor(100));
}

TEST(EventLoopTest, PostsBeforeRunAndAfterStopAreDrained) {
  EventLoop loop(1);
  ASSERT_TRUE(loop.Init().ok());
  Count count;
  Counted before;
  before.count = &count;
  before.run = &RunCounted;
  loop.PostCompletion(&before);  // not running yet: the cross-thread path
  std::thread t([&] { loop.Run(); });
  ASSERT_TRUE(count.WaitFor(1));
  loop.Stop();
  t.join();
  EXPECT_FALSE(loop.InLoopThread());
}

}  // namespace
}  // namespace modtgt::env
