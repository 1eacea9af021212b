// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/backend.h"
#include "scsi/dispatch.h"
#include "scsi/logical_unit.h"
#include "scsi/sense.h"
#include "scsi/spc.h"
#include "fakes/fake_owner.h"
#include "fakes/spc_fixture.h"
#include "plain_backend.h"

namespace modtgt::scsi {
namespace {

using namespace ::modtgt::scsi::spctest;  // NOLINT: test fixture (fakes/spc_fixture.h)

TEST(Dispatch, MissingLunInquiryReportsQualifier3) {
  Fixture f;
  auto c = f.Run(0, {0x12, 0, 0, 0, 36, 0}, {}, 7);
  ASSERT_EQ(c->status, Status::kGood);
  ASSERT_GE(c->data_in_length, 36u);
  EXPECT_EQ(c->data.data()[0], 0x7f);
}

TEST(Dispatch, MissingLunOtherCommandsGetLunNotSupported) {
  Fixture f;
  auto c = f.Run(0, {0x00}, {}, 7);
  EXPECT_TRUE(IsCheck(*c, 0x5, 0x2500));
  auto rl = f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}, {}, 7);
  EXPECT_EQ(rl->status, Status::kGood);
  auto rs = f.Run(0, {0x03, 0, 0, 0, 18, 0}, {}, 7);
  ASSERT_EQ(rs->status, Status::kGood);
  ASSERT_EQ(rs->data_in_length, 18u);
  EXPECT_EQ(rs->data.data()[2] & 0xf, 0x5);
  EXPECT_EQ(rs->data.data()[12], 0x25);
}

TEST(Dispatch, FirstCommandGetsPowerOnUnitAttentionOnce) {
  Fixture f;
  auto c = f.Run(0, {0x00});
  EXPECT_TRUE(IsCheck(*c, 0x6, 0x2900));
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
}

TEST(Dispatch, InquiryAndReportLunsDoNotConsumeUnitAttention) {
  Fixture f;
  EXPECT_EQ(f.Run(0, {0x12, 0, 0, 0, 36, 0})->status, Status::kGood);
  EXPECT_EQ(f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2900));
}

TEST(Dispatch, UnitAttentionsReportedOldestFirst) {
  Fixture f;
  f.ClearUa(0);
  f.lu->AddUnitAttention(f.nexus[0].id, asc::kModeParametersChanged);
  f.lu->AddUnitAttention(f.nexus[0].id, asc::kReportedLunsDataHasChanged);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2a01));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x3f0e));
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
}

TEST(Dispatch, NexusGoneDropsStateAndNewNexusGetsPowerOn) {
  Fixture f;
  f.ClearUa(0);
  f.lu->NexusGone(f.nexus[0]);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2900));
}

TEST(Dispatch, UnknownOpcodeIsInvalidCommandOperationCode) {
  Fixture f;
  f.ClearUa(0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0xc5}), 0x5, 0x2000));
}

TEST(Dispatch, UnknownServiceActionIsInvalidFieldWithPointer) {
  Fixture f;
  f.ClearUa(0);
  auto c = f.Run(0, {0xa3, 0x1e, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  ASSERT_TRUE(IsCheck(*c, 0x5, 0x2400));
  EXPECT_EQ(c->sense[15] & 0xc0, 0xc0);  // SKSV, C/D
  EXPECT_EQ(GetBe16(c->sense + 16), 1);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x5e, 0x07, 0, 0, 0, 0, 0, 0, 32, 0}), 0x5, 0x2400));
}

TEST(Dispatch, NacaOrLinkInControlByteRejected) {
  Fixture f;
  f.ClearUa(0);
  auto c = f.Run(0, {0x00, 0, 0, 0, 0, 0x04});
  ASSERT_TRUE(IsCheck(*c, 0x5, 0x2400));
  EXPECT_EQ(GetBe16(c->sense + 16), 5);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0x01}), 0x5, 0x2400));
}

TEST(Dispatch, ShortCdbRejectedWithoutReadingPastIt) {
  Fixture f;
  f.ClearUa(0);
  auto cmd = std::make_unique<Command>();
  cmd->cdb[0] = 0x28;
  cmd->cdb_len = 6;  // a 10-byte opcode in a 6-byte CDB
  cmd->nexus = &f.nexus[0];
  cmd->owner = &f.owner;
  Submit(cmd.get());
  EXPECT_TRUE(IsCheck(*cmd, 0x5, 0x2400));
}

TEST(Dispatch, WriteToReadOnlyLuIsWriteProtected) {
  LuConfig cfg;
  cfg.readonly = true;
  Fixture f(cfg);
  f.ClearUa(0);
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x7, 0x2700));
  EXPECT_EQ(f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status, Status::kGood);
}

TEST(Dispatch, RemovableWithoutMediumIsNotReady) {
  LuConfig cfg;
  cfg.removable = true;
  Fixture f(cfg);
  f.ClearUa(0);
  f.lu->medium_present = false;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x2, 0x3a00));
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x2, 0x3a00));
  EXPECT_EQ(f.Run(0, {0x12, 0, 0, 0, 36, 0})->status, Status::kGood);
}

TEST(Dispatch, BackendStatusesMapToSense) {
  Fixture f;
  f.ClearUa(0);
  f.backend->next_status = MODTGT_STS_READ_ERROR;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}), 0x3, 0x1100));
  f.backend->next_status = MODTGT_STS_BUSY;
  EXPECT_EQ(f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status, Status::kBusy);
  f.backend->next_status = MODTGT_STS_NO_RESOURCE;
  EXPECT_EQ(f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0})->status, Status::kTaskSetFull);
}

TEST(Dispatch, TakeoverNotHandledFallsBackToEmulation) {
  Fixture f;
  f.ClearUa(0);
  f.backend->handle_cmd = true;
  f.backend->next_status = MODTGT_STS_NOT_HANDLED;
  auto c = f.Run(0, {0x12, 0, 0, 0, 36, 0});
  EXPECT_EQ(c->status, Status::kGood);
  EXPECT_EQ(c->data_in_length, 36u);
  EXPECT_EQ(f.backend->submits, 1);
  f.backend->next_status = MODTGT_STS_UNSUPPORTED;
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x12, 0, 0, 0, 36, 0}), 0x5, 0x2000));
  // REPORT LUNS stays in the SCSI layer.
  int before = f.backend->submits;
  f.Run(0, {0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0});
  EXPECT_EQ(f.backend->submits, before);
}

TEST(Dispatch, InflightReturnsToZero) {
  Fixture f;
  f.ClearUa(0);
  f.Run(0, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0});
  EXPECT_EQ(f.lu->inflight.load(), 0u);
}

TEST(Dispatch, LunResetQueuesUaForEveryNexusAndClearsSpc2Reservation) {
  Fixture f;
  f.ClearUa(0);
  f.ClearUa(1);
  EXPECT_EQ(f.Run(0, {0x16, 0, 0, 0, 0, 0})->status, Status::kGood);
  ResetLogicalUnit(f.lu.get(), &f.nexus[0]);
  // The issuing nexus gets the unit attention too (libiscsi MultipathIO.Reset).
  EXPECT_TRUE(IsCheck(*f.Run(0, {0x00}), 0x6, 0x2903));
  EXPECT_EQ(f.Run(0, {0x00})->status, Status::kGood);
  EXPECT_TRUE(IsCheck(*f.Run(1, {0x00}), 0x6, 0x2903));
  EXPECT_EQ(f.Run(1, {0x1a, 0, 0x3f, 0, 255, 0})->status, Status::kGood);
}

TEST(Dispatch, IoDoneFromAnotherThreadRunsOnOwningLoop) {
  env::EventLoop loop(0);
  ASSERT_TRUE(loop.Init().ok());
  std::thread t([&] { loop.Run(); });
  Fixture f;
  // An owner on the loop that signals CommandDone, so the test waits on the condition
  // instead of sleeping.
  testing::FakeOwner owner(&loop);
  auto cmd = std::make_unique<Command>();
  cmd->nexus = &f.nexus[0];
  cmd->owner = &owner;
  static std::atomic<bool> on_loop{false};
  static env::EventLoop* the_loop = nullptr;
  the_loop = &loop;
  cmd->io.done = [](Command* c) {
    on_loop = the_loop->InLoopThread();
    Complete(c);
  };
  IoDone(cmd.get(), MODTGT_STS_OK);  // from the test thread, not the loop
  EXPECT_TRUE(owner.WaitForDone(1));
  loop.Stop();
  t.join();
  EXPECT_EQ(owner.done_count(), 1);
  EXPECT_TRUE(on_loop);
}

}  // namespace
}  // namespace modtgt::scsi

namespace modtgt::scsi {
namespace {

// SAM-5 8.6 task attributes, with a backend that holds I/O until the test completes it.
class HoldBackend : public PlainBackend {
 public:
  uint64_t size_bytes() const override { return 1 << 20; }
  void Submit(Command* cmd) override { held.push_back(cmd); }
  std::vector<Command*> held;
};

class OrderOwner : public CommandOwner {
 public:
  env::EventLoop* loop() const override { return nullptr; }
  void CommandDone(Command* cmd) override { done.push_back(cmd->tag); }
  std::vector<uint32_t> done;
};

TEST(TaskAttributes, OrderedWaitsForOlderAndHoldsYoungerHeadOfQueueDoesNot) {
  auto target = std::make_shared<spctest::FakeTarget>();
  auto be = std::make_unique<HoldBackend>();
  HoldBackend* backend = be.get();
  auto lu = std::make_shared<LogicalUnit>(LuConfig{}, &spctest::TestDiskType(), std::move(be),
                                          "iqn.2024-01.test:tgt");
  target->luns[0] = lu;
  Nexus nexus;
  nexus.id = 7;
  nexus.initiator_port = "iqn.2024-01.test:i,i,0x000000000001";
  nexus.target = target;
  OrderOwner owner;
  std::vector<std::unique_ptr<Command>> cmds;
  auto submit = [&](uint32_t tag, uint8_t opcode, TaskAttribute attr) {
    auto c = std::make_unique<Command>();
    c->cdb[0] = opcode;
    if (opcode == 0x28) c->cdb[8] = 1;  // READ(10) of one block
    c->cdb_len = opcode == 0x28 ? 10 : 6;
    c->attr = attr;
    c->tag = tag;
    c->nexus = &nexus;
    c->owner = &owner;
    c->dir = opcode == 0x28 ? DataDirection::kRead : DataDirection::kNone;
    c->expected_length = opcode == 0x28 ? 512 : 0;
    Submit(c.get());
    cmds.push_back(std::move(c));
  };
  submit(0, 0x00, TaskAttribute::kSimple);  // takes the power-on unit attention
  owner.done.clear();

  submit(1, 0x28, TaskAttribute::kSimple);       // held in the backend
  submit(2, 0x00, TaskAttribute::kOrdered);      // must wait for 1
  submit(3, 0x00, TaskAttribute::kSimple);       // must wait for 2
  submit(4, 0x00, TaskAttribute::kHeadOfQueue);  // runs at once
  EXPECT_EQ(owner.done, (std::vector<uint32_t>{4}));
  EXPECT_EQ(lu->order_active.load(), 1u);

  ASSERT_EQ(backend->held.size(), 1u);
  IoDone(backend->held[0], MODTGT_STS_OK);
  EXPECT_EQ(owner.done, (std::vector<uint32_t>{4, 1, 2, 3}));
  EXPECT_EQ(lu->order_active.load(), 0u);
  EXPECT_EQ(lu->inflight.load(), 0u);
  for (const auto& c : cmds) {
    if (c->tag != 0) {
      EXPECT_EQ(c->status, Status::kGood) << c->tag;
    }
  }

  // With no ORDERED command in the task set, SIMPLE commands pass without queueing.
  owner.done.clear();
  submit(5, 0x28, TaskAttribute::kSimple);
  submit(6, 0x00, TaskAttribute::kSimple);
  EXPECT_EQ(owner.done, (std::vector<uint32_t>{6}));
  IoDone(backend->held[1], MODTGT_STS_OK);
  EXPECT_EQ(owner.done, (std::vector<uint32_t>{6, 5}));
}

}  // namespace
}  // namespace modtgt::scsi
