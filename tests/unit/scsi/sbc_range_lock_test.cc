// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc_range_lock.cc: the range lock makes emulated COMPARE AND
// WRITEs atomic with respect to each other and leaves no table entry behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "scsi/sbc.h"
#include "sbc_fixture.h"

namespace modtgt::scsi::sbctest {
namespace {

// Two emulated COMPARE AND WRITEs of the same 'A' -> 'B' race: the range lock makes one
// win and the other miscompare, never both succeed.
TEST_F(SbcTest, CompareAndWriteEmulationIsAtomicAgainstAnotherCaw) {
  MakeLu(1024, 512, {}, false, /*async=*/true);
  backend_->Fill(0, 512, 'A');
  std::vector<uint8_t> out(1024, 'A');
  std::fill(out.begin() + 512, out.end(), 'B');
  constexpr int kN = 8;
  std::vector<Command*> cs;
  for (int i = 0; i < kN; ++i) cs.push_back(NewCmd(CawCdb(0, 1), out, 1024));
  const int before = owner_->done_count();
  loop_->loop()->Post([&cs] {
    for (Command* c : cs) {
      c->lu->inflight.fetch_add(1);
      SbcDeviceType().Find(0x89, 0)->handler(c);
    }
  });
  ASSERT_TRUE(owner_->WaitForDone(before + kN));
  int good = 0, miscompare = 0;
  for (Command* c : cs) {
    if (c->status == Status::kGood) ++good;
    if (c->status == Status::kCheckCondition && Key(c) == kMiscompare) ++miscompare;
  }
  EXPECT_EQ(good, 1);
  EXPECT_EQ(miscompare, kN - 1);
  EXPECT_EQ(SbcRangeLockEntriesForTest(), 0u);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
