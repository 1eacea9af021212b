// SPDX-License-Identifier: Apache-2.0
#include "iscsi/task_set.h"

namespace modtgt::iscsi {

namespace {

constexpr uint32_t kReserved = 0xffffffffu;
constexpr size_t kIttSlots = 1024;       // > 2 * pool size, a power of two
constexpr size_t kTrimBytes = 4u << 20;  // pooled buffers above this are freed on release
static_assert(kIttSlots >= 2 * TaskSet::kPoolSize && (kIttSlots & (kIttSlots - 1)) == 0);
static_assert(TaskSet::kPoolSize <= TaskSet::kNoTaskIndex, "a pool index fits 10 bits");

uint32_t HashItt(uint32_t itt) { return (itt * 0x9E3779B1u) >> 22; }  // 10 bits

}  // namespace

void TaskSet::Allocate() {
  if (allocated()) return;
  pool_.reserve(kPoolSize);
  for (uint32_t i = 0; i < kPoolSize; i++) {
    auto t = std::make_unique<Task>();
    t->index = i;
    pool_.push_back(std::move(t));
  }
  for (uint32_t i = kPoolSize; i-- > 0;) {
    pool_[i]->next_free = free_;
    free_ = pool_[i].get();
  }
  itt_slots_.assign(kIttSlots, 0);
  held_.reserve(kQueueDepth);
}

Task* TaskSet::Alloc() {
  Task* t = free_;
  if (!t) return nullptr;
  free_ = t->next_free;
  t->next_free = nullptr;
  t->Reset();
  t->state = TaskState::kCollecting;
  t->conn = nullptr;
  t->itt = kReserved;
  t->cmd_sn = 0;
  t->edtl = 0;
  t->lun_raw = 0;
  t->immediate = t->counted = t->read = t->write = false;
  t->delivered = t->tmf_aborted = t->fail_early = t->data_error = false;
  t->tmf_slot = -1;
  t->received = t->unsol_end = t->unsol_next = t->unsol_data_sn = 0;
  t->unsol_open = false;
  t->next_r2t_offset = t->r2t_sn = t->r2t_outstanding = 0;
  for (R2t& r : t->r2ts) r.used = false;
  t->data_sn = 0;
  return t;
}

void TaskSet::Free(Task* t) {
  if (t->state == TaskState::kFree) return;
  if (t->itt != kReserved) Erase(t->itt);
  t->state = TaskState::kFree;
  t->lu.reset();
  if (t->data.capacity() > kTrimBytes) t->data.Trim(kTrimBytes);
  t->next_free = free_;
  free_ = t;
}

void TaskSet::Insert(Task* t) {
  size_t mask = itt_slots_.size() - 1;
  size_t i = HashItt(t->itt) & mask;
  while (itt_slots_[i] != 0) i = (i + 1) & mask;
  itt_slots_[i] = static_cast<uint16_t>(t->index + 1);
}

Task* TaskSet::Find(uint32_t itt) {
  if (itt_slots_.empty()) return nullptr;
  size_t mask = itt_slots_.size() - 1;
  for (size_t i = HashItt(itt) & mask;; i = (i + 1) & mask) {
    uint16_t v = itt_slots_[i];
    if (v == 0) return nullptr;
    Task* t = pool_[v - 1].get();
    if (t->itt == itt) return t;
  }
}

void TaskSet::Erase(uint32_t itt) {
  if (itt_slots_.empty()) return;
  size_t mask = itt_slots_.size() - 1;
  size_t i = HashItt(itt) & mask;
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
    size_t home = HashItt(pool_[v - 1]->itt) & mask;
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
