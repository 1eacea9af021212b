// SPDX-License-Identifier: Apache-2.0
// See module_dir.h.
#include "daemon/module_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <climits>

namespace modtgt::daemon {

namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::string SelfExe() {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "";
  buf[n] = '\0';
  return buf;
}

ModuleDirChoice FindModuleDir(const std::string& exe, const std::string& compiled_default) {
  ModuleDirChoice c;
  struct Candidate {
    std::string dir;
    const char* why;
  };
  Candidate candidates[3];
  int n = 0;
  const std::string bindir = exe.empty() ? "" : Parent(exe);
  if (!bindir.empty()) {
    candidates[n++] = {bindir + "/lib/modtgt", "build tree: beside modtgtd"};
  }
  candidates[n++] = {compiled_default, "compiled-in default"};
  if (!bindir.empty()) {
    std::string prefix = Parent(bindir);
    candidates[n++] = {(prefix == "/" ? "" : prefix) + "/lib/modtgt",
                       "installed tree of this modtgtd: <prefix>/lib/modtgt"};
  }
  for (int i = 0; i < n; i++) {
    if (IsDir(candidates[i].dir)) {
      c.dir = candidates[i].dir;
      c.why = candidates[i].why;
      return c;
    }
    if (!c.tried.empty()) c.tried += ", ";
    c.tried += candidates[i].dir;
  }
  return c;
}

}  // namespace modtgt::daemon
