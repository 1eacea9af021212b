// SPDX-License-Identifier: Apache-2.0
// Checks for src/scsi/spec.h against the standards, written out independently: the byte
// offset of every field the emulation reads or writes (spec.h already asserts the sizes),
// the operation codes and service actions, and the ASC/ASCQ values. All compile-time; the
// TEST only makes the file show up in the test list.
#include "scsi/spec.h"

#include <gtest/gtest.h>

#include <cstddef>

namespace modtgt::scsi {
namespace {

// ---- CDB layouts (SBC-4 5.x, SPC-4 6.6.1) ----
static_assert(offsetof(Rw6Cdb, logical_block_address) == 1);
static_assert(offsetof(Rw6Cdb, transfer_length) == 4);
static_assert(offsetof(Rw6Cdb, control) == 5);
static_assert(offsetof(Rw10Cdb, flags) == 1);
static_assert(offsetof(Rw10Cdb, logical_block_address) == 2);
static_assert(offsetof(Rw10Cdb, group_number) == 6);
static_assert(offsetof(Rw10Cdb, transfer_length) == 7);
static_assert(offsetof(Rw10Cdb, control) == 9);
static_assert(offsetof(Rw12Cdb, logical_block_address) == 2);
static_assert(offsetof(Rw12Cdb, transfer_length) == 6);
static_assert(offsetof(Rw12Cdb, group_number) == 10);
static_assert(offsetof(Rw12Cdb, control) == 11);
static_assert(offsetof(Rw16Cdb, logical_block_address) == 2);
static_assert(offsetof(Rw16Cdb, transfer_length) == 10);
static_assert(offsetof(Rw16Cdb, group_number) == 14);
static_assert(offsetof(Rw16Cdb, control) == 15);
static_assert(offsetof(CompareAndWriteCdb, logical_block_address) == 2);
static_assert(offsetof(CompareAndWriteCdb, number_of_logical_blocks) == 13);
static_assert(offsetof(CompareAndWriteCdb, control) == 15);
static_assert(offsetof(ServiceActionIn16Cdb, logical_block_address) == 2);
static_assert(offsetof(ServiceActionIn16Cdb, allocation_length) == 10);
static_assert(offsetof(ServiceActionIn16Cdb, control) == 15);
static_assert(offsetof(ReadCapacity10Cdb, logical_block_address) == 2);
static_assert(offsetof(ReadCapacity10Cdb, pmi) == 8);
static_assert(offsetof(UnmapCdb, anchor) == 1);
static_assert(offsetof(UnmapCdb, group_number) == 6);
static_assert(offsetof(UnmapCdb, parameter_list_length) == 7);
static_assert(offsetof(InquiryCdb, page_code) == 2);
static_assert(offsetof(InquiryCdb, allocation_length) == 3);

// ---- Parameter data ----
static_assert(offsetof(ReadCapacity10Data, logical_block_length_in_bytes) == 4);
static_assert(offsetof(ReadCapacity16Data, logical_block_length_in_bytes) == 8);
static_assert(offsetof(ReadCapacity16Data, protection) == 12);
static_assert(offsetof(ReadCapacity16Data, exponents) == 13);
static_assert(offsetof(ReadCapacity16Data, provisioning) == 14);
static_assert(offsetof(LbaStatusDescriptor, number_of_logical_blocks) == 8);
static_assert(offsetof(LbaStatusDescriptor, provisioning_status) == 12);
static_assert(offsetof(UnmapParameterListHeader, unmap_block_descriptor_data_length) == 2);
static_assert(offsetof(UnmapBlockDescriptor, number_of_logical_blocks) == 8);
static_assert(offsetof(StandardInquiryData, t10_vendor_identification) == 8);
static_assert(offsetof(StandardInquiryData, product_identification) == 16);
static_assert(offsetof(StandardInquiryData, product_revision_level) == 32);
static_assert(offsetof(StandardInquiryData, version_descriptor) == 58);
static_assert(offsetof(BlockLimitsVpd, maximum_compare_and_write_length) == 5);
static_assert(offsetof(BlockLimitsVpd, optimal_transfer_length_granularity) == 6);
static_assert(offsetof(BlockLimitsVpd, maximum_transfer_length) == 8);
static_assert(offsetof(BlockLimitsVpd, optimal_transfer_length) == 12);
static_assert(offsetof(BlockLimitsVpd, maximum_prefetch_length) == 16);
static_assert(offsetof(BlockLimitsVpd, maximum_unmap_lba_count) == 20);
static_assert(offsetof(BlockLimitsVpd, maximum_unmap_block_descriptor_count) == 24);
static_assert(offsetof(BlockLimitsVpd, optimal_unmap_granularity) == 28);
static_assert(offsetof(BlockLimitsVpd, unmap_granularity_alignment) == 32);
static_assert(offsetof(BlockLimitsVpd, maximum_write_same_length) == 36);
static_assert(offsetof(BlockLimitsVpd, maximum_atomic_transfer_length) == 44);
static_assert(offsetof(BlockLimitsVpd, maximum_atomic_boundary_size) == 60);
static_assert(offsetof(LogicalBlockProvisioningVpd, flags) == 5);
static_assert(offsetof(LogicalBlockProvisioningVpd, provisioning_type) == 6);
static_assert(offsetof(BlockDeviceCharacteristicsVpd, medium_rotation_rate) == 4);
static_assert(offsetof(ModeParameterHeader6, device_specific_parameter) == 2);
static_assert(offsetof(ModeParameterHeader6, block_descriptor_length) == 3);
static_assert(offsetof(ModeParameterHeader10, device_specific_parameter) == 3);
static_assert(offsetof(ModeParameterHeader10, longlba) == 4);
static_assert(offsetof(ModeParameterHeader10, block_descriptor_length) == 6);
static_assert(offsetof(ShortLbaBlockDescriptor, logical_block_length) == 5);
static_assert(offsetof(LongLbaBlockDescriptor, logical_block_length) == 12);
static_assert(offsetof(CachingModePage, flags) == 2);
static_assert(offsetof(ControlModePage, flags4) == 4);
static_assert(offsetof(ControlModePage, busy_timeout_period) == 8);
static_assert(offsetof(FixedSenseData, information) == 3);
static_assert(offsetof(FixedSenseData, additional_sense_length) == 7);
static_assert(offsetof(FixedSenseData, additional_sense_code) == 12);
static_assert(offsetof(FixedSenseData, sense_key_specific) == 15);
static_assert(offsetof(DescriptorSenseHeader, additional_sense_length) == 7);
static_assert(offsetof(ProutParameterList, service_action_reservation_key) == 8);
static_assert(offsetof(ProutParameterList, flags) == 20);

// ---- Operation codes and service actions (SPC-4, SBC-4, MMC-6 command tables) ----
static_assert(kTestUnitReady == 0x00 && kRequestSense == 0x03 && kInquiry == 0x12);
static_assert(kModeSelect6 == 0x15 && kModeSense6 == 0x1a && kModeSelect10 == 0x55 &&
              kModeSense10 == 0x5a);
static_assert(kReserve6 == 0x16 && kRelease6 == 0x17 && kReserve10 == 0x56 && kRelease10 == 0x57);
static_assert(kPersistentReserveIn == 0x5e && kPersistentReserveOut == 0x5f);
static_assert(kReportLuns == 0xa0 && kMaintenanceIn == 0xa3 && kVariableLengthCdb == 0x7f);
static_assert(kRead6 == 0x08 && kRead10 == 0x28 && kRead12 == 0xa8 && kRead16 == 0x88);
static_assert(kWrite6 == 0x0a && kWrite10 == 0x2a && kWrite12 == 0xaa && kWrite16 == 0x8a);
static_assert(kVerify10 == 0x2f && kVerify12 == 0xaf && kVerify16 == 0x8f);
static_assert(kWriteAndVerify10 == 0x2e && kWriteAndVerify12 == 0xae && kWriteAndVerify16 == 0x8e);
static_assert(kWriteSame10 == 0x41 && kWriteSame16 == 0x93 && kUnmap == 0x42);
static_assert(kCompareAndWrite == 0x89 && kOrWrite16 == 0x8b);
static_assert(kSynchronizeCache10 == 0x35 && kSynchronizeCache16 == 0x91);
static_assert(kPreFetch10 == 0x34 && kPreFetch16 == 0x90);
static_assert(kReadCapacity10 == 0x25 && kServiceActionIn16 == 0x9e);
static_assert(kSaReadCapacity16 == 0x10 && kSaGetLbaStatus == 0x12);
static_assert(kSaReportSupportedOperationCodes == 0x0c);
static_assert(kReadTocPmaAtip == 0x43 && kGetConfiguration == 0x46 &&
              kGetEventStatusNotification == 0x4a && kMechanismStatus == 0xbd);

// ---- Sense ----
static_assert(asc::kLbaOutOfRange.asc() == 0x21 && asc::kLbaOutOfRange.ascq() == 0x00);
static_assert(asc::kInvalidFieldInInformationUnit.asc() == 0x0e &&
              asc::kInvalidFieldInInformationUnit.ascq() == 0x03);
static_assert(asc::kInvalidReleaseOfPersistentReservation.asc() == 0x26 &&
              asc::kInvalidReleaseOfPersistentReservation.ascq() == 0x04);
static_assert(static_cast<uint8_t>(SenseKey::kIllegalRequest) == 0x5);

TEST(Spec, LayoutsMatchTheStandards) {
  // Everything above is checked at compile time.
  EXPECT_EQ(sizeof(StandardInquiryData), 96u);
}

}  // namespace
}  // namespace modtgt::scsi
