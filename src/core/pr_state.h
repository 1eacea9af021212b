// SPDX-License-Identifier: Apache-2.0
// PrStateDir: persistent reservations that survive a restart (SPC-4 5.13.5, APTPL). While
// the last REGISTER of an LU set APTPL, every change of the LU's registrations and
// reservation is written, before the command's status goes out, to one file per LU
// identity in the daemon's state folder:
//
//   <folder of the configuration file>/pr/lu-<NAA 16 hex>-<unit serial number in hex>.json
//
// durably (common/atomic_file.h: temporary file, fsync, rename, fsync the folder), mode
// 0600. A REGISTER with APTPL 0 removes the file (the state is then lost on restart, as
// SPC-4 wants). The file is read back when an LU with that identity is added, before it
// serves commands (at start: before any portal opens), so an LU re-created with another
// identity at the same place never inherits it; deleting the LU deletes the file.
//
// A daemon without a configuration file (--no-config) has no state folder: its LUs get no
// PrStateDir, report PTPL_C 0 and refuse APTPL 1 (INVALID FIELD IN PARAMETER LIST).
//
// A file that cannot be read or parsed (ParsePrState is strict: unknown keys, wrong types,
// a key of 0, a registration twice, a holder that is not registered, another LU's identity
// are all refused) is never trusted: it is renamed to PATH.corrupt, the reason is logged
// naming both files, and the LU starts without persistent reservations (docs/reservations.md
// explains the choice).
//
// Threading: thread-safe. Save runs on any loop under the LU's mutex (different LUs write
// different files); Attach and Forget run on the admin thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "scsi/logical_unit.h"

namespace modtgt::core {

// The state file's text for the LU whose config (identity) is `lu` in target `target_name`.
std::string EncodePrState(const scsi::LuConfig& lu, const std::string& target_name,
                          const scsi::PersistentReservations& pr);
// Parses a state file for the LU with identity `lu` (its naa and serial must match the
// file's). InvalidArgument naming the field and what is wrong.
Result<scsi::PersistentReservations> ParsePrState(std::string_view text, const scsi::LuConfig& lu);

class PrStateDir : public scsi::PrPersistence,
                   public std::enable_shared_from_this<PrStateDir> {
 public:
  // Bound on a state file's size (about 4,000 registrations).
  static constexpr size_t kMaxFileBytes = 1u << 20;

  // dir: the folder the files go in ("<config folder>/pr"); created (0700) on first save.
  explicit PrStateDir(std::string dir) : dir_(std::move(dir)) {}
  // The folder for a daemon whose configuration file is config_path ("" for --no-config:
  // none).
  static std::string FolderFor(const std::string& config_path);

  const std::string& dir() const { return dir_; }
  // The file of the LU with this identity; "" if the identity is incomplete (no NAA or
  // no serial: such an LU cannot persist).
  std::string PathFor(const scsi::LuConfig& lu) const;

  // scsi::PrPersistence
  Status Save(const scsi::LogicalUnit& lu, const scsi::PersistentReservations& pr) override;

  // Gives lu this store (REQUIRES: lu does not serve commands yet) and, if lu has no
  // persistent-reservation state and its file exists, restores the file's. A bad file is
  // moved aside (see above) and lu starts empty; that is logged, never an error.
  void Attach(scsi::LogicalUnit* lu);
  // lu was deleted: it saves nothing any more and its file is removed (durably).
  void Forget(scsi::LogicalUnit* lu);

 private:
  const std::string dir_;
};

}  // namespace modtgt::core
