// SPDX-License-Identifier: Apache-2.0
// SPC-4 commands shared by every device type (INQUIRY and VPD pages, MODE SENSE/SELECT,
// REPORT LUNS, REQUEST SENSE, TEST UNIT READY, REPORT SUPPORTED OPERATION CODES, START STOP
// UNIT, PREVENT ALLOW MEDIUM REMOVAL, RESERVE/RELEASE, PERSISTENT RESERVE IN/OUT).
// Handlers run on the command's owning loop; they take the LU mutex where they touch
// shared LU state.
#pragma once

#include <vector>

#include "scsi/device_type.h"

namespace modtgt::scsi {

// The SPC entries every device type's table starts from (named, not positional).
std::vector<OpInfo> SpcOps();

}  // namespace modtgt::scsi
