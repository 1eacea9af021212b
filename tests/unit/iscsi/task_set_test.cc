// SPDX-License-Identifier: Apache-2.0
// TaskSet: the pool, the ITT table (with colliding ITTs and backward-shift deletion), TTTs
// and the held queue.
#include "iscsi/task_set.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace modtgt::iscsi {
namespace {

constexpr uint32_t kReserved = 0xffffffffu;

// The ITT table's home slot of an ITT (task_set.cc's hash, 10 bits).
size_t Home(uint32_t itt) { return ((itt * 0x9E3779B1u) >> 22) & 1023; }

TEST(TaskSet, PoolRunsOutAndRefills) {
  TaskSet s;
  EXPECT_FALSE(s.allocated());
  EXPECT_FALSE(s.exhausted());  // no pool (discovery): never "exhausted"
  EXPECT_EQ(s.Alloc(), nullptr);
  s.Allocate();
  s.Allocate();  // once only
  std::vector<Task*> all;
  while (Task* t = s.Alloc()) {
    EXPECT_EQ(t->state, TaskState::kCollecting);
    EXPECT_EQ(t->itt, kReserved);
    EXPECT_EQ(t->conn, nullptr);
    all.push_back(t);
  }
  EXPECT_EQ(all.size(), TaskSet::kPoolSize);
  EXPECT_TRUE(s.exhausted());
  s.Free(all[7]);
  EXPECT_FALSE(s.exhausted());
  s.Free(all[7]);  // already free: nothing
  Task* again = s.Alloc();
  EXPECT_EQ(again, all[7]);
  EXPECT_TRUE(s.exhausted());
}

TEST(TaskSet, AllocResetsWhatTheLastCommandLeft) {
  TaskSet s;
  s.Allocate();
  Task* t = s.Alloc();
  t->itt = 5;
  t->tmf_aborted = t->data_error = t->counted = true;
  t->r2ts[3].used = true;
  t->data_sn = 9;
  t->status = scsi::Status::kCheckCondition;
  s.Insert(t);
  s.Free(t);
  Task* u = s.Alloc();
  ASSERT_EQ(u, t);
  EXPECT_FALSE(u->tmf_aborted || u->data_error || u->counted || u->r2ts[3].used);
  EXPECT_EQ(u->data_sn, 0u);
  EXPECT_EQ(u->tmf_slot, -1);
  EXPECT_EQ(u->status, scsi::Status::kGood);
  EXPECT_EQ(s.Find(5), nullptr) << "Free takes the ITT out of the table";
}

TEST(TaskSet, IttTableSurvivesCollisionsAndDeletion) {
  TaskSet s;
  s.Allocate();
  // Six ITTs with the same home slot, and one whose home is the next slot.
  std::vector<uint32_t> same;
  size_t home = Home(1000);
  for (uint32_t itt = 1000; same.size() < 6; itt++) {
    if (Home(itt) == home) same.push_back(itt);
  }
  uint32_t neighbour = 1;
  while (Home(neighbour) != ((home + 1) & 1023)) neighbour++;
  std::map<uint32_t, Task*> by_itt;
  for (uint32_t itt : same) {
    Task* t = s.Alloc();
    t->itt = itt;
    s.Insert(t);
    by_itt[itt] = t;
  }
  Task* n = s.Alloc();
  n->itt = neighbour;
  s.Insert(n);
  by_itt[neighbour] = n;
  for (const auto& [itt, t] : by_itt) EXPECT_EQ(s.Find(itt), t) << itt;
  // Remove from the middle of the probe chain, then the head.
  s.Free(by_itt[same[2]]);
  s.Free(by_itt[same[0]]);
  by_itt.erase(same[2]);
  by_itt.erase(same[0]);
  for (const auto& [itt, t] : by_itt) EXPECT_EQ(s.Find(itt), t) << itt;
  EXPECT_EQ(s.Find(same[2]), nullptr);
  EXPECT_EQ(s.Find(same[0]), nullptr);
  EXPECT_EQ(s.Find(424242), nullptr);
}

TEST(TaskSet, TttsNameTheTaskAndItsOutstandingR2t) {
  TaskSet s;
  EXPECT_EQ(s.FindByTtt(0x400 | 3, nullptr), nullptr);  // no pool
  s.Allocate();
  Task* t = s.Alloc();
  uint32_t ttt = s.NewTtt(t->index);
  EXPECT_EQ(ttt & TaskSet::kNoTaskIndex, t->index);
  EXPECT_NE(s.NewTtt(t->index), ttt) << "every TTT is new";
  R2t* r = nullptr;
  EXPECT_EQ(s.FindByTtt(ttt, &r), nullptr) << "no R2T carries it yet";
  t->r2ts[2].used = true;
  t->r2ts[2].ttt = ttt;
  EXPECT_EQ(s.FindByTtt(ttt, &r), t);
  EXPECT_EQ(r, &t->r2ts[2]);
  t->state = TaskState::kInCore;  // only a collecting task takes Data-Out
  EXPECT_EQ(s.FindByTtt(ttt, &r), nullptr);
  EXPECT_EQ(s.FindByTtt(s.NewTtt(TaskSet::kNoTaskIndex), &r), nullptr);
}

TEST(TaskSet, NewTttNeverGivesTheReservedTag) {
  TaskSet s;
  // Run the 22-bit counter up to the value that would make (count << 10) | 0x3ff reserved.
  uint32_t last = 0;
  for (uint32_t i = 1; i < (1u << 22) + 2; i++) {
    last = s.NewTtt(TaskSet::kNoTaskIndex);
    ASSERT_NE(last, kReserved) << "after " << i << " tags";
  }
}

TEST(TaskSet, HeldQueueGivesTasksBackByCmdSn) {
  TaskSet s;
  s.Allocate();
  Task* a = s.Alloc();
  Task* b = s.Alloc();
  a->cmd_sn = 12;
  b->cmd_sn = 11;
  a->state = b->state = TaskState::kHeld;
  s.Hold(a);
  s.Hold(b);
  EXPECT_TRUE(s.has_held());
  EXPECT_EQ(s.TakeHeld(10), nullptr);
  EXPECT_EQ(s.TakeHeld(11), b);
  EXPECT_EQ(s.TakeHeld(11), nullptr);
  s.Free(a);
  s.ForgetFreedHeld();
  EXPECT_FALSE(s.has_held());
  EXPECT_EQ(s.TakeHeld(12), nullptr);
}

}  // namespace
}  // namespace modtgt::iscsi
