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

namespace modtgt::scsi {
namespace {


TEST(Sense, FixedFormatLayout) {
  uint8_t b[32];
  size_t n = BuildSense(b, sizeof(b), false, SenseKey::kMediumError, asc::kUnrecoveredReadError);
  ASSERT_EQ(n, 18u);
  EXPECT_EQ(b[0], 0x70);
  EXPECT_EQ(b[2], 0x03);
  EXPECT_EQ(b[7], 10);
  EXPECT_EQ(b[12], 0x11);
  EXPECT_EQ(b[13], 0x00);
}

TEST(Sense, FixedFormatInformationSetsValid) {
  uint8_t b[32];
  BuildSense(b, sizeof(b), false, SenseKey::kMiscompare, asc::kMiscompareDuringVerify, true, 0x1234);
  EXPECT_EQ(b[0], 0xf0);
  EXPECT_EQ(GetBe32(b + 3), 0x1234u);
}

TEST(Sense, DescriptorFormatWithInformation) {
  uint8_t b[32];
  size_t n = BuildSense(b, sizeof(b), true, SenseKey::kIllegalRequest, asc::kLbaOutOfRange, true,
                        0x1122334455667788ull);
  ASSERT_EQ(n, 20u);
  EXPECT_EQ(b[0], 0x72);
  EXPECT_EQ(b[1], 0x05);
  EXPECT_EQ(b[2], 0x21);
  EXPECT_EQ(b[7], 12);
  EXPECT_EQ(b[8], 0x00);
  EXPECT_EQ(b[9], 0x0a);
  EXPECT_EQ(b[10], 0x80);
  EXPECT_EQ(GetBe64(b + 12), 0x1122334455667788ull);
}

TEST(Sense, DescriptorFormatWithoutInformationIsEightBytes) {
  uint8_t b[32];
  EXPECT_EQ(BuildSense(b, sizeof(b), true, SenseKey::kUnitAttention, asc::kPowerOnResetOccurred), 8u);
  EXPECT_EQ(b[7], 0);
}

TEST(Sense, FieldPointerFixedAndDescriptor) {
  uint8_t b[32];
  BuildSenseFieldPointer(b, sizeof(b), false, SenseKey::kIllegalRequest, asc::kInvalidFieldInCdb,
                         true, 4, 1);
  EXPECT_EQ(b[15], 0x80 | 0x40 | 0x08 | 0x01);
  EXPECT_EQ(GetBe16(b + 16), 4);
  size_t n = BuildSenseFieldPointer(b, sizeof(b), true, SenseKey::kIllegalRequest,
                                    asc::kInvalidFieldInParameterList, false, 300);
  ASSERT_EQ(n, 16u);
  EXPECT_EQ(b[8], 0x02);
  EXPECT_EQ(b[9], 0x06);
  EXPECT_EQ(b[12], 0x80);
  EXPECT_EQ(GetBe16(b + 13), 300);
}

TEST(Sense, TruncatesToBuffer) {
  uint8_t b[8] = {};
  EXPECT_EQ(BuildSense(b, sizeof(b), false, SenseKey::kNotReady, asc::kMediumNotPresent), 8u);
  EXPECT_EQ(b[0], 0x70);
}

TEST(Sense, SetCheckConditionFollowsDSense) {
  LuConfig cfg;
  auto lu = std::make_shared<LogicalUnit>(cfg, nullptr, nullptr, "t");
  Command cmd;
  cmd.lu = lu;
  SetCheckCondition(&cmd, SenseKey::kDataProtect, asc::kWriteProtected);
  EXPECT_EQ(cmd.status, Status::kCheckCondition);
  EXPECT_EQ(cmd.sense[0], 0x70);
  lu->d_sense = true;
  SetCheckCondition(&cmd, SenseKey::kDataProtect, asc::kWriteProtected);
  EXPECT_EQ(cmd.sense[0], 0x72);
  EXPECT_EQ(cmd.sense_len, 8);
  cmd.lu.reset();
}

TEST(Sense, StatusFromIoMapping) {
  Command cmd;
  SetStatusFromIo(&cmd, MODTGT_STS_WRITE_ERROR);
  EXPECT_EQ(cmd.sense[2], 0x03);
  EXPECT_EQ(cmd.sense[12], 0x0c);
  SetStatusFromIo(&cmd, MODTGT_STS_MISCOMPARE);
  EXPECT_EQ(cmd.sense[2], 0x0e);
  EXPECT_EQ(cmd.sense[12], 0x1d);
  SetStatusFromIo(&cmd, MODTGT_STS_LBA_OUT_OF_RANGE);
  EXPECT_EQ(cmd.sense[12], 0x21);
  SetStatusFromIo(&cmd, MODTGT_STS_UNSUPPORTED);
  EXPECT_EQ(cmd.sense[12], 0x20);
  // ABI 1.3: SBC-4 4.7.3.6 DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT.
  SetStatusFromIo(&cmd, MODTGT_STS_SPACE_EXHAUSTED);
  EXPECT_EQ(cmd.status, Status::kCheckCondition);
  EXPECT_EQ(cmd.sense[2], 0x07);
  EXPECT_EQ(cmd.sense[12], 0x27);
  EXPECT_EQ(cmd.sense[13], 0x07);
  SetStatusFromIo(&cmd, MODTGT_STS_OK);
  EXPECT_EQ(cmd.status, Status::kGood);
  EXPECT_EQ(cmd.sense_len, 0);
  SetStatusFromIo(&cmd, 12345);
  EXPECT_EQ(cmd.sense[2], 0x04);
}

}  // namespace
}  // namespace modtgt::scsi
