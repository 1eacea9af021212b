// SPDX-License-Identifier: Apache-2.0
// Unit tests for src/scsi/sbc_capacity.cc: READ CAPACITY (10/16) and READ DEFECT DATA.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "common/byteorder.h"
#include "modtgt/module.h"
#include "scsi/sbc.h"
#include "sbc_fixture.h"

namespace modtgt::scsi::sbctest {
namespace {

// ---------------- READ CAPACITY ----------------

TEST_F(SbcTest, ReadCapacity10ReportsLastLbaAndBlockSize) {
  MakeLu(1000, 4096);
  Command* c = Run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ExpectGood(c);
  ASSERT_EQ(c->data_in_length, 8u);
  EXPECT_EQ(GetBe32(c->data.data()), 999u);
  EXPECT_EQ(GetBe32(c->data.data() + 4), 4096u);
  ExpectCheck(Run({0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0}), kIllegal, kInvalidCdb);  // PMI 0, LBA 1
}

TEST_F(SbcTest, ReadCapacity10SaturatesAboveTwoToThe32Blocks) {
  MakeLuWith(std::make_unique<SizeOnlyBackend>((1ull << 33) * 512), 512, false, false);
  Command* c = Run({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  ExpectGood(c);
  EXPECT_EQ(GetBe32(c->data.data()), 0xffffffffu);
  Command* c16 = Run(SaIn16(0x10, 0, 32));
  ExpectGood(c16);
  EXPECT_EQ(GetBe64(c16->data.data()), (1ull << 33) - 1);
}

TEST_F(SbcTest, ReadCapacity16With512And4096ByteBlocks) {
  for (uint32_t bs : {512u, 4096u}) {
    MakeLu(2048, bs);
    Command* c = Run(SaIn16(0x10, 0, 32));
    ExpectGood(c);
    ASSERT_EQ(c->data_in_length, 32u);
    const uint8_t* p = c->data.data();
    EXPECT_EQ(GetBe64(p), 2047u);
    EXPECT_EQ(GetBe32(p + 8), bs);
    EXPECT_EQ(p[12], 0);  // no protection
    EXPECT_EQ(p[13], bs == 512 ? 3 : 0);  // 4 KiB physical blocks: 2^3 logical per physical
    EXPECT_EQ(p[14], 0);  // no LBPME without unmap
  }
}

TEST_F(SbcTest, ReadCapacity16ReportsProvisioningAndHonoursAllocationLength) {
  MemBackendCaps caps;
  caps.unmap = true;
  caps.thin = true;
  MakeLu(2048, 512, caps);
  EXPECT_EQ(Run(SaIn16(0x10, 0, 32))->data.data()[14], 0);  // not configured thin
  MakeLu(2048, 512, caps, /*thin_cfg=*/true);
  Command* c = Run(SaIn16(0x10, 0, 32));
  ExpectGood(c);
  EXPECT_EQ(c->data.data()[14], 0xc0);  // LBPME | LBPRZ
  for (uint32_t alloc = 0; alloc < 16; ++alloc) {
    Command* t = Run(SaIn16(0x10, 0, alloc));
    ExpectGood(t);
    EXPECT_EQ(t->data_in_length, alloc);
  }
  // Thin by configuration over a backend that is not itself thin: LBPME without LBPRZ.
  caps.thin = false;
  MakeLu(2048, 512, caps, /*thin_cfg=*/true);
  EXPECT_EQ(Run(SaIn16(0x10, 0, 32))->data.data()[14], 0x80);
  // VPD 0xB2 tells the same story (SBC-4 6.6.5): LBPU/LBPWS/LBPWS10 without LBPRZ.
  Command* vpd = Run({0x12, 0x01, 0xb2, 0, 64, 0});
  ExpectGood(vpd);
  EXPECT_EQ(vpd->data.data()[5], 0xe0);
}

// ---------------- READ DEFECT DATA ----------------

TEST_F(SbcTest, ReadDefectDataReturnsAnEmptyList) {
  MakeLu();
  Command* c10 = Run({0x37, 0, 0x1d, 0, 0, 0, 0, 0, 255, 0});
  ExpectGood(c10);
  ASSERT_EQ(c10->data_in_length, 4u);
  EXPECT_EQ(c10->data.data()[1], 0x1d);
  EXPECT_EQ(GetBe16(c10->data.data() + 2), 0);
  Command* c12 = Run({0xb7, 0x0d, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0});
  ExpectGood(c12);
  ASSERT_EQ(c12->data_in_length, 8u);
  EXPECT_EQ(GetBe32(c12->data.data() + 4), 0u);
  EXPECT_EQ(Run({0x37, 0, 0x1d, 0, 0, 0, 0, 0, 2, 0})->data_in_length, 2u);
}

}  // namespace
}  // namespace modtgt::scsi::sbctest
