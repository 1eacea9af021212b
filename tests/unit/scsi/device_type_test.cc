// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/device_type.cc: the Op builder, lookups by opcode and service
// action, overriding an SPC entry, ServiceActionOf, and the shape of every table entry.
#include "scsi/device_type.h"

#include <gtest/gtest.h>

#include <vector>

#include "scsi/dispatch.h"
#include "scsi/mmc.h"
#include "scsi/spc.h"
#include "scsi/spec.h"

namespace modtgt::scsi {
namespace {

void Handler(Command*) {}

TEST(DeviceType, OpBuilderSetsKeyFlagsNameAndUsage) {
  OpInfo plain = Op(kRead10, &Handler, kOpNeedsMedium, "READ(10)",
                    {kRead10, 0x18, 0xff, 0xff, 0xff, 0xff, 0x3f, 0xff, 0xff, 0x07});
  EXPECT_EQ(plain.opcode, 0x28);
  EXPECT_FALSE(plain.has_service_action);
  EXPECT_EQ(plain.handler, &Handler);
  EXPECT_EQ(plain.flags, kOpNeedsMedium);
  EXPECT_STREQ(plain.name, "READ(10)");
  EXPECT_EQ(plain.cdb_length, 10);
  EXPECT_EQ(plain.usage[0], 0x28);
  EXPECT_EQ(plain.usage[9], 0x07);
  EXPECT_EQ(plain.usage[10], 0);
  OpInfo sa = Op({kServiceActionIn16, kSaGetLbaStatus}, &Handler, 0, "GET LBA STATUS",
                 {kServiceActionIn16, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07});
  EXPECT_EQ(sa.opcode, 0x9e);
  EXPECT_TRUE(sa.has_service_action);
  EXPECT_EQ(sa.service_action, 0x12);
  EXPECT_EQ(sa.cdb_length, 16);
}

TEST(DeviceType, FindByServiceActionAndOverride) {
  std::vector<OpInfo> ops = SpcOps();
  OpInfo inq;
  inq.opcode = 0x12;
  inq.name = "override";
  ops.push_back(inq);
  DeviceType t("x", 0, ops);
  EXPECT_STREQ(t.Find(0x12, 0)->name, "override");
  EXPECT_NE(t.Find(0x5e, 3), nullptr);
  EXPECT_EQ(t.Find(0x5e, 4), nullptr);
  EXPECT_TRUE(t.HasOpcode(0x5e));
  EXPECT_FALSE(t.HasOpcode(0xc0));
  uint8_t cdb[16] = {0x9e, 0xf0 | 0x10};
  EXPECT_EQ(ServiceActionOf(cdb, 16), 0x10);
  uint8_t var[32] = {0x7f};
  var[8] = 0x00;
  var[9] = 0x0b;
  EXPECT_EQ(ServiceActionOf(var, 32), 0x0b);
  EXPECT_EQ(ServiceActionOf(var, 8), 0);
}

// REPORT SUPPORTED OPERATION CODES is built from the tables: every entry needs a CDB
// length and a usage bitmap that starts with its opcode (libiscsi checks both).
TEST(DeviceType, EveryEntryHasCdbLengthAndUsage) {
  for (const DeviceType* t : {&SbcDeviceType(), &MmcDeviceType()}) {
    for (const OpInfo& op : t->ops()) {
      EXPECT_NE(op.cdb_length, 0) << t->name() << " " << op.name;
      EXPECT_EQ(op.usage[0], op.opcode) << t->name() << " " << op.name;
      EXPECT_NE(op.handler, nullptr) << op.name;
    }
  }
}

}  // namespace
}  // namespace modtgt::scsi
