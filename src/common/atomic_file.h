// SPDX-License-Identifier: Apache-2.0
// Durable whole-file writes and bounded reads, for state the daemon must not lose or tear:
// the saved configuration, persistent reservations with APTPL.
//
// WriteFileAtomic follows the classic sequence: write a temporary file in the same folder,
// fsync it, rename it over the target, fsync the folder. A crash at any point leaves either
// the old file or the new one, never a mix; a temporary file left behind by a crash is
// named "<path>.tmp-<pid>-<n>" and is never read.
//
// Threading: thread-safe for different paths; callers serialise writes to one path.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace modtgt {

struct AtomicWriteOptions {
  mode_t mode = 0644;  // of the new file (umask is not applied)
  // If not empty and `path` exists: the current file is kept as this name (atomically:
  // linked to a temporary name, then renamed) before the new one replaces it. The
  // "last good copy" of a state file.
  std::string keep_previous_as;
};

// Replaces the file `path` with `data` durably (see above). On error `path` is unchanged,
// the temporary file is removed, and the Status names the step and the file.
Status WriteFileAtomic(const std::string& path, std::string_view data,
                       const AtomicWriteOptions& options = {});

// Reads the whole file `path`: NotFound if it does not exist, InvalidArgument if it is
// larger than max_bytes or not a regular file, IoError otherwise; each message names it.
Result<std::string> ReadWholeFile(const std::string& path, size_t max_bytes);

// Removes the file `path` and fsyncs its folder, so a crash after the call cannot bring it
// back. A file that does not exist is OK.
Status RemoveFileDurably(const std::string& path);

// The folder part of `path` ("." for a bare name, "/" for a file at the root).
std::string ParentFolder(const std::string& path);

// mkdir -p, mode 0700 for the folders it creates. InvalidArgument if `dir` or a parent is
// not a folder.
Status MakeFolders(const std::string& dir);

}  // namespace modtgt
