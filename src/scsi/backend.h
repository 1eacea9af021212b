// SPDX-License-Identifier: Apache-2.0
// Backend: what the SCSI emulation calls to reach storage. core::Device implements it over a
// loaded backing-store module (include/modtgt/module.h); tests use in-memory fakes.
//
// Threading: Submit() is called on the command's owning loop. The backend may complete on
// any thread by calling scsi::IoDone(cmd, status), which hands the command back to its
// owning loop and runs cmd->io.done there. Submit may also call IoDone before returning.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/status.h"
#include "modtgt/module.h"
#include "scsi/command.h"

namespace modtgt::scsi {

// A configuration change of a live backend (module.h modtgt_reconfig). Unset = unchanged.
struct BackendReconfig {
  std::optional<uint64_t> size;          // new size in bytes (block aligned)
  std::optional<std::string> cfgstring;  // new "subtype/config" (e.g. a new optical medium)
};

// A backend's atomic write limits in bytes (module.h modtgt_atomic_limits): an atomic
// write (IoRequest::flags MODTGT_IO_ATOMIC) starts at a multiple of align_bytes and moves
// a multiple of granularity_bytes, at most max_bytes. max_bytes 0: no atomic writes.
struct AtomicLimits {
  uint32_t max_bytes = 0;
  uint32_t align_bytes = 0;        // 0 = the logical block
  uint32_t granularity_bytes = 0;  // 0 = the logical block
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual uint64_t size_bytes() const = 0;
  // Which optional callouts the module offers. The SCSI layer emulates the rest (WRITE SAME
  // and COMPARE AND WRITE from read/write; SYNCHRONIZE CACHE as a no-op) and does not
  // advertise UNMAP without has_unmap().
  virtual bool has_flush() const = 0;
  virtual bool has_unmap() const = 0;
  virtual bool has_write_same() const = 0;
  virtual bool has_caw() const = 0;
  virtual bool has_handle_cmd() const = 0;
  virtual bool thin() const = 0;
  // The backend reports its real allocation (IoOp::kLbaStatus). Without it the SCSI layer
  // reports every LBA mapped.
  virtual bool has_lba_status() const { return false; }
  // What the backend guarantees for atomic writes (WRITE ATOMIC (16)); none by default.
  // Any thread.
  virtual AtomicLimits atomic_limits() const { return {}; }
  // Performs cmd->io. REQUIRES: the range was checked against size_bytes().
  virtual void Submit(Command* cmd) = 0;
  // Write cache state changed by MODE SELECT or the admin (WCE). Any thread; reaches the
  // module's reconfig (MODTGT_RECONFIG_WRITE_CACHE) when it has one.
  virtual void SetWriteCache(bool enabled) { (void)enabled; }
  // Changes size and/or config string of the live backend (module reconfig). REQUIRES: the
  // admin thread (it holds new I/O and waits for in-flight I/O to drain). On error nothing
  // changed. The default refuses.
  virtual ::modtgt::Status Reconfigure(const BackendReconfig& rc) {
    (void)rc;
    return ::modtgt::Status::InvalidArgument("this backing store cannot be reconfigured");
  }
  // Called (any thread) whenever size_bytes() changes after open, whether through
  // Reconfigure or on the module's own initiative (host->dev_set_size). The LU sets it to
  // raise CAPACITY DATA HAS CHANGED. Set once, before I/O starts.
  virtual void SetSizeChangedCallback(std::function<void()> cb) { (void)cb; }

  // ---- Cluster lock group (module.h lock, unlock, get_lock_tag, get_lock_state), for
  // ALUA across gateways (scsi/alua.h). They may block on the cluster: the ALUA thread
  // calls them, never an event loop. Results are modtgt_status / modtgt_lock_state values.
  virtual bool has_lock_group() const { return false; }
  // Takes the lock for this gateway, recording `tag` (its target port group id).
  virtual int LockAcquire(uint16_t tag) { (void)tag; return MODTGT_STS_UNSUPPORTED; }
  virtual int LockRelease() { return MODTGT_STS_UNSUPPORTED; }
  // The holder's tag; MODTGT_STS_NOT_HANDLED when nobody holds the lock.
  virtual int LockHolderTag(uint16_t* tag) { (void)tag; return MODTGT_STS_UNSUPPORTED; }
  virtual int LockState() { return MODTGT_LOCK_UNKNOWN; }
  // Called (any thread) with each modtgt_event the module reports. The LU sets it to learn
  // of a lost lock; set once before I/O starts, cleared (nullptr) before the LU goes.
  virtual void SetEventCallback(std::function<void(int event)> cb) { (void)cb; }
};

// Completes cmd->io with a modtgt_status. Any thread; runs cmd->io.done on the owning loop.
void IoDone(Command* cmd, int status);

}  // namespace modtgt::scsi
