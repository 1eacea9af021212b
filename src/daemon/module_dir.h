// SPDX-License-Identifier: Apache-2.0
// Where modtgtd takes its modules from when --module-dir is not given.
//
// The module folder holds backing-store/ and transport/ (and libmodtgt-core.so). Candidates,
// first existing one wins:
//   1. <folder of modtgtd>/lib/modtgt     the build tree (build/modtgtd, build/lib/modtgt);
//                                         never exists beside an installed <prefix>/sbin
//   2. the compiled-in default            MODTGT_MODULE_DIR (<prefix>/lib/modtgt at configure)
//   3. <folder of modtgtd>/../lib/modtgt  a tree installed with `cmake --install --prefix
//                                         OTHER` (it keeps the configure-time default)
// The build tree comes first: its modtgtd links the build tree's libmodtgt-core.so, and its
// transport modules are pinned to that exact build.
//
// Threading: thread-compatible (reads /proc/self/exe and stats folders; no state).
#pragma once

#include <string>

namespace modtgt::daemon {

struct ModuleDirChoice {
  std::string dir;    // the folder to use (empty: none found)
  std::string why;    // for the log: "build tree", "compiled-in default", ...
  std::string tried;  // when dir is empty: the folders looked at, comma separated
};

// Picks the module folder as described above. exe is the daemon's own path (from
// /proc/self/exe; empty skips candidates 1 and 3). compiled_default is MODTGT_MODULE_DIR.
ModuleDirChoice FindModuleDir(const std::string& exe, const std::string& compiled_default);

// The path of the running executable (/proc/self/exe), or "" when it cannot be read.
std::string SelfExe();

}  // namespace modtgt::daemon
