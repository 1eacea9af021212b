// SPDX-License-Identifier: Apache-2.0
// Backend: what the SCSI emulation calls to reach storage. core::Device implements it over a
// loaded backing-store module (include/modtgt/module.h); tests use in-memory fakes.
//
// Threading: Submit() is called on the command's owning loop. The backend may complete on
// any thread by calling scsi::IoDone(cmd, status), which hands the command back to its
// owning loop and runs cmd->io.done there. Submit may also call IoDone before returning.
#pragma once

#include <cstdint>

#include "scsi/command.h"

namespace modtgt::scsi {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual uint64_t size_bytes() const = 0;
  // Which optional callouts the module offers. The core emulates the rest (WRITE SAME
  // and COMPARE AND WRITE from read/write; SYNCHRONIZE CACHE as a no-op) and does not
  // advertise UNMAP without has_unmap().
  virtual bool has_flush() const = 0;
  virtual bool has_unmap() const = 0;
  virtual bool has_write_same() const = 0;
  virtual bool has_caw() const = 0;
  virtual bool has_handle_cmd() const = 0;
  virtual bool thin() const = 0;
  // Performs cmd->io. REQUIRES: the range was checked against size_bytes().
  virtual void Submit(Command* cmd) = 0;
  // Write cache state changed by MODE SELECT or the admin (WCE).
  virtual void SetWriteCache(bool enabled) { (void)enabled; }
};

// Completes cmd->io with a modtgt_status. Any thread; runs cmd->io.done on the owning loop.
void IoDone(Command* cmd, int status);

}  // namespace modtgt::scsi
