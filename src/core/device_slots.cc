// SPDX-License-Identifier: Apache-2.0
// Device: the pool of in-flight I/O slots and the in-flight count, the per-I/O part of
// Device::Submit / Finish that runs on every loop (see device.h). No lock on the steady
// path: slots come from a lock-free stack of indices (the upper half of the head is a tag
// that changes on every push and pop, so a stale head never wins a compare-exchange), and
// the table of chunks only grows, under slots_mu_, until the device is destroyed.
//
// Threading: AcquireSlot on the submitting thread, ReleaseSlot on the completing one;
// GrowSlots takes slots_mu_.
#include <vector>

#include "core/device.h"
#include "env/event_loop.h"
#include "scsi/command.h"

namespace modtgt::core {

namespace {
constexpr uint64_t kLow = 0xffffffffull;
}  // namespace

Device::IoSlot* Device::SlotAt(uint32_t index) const {
  return chunk_table_[index / kSlotChunk].load(std::memory_order_acquire) + index % kSlotChunk;
}

Device::IoSlot* Device::PopSlot() {
  uint64_t head = free_head_.load(std::memory_order_acquire);
  for (;;) {
    const uint32_t top = static_cast<uint32_t>(head & kLow);
    if (top == 0) return nullptr;
    IoSlot* s = SlotAt(top - 1);
    // May read a slot another thread has just popped: the tag then differs and the
    // exchange fails.
    const uint64_t next = s->next_free_idx.load(std::memory_order_relaxed);
    const uint64_t want = (((head >> 32) + 1) << 32) | next;
    if (free_head_.compare_exchange_weak(head, want, std::memory_order_acquire,
                                         std::memory_order_acquire)) {
      return s;
    }
  }
}

void Device::PushSlot(IoSlot* s) {
  uint64_t head = free_head_.load(std::memory_order_relaxed);
  for (;;) {
    s->next_free_idx.store(static_cast<uint32_t>(head & kLow), std::memory_order_relaxed);
    const uint64_t want = (((head >> 32) + 1) << 32) | (s->index + 1u);
    if (free_head_.compare_exchange_weak(head, want, std::memory_order_release,
                                         std::memory_order_relaxed)) {
      return;
    }
  }
}

Device::IoSlot* Device::GrowSlots() {
  std::lock_guard<std::mutex> l(slots_mu_);
  const size_t n = slot_chunks_.size();
  if (n >= kMaxSlotChunks) return nullptr;
  auto chunk = std::make_unique<IoSlot[]>(kSlotChunk);
  for (uint32_t i = 0; i < kSlotChunk; i++) {
    chunk[i].device = this;
    chunk[i].work.run = &Device::RunWork;
    chunk[i].index = static_cast<uint32_t>(n) * kSlotChunk + i;
  }
  IoSlot* base = chunk.get();
  slot_chunks_.push_back(std::move(chunk));
  chunk_table_[n].store(base, std::memory_order_release);
  for (uint32_t i = 1; i < kSlotChunk; i++) PushSlot(&base[i]);
  return &base[0];
}

Device::IoSlot* Device::AcquireSlot(scsi::Command* cmd) {
  IoSlot* s = PopSlot();
  if (s == nullptr) {
    // The queue depth exceeds what this device has seen: the pool grows by a chunk and
    // never shrinks, so the steady state does not allocate.
    s = GrowSlots();
    if (s == nullptr) return nullptr;
  }
  s->cmd = cmd;
  s->data_iov = iovec{};
  s->busy.store(true, std::memory_order_release);
  return s;
}

void Device::DecInflight() {
  // releasers_ keeps the destructor (which waits for it to reach 0 after inflight_ did)
  // from freeing this while the lines below still read it.
  releasers_.fetch_add(1);
  // A waiter (Hold, the destructor) sets gated_ before it checks inflight_ under
  // slots_mu_; both seq_cst, so either it sees 0 or this sees gated_ and wakes it.
  if (inflight_.fetch_sub(1) == 1 && gated_.load()) {
    std::lock_guard<std::mutex> l(slots_mu_);
    drained_cv_.notify_all();
  }
  releasers_.fetch_sub(1);  // the last access to this
}

void Device::ReleaseSlot(IoSlot* s) {
  s->cmd = nullptr;
  if (area_budget_ == 0) {
    PushSlot(s);
    DecInflight();  // after this, `this` may be destroyed
    return;
  }
  // A vector: an empty one does not allocate (libstdc++'s std::deque allocates in its
  // default constructor, which cost two malloc/free pairs per I/O here).
  std::vector<scsi::Command*> retry;
  {
    std::lock_guard<std::mutex> l(slots_mu_);
    PushSlot(s);
    area_inflight_ -= s->area_bytes;
    s->area_bytes = 0;
    // Waiters go back through Submit (which re-checks the budget) on their own loops. The
    // commands are not complete, so their LU and this device stay alive meanwhile.
    if (!area_wait_.empty()) {
      retry.assign(area_wait_.begin(), area_wait_.end());
      area_wait_.clear();
    }
    // Notify under the lock: the destructor may run as soon as it sees 0.
    if (inflight_.fetch_sub(1) == 1) drained_cv_.notify_all();
  }
  for (scsi::Command* c : retry) {
    env::EventLoop* loop = c->owner ? c->owner->loop() : nullptr;
    if (loop == nullptr) {
      Submit(c);
    } else {
      loop->Post([this, c] { Submit(c); });
    }
  }
}

}  // namespace modtgt::core
