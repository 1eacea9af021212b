// SPDX-License-Identifier: Apache-2.0
// The completion hand-off between threads: what a backing store's completion thread (or a
// WorkQueue worker) does to give a finished command back to its connection's loop,
// env::EventLoop::PostCompletion (lock-free push, eventfd wake-up only when the loop may
// be asleep) and the loop running Completion::run. The loop runs on its own thread; this
// thread posts and waits until the loop has run what it posted:
//  - batch 1: one completion at a time, so the loop is usually asleep in epoll_wait and
//    every hand-off pays the wake-up (the QD1 case);
//  - batch 32: 32 completions posted back to back (the QD32 case).
// Items per second = completions handed off per second (round trip, not pipelined).
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "env/event_loop.h"

namespace modtgt::env {
namespace {

struct Item : Completion {
  std::atomic<int64_t>* ran = nullptr;
};

void RunItem(Completion* c) { static_cast<Item*>(c)->ran->fetch_add(1, std::memory_order_release); }

void BM_CompletionHandoff(benchmark::State& state) {
  const int batch = static_cast<int>(state.range(0));
  EventLoop loop(0);
  if (!loop.Init().ok()) {
    state.SkipWithError("EventLoop::Init failed");
    return;
  }
  std::thread t([&] { loop.Run(); });
  std::atomic<int64_t> ran{0};
  std::vector<Item> items(static_cast<size_t>(batch));
  for (auto& it : items) {
    it.ran = &ran;
    it.run = &RunItem;
  }
  int64_t posted = 0;
  for (auto _ : state) {
    for (auto& it : items) {
      it.next = nullptr;
      loop.PostCompletion(&it);
    }
    posted += batch;
    while (ran.load(std::memory_order_acquire) < posted) std::this_thread::yield();
  }
  loop.Stop();
  t.join();
  state.SetItemsProcessed(posted);
}
BENCHMARK(BM_CompletionHandoff)->Arg(1)->Arg(32)->ArgName("batch")->UseRealTime();

}  // namespace
}  // namespace modtgt::env
