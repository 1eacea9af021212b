// SPDX-License-Identifier: Apache-2.0
#include "iscsi/task_set.h"

#include <algorithm>

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;
constexpr size_t kTrimBytes = 4u << 20;  // pooled buffers above this are freed on release

}  // namespace

void TaskSet::Allocate(uint32_t depth) {
  if (allocated()) return;
  depth = std::clamp<uint32_t>(depth, 1, kMaxQueueDepth);
  const uint32_t pool_size = TaskPoolSize(depth);
  pool_.reserve(pool_size);
  for (uint32_t i = 0; i < pool_size; i++) {
    auto t = std::make_unique<Task>();
    t->index = i;
    pool_.push_back(std::move(t));
  }
  for (uint32_t i = pool_size; i-- > 0;) {
    pool_[i]->next_free = free_;
    free_ = pool_[i].get();
  }
  // Open addressing at most half full: a power of two of at least twice the pool.
  size_t slots = 64;
  itt_shift_ = 26;
  while (slots < 2 * size_t{pool_size}) {
    slots *= 2;
    itt_shift_--;
  }
  itt_slots_.assign(slots, 0);
  held_.reserve(depth);
}

Task* TaskSet::Alloc() {
  Task* t = free_;
  if (!t) return nullptr;
  free_ = t->next_free;
  t->next_free = nullptr;
  retained_ -= t->data.capacity();
  t->Reset();
  t->state = TaskState::kCollecting;
  t->conn = nullptr;
  t->itt = kReserved;
  t->cmd_sn = 0;
  t->edtl = 0;
  t->lun_raw = 0;
  t->immediate = t->counted = t->read = t->write = false;
  t->delivered = t->tmf_aborted = t->fail_early = t->data_error = false;
  t->granted = t->budget_wait = false;
  t->charged = 0;
  t->tmf_slot = -1;
  t->received = t->unsol_end = t->unsol_next = t->unsol_data_sn = 0;
  t->unsol_open = false;
  t->next_r2t_offset = t->r2t_sn = t->r2t_outstanding = 0;
  for (R2t& r : t->r2ts) r.used = false;
  t->data_sn = 0;
  t->recover.clear();
  t->data_in_segment = 0;
  t->status_in_data = false;
  t->stat_sn = 0;
  t->resid_flags = 0;
  t->resid_count = 0;
  t->core_counter = nullptr;
  t->orphan_generation = 0;
  return t;
}

void TaskSet::Free(Task* t) {
  if (t->state == TaskState::kFree) return;
  if (t->itt != kReserved) Erase(t->itt);
  t->state = TaskState::kFree;
  t->lu.reset();
  if (t->data.capacity() > kTrimBytes || retained_ + t->data.capacity() > retain_limit_) {
    t->data.Trim(0);
  }
  retained_ += t->data.capacity();
  t->next_free = free_;
  free_ = t;
}

void TaskSet::Insert(Task* t) {
  size_t mask = itt_slots_.size() - 1;
  size_t i = Hash(t->itt) & mask;
  while (itt_slots_[i] != 0) i = (i + 1) & mask;
  itt_slots_[i] = static_cast<uint16_t>(t->index + 1);
}

Task* TaskSet::Find(uint32_t itt) {
  if (itt_slots_.empty()) return nullptr;
  size_t mask = itt_slots_.size() - 1;
  for (size_t i = Hash(itt) & mask;; i = (i + 1) & mask) {
    uint16_t v = itt_slots_[i];
    if (v == 0) return nullptr;
    Task* t = pool_[v - 1].get();
    if (t->itt == itt) return t;
  }
}

void TaskSet::Erase(uint32_t itt) {
  if (itt_slots_.empty()) return;
  size_t mask = itt_slots_.size() - 1;
  size_t i = Hash(itt) & mask;
  for (;; i = (i + 1) & mask) {
    uint16_t v = itt_slots_[i];
    if (v == 0) return;
    if (pool_[v - 1]->itt == itt) break;
  }
  // Backward-shift deletion keeps probe chains intact without tombstones.
  itt_slots_[i] = 0;
  size_t j = i;
  for (;;) {
    j = (j + 1) & mask;
    uint16_t v = itt_slots_[j];
    if (v == 0) return;
    size_t home = Hash(pool_[v - 1]->itt) & mask;
    // Move v back to i if its home is not cyclically within (i, j].
    bool in_range = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      itt_slots_[i] = v;
      itt_slots_[j] = 0;
      i = j;
    }
  }
}

uint32_t TaskSet::NewTtt(uint32_t index) {
  uint32_t ttt = (ttt_gen_++ << 10) | index;
  if (ttt == kReserved) ttt = (ttt_gen_++ << 10) | index;
  return ttt;
}

Task* TaskSet::FindByTtt(uint32_t ttt, R2t** r2t) {
  uint32_t idx = ttt & kNoTaskIndex;
  if (idx >= pool_.size()) return nullptr;
  Task* t = pool_[idx].get();
  if (t->state != TaskState::kCollecting) return nullptr;
  for (R2t& r : t->r2ts) {
    if (r.used && r.ttt == ttt) {
      *r2t = &r;
      return t;
    }
  }
  return nullptr;
}

Task* TaskSet::TakeHeld(uint32_t cmd_sn) {
  for (size_t i = 0; i < held_.size(); i++) {
    if (held_[i]->cmd_sn == cmd_sn) {
      Task* t = held_[i];
      held_.erase(held_.begin() + static_cast<long>(i));
      return t;
    }
  }
  return nullptr;
}

void TaskSet::ForgetFreedHeld() {
  std::erase_if(held_, [](const Task* t) { return t->state == TaskState::kFree; });
}

}  // namespace modtgt::iscsi
