// SPDX-License-Identifier: Apache-2.0
// The LBA range lock of the COMPARE AND WRITE and ORWRITE emulations. Emulated
// read-compare-write and read-or-write must be atomic with respect to each other on the
// same LU (SBC-4 5.3: "atomic ... with respect to other commands"). The table is keyed by
// LogicalUnit* and kept here because LogicalUnit has no field for it; entries vanish when
// nothing is held or waiting, so a destroyed LU leaves nothing behind. Plain WRITEs are
// not fenced (as in Linux LIO's emulation): that would put a lock on the hot path.
//
// Threading: the table is guarded by a mutex of its own (never held while a command
// runs); a waiter is resumed on its owning loop.
#include <algorithm>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "env/event_loop.h"
#include "scsi/command.h"
#include "scsi/logical_unit.h"
#include "scsi/sbc_internal.h"

namespace modtgt::scsi::sbc_internal {
namespace {

// A range while locked: cmd->sbc.lba and .blocks of its owner.
struct HeldRange {
  const Command* owner;
  uint64_t lba;
  uint64_t blocks;
};
struct LuRangeLocks {
  std::vector<HeldRange> held;
  std::vector<Command*> waiters;  // FIFO
};

std::mutex g_range_mu;
std::unordered_map<const LogicalUnit*, LuRangeLocks>& RangeTable() {
  static auto* table = new std::unordered_map<const LogicalUnit*, LuRangeLocks>();
  return *table;
}

bool Overlaps(uint64_t a, uint64_t an, uint64_t b, uint64_t bn) { return a < b + bn && b < a + an; }

bool ConflictsLocked(const LuRangeLocks& l, uint64_t lba, uint64_t blocks) {
  for (const HeldRange& h : l.held) {
    if (Overlaps(h.lba, h.blocks, lba, blocks)) return true;
  }
  return false;
}

void RunResume(env::Completion* c) {
  Command* cmd = static_cast<Command*>(c);
  cmd->sbc.resume(cmd);
}

}  // namespace

void LockRangeThen(Command* cmd, SbcState::ResumeFn resume) {
  cmd->sbc.resume = resume;
  {
    std::lock_guard<std::mutex> lock(g_range_mu);
    LuRangeLocks& l = RangeTable()[cmd->lu.get()];
    if (ConflictsLocked(l, cmd->sbc.lba, cmd->sbc.blocks) || !l.waiters.empty()) {
      l.waiters.push_back(cmd);
      return;
    }
    l.held.push_back({cmd, cmd->sbc.lba, cmd->sbc.blocks});
  }
  resume(cmd);
}

void UnlockRange(Command* cmd) {
  std::vector<Command*> ready;
  {
    std::lock_guard<std::mutex> lock(g_range_mu);
    auto& table = RangeTable();
    auto it = table.find(cmd->lu.get());
    if (it == table.end()) return;
    LuRangeLocks& l = it->second;
    l.held.erase(std::remove_if(l.held.begin(), l.held.end(),
                                [cmd](const HeldRange& h) { return h.owner == cmd; }),
                 l.held.end());
    // Grant waiters in FIFO order; a waiter that still conflicts blocks those behind it
    // only if they overlap it (checked by adding granted ranges first).
    for (auto w = l.waiters.begin(); w != l.waiters.end();) {
      Command* c = *w;
      if (!ConflictsLocked(l, c->sbc.lba, c->sbc.blocks)) {
        l.held.push_back({c, c->sbc.lba, c->sbc.blocks});
        ready.push_back(c);
        w = l.waiters.erase(w);
      } else {
        ++w;
      }
    }
    if (l.held.empty() && l.waiters.empty()) table.erase(it);
  }
  for (Command* c : ready) {
    env::EventLoop* loop = c->owner ? c->owner->loop() : nullptr;
    if (loop == nullptr) {
      RunResume(c);
    } else {
      c->run = &RunResume;
      loop->PostCompletion(c);
    }
  }
}

size_t RangeLockEntries() {
  std::lock_guard<std::mutex> lock(g_range_mu);
  return RangeTable().size();
}

}  // namespace modtgt::scsi::sbc_internal
