// SPDX-License-Identifier: Apache-2.0
#include "scsi/device_type.h"

#include <algorithm>
#include <cassert>

#include "common/byteorder.h"
#include "scsi/spec.h"

namespace modtgt::scsi {

OpInfo Op(OpKey key, OpHandler handler, uint32_t flags, const char* name,
          std::initializer_list<uint8_t> usage) {
  assert(usage.size() <= OpInfo{}.usage.size());
  OpInfo op;
  op.opcode = key.opcode;
  op.has_service_action = key.has_service_action;
  op.service_action = key.service_action;
  op.handler = handler;
  op.flags = flags;
  op.cdb_length = static_cast<uint8_t>(usage.size());
  std::copy(usage.begin(), usage.end(), op.usage.begin());
  op.name = name;
  return op;
}

OpInfo OnlyIf(OpSupported supported, OpInfo op) {
  op.supported = supported;
  return op;
}

bool OpSupportedBy(const OpInfo& op, const LogicalUnit& lu) {
  return op.supported == nullptr || op.supported(lu);
}

DeviceType::DeviceType(std::string name, uint8_t peripheral_type, std::vector<OpInfo> ops)
    : name_(std::move(name)), peripheral_type_(peripheral_type) {
  // A later entry for the same opcode (+ service action) replaces an earlier one, so a
  // device type can override an SPC entry by appending its own.
  for (OpInfo& op : ops) {
    auto same = [&op](const OpInfo& o) {
      return o.opcode == op.opcode && o.has_service_action == op.has_service_action &&
             (!op.has_service_action || o.service_action == op.service_action);
    };
    auto it = std::find_if(ops_.begin(), ops_.end(), same);
    if (it != ops_.end()) {
      *it = op;
    } else {
      ops_.push_back(op);
    }
  }
  std::stable_sort(ops_.begin(), ops_.end(), [](const OpInfo& a, const OpInfo& b) {
    if (a.opcode != b.opcode) return a.opcode < b.opcode;
    return a.service_action < b.service_action;
  });
  first_index_.fill(-1);
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (first_index_[ops_[i].opcode] < 0) first_index_[ops_[i].opcode] = static_cast<int16_t>(i);
  }
}

const OpInfo* DeviceType::Find(uint8_t opcode, uint16_t service_action) const {
  int idx = first_index_[opcode];
  if (idx < 0) return nullptr;
  for (size_t i = static_cast<size_t>(idx); i < ops_.size() && ops_[i].opcode == opcode; ++i) {
    const OpInfo& op = ops_[i];
    if (!op.has_service_action || op.service_action == service_action) return &op;
  }
  return nullptr;
}

const OpInfo* DeviceType::FindFor(const LogicalUnit& lu, uint8_t opcode,
                                  uint16_t service_action) const {
  const OpInfo* op = Find(opcode, service_action);
  return op != nullptr && OpSupportedBy(*op, lu) ? op : nullptr;
}

bool DeviceType::HasOpcode(uint8_t opcode) const { return first_index_[opcode] >= 0; }

bool DeviceType::HasServiceActions(uint8_t opcode) const {
  const int idx = first_index_[opcode];
  return idx >= 0 && ops_[static_cast<size_t>(idx)].has_service_action;
}

uint16_t ServiceActionOf(const uint8_t* cdb, uint8_t cdb_len) {
  if (cdb_len < 2) return 0;
  switch (cdb[0]) {
    case kSanitize:
    case kPersistentReserveIn:
    case kPersistentReserveOut:
    case kThirdPartyCopyOut:
    case kThirdPartyCopyIn:
    case kServiceActionIn16:
    case kServiceActionOut16:
    case kMaintenanceIn:
    case kMaintenanceOut:
    case kServiceActionIn12:
      return cdb[1] & 0x1f;
    case kVariableLengthCdb:  // SERVICE ACTION in bytes 8-9 (SPC-4 4.2.4)
      return cdb_len >= 10 ? GetBe16(cdb + 8) : 0;
    default:
      return 0;
  }
}

}  // namespace modtgt::scsi
