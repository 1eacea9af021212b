// SPDX-License-Identifier: Apache-2.0
// IoGate: a gate a backend's worker passes before an I/O (MemBackend::SetBeforeIo), so a
// test can look at an LU while a background operation (SANITIZE, EXTENDED COPY) is in the
// middle of its work. Open, it lets everything through; closed, it lets `permits` I/Os
// through and holds the next ones until it opens.
//
// Threading: thread-safe (Pass from the backend's workers, the rest from the test).
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace modtgt::testing {

class IoGate {
 public:
  void Close(int permits = 0) {
    std::lock_guard<std::mutex> l(mu_);
    open_ = false;
    permits_ = permits;
  }
  void Open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock<std::mutex> l(mu_);
    ++arrived_;
    cv_.notify_all();
    cv_.wait(l, [this] { return open_ || permits_ > 0; });
    if (!open_) --permits_;
  }
  // Waits until n I/Os in all have reached the gate.
  bool WaitForArrivals(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(10), [&] { return arrived_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int permits_ = 0;
  int arrived_ = 0;
};

}  // namespace modtgt::testing
