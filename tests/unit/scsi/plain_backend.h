// SPDX-License-Identifier: Apache-2.0
// PlainBackend: a scsi::Backend with none of the optional callouts (flush, unmap, write
// same, compare and write, command takeover) and not thin, for the SCSI unit tests'
// special-purpose backends to derive from; they add size_bytes() and Submit().
#pragma once

#include "scsi/backend.h"

namespace modtgt::scsi {

class PlainBackend : public Backend {
 public:
  bool has_flush() const override { return false; }
  bool has_unmap() const override { return false; }
  bool has_write_same() const override { return false; }
  bool has_caw() const override { return false; }
  bool has_handle_cmd() const override { return false; }
  bool thin() const override { return false; }
};

}  // namespace modtgt::scsi
